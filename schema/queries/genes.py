"""Genes by id, by Ensembl id (versioned or not), symbol or synonym, and by prefix."""

import re
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


VERSIONED_ENSEMBL_ID = re.compile(r"(ENS[A-Z]*G[0-9]+)[.][0-9]+")
"""An Ensembl gene id with its version (``ENSG00000105329.12``); the SQL below spells the same pattern."""


def unversioned(name: str) -> str:
    """``name`` without the ``.<version>`` of a versioned Ensembl gene id; any other name unchanged."""
    found = VERSIONED_ENSEMBL_ID.fullmatch(name)
    return found.group(1) if found else name


def _check_names(names: Sequence[str]) -> list[str]:
    names = list(names)
    if len(names) > MAX_GENE_LIST:
        msg = f"{len(names)} gene names given, at most {MAX_GENE_LIST} are allowed"
        raise ValueError(msg)
    return names


def resolve_genes(
    con: duckdb.DuckDBPyConnection, names: Sequence[str], *, organism: str | None = None
) -> list[GeneRow | None]:
    """Map Ensembl ids, symbols and synonyms to genes, aligned with ``names`` (None where unknown).

    In this order: the Ensembl id; the Ensembl id without its version (``ENSG00000105329.12``); the current
    symbol (case-insensitive; among several genes the lowest id wins); a synonym (HGNC alias or previous
    symbol, MGI synonym; case-insensitive), only when it names one gene: an ambiguous synonym resolves to
    None rather than to a guess.
    """
    names = _check_names(names)
    of_organism, organism_params = optional_filters(("g.organism = ?", organism))
    rows = con.execute(
        f"""
        WITH query AS (SELECT unnest(?::VARCHAR[]) AS name, unnest(range(?)) AS i),
        candidates AS (
            SELECT query.i, 0 AS tier, genes.id FROM query JOIN genes ON genes.ensembl_id = query.name
            UNION ALL
            SELECT query.i, 1, genes.id FROM query JOIN genes
                ON genes.ensembl_id = regexp_extract(query.name, '^(ENS[A-Z]*G[0-9]+)[.][0-9]+$', 1)
            UNION ALL
            SELECT query.i, 2, genes.id FROM query JOIN genes ON upper(genes.symbol) = upper(query.name)
            UNION ALL
            SELECT query.i, 3, genes.id FROM query
            JOIN gene_synonyms s ON upper(s.synonym) = upper(query.name)
            JOIN genes ON genes.ensembl_id = s.ensembl_id
        ),
        kept AS (
            SELECT DISTINCT c.i, c.tier, g.id FROM candidates c JOIN genes g ON g.id = c.id
            WHERE TRUE{of_organism}
        ),
        best AS (
            SELECT i, tier, id, min(tier) OVER (PARTITION BY i) AS best_tier,
                   count(*) OVER (PARTITION BY i, tier) AS n
            FROM kept
        )
        SELECT best.i, {", ".join(f"g.{c}" for c in GENE_COLUMNS.split(", "))}
        FROM best JOIN genes g ON g.id = best.id
        WHERE tier = best_tier AND (tier < 3 OR n = 1)
        QUALIFY row_number() OVER (PARTITION BY best.i ORDER BY g.id) = 1
        """,
        [names, len(names), *organism_params],
    ).fetchall()
    out: list[GeneRow | None] = [None] * len(names)
    for i, *values in rows:
        out[i] = GeneRow(*values)
    return out


@dataclass(frozen=True)
class GeneMatch:
    """How one name resolved: its gene (None: unknown or ambiguous), by what, or the genes it may mean."""

    gene: GeneRow | None
    via: str | None = None  # "ensembl_id" | "symbol" | "synonym"; None when no single gene matched
    candidates: tuple[GeneRow, ...] = ()  # the genes an ambiguous synonym names, lowest id first

    @property
    def ambiguous(self) -> bool:
        """A synonym of several genes (of the organism asked for): it names none of them."""
        return len(self.candidates) > 1


@dataclass(frozen=True)
class GeneIndex:
    """Every gene of a release in memory, by id, Ensembl id, upper-cased symbol and upper-cased synonym.

    A release never changes and its vocabulary is small (tens of thousands of rows), so a server reads the
    whole table once per release and answers "which gene is this id / name" without a query per request.
    ``resolve`` follows the rules of ``resolve_genes``; ``match`` also tells how each name matched and which
    genes an ambiguous synonym names. Build it with ``gene_index``.
    """

    by_id: Mapping[int, GeneRow]
    by_ensembl_id: Mapping[str, tuple[GeneRow, ...]]  # lowest id first
    by_symbol: Mapping[str, tuple[GeneRow, ...]]  # upper-cased symbol -> genes, lowest id first
    by_synonym: Mapping[str, tuple[GeneRow, ...]]  # upper-cased synonym -> genes, lowest id first
    synonyms: Mapping[int, tuple[str, ...]]  # gene id -> its synonyms, sorted

    def resolve(self, names: Sequence[str], *, organism: str | None = None) -> list[GeneRow | None]:
        """``resolve_genes`` without a query: aligned with ``names``, None where unknown or ambiguous."""
        return [m.gene for m in self.match(names, organism=organism)]

    def match(self, names: Sequence[str], *, organism: str | None = None) -> list[GeneMatch]:
        """How each name resolves (aligned with ``names``), by the rules of ``resolve_genes``."""
        return [self._match_one(name, organism) for name in _check_names(names)]

    def _match_one(self, name: str, organism: str | None) -> GeneMatch:
        def of_organism(rows: tuple[GeneRow, ...]) -> tuple[GeneRow, ...]:
            return tuple(r for r in rows if organism is None or r.organism == organism)

        tiers = (
            ("ensembl_id", self.by_ensembl_id.get(name, ())),
            ("ensembl_id", self.by_ensembl_id.get(unversioned(name), ())),
            ("symbol", self.by_symbol.get(name.upper(), ())),
        )
        for via, candidates in tiers:
            found = of_organism(candidates)
            if found:  # several genes with one current symbol: the lowest id wins, as it always has
                return GeneMatch(found[0], via)
        found = of_organism(self.by_synonym.get(name.upper(), ()))
        return GeneMatch(found[0], "synonym") if len(found) == 1 else GeneMatch(None, None, found)


def gene_index(con: duckdb.DuckDBPyConnection) -> GeneIndex:
    """The whole genes table and the synonyms of its genes as a ``GeneIndex`` (two queries)."""
    rows = rows_as(con, GeneRow, f"SELECT {GENE_COLUMNS} FROM genes ORDER BY id")
    by_id = {row.id: row for row in rows}
    by_ensembl_id: dict[str, list[GeneRow]] = defaultdict(list)
    by_symbol: dict[str, list[GeneRow]] = defaultdict(list)
    for row in rows:
        by_ensembl_id[row.ensembl_id].append(row)
        if row.symbol is not None:
            by_symbol[row.symbol.upper()].append(row)
    by_synonym: dict[str, dict[int, GeneRow]] = defaultdict(dict)  # a dict keeps one entry per gene
    synonyms: dict[int, list[str]] = defaultdict(list)
    pairs = con.execute(
        "SELECT g.id, s.synonym FROM gene_synonyms s JOIN genes g USING (ensembl_id) ORDER BY g.id, s.synonym"
    ).fetchall()
    for gene_id, synonym in pairs:
        by_synonym[synonym.upper()].setdefault(gene_id, by_id[gene_id])
        synonyms[gene_id].append(synonym)
    return GeneIndex(
        by_id=by_id,
        by_ensembl_id={k: tuple(v) for k, v in by_ensembl_id.items()},
        by_symbol={k: tuple(v) for k, v in by_symbol.items()},
        by_synonym={k: tuple(v.values()) for k, v in by_synonym.items()},
        synonyms={k: tuple(v) for k, v in synonyms.items()},
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
