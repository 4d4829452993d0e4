"""Edge reads the server needs besides `edges.py`: each regulator's top k (paged), and whole-network tables.

Moved here from the server (which holds no SQL): `top_edges_per_regulator` backs
`Network.edges(topKPerRegulator:)`, `network_edges_table` the plain-HTTP exports (TSV, GraphML, GMT), and
`atlas_edge_batches` the whole-atlas download (streamed batches, never one table).
"""

import duckdb
import pyarrow as pa

from schema.labels import LABELS
from schema.queries._common import (
    MAX_PAGE,
    NetworkFilter,
    check_limit,
    optional_filters,
    page_of,
    parse_cursor,
    rows_as,
)
from schema.rows import EdgeRow, Page


def top_edges_per_regulator(
    con: duckdb.DuckDBPyConnection,
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
    optional, params = optional_filters(("weight >= ?", min_weight))
    items = rows_as(
        con,
        EdgeRow,
        f"""
        SELECT network_id, regulator_id, target_id, weight, rank FROM edges
        WHERE network_id = ?{optional}
        QUALIFY row_number() OVER (PARTITION BY regulator_id ORDER BY rank) <= ? AND rank > ?
        ORDER BY rank LIMIT ?
        """,
        [network_id, *params, k, cursor[0] if cursor else 0, first + 1],
    )
    return page_of(items, first, lambda e: (e.rank,))


def network_edges_table(
    con: duckdb.DuckDBPyConnection,
    network_id: int,
    *,
    min_weight: float | None,
    max_rank: int | None,
    limit: int,
) -> pa.Table:
    """Up to `limit` edges of one network as an Arrow table with Ensembl ids and symbols, by rank.

    One bulk read instead of pages of rows. Columns: regulator_ensembl_id, regulator_symbol,
    target_ensembl_id, target_symbol, weight, rank, regulator_is_tf, target_is_tf, and ``known_in``: the
    loaded prior sources holding the edge, ``;``-separated with their sign (e.g. ``CollecTRI:+``), empty
    for a novel edge.
    """
    optional, params = optional_filters(("e.weight >= ?", min_weight), ("e.rank <= ?", max_rank))
    return con.sql(
        f"""
        SELECT r.ensembl_id AS regulator_ensembl_id, r.symbol AS regulator_symbol,
               t.ensembl_id AS target_ensembl_id, t.symbol AS target_symbol, e.weight, e.rank,
               r.is_tf AS regulator_is_tf, t.is_tf AS target_is_tf,
               coalesce(k.known_in, '') AS known_in
        FROM edges e JOIN genes r ON r.id = e.regulator_id JOIN genes t ON t.id = e.target_id
        LEFT JOIN (
            SELECT p.regulator_id, p.target_id,
                   string_agg(s.name || CASE p.sign WHEN 1 THEN ':+' WHEN -1 THEN ':-' WHEN 0 THEN ':+-'
                              ELSE '' END, ';' ORDER BY s.name) AS known_in
            FROM prior_edges p JOIN prior_sources s ON s.id = p.source_id
            GROUP BY ALL
        ) k ON k.regulator_id = e.regulator_id AND k.target_id = e.target_id
        WHERE e.network_id = ?{optional}
        ORDER BY e.rank LIMIT ?
        """,
        params=[network_id, *params, limit],
    ).to_arrow_table()


ATLAS_BATCH_ROWS = 65_536  # rows per batch of the atlas stream: ~10 MB of Arrow with the label strings
ATLAS_LABEL_COLUMNS = ", ".join(f"n.{label.name}, n.{label.name}_ontology_term_id" for label in LABELS)


def atlas_edge_batches(
    con: duckdb.DuckDBPyConnection,
    where: NetworkFilter | None = None,
    *,
    min_weight: float | None = None,
    max_rank: int | None = None,
    batch_rows: int = ATLAS_BATCH_ROWS,
) -> pa.RecordBatchReader:
    """Every edge of the release (of the networks matching ``where``) with its network's metadata, in batches.

    DuckDB produces the batches as the reader is consumed, so memory stays at about one batch whatever the
    atlas's size. There is no ORDER BY (a sort would hold the whole result), so rows come in no particular
    order: sort them after reading where order matters. Columns: network_id, network_key, each label of
    ``schema.labels`` with its ``_ontology_term_id``, model_family, model (the checkpoint's name),
    regulator_ensembl_id, regulator_symbol, target_ensembl_id, target_symbol, weight, rank. The cursor must
    stay open (and run no other statement) until the reader is exhausted.
    """
    check_limit("batch_rows", batch_rows, 1_000_000)
    network_sql, network_params = (where or NetworkFilter()).sql("n")
    optional, params = optional_filters(("e.weight >= ?", min_weight), ("e.rank <= ?", max_rank))
    relation = con.sql(
        f"""
        SELECT e.network_id, n.key AS network_key, {ATLAS_LABEL_COLUMNS}, n.model_family, m.name AS model,
               r.ensembl_id AS regulator_ensembl_id, r.symbol AS regulator_symbol,
               t.ensembl_id AS target_ensembl_id, t.symbol AS target_symbol, e.weight, e.rank
        FROM edges e JOIN networks n ON n.id = e.network_id
        JOIN genes r ON r.id = e.regulator_id JOIN genes t ON t.id = e.target_id
        LEFT JOIN models m ON m.id = n.model_id
        WHERE {network_sql}{optional}
        """,
        params=[*network_params, *params],
    )
    return relation.to_arrow_reader(batch_rows)
