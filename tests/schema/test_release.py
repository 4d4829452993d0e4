"""Releases: publish, rollback, pruning, crash safety, readers during a publish, schema versions."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from schema import NetworkMeta, NoReleaseError, SchemaVersionError, Store, queries
from schema.synthetic import gene_table, random_edges

ROOT = Path(__file__).resolve().parents[2]


def add_network(store: Store, n_edges: int = 50, seed: int = 0) -> str:
    """Publish a release that adds one random network (and the genes, the first time)."""
    import numpy as np

    from schema.synthetic import gene_names

    rng = np.random.default_rng(seed)
    with store.new_release(note=f"network {seed}") as w:
        w.upsert_genes(gene_table(40))
        ds = w.upsert_dataset(source="test", source_id=f"d{seed}").id
        nid = w.add_network(NetworkMeta(dataset_id=ds, n_cells=10, tissue="lung"))
        w.add_edges(nid, random_edges(rng, gene_names(40), n_edges))
    return w.release_id


def n_networks(store: Store) -> int:
    with store.open_reader() as r:
        return queries.store_info(r.con).n_networks


def test_open_reader_without_release_says_how_to_init(tmp_path):
    with pytest.raises(NoReleaseError, match="store init"):
        Store(tmp_path).open_reader()


def test_init_publishes_an_empty_release_once(tmp_path):
    store = Store(tmp_path)
    first = store.init()
    assert store.init() == first
    assert store.releases() == [first]
    with store.open_reader() as r:
        info = queries.store_info(r.con)
    assert info.release_id == first and info.n_networks == 0 and info.n_edges == 0


def test_reader_notices_a_new_release_and_keeps_reading_its_own(tmp_path):
    store = Store(tmp_path)
    store.init()
    add_network(store, seed=1)
    reader = store.open_reader()
    assert reader.is_current()
    add_network(store, seed=2)
    assert not reader.is_current()
    assert queries.store_info(reader.con).n_networks == 1  # still its own, immutable release
    reader.close()
    assert n_networks(store) == 2


def test_rollback_and_prune(tmp_path):
    store = Store(tmp_path, keep=3)
    store.init()
    ids = [add_network(store, seed=s) for s in range(4)]
    assert store.releases() == ids[1:]  # keep=3: the empty release and the first one were pruned
    assert store.rollback() == ids[2]
    assert n_networks(store) == 3
    assert store.rollback(to=ids[1]) == ids[1]
    assert n_networks(store) == 2
    with pytest.raises(ValueError, match="unknown release"):
        store.rollback(to="r1999")
    # A release written after a rollback builds on the rolled-back one, and the current one is never pruned.
    add_network(store, seed=9)
    assert n_networks(store) == 3


def test_error_inside_the_writer_publishes_nothing(tmp_path):
    store = Store(tmp_path)
    before = store.init()
    with pytest.raises(RuntimeError, match="boom"), store.new_release() as w:
        w.upsert_genes(gene_table(10))
        raise RuntimeError("boom")
    assert store.current_release() == before
    assert store.releases() == [before]
    assert not any(p.name.endswith(".partial") for p in store.releases_dir.iterdir())


def test_bad_edges_discard_the_release(tmp_path):
    store = Store(tmp_path)
    before = store.init()
    edges = pa.table(
        {"regulator": ["ENSG00000000001"] * 2, "target": ["ENSG00000000002"] * 2, "weight": [1, 2]}
    )
    with pytest.raises(ValueError, match="duplicate edge"), store.new_release() as w:
        w.upsert_genes(gene_table(5))
        nid = w.add_network(NetworkMeta(dataset_id=w.upsert_dataset(source="t", source_id="x").id, n_cells=1))
        w.add_edges(nid, edges)
    assert store.current_release() == before


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from schema import NetworkMeta, Store
    from schema.synthetic import gene_names, gene_table, random_edges

    store = Store(sys.argv[1], delta_min_bytes=int(sys.argv[3]), compact_fraction=100.0)
    with store.new_release(note="doomed") as w:
        w.upsert_genes(gene_table(40))
        nid = w.add_network(NetworkMeta(dataset_id=w.upsert_dataset(source="t", source_id="k").id, n_cells=1))
        w.add_edges(nid, random_edges(np.random.default_rng(0), gene_names(40), 100))
        w._edges.flush(w.con)
        Path(sys.argv[2]).write_text("ready")
        time.sleep(120)
    """
)


LAYOUTS = pytest.mark.parametrize("delta_min_bytes", [2**62, 0], ids=["copying the base", "writing a delta"])


@LAYOUTS
def test_writer_killed_mid_write_leaves_readers_on_the_old_release(tmp_path, delta_min_bytes):
    store = Store(tmp_path / "store", delta_min_bytes=delta_min_bytes, compact_fraction=100.0)
    store.init()
    old = add_network(store, seed=1)
    assert (store.base_of(old) is not None) == (delta_min_bytes == 0)
    files = {p.name: p.read_bytes() for p in store.releases_dir.iterdir()}
    ready = tmp_path / "ready"
    command = [sys.executable, "-c", KILLED_WRITER, str(store.root), str(ready), str(delta_min_bytes)]
    proc = subprocess.Popen(command, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the writer subprocess died before it was killed"
            assert time.monotonic() < deadline, "the writer subprocess never got ready"
            time.sleep(0.05)
        assert any(p.name.endswith(".partial") for p in store.releases_dir.iterdir())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert store.current_release() == old
    assert {p.name: p.read_bytes() for p in store.releases_dir.glob("*.duckdb")} == files  # untouched
    with store.open_reader() as r:
        assert r.release_id == old
        assert queries.store_info(r.con).n_networks == 1
    # The next writer gets the lock (released by the kernel), removes the partial file and publishes.
    new = add_network(store, seed=2)
    assert store.current_release() == new
    assert not any(p.name.endswith(".partial") for p in store.releases_dir.iterdir())
    assert n_networks(store) == 2


@LAYOUTS
def test_concurrent_readers_during_publishes_see_whole_releases(tmp_path, delta_min_bytes):
    store = Store(tmp_path, keep=2, delta_min_bytes=delta_min_bytes, compact_fraction=100.0)
    store.init()
    add_network(store, seed=0)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: set[str] = set()

    def read_loop():
        try:
            reader = store.open_reader()
            while not stop.is_set():
                if not reader.is_current():
                    reader.close()
                    reader = store.open_reader()
                con = reader.cursor()
                info = queries.store_info(con)
                total = con.execute("SELECT coalesce(sum(n_edges), 0) FROM networks").fetchone()[0]
                # A release is either wholly visible or not at all: counts agree with each other.
                assert info.release_id == reader.release_id
                assert info.n_edges == total == 50 * info.n_networks
                seen.add(reader.release_id)
                con.close()
            reader.close()
        except BaseException as err:  # reported to the main thread
            errors.append(err)

    threads = [threading.Thread(target=read_loop) for _ in range(4)]
    for t in threads:
        t.start()
    published = [add_network(store, seed=s) for s in range(1, 5)]
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert published[-1] in seen
    assert n_networks(store) == 5


def _with_schema_version(store: Store, version: str) -> None:
    path = store.release_path(store.current_release())
    con = duckdb.connect(str(path))
    con.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'", [version])
    con.close()


def test_schema_version_mismatch_fails_clearly(tmp_path):
    store = Store(tmp_path)
    store.init()
    _with_schema_version(store, "999")
    with pytest.raises(SchemaVersionError, match="schema version 999"):
        store.open_reader()
    before = store.current_release()
    with pytest.raises(SchemaVersionError), store.new_release():
        pass
    assert store.current_release() == before


def test_a_release_of_other_tables_is_refused_without_a_version_bump(tmp_path, monkeypatch):
    """A new column changes the tables' fingerprint: releases written before it refuse to open."""
    store = Store(tmp_path)
    store.init()
    monkeypatch.setattr("schema.release.schema_fingerprint", lambda: "0123456789abcdef")
    with pytest.raises(SchemaVersionError, match=r"tables \w+\), this code reads .*tables 0123456789abcdef"):
        store.open_reader()


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    store = Store(tmp_path)
    store.releases_dir.mkdir(parents=True)
    duckdb.connect(str(store.release_path("r0"))).close()
    store.publish("r0")
    with pytest.raises(SchemaVersionError, match="not a scPRINT-graph store"):
        store.open_reader()


def test_reader_is_read_only(tmp_path):
    store = Store(tmp_path)
    store.init()
    with store.open_reader() as r:
        with pytest.raises(duckdb.Error, match="Can only delete from base table"):
            r.con.execute("DELETE FROM genes")  # the tables are views
        with pytest.raises(duckdb.Error, match="read-only"):
            r.con.execute("DELETE FROM release_file.genes")  # of a file attached read-only
