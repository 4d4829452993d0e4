"""Queries the store lacks: top-k targets per regulator (paged by rank) and a bulk edge table for exports.

Written here as the design allows as a last resort; they belong in `schema.queries.edges` and should move
there.
"""

from schema.queries._common import MAX_PAGE, check_limit, make_cursor, parse_cursor, rows_as
from schema.rows import EdgeRow, Page


def top_edges_per_regulator(
    con,
    network_id: int,
    *,
    k: int,
    min_weight: float | None = None,
    first: int = 100,
    after: str | None = None,
) -> Page[EdgeRow]:
    """Each regulator's `k` strongest targets in one network, strongest first (cursor = rank)."""
    check_limit("first", first, MAX_PAGE)
    check_limit("topKPerRegulator", k, MAX_PAGE)
    cursor = parse_cursor(after, 1)
    items = rows_as(
        con,
        EdgeRow,
        """
        SELECT network_id, regulator_id, target_id, weight, rank FROM edges
        WHERE network_id = ? AND (?::REAL IS NULL OR weight >= ?)
        QUALIFY row_number() OVER (PARTITION BY regulator_id ORDER BY rank) <= ? AND rank > ?
        ORDER BY rank LIMIT ?
        """,
        [network_id, min_weight, min_weight, k, cursor[0] if cursor else 0, first + 1],
    )
    more = len(items) > first
    items = items[:first]
    return Page(items=items, next_cursor=make_cursor(items[-1].rank) if more else None)


def network_edges_table(con, network_id: int, *, min_weight: float | None, max_rank: int | None, limit: int):
    """Up to `limit` edges of one network as an Arrow table with Ensembl ids and symbols, by rank.

    For the plain-HTTP exports (TSV, GraphML, GMT): one bulk read instead of pages of rows.
    Columns: regulator_ensembl_id, regulator_symbol, target_ensembl_id, target_symbol, weight, rank.
    """
    return con.sql(
        """
        SELECT r.ensembl_id AS regulator_ensembl_id, r.symbol AS regulator_symbol,
               t.ensembl_id AS target_ensembl_id, t.symbol AS target_symbol, e.weight, e.rank
        FROM edges e JOIN genes r ON r.id = e.regulator_id JOIN genes t ON t.id = e.target_id
        WHERE e.network_id = ? AND (?::REAL IS NULL OR e.weight >= ?) AND (?::INTEGER IS NULL OR e.rank <= ?)
        ORDER BY e.rank LIMIT ?
        """,
        params=[network_id, min_weight, min_weight, max_rank, max_rank, limit],
    ).to_arrow_table()
