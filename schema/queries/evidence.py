"""What is known about edges and networks: prior evidence per edge, known-edge counts, stored quality.

Read-only. ``EvidenceFilter.sql`` ("known only" / "novel only" edges) lets other queries join this knowledge
without copying it; networks are filtered or sorted by quality through ``NetworkFilter.quality`` (a
``QualityFilter``, defined beside ``NetworkFilter`` in ``_common``).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from schema.priors import SIGN_NAMES
from schema.quality import quality_badge
from schema.queries._common import (
    MAX_IDS,
    MAX_PAGE,
    QualityFilter,
    check_ids,
    check_limit,
    in_list,
    rows_as,
)

MAX_EVIDENCE_PAIRS = 10_000  # (regulator, target) pairs in one evidence lookup
EVIDENCE_MODES = ("any", "known", "novel")


@dataclass(frozen=True)
class PriorSourceRow:
    id: int
    name: str
    organism: str
    origin: str | None
    license: str | None
    n_edges: int
    n_unmapped: int


@dataclass(frozen=True)
class EvidenceRow:
    """One prior source that contains the edge regulator -> target."""

    regulator_id: int
    target_id: int
    source: str
    sign: int | None  # 1 activation, -1 repression, 0 both, None unknown
    level: str | None  # DoRothEA confidence A-E
    resources: str | None

    @property
    def sign_name(self) -> str | None:
        return SIGN_NAMES.get(self.sign)


@dataclass(frozen=True)
class KnownEdgesRow:
    network_id: int
    source: str | None  # None: known to any source
    n_known_edges: int


@dataclass(frozen=True)
class QualityRow:
    network_id: int
    source: str
    scope: str
    status: str
    n_genes: int
    n_regulators: int
    n_pairs: int
    n_known: int
    random_precision: float | None
    auprc: float | None
    ap: float | None
    epr: float | None
    precision_at_k: float | None
    epr_p_value: float | None

    @property
    def auprc_ratio(self) -> float | None:
        if self.auprc is None or not self.random_precision:
            return None
        return self.auprc / self.random_precision

    @property
    def badge(self) -> str:
        return quality_badge(self.source, self.status, self.epr, self.epr_p_value, self.n_known)


@dataclass(frozen=True)
class TfHubsRow:
    network_id: int
    n_tfs: int
    n_ranked: int
    es: float | None
    nes: float | None
    p_value: float | None
    top_k: int
    top_k_tfs: int
    top_k_expected: float
    fold: float | None
    hypergeom_p: float


def prior_sources(con: duckdb.DuckDBPyConnection) -> list[PriorSourceRow]:
    """The loaded prior sources, by name."""
    return rows_as(
        con,
        PriorSourceRow,
        "SELECT id, name, organism, origin, license, n_edges, n_unmapped FROM prior_sources ORDER BY name",
    )


def _check_sources(sources: Sequence[str] | None) -> list[str] | None:
    if sources is None:
        return None
    if isinstance(sources, str):
        msg = f"sources must be a sequence of names, got the string {sources!r}"
        raise ValueError(msg)
    return [str(s) for s in sources]


def edge_evidence(
    con: duckdb.DuckDBPyConnection,
    pairs: Sequence[tuple[int, int]],
    *,
    sources: Sequence[str] | None = None,
) -> dict[tuple[int, int], list[EvidenceRow]]:
    """Which prior sources contain each (regulator id, target id) pair; pairs known to none are absent.

    ``sources`` limits the answer to those source names. Lists are ordered by source name.
    """
    pairs = [(int(r), int(t)) for r, t in pairs]
    if len(pairs) > MAX_EVIDENCE_PAIRS:
        msg = f"{len(pairs)} edges given, at most {MAX_EVIDENCE_PAIRS} are allowed in one evidence lookup"
        raise ValueError(msg)
    sources = _check_sources(sources)
    if not pairs or sources == []:
        return {}
    source_clause, params = "", []
    if sources is not None:
        source_clause = f" AND s.name IN {in_list(sources)}"
        params = sources
    rows = rows_as(
        con,
        EvidenceRow,
        f"""
        WITH q AS (SELECT DISTINCT unnest(?::INTEGER[]) AS regulator_id, unnest(?::INTEGER[]) AS target_id)
        SELECT p.regulator_id, p.target_id, s.name AS source, p.sign, p.level, p.resources
        FROM q JOIN prior_edges p USING (regulator_id, target_id)
        JOIN prior_sources s ON s.id = p.source_id
        WHERE TRUE{source_clause}
        ORDER BY p.regulator_id, p.target_id, s.name
        """,
        [[r for r, _ in pairs], [t for _, t in pairs], *params],
    )
    found: dict[tuple[int, int], list[EvidenceRow]] = defaultdict(list)
    for row in rows:
        found[(row.regulator_id, row.target_id)].append(row)
    return dict(found)


@dataclass(frozen=True)
class EvidenceFilter:
    """Keep edges known to a prior (``known``), unknown to all (``novel``), or all (``any``).

    ``sources`` names the priors that count (empty: every loaded source).
    """

    mode: str = "any"
    sources: tuple[str, ...] = ()

    def __post_init__(self):
        if self.mode not in EVIDENCE_MODES:
            msg = f"evidence mode must be one of {', '.join(EVIDENCE_MODES)}, got {self.mode!r}"
            raise ValueError(msg)
        object.__setattr__(self, "sources", tuple(_check_sources(self.sources) or ()))

    def sql(self, alias: str = "e") -> tuple[str, list]:
        """A WHERE fragment over an edge table aliased ``alias`` and its parameters."""
        if self.mode == "any":
            return "TRUE", []
        source_clause, params = "", []
        if self.sources:
            names = in_list(list(self.sources))
            source_clause = f" AND p.source_id IN (SELECT id FROM prior_sources WHERE name IN {names})"
            params = list(self.sources)
        exists = (
            f"EXISTS (SELECT 1 FROM prior_edges p WHERE p.regulator_id = {alias}.regulator_id"
            f" AND p.target_id = {alias}.target_id{source_clause})"
        )
        return (exists if self.mode == "known" else f"NOT {exists}"), params


def known_edge_counts(
    con: duckdb.DuckDBPyConnection, network_ids: Sequence[int]
) -> dict[int, list[KnownEdgesRow]]:
    """Per network: edges known to each prior source, and to any (``source`` None first); networks listed."""
    ids = check_ids("network_ids", network_ids, MAX_IDS)
    if not ids:
        return {}
    rows = rows_as(
        con,
        KnownEdgesRow,
        f"""
        WITH known AS (
            SELECT e.network_id, s.name, e.regulator_id, e.target_id
            FROM edges e JOIN prior_edges p USING (regulator_id, target_id)
            JOIN prior_sources s ON s.id = p.source_id
            WHERE e.network_id IN {in_list(ids)}
        )
        SELECT network_id, name AS source, count(*) AS n_known_edges FROM known GROUP BY ALL
        UNION ALL
        SELECT network_id, NULL AS source, count(DISTINCT (regulator_id, target_id)) AS n_known_edges
        FROM known GROUP BY ALL
        ORDER BY network_id, name NULLS FIRST
        """,
        ids,
    )
    out: dict[int, list[KnownEdgesRow]] = {i: [] for i in ids}
    for row in rows:
        out[row.network_id].append(row)
    for i, found in out.items():
        if not found:
            found.append(KnownEdgesRow(i, None, 0))
    return out


QUALITY_COLUMNS = (
    "q.network_id, s.name AS source, q.scope, q.status, q.n_genes, q.n_regulators, q.n_pairs, q.n_known,"
    " q.random_precision, q.auprc, q.ap, q.epr, q.precision_at_k, q.epr_p_value"
)


def network_quality(
    con: duckdb.DuckDBPyConnection, network_ids: Sequence[int]
) -> dict[int, list[QualityRow]]:
    """Each network's quality rows, by source name then scope (``all`` before ``tf``); a DataLoader batch."""
    ids = check_ids("network_ids", network_ids, MAX_IDS)
    out: dict[int, list[QualityRow]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = rows_as(
        con,
        QualityRow,
        f"SELECT {QUALITY_COLUMNS} FROM network_quality q JOIN prior_sources s ON s.id = q.source_id"
        f" WHERE q.network_id IN {in_list(ids)} ORDER BY q.network_id, s.name, q.scope",
        ids,
    )
    for row in rows:
        out[row.network_id].append(row)
    return out


def network_tf_hubs(con: duckdb.DuckDBPyConnection, network_ids: Sequence[int]) -> list[TfHubsRow | None]:
    """TF enrichment among each network's hubs, aligned with ``network_ids`` (None where not scored)."""
    ids = check_ids("network_ids", network_ids, MAX_IDS)
    if not ids:
        return []
    rows = rows_as(
        con,
        TfHubsRow,
        "SELECT network_id, n_tfs, n_ranked, es, nes, p_value, top_k, top_k_tfs, top_k_expected, fold,"
        f" hypergeom_p FROM network_tf_hubs WHERE network_id IN {in_list(ids)}",
        ids,
    )
    by_id = {r.network_id: r for r in rows}
    return [by_id.get(i) for i in ids]


@dataclass(frozen=True)
class RankedNetwork:
    network_id: int
    value: float | None


def networks_by_quality(
    con: duckdb.DuckDBPyConnection, quality: QualityFilter, *, descending: bool = True, first: int = 100
) -> list[RankedNetwork]:
    """The ``first`` networks passing ``quality``'s bounds, sorted by its metric (unscored last)."""
    first = check_limit("first", first, MAX_PAGE)
    where, where_params = quality.sql("n")
    order, order_params = quality.order_sql("n", descending=descending)
    value = quality._value_sql("n")
    return rows_as(
        con,
        RankedNetwork,
        f"SELECT n.id AS network_id, {value} AS value FROM networks n WHERE {where} ORDER BY {order} LIMIT ?",
        [quality.source, quality.scope, *where_params, *order_params, first],
    )
