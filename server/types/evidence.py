"""What prior knowledge says about an edge: the sources that contain it, with sign and confidence level.

``WithEvidence.evidence`` resolves through a per-request loader over
``schema.queries.evidence.edge_evidence``;
the ``knownOnly`` / ``novelOnly`` / ``evidenceSources`` arguments of every edge list become one
``EvidenceFilter`` (``evidence_filter``) passed to the edge queries.
"""

from enum import Enum

import strawberry

from schema.queries.evidence import EvidenceFilter, EvidenceRow, PriorSourceRow, prior_sources
from server.context import Info
from server.errors import UserError


@strawberry.enum(description="The direction of regulation a prior source reports.")
class RegulationSign(Enum):
    ACTIVATION = strawberry.enum_value("activation", description="The regulator activates the target.")
    REPRESSION = strawberry.enum_value("repression", description="The regulator represses the target.")
    BOTH = strawberry.enum_value("both", description="Both activation and repression are reported.")


@strawberry.type(description="One prior source (e.g. CollecTRI) that contains an edge.")
class EdgeEvidence:
    source: str = strawberry.field(
        description="Name of the prior source, e.g. 'CollecTRI' or a user's prior."
    )
    sign: RegulationSign | None = strawberry.field(
        description="Direction of regulation the source reports; null when it gives none."
    )
    level: str | None = strawberry.field(
        description="DoRothEA confidence level, A (curated, strongest) to E; null when the source has none."
    )
    resources: str | None = strawberry.field(
        description="The primary resources behind the edge in this source, ';'-separated (OmniPath names)."
    )

    @classmethod
    def from_row(cls, row: EvidenceRow) -> "EdgeEvidence":
        return cls(
            source=row.source,
            sign=RegulationSign(row.sign_name) if row.sign_name is not None else None,
            level=row.level,
            resources=row.resources,
        )


@strawberry.type(description="An edge that can say which prior sources contain it.")
class WithEvidence:
    """Base of every edge type the API answers (edges, regulations, shared edges): one evidence resolver."""

    regulator_id: strawberry.Private[int]
    target_id: strawberry.Private[int]

    @strawberry.field(
        description=(
            "The loaded prior sources (e.g. CollecTRI, DoRothEA) that contain this regulator -> target edge, "
            "with their sign and level; empty when no source knows it (a novel edge)."
        )
    )
    async def evidence(self, info: Info) -> list[EdgeEvidence]:
        rows = await info.context.loaders.evidence.load((self.regulator_id, self.target_id))
        return [EdgeEvidence.from_row(r) for r in rows]


@strawberry.type(description="A set of known regulator -> target edges loaded into the store.")
class PriorSource:
    name: str = strawberry.field(description="Name of the source, e.g. 'CollecTRI'.")
    organism: str = strawberry.field(description="NCBITaxon term id of its genes.")
    origin: str | None = strawberry.field(description="Where the edges come from (file or resource release).")
    license: str | None = strawberry.field(description="Licence of the edges; check it before reuse.")
    n_edges: int = strawberry.field(description="Edges stored (both genes known to the store).")
    n_unmapped: int = strawberry.field(description="Edges of the input dropped: a gene unknown to the store.")

    @classmethod
    def from_row(cls, row: PriorSourceRow) -> "PriorSource":
        return cls(
            name=row.name,
            organism=row.organism,
            origin=row.origin,
            license=row.license,
            n_edges=row.n_edges,
            n_unmapped=row.n_unmapped,
        )


async def evidence_filter(
    info: Info, known_only: bool = False, novel_only: bool = False, sources: list[str] | None = None
) -> EvidenceFilter:
    """The store's filter for the ``knownOnly`` / ``novelOnly`` / ``evidenceSources`` arguments.

    Source names are checked against the loaded sources: a misspelt one is an error, not an empty answer.
    """
    if known_only and novel_only:
        msg = "knownOnly and novelOnly exclude each other; give at most one"
        raise UserError(msg)
    mode = "known" if known_only else "novel" if novel_only else "any"
    try:
        evidence = EvidenceFilter(mode, tuple(sources or ()))
    except ValueError as err:
        raise UserError(str(err)) from err
    if evidence.sources:
        loaded = {source.name for source in await info.context.run(prior_sources)}
        unknown = sorted(set(evidence.sources) - loaded)
        if unknown:
            names = ", ".join(map(repr, unknown))
            msg = f"unknown prior source(s) {names}; loaded: {', '.join(sorted(loaded)) or 'none'}"
            raise UserError(msg)
    return evidence
