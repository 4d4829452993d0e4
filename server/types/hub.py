"""Node statistics of one gene in one network (hubs are the genes ranking highest)."""

from collections.abc import Mapping

import strawberry

from schema.rows import GeneRow, HubRow
from server.types.edge import GeneType, gene_or_none


@strawberry.type(description="Degree, weighted degree and PageRank of one gene in one network.")
class NodeStatistics:
    network_id: int = strawberry.field(description="The network.")
    gene: GeneType = strawberry.field(description="The gene.")
    in_degree: int = strawberry.field(description="Number of regulators of the gene.")
    out_degree: int = strawberry.field(description="Number of targets of the gene.")
    weighted_in_degree: float = strawberry.field(description="Sum of the weights of incoming edges.")
    weighted_out_degree: float = strawberry.field(description="Sum of the weights of outgoing edges.")
    degree_centrality: float = strawberry.field(description="(in + out degree) / (genes - 1).")
    pagerank: float = strawberry.field(description="PageRank on the weighted directed network.")
    rank: int = strawberry.field(
        description="Rank in the network by the requested statistic (default out-degree); 1 = top."
    )

    @classmethod
    def from_row(cls, row: HubRow, genes: Mapping[int, GeneRow]) -> "NodeStatistics":
        return cls(
            network_id=row.network_id,
            gene=gene_or_none(genes, row.gene_id),
            in_degree=row.in_degree,
            out_degree=row.out_degree,
            weighted_in_degree=row.weighted_in_degree,
            weighted_out_degree=row.weighted_out_degree,
            degree_centrality=row.degree_centrality,
            pagerank=row.pagerank,
            rank=row.rank,
        )
