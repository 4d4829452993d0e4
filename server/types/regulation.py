"""A gene's edges across networks, one by one or summarised per tissue, disease, cell type or organism."""

from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.rows import Page, RegulationRow, RegulationSummaryRow
from server.context import Info
from server.types.page import PageInfo
from server.types.term import OntologyTerm

if TYPE_CHECKING:
    from server.types.gene import Gene
    from server.types.network import Network


@strawberry.type(description="An edge with its network: 'regulator regulates target in this network'.")
class Regulation:
    network_id: int = strawberry.field(description="Id of the network holding the edge.")
    regulator_id: strawberry.Private[int]
    target_id: strawberry.Private[int]
    weight: float = strawberry.field(description="Edge weight; larger is stronger.")
    rank: int = strawberry.field(description="Rank of the edge in its network by weight; 1 = strongest.")
    cell_type: str | None = strawberry.field(description="Cell type label of the network.")
    tissue: str | None = strawberry.field(description="Tissue label of the network.")
    disease: str | None = strawberry.field(description="Disease label of the network.")
    organism: str | None = strawberry.field(description="Organism label of the network.")

    @classmethod
    def from_row(cls, row: RegulationRow) -> "Regulation":
        return cls(
            network_id=row.network_id,
            regulator_id=row.regulator_id,
            target_id=row.target_id,
            weight=row.weight,
            rank=row.rank,
            cell_type=row.cell_type,
            tissue=row.tissue,
            disease=row.disease,
            organism=row.organism,
        )

    @strawberry.field(description="The network holding the edge (ontology term ids, provenance...).")
    async def network(self, info: Info) -> Annotated["Network", strawberry.lazy("server.types.network")]:
        from server.types.network import Network

        return Network.from_row(await info.context.loaders.network.load(self.network_id))

    @strawberry.field(description="The regulating gene.")
    async def regulator(self, info: Info) -> Annotated["Gene", strawberry.lazy("server.types.gene")]:
        from server.types.gene import Gene

        return Gene.from_row(await info.context.loaders.gene.load(self.regulator_id))

    @strawberry.field(description="The regulated gene.")
    async def target(self, info: Info) -> Annotated["Gene", strawberry.lazy("server.types.gene")]:
        from server.types.gene import Gene

        return Gene.from_row(await info.context.loaders.gene.load(self.target_id))


@strawberry.type(description="A page of a gene's edges across networks, by network then rank.")
class RegulationConnection:
    nodes: list[Regulation] = strawberry.field(description="The edges of this page.")
    page_info: PageInfo = strawberry.field(description="Cursor of the next page.")

    @classmethod
    def from_row(cls, page: Page[RegulationRow]) -> "RegulationConnection":
        return cls(nodes=[Regulation.from_row(r) for r in page.items], page_info=PageInfo.from_row(page))


@strawberry.type(
    description="A partner gene (regulator or target) summarised over the networks of one group."
)
class PartnerSummary:
    partner_id: strawberry.Private[int]
    network_count: int = strawberry.field(description="Networks of the group holding the edge.")
    mean_weight: float = strawberry.field(description="Mean weight of the edge over those networks.")
    max_weight: float = strawberry.field(description="Largest weight of the edge over those networks.")
    best_rank: int = strawberry.field(description="Best (smallest) rank of the edge over those networks.")

    @classmethod
    def from_row(cls, row: RegulationSummaryRow) -> "PartnerSummary":
        return cls(
            partner_id=row.partner_id,
            network_count=row.n_networks,
            mean_weight=row.mean_weight,
            max_weight=row.max_weight,
            best_rank=row.best_rank,
        )

    @strawberry.field(description="The partner gene.")
    async def gene(self, info: Info) -> Annotated["Gene", strawberry.lazy("server.types.gene")]:
        from server.types.gene import Gene

        return Gene.from_row(await info.context.loaders.gene.load(self.partner_id))


@strawberry.type(description="The partners of a gene within one group of networks (one tissue, disease...).")
class RegulationGroup:
    group: OntologyTerm | None = strawberry.field(
        description="The group's label and term id (null: unrecorded)."
    )
    network_count: int = strawberry.field(description="Networks in the group (matching the filter).")
    partners: list[PartnerSummary] = strawberry.field(
        description="Partners found in the most networks of the group first, then by mean weight."
    )

    @classmethod
    def from_rows(cls, rows: list[RegulationSummaryRow]) -> list["RegulationGroup"]:
        """Groups in the store's order (rows arrive sorted by group)."""
        groups = []
        for _, members in groupby(rows, key=lambda r: (r.group, r.group_term_id)):
            members = list(members)
            first = members[0]
            groups.append(
                cls(
                    group=OntologyTerm.from_row(first.group, first.group_term_id),
                    network_count=first.n_group_networks,
                    partners=[PartnerSummary.from_row(r) for r in members],
                )
            )
        return groups
