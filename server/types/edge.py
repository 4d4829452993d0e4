"""An edge of one network and a page of them."""

from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.rows import EdgeRow, Page
from server.context import Info
from server.types.page import PageInfo

if TYPE_CHECKING:
    from server.types.gene import Gene


@strawberry.type(description="A directed regulator -> target edge of one network.")
class Edge:
    network_id: int = strawberry.field(description="The network holding the edge.")
    regulator_id: strawberry.Private[int]
    target_id: strawberry.Private[int]
    weight: float = strawberry.field(description="Edge weight (aggregated attention); larger is stronger.")
    rank: int = strawberry.field(description="Rank of the edge in its network by weight; 1 = strongest.")

    @classmethod
    def from_row(cls, row: EdgeRow) -> "Edge":
        return cls(
            network_id=row.network_id,
            regulator_id=row.regulator_id,
            target_id=row.target_id,
            weight=row.weight,
            rank=row.rank,
        )

    @strawberry.field(description="The regulating gene.")
    async def regulator(self, info: Info) -> Annotated["Gene", strawberry.lazy("server.types.gene")]:
        from server.types.gene import Gene

        return Gene.from_row(await info.context.loaders.gene.load(self.regulator_id))

    @strawberry.field(description="The regulated gene.")
    async def target(self, info: Info) -> Annotated["Gene", strawberry.lazy("server.types.gene")]:
        from server.types.gene import Gene

        return Gene.from_row(await info.context.loaders.gene.load(self.target_id))


@strawberry.type(description="A page of edges, strongest first.")
class EdgeConnection:
    nodes: list[Edge] = strawberry.field(description="The edges of this page.")
    page_info: PageInfo = strawberry.field(description="Cursor of the next page.")

    @classmethod
    def from_row(cls, page: Page[EdgeRow]) -> "EdgeConnection":
        return cls(nodes=[Edge.from_row(r) for r in page.items], page_info=PageInfo.from_row(page))
