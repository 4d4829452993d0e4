"""Segments: the edges and node statistics of one dataset, written once as Parquet and shared by releases.

A release is a small DuckDB catalog (genes, datasets, networks, gene sets, ...) whose ``edges``,
``edges_by_target`` and ``node_stats`` are views over the Parquet files of its segments, plus a manifest
(``releases/<id>.segments``) naming them. A publish writes segments only for the datasets whose networks it
added or changed, so its cost follows what changed; every other segment is shared with the parent release,
never copied. A segment is immutable: replacing a dataset drops its segment from the next release (its
surviving networks, if only some were deleted, are rewritten into a new one).

Files per segment, in ``<root>/segments/<name>/``:

- ``edges.parquet`` sorted by (network, regulator, target): a network's edges, a regulator's targets;
- ``edges_by_target.parquet`` sorted by (target, network, regulator): a gene's regulators;
- ``node_stats.parquet`` sorted by (network, gene).

Row groups of ``ROW_GROUP`` rows keep a point lookup to a row group or two per segment (Parquet min/max
statistics), and zstd keeps the files small. Segments no kept release names are removed by ``collect``.
"""

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq  # reading back a segment's networks

from schema.edgeload import MappedEdges
from schema.nodestats import node_stats_table

log = logging.getLogger(__name__)

SEGMENT_TABLES = ("edges", "edges_by_target", "node_stats")
ROW_GROUP = 65_536
MANIFEST = ".segments"


@dataclass
class SegmentBuilder:
    """One dataset's networks on their way into a segment: edge arrays and node statistics, in memory."""

    dataset_id: int
    edges: list[pa.Table] = field(default_factory=list)  # one per network, sorted (regulator, target)
    stats: list[pa.Table] = field(default_factory=list)
    n_edges: int = 0

    def add(self, mapped: MappedEdges) -> pa.Table:
        """Add one network's mapped edges; return its node statistics."""
        stats = node_stats_table(mapped.network_id, mapped.regulator_id, mapped.target_id, mapped.weight)
        self.edges.append(
            pa.table(
                {
                    "network_id": np.full(mapped.regulator_id.size, mapped.network_id, dtype=np.int32),
                    "regulator_id": mapped.regulator_id,
                    "target_id": mapped.target_id,
                    "weight": mapped.weight,
                    "rank": mapped.rank,
                }
            )
        )
        self.stats.append(stats)
        self.n_edges += mapped.regulator_id.size
        return stats

    def add_stored(self, edges: pa.Table, stats: pa.Table) -> None:
        """Add networks read back from an older segment (kept when others of the dataset are deleted)."""
        self.edges.append(edges)
        self.stats.append(stats)
        self.n_edges += edges.num_rows

    def network_ids(self) -> set[int]:
        return {int(i) for e in self.edges for i in pc.unique(e["network_id"]).to_pylist()}

    def drop(self, network_ids: set[int]) -> None:
        """Forget networks deleted before the segment was written."""
        ids = pa.array(sorted(network_ids), pa.int32())
        keep = [(e, s) for e, s in zip(self.edges, self.stats, strict=True)]
        self.edges = [e.filter(pc.invert(pc.is_in(e["network_id"], ids))) for e, _ in keep]
        self.stats = [s.filter(pc.invert(pc.is_in(s["network_id"], ids))) for _, s in keep]
        self.n_edges = sum(e.num_rows for e in self.edges)

    def write(self, folder: Path) -> int:
        """Write the segment's three files into ``folder`` (created); return its number of edges."""
        folder.mkdir(parents=True)
        edges = pa.concat_tables(self.edges).combine_chunks() if self.edges else None
        if edges is None or edges.num_rows == 0:
            msg = "a segment needs at least one edge"
            raise ValueError(msg)
        # networks in id order; within one, rows are already sorted by (regulator, target)
        edges = edges.sort_by(
            [("network_id", "ascending"), ("regulator_id", "ascending"), ("target_id", "ascending")]
        )
        target = edges["target_id"].to_numpy()
        # rows are in (network, regulator, target) order: a stable sort by target gives (target, network, ...)
        order = np.argsort(target.astype(np.uint16) if target.max() < 2**16 else target, kind="stable")
        stats = pa.concat_tables(self.stats).sort_by([("network_id", "ascending"), ("gene_id", "ascending")])
        # DuckDB's Parquet writer: its encodings make the files about half the size of pyarrow's defaults
        con = duckdb.connect()
        try:
            for name, table in (
                ("edges", edges),
                ("edges_by_target", edges.take(pa.array(order))),
                ("node_stats", stats),
            ):
                con.register("_segment", table)
                path = str(folder / f"{name}.parquet").replace("'", "''")
                options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP}"
                con.execute(f"COPY _segment TO '{path}' ({options})")
                con.unregister("_segment")
        finally:
            con.close()
        return edges.num_rows


def read_segment(folder: Path, network_ids: list[int]) -> tuple[pa.Table, pa.Table]:
    """The edges (by network) and node statistics of some networks of a stored segment."""
    ids = pa.array(network_ids, pa.int32())
    edges = pq.read_table(folder / "edges.parquet", filters=[("network_id", "in", ids)])
    stats = pq.read_table(folder / "node_stats.parquet", filters=[("network_id", "in", ids)])
    return edges, stats


def view_sql(name: str, folders: list[Path]) -> str:
    """``CREATE VIEW`` of one segment table over the files of ``folders`` (absolute paths)."""
    files = ", ".join("'" + str(f.resolve() / f"{name}.parquet").replace("'", "''") + "'" for f in folders)
    return f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet([{files}])"


def write_manifest(path: Path, names: list[str]) -> None:
    """The release's segment names, one per line, written atomically (what ``collect`` keeps)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write("".join(f"{n}\n" for n in names))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line]


def collect(segments_dir: Path, referenced: set[str]) -> list[str]:
    """Remove every segment folder no kept release references; return their names (writer lock held)."""
    if not segments_dir.is_dir():
        return []
    doomed = sorted(p.name for p in segments_dir.iterdir() if p.is_dir() and p.name not in referenced)
    for name in doomed:
        shutil.rmtree(segments_dir / name)
        log.info("removed segment %s (no kept release references it)", name)
    return doomed
