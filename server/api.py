"""The GraphQL schema: the root `Query` (thin resolvers over `schema.queries`) and `build_schema`."""

from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated

import strawberry
from strawberry.extensions import SchemaExtension

from schema.queries._common import make_cursor, parse_cursor
from schema.queries.compare import compare_networks
from schema.queries.edges import regulators_of, targets_of
from schema.queries.genes import search_genes, unversioned
from schema.queries.meta import gene_set_collections, store_info
from schema.queries.networks import find_network_ids, find_networks, find_networks_and_facets, network_groups
from server import prefetch
from server.arguments import (
    DEFAULTS,
    AfterArg,
    EvidenceSourcesArg,
    FilterArg,
    FirstArg,
    GenesArg,
    KnownOnlyArg,
    MaxRankArg,
    MinWeightArg,
    NovelOnlyArg,
    OrganismArg,
)
from server.config import Limits
from server.context import Info
from server.enrichment import (
    ENRICHED_REGULATORS_DESCRIPTION,
    ENRICHMENT_DESCRIPTION,
    enrichment,
    regulator_enrichment,
)
from server.errors import LoggingSchema, UserError, mask_errors
from server.limits import page_size
from server.lookup import check_gene_list, gene_name_or_none, gene_row, match
from server.types.comparison import NetworkComparison
from server.types.enrichment import GeneSetEnrichmentResult, RegulatorEnrichmentResult
from server.types.evidence import evidence_filter
from server.types.filters import GroupBy, checked_filter
from server.types.gene import EdgeOptions, Gene, RegulatorTfsArg, TargetTfsArg
from server.types.gene_lookup import GeneLookup
from server.types.group import NetworkGroupConnection
from server.types.meta import Meta
from server.types.network import Network, NetworkConnection
from server.types.regulation import GeneListRegulationConnection

QUERY_DESCRIPTION = f"""Gene networks inferred by scPRINT, with their genes, hubs and enrichments.

Limits (defaults): pages of at most {DEFAULTS.max_page_size} items ({DEFAULTS.default_page_size} when \
`first` is left out); cost at most {DEFAULTS.max_cost} (a field costs 1, a page `first` x its selection, a \
gene list per gene); depth {DEFAULTS.max_depth}; {DEFAULTS.max_aliases} aliases; \
{DEFAULTS.max_fragment_spreads} fragment spreads; {DEFAULTS.max_tokens} tokens; gene lists of \
{DEFAULTS.max_gene_list}; {DEFAULTS.deadline_s:g} s per request; responses of \
{DEFAULTS.max_response_bytes} bytes; request bodies of {DEFAULTS.max_body_bytes} bytes.

Introspection is allowed (the schema is public), within the same token, alias and spread limits and a \
depth of {DEFAULTS.max_introspection_depth}; it costs nothing."""


@strawberry.type(description="A gene-set collection (e.g. MSigDB Hallmark) of the release.")
class GeneSetCollection:
    name: str = strawberry.field(description="The exact name enrichment's `collections` argument takes.")
    organism: str = strawberry.field(description="NCBITaxon term id.")
    source: str | None = strawberry.field(description="Where the collection comes from.")
    n_sets: int = strawberry.field(description="Gene sets in the collection.")


@strawberry.type(description=QUERY_DESCRIPTION)
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

    @strawberry.field(
        description="Genes named by a list of symbols, synonyms (HGNC alias or previous symbols, MGI "
        "synonyms) or Ensembl ids (versioned or not): one answer per name, in order, and the names that name "
        "no gene or several (a synonym of several genes is never resolved to one of them)."
    )
    async def genes_by_name(self, info: Info, names: GenesArg, organism: OrganismArg = None) -> GeneLookup:
        check_gene_list(info.context, names, "names")
        return GeneLookup.from_matches(names, await match(info.context, names, organism))

    @strawberry.field(description="One gene by symbol or Ensembl id (give exactly one); null if unknown.")
    async def gene(
        self,
        info: Info,
        symbol: Annotated[
            str | None,
            strawberry.argument(description="Symbol, e.g. 'TGFB1', or a synonym naming one gene ('DPD1')."),
        ] = None,
        ensembl_id: Annotated[
            str | None,
            strawberry.argument(description="Ensembl gene id, e.g. 'ENSG00000105329' (any version ignored)."),
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
        if ensembl_id is not None and row.ensembl_id != unversioned(ensembl_id):
            return None  # an Ensembl id was asked for; a symbol match does not count
        return Gene.from_row(row)

    @strawberry.field(
        description="The gene-set collections of the release with their exact names, as enrichment's "
        "`collections` argument takes them (e.g. 'MSigDB Hallmark v7.5.1')."
    )
    async def gene_set_collections(self, info: Info) -> list[GeneSetCollection]:
        rows = await info.context.run(gene_set_collections)
        return [
            GeneSetCollection(name=r.name, organism=r.organism, source=r.source, n_sets=r.n_sets)
            for r in rows
        ]

    @strawberry.field(description="Networks matching a filter, by id, with facet counts.")
    async def networks(
        self,
        info: Info,
        filter: FilterArg = None,
        order_by_quality: Annotated[
            bool,
            strawberry.argument(
                description="Sort by `filter.quality`'s figure, best first, unscored networks last "
                "(default: by id)."
            ),
        ] = False,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> NetworkConnection:
        context = info.context
        size = page_size(first, context.limits)
        where = await checked_filter(info, filter)
        if order_by_quality and (where is None or where.quality is None):
            msg = "orderByQuality needs filter.quality (the source, metric and scope to sort by)"
            raise UserError(msg)
        wanted = NetworkConnection.facets_selected(info)
        ids_only = context.release.networks_complete  # rows from the release, ids from the store
        options = {"first": size, "after": after, "by_quality": order_by_quality}
        counts = None
        if wanted:  # the page and its facets in one call: one trip to the thread pool instead of two
            page, counts = await context.run(
                find_networks_and_facets, where, facets=wanted, ids_only=ids_only, **options
            )
        else:
            page = await context.run(find_network_ids if ids_only else find_networks, where, **options)
        if ids_only:
            rows = await prefetch.networks(info, page.items)
            page = replace(page, items=[rows[i] for i in page.items])
        return NetworkConnection.from_row(page, filter, counts)

    @strawberry.field(
        description="The values of one label among the matching networks (every cell type, say), most "
        "networks first, each with the counts of the other labels over its networks: a cell-type overview "
        "without reading every network."
    )
    async def network_groups(
        self,
        info: Info,
        group_by: Annotated[
            GroupBy, strawberry.argument(description="The label to group by (default: cell type).")
        ] = GroupBy.CELL_TYPE,
        filter: FilterArg = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Keep values whose label contains this text (any case) or whose term id it is."
            ),
        ] = None,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> NetworkGroupConnection:
        context = info.context
        size = page_size(first, context.limits)
        try:
            (offset,) = parse_cursor(after, 1) if after is not None else (0,)
        except ValueError as err:
            raise UserError(str(err)) from err
        total, groups = await context.run(
            network_groups,
            await checked_filter(info, filter),
            by=group_by.value,
            search=search.strip() if search and search.strip() else None,
            facets=NetworkGroupConnection.facets_selected(info),
            first=size,
            offset=offset,
        )
        more = offset + len(groups) < total
        return NetworkGroupConnection.from_row(
            groups, total, make_cursor(offset + len(groups)) if more else None
        )

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
        known_only: KnownOnlyArg = False,
        novel_only: NovelOnlyArg = False,
        evidence_sources: EvidenceSourcesArg = None,
        common_genes_only: Annotated[
            bool,
            strawberry.argument(
                description="Compare only edges between genes both networks hold edges of: an edge is not "
                "'lost' because its gene was not measured, or filtered out, in the other network."
            ),
        ] = False,
        first: Annotated[
            int | None,
            strawberry.argument(
                description=f"Edges per list (shared, gained, lost; default {DEFAULTS.default_page_size}, "
                f"at most {DEFAULTS.max_page_size})."
            ),
        ] = None,
        offset: Annotated[
            int,
            strawberry.argument(
                description="Skip this many of the strongest edges of each list: the next page of every list "
                "is `offset: offset + first` (counts always cover all edges)."
            ),
        ] = 0,
    ) -> NetworkComparison:
        size = page_size(first, info.context.limits)
        found = await info.context.loaders.network.load_many([a, b])
        missing = [str(i) for i, row in zip((a, b), found, strict=True) if row is None]
        if missing:
            msg = f"unknown network id(s): {', '.join(missing)}"
            raise UserError(msg)
        evidence = await evidence_filter(info, known_only, novel_only, evidence_sources)
        row = await info.context.run(
            compare_networks,
            a,
            b,
            max_rank=max_rank,
            min_weight=min_weight,
            evidence=evidence,
            common_genes=common_genes_only,
            limit=size,
            offset=offset,
        )
        edges = [*row.shared, *row.gained, *row.lost]
        wanted = any(prefetch.selects(info, part, side) for part in ("shared", "gained", "lost")
                     for side in ("regulator", "target"))  # fmt: skip
        ids = [i for e in edges for i in (e.regulator_id, e.target_id)] if wanted else []
        return NetworkComparison.from_row(row, info.context.genes(ids))

    @strawberry.field(
        description="Edges into any gene of a list, in every matching network, by gene, network then rank: "
        "the bulk form of `gene { regulators }`, one request for a whole list."
    )
    async def regulators(
        self,
        info: Info,
        genes: GenesArg,
        organism: OrganismArg = None,
        filter: FilterArg = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        known_only: KnownOnlyArg = False,
        novel_only: NovelOnlyArg = False,
        evidence_sources: EvidenceSourcesArg = None,
        transcription_factors_only: RegulatorTfsArg = False,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> GeneListRegulationConnection:
        options = EdgeOptions(filter, min_weight, max_rank, known_only, novel_only, evidence_sources)
        return await options.gene_list(
            info, regulators_of, genes, organism, transcription_factors_only, first, after
        )

    @strawberry.field(
        description="Edges out of any gene of a list, in every matching network, by gene, network then rank: "
        "the bulk form of `gene { targets }`."
    )
    async def targets(
        self,
        info: Info,
        genes: GenesArg,
        organism: OrganismArg = None,
        filter: FilterArg = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        known_only: KnownOnlyArg = False,
        novel_only: NovelOnlyArg = False,
        evidence_sources: EvidenceSourcesArg = None,
        transcription_factors_only: TargetTfsArg = False,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> GeneListRegulationConnection:
        options = EdgeOptions(filter, min_weight, max_rank, known_only, novel_only, evidence_sources)
        return await options.gene_list(
            info, targets_of, genes, organism, transcription_factors_only, first, after
        )

    enrichment: GeneSetEnrichmentResult = strawberry.field(
        resolver=enrichment, description=ENRICHMENT_DESCRIPTION
    )
    enriched_regulators: RegulatorEnrichmentResult = strawberry.field(
        resolver=regulator_enrichment, description=ENRICHED_REGULATORS_DESCRIPTION
    )


class UsePrepared(SchemaExtension):
    """Executes the document the app already parsed, validated and priced off the event loop.

    `GraphQLApp.execute_operation` leaves it in `Context.prepared`; a schema used without the app (tests,
    `export-schema`) parses and validates as plain graphql-core does, without the server's limits.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        prepared = getattr(context.context, "prepared", None)
        if prepared is not None:
            context.graphql_document = prepared.document
            context.pre_execution_errors = []  # validated by `server.limits.prepare`
        yield


def build_schema(limits: Limits) -> strawberry.Schema:
    """The schema with the prepared-document hook and error masking (last, over every other error).

    `limits` are the ones the app enforces; the schema's descriptions state the defaults.
    """
    return LoggingSchema(query=Query, extensions=[UsePrepared, mask_errors])
