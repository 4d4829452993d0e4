"""Enrichment results: gene sets over-represented in a gene list, and regulators whose targets are."""

from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.rows import EnrichmentRow, RegulatorEnrichmentRow
from server.context import Info

if TYPE_CHECKING:
    from server.types.gene import Gene
    from server.types.network import Network

GeneType = Annotated["Gene", strawberry.lazy("server.types.gene")]


async def _genes(info: Info, ids: list[int]) -> list:
    from server.types.gene import Gene

    rows = info.context.genes(ids)
    return [Gene.from_row(rows[i]) for i in ids if i in rows]


@strawberry.type(description="One gene set tested for over-representation (hypergeometric test).")
class GeneSetEnrichment:
    gene_set_id: int = strawberry.field(description="Store id of the gene set.")
    gene_set: str = strawberry.field(description="Name of the gene set, e.g. 'HALLMARK_HYPOXIA'.")
    collection: str = strawberry.field(description="Collection holding the set, e.g. 'hallmark'.")
    overlap: int = strawberry.field(description="Query genes in the set.")
    query_size: int = strawberry.field(description="Query genes in the universe.")
    set_size: int = strawberry.field(description="Set genes in the universe.")
    universe_size: int = strawberry.field(description="Genes of the universe (background).")
    p_value: float = strawberry.field(description="Hypergeometric upper tail P(X >= overlap).")
    odds_ratio: float = strawberry.field(description="Odds ratio (Haldane-corrected).")
    fdr: float = strawberry.field(description="Benjamini-Hochberg FDR over the sets tested together.")
    overlap_gene_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, row: EnrichmentRow) -> "GeneSetEnrichment":
        return cls(
            gene_set_id=row.gene_set_id,
            gene_set=row.gene_set,
            collection=row.collection,
            overlap=row.overlap,
            query_size=row.query_size,
            set_size=row.set_size,
            universe_size=row.universe_size,
            p_value=row.p_value,
            odds_ratio=row.odds_ratio,
            fdr=row.fdr,
            overlap_gene_ids=list(row.overlap_gene_ids),
        )

    @strawberry.field(description="The query genes in the set.")
    async def overlap_genes(self, info: Info) -> list[GeneType]:
        return await _genes(info, self.overlap_gene_ids)


@strawberry.type(description="Gene sets over-represented in the query genes, most significant first.")
class GeneSetEnrichmentResult:
    query_gene_count: int = strawberry.field(
        description="Distinct query genes the release knows (for targets or hubs: those in the universe)."
    )
    unknown_genes: list[str] = strawberry.field(description="Names in the query or background not found.")
    unmatched_collections: list[str] = strawberry.field(
        description="Names given in `collections` that match no collection of the release (nothing was "
        "tested for them): see `geneSetCollections` for the exact names."
    )
    results: list[GeneSetEnrichment] = strawberry.field(description="Tested sets, most significant first.")


@strawberry.type(description="A regulator whose targets in one network are enriched in the query genes.")
class RegulatorEnrichment:
    network_id: int = strawberry.field(description="The network.")
    regulator_id: strawberry.Private[int]
    overlap: int = strawberry.field(description="Query genes among the regulator's targets.")
    target_count: int = strawberry.field(description="The regulator's targets in the universe.")
    query_size: int = strawberry.field(description="Query genes in the network's universe.")
    universe_size: int = strawberry.field(description="Genes of the network (its universe).")
    p_value: float = strawberry.field(description="Hypergeometric upper tail P(X >= overlap).")
    odds_ratio: float = strawberry.field(description="Odds ratio (Haldane-corrected).")
    fdr: float = strawberry.field(description="Benjamini-Hochberg FDR over all (network, regulator) tests.")
    overlap_gene_ids: strawberry.Private[list[int]]

    @classmethod
    def from_row(cls, row: RegulatorEnrichmentRow) -> "RegulatorEnrichment":
        return cls(
            network_id=row.network_id,
            regulator_id=row.regulator_id,
            overlap=row.overlap,
            target_count=row.n_targets,
            query_size=row.query_size,
            universe_size=row.universe_size,
            p_value=row.p_value,
            odds_ratio=row.odds_ratio,
            fdr=row.fdr,
            overlap_gene_ids=list(row.overlap_gene_ids),
        )

    @strawberry.field(description="The regulator.")
    async def regulator(self, info: Info) -> GeneType:
        from server.types.gene import Gene

        return Gene.from_row(info.context.genes([self.regulator_id])[self.regulator_id])

    @strawberry.field(description="The network (tissue, disease, cell type...).")
    async def network(self, info: Info) -> Annotated["Network", strawberry.lazy("server.types.network")]:
        from server.types.network import Network

        return Network.from_row(await info.context.loaders.network.load(self.network_id))

    @strawberry.field(description="The query genes among the regulator's targets.")
    async def overlap_genes(self, info: Info) -> list[GeneType]:
        return await _genes(info, self.overlap_gene_ids)


@strawberry.type(
    description="Regulators whose targets are enriched in the query genes, most significant first."
)
class RegulatorEnrichmentResult:
    query_gene_count: int = strawberry.field(description="Distinct query genes the release knows.")
    unknown_genes: list[str] = strawberry.field(description="Names in the query not found.")
    results: list[RegulatorEnrichment] = strawberry.field(description="Most significant first.")
