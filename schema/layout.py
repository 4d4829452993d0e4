"""How a writer's new release starts: the base + delta layout of ``schema.release``.

A new release is a copy of its parent, a new delta on its parent base, or a compaction of its parent delta and
that delta's base into a new base. Which one follows from sizes: a delta is copied by every publish and slows
lookups as it grows, a base is shared by its deltas, and a small base costs nothing to copy.
"""

from dataclasses import dataclass
from pathlib import Path

import duckdb

from schema.release import BASE_KEY, Store, check_schema_version, live_rows_filter, set_meta, sql_path
from schema.tables import PER_NETWORK_TABLES, Base

RUNS_KEY = "edges_by_target_runs"  # store_meta: sorted runs appended to this file's edges_by_target


@dataclass(frozen=True)
class Layout:
    """How the release starts (``kind``) and the base it is a delta on (None: it is a base)."""

    kind: str  # new | copy | delta | compaction
    base: str | None
    merged_base: str | None = None  # compaction: the parent delta's base, merged with it


def choose_layout(store: Store, parent: str | None, *, full: bool) -> Layout:
    """The start of a release on ``parent``: ``full`` asks for a base (a change to every network)."""
    if parent is None:
        return Layout("new", None)
    parent_size = store.release_path(parent).stat().st_size
    parent_base = store.base_of(parent)
    if parent_base is None:
        if full or parent_size < store.config.delta_min_bytes:
            return Layout("copy", None)
        return Layout("delta", parent)
    if full or parent_size > store.config.compact_fraction * store.release_path(parent_base).stat().st_size:
        return Layout("compaction", None, merged_base=parent_base)
    return Layout("copy", parent_base)


def start_delta(con: duckdb.DuckDBPyConnection, base_id: str) -> None:
    """Make the empty file of ``con`` a delta on the base attached as ``base``: the base's schema and
    sequences (so ids continue), its small tables, and none of its per-network rows."""
    con.execute(f"COPY FROM DATABASE base TO {_catalog(con)} (SCHEMA)")
    for table in Base.metadata.tables:
        if table not in PER_NETWORK_TABLES:
            con.execute(f"INSERT INTO {table} SELECT * FROM base.{table}")
    set_meta(con, {BASE_KEY: base_id, RUNS_KEY: "0"})


def compact(con: duckdb.DuckDBPyConnection, delta: Path, base: Path) -> None:
    """Make the empty file of ``con`` a base holding what the ``delta`` release reads: the base's rows of
    networks not superseded, in their order, then the delta's (so ``edges_by_target`` keeps sorted runs)."""
    con.execute(f"ATTACH {sql_path(delta)} AS delta (READ_ONLY)")
    con.execute(f"ATTACH {sql_path(base)} AS base (READ_ONLY)")
    check_schema_version(con, delta, "delta")
    check_schema_version(con, base, "base")
    con.execute(f"COPY FROM DATABASE delta TO {_catalog(con)} (SCHEMA)")
    superseded = [r[0] for r in con.execute("SELECT network_id FROM delta.superseded_networks").fetchall()]
    runs_sql = f"SELECT value FROM {{}}.store_meta WHERE key = '{RUNS_KEY}'"
    runs = sum(int(con.execute(runs_sql.format(db)).fetchall()[0][0]) for db in ("base", "delta"))
    for table in Base.metadata.tables:
        if table in PER_NETWORK_TABLES:
            con.execute(f"INSERT INTO {table} SELECT * FROM base.{table}{live_rows_filter(superseded)}")
            con.execute(f"INSERT INTO {table} SELECT * FROM delta.{table}")
        elif table != "superseded_networks":
            con.execute(f"INSERT INTO {table} SELECT * FROM delta.{table}")
    con.execute("DELETE FROM store_meta WHERE key = ?", [BASE_KEY])
    set_meta(con, {RUNS_KEY: str(runs)})
    con.execute("DETACH delta")
    con.execute("DETACH base")


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_database()").fetchall()[0][0]
