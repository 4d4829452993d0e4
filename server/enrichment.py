"""The `enrichment` and `enrichedRegulators` resolvers: gene-set and regulator over-representation.

`enrichment` tests one of three query gene sets, chosen by which argument is given; each mode is one entry
of `MODES` (argument -> function), so a new kind of query set is one function, not another branch.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from schema.queries.enrichment import enrich_genes, enrich_hubs, enrich_targets, enriched_regulators
from schema.queries.meta import gene_set_collections
from schema.rows import EnrichmentRow
from server.arguments import FilterArg, FirstArg, GenesArg, HubsByArg, MaxRankArg, MinWeightArg
from server.context import Context, Info
from server.errors import UserError
from server.limits import page_size
from server.lookup import gene_row, gene_rows
from server.types.enrichment import (
    GeneSetEnrichment,
    GeneSetEnrichmentResult,
    RegulatorEnrichment,
    RegulatorEnrichmentResult,
)
from server.types.filters import HubStatistic, checked_filter

ENRICHMENT_DESCRIPTION = (
    "Gene sets over-represented in one of: your gene list (`genes`), a regulator's targets in a "
    "network (`network` + `regulator`) or a network's hubs (`network` + `hubs`). The background is "
    "`background` if given, else the network's genes, else every gene."
)
ENRICHED_REGULATORS_DESCRIPTION = (
    "Which regulators' targets are enriched in your gene list: one hypergeometric test per "
    "(network, regulator) over the matching networks (per network, or across tissues and diseases)."
)

Mode = Callable[..., Awaitable[tuple[int | None, list[str], list[EnrichmentRow]]]]


async def _genes_mode(context: Context, arguments: dict, options: dict):
    rows, unknown = await gene_rows(context, arguments["genes"], label="genes")
    ids = [r.id for r in rows]
    results = await context.run(enrich_genes, ids, network_id=arguments["network"], **options)
    return len(rows), unknown, results


async def _regulator_mode(context: Context, arguments: dict, options: dict):
    regulator_id = (await gene_row(context, arguments["regulator"])).id
    results = await context.run(
        enrich_targets,
        arguments["network"],
        regulator_id,
        max_rank=arguments["max_rank"],
        min_weight=arguments["min_weight"],
        **options,
    )
    return None, [], results


async def _hubs_mode(context: Context, arguments: dict, options: dict):
    k = page_size(arguments["hubs"], context.limits, name="hubs")
    results = await context.run(
        enrich_hubs, arguments["network"], k=k, by=arguments["hubs_by"].value, **options
    )
    return None, [], results


MODES: dict[str, tuple[Mode, bool]] = {
    "genes": (_genes_mode, False),  # (function, needs a network id)
    "regulator": (_regulator_mode, True),
    "hubs": (_hubs_mode, True),
}


async def enrichment(
    info: Info,
    genes: Annotated[list[str] | None, strawberry.argument(description="Your gene list.")] = None,
    network: Annotated[int | None, strawberry.argument(description="Network id (for targets, hubs).")] = None,
    regulator: Annotated[
        str | None, strawberry.argument(description="Test this regulator's targets in `network`.")
    ] = None,
    hubs: Annotated[
        int | None, strawberry.argument(description="Test the network's N strongest hubs (at most 1000).")
    ] = None,
    hubs_by: HubsByArg = HubStatistic.OUT_DEGREE,
    max_rank: MaxRankArg = None,
    min_weight: MinWeightArg = None,
    background: Annotated[
        list[str] | None, strawberry.argument(description="Universe of genes (default: see above).")
    ] = None,
    collections: Annotated[
        list[str] | None,
        strawberry.argument(
            description="Gene-set collections to test by exact name, e.g. 'MSigDB Hallmark v7.5.1' (default: "
            "all; `geneSetCollections` lists the names). Names matching none are listed in "
            "`unmatchedCollections`."
        ),
    ] = None,
    min_set_size: Annotated[int, strawberry.argument(description="Skip smaller sets.")] = 5,
    max_set_size: Annotated[int, strawberry.argument(description="Skip larger sets.")] = 2000,
    min_overlap: Annotated[int, strawberry.argument(description="Hide sets with less overlap.")] = 1,
    first: FirstArg = None,
) -> GeneSetEnrichmentResult:
    context = info.context
    arguments: dict[str, Any] = {
        "genes": genes,
        "network": network,
        "regulator": regulator,
        "hubs": hubs,
        "hubs_by": hubs_by,
        "max_rank": max_rank,
        "min_weight": min_weight,
    }
    given = [name for name in MODES if arguments[name] is not None]
    if len(given) != 1:
        msg = "give exactly one of genes, regulator (with network) or hubs (with network)"
        raise UserError(msg)
    mode, needs_network = MODES[given[0]]
    if needs_network and network is None:
        msg = "regulator and hubs need a network id"
        raise UserError(msg)
    unknown: list[str] = []
    universe = None
    if background is not None:
        rows, unknown = await gene_rows(context, background, label="background")
        universe = [r.id for r in rows]
    options = {
        "universe_ids": universe,
        "collections": collections,
        "min_set_size": min_set_size,
        "max_set_size": max_set_size,
        "min_overlap": min_overlap,
        "limit": page_size(first, context.limits),
    }
    unmatched = []
    if collections is not None:
        names = {c.name for c in await context.run(gene_set_collections)}
        unmatched = [c for c in collections if c not in names]
    query_count, missing, results = await mode(context, arguments, options)
    if query_count is None:
        query_count = results[0].query_size if results else 0
    return GeneSetEnrichmentResult(
        query_gene_count=query_count,
        unknown_genes=unknown + missing,
        unmatched_collections=unmatched,
        results=[GeneSetEnrichment.from_row(r) for r in results],
    )


async def regulator_enrichment(
    info: Info,
    genes: GenesArg,
    filter: FilterArg = None,
    min_weight: MinWeightArg = None,
    max_rank: MaxRankArg = None,
    min_targets: Annotated[
        int, strawberry.argument(description="Skip regulators with fewer targets (at least 1).")
    ] = 5,
    min_overlap: Annotated[int, strawberry.argument(description="Hide results with less overlap.")] = 2,
    transcription_factors_only: Annotated[
        bool,
        strawberry.argument(description="Test transcription-factor regulators only (Lambert et al. 2018)."),
    ] = False,
    first: FirstArg = None,
) -> RegulatorEnrichmentResult:
    context = info.context
    rows, unknown = await gene_rows(context, genes, label="genes")
    results = await context.run(
        enriched_regulators,
        [r.id for r in rows],
        where=await checked_filter(info, filter),
        min_weight=min_weight,
        max_rank=max_rank,
        min_targets=min_targets,
        min_overlap=min_overlap,
        tfs_only=transcription_factors_only,
        limit=page_size(first, context.limits),
        index=context.release.node_index,
    )
    return RegulatorEnrichmentResult(
        query_gene_count=len(rows),
        unknown_genes=unknown,
        results=[RegulatorEnrichment.from_row(r) for r in results],
    )
