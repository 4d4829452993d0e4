"""A gene's edges across networks, one by one or summarised per tissue, disease, cell type or organism."""

from collections.abc import Mapping
from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.rows import GeneRow, NetworkRow, Page, RegulationRow, RegulationSummaryRow
from server import prefetch
from server.context import Info
from server.types.edge import GeneType, gene_or_none
from server.types.evidence import WithEvidence
from server.types.page import PageInfo
from server.types.term import OntologyTerm

if TYPE_CHECKING:
    from server.types.network import Network


NetworkType = Annotated["Network", strawberry.lazy("server.types.network")]


@strawberry.type(description="An edge with its network: 'regulator regulates target in this network'.")
class Regulation(WithEvidence):
    network_id: int = strawberry.field(description="Id of the network holding the edge.")
    weight: float = strawberry.field(description="Edge weight; larger is stronger.")
    rank: int = strawberry.field(description="Rank of the edge in its network by weight; 1 = strongest.")
    cell_type: str | None = strawberry.field(description="Cell type label of the network.")
    tissue: str | None = strawberry.field(description="Tissue label of the network.")
    disease: str | None = strawberry.field(description="Disease label of the network.")
    organism: str | None = strawberry.field(description="Organism label of the network.")
    network: NetworkType = strawberry.field(
        description="The network holding the edge (ontology term ids, provenance...)."
    )
    regulator: GeneType = strawberry.field(description="The regulating gene.")
    target: GeneType = strawberry.field(description="The regulated gene.")

    @classmethod
    def from_row(
        cls, row: RegulationRow, genes: Mapping[int, GeneRow], networks: Mapping[int, NetworkRow]
    ) -> "Regulation":
        from server.types.network import Network

        network = networks.get(row.network_id)
        return cls(
            network_id=row.network_id,
            weight=row.weight,
            rank=row.rank,
            cell_type=row.cell_type,
            tissue=row.tissue,
            disease=row.disease,
            organism=row.organism,
            network=Network.from_row(network) if network is not None else None,
            regulator=gene_or_none(genes, row.regulator_id),
            target=gene_or_none(genes, row.target_id),
            regulator_id=row.regulator_id,
            target_id=row.target_id,
        )


@strawberry.type(description="A page of a gene's edges across networks, by network then rank.")
class RegulationConnection:
    nodes: list[Regulation] = strawberry.field(description="The edges of this page.")
    page_info: PageInfo = strawberry.field(description="Cursor of the next page.")

    @classmethod
    async def build(cls, info: Info, page: Page[RegulationRow]) -> "RegulationConnection":
        """The page, with the genes and networks the client selected loaded in one batch each."""
        gene_ids = []
        if prefetch.selects(info, "nodes", "regulator"):
            gene_ids += [r.regulator_id for r in page.items]
        if prefetch.selects(info, "nodes", "target"):
            gene_ids += [r.target_id for r in page.items]
        genes = info.context.genes(gene_ids)
        wants_networks = prefetch.selects(info, "nodes", "network")
        networks = await prefetch.networks(info, (r.network_id for r in page.items)) if wants_networks else {}
        return cls.from_row(page, genes, networks)

    @classmethod
    def from_row(
        cls, page: Page[RegulationRow], genes: Mapping[int, GeneRow], networks: Mapping[int, NetworkRow]
    ) -> "RegulationConnection":
        return cls(
            nodes=[Regulation.from_row(r, genes, networks) for r in page.items],
            page_info=PageInfo.from_row(page),
        )


@strawberry.type(
    description="A page of the edges of a gene list across networks, by gene, network then rank, with the "
    "names of the list the release does not know."
)
class GeneListRegulationConnection(RegulationConnection):
    unknown_genes: list[str] = strawberry.field(
        description="Names of the list that match no gene of the release (symbol, synonym or Ensembl id)."
    )

    @classmethod
    async def build_for(
        cls, info: Info, page: Page[RegulationRow], unknown: list[str]
    ) -> "GeneListRegulationConnection":
        connection = await RegulationConnection.build(info, page)
        return cls(nodes=connection.nodes, page_info=connection.page_info, unknown_genes=unknown)


@strawberry.type(
    description="A partner gene (regulator or target) summarised over the networks of one group."
)
class PartnerSummary:
    gene: GeneType = strawberry.field(description="The partner gene.")
    network_count: int = strawberry.field(description="Networks of the group holding the edge.")
    mean_weight: float = strawberry.field(description="Mean weight of the edge over those networks.")
    max_weight: float = strawberry.field(description="Largest weight of the edge over those networks.")
    best_rank: int = strawberry.field(description="Best (smallest) rank of the edge over those networks.")

    @classmethod
    def from_row(cls, row: RegulationSummaryRow, genes: Mapping[int, GeneRow]) -> "PartnerSummary":
        return cls(
            gene=gene_or_none(genes, row.partner_id),
            network_count=row.n_networks,
            mean_weight=row.mean_weight,
            max_weight=row.max_weight,
            best_rank=row.best_rank,
        )


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
    async def build(cls, info: Info, rows: list[RegulationSummaryRow]) -> list["RegulationGroup"]:
        """Groups with the partner genes the client selected loaded in one batch."""
        wanted = prefetch.selects(info, "partners", "gene")
        genes = info.context.genes(r.partner_id for r in rows) if wanted else {}
        return cls.from_rows(rows, genes)

    @classmethod
    def from_rows(
        cls, rows: list[RegulationSummaryRow], genes: Mapping[int, GeneRow]
    ) -> list["RegulationGroup"]:
        """Groups in the store's order (rows arrive sorted by group)."""
        groups = []
        for _, members in groupby(rows, key=lambda r: (r.group, r.group_term_id)):
            members = list(members)
            first = members[0]
            groups.append(
                cls(
                    group=OntologyTerm.from_row(first.group, first.group_term_id),
                    network_count=first.n_group_networks,
                    partners=[PartnerSummary.from_row(r, genes) for r in members],
                )
            )
        return groups
