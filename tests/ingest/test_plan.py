"""Grouping of cells and the deterministic keys that make reruns idempotent."""

import numpy as np
import pandas as pd
import pytest

from ingest.columns import ColumnMap, dataset_organism, group_labels
from ingest.pipeline import run_ingest
from ingest.plan import plan_groups
from schema.identity import idempotency_key, params_hash, stable_hash


def test_groups_follow_tissue_disease_cell_type_and_small_ones_are_reported(make_adata):
    adata = make_adata()
    plan = plan_groups(adata.obs, ColumnMap(), min_cells=10)
    expected = adata.obs.groupby(["tissue", "disease", "cell_type"], observed=True).size()
    big = expected[expected >= 10]
    assert sorted(
        (g.labels["tissue"], g.labels["disease"], g.labels["cell_type"]) for g in plan.groups
    ) == sorted(big.index)
    for group in plan.groups:
        key = (group.labels["tissue"], group.labels["disease"], group.labels["cell_type"])
        assert group.n_cells == expected[key]
        rows = adata.obs.iloc[group.cells]
        assert (rows["cell_type"] == key[2]).all() and (rows["tissue"] == key[0]).all()
        assert group.labels["cell_type_ontology_term_id"] == rows["cell_type_ontology_term_id"].iloc[0]
    skipped = {s.name: s.n_cells for s in plan.skipped}
    assert skipped == {" / ".join(k): int(n) for k, n in expected[expected < 10].items()}
    assert all("min_cells" in s.reason for s in plan.skipped)
    # every cell lands in exactly one group or one skipped group
    assert sum(g.n_cells for g in plan.groups) + sum(skipped.values()) == adata.n_obs


def test_constant_labels_and_renamed_columns():
    obs = pd.DataFrame({"celltype": ["a", "a", "b", None], "state": ["x", "x", "x", "x"]})
    cmap = ColumnMap(cell_type_col="celltype", disease_col="state", tissue="lung")
    labels = group_labels(obs, cmap)
    assert list(labels["tissue"]) == ["lung"] * 4
    assert list(labels["cell_type"]) == ["a", "a", "b", "unknown"]
    assert labels["tissue_ontology_term_id"].isna().all()
    plan = plan_groups(obs, cmap, min_cells=2)
    assert [(g.name, g.n_cells, list(g.cells)) for g in plan.groups] == [("lung / x / a", 2, [0, 1])]
    assert sorted(s.name for s in plan.skipped) == ["lung / x / b", "lung / x / unknown"]
    with pytest.raises(ValueError, match="min_cells"):
        plan_groups(obs, cmap, min_cells=0)


def test_missing_columns_and_organism():
    cmap = ColumnMap(tissue="lung")
    assert cmap.missing_columns(["cell_type"]) == ["disease"]
    assert dataset_organism(pd.DataFrame({"organism": ["Mus musculus"] * 2}), ColumnMap()) == "mouse"
    assert dataset_organism(pd.DataFrame({"x": [1]}), ColumnMap(organism="NCBITaxon:9606")) == "human"
    with pytest.raises(ValueError, match="several organisms"):
        dataset_organism(pd.DataFrame({"organism": ["Homo sapiens", "Mus musculus"]}), ColumnMap())
    with pytest.raises(ValueError, match="unknown organism 'fly'"):
        ColumnMap(organism="fly")
    with pytest.raises(ValueError, match="counts"):
        ColumnMap(counts="normalised")
    with pytest.raises(ValueError, match="unknown column options"):
        ColumnMap.from_options({"cell_typ_col": "x"})


def test_hashes_are_deterministic_and_order_free():
    a = {"n_genes": 100, "edge_filter": "top_k", "top_k": 5, "nested": {"b": 1, "a": [1, 2]}}
    b = {"nested": {"a": [1, 2], "b": 1}, "top_k": 5, "edge_filter": "top_k", "n_genes": 100}
    assert params_hash(a) == params_hash(b)
    assert params_hash(a) != params_hash({**a, "top_k": 6})
    assert len(stable_hash(a)) == 64 and int(stable_hash(a), 16) >= 0
    key = idempotency_key("h5ad:x/a.h5ad", "v1", "ckpt", params_hash(a))
    assert key == idempotency_key("h5ad:x/a.h5ad", "v1", "ckpt", params_hash(b))
    changed = [
        idempotency_key("h5ad:x/b.h5ad", "v1", "ckpt", params_hash(a)),
        idempotency_key("h5ad:x/a.h5ad", "v2", "ckpt", params_hash(a)),
        idempotency_key("h5ad:x/a.h5ad", "v1", "ckpt2", params_hash(a)),
        idempotency_key("h5ad:x/a.h5ad", "v1", "ckpt", params_hash({**a, "n_genes": 99})),
    ]
    assert key not in changed and len(set(changed)) == 4


def test_group_cells_are_sorted_positions():
    obs = pd.DataFrame(
        {"cell_type": ["b", "a", "b", "a"], "tissue": ["t"] * 4, "disease": ["d"] * 4}, index=list("wxyz")
    )
    plan = plan_groups(obs, ColumnMap(), min_cells=1)
    cells = {g.labels["cell_type"]: g.cells for g in plan.groups}
    np.testing.assert_array_equal(cells["a"], [1, 3])
    np.testing.assert_array_equal(cells["b"], [0, 2])


def test_reingesting_keeps_each_groups_network_id_and_key(tmp_path, checkpoint, make_adata):
    """Ids are stable: new parameters or new counts rebuild every network under the id and key it had."""
    from schema import Store
    from tests.ingest.test_pipeline import h5ad_source, make_config, query

    data = tmp_path / "data"
    data.mkdir()
    make_adata(seed=0).write_h5ad(data / "a.h5ad")
    config = make_config(tmp_path, checkpoint, h5ad_source(data))
    sql = (
        "SELECT key, id, idempotency_key, model_family, tissue, disease, cell_type FROM networks ORDER BY key"
    )
    run_ingest(config, progress=False)
    first = query(Store(config.store), sql)
    assert first and {row[3] for row in first} == {"scprint"}
    run_ingest(make_config(tmp_path, checkpoint, h5ad_source(data), top_k=4), progress=False)
    make_adata(seed=5).write_h5ad(data / "a.h5ad")
    report = run_ingest(make_config(tmp_path, checkpoint, h5ad_source(data), top_k=4), progress=False)
    assert report.counts()["replaced"] == 1
    last = query(Store(config.store), sql)
    assert [(k, i, *labels) for k, i, _, *labels in last] == [(k, i, *labels) for k, i, _, *labels in first]
    assert {row[2] for row in last}.isdisjoint({row[2] for row in first})  # recomputed under a new key
