"""Releases: immutable DuckDB files under ``<root>/releases/``, the current one named by ``<root>/CURRENT``.

A release is a *base* (a file holding everything) or a *delta* on a base: a file holding the small tables
whole, its new or changed networks' rows of the ``PER_NETWORK_TABLES`` and the base network ids it supersedes
(``superseded_networks``); it names its base in ``store_meta.base_release``. A publish that changes a few
datasets so writes what changed plus the delta so far, and shares the base (DESIGN.md has the measurements).
Readers ATTACH the release (and its base) read-only in an in-memory database whose views are the tables: a
per-network table of a delta reads "base rows of networks not superseded UNION ALL the delta's rows", the
superseded ids written into the view as constant ranges (a join there costs up to 4-6x).

A writer builds ``<id>.duckdb.partial`` (a copy of the current delta, a new delta, a copy of a small base,
or a compaction of delta and base into a new base), closes it, renames it to ``<id>.duckdb`` and only then
replaces the pointer file with ``os.replace`` (atomic on POSIX). Readers compare the pointer with their own
release to notice a newer one. A crash at any point before the pointer is replaced leaves readers on the old
release; the partial file is removed by the writer on error, or by the next writer if the process was killed.
Pruning keeps the newest releases and every base one of them reads.
"""

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from filelock import FileLock

from schema.tables import PER_NETWORK_TABLES, SCHEMA_VERSION, Base, schema_fingerprint

log = logging.getLogger(__name__)

POINTER = "CURRENT"
RELEASES = "releases"
SUFFIX = ".duckdb"
PARTIAL = ".partial"
BASE_KEY = "base_release"  # store_meta key naming a delta's base release


class SchemaVersionError(RuntimeError):
    """The release was written with another schema version than the one this code reads."""


class NoReleaseError(FileNotFoundError):
    """The store has no published release yet (run ``scprint-graph store init``)."""


@dataclass(frozen=True)
class StoreConfig:
    """Where the store lives and how it is kept.

    keep: published releases kept on disk (the current one always is), for rollback.
    threads / memory_limit: DuckDB settings for connections opened by the store (None: DuckDB's defaults).
    lock_timeout: seconds a writer waits for another writer to finish.
    max_target_runs: sorted runs appended to ``edges_by_target`` (one per release, or per 32 M edges) before a
        writer re-sorts the whole table; each run costs a target lookup a row group or two.
    delta_min_bytes: a base smaller than this is copied whole by the next writer instead of getting a delta
        (the copy is cheap, and one file reads fastest).
    compact_fraction: once the current delta is larger than this fraction of its base, the next writer
        merges the two into a new base (a delta is copied by every publish and slows lookups as it grows).
    """

    root: Path
    keep: int = 5
    threads: int | None = None
    memory_limit: str | None = None
    lock_timeout: float = 600.0
    max_target_runs: int = 48
    delta_min_bytes: int = 64 * 2**20
    compact_fraction: float = 0.25

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))
        if self.keep < 1:
            msg = f"keep must be at least 1, got {self.keep}"
            raise ValueError(msg)
        if self.threads is not None and self.threads < 1:
            msg = f"threads must be positive, got {self.threads}"
            raise ValueError(msg)
        if self.max_target_runs < 1:
            msg = f"max_target_runs must be at least 1, got {self.max_target_runs}"
            raise ValueError(msg)
        if self.delta_min_bytes < 0:
            msg = f"delta_min_bytes must not be negative, got {self.delta_min_bytes}"
            raise ValueError(msg)
        if not self.compact_fraction > 0:
            msg = f"compact_fraction must be positive, got {self.compact_fraction}"
            raise ValueError(msg)

    def duckdb_config(self) -> dict[str, str]:
        config = {}
        if self.threads is not None:
            config["threads"] = str(self.threads)
        if self.memory_limit is not None:
            config["memory_limit"] = self.memory_limit
        return config


def check_schema_version(con: duckdb.DuckDBPyConnection, path: Path, catalog: str | None = None) -> str:
    """Return the release id stored in ``con`` (in its attached database ``catalog`` when given); raise
    SchemaVersionError if its schema version or tables (``schema_fingerprint``) differ from this code's."""
    table = "store_meta" if catalog is None else f"{catalog}.store_meta"
    try:
        rows = dict(con.execute(f"SELECT key, value FROM {table}").fetchall())
    except duckdb.CatalogException as err:
        msg = f"{path} is not a scPRINT-graph store release (no store_meta table)"
        raise SchemaVersionError(msg) from err
    version, fingerprint = rows.get("schema_version"), rows.get("schema_fingerprint")
    if version != str(SCHEMA_VERSION) or fingerprint != schema_fingerprint():
        msg = (
            f"{path} has schema version {version} (tables {fingerprint}), this code reads version "
            f"{SCHEMA_VERSION} (tables {schema_fingerprint()}); "
            "rebuild the store or install the matching scprint-graph version"
        )
        raise SchemaVersionError(msg)
    return rows.get("release_id", path.name.removesuffix(SUFFIX))


class Reader:
    """A read-only view of one release, and a way to tell whether a newer one was published.

    ``con`` is an in-memory database with the release (and its base) attached read-only and one view per
    table, so queries name tables as usual; it reads no other file, and its settings are locked. Query
    functions take ``reader.con`` (or ``reader.cursor()`` from each thread: one DuckDB connection must not be
    used by two threads at once).
    """

    def __init__(self, store: "Store", release_id: str):
        self.store = store
        self.release_id = release_id
        self.path = store.release_path(release_id)
        self.con = duckdb.connect(config=store.config.duckdb_config())
        try:
            self.base_id = attach_release(self.con, store, release_id)
            # The files are attached read-only; nothing else of the file system is reachable from here on.
            self.con.execute("SET enable_external_access = false")
            self.con.execute("SET lock_configuration = true")
        except BaseException:
            self.con.close()
            raise

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database, for use by one thread."""
        return self.con.cursor()

    def is_current(self) -> bool:
        """False once another release has been published (or rolled back to): the caller should reopen."""
        return self.store.current_release() == self.release_id

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def attach_release(con: duckdb.DuckDBPyConnection, store: "Store", release_id: str) -> str | None:
    """ATTACH a release (and its base) to ``con`` read-only and make a view of each table; return its base."""
    path = store.release_path(release_id)
    con.execute(f"ATTACH {sql_path(path)} AS release_file (READ_ONLY)")
    check_schema_version(con, path, "release_file")
    base_id = read_base_release(con, "release_file")
    live_base = ""
    if base_id is not None:
        base_path = store.release_path(base_id)
        if not base_path.exists():
            msg = f"release {release_id} reads base release {base_id}, missing from {store.releases_dir}"
            raise NoReleaseError(msg)
        con.execute(f"ATTACH {sql_path(base_path)} AS base_file (READ_ONLY)")
        check_schema_version(con, base_path, "base_file")
        superseded = con.execute("SELECT network_id FROM release_file.superseded_networks").fetchall()
        live_base = (
            "SELECT * FROM base_file.{table}" + live_rows_filter([r[0] for r in superseded]) + " UNION ALL "
        )
    for table in Base.metadata.tables:
        base_rows = live_base.format(table=table) if table in PER_NETWORK_TABLES else ""
        con.execute(f"CREATE VIEW {table} AS {base_rows}SELECT * FROM release_file.{table}")
    return base_id


def read_base_release(con: duckdb.DuckDBPyConnection, catalog: str) -> str | None:
    """The base release a delta names in its metadata (None: the release is a base)."""
    rows = con.execute(f"SELECT value FROM {catalog}.store_meta WHERE key = ?", [BASE_KEY]).fetchall()
    return rows[0][0] if rows and rows[0][0] else None


WRITER_CATALOG = "release_file"
"""The name a writer attaches its new release file under (``schema.writer``)."""


def set_meta(con: duckdb.DuckDBPyConnection, values: dict[str, str]) -> None:
    """Insert or update keys of the writer's ``store_meta``."""
    con.executemany(
        "INSERT INTO store_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(key, str(value)) for key, value in values.items()],
    )


def require_base(con: duckdb.DuckDBPyConnection, what: str) -> None:
    """Refuse ``what`` (a change to every network) in a writer of a delta, which holds only its networks."""
    if read_base_release(con, WRITER_CATALOG) is not None:
        msg = f"{what} changes every network: write it as a full release (store.new_release(full=True))"
        raise ValueError(msg)


def superseded_ranges(network_ids: list[int]) -> list[tuple[int, int]]:
    """Network ids as sorted (first, last) ranges of consecutive ids: a dataset's networks are contiguous."""
    ranges: list[list[int]] = []
    for i in sorted(set(network_ids)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return [(first, last) for first, last in ranges]


def live_rows_filter(superseded: list[int]) -> str:
    """A WHERE clause keeping the rows of networks not in ``superseded`` (empty when none is)."""
    bounds = [f"network_id NOT BETWEEN {first} AND {last}" for first, last in superseded_ranges(superseded)]
    return " WHERE " + " AND ".join(bounds) if bounds else ""


def sql_path(path: Path) -> str:
    """A path as a SQL string literal (ATTACH takes no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


class Store:
    """A directory of releases. Cheap to construct; holds no connection."""

    def __init__(self, root: str | Path, **options):
        self.config = StoreConfig(root=Path(root), **options)
        self.root = self.config.root

    # -- layout --------------------------------------------------------------------------------------
    @property
    def releases_dir(self) -> Path:
        return self.root / RELEASES

    def release_path(self, release_id: str) -> Path:
        return self.releases_dir / f"{release_id}{SUFFIX}"

    def releases(self) -> list[str]:
        """Published release ids, oldest first (ids sort by creation time)."""
        if not self.releases_dir.is_dir():
            return []
        return sorted(p.name.removesuffix(SUFFIX) for p in self.releases_dir.glob(f"*{SUFFIX}"))

    def base_of(self, release_id: str) -> str | None:
        """The base release a delta release reads (None when ``release_id`` is a base)."""
        con = duckdb.connect(config=self.config.duckdb_config())
        try:
            con.execute(f"ATTACH {sql_path(self.release_path(release_id))} AS release_file (READ_ONLY)")
            return read_base_release(con, "release_file")
        finally:
            con.close()

    def current_release(self) -> str | None:
        """The id the pointer file names, or None before the first publish."""
        try:
            return (self.root / POINTER).read_text().strip() or None
        except FileNotFoundError:
            return None

    def new_release_id(self) -> str:
        """A fresh id that sorts after every existing release."""
        existing = self.releases()
        while True:
            release_id = "r" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            if not existing or release_id > existing[-1]:
                return release_id
            time.sleep(0.001)

    # -- reading -------------------------------------------------------------------------------------
    def open_reader(self) -> Reader:
        """Open the current release read-only. Retries if a concurrent prune removed it meanwhile."""
        for _ in range(3):
            release_id = self.current_release()
            if release_id is None:
                msg = (
                    f"no published release in {self.root}; run `scprint-graph store init --root {self.root}`"
                )
                raise NoReleaseError(msg)
            if self.release_path(release_id).exists():
                try:
                    return Reader(self, release_id)
                except duckdb.IOException:
                    if self.release_path(release_id).exists():
                        raise
        msg = f"the current release of {self.root} ({release_id}) is missing from {self.releases_dir}"
        raise NoReleaseError(msg)

    # -- writing -------------------------------------------------------------------------------------
    def writer_lock(self) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / "writer.lock"), timeout=self.config.lock_timeout)

    def new_release(
        self, *, note: str | None = None, empty: bool = False, full: bool = False, quality_metrics=None
    ):
        """A writer for a new release built on the current one (or on an empty store when ``empty``).

        Use as ``with store.new_release(note=...) as w:``; the release is published when the block exits
        cleanly and discarded if it raises. ``quality_metrics`` (``scprint_graph.grn_metrics``, passed in
        because schema does not import the model package) scores every new network against the release's
        priors before it is published. ``full`` writes a base (merging the current delta into it), for changes
        to every network, such as re-scoring them against new priors.
        """
        from schema.writer import ReleaseWriter

        return ReleaseWriter(self, note=note, empty=empty, full=full, quality_metrics=quality_metrics)

    def init(self) -> str:
        """Publish an empty first release if the store has none; return the current release id."""
        current = self.current_release()
        if current is not None:
            return current
        with self.new_release(note="empty store", empty=True) as w:
            pass
        return w.release_id

    def publish(self, release_id: str) -> None:
        """Point readers at ``release_id`` (atomic rename of the pointer file)."""
        if not self.release_path(release_id).exists():
            msg = f"no release {release_id!r} in {self.releases_dir}"
            raise ValueError(msg)
        tmp = self.root / f".{POINTER}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(release_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / POINTER)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        log.info("published release %s", release_id)

    def rollback(self, to: str | None = None) -> str:
        """Point readers at an earlier release: ``to``, or the newest release older than the current one."""
        with self.writer_lock():
            current = self.current_release()
            releases = self.releases()
            if to is None:
                older = [r for r in releases if current is None or r < current]
                if not older:
                    msg = f"no release older than {current} to roll back to in {self.releases_dir}"
                    raise ValueError(msg)
                to = older[-1]
            elif to not in releases:
                msg = f"unknown release {to!r}; kept releases: {', '.join(releases) or 'none'}"
                raise ValueError(msg)
            self.publish(to)
            return to

    def prune(self) -> list[str]:
        """Delete all but the ``keep`` newest releases (never the current one, never a base one of the kept
        releases reads) and return their ids.

        Call with the writer lock held. Readers holding a deleted file keep reading it (POSIX unlink).
        """
        releases = self.releases()
        kept = set(releases[max(0, len(releases) - self.config.keep) :])
        current = self.current_release()
        if current is not None:
            kept.add(current)
        kept |= {base for base in map(self.base_of, sorted(kept)) if base is not None}
        doomed = [r for r in releases if r not in kept]
        for release_id in doomed:
            self.release_path(release_id).unlink()
            log.info("pruned release %s", release_id)
        return doomed

    def remove_partials(self) -> list[Path]:
        """Remove files left by a writer that died (call with the writer lock held)."""
        stale = [*self.releases_dir.glob(f"*{PARTIAL}"), *self.releases_dir.glob(f"*{PARTIAL}.wal")]
        for path in stale:
            log.warning("removing %s left by an interrupted writer", path)
            path.unlink()
        return stale
