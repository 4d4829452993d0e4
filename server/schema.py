"""The GraphQL schema: the root `Query` (thin resolvers over `schema.queries`) and `build_schema`."""

from dataclasses import replace
from typing import Annotated

import strawberry

from schema.queries.compare import compare_networks
from schema.queries.enrichment import enrich_genes, enrich_hubs, enrich_targets, enriched_regulators
from schema.queries.genes import search_genes
from schema.queries.meta import store_info
from schema.queries.networks import find_network_ids, find_networks, find_networks_and_facets
from server import prefetch
from server.config import Limits
from server.context import Info
from server.errors import LoggingSchema, UserError, mask_errors
from server.limits import cache_extensions, limit_extensions, page_size
from server.lookup import gene_name_or_none, gene_row, gene_rows
from server.types.comparison import NetworkComparison
from server.types.enrichment import (
    GeneSetEnrichment,
    GeneSetEnrichmentResult,
    RegulatorEnrichment,
    RegulatorEnrichmentResult,
)
from server.types.filters import HubStatistic, NetworkFilterInput, to_store
from server.types.gene import Gene
from server.types.meta import Meta
from server.types.network import Network, NetworkConnection

OrganismArg = Annotated[
    str | None,
    strawberry.argument(
        description="Organism as an NCBITaxon term id, e.g. 'NCBITaxon:9606' (default: any)."
    ),
]
FirstArg = Annotated[int | None, strawberry.argument(description="Page size (capped).")]
MinWeightArg = Annotated[float | None, strawberry.argument(description="Keep edges of at least this weight.")]
MaxRankArg = Annotated[
    int | None, strawberry.argument(description="Keep edges among the N strongest of their network.")
]
GenesArg = Annotated[list[str], strawberry.argument(description="Gene symbols or Ensembl ids.")]


@strawberry.type(description="Gene networks inferred by scPRINT, with their genes, hubs and enrichments.")
class Query:
    @strawberry.field(description="The release being served: id, schema version, counts and models.")
    async def meta(self, info: Info) -> Meta:
        return Meta.from_row(await info.context.run(store_info))

    @strawberry.field(
        description="Genes whose symbol or Ensembl id starts with `search`, exact matches first."
    )
    async def genes(
        self,
        info: Info,
        search: Annotated[str, strawberry.argument(description="Prefix of a symbol or Ensembl id.")],
        organism: OrganismArg = None,
        first: FirstArg = None,
    ) -> list[Gene]:
        if not search.strip():
            msg = "search must not be empty"
            raise UserError(msg)
        size = page_size(first, info.context.limits)
        rows = await info.context.run(search_genes, search.strip(), organism=organism, limit=size)
        return [Gene.from_row(r) for r in rows]

    @strawberry.field(description="One gene by symbol or Ensembl id (give exactly one); null if unknown.")
    async def gene(
        self,
        info: Info,
        symbol: Annotated[str | None, strawberry.argument(description="Symbol, e.g. 'TGFB1'.")] = None,
        ensembl_id: Annotated[
            str | None, strawberry.argument(description="Ensembl gene id, e.g. 'ENSG00000105329'.")
        ] = None,
        organism: OrganismArg = None,
    ) -> Gene | None:
        symbol, ensembl_id = gene_name_or_none(symbol), gene_name_or_none(ensembl_id)
        if (symbol is None) == (ensembl_id is None):
            msg = "give exactly one of symbol or ensemblId"
            raise UserError(msg)
        try:
            row = await gene_row(info.context, symbol or ensembl_id, organism=organism)
        except UserError:
            return None
        if ensembl_id is not None and row.ensembl_id != ensembl_id:
            return None  # an Ensembl id was asked for; a symbol match does not count
        return Gene.from_row(row)

    @strawberry.field(description="Networks matching a filter, by id, with facet counts.")
    async def networks(
        self,
        info: Info,
        filter: Annotated[
            NetworkFilterInput | None, strawberry.argument(description="Which networks (default: all).")
        ] = None,
        first: FirstArg = None,
        after: Annotated[
            str | None, strawberry.argument(description="`endCursor` of the previous page.")
        ] = None,
    ) -> NetworkConnection:
        context = info.context
        size = page_size(first, context.limits)
        where = to_store(filter)
        wanted = NetworkConnection.facets_selected(info)
        ids_only = context.release.networks_complete  # rows from the release, ids from the store
        counts = None
        if wanted:  # the page and its facets in one call: one trip to the thread pool instead of two
            page, counts = await context.run(
                find_networks_and_facets, where, first=size, after=after, facets=wanted, ids_only=ids_only
            )
        else:
            page = await context.run(
                find_network_ids if ids_only else find_networks, where, first=size, after=after
            )
        if ids_only:
            rows = await prefetch.networks(info, page.items)
            page = replace(page, items=[rows[i] for i in page.items])
        return NetworkConnection.from_row(page, filter, counts)

    @strawberry.field(description="One network by its stable id; null if unknown.")
    async def network(
        self, info: Info, id: Annotated[int, strawberry.argument(description="The network id.")]
    ) -> Network | None:
        row = await info.context.loaders.network.load(id)
        return Network.from_row(row) if row else None

    @strawberry.field(description="Network b against network a: shared, gained and lost edges.")
    async def compare_networks(
        self,
        info: Info,
        a: Annotated[int, strawberry.argument(description="Id of the reference network.")],
        b: Annotated[int, strawberry.argument(description="Id of the network compared with it.")],
        max_rank: Annotated[
            int | None, strawberry.argument(description="Compare each network's N strongest edges only.")
        ] = None,
        min_weight: MinWeightArg = None,
        first: Annotated[
            int | None,
            strawberry.argument(description="Edges listed per list (shared, gained, lost; capped)."),
        ] = None,
    ) -> NetworkComparison:
        size = page_size(first, info.context.limits)
        found = await info.context.loaders.network.load_many([a, b])
        missing = [str(i) for i, row in zip((a, b), found, strict=True) if row is None]
        if missing:
            msg = f"unknown network id(s): {', '.join(missing)}"
            raise UserError(msg)
        row = await info.context.run(
            compare_networks, a, b, max_rank=max_rank, min_weight=min_weight, limit=size
        )
        edges = [*row.shared, *row.gained, *row.lost]
        wanted = any(prefetch.selects(info, part, side) for part in ("shared", "gained", "lost")
                     for side in ("regulator", "target"))  # fmt: skip
        ids = [i for e in edges for i in (e.regulator_id, e.target_id)] if wanted else []
        return NetworkComparison.from_row(row, await prefetch.genes(info, ids))

    @strawberry.field(
        description=(
            "Gene sets over-represented in one of: your gene list (`genes`), a regulator's targets in a "
            "network (`network` + `regulator`) or a network's hubs (`network` + `hubs`). The background is "
            "`background` if given, else the network's genes, else every gene."
        )
    )
    async def enrichment(
        self,
        info: Info,
        genes: Annotated[list[str] | None, strawberry.argument(description="Your gene list.")] = None,
        network: Annotated[
            int | None, strawberry.argument(description="Network id (for targets, hubs).")
        ] = None,
        regulator: Annotated[
            str | None, strawberry.argument(description="Test this regulator's targets in `network`.")
        ] = None,
        hubs: Annotated[
            int | None, strawberry.argument(description="Test the network's N strongest hubs.")
        ] = None,
        hubs_by: Annotated[
            HubStatistic, strawberry.argument(description="Statistic ranking the hubs.")
        ] = HubStatistic.OUT_DEGREE,
        max_rank: MaxRankArg = None,
        min_weight: MinWeightArg = None,
        background: Annotated[
            list[str] | None, strawberry.argument(description="Universe of genes (default: see above).")
        ] = None,
        collections: Annotated[
            list[str] | None, strawberry.argument(description="Gene-set collections to test (default: all).")
        ] = None,
        min_set_size: Annotated[int, strawberry.argument(description="Skip smaller sets.")] = 5,
        max_set_size: Annotated[int, strawberry.argument(description="Skip larger sets.")] = 2000,
        min_overlap: Annotated[int, strawberry.argument(description="Hide sets with less overlap.")] = 1,
        first: FirstArg = None,
    ) -> GeneSetEnrichmentResult:
        context = info.context
        modes = [genes is not None, regulator is not None, hubs is not None]
        if sum(modes) != 1:
            msg = "give exactly one of genes, regulator (with network) or hubs (with network)"
            raise UserError(msg)
        if (regulator is not None or hubs is not None) and network is None:
            msg = "regulator and hubs need a network id"
            raise UserError(msg)
        unknown: list[str] = []
        universe = None
        if background is not None:
            rows, missing = await gene_rows(context, background, label="background")
            universe, unknown = [r.id for r in rows], unknown + missing
        options = {
            "universe_ids": universe,
            "collections": collections,
            "min_set_size": min_set_size,
            "max_set_size": max_set_size,
            "min_overlap": min_overlap,
            "limit": page_size(first, context.limits),
        }
        if genes is not None:
            rows, missing = await gene_rows(context, genes, label="genes")
            unknown += missing
            query_count = len(rows)
            results = await context.run(enrich_genes, [r.id for r in rows], network_id=network, **options)
        elif regulator is not None:
            regulator_id = (await gene_row(context, regulator)).id
            query_count = None
            results = await context.run(
                enrich_targets, network, regulator_id, max_rank=max_rank, min_weight=min_weight, **options
            )
        else:
            query_count = None
            results = await context.run(
                enrich_hubs,
                network,
                k=page_size(hubs, context.limits, name="hubs"),
                by=hubs_by.value,
                **options,
            )
        if query_count is None:
            query_count = results[0].query_size if results else 0
        return GeneSetEnrichmentResult(
            query_gene_count=query_count,
            unknown_genes=unknown,
            results=[GeneSetEnrichment.from_row(r) for r in results],
        )

    @strawberry.field(
        description=(
            "Which regulators' targets are enriched in your gene list: one hypergeometric test per "
            "(network, regulator) over the matching networks (per network, or across tissues and diseases)."
        )
    )
    async def enriched_regulators(
        self,
        info: Info,
        genes: GenesArg,
        filter: Annotated[
            NetworkFilterInput | None, strawberry.argument(description="Networks to test (default: all).")
        ] = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        min_targets: Annotated[
            int, strawberry.argument(description="Skip regulators with fewer targets.")
        ] = 5,
        min_overlap: Annotated[int, strawberry.argument(description="Hide results with less overlap.")] = 2,
        first: FirstArg = None,
    ) -> RegulatorEnrichmentResult:
        context = info.context
        rows, unknown = await gene_rows(context, genes, label="genes")
        results = await context.run(
            enriched_regulators,
            [r.id for r in rows],
            where=to_store(filter),
            min_weight=min_weight,
            max_rank=max_rank,
            min_targets=min_targets,
            min_overlap=min_overlap,
            limit=page_size(first, context.limits),
        )
        return RegulatorEnrichmentResult(
            query_gene_count=len(rows),
            unknown_genes=unknown,
            results=[RegulatorEnrichment.from_row(r) for r in results],
        )


def build_schema(limits: Limits) -> strawberry.Schema:
    """The schema with its limits, document caches and error masking (last, over every other error)."""
    return LoggingSchema(
        query=Query, extensions=[*limit_extensions(limits), *cache_extensions(), mask_errors]
    )
