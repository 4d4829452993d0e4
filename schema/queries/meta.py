"""What a release holds: its id, schema version, counts, models, gene-set collections, ingest runs."""

import duckdb

from schema.queries._common import MAX_PAGE, check_limit, optional_filters, rows_as
from schema.rows import GeneSetCollectionRow, GeneSetRow, IngestRunRow, ModelRow, StoreInfo


def list_models(con: duckdb.DuckDBPyConnection) -> list[ModelRow]:
    return rows_as(
        con, ModelRow, "SELECT id, checkpoint_hash, name, config, created_at FROM models ORDER BY id"
    )


def store_info(con: duckdb.DuckDBPyConnection) -> StoreInfo:
    """Release id, schema version, creation time, note, row counts and models.

    The edges are counted from the networks' sizes (``n_edges``, set when a network is published with its
    edges): counting the rows of a delta release scans its base's billion network ids (139 ms).
    """
    meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
    counts = con.execute(
        "SELECT (SELECT count(*) FROM genes), (SELECT count(*) FROM datasets),"
        " (SELECT count(*) FROM networks),"
        " (SELECT coalesce(sum(n_edges), 0) FROM networks), (SELECT count(*) FROM gene_sets)"
    ).fetchall()[0]
    return StoreInfo(
        release_id=meta.get("release_id", ""),
        schema_version=int(meta["schema_version"]),
        created_at=meta.get("created_at", ""),
        note=meta.get("note") or None,
        n_genes=counts[0],
        n_datasets=counts[1],
        n_networks=counts[2],
        n_edges=counts[3],
        n_gene_sets=counts[4],
        models=list_models(con),
    )


def gene_set_collections(con: duckdb.DuckDBPyConnection) -> list[GeneSetCollectionRow]:
    return rows_as(
        con,
        GeneSetCollectionRow,
        "SELECT c.id, c.name, c.organism, c.source, c.license, count(s.id) AS n_sets"
        " FROM gene_set_collections c LEFT JOIN gene_sets s ON s.collection_id = c.id"
        " GROUP BY ALL ORDER BY c.id",
    )


def gene_sets(
    con: duckdb.DuckDBPyConnection,
    *,
    collection: str | None = None,
    text: str | None = None,
    limit: int = 100,
) -> list[GeneSetRow]:
    """Gene sets of a collection (by name) whose name contains ``text`` (literally, any case), by name."""
    check_limit("limit", limit, MAX_PAGE)
    optional, params = optional_filters(
        ("c.name = ?", collection), ("contains(lower(s.name), lower(?))", text)
    )
    return rows_as(
        con,
        GeneSetRow,
        "SELECT s.id, s.collection_id, s.name, s.description, s.n_members, s.n_unmapped FROM gene_sets s"
        f" JOIN gene_set_collections c ON c.id = s.collection_id WHERE TRUE{optional}"
        " ORDER BY s.name LIMIT ?",
        [*params, limit],
    )


def gene_set_members(con: duckdb.DuckDBPyConnection, gene_set_id: int) -> list[int]:
    """Gene ids of one gene set."""
    rows = con.execute(
        "SELECT gene_id FROM gene_set_members WHERE gene_set_id = ? ORDER BY gene_id", [gene_set_id]
    ).fetchall()
    return [r[0] for r in rows]


def ingest_runs(con: duckdb.DuckDBPyConnection, *, limit: int = 20) -> list[IngestRunRow]:
    """The most recent ingestion runs first."""
    check_limit("limit", limit, MAX_PAGE)
    return rows_as(
        con,
        IngestRunRow,
        "SELECT id, release_id, status, started_at, finished_at, n_networks, n_edges, note, details"
        " FROM ingest_runs ORDER BY id DESC LIMIT ?",
        [limit],
    )
