"""Genes by id, by Ensembl id or symbol, and by prefix."""

from collections.abc import Sequence

import duckdb

from schema.queries._common import MAX_GENE_LIST, MAX_IDS, check_ids, check_limit, rows_as
from schema.rows import GeneRow

GENE_COLUMNS = "id, ensembl_id, symbol, organism, chromosome, start, is_tf"


def genes_by_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[GeneRow | None]:
    """The genes with these ids, aligned with ``ids`` (None where unknown): a DataLoader batch function."""
    ids = check_ids("ids", ids)
    rows = rows_as(
        con, GeneRow, f"SELECT {GENE_COLUMNS} FROM genes WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids]
    )
    by_id = {r.id: r for r in rows}
    return [by_id.get(i) for i in ids]


def resolve_genes(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], *, organism: str | None = None
) -> list[GeneRow | None]:
    """Map Ensembl ids or symbols (case-insensitive) to genes, aligned with ``names`` (None where unknown).

    An Ensembl id match wins over a symbol match; among several genes with one symbol the lowest id wins.
    """
    names = list(names)
    if len(names) > MAX_GENE_LIST:
        msg = f"{len(names)} gene names given, at most {MAX_GENE_LIST} are allowed"
        raise ValueError(msg)
    rows = con.execute(
        f"""
        WITH query AS (SELECT unnest(?::VARCHAR[]) AS name, unnest(range(?)) AS i)
        SELECT i, {GENE_COLUMNS} FROM (
            SELECT q.i, g.*, row_number() OVER (PARTITION BY q.i ORDER BY q.by_id DESC, g.id) AS pick
            FROM (SELECT query.i, true AS by_id, genes.id FROM query
                  JOIN genes ON genes.ensembl_id = query.name
                  UNION ALL
                  SELECT query.i, false, genes.id FROM query
                  JOIN genes ON upper(genes.symbol) = upper(query.name)
            ) q JOIN genes g ON g.id = q.id
            WHERE ?::VARCHAR IS NULL OR g.organism = ?
        ) WHERE pick = 1
        """,
        [names, len(names), organism, organism],
    ).fetchall()
    out: list[GeneRow | None] = [None] * len(names)
    for i, *values in rows:
        out[i] = GeneRow(*values)
    return out


def search_genes(
    con: duckdb.DuckDBPyConnection, prefix: str, *, organism: str | None = None, limit: int = 20
) -> list[GeneRow]:
    """Genes whose symbol or Ensembl id starts with ``prefix`` (case-insensitive), exact matches first."""
    check_limit("limit", limit, MAX_IDS)
    return rows_as(
        con,
        GeneRow,
        f"""
        SELECT {GENE_COLUMNS} FROM genes
        WHERE (upper(symbol) LIKE upper(?) || '%' OR upper(ensembl_id) LIKE upper(?) || '%')
          AND (?::VARCHAR IS NULL OR organism = ?)
        ORDER BY upper(symbol) = upper(?) DESC, length(symbol), symbol, id
        LIMIT ?
        """,
        [prefix, prefix, organism, organism, prefix, limit],
    )


def transcription_factors(con: duckdb.DuckDBPyConnection, *, organism: str | None = None) -> list[GeneRow]:
    """All genes flagged as transcription factors (Lambert et al. 2018), by symbol."""
    return rows_as(
        con,
        GeneRow,
        f"SELECT {GENE_COLUMNS} FROM genes WHERE is_tf AND (?::VARCHAR IS NULL OR organism = ?)"
        " ORDER BY symbol",
        [organism, organism],
    )
