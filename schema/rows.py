"""Small frozen rows returned by the query functions; the server turns each into a GraphQL type."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list; pass ``next_cursor`` as ``after`` to get the next page."""

    items: list[T]
    next_cursor: str | None
    total: int | None = None  # count of all matching items where cheap to compute


@dataclass(frozen=True)
class GeneRow:
    id: int
    ensembl_id: str
    symbol: str | None
    organism: str
    chromosome: str | None
    start: int | None
    is_tf: bool


@dataclass(frozen=True)
class DatasetRow:
    id: int
    source: str
    source_id: str
    version: str | None
    title: str | None
    collection: str | None
    content_hash: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ModelRow:
    id: int
    checkpoint_hash: str
    name: str
    config: str  # JSON text
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class NetworkMeta:
    """What a writer is told about a network: the ``networks`` columns its caller fills.

    With ``NetworkRow`` this is the one declaration of the network columns: the table (``schema.tables``),
    the writer's INSERT and every SELECT are built from these fields, and rows are matched by column name.
    A new column is one field here (or in ``NetworkRow`` when the store computes it), the GraphQL field
    that shows it (``server/types/network.py``) and the code that fills it (``ingest/pipeline.py``).
    Labels and ontology term ids are optional but recommended (see ``schema.labels``).
    """

    dataset_id: int
    n_cells: int
    model_id: int | None = None
    model_family: str | None = None  # "scprint" | "scprint2": a different family is a different network
    tissue: str | None = None
    tissue_ontology_term_id: str | None = None
    disease: str | None = None
    disease_ontology_term_id: str | None = None
    cell_type: str | None = None
    cell_type_ontology_term_id: str | None = None
    organism: str | None = None
    organism_ontology_term_id: str | None = None
    parameters: Mapping | None = None  # stored as JSON text
    idempotency_key: str | None = None

    def __post_init__(self):
        if self.n_cells < 0:
            msg = f"n_cells must be non-negative, got {self.n_cells}"
            raise ValueError(msg)


@dataclass(frozen=True, kw_only=True)
class NetworkRow(NetworkMeta):
    """A stored network: the writer's fields and those the store computes."""

    id: int  # stable across releases for the same key (see ``schema.identity``)
    key: str  # stable key of the network's group
    parameters: str = "{}"  # JSON text
    n_genes: int = 0  # genes with at least one edge
    n_edges: int = 0
    created_at: datetime


@dataclass(frozen=True)
class EdgeRow:
    """An edge of one network; ``rank`` 1 is the network's strongest edge."""

    network_id: int
    regulator_id: int
    target_id: int
    weight: float
    rank: int


@dataclass(frozen=True)
class RegulationRow:
    """An edge with the context of its network, for questions asked across networks."""

    network_id: int
    regulator_id: int
    target_id: int
    weight: float
    rank: int
    cell_type: str | None
    tissue: str | None
    disease: str | None
    organism: str | None


@dataclass(frozen=True)
class RegulationSummaryRow:
    """A partner gene (regulator or target) of one gene, summarised over the networks of one group."""

    group: str | None  # the tissue, disease or cell type label
    group_term_id: str | None
    partner_id: int
    n_networks: int  # networks of the group holding the edge
    n_group_networks: int  # networks of the group
    mean_weight: float
    max_weight: float
    best_rank: int


@dataclass(frozen=True)
class HubRow:
    network_id: int
    gene_id: int
    in_degree: int
    out_degree: int
    weighted_in_degree: float
    weighted_out_degree: float
    degree_centrality: float
    pagerank: float
    rank: int  # 1 = the network's strongest hub by the requested statistic


@dataclass(frozen=True)
class SharedEdgeRow:
    regulator_id: int
    target_id: int
    weight_a: float
    weight_b: float
    rank_a: int
    rank_b: int


@dataclass(frozen=True)
class Comparison:
    """Two networks compared edge by edge (edges identified by (regulator, target))."""

    network_a: int
    network_b: int
    n_edges_a: int
    n_edges_b: int
    n_shared: int
    n_gained: int  # in b, not in a
    n_lost: int  # in a, not in b
    jaccard: float
    spearman: float | None  # rank correlation of weights on shared edges; None below 3 shared edges
    shared: list[SharedEdgeRow] = field(default_factory=list)  # strongest shared edges (by rank in a)
    gained: list[EdgeRow] = field(default_factory=list)  # strongest edges only in b
    lost: list[EdgeRow] = field(default_factory=list)  # strongest edges only in a


@dataclass(frozen=True)
class GeneSetCollectionRow:
    id: int
    name: str
    organism: str
    source: str | None
    license: str | None
    n_sets: int


@dataclass(frozen=True)
class GeneSetRow:
    id: int
    collection_id: int
    name: str
    description: str | None
    n_members: int
    n_unmapped: int


@dataclass(frozen=True)
class EnrichmentRow:
    """Over-representation of one gene set in a query gene list (targets, hubs or a user list)."""

    gene_set_id: int
    gene_set: str
    collection: str
    overlap: int  # a: query genes in the set
    query_size: int  # query genes in the universe
    set_size: int  # set genes in the universe
    universe_size: int
    p_value: float  # hypergeometric upper tail P(X >= overlap)
    odds_ratio: float  # Haldane-corrected
    fdr: float  # Benjamini-Hochberg over the sets tested together
    overlap_gene_ids: list[int]


@dataclass(frozen=True)
class RegulatorEnrichmentRow:
    """How strongly a regulator's targets in one network are enriched in a user's gene list."""

    network_id: int
    regulator_id: int
    overlap: int
    n_targets: int  # the regulator's targets in the universe
    query_size: int
    universe_size: int
    p_value: float
    odds_ratio: float
    fdr: float  # Benjamini-Hochberg over all (network, regulator) pairs tested
    overlap_gene_ids: list[int]


@dataclass(frozen=True)
class FacetCount:
    value: str | None
    term_id: str | None
    count: int


@dataclass(frozen=True)
class StoreInfo:
    release_id: str
    schema_version: int
    created_at: str
    note: str | None
    n_genes: int
    n_datasets: int
    n_networks: int
    n_edges: int
    n_gene_sets: int
    models: list[ModelRow]


@dataclass(frozen=True)
class IngestRunRow:
    id: int
    release_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    n_networks: int
    n_edges: int
    note: str | None
    details: str
