"""Read-only query functions: each takes a DuckDB connection (``Reader.con`` or a cursor) and returns rows.

Parameterised SQL only; limits are checked here (``_common.MAX_*``) whatever the caller allows.
"""

from schema.queries._common import MAX_GENE_LIST, MAX_HUBS, MAX_IDS, MAX_PAGE, NetworkFilter
from schema.queries.compare import compare_networks
from schema.queries.edges import (
    network_edges,
    regulator_summary,
    regulators_of,
    target_summary,
    targets_of,
)
from schema.queries.enrichment import enrich_genes, enrich_hubs, enrich_targets, enriched_regulators
from schema.queries.genes import (
    GeneIndex,
    gene_index,
    genes_by_ids,
    resolve_genes,
    search_genes,
    transcription_factors,
)
from schema.queries.hubs import HUB_STATISTICS, hubs, hubs_for_networks, node_stats
from schema.queries.meta import (
    gene_set_collections,
    gene_set_members,
    gene_sets,
    ingest_runs,
    list_models,
    store_info,
)
from schema.queries.networks import (
    all_networks,
    datasets_by_ids,
    datasets_with_networks,
    facet_counts,
    find_network_ids,
    find_networks,
    find_networks_and_facets,
    networks_by_idempotency_key,
    networks_by_ids,
)

__all__ = [
    "HUB_STATISTICS",
    "MAX_GENE_LIST",
    "MAX_HUBS",
    "MAX_IDS",
    "MAX_PAGE",
    "GeneIndex",
    "NetworkFilter",
    "all_networks",
    "compare_networks",
    "datasets_by_ids",
    "datasets_with_networks",
    "enrich_genes",
    "enrich_hubs",
    "enrich_targets",
    "enriched_regulators",
    "facet_counts",
    "find_network_ids",
    "find_networks",
    "find_networks_and_facets",
    "gene_index",
    "gene_set_collections",
    "gene_set_members",
    "gene_sets",
    "genes_by_ids",
    "hubs",
    "hubs_for_networks",
    "ingest_runs",
    "list_models",
    "network_edges",
    "networks_by_idempotency_key",
    "networks_by_ids",
    "node_stats",
    "regulator_summary",
    "regulators_of",
    "resolve_genes",
    "search_genes",
    "store_info",
    "target_summary",
    "targets_of",
    "transcription_factors",
]
