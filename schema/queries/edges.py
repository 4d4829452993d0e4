"""Edges of one network, and regulators / targets of a gene across networks.

Access paths: ``edges`` is sorted by (network, regulator), so "edges of network N" and "targets of R in N"
read one or two row groups; ``edges_by_target`` is sorted by (target, network), so "regulators of G" reads the
few row groups holding target G, whatever the number of networks.
"""

from collections.abc import Sequence

import duckdb

from schema.labels import check_label
from schema.queries._common import (
    MAX_GENE_LIST,
    MAX_PAGE,
    NetworkFilter,
    check_ids,
    check_limit,
    in_list,
    optional_filters,
    page_of,
    parse_cursor,
    rows_as,
)
from schema.queries.evidence import EvidenceFilter
from schema.rows import EdgeRow, Page, RegulationRow, RegulationSummaryRow


def network_edges(
    con: duckdb.DuckDBPyConnection,
    network_id: int,
    *,
    min_weight: float | None = None,
    regulator_id: int | None = None,
    target_id: int | None = None,
    evidence: EvidenceFilter | None = None,
    first: int = 100,
    after: str | None = None,
) -> Page[EdgeRow]:
    """Edges of one network, strongest first (cursor = rank): the top-k edges are the first page of k.

    ``regulator_id`` keeps one regulator's targets, ``target_id`` one target's regulators; ``evidence``
    keeps the edges some loaded prior knows (``known``) or none does (``novel``).
    """
    check_limit("first", first, MAX_PAGE)
    cursor = parse_cursor(after, 1)
    known, known_params = evidence_sql(evidence, "edges")
    optional, optional_params = optional_filters(
        ("rank > ?", cursor),
        ("weight >= ?", min_weight),
        ("regulator_id = ?", regulator_id),
        ("target_id = ?", target_id),
        (known, known_params),
    )
    items = rows_as(
        con,
        EdgeRow,
        f"""
        SELECT network_id, regulator_id, target_id, weight, rank FROM edges
        WHERE network_id = ?{optional}
        ORDER BY rank LIMIT ?
        """,
        [network_id, *optional_params, first + 1],
    )
    return page_of(items, first, lambda e: (e.rank,))


FIRST_WINDOW = 256
"""Networks read by the first window of a one-regulator page of ``targets_of`` (then twice as many each)."""


def _regulations(
    con,
    table,
    gene_column,
    partner_column,
    gene_ids,
    where,
    min_weight,
    max_rank,
    evidence,
    tfs_only,
    first,
    after,
) -> Page[RegulationRow]:
    check_limit("first", first, MAX_PAGE)
    ids = check_ids("gene_ids", gene_ids, MAX_GENE_LIST)
    cursor = parse_cursor(after, 3)
    sql, params = (where or NetworkFilter()).sql("n")
    known, known_params = evidence_sql(evidence, "e")
    optional, optional_params = optional_filters(
        ("e.weight >= ?", min_weight),
        ("e.rank <= ?", max_rank),
        (f"(e.{gene_column}, e.network_id, e.rank) > (?, ?, ?)", cursor),
        (known, known_params),
        (f"e.{partner_column} IN (SELECT id FROM genes WHERE is_tf)", () if tfs_only else None),
    )

    # The page is cut from the edges alone, then joined to its networks' labels: joined first, DuckDB built
    # its hash table on a gene's edges (50,000 rows at a billion edges) and probed it with every network.
    of_networks = (
        ""
        if where is None or where.is_empty()
        else f" AND e.network_id IN (SELECT n.id FROM networks n WHERE {sql})"
    )

    def page(window: tuple[int, int] | None, limit: int) -> list[RegulationRow]:
        bounds = " AND e.network_id BETWEEN ? AND ?" if window else ""
        return rows_as(
            con,
            RegulationRow,
            f"""
            SELECT e.network_id, e.regulator_id, e.target_id, e.weight, e.rank,
                   n.cell_type, n.tissue, n.disease, n.organism
            FROM (SELECT e.network_id, e.regulator_id, e.target_id, e.weight, e.rank FROM {table} e
                  WHERE e.{gene_column} IN {in_list(ids)}{optional}{bounds}{of_networks}
                  ORDER BY e.{gene_column}, e.network_id, e.rank LIMIT ?) e
            JOIN networks n ON n.id = e.network_id
            ORDER BY e.{gene_column}, e.network_id, e.rank
            """,
            [*ids, *optional_params, *(window or ()), *(params if of_networks else ()), limit],
        )

    def key(e):
        return (getattr(e, gene_column), e.network_id, e.rank)

    if len(ids) > 1:  # ordered by gene first: windows of networks would not give the page's order
        return page_of(page(None, first + 1), first, key)
    # One gene's edges lie in every network's rows of ``edges``, and in every sorted run of
    # ``edges_by_target`` (a run holds consecutive networks): read growing windows of network ids, in order,
    # until the page is full, so that zone maps skip the other networks' row groups. At a billion edges a
    # regulator's targets took 3.0 s in one statement, a gene's 1,000 regulators 212 ms (22 ms in windows).
    last = con.execute("SELECT coalesce(max(id), 0) FROM networks").fetchall()[0][0]
    low, width, items = (cursor[1] if cursor else 0), FIRST_WINDOW, []
    while low <= last and len(items) <= first:
        items += page((low, low + width - 1), first + 1 - len(items))
        low, width = low + width, width * 2
    return page_of(items, first, key)


def regulators_of(
    con: duckdb.DuckDBPyConnection,
    gene_ids: int | Sequence[int],
    *,
    where: NetworkFilter | None = None,
    min_weight: float | None = None,
    max_rank: int | None = None,
    evidence: EvidenceFilter | None = None,
    tfs_only: bool = False,
    first: int = 100,
    after: str | None = None,
) -> Page[RegulationRow]:
    """Edges into ``gene_ids`` (one gene or a list) in every network matching ``where``.

    Ordered by (target, network, rank). ``evidence`` keeps known or novel edges, ``tfs_only`` the edges whose
    regulator is a transcription factor.
    """
    return _regulations(
        con, "edges_by_target", "target_id", "regulator_id", _as_ids(gene_ids), where, min_weight, max_rank,
        evidence, tfs_only, first, after,
    )  # fmt: skip


def targets_of(
    con: duckdb.DuckDBPyConnection,
    regulator_ids: int | Sequence[int],
    *,
    where: NetworkFilter | None = None,
    min_weight: float | None = None,
    max_rank: int | None = None,
    evidence: EvidenceFilter | None = None,
    tfs_only: bool = False,
    first: int = 100,
    after: str | None = None,
) -> Page[RegulationRow]:
    """Edges out of ``regulator_ids`` (one gene or a list) in every network matching ``where``.

    Ordered by (regulator, network, rank); ``tfs_only`` keeps the edges whose target is a transcription
    factor. For one network, ``network_edges(con, n, regulator_id=r)`` reads less.
    """
    return _regulations(
        con, "edges", "regulator_id", "target_id", _as_ids(regulator_ids), where, min_weight, max_rank,
        evidence, tfs_only, first, after,
    )  # fmt: skip


def _as_ids(gene_ids: int | Sequence[int]) -> list[int]:
    return [gene_ids] if isinstance(gene_ids, int) else list(gene_ids)


def evidence_sql(evidence: EvidenceFilter | None, alias: str) -> tuple[str, tuple | None]:
    """``evidence``'s WHERE fragment as an ``optional_filters`` entry (parameters None: no filter)."""
    if evidence is None or evidence.mode == "any":
        return "", None
    clause, params = evidence.sql(alias)
    return clause, tuple(params)


def _summary(con, table, gene_column, partner_column, gene_id, by, where, min_weight, max_rank, top):
    # Edges are grouped by an integer code of their network's group, joined to the labels afterwards:
    # a hub's targets by disease at a billion edges (2.1 M edges), 466 against 709 ms p50 warm.
    check_label(by, "grouping")
    check_limit("top", top, MAX_PAGE)
    sql, params = (where or NetworkFilter()).sql("n")
    cut, cut_params = optional_filters(("e.weight >= ?", min_weight), ("e.rank <= ?", max_rank))
    return rows_as(
        con,
        RegulationSummaryRow,
        f"""
        WITH nets AS (SELECT n.id, n.{by} AS grp, n.{by}_ontology_term_id AS term
                     FROM networks n WHERE {sql}),
        groups AS (SELECT grp, term, count(*) AS n_group, row_number() OVER () AS code
                   FROM nets GROUP BY ALL),
        coded AS (SELECT nets.id, groups.code FROM nets JOIN groups
                  ON groups.grp IS NOT DISTINCT FROM nets.grp AND groups.term IS NOT DISTINCT FROM nets.term),
        hits AS (
            SELECT c.code, e.{partner_column} AS partner, count(*) AS n_networks,
                   avg(e.weight) AS mean_weight, max(e.weight) AS max_weight, min(e.rank) AS best_rank
            FROM {table} e JOIN coded c ON c.id = e.network_id
            WHERE e.{gene_column} = ?{cut}
            GROUP BY ALL
        )
        SELECT g.grp AS "group", g.term AS group_term_id, h.partner AS partner_id, h.n_networks,
               g.n_group AS n_group_networks, h.mean_weight, h.max_weight, h.best_rank
        FROM hits h JOIN groups g USING (code)
        QUALIFY row_number() OVER (PARTITION BY h.code
                                   ORDER BY h.n_networks DESC, h.mean_weight DESC, h.partner) <= ?
        ORDER BY g.grp NULLS LAST, g.term, h.n_networks DESC, h.mean_weight DESC, h.partner
        """,
        [*params, gene_id, *cut_params, top],
    )


def regulator_summary(
    con: duckdb.DuckDBPyConnection,
    gene_id: int,
    *,
    by: str = "tissue",
    where: NetworkFilter | None = None,
    min_weight: float | None = None,
    max_rank: int | None = None,
    top: int = 20,
) -> list[RegulationSummaryRow]:
    """Regulators of ``gene_id`` grouped by tissue, disease, cell type or organism.

    Per group, the ``top`` regulators found in the most networks (then by mean weight).
    """
    return _summary(
        con, "edges_by_target", "target_id", "regulator_id", gene_id, by, where, min_weight, max_rank, top
    )


def target_summary(
    con: duckdb.DuckDBPyConnection,
    regulator_id: int,
    *,
    by: str = "tissue",
    where: NetworkFilter | None = None,
    min_weight: float | None = None,
    max_rank: int | None = None,
    top: int = 20,
) -> list[RegulationSummaryRow]:
    """Targets of ``regulator_id`` grouped by tissue, disease, cell type or organism."""
    return _summary(
        con, "edges", "regulator_id", "target_id", regulator_id, by, where, min_weight, max_rank, top
    )
