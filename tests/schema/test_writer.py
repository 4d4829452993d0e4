"""The writer: round trips of genes, datasets, models, networks and edges; node statistics; gene sets."""

import networkx as nx
import numpy as np
import pyarrow as pa
import pytest

from schema import NetworkMeta, Store, idempotency_key, queries
from schema.genesets import read_gmt
from schema.reference import BUNDLED_GENE_SETS, lambert_tfs
from schema.synthetic import gene_names, gene_table, random_edges


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path)
    store.init()
    with store.new_release() as w:
        w.upsert_genes(gene_table(30))
    return store


def test_genes_upsert_keeps_values_not_given(store):
    with store.new_release() as w:
        w.upsert_genes(
            pa.table(
                {
                    "ensembl_id": ["ENSG00000000001", "ENSMUSG0000001"],
                    "organism": ["NCBITaxon:9606", "NCBITaxon:10090"],
                    "symbol": [None, "Sox2"],
                }
            )
        )
    with store.open_reader() as r:
        human, mouse = queries.resolve_genes(r.con, ["ENSG00000000001", "ENSMUSG0000001"])
        assert human.symbol == "G1" and human.chromosome == "2" and human.start == 1000  # kept
        assert mouse.symbol == "Sox2" and mouse.organism == "NCBITaxon:10090" and not mouse.is_tf
        # Ids are stable: the existing gene kept its id, the new one got the next.
        assert human.id == 2 and mouse.id == 31


def test_genes_need_ensembl_id_and_organism_without_duplicates(store):
    with store.new_release() as w:
        with pytest.raises(ValueError, match="organism"):
            w.upsert_genes(pa.table({"ensembl_id": ["E1"]}))
        with pytest.raises(ValueError, match="duplicate"):
            w.upsert_genes(pa.table({"ensembl_id": ["E1", "E1"], "organism": ["x", "x"]}))


def test_datasets_models_and_idempotency(store):
    key = idempotency_key("cellxgene:abc", "v1", "ckpt", "p1")
    assert key == idempotency_key("cellxgene:abc", "v1", "ckpt", "p1")
    assert key != idempotency_key("cellxgene:abc", "v2", "ckpt", "p1")
    with store.new_release() as w:
        first = w.upsert_dataset(
            source="cellxgene", source_id="abc", version="v1", content_hash="h1", title="T"
        )
        again = w.upsert_dataset(source="cellxgene", source_id="abc", version="v1", content_hash="h1")
        changed = w.upsert_dataset(source="cellxgene", source_id="abc", version="v2", content_hash="h2")
        assert first.created and first.changed
        assert not again.created and not again.changed and again.id == first.id
        assert changed.changed and changed.id == first.id
        model = w.add_model("sha256:1", "tiny", {"d_model": 8})
        assert w.add_model("sha256:1", "tiny", {"d_model": 8}) == model
        nid = w.add_network(NetworkMeta(dataset_id=first.id, n_cells=5, model_id=model, idempotency_key=key))
        w.add_edges(nid, random_edges(np.random.default_rng(0), gene_names(30), 20))
        run = w.record_run(status="succeeded", started_at=_now(), n_networks=1, n_edges=20, details={"x": 1})
    with store.open_reader() as r:
        (dataset,) = queries.datasets_by_ids(r.con, [first.id])
        assert (dataset.version, dataset.content_hash, dataset.title) == ("v2", "h2", "T")
        assert [n.id for n in queries.networks_by_idempotency_key(r.con, key)] == [nid]
        (runrow,) = queries.ingest_runs(r.con)
        assert runrow.id == run and runrow.release_id == r.release_id and runrow.n_edges == 20
        assert [m.name for m in queries.store_info(r.con).models] == ["tiny"]


def _now():
    from datetime import datetime

    return datetime(2026, 1, 1)


def test_edges_round_trip_with_ranks_and_both_sort_orders(store):
    rng = np.random.default_rng(3)
    names = gene_names(30)
    given = random_edges(rng, names, 200)
    unknown = pa.table(
        {
            "regulator": ["ENSG99999999999", names[1]],
            "target": [names[2], "NOT_A_GENE"],
            "weight": pa.array([0.5, 0.5], pa.float32()),
        }
    )
    with store.new_release() as w:
        ds = w.upsert_dataset(source="t", source_id="d").id
        nid = w.add_network(NetworkMeta(dataset_id=ds, n_cells=3))
        load = w.add_edges(nid, pa.concat_tables([given, unknown]))
        with pytest.raises(ValueError, match="already has edges"):
            w.add_edges(nid, given)
        with pytest.raises(ValueError, match="not added in this release"):
            w.add_edges(nid + 100, given)
    assert (load.n_edges, load.n_unmapped) == (200, 2)
    with store.open_reader() as r:
        stored = r.con.execute("SELECT * FROM edges").df()  # physical order
        by_target = r.con.execute("SELECT * FROM edges_by_target").df()
        ids = {g.ensembl_id: g.id for g in queries.genes_by_ids(r.con, range(1, 31))}
    expected = given.to_pandas().assign(
        regulator_id=lambda d: d.regulator.map(ids), target_id=lambda d: d.target.map(ids)
    )
    merged = stored.merge(expected, on=["regulator_id", "target_id"], suffixes=("", "_given"))
    assert len(merged) == 200
    np.testing.assert_array_equal(merged.weight, merged.weight_given)
    # Rank 1 is the largest weight; ranks are a permutation of 1..n.
    order = expected.sort_values(["weight", "regulator_id", "target_id"], ascending=[False, True, True])
    ranks = stored.set_index(["regulator_id", "target_id"]).loc[
        list(zip(order.regulator_id, order.target_id, strict=True))
    ]
    np.testing.assert_array_equal(ranks["rank"], np.arange(1, 201))
    # Storage orders: (network, regulator) and (target, network).
    assert stored[["network_id", "regulator_id", "target_id"]].apply(tuple, axis=1).is_monotonic_increasing
    assert by_target.target_id.is_monotonic_increasing
    assert sorted(map(tuple, by_target.to_numpy().tolist())) == sorted(map(tuple, stored.to_numpy().tolist()))


def test_node_statistics_match_networkx(atlas_root, frames):
    edges, stats = frames["edges"], frames["node_stats"]
    for network_id in (1, 7):
        e = edges[edges.network_id == network_id]
        s = stats[stats.network_id == network_id].set_index("gene_id")
        graph = nx.DiGraph()
        graph.add_weighted_edges_from(zip(e.regulator_id, e.target_id, e.weight.astype(float), strict=True))
        assert set(s.index) == set(graph.nodes)
        for gene in list(graph.nodes)[:40]:
            row = s.loc[gene]
            assert row.in_degree == graph.in_degree(gene) and row.out_degree == graph.out_degree(gene)
            assert row.weighted_out_degree == pytest.approx(graph.out_degree(gene, weight="weight"), rel=1e-5)
            assert row.weighted_in_degree == pytest.approx(graph.in_degree(gene, weight="weight"), rel=1e-5)
            assert row.degree_centrality == pytest.approx(nx.degree_centrality(graph)[gene], rel=1e-5)
        pagerank = nx.pagerank(graph, weight="weight")
        np.testing.assert_allclose(
            s.loc[list(pagerank)].pagerank, list(pagerank.values()), rtol=1e-3, atol=1e-6
        )
    networks = frames["networks"].set_index("id")
    per_network = stats.groupby("network_id").agg(n_genes=("gene_id", "size"), n_edges=("out_degree", "sum"))
    assert (networks.loc[per_network.index, ["n_genes", "n_edges"]] == per_network).all().all()


def test_replace_networks_of_a_dataset(atlas_root, tmp_path):
    import shutil

    store = Store(tmp_path / "copy")
    shutil.copytree(atlas_root, store.root)
    with store.open_reader() as r:
        before = queries.store_info(r.con)
        (first,) = queries.networks_by_ids(r.con, [1])
    with store.new_release() as w:
        deleted = w.replace_networks(first.dataset_id)
        nid = w.add_network(NetworkMeta(dataset_id=first.dataset_id, n_cells=1, tissue="lung"))
        w.add_edges(nid, random_edges(np.random.default_rng(0), gene_names(50), 30))
    with store.open_reader() as r:
        after = queries.store_info(r.con)
        remaining = r.con.execute(
            "SELECT count(*) FROM networks WHERE dataset_id = ?", [first.dataset_id]
        ).fetchone()[0]
        for table in ("edges", "edges_by_target", "node_stats"):
            orphans = r.con.execute(
                f"SELECT count(*) FROM {table} WHERE network_id NOT IN (SELECT id FROM networks)"
            ).fetchone()[0]
            assert orphans == 0, table
        assert queries.networks_by_ids(r.con, [1]) == [None]
    assert deleted == 5 and remaining == 1
    assert after.n_networks == before.n_networks - 4
    assert after.n_edges == before.n_edges - 5 * 600 + 30


def test_gene_sets_are_mapped_and_unmapped_members_counted(reader):
    (collection,) = queries.gene_set_collections(reader.con)
    assert (collection.name, collection.n_sets, collection.license) == ("test sets", 13, "CC0")
    (odd,) = queries.gene_sets(reader.con, collection="test sets", text="UNKNOWN")
    assert (odd.n_members, odd.n_unmapped) == (5, 2)
    members = queries.genes_by_ids(reader.con, queries.gene_set_members(reader.con, odd.id))
    assert sorted(g.symbol for g in members) == ["G1", "G2", "G3", "G4", "G5"]


def test_bundled_reference_data_loads(store):
    names = sorted({g for s in read_gmt(next(iter(BUNDLED_GENE_SETS.values()))) for g in s.genes})[:300]
    tfs = lambert_tfs()
    assert len(tfs) > 1600 and "STAT1" in tfs and "FOXP3" in tfs
    genes = sorted(set(names) | {"STAT1", "FOXP3"})
    with store.new_release() as w:
        w.upsert_genes(
            pa.table(
                {
                    "ensembl_id": [f"ENSG9{i:010d}" for i in range(len(genes))],
                    "symbol": genes,
                    "organism": ["NCBITaxon:9606"] * len(genes),
                }
            )
        )
        loads = w.load_reference_data()
    assert all(load.n_sets > 40 for load in loads.values())
    assert all(load.n_members > 0 for load in loads.values())
    with store.open_reader() as r:
        assert {g.symbol for g in queries.transcription_factors(r.con)} >= {"STAT1", "FOXP3"}
        assert len(queries.gene_set_collections(r.con)) == 2


def test_read_gmt_rejects_malformed_lines(tmp_path):
    path = tmp_path / "bad.gmt"
    path.write_text("SET_A\tdesc\tG1\tG2\nSET_B\tonly-description\n")
    with pytest.raises(ValueError, match=r"bad\.gmt:2"):
        read_gmt(path)


def test_networks_need_a_known_dataset_and_model(store):
    with store.new_release() as w:
        with pytest.raises(ValueError, match="unknown dataset_id 42"):
            w.add_network(NetworkMeta(dataset_id=42, n_cells=1))
        ds = w.upsert_dataset(source="t", source_id="d").id
        with pytest.raises(ValueError, match="unknown model_id 7"):
            w.add_network(NetworkMeta(dataset_id=ds, n_cells=1, model_id=7))
    with pytest.raises(ValueError, match="n_cells"):
        NetworkMeta(dataset_id=1, n_cells=-1)


def test_target_layout_is_resorted_after_a_few_appended_runs(tmp_path):
    store = Store(tmp_path, max_target_runs=2)
    store.init()
    rng = np.random.default_rng(5)
    runs = []
    for i in range(3):
        with store.new_release() as w:
            w.upsert_genes(gene_table(30))
            nid = w.add_network(
                NetworkMeta(dataset_id=w.upsert_dataset(source="t", source_id=f"{i}").id, n_cells=1)
            )
            w.add_edges(nid, random_edges(rng, gene_names(30), 100))
        with store.open_reader() as r:
            by_target = r.con.execute("SELECT * FROM edges_by_target").df()
            edges = r.con.execute("SELECT * FROM edges").df()
            runs.append(
                r.con.execute("SELECT value FROM store_meta WHERE key = 'edges_by_target_runs'").fetchone()[0]
            )
        key = ["target_id", "network_id", "regulator_id"]
        assert (
            by_target.sort_values(key)
            .reset_index(drop=True)
            .equals(edges.sort_values(key).reset_index(drop=True))
        )
        # Each release appends one sorted run; past max_target_runs the whole table is sorted again.
        assert by_target.target_id.is_monotonic_increasing == (i != 1)
    assert runs == ["1", "2", "0"]


def test_tied_weights_rank_by_regulator_then_target(store):
    names = gene_names(30)
    pairs = [(5, 3), (1, 7), (1, 2), (9, 0), (2, 2), (4, 8)]
    weights = [0.5, -0.0, 0.5, 0.0, 0.5, 0.25]  # -0.0 ties with 0.0
    with store.new_release() as w:
        nid = w.add_network(NetworkMeta(dataset_id=w.upsert_dataset(source="t", source_id="d").id, n_cells=1))
        w.add_edges(
            nid,
            pa.table(
                {
                    "regulator": [names[r] for r, _ in pairs],
                    "target": [names[t] for _, t in pairs],
                    "weight": pa.array(weights, pa.float32()),
                }
            ),
        )
    with store.open_reader() as r:
        ranked = r.con.execute("SELECT regulator_id, target_id FROM edges ORDER BY rank").fetchall()
    # Gene ids are 1 + the synthetic index: 0.5 ties (1,2) < (2,2) < (5,3); then 0.25; then the zeros.
    assert ranked == [(2, 3), (3, 3), (6, 4), (5, 9), (2, 8), (10, 1)]


@pytest.mark.parametrize("n_genes", [3_000, 70_000])  # gene ids below 2**16 (radix passes) and past it
def test_mapped_edges_are_in_key_order_and_ranked_like_a_lexicographic_sort(n_genes):
    """``map_edges`` orders by (regulator, target) and ranks by descending weight, ties by that order."""
    from schema.edgeload import EnsemblIdMap, map_edges

    rng = np.random.default_rng(7)
    names = pa.array([f"ENSG{i:011d}" for i in range(n_genes)])
    genes = EnsemblIdMap(ensembl_id=names, gene_id=np.append(np.arange(1, n_genes + 1), -1))
    pairs = rng.choice(n_genes * n_genes, 20_000, replace=False)
    weight = rng.choice(np.array([-1.5, -0.0, 0.0, 1e-30, 0.25, 0.5, 3.0], np.float32), pairs.size)
    weight[::7] = rng.random(weight[::7].size, dtype=np.float32)  # some distinct weights among the ties
    edges = pa.table(
        {"regulator": names.take(pairs // n_genes), "target": names.take(pairs % n_genes), "weight": weight}
    )
    mapped = map_edges(genes, 1, edges)
    reg, tgt = pairs // n_genes + 1, pairs % n_genes + 1
    by_key = np.lexsort((tgt, reg))
    np.testing.assert_array_equal(mapped.regulator_id, reg[by_key])
    np.testing.assert_array_equal(mapped.target_id, tgt[by_key])
    np.testing.assert_array_equal(mapped.weight, weight[by_key])
    by_rank = np.lexsort((np.arange(pairs.size), -(weight[by_key] + np.float32(0))))  # -0.0 ties with 0.0
    np.testing.assert_array_equal(mapped.rank[by_rank], np.arange(1, pairs.size + 1))


def test_error_in_the_background_edge_thread_discards_the_release(store, monkeypatch):
    import schema.edgeload

    def fail(batch):
        msg = "out of memory"
        raise MemoryError(msg)

    monkeypatch.setattr(schema.edgeload, "_prepare_edges", fail)
    monkeypatch.setattr(schema.edgeload, "FLUSH_EDGES", 40)  # a batch per network
    before = store.current_release()
    with pytest.raises(RuntimeError, match="cannot be published"), store.new_release() as w:
        dataset_id = w.upsert_dataset(source="t", source_id="d").id
        with pytest.raises(MemoryError, match="out of memory"):  # raised by a later call, once
            for seed in range(50):
                nid = w.add_network(NetworkMeta(dataset_id=dataset_id, n_cells=1, cell_type=f"c{seed}"))
                w.add_edges(nid, random_edges(np.random.default_rng(seed), gene_names(30), 50))
        # A caller that carries on anyway cannot publish a release missing those edges.
    assert store.current_release() == before
    assert not list(store.releases_dir.glob("*partial*"))


def test_datasets_with_networks_leaves_out_datasets_without_any(store):
    with store.new_release() as w:
        kept = w.upsert_dataset(source="h5ad", source_id="lab/a.h5ad").id
        emptied = w.upsert_dataset(source="h5ad", source_id="lab/b.h5ad").id
        w.add_network(NetworkMeta(dataset_id=kept, n_cells=3))
        old = w.add_network(NetworkMeta(dataset_id=emptied, n_cells=3))
    with store.open_reader() as r:
        assert queries.datasets_with_networks(r.con) == {("h5ad", "lab/a.h5ad"), ("h5ad", "lab/b.h5ad")}
    with store.new_release() as w:
        w.replace_networks(emptied)
    with store.open_reader() as r:
        assert queries.datasets_with_networks(r.con) == {("h5ad", "lab/a.h5ad")}
        assert queries.networks_by_ids(r.con, [old]) == [None]


def test_release_files_are_written_in_large_row_groups(tmp_path, monkeypatch):
    """Every writer attaches its file with ``ROW_GROUP_ROWS``, whether it starts a new file or a copy."""
    import duckdb

    from schema import writer

    monkeypatch.setattr(writer, "ROW_GROUP_ROWS", 4096)  # 2 vectors: a few thousand edges show it
    store = Store(tmp_path)
    store.init()
    rng = np.random.default_rng(3)
    for i in range(2):  # the second release copies the small first one, then appends
        with store.new_release() as w:
            w.upsert_genes(gene_table(200))
            nid = w.add_network(
                NetworkMeta(dataset_id=w.upsert_dataset(source="t", source_id=f"{i}").id, n_cells=1)
            )
            w.add_edges(nid, random_edges(rng, gene_names(200), 10_000))
    con = duckdb.connect(str(store.release_path(store.current_release())), read_only=True)
    sizes = con.execute(
        "SELECT row_group_id, max(start + count) - min(start) FROM pragma_storage_info('edges')"
        " WHERE column_name = 'target_id' GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert con.execute("SELECT count(*) FROM edges").fetchall()[0][0] == 20_000
    assert len(sizes) == 5 and all(rows == 4096 for _, rows in sizes[:-1])  # 20,000 rows: 4 x 4096 + 3616
