"""An edge of one network and a page of them."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.rows import EdgeRow, GeneRow, Page
from server.types.evidence import WithEvidence
from server.types.page import PageInfo

if TYPE_CHECKING:
    from server.types.gene import Gene

GeneType = Annotated["Gene", strawberry.lazy("server.types.gene")]


def gene_or_none(genes: Mapping[int, GeneRow], gene_id: int) -> "Gene | None":
    """The Gene object of a prefetched row (None when the client did not ask for it)."""
    from server.types.gene import Gene

    row = genes.get(gene_id)
    return Gene.from_row(row) if row is not None else None


@strawberry.type(description="A directed regulator -> target edge of one network.")
class Edge(WithEvidence):
    network_id: int = strawberry.field(description="The network holding the edge.")
    weight: float = strawberry.field(description="Edge weight (aggregated attention); larger is stronger.")
    rank: int = strawberry.field(description="Rank of the edge in its network by weight; 1 = strongest.")
    regulator: GeneType = strawberry.field(description="The regulating gene.")
    target: GeneType = strawberry.field(description="The regulated gene.")

    @classmethod
    def from_row(cls, row: EdgeRow, genes: Mapping[int, GeneRow]) -> "Edge":
        """The edge, with its genes taken from `genes` (prefetched by the resolver that made the page)."""
        return cls(
            network_id=row.network_id,
            weight=row.weight,
            rank=row.rank,
            regulator=gene_or_none(genes, row.regulator_id),
            target=gene_or_none(genes, row.target_id),
            regulator_id=row.regulator_id,
            target_id=row.target_id,
        )


@strawberry.type(description="A page of edges, strongest first.")
class EdgeConnection:
    nodes: list[Edge] = strawberry.field(description="The edges of this page.")
    page_info: PageInfo = strawberry.field(description="Cursor of the next page.")

    @classmethod
    def from_row(cls, page: Page[EdgeRow], genes: Mapping[int, GeneRow]) -> "EdgeConnection":
        return cls(nodes=[Edge.from_row(r, genes) for r in page.items], page_info=PageInfo.from_row(page))
