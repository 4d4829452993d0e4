"""Genes by id, by Ensembl id or symbol, and by prefix."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from schema.queries._common import MAX_GENE_LIST, MAX_IDS, check_ids, check_limit, optional_filters, rows_as
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
    of_organism, organism_params = optional_filters(("g.organism = ?", organism))
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
            WHERE TRUE{of_organism}
        ) WHERE pick = 1
        """,
        [names, len(names), *organism_params],
    ).fetchall()
    out: list[GeneRow | None] = [None] * len(names)
    for i, *values in rows:
        out[i] = GeneRow(*values)
    return out


@dataclass(frozen=True)
class GeneIndex:
    """Every gene of a release in memory, by id, Ensembl id and upper-cased symbol.

    A release never changes and its vocabulary is small (tens of thousands of rows), so a server reads the
    whole table once per release and answers "which gene is this id / name" without a query per request.
    ``resolve`` follows the rules of ``resolve_genes``. Build it with ``gene_index``.
    """

    by_id: Mapping[int, GeneRow]
    by_ensembl_id: Mapping[str, tuple[GeneRow, ...]]  # lowest id first
    by_symbol: Mapping[str, tuple[GeneRow, ...]]  # upper-cased symbol -> genes, lowest id first

    def resolve(self, names: Sequence[str], *, organism: str | None = None) -> list[GeneRow | None]:
        """``resolve_genes`` without a query: aligned with ``names``, None where unknown."""
        if len(names) > MAX_GENE_LIST:
            msg = f"{len(names)} gene names given, at most {MAX_GENE_LIST} are allowed"
            raise ValueError(msg)
        return [self._resolve_one(name, organism) for name in names]

    def _resolve_one(self, name: str, organism: str | None) -> GeneRow | None:
        # an Ensembl id match wins over a symbol match; among several genes the lowest id wins
        for candidates in (self.by_ensembl_id.get(name, ()), self.by_symbol.get(name.upper(), ())):
            for row in candidates:
                if organism is None or row.organism == organism:
                    return row
        return None


def gene_index(con: duckdb.DuckDBPyConnection) -> GeneIndex:
    """The whole genes table as a ``GeneIndex`` (one query)."""
    rows = rows_as(con, GeneRow, f"SELECT {GENE_COLUMNS} FROM genes ORDER BY id")
    by_ensembl_id: dict[str, list[GeneRow]] = defaultdict(list)
    by_symbol: dict[str, list[GeneRow]] = defaultdict(list)
    for row in rows:
        by_ensembl_id[row.ensembl_id].append(row)
        if row.symbol is not None:
            by_symbol[row.symbol.upper()].append(row)
    return GeneIndex(
        by_id={row.id: row for row in rows},
        by_ensembl_id={k: tuple(v) for k, v in by_ensembl_id.items()},
        by_symbol={k: tuple(v) for k, v in by_symbol.items()},
    )


def search_genes(
    con: duckdb.DuckDBPyConnection, prefix: str, *, organism: str | None = None, limit: int = 20
) -> list[GeneRow]:
    """Genes whose symbol or Ensembl id starts with ``prefix`` (case-insensitive, literally: ``%`` and ``_``
    are characters), exact matches first."""
    check_limit("limit", limit, MAX_IDS)
    of_organism, organism_params = optional_filters(("organism = ?", organism))
    return rows_as(
        con,
        GeneRow,
        f"""
        SELECT {GENE_COLUMNS} FROM genes
        WHERE (starts_with(upper(symbol), upper(?)) OR starts_with(upper(ensembl_id), upper(?))){of_organism}
        ORDER BY upper(symbol) = upper(?) DESC, length(symbol), symbol, id
        LIMIT ?
        """,
        [prefix, prefix, *organism_params, prefix, limit],
    )


def transcription_factors(con: duckdb.DuckDBPyConnection, *, organism: str | None = None) -> list[GeneRow]:
    """All genes flagged as transcription factors (Lambert et al. 2018), by symbol."""
    of_organism, organism_params = optional_filters(("organism = ?", organism))
    return rows_as(
        con,
        GeneRow,
        f"SELECT {GENE_COLUMNS} FROM genes WHERE is_tf{of_organism} ORDER BY symbol",
        organism_params,
    )
