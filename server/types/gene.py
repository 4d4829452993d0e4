"""A gene with its regulators and targets across networks."""

from dataclasses import dataclass
from typing import Annotated

import strawberry

from schema.queries.edges import regulator_summary, regulators_of, target_summary, targets_of
from schema.rows import GeneRow, Page, RegulationRow
from server.arguments import (
    AfterArg,
    EvidenceSourcesArg,
    FilterArg,
    FirstArg,
    GroupByArg,
    KnownOnlyArg,
    MaxRankArg,
    MinWeightArg,
    NovelOnlyArg,
    TopArg,
)
from server.context import Info
from server.limits import page_size
from server.lookup import gene_rows
from server.types.evidence import evidence_filter
from server.types.filters import NetworkFilterInput, checked_filter
from server.types.regulation import GeneListRegulationConnection, RegulationConnection, RegulationGroup

RegulatorTfsArg = Annotated[
    bool, strawberry.argument(description="Keep the edges whose regulator is a transcription factor.")
]
TargetTfsArg = Annotated[
    bool, strawberry.argument(description="Keep the edges whose target is a transcription factor.")
]


@strawberry.type(description="A gene of the store's vocabulary (GENCODE), identified by its Ensembl id.")
class Gene:
    id: strawberry.Private[int]
    ensembl_id: str = strawberry.field(description="Ensembl gene id, e.g. 'ENSG00000105329' (stable).")
    symbol: str | None = strawberry.field(description="HGNC / MGI symbol, e.g. 'TGFB1'.")
    organism: str = strawberry.field(description="Organism as an NCBITaxon term id, e.g. 'NCBITaxon:9606'.")
    chromosome: str | None = strawberry.field(description="Chromosome, e.g. '19', 'X' or 'MT' (no 'chr').")
    start: int | None = strawberry.field(description="Start position on the chromosome (GENCODE).")
    is_transcription_factor: bool = strawberry.field(
        description="Listed as a transcription factor by Lambert et al. (2018)."
    )

    @strawberry.field(
        description="HGNC alias and previous symbols or MGI synonyms of the gene, sorted: wherever a gene "
        "name is taken they name this gene, unless one names several genes."
    )
    def synonyms(self, info: Info) -> list[str]:
        return list(info.context.release.genes.synonyms.get(self.id, ()))

    @classmethod
    def from_row(cls, row: GeneRow) -> "Gene":
        return cls(
            id=row.id,
            ensembl_id=row.ensembl_id,
            symbol=row.symbol,
            organism=row.organism,
            chromosome=row.chromosome,
            start=row.start,
            is_transcription_factor=row.is_tf,
        )

    @strawberry.field(description="Edges into this gene in every matching network, by network id then rank.")
    async def regulators(
        self,
        info: Info,
        filter: FilterArg = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        known_only: KnownOnlyArg = False,
        novel_only: NovelOnlyArg = False,
        evidence_sources: EvidenceSourcesArg = None,
        transcription_factors_only: RegulatorTfsArg = False,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> RegulationConnection:
        options = EdgeOptions(filter, min_weight, max_rank, known_only, novel_only, evidence_sources)
        page = await options.page(info, regulators_of, [self.id], transcription_factors_only, first, after)
        return await RegulationConnection.build(info, page)

    @strawberry.field(
        description="Edges out of this gene in every matching network, by network id then rank."
    )
    async def targets(
        self,
        info: Info,
        filter: FilterArg = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        known_only: KnownOnlyArg = False,
        novel_only: NovelOnlyArg = False,
        evidence_sources: EvidenceSourcesArg = None,
        transcription_factors_only: TargetTfsArg = False,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> RegulationConnection:
        options = EdgeOptions(filter, min_weight, max_rank, known_only, novel_only, evidence_sources)
        page = await options.page(info, targets_of, [self.id], transcription_factors_only, first, after)
        return await RegulationConnection.build(info, page)

    @strawberry.field(
        description="Regulators of this gene summarised per tissue, disease, cell type or organism."
    )
    async def regulators_by_group(
        self,
        info: Info,
        group_by: GroupByArg,
        filter: FilterArg = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        first: TopArg = None,
    ) -> list[RegulationGroup]:
        return await _groups(info, regulator_summary, self.id, group_by, filter, min_weight, max_rank, first)

    @strawberry.field(
        description="Targets of this gene summarised per tissue, disease, cell type or organism."
    )
    async def targets_by_group(
        self,
        info: Info,
        group_by: GroupByArg,
        filter: FilterArg = None,
        min_weight: MinWeightArg = None,
        max_rank: MaxRankArg = None,
        first: TopArg = None,
    ) -> list[RegulationGroup]:
        return await _groups(info, target_summary, self.id, group_by, filter, min_weight, max_rank, first)


@dataclass(frozen=True)
class EdgeOptions:
    """The arguments every list of a gene's edges across networks shares (one gene or a gene list)."""

    filter: NetworkFilterInput | None
    min_weight: float | None
    max_rank: int | None
    known_only: bool
    novel_only: bool
    evidence_sources: list[str] | None

    async def gene_list(
        self, info: Info, query, names, organism, tfs_only, first, after
    ) -> GeneListRegulationConnection:
        """One page of ``query`` over a user's gene list, with the names the release does not know."""
        rows, unknown = await gene_rows(info.context, names, organism=organism)
        page = await self.page(info, query, [r.id for r in rows], tfs_only, first, after)
        return await GeneListRegulationConnection.build_for(info, page, unknown)

    async def page(self, info: Info, query, gene_ids, tfs_only, first, after) -> Page[RegulationRow]:
        """One page of ``query`` (``regulators_of`` or ``targets_of``) over ``gene_ids``."""
        evidence = await evidence_filter(info, self.known_only, self.novel_only, self.evidence_sources)
        return await info.context.run(
            query,
            gene_ids,
            where=await checked_filter(info, self.filter),
            min_weight=self.min_weight,
            max_rank=self.max_rank,
            evidence=evidence,
            tfs_only=tfs_only,
            first=page_size(first, info.context.limits),
            after=after,
        )


async def _groups(info: Info, summary, gene_id, group_by, filter, min_weight, max_rank, first):
    """A gene's partners in one direction summarised per group (``summary``: regulator_ or target_summary)."""
    rows = await info.context.run(
        summary,
        gene_id,
        by=group_by.value,
        where=await checked_filter(info, filter),
        min_weight=min_weight,
        max_rank=max_rank,
        top=page_size(first, info.context.limits),
    )
    return await RegulationGroup.build(info, rows)
