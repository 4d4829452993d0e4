"""Node statistics of one gene in one network (hubs are the genes ranking highest)."""

import math
from collections.abc import Mapping

import strawberry

from schema.queries.genes import GeneMatch
from schema.rows import GeneRow, HubRow
from server.lookup import unresolved
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


@strawberry.type(description="One asked gene in one network: its statistics, or why there are none.")
class GeneNodeStatistics:
    name: str = strawberry.field(description="The name as given.")
    gene: GeneType | None = strawberry.field(
        description="The gene; null when the name names no gene (see `unknownGenes`, `ambiguousGenes`)."
    )
    in_network: bool = strawberry.field(
        description="Whether the gene has an edge in this network (false: not in this network, or unknown)."
    )
    statistics: NodeStatistics | None = strawberry.field(
        description="The gene's statistics here; null when it is not in this network or unknown."
    )


@strawberry.type(description="Statistics of the asked genes in one network, and the names naming no gene.")
class NodeStatisticsResult:
    results: list[GeneNodeStatistics] = strawberry.field(
        description="One entry per name given: in the order given, or with `by` highest first (genes not "
        "in the network last, in the order given)."
    )
    unknown_genes: list[str] = strawberry.field(description="Names matching no gene, in the order given.")
    ambiguous_genes: list[str] = strawberry.field(
        description="Synonyms of several genes, in the order given: give an Ensembl id instead."
    )

    @classmethod
    def from_rows(
        cls, names: list[str], matches: list[GeneMatch], stats: Mapping[int, HubRow], *, by_rank: bool
    ) -> "NodeStatisticsResult":
        """`stats`: rows of the genes in the network by gene id, ranked by the statistic asked for;
        `by_rank`: sort by that rank (else the order given)."""
        genes = {m.gene.id: m.gene for m in matches if m.gene is not None}
        results = []
        for name, found in zip(names, matches, strict=True):
            gene_id = found.gene.id if found.gene is not None else None
            row = stats.get(gene_id)
            results.append(
                GeneNodeStatistics(
                    name=name,
                    gene=gene_or_none(genes, gene_id),
                    in_network=row is not None,
                    statistics=NodeStatistics.from_row(row, genes) if row is not None else None,
                )
            )
        if by_rank:  # a stable sort: genes not in the network keep the order given, last
            results.sort(key=lambda r: r.statistics.rank if r.statistics is not None else math.inf)
        unknown, ambiguous = unresolved(names, matches)
        return cls(results=results, unknown_genes=unknown, ambiguous_genes=ambiguous)
