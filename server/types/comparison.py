"""Two networks compared edge by edge."""

from collections.abc import Mapping

import strawberry

from schema.rows import Comparison, GeneRow, SharedEdgeRow
from server.types.edge import Edge, GeneType, gene_or_none
from server.types.evidence import WithEvidence


@strawberry.type(description="An edge present in both networks, with its weight and rank in each.")
class SharedEdge(WithEvidence):
    regulator: GeneType = strawberry.field(description="The regulating gene.")
    target: GeneType = strawberry.field(description="The regulated gene.")
    weight_a: float = strawberry.field(description="Weight in network a.")
    weight_b: float = strawberry.field(description="Weight in network b.")
    rank_a: int = strawberry.field(description="Rank in network a (1 = strongest).")
    rank_b: int = strawberry.field(description="Rank in network b (1 = strongest).")

    @classmethod
    def from_row(cls, row: SharedEdgeRow, genes: Mapping[int, GeneRow]) -> "SharedEdge":
        return cls(
            regulator=gene_or_none(genes, row.regulator_id),
            target=gene_or_none(genes, row.target_id),
            regulator_id=row.regulator_id,
            target_id=row.target_id,
            weight_a=row.weight_a,
            weight_b=row.weight_b,
            rank_a=row.rank_a,
            rank_b=row.rank_b,
        )


@strawberry.type(
    description=(
        "Edges of network b against network a (same regulator and target = same edge): shared, gained "
        "(only in b) and lost (only in a), with the Jaccard index and the rank correlation of shared edges."
    )
)
class NetworkComparison:
    network_a: int = strawberry.field(description="Id of network a.")
    network_b: int = strawberry.field(description="Id of network b.")
    edge_count_a: int = strawberry.field(description="Edges of a compared (after maxRank / minWeight).")
    edge_count_b: int = strawberry.field(description="Edges of b compared (after maxRank / minWeight).")
    shared_count: int = strawberry.field(description="Edges in both networks.")
    gained_count: int = strawberry.field(description="Edges in b and not in a.")
    lost_count: int = strawberry.field(description="Edges in a and not in b.")
    jaccard: float = strawberry.field(description="Shared edges / edges in either network.")
    rank_correlation: float | None = strawberry.field(
        description="Spearman correlation of the weights of shared edges; null below 3 shared edges."
    )
    shared: list[SharedEdge] = strawberry.field(description="The strongest shared edges (by rank in a).")
    gained: list[Edge] = strawberry.field(description="The strongest edges only in b.")
    lost: list[Edge] = strawberry.field(description="The strongest edges only in a.")

    @classmethod
    def from_row(cls, row: Comparison, genes: Mapping[int, GeneRow]) -> "NetworkComparison":
        """The comparison, with the genes of its edge lists taken from `genes` (prefetched)."""
        return cls(
            network_a=row.network_a,
            network_b=row.network_b,
            edge_count_a=row.n_edges_a,
            edge_count_b=row.n_edges_b,
            shared_count=row.n_shared,
            gained_count=row.n_gained,
            lost_count=row.n_lost,
            jaccard=row.jaccard,
            rank_correlation=row.spearman,
            shared=[SharedEdge.from_row(r, genes) for r in row.shared],
            gained=[Edge.from_row(r, genes) for r in row.gained],
            lost=[Edge.from_row(r, genes) for r in row.lost],
        )
