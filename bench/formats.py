"""Storage formats for releases that grow by what changed, measured on one workload.

Each candidate stores the same synthetic atlas (``--datasets`` x ``--networks`` x ``--edges`` edges, both
access paths: by (network, regulator) and by (target, network)), then publishes one more dataset and
answers the store's four access paths:

- ``single``:  today's layout, one DuckDB file per release (a publish copies the file, then appends);
- ``parquet``: one Parquet segment per dataset (two files, one per access path, zstd) and a small DuckDB
  catalog whose views name the segments of the release (DuckDB's own format; nothing home-made but the list);
- ``attach``:  one DuckDB file per dataset, ATTACHed read-only, the views a UNION ALL over the segments;
- ``ducklake``: a DuckLake catalog (a DuckDB file) over Parquet data files, one snapshot per dataset. The
  extension is built for DuckDB 1.5.x only: run this script with a Python whose duckdb is 1.5.5 and
  ``duckdb-extension-ducklake==1.5.5`` (the project pins duckdb 2.0.1, which refuses to load it).

Uses duckdb, numpy and pyarrow only, so it runs in either environment::

    python bench/formats.py --formats single,parquet,attach
    /tmp/dlvenv/bin/python bench/formats.py --formats ducklake
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

QUERIES = {
    "top-100 edges of a network": (
        "SELECT regulator_id, target_id, weight, rank FROM edges WHERE network_id = ?"
        " ORDER BY rank LIMIT 100",
        "network",
    ),
    "targets of a regulator in one network": (
        "SELECT target_id, weight, rank FROM edges WHERE network_id = ? AND regulator_id = ?",
        "network_regulator",
    ),
    "regulators of a gene, all networks": (
        "SELECT network_id, regulator_id, weight, rank FROM edges_by_target WHERE target_id = ?"
        " ORDER BY network_id, rank LIMIT 1000",
        "gene",
    ),
    "targets of a regulator, all networks": (
        "SELECT network_id, target_id, weight, rank FROM edges WHERE regulator_id = ?"
        " ORDER BY network_id, rank LIMIT 1000",
        "regulator",
    ),
}


def dataset_edges(rng, dataset: int, n_networks: int, n_edges: int, n_genes: int) -> pa.Table:
    """One dataset's networks as an Arrow table sorted by (network, regulator, target), with ranks."""
    parts = []
    n_regulators = max(2, n_genes // 10)
    for j in range(n_networks):
        network = dataset * n_networks + j + 1
        reg = (rng.pareto(1.2, 2 * n_edges) * 20).astype(np.int64) % n_regulators + 1
        tgt = rng.integers(1, n_genes + 1, 2 * n_edges)
        code = np.unique(reg * (n_genes + 1) + tgt)
        code = rng.permutation(code)[:n_edges]
        code.sort()
        weight = rng.random(code.size).astype(np.float32)
        rank = np.empty(code.size, np.int32)
        rank[np.argsort(-weight, kind="stable")] = np.arange(1, code.size + 1, dtype=np.int32)
        parts.append(
            pa.table(
                {
                    "network_id": np.full(code.size, network, np.int32),
                    "regulator_id": (code // (n_genes + 1)).astype(np.int32),
                    "target_id": (code % (n_genes + 1)).astype(np.int32),
                    "weight": weight,
                    "rank": rank,
                }
            )
        )
    return pa.concat_tables(parts)


def by_target(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in ("target_id", "network_id", "regulator_id")])


class Single:
    """Today: one DuckDB file; a publish copies it and appends the new dataset's sorted runs."""

    def __init__(self, root: Path):
        self.root, self.n = root, 0

    def path(self) -> Path:
        return self.root / f"r{self.n}.duckdb"

    def publish(self, tables: list[pa.Table]) -> None:
        new = self.root / f"r{self.n + 1}.duckdb"
        if self.n:
            shutil.copyfile(self.path(), new)
        con = duckdb.connect(str(new))
        if not self.n:
            for name in ("edges", "edges_by_target"):
                con.execute(
                    f"CREATE TABLE {name} (network_id INTEGER, regulator_id INTEGER, target_id INTEGER,"
                    " weight REAL, rank INTEGER)"
                )
        con.execute("BEGIN")
        for table in tables:
            con.register("t", table)
            con.execute("INSERT INTO edges SELECT * FROM t")
            con.register("tt", by_target(table))
            con.execute("INSERT INTO edges_by_target SELECT * FROM tt")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        con.close()
        if self.n:
            self.path().unlink()
        self.n += 1

    def reader(self):
        return duckdb.connect(str(self.path()), read_only=True)

    def size(self) -> int:
        return self.path().stat().st_size


class ParquetSegments:
    """A Parquet segment per dataset; a small catalog file per release holds the views over its segments."""

    def __init__(self, root: Path):
        self.root, self.segments, self.n = root, [], 0
        (root / "segments").mkdir()

    def publish(self, tables: list[pa.Table]) -> None:
        con = duckdb.connect()
        for table in tables:
            seg = self.root / "segments" / f"s{len(self.segments)}"
            seg.mkdir()
            con.register("t", table)
            con.execute(f"COPY t TO '{seg}/edges.parquet' (FORMAT parquet, COMPRESSION zstd)")
            con.register("tt", by_target(table))
            con.execute(f"COPY tt TO '{seg}/edges_by_target.parquet' (FORMAT parquet, COMPRESSION zstd)")
            self.segments.append(seg)
        con.close()
        self.n += 1
        catalog = duckdb.connect(str(self.root / f"r{self.n}.duckdb"))
        for name in ("edges", "edges_by_target"):
            files = ", ".join(f"'{s}/{name}.parquet'" for s in self.segments)
            catalog.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{files}])")
        catalog.close()

    def reader(self):
        con = duckdb.connect(str(self.root / f"r{self.n}.duckdb"), read_only=True)
        con.execute("SET parquet_metadata_cache = true")  # footers read once, not per query
        return con

    def size(self) -> int:
        return sum(f.stat().st_size for f in (self.root / "segments").rglob("*.parquet"))


class AttachedSegments:
    """A DuckDB file per dataset, ATTACHed read-only by the reader; the views are a UNION ALL of them."""

    def __init__(self, root: Path):
        self.root, self.segments = root, []

    def publish(self, tables: list[pa.Table]) -> None:
        for table in tables:
            path = self.root / f"s{len(self.segments)}.duckdb"
            con = duckdb.connect(str(path))
            con.register("t", table)
            con.execute("CREATE TABLE edges AS SELECT * FROM t")
            con.register("tt", by_target(table))
            con.execute("CREATE TABLE edges_by_target AS SELECT * FROM tt")
            con.close()
            self.segments.append(path)

    def reader(self):
        con = duckdb.connect()
        for i, path in enumerate(self.segments):
            con.execute(f"ATTACH '{path}' AS s{i} (READ_ONLY)")
        for name in ("edges", "edges_by_target"):
            union = " UNION ALL ".join(f"SELECT * FROM s{i}.{name}" for i in range(len(self.segments)))
            con.execute(f"CREATE TEMP VIEW {name} AS {union}")
        return con

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.segments)


class DuckLake:
    """A DuckLake catalog over Parquet data files; each dataset is one snapshot (DuckDB 1.5.x only)."""

    def __init__(self, root: Path):
        import duckdb_extension_ducklake

        self.extension = next(Path(duckdb_extension_ducklake.__file__).parent.rglob("*.duckdb_extension"))
        self.root = root
        self.con = self._connect()
        for name in ("edges", "edges_by_target"):
            self.con.execute(
                f"CREATE TABLE lake.{name} (network_id INTEGER, regulator_id INTEGER, target_id INTEGER,"
                " weight REAL, rank INTEGER)"
            )

    def _connect(self, read_only: bool = False):
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{self.extension}'")
        mode = ", READ_ONLY" if read_only else ""
        catalog, data = self.root / "catalog.ducklake", self.root / "data"
        con.execute(f"ATTACH 'ducklake:{catalog}' AS lake (DATA_PATH '{data}'{mode})")
        return con

    def publish(self, tables: list[pa.Table]) -> None:
        for table in tables:
            self.con.execute("BEGIN")
            self.con.register("t", table)
            self.con.execute("INSERT INTO lake.edges SELECT * FROM t")
            self.con.register("tt", by_target(table))
            self.con.execute("INSERT INTO lake.edges_by_target SELECT * FROM tt")
            self.con.execute("COMMIT")

    def reader(self):
        self.con.close()  # the writer's attachment holds the catalog file
        con = self._connect(read_only=True)
        con.execute("USE lake")
        return con

    def size(self) -> int:
        return sum(f.stat().st_size for f in (self.root / "data").rglob("*.parquet"))


FORMATS = {"single": Single, "parquet": ParquetSegments, "attach": AttachedSegments, "ducklake": DuckLake}


def run(name: str, root: Path, args) -> None:
    rng = np.random.default_rng(0)
    store = FORMATS[name](root)
    threads = args.threads
    start = time.perf_counter()
    for batch in range(0, args.datasets, args.per_publish):
        tables = [
            dataset_edges(rng, d, args.networks, args.edges, args.genes)
            for d in range(batch, min(args.datasets, batch + args.per_publish))
        ]
        store.publish(tables)
    load = time.perf_counter() - start
    n_edges = args.datasets * args.networks * args.edges
    new = dataset_edges(rng, args.datasets, args.networks, args.edges, args.genes)
    start = time.perf_counter()
    store.publish([new])
    publish = time.perf_counter() - start
    n_edges += new.num_rows
    print(f"\n[{name}] duckdb {duckdb.__version__}, {n_edges:,} edges in {args.datasets + 1} datasets")
    print(f"  load {load:.1f} s ({n_edges / load / 1e6:.2f} M edges/s incl. generation)")
    print(f"  publish one dataset ({new.num_rows:,} edges): {publish:.2f} s")
    print(f"  storage, both access paths: {store.size() / n_edges:.1f} bytes/edge")
    con = store.reader()
    con.execute(f"SET threads = {threads}")
    n_networks = (args.datasets + 1) * args.networks
    args_for = {
        "network": lambda i: [int(i % n_networks) + 1],
        "network_regulator": lambda i: [int(i % n_networks) + 1, 1 + i % 5],
        "gene": lambda i: [1 + (i * 7919) % args.genes],
        "regulator": lambda i: [1 + i % 20],
    }
    for query, (sql, kind) in QUERIES.items():
        for i in range(3):
            con.execute(sql, args_for[kind](1000 + i)).fetchall()
        times = []
        for i in range(args.reps):
            t = time.perf_counter()
            con.execute(sql, args_for[kind](i)).fetchall()
            times.append((time.perf_counter() - t) * 1000)
        p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        print(f"  {query:<40} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="single,parquet,attach")
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--networks", type=int, default=10, help="networks per dataset")
    parser.add_argument("--edges", type=int, default=50_000, help="edges per network")
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--per-publish", type=int, default=10, help="datasets per publish while loading")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for name in args.formats.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"bench-formats-{name}-"))
        try:
            run(name, root, args)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
