"""Gene sets: reading GMT files and loading them into a release with members mapped to gene ids."""

import gzip
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GmtSet:
    name: str
    description: str
    genes: tuple[str, ...]


@dataclass(frozen=True)
class GeneSetLoad:
    collection_id: int
    n_sets: int
    n_members: int  # members mapped to a gene of the store
    n_unmapped: int  # members (symbols) matching no gene


def read_gmt(path: str | Path) -> list[GmtSet]:
    """Parse a GMT file (optionally gzipped): name, description, then member symbols, tab-separated."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    sets = []
    with opener(path, "rt") as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\n\r").split("\t")
            if not line.strip():
                continue
            if len(fields) < 3:
                msg = f"{path}:{number}: expected name, description and genes; got {len(fields)} fields"
                raise ValueError(msg)
            genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
            sets.append(GmtSet(name=fields[0], description=fields[1], genes=genes))
    if not sets:
        msg = f"{path} holds no gene sets"
        raise ValueError(msg)
    return sets


def load_gene_sets(
    con: duckdb.DuckDBPyConnection,
    collection: str,
    sets: list[GmtSet],
    *,
    organism: str = "NCBITaxon:9606",
    source: str | None = None,
    license: str | None = None,
) -> GeneSetLoad:
    """Store ``sets`` as collection ``collection`` (replacing a collection of that name).

    Members are matched to genes of ``organism`` by symbol (case-insensitive) or Ensembl id; unmatched
    members are counted per set in ``n_unmapped``. Call through ``ReleaseWriter.load_gene_sets``.
    """
    old = next(
        iter(con.execute("SELECT id FROM gene_set_collections WHERE name = ?", [collection]).fetchall()), None
    )
    if old is not None:
        con.execute(
            "DELETE FROM gene_set_members"
            " WHERE gene_set_id IN (SELECT id FROM gene_sets WHERE collection_id = ?)",
            [old[0]],
        )
        con.execute("DELETE FROM gene_sets WHERE collection_id = ?", [old[0]])
        con.execute("DELETE FROM gene_set_collections WHERE id = ?", [old[0]])
    collection_id = con.execute(
        "INSERT INTO gene_set_collections (name, organism, source, license, created_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        [collection, organism, source, license, datetime.now(UTC).replace(tzinfo=None)],
    ).fetchall()[0][0]
    members = pa.table(
        {
            "set_index": pa.array([i for i, s in enumerate(sets) for _ in s.genes], pa.int32()),
            "name": pa.array([g for s in sets for g in s.genes], pa.string()),
        }
    )
    heads = pa.table(
        {
            "set_index": pa.array(range(len(sets)), pa.int32()),
            "name": [s.name for s in sets],
            "description": [s.description for s in sets],
        }
    )
    con.register("_gmt_members", members)
    con.register("_gmt_sets", heads)
    con.execute(
        """
        CREATE TEMP TABLE _gmt_mapped AS
        SELECT DISTINCT m.set_index, m.name, coalesce(e.id, s.id) AS gene_id
        FROM _gmt_members m
        LEFT JOIN genes e ON e.ensembl_id = m.name AND e.organism = ?
        LEFT JOIN (SELECT upper(symbol) AS key, min(id) AS id FROM genes WHERE organism = ? GROUP BY ALL) s
          ON s.key = upper(m.name)
        """,
        [organism, organism],
    )
    con.execute(
        """
        INSERT INTO gene_sets (collection_id, name, description, n_members, n_unmapped)
        SELECT ?, s.name, s.description, count(DISTINCT m.gene_id), count(*) FILTER (WHERE m.gene_id IS NULL)
        FROM _gmt_sets s LEFT JOIN _gmt_mapped m USING (set_index)
        GROUP BY s.set_index, s.name, s.description ORDER BY s.set_index
        """,
        [collection_id],
    )
    con.execute(
        """
        INSERT INTO gene_set_members
        SELECT DISTINCT gs.id, m.gene_id FROM _gmt_mapped m
        JOIN _gmt_sets s USING (set_index)
        JOIN gene_sets gs ON gs.collection_id = ? AND gs.name = s.name
        WHERE m.gene_id IS NOT NULL
        """,
        [collection_id],
    )
    n_members, n_unmapped = con.execute(
        "SELECT count(gene_id), count(*) - count(gene_id) FROM _gmt_mapped"
    ).fetchall()[0]
    con.execute("DROP TABLE _gmt_mapped")
    con.unregister("_gmt_members")
    con.unregister("_gmt_sets")
    log.info(
        "gene sets %s: %d sets, %d members mapped, %d unmapped", collection, len(sets), n_members, n_unmapped
    )
    return GeneSetLoad(
        collection_id=collection_id, n_sets=len(sets), n_members=n_members, n_unmapped=n_unmapped
    )
