"""A network (one dataset x tissue x disease x cell type group), its edges, hubs and provenance."""

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.utils.str_converters import to_camel_case

from schema.labels import LABEL_NAMES
from schema.queries import MAX_IDS
from schema.queries.edge_tables import top_edges_per_regulator
from schema.queries.edges import network_edges
from schema.queries.hubs import node_stats
from schema.queries.networks import facet_counts, unmatched_labels
from schema.rows import FacetCount, NetworkRow, Page
from server import prefetch
from server.arguments import (
    DEFAULTS,
    AfterArg,
    EvidenceSourcesArg,
    FirstArg,
    HubsByArg,
    KnownOnlyArg,
    MinWeightArg,
    NovelOnlyArg,
)
from server.context import Info
from server.errors import UserError
from server.limits import page_size
from server.lookup import gene_row, match
from server.types.edge import EdgeConnection
from server.types.evidence import evidence_filter
from server.types.filters import HubStatistic, NetworkFilterInput, to_store
from server.types.hub import NodeStatistics, NodeStatisticsResult
from server.types.page import PageInfo
from server.types.provenance import Provenance
from server.types.quality import KnownEdgeCount, NetworkQuality, QualityScope, TfHubEnrichment
from server.types.term import OntologyTerm


@strawberry.type(
    description="A gene network inferred by scPRINT for one dataset, tissue, disease and cell type."
)
class Network:
    id: int = strawberry.field(
        description="Integer id of the network, kept across releases while its group (`key`) is published."
    )
    key: str = strawberry.field(
        description="Stable key of the network's group (dataset, tissue, disease, cell type, organism, model "
        "family): the same in every release, also when the network is recomputed with other parameters."
    )
    model_family: str | None = strawberry.field(
        description="Model family that computed the network: 'scprint' or 'scprint2'."
    )
    cell_type: OntologyTerm | None = strawberry.field(description="Cell type (CL).")
    tissue: OntologyTerm | None = strawberry.field(description="Tissue (UBERON).")
    disease: OntologyTerm | None = strawberry.field(description="Disease (MONDO); 'normal' for healthy.")
    organism: OntologyTerm | None = strawberry.field(description="Organism (NCBITaxon).")
    n_cells: int = strawberry.field(description="Cells the network was computed from.")
    n_genes: int = strawberry.field(description="Genes holding at least one edge.")
    n_edges: int = strawberry.field(description="Edges stored for the network.")
    created_at: datetime = strawberry.field(description="When the network was written.")
    row: strawberry.Private[NetworkRow]

    @classmethod
    def from_row(cls, row: NetworkRow) -> "Network":
        return cls(
            id=row.id,
            key=row.key,
            model_family=row.model_family,
            cell_type=OntologyTerm.from_row(row.cell_type, row.cell_type_ontology_term_id),
            tissue=OntologyTerm.from_row(row.tissue, row.tissue_ontology_term_id),
            disease=OntologyTerm.from_row(row.disease, row.disease_ontology_term_id),
            organism=OntologyTerm.from_row(row.organism, row.organism_ontology_term_id),
            n_cells=row.n_cells,
            n_genes=row.n_genes,
            n_edges=row.n_edges,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="Dataset, model checkpoint, parameters and release of the network.")
    async def provenance(self, info: Info) -> Provenance:
        loaders = info.context.loaders
        dataset = await loaders.dataset.load(self.row.dataset_id)
        model = await loaders.model.load(self.row.model_id) if self.row.model_id is not None else None
        return Provenance.from_row(
            dataset=dataset,
            model=model,
            parameters=self.row.parameters,
            idempotency_key=self.row.idempotency_key,
            release=info.context.release.release_id,
            created_at=self.row.created_at,
        )

    @strawberry.field(description="Edges of the network, strongest first, one page at a time.")
    async def edges(
        self,
        info: Info,
        min_weight: MinWeightArg = None,
        regulator: Annotated[
            str | None,
            strawberry.argument(description="Keep the targets of this gene (symbol or Ensembl id)."),
        ] = None,
        target: Annotated[
            str | None,
            strawberry.argument(description="Keep the regulators of this gene (symbol or Ensembl id)."),
        ] = None,
        top_k_per_regulator: Annotated[
            int | None,
            strawberry.argument(
                description="Keep each regulator's k strongest targets (not with regulator/target)."
            ),
        ] = None,
        known_only: KnownOnlyArg = False,
        novel_only: NovelOnlyArg = False,
        evidence_sources: EvidenceSourcesArg = None,
        first: FirstArg = None,
        after: AfterArg = None,
    ) -> EdgeConnection:
        context = info.context
        size = page_size(first, context.limits)
        evidence = await evidence_filter(info, known_only, novel_only, evidence_sources)
        if top_k_per_regulator is not None:
            if regulator or target or evidence.mode != "any":
                msg = "topKPerRegulator cannot be combined with regulator, target, knownOnly or novelOnly"
                raise UserError(msg)
            page = await context.run(
                top_edges_per_regulator,
                self.id,
                k=top_k_per_regulator,
                min_weight=min_weight,
                first=size,
                after=after,
            )
            return EdgeConnection.from_row(page, await _edge_genes(info, page.items))
        regulator_id = (await gene_row(context, regulator)).id if regulator else None
        target_id = (await gene_row(context, target)).id if target else None
        page = await context.run(
            network_edges,
            self.id,
            min_weight=min_weight,
            regulator_id=regulator_id,
            target_id=target_id,
            evidence=evidence,
            first=size,
            after=after,
        )
        return EdgeConnection.from_row(page, await _edge_genes(info, page.items))

    @strawberry.field(
        description=(
            "This network scored against each loaded prior source (BenGRN's AUPRC and EPR, on all pairs and "
            "on TF rows), computed when the network was written and re-computed when priors change. A "
            "network whose genes hold too few known edges says so instead of giving a figure."
        )
    )
    async def quality(
        self,
        info: Info,
        source: Annotated[
            str | None, strawberry.argument(description="Only this prior source, e.g. 'CollecTRI'.")
        ] = None,
        scope: Annotated[
            QualityScope | None, strawberry.argument(description="Only this scope of pairs (all or tf).")
        ] = None,
    ) -> list[NetworkQuality]:
        rows = await info.context.loaders.quality.load(self.id)
        return [
            NetworkQuality.from_row(r)
            for r in rows
            if (source is None or r.source == source) and (scope is None or r.scope == scope.value)
        ]

    @strawberry.field(
        description="How many of this network's edges the loaded prior sources contain: one count per "
        "source, and first (source null) the edges known to any source. Counted over the stored edges."
    )
    async def known_edges(self, info: Info) -> list[KnownEdgeCount]:
        rows = await info.context.loaders.known_edges.load(self.id)
        return [KnownEdgeCount.from_row(r) for r in rows]

    @strawberry.field(
        description="Are transcription factors over-represented among this network's hubs? Null: not scored."
    )
    async def tf_hubs(self, info: Info) -> TfHubEnrichment | None:
        row = await info.context.loaders.tf_hubs.load(self.id)
        return TfHubEnrichment.from_row(row) if row is not None else None

    @strawberry.field(description="The genes ranking highest by a node statistic (out-degree by default).")
    async def hubs(
        self,
        info: Info,
        by: HubsByArg = HubStatistic.OUT_DEGREE,
        transcription_factors_only: Annotated[
            bool, strawberry.argument(description="Rank transcription factors only.")
        ] = False,
        first: Annotated[
            int | None,
            strawberry.argument(
                description=(
                    f"How many hubs (default {DEFAULTS.default_page_size}, at most {DEFAULTS.max_page_size})."
                )
            ),
        ] = None,
    ) -> list[NodeStatistics]:
        size = page_size(first, info.context.limits)
        rows = await info.context.loaders.hubs.load((self.id, by.value, size, transcription_factors_only))
        genes = info.context.genes(r.gene_id for r in rows) if prefetch.selects(info, "gene") else {}
        return [NodeStatistics.from_row(r, genes) for r in rows]

    @strawberry.field(
        description="Statistics of given genes in this network: one entry per name, saying which genes are "
        "not in this network, and the names naming no gene (never an error for an unknown gene)."
    )
    async def node_statistics(
        self,
        info: Info,
        genes: Annotated[
            list[str],
            strawberry.argument(description=f"Symbols, synonyms or Ensembl ids (at most {MAX_IDS})."),
        ],
        by: Annotated[
            HubStatistic | None,
            strawberry.argument(
                description="Sort by this statistic, highest first (genes not in the network last), and rank "
                "by it; default: the order given, ranks by out-degree."
            ),
        ] = None,
    ) -> NodeStatisticsResult:
        if len(genes) > MAX_IDS:
            msg = f"genes holds {len(genes)} names, at most {MAX_IDS} are allowed"
            raise UserError(msg)
        # names resolve among the network's organism's genes: 'p53' is TP53 in a human network
        matches = await match(info.context, genes, self.row.organism_ontology_term_id)
        ids = list(dict.fromkeys(m.gene.id for m in matches if m.gene is not None))
        statistic = (by or HubStatistic.OUT_DEGREE).value
        rows = await info.context.run(node_stats, self.id, ids, by=statistic) if ids else []
        stats = {row.gene_id: row for row in rows if row is not None}
        return NodeStatisticsResult.from_rows(genes, matches, stats, by_rank=by is not None)


async def _edge_genes(info: Info, edges: list) -> dict:
    """Genes of a page of edges, loaded in one batch when the client selects them."""
    ids: list[int] = []
    if prefetch.selects(info, "nodes", "regulator"):
        ids += [e.regulator_id for e in edges]
    if prefetch.selects(info, "nodes", "target"):
        ids += [e.target_id for e in edges]
    return info.context.genes(ids)


@strawberry.type(description="How many matching networks share one value of a facet.")
class FacetValue:
    term: OntologyTerm | None = strawberry.field(description="The facet value (null: not recorded).")
    count: int = strawberry.field(description="Matching networks with this value.")

    @classmethod
    def from_row(cls, row: FacetCount) -> "FacetValue":
        return cls(term=OntologyTerm.from_row(row.value, row.term_id), count=row.count)


@strawberry.type(description="Counts of matching networks per tissue, disease, cell type and organism.")
class NetworkFacets:
    tissue: list[FacetValue] = strawberry.field(description="Networks per tissue, most frequent first.")
    disease: list[FacetValue] = strawberry.field(description="Networks per disease, most frequent first.")
    cell_type: list[FacetValue] = strawberry.field(description="Networks per cell type, most frequent first.")
    organism: list[FacetValue] = strawberry.field(description="Networks per organism, most frequent first.")

    @classmethod
    def from_row(cls, counts: dict[str, list[FacetCount]]) -> "NetworkFacets":
        """Facets from the store's counts; facets not counted (not selected) are left empty."""
        return cls(
            **{facet: [FacetValue.from_row(r) for r in counts.get(facet, [])] for facet in LABEL_NAMES}
        )


@strawberry.type(description="A page of networks with the facet counts of all matching networks.")
class NetworkConnection:
    nodes: list[Network] = strawberry.field(description="The networks of this page, by id.")
    total_count: int = strawberry.field(description="Networks matching the filter (all pages).")
    page_info: PageInfo = strawberry.field(description="Cursor of the next page.")
    where: strawberry.Private[NetworkFilterInput | None]
    counts: strawberry.Private[dict[str, list[FacetCount]] | None]

    @classmethod
    def from_row(
        cls,
        page: Page[NetworkRow],
        where: NetworkFilterInput | None,
        counts: dict[str, list[FacetCount]] | None = None,
    ) -> "NetworkConnection":
        """The page; `counts` are its facet counts when the resolver read them with the page."""
        return cls(
            nodes=[Network.from_row(r) for r in page.items],
            total_count=page.total or 0,
            page_info=PageInfo.from_row(page),
            where=where,
            counts=counts,
        )

    @staticmethod
    def facets_selected(info: Info) -> list[str]:
        """The facets (store names) a client selects under the connection, from the `networks` resolver."""
        return [facet for facet in LABEL_NAMES if prefetch.selects(info, "facets", to_camel_case(facet))]

    @strawberry.field(
        description="Filter values (as 'cellTypes=T cel') that match no network of the release on their own: "
        "a typo or unknown term id, said rather than a silently empty answer."
    )
    async def unmatched(self, info: Info) -> list[str]:
        unmatched = await info.context.run(unmatched_labels, to_store(self.where))
        return [f"{to_camel_case(field)}={value}" for field, value in unmatched]

    @strawberry.field(description="How many matching networks per tissue, disease, cell type and organism.")
    async def facets(self, info: Info) -> NetworkFacets:
        if self.counts is not None:
            return NetworkFacets.from_row(self.counts)
        wanted = [facet for facet in LABEL_NAMES if prefetch.selects(info, to_camel_case(facet))]
        counts = await info.context.run(facet_counts, to_store(self.where), facets=wanted) if wanted else {}
        return NetworkFacets.from_row(counts)
