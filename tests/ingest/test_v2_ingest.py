"""Ingestion with an official scPRINT-2 checkpoint: one neighbour graph per dataset, networks published."""

import json

from ingest import worker as worker_module
from ingest.pipeline import run_ingest
from schema import Store
from tests.ingest.test_pipeline import h5ad_source, make_config, query
from tests.scprint_graph.test_v2_official import official_state_dict, write_v2


def test_ingest_with_a_v2_checkpoint(tmp_path, make_adata, monkeypatch):
    genes = list(make_adata().var_names)
    ckpt = write_v2(
        tmp_path / "small-v2.ckpt",
        official_state_dict(seed=1, n_genes=len(genes)),
        genes={"NCBITaxon:9606": genes},
        organisms=["NCBITaxon:9606"],
    )
    data = tmp_path / "data"
    data.mkdir()
    make_adata(seed=0).write_h5ad(data / "a.h5ad")
    make_adata(seed=1).write_h5ad(data / "b.h5ad")
    graphs = []
    real = worker_module.neighbor_graph

    def counting(adata, **options):
        graphs.append(adata.n_obs)
        return real(adata, **options)

    monkeypatch.setattr(worker_module, "neighbor_graph", counting)
    config = make_config(tmp_path, ckpt, h5ad_source(data))
    report = run_ingest(config, progress=False)
    assert report.counts()["added"] == 2 and report.n_networks == 24
    assert graphs == [240, 240]  # once per dataset, over all its cells
    store = Store(config.store)
    (model_config,) = query(store, "SELECT config FROM models")
    assert json.loads(model_config[0])["family"] == "scprint2"
    params = [json.loads(p[0]) for p in query(store, "SELECT parameters FROM networks")]
    assert {p["model_family"] for p in params} == {"scprint2"} and {p["organism"] for p in params} == {
        "NCBITaxon:9606"
    }
    assert all(p["neighbors"]["source"] == "computed" for p in params)
    families = query(store, "SELECT DISTINCT model_family FROM networks")
    assert families == [("scprint2",)]  # the network column, not only the parameters
