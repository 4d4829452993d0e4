"""Delta releases: a publish writes what changed and shares the base; readers see exactly a whole release.

Each test runs the same writes on a store that makes deltas (``delta_min_bytes=0``) and on one that copies
every release whole (the reference), and compares what readers see.
"""

import random

import numpy as np
import pytest

from schema import NetworkMeta, Store, queries
from schema.queries.node_index import NodeIndex
from schema.synthetic import gene_names, gene_table, random_edges
from schema.tables import PER_NETWORK_TABLES

COPY_WHOLE = 2**62  # delta_min_bytes that no base reaches: every release a copy of the whole file


def publish(store: Store, datasets: dict[str, int], *, seed: int, full: bool = False) -> str:
    """A release that (re)writes each dataset of ``datasets`` with that many random networks."""
    rng = np.random.default_rng(seed)
    with store.new_release(note=f"datasets {sorted(datasets)}", full=full) as w:
        w.upsert_genes(gene_table(60))
        for source_id, n_networks in sorted(datasets.items()):
            ds = w.upsert_dataset(source="test", source_id=source_id, version=str(seed))
            w.replace_networks(ds.id)
            for k in range(n_networks):
                nid = w.add_network(NetworkMeta(dataset_id=ds.id, n_cells=10 + k, cell_type=f"type {k}"))
                w.add_edges(nid, random_edges(rng, gene_names(60), int(rng.integers(20, 200))))
    return w.release_id


def remove_dataset(store: Store, source_id: str) -> str:
    with store.new_release(note=f"remove {source_id}") as w:
        ds = w.upsert_dataset(source="test", source_id=source_id)
        w.replace_networks(ds.id)
    return w.release_id


def contents(store: Store, release_id: str | None = None) -> dict:
    """What a reader of the release sees: every per-network table, the networks, and queries through them."""
    if release_id is not None:
        store.rollback(to=release_id)
    with store.open_reader() as r:
        con = r.con
        seen = {
            table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in PER_NETWORK_TABLES
        }
        seen["networks"] = con.execute(
            "SELECT id, key, n_genes, n_edges FROM networks ORDER BY id"
        ).fetchall()
        info = queries.store_info(con)
        assert info.n_edges == len(seen["edges"])  # from the networks' sizes, as the rows themselves
        seen["counts"] = (info.n_networks, info.n_edges, info.n_datasets, info.n_genes)
        ids = [row[0] for row in seen["networks"]]
        seen["edges of each"] = [queries.network_edges(con, i, first=50) for i in ids]
        seen["hubs"] = [queries.hubs(con, i, k=5) for i in ids]
        seen["regulators of"] = [queries.regulators_of(con, g, first=100) for g in (1, 7, 30)]
        seen["targets of"] = [queries.targets_of(con, g, first=100) for g in (1, 7, 30)]
        enriched = queries.enriched_regulators(con, list(range(1, 40)), min_targets=1, min_overlap=1)
        index = NodeIndex.read(con)  # read through the base and the delta as the queries are
        assert (
            queries.enriched_regulators(con, list(range(1, 40)), min_targets=1, min_overlap=1, index=index)
            == enriched
        )
        seen["enriched regulators"] = enriched
    return seen


@pytest.fixture
def stores(tmp_path):
    delta = Store(tmp_path / "delta", delta_min_bytes=0, compact_fraction=100.0, keep=50)
    whole = Store(tmp_path / "whole", delta_min_bytes=COPY_WHOLE, keep=50)
    for store in (delta, whole):
        store.init()
        publish(store, {"a": 3, "b": 2}, seed=1, full=True)  # the base of the deltas below
    return delta, whole


def test_a_new_dataset_is_a_delta_that_shares_the_base(stores):
    delta, whole = stores
    base = delta.current_release()
    base_bytes = delta.release_path(base).read_bytes()
    new = publish(delta, {"c": 2}, seed=2)
    publish(whole, {"c": 2}, seed=2)
    assert delta.base_of(new) == base
    assert delta.release_path(base).read_bytes() == base_bytes  # shared, not rewritten
    with delta.open_reader() as r:
        assert r.base_id == base
        in_delta = r.con.execute("SELECT count(DISTINCT network_id) FROM release_file.edges").fetchall()[0][0]
    assert in_delta == 2  # the delta holds only the new dataset's networks
    assert contents(delta) == contents(whole)


def test_replaced_and_removed_datasets_hide_their_base_rows(stores):
    delta, whole = stores
    for store in (delta, whole):
        publish(store, {"a": 2, "c": 1}, seed=3)  # a: 3 -> 2 networks, new rows
        publish(store, {"a": 4}, seed=4)  # a again: rows of the delta replaced within the delta
        remove_dataset(store, "b")
    assert delta.base_of(delta.current_release()) is not None
    with delta.open_reader() as r:
        superseded = r.con.execute("SELECT network_id FROM superseded_networks ORDER BY 1").fetchall()
        base_ids = r.con.execute("SELECT id FROM base_file.networks ORDER BY 1").fetchall()
    assert superseded == base_ids  # every network of the base was replaced or removed
    assert contents(delta) == contents(whole)
    assert queries.store_info(delta.open_reader().con).n_networks == 5  # a: 4, c: 1


def test_compaction_merges_delta_and_base_into_a_new_base(stores, tmp_path):
    delta, whole = stores
    for store in (delta, whole):
        publish(store, {"b": 1, "c": 2}, seed=5)
    before = contents(delta)
    assert before == contents(whole)
    compacting = Store(delta.root, delta_min_bytes=0, compact_fraction=1e-9, keep=50)
    new = publish(compacting, {"d": 1}, seed=6)
    publish(whole, {"d": 1}, seed=6)
    assert compacting.base_of(new) is None
    with compacting.open_reader() as r:
        assert r.base_id is None
        assert r.con.execute("SELECT count(*) FROM superseded_networks").fetchall() == [(0,)]
    assert contents(compacting) == contents(whole)
    # The next writer starts a delta on the compacted base.
    assert compacting.base_of(publish(delta, {"e": 1}, seed=7)) == new


def test_a_full_release_compacts(stores):
    delta, whole = stores
    publish(delta, {"c": 1}, seed=8)
    publish(whole, {"c": 1}, seed=8)
    new = publish(delta, {"a": 1}, seed=9, full=True)
    publish(whole, {"a": 1}, seed=9)
    assert delta.base_of(new) is None
    assert contents(delta) == contents(whole)


def test_rollback_to_a_delta_reads_its_own_base(stores):
    delta, _ = stores
    first_delta = publish(delta, {"c": 1}, seed=10)
    expected = contents(delta)
    publish(Store(delta.root, delta_min_bytes=0, compact_fraction=1e-9, keep=50), {"a": 1}, seed=11)
    publish(delta, {"b": 1}, seed=12)
    assert contents(delta, first_delta) == expected


def test_prune_never_removes_a_release_that_a_kept_one_reads(tmp_path):
    """Random writes, compactions, rollbacks and prunes: every kept release opens, with its base."""
    rnd = random.Random(0)
    root = tmp_path / "store"
    Store(root).init()
    for step in range(24):
        fraction = rnd.choice([1e-9, 0.5, 100.0])  # compact now, sometimes, never
        store = Store(root, delta_min_bytes=0, compact_fraction=fraction, keep=rnd.choice([1, 2, 3]))
        action = rnd.random()
        if action < 0.15 and len(store.releases()) > 1:
            store.rollback(to=rnd.choice(store.releases()))
        elif action < 0.3:
            remove_dataset(store, rnd.choice("abc"))
        else:
            publish(store, {rnd.choice("abcd"): rnd.randint(1, 3)}, seed=step, full=rnd.random() < 0.1)
        kept = store.releases()
        assert store.current_release() in kept
        for release_id in kept:
            base = store.base_of(release_id)
            assert base is None or base in kept, f"step {step}: {release_id} reads pruned base {base}"
            store.rollback(to=release_id)
            with store.open_reader() as r:
                queries.store_info(r.con)  # opens with its base and reads
        store.rollback(to=kept[-1])


def test_a_missing_base_is_a_clear_error(stores):
    delta, _ = stores
    base = delta.current_release()
    publish(delta, {"c": 1}, seed=13)
    delta.release_path(base).unlink()
    with pytest.raises(FileNotFoundError, match=f"reads base release {base}, missing from"):
        delta.open_reader()


def test_changes_to_every_network_refuse_a_delta_writer(stores):
    from schema.priors import delete_source
    from schema.quality import rescore_release

    delta, _ = stores
    refused = "changes every network: write it as a full release"
    with pytest.raises(ValueError, match=f"re-scoring every network {refused}"), delta.new_release() as w:
        assert w.layout == "delta"
        rescore_release(w.con, metrics=None)
    with pytest.raises(ValueError, match=f"removing a prior source {refused}"), delta.new_release() as w:
        delete_source(w.con, "CollecTRI")
    with delta.new_release(full=True) as w:  # what store load-priors and store rescore use
        assert w.base is None  # a base: here a copy of the current one
        assert delete_source(w.con, "CollecTRI") is False
