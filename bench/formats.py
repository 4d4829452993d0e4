"""Storage formats for releases that grow by what changed, measured on one workload.

Each candidate stores the same synthetic atlas (``--datasets`` x ``--networks`` x ``--edges`` edges, both
access paths: by (network, regulator) and by (target, network)), then publishes one more dataset and
answers the store's four access paths:

- ``single``:  today's layout, one DuckDB file per release (a publish copies the file, then appends);
- ``parquet``: one Parquet segment per dataset (two files, one per access path, zstd) and a small DuckDB
  catalog whose views name the segments of the release (DuckDB's own format; nothing home-made but the list);
- ``attach``:  one DuckDB file per dataset, ATTACHed read-only, the views a UNION ALL over the segments;
- ``delta``:   LSM-like, two DuckDB files ATTACHed read-only: an immutable base (as ``single`` at the last
  compaction) and a small delta per release (new or changed datasets, both paths, and a tombstone table of
  the base's superseded network ids); a publish copies the delta and appends; the delta is merged into a new
  base once it passes ``--delta-fraction`` of the base. ``--delta-sweep`` also measures deltas of 1, 5, 20
  datasets (each past the first replaces a base dataset) with each tombstone filter, and compaction;
- ``ducklake``: a DuckLake catalog (a DuckDB file) over Parquet data files, one snapshot per dataset. The
  extension is built for DuckDB 1.5.x only: run this script with a Python whose duckdb is 1.5.5 and
  ``duckdb-extension-ducklake==1.5.5`` (the project pins duckdb 2.0.1, which refuses to load it).

Uses duckdb, numpy and pyarrow only, so it runs in either environment::

    python bench/formats.py --formats single,parquet,attach
    python bench/formats.py --formats single,delta --delta-sweep
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

from schema.release import live_rows_filter, superseded_ranges

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


COLUMNS = "(network_id INTEGER, regulator_id INTEGER, target_id INTEGER, weight REAL, rank INTEGER)"


def append_runs(con, tables: list[pa.Table]) -> None:
    """Appends each dataset as two sorted runs (by network, by target), the way a release file grows today."""
    for table in tables:
        con.register("t", table)
        con.execute("INSERT INTO edges SELECT * FROM t")
        con.register("tt", by_target(table))
        con.execute("INSERT INTO edges_by_target SELECT * FROM tt")


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
                con.execute(f"CREATE TABLE {name} {COLUMNS}")
        con.execute("BEGIN")
        append_runs(con, tables)
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


class Delta:
    """An immutable base file (``single`` at the last compaction) and a small delta file per release.

    The delta holds the new or changed datasets' runs and ``tombstones``, the network ids of the base they
    supersede (or remove). A publish copies the previous delta (small) and appends, so it writes what changed
    plus the delta so far; once the delta passes ``fraction`` of the base, it is merged into a new base.
    """

    FILTERS = ("not_in", "anti", "ranges", "split")

    def __init__(self, root: Path, fraction: float = 0.25, live: str = "split"):
        self.root, self.fraction, self.live, self.n = root, fraction, live, 0
        self.base, self.base_edges = None, 0
        self.delta, self.delta_edges, self.delta_datasets = self._empty_delta(), 0, 0

    def _empty_delta(self) -> Path:
        path = self.root / f"delta{self.n}.duckdb"
        con = duckdb.connect(str(path))
        for name in ("edges", "edges_by_target"):
            con.execute(f"CREATE TABLE {name} {COLUMNS}")
        con.execute("CREATE TABLE tombstones (network_id INTEGER)")
        con.close()
        return path

    def publish(self, tables: list[pa.Table], replaces: list[int] = (), compact: bool = True) -> None:
        """A new delta: the previous one, ``tables``, and ``replaces`` (base network ids) as tombstones."""
        self.n += 1
        new = self.root / f"delta{self.n}.duckdb"
        shutil.copyfile(self.delta, new)
        con = duckdb.connect(str(new))
        con.execute("BEGIN")
        append_runs(con, tables)
        if replaces:
            con.executemany("INSERT INTO tombstones VALUES (?)", [[int(i)] for i in replaces])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        con.close()
        self.delta.unlink()
        self.delta = new
        self.delta_edges += sum(t.num_rows for t in tables)
        self.delta_datasets += len(tables)
        if compact and self.delta_edges > self.fraction * self.base_edges:
            self.compact()

    def compact(self) -> None:
        """Merges the delta into a new base: a copy and append when nothing is tombstoned, else a rewrite."""
        con = duckdb.connect()
        con.execute(f"ATTACH '{self.delta}' AS delta (READ_ONLY)")
        dead = sorted(r[0] for r in con.execute("SELECT network_id FROM delta.tombstones").fetchall())
        con.close()
        new = self.root / f"base{self.n}.duckdb"
        if self.base is not None and not dead:
            shutil.copyfile(self.base, new)  # the base's sorted runs stay as they are
        con = duckdb.connect(str(new))
        con.execute(f"ATTACH '{self.delta}' AS delta (READ_ONLY)")
        if dead:
            con.execute(f"ATTACH '{self.base}' AS base (READ_ONLY)")
        con.execute("BEGIN")
        for name in ("edges", "edges_by_target"):
            if self.base is None or dead:
                con.execute(f"CREATE TABLE {name} {COLUMNS}")
            if dead:  # a plain filter keeps insertion order (a join does not), so the runs stay sorted
                con.execute(f"INSERT INTO {name} SELECT * FROM base.{name}" + live_rows_filter(dead))
            con.execute(f"INSERT INTO {name} SELECT * FROM delta.{name}")
        con.execute("COMMIT")
        self.base_edges = con.execute("SELECT count(*) FROM edges").fetchone()[0]
        con.execute("CHECKPOINT")
        con.close()
        if self.base is not None:
            self.base.unlink()
        self.delta.unlink()
        self.base, self.delta = new, self._empty_delta()
        self.delta_edges = self.delta_datasets = 0

    def reader(self, live: str | None = None):
        """Views over base minus tombstones, UNION ALL delta; ``live`` picks how tombstones are filtered."""
        con = duckdb.connect()
        con.execute(f"ATTACH '{self.base}' AS base (READ_ONLY)")
        con.execute(f"ATTACH '{self.delta}' AS delta (READ_ONLY)")
        dead = sorted(r[0] for r in con.execute("SELECT network_id FROM delta.tombstones").fetchall())
        for name in ("edges", "edges_by_target"):
            base = {
                "not_in": f"SELECT * FROM base.{name}"
                " WHERE network_id NOT IN (SELECT network_id FROM delta.tombstones)",
                "anti": f"SELECT b.* FROM base.{name} b ANTI JOIN delta.tombstones t"
                " ON b.network_id = t.network_id",
                "ranges": f"SELECT * FROM base.{name}" + live_rows_filter(dead),
                "split": live_scans(name, dead),
            }[live or self.live]
            con.execute(f"CREATE TEMP VIEW {name} AS {base} UNION ALL SELECT * FROM delta.{name}")
        return con

    def size(self) -> int:
        return self.base.stat().st_size + self.delta.stat().st_size


def live_scans(name: str, dead: list[int]) -> str:
    """The base's live rows as a UNION ALL of scans of the ranges between tombstoned ones, one bound each."""
    bounds = [b for a, b in superseded_ranges(dead) for b in (a, b)]
    lows, highs = [None, *bounds[1::2]], [*bounds[0::2], None]
    scans = []
    for low, high in zip(lows, highs, strict=True):
        where = [f"network_id > {low}"] * (low is not None) + [f"network_id < {high}"] * (high is not None)
        scans.append(f"SELECT * FROM base.{name}" + (" WHERE " + " AND ".join(where) if where else ""))
    return " UNION ALL ".join(scans)


class DuckLake:
    """A DuckLake catalog over Parquet data files; each dataset is one snapshot (DuckDB 1.5.x only)."""

    def __init__(self, root: Path):
        import duckdb_extension_ducklake

        self.extension = next(Path(duckdb_extension_ducklake.__file__).parent.rglob("*.duckdb_extension"))
        self.root = root
        self.con = self._connect()
        for name in ("edges", "edges_by_target"):
            self.con.execute(f"CREATE TABLE lake.{name} {COLUMNS}")

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


FORMATS = {
    "single": Single,
    "parquet": ParquetSegments,
    "attach": AttachedSegments,
    "delta": Delta,
    "ducklake": DuckLake,
}


def files(root: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def timed(root: Path, step, *args, **kwargs) -> tuple[float, int]:
    """Seconds and bytes written (every file the step created or changed, whole) of one publish or merge."""
    before = files(root)
    start = time.perf_counter()
    step(*args, **kwargs)
    seconds = time.perf_counter() - start
    return seconds, sum(size for p, (size, mtime) in files(root).items() if before.get(p) != (size, mtime))


def time_queries(con, args, n_networks: int) -> dict[str, tuple[float, float]]:
    """p50 and p99 in ms of each query, after three warm-up runs, printed as they come."""
    con.execute(f"SET threads = {args.threads}")
    args_for = {
        "network": lambda i: [int(i % n_networks) + 1],
        "network_regulator": lambda i: [int(i % n_networks) + 1, 1 + i % 5],
        "gene": lambda i: [1 + (i * 7919) % args.genes],
        "regulator": lambda i: [1 + i % 20],
    }
    result = {}
    for query, (sql, kind) in QUERIES.items():
        for i in range(3):
            con.execute(sql, args_for[kind](1000 + i)).fetchall()
        times = []
        for i in range(args.reps):
            t = time.perf_counter()
            con.execute(sql, args_for[kind](i)).fetchall()
            times.append((time.perf_counter() - t) * 1000)
        result[query] = p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        print(f"  {query:<40} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms", flush=True)
    return result


def run(name: str, root: Path, args) -> dict:
    rng = np.random.default_rng(0)
    store = Delta(root, args.delta_fraction, args.delta_live) if name == "delta" else FORMATS[name](root)
    start = time.perf_counter()
    for batch in range(0, args.datasets, args.per_publish):
        tables = [
            dataset_edges(rng, d, args.networks, args.edges, args.genes)
            for d in range(batch, min(args.datasets, batch + args.per_publish))
        ]
        store.publish(tables)
    if name == "delta" and store.delta_datasets:
        store.compact()  # the measured publish starts from a compaction, as the loads of the others do
    load = time.perf_counter() - start
    n_edges = args.datasets * args.networks * args.edges
    new = dataset_edges(rng, args.datasets, args.networks, args.edges, args.genes)
    publish, written = timed(root, store.publish, [new])
    n_edges += new.num_rows
    print(f"\n[{name}] duckdb {duckdb.__version__}, {n_edges:,} edges in {args.datasets + 1} datasets")
    print(f"  load {load:.1f} s ({n_edges / load / 1e6:.2f} M edges/s incl. generation)")
    print(f"  publish one dataset ({new.num_rows:,} edges): {publish:.2f} s, {written / 1e6:.1f} MB written")
    storage = store.size() / n_edges
    print(f"  storage, both access paths: {storage:.1f} bytes/edge")
    print(f"  load average before queries {os.getloadavg()[0]:.1f}", flush=True)
    con = store.reader()
    n_networks = (args.datasets + 1) * args.networks
    queries = time_queries(con, args, n_networks)
    con.close()
    if name == "delta" and args.delta_sweep:
        delta_sweep(store, root, rng, args, n_networks, (publish, written))
    return {"publish": publish, "written": written, "bytes/edge": storage, **queries}


def delta_sweep(store: Delta, root: Path, rng, args, n_networks: int, last: tuple[float, int]) -> None:
    """Lookups with 1, 5 and 20 datasets in the delta, each tombstone filter; then compaction's cost.

    Past the first (new) dataset, each publish replaces a base dataset from the end (the point queries'
    networks stay in the base), so the live edge count stays that of ``single``.
    """
    check = store.reader()  # counts the base's rows of a replaced dataset, without the views
    live_edges = store.base_edges + store.delta_edges
    publish, written = last  # of the new dataset, the first in the delta
    replaced = 0
    for k in (1, 5, 20):
        while store.delta_datasets < k:
            replaced += 1
            d = args.datasets - store.delta_datasets
            first, last = d * args.networks + 1, (d + 1) * args.networks
            sql = "SELECT count(*) FROM base.edges WHERE network_id BETWEEN ? AND ?"
            table = dataset_edges(rng, d, args.networks, args.edges, args.genes)
            live_edges += table.num_rows - check.execute(sql, [first, last]).fetchone()[0]
            ids = list(range(first, last + 1))
            publish, written = timed(root, store.publish, [table], replaces=ids, compact=False)
        print(
            f"\n[delta, {k} datasets in the delta, {store.delta_edges:,} edges, {replaced}"
            f" replaced] last publish {publish:.2f} s, {written / 1e6:.1f} MB written;"
            f" load average {os.getloadavg()[0]:.1f}"
        )
        for live in Delta.FILTERS:
            con = store.reader(live)
            counted = [
                con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("edges", "edges_by_target")
            ]
            if counted != [live_edges, live_edges]:
                msg = f"{live}: {counted} live edges, expected {live_edges}"
                raise RuntimeError(msg)
            print(f" tombstones filtered by {live}:")
            time_queries(con, args, n_networks)
            con.close()
    check.close()
    for what in ("rewrite (tombstones)", "copy and append (none)"):
        if what.startswith("copy"):
            new = dataset_edges(rng, args.datasets + 1, args.networks, args.edges, args.genes)
            store.publish([new], compact=False)
        delta = store.delta_edges
        seconds, written = timed(root, store.compact)
        print(
            f"\n[delta] compaction, {what}, of {delta:,} delta edges into {store.base_edges:,}:"
            f" {seconds:.2f} s, {written / 1e6:.1f} MB written"
        )
        if what.startswith("rewrite"):
            print(" after compaction:")
            con = store.reader()
            time_queries(con, args, n_networks)
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
    parser.add_argument("--delta-fraction", type=float, default=0.25, help="delta/base edges that compact")
    parser.add_argument("--delta-live", choices=Delta.FILTERS, default="split", help="tombstone filter")
    parser.add_argument("--delta-sweep", action="store_true", help="deltas of 1, 5, 20 datasets; compaction")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results = {}
    for name in args.formats.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"bench-formats-{name}-"))
        try:
            results[name] = run(name, root, args)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    for name, result in results.items():
        if name != "single" and "single" in results:
            ratios = [
                f"{k} {v / results['single'][k]:.2f}x" for k, v in result.items() if not isinstance(v, tuple)
            ]
            ratios += [
                f"{k} p50 {v[0] / results['single'][k][0]:.2f}x"
                for k, v in result.items()
                if isinstance(v, tuple)
            ]
            print(f"\n{name} / single (same run): " + "; ".join(ratios))


if __name__ == "__main__":
    main()
