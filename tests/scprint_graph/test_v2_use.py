"""scPRINT-2 in use: computed neighbour graphs, and the grn / embed / denoise commands on a v2 checkpoint."""

import json

import anndata as ad
import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from cli.main import app
from scprint_graph.v2.neighbors import EXACT_BELOW, exact_knn, log_pca, neighbor_graph
from tests.scprint_graph.test_v2_official import HUMAN, official_state_dict, write_v2


def _adata(n_cells=40, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.gamma(1.0, 2.0, size=(1, len(HUMAN))), size=(n_cells, len(HUMAN)))
    adata = ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)))
    adata.var_names = HUMAN
    adata.obs["cell_type"] = np.where(np.arange(n_cells) % 2, "T cell", "B cell")
    return adata


def test_computed_neighbours_are_the_exact_knn_of_the_pca():
    adata = _adata(n_cells=60)
    graph = neighbor_graph(adata)
    assert graph.params["source"] == "computed" and graph.params["k"] == 15
    counts = adata.X.toarray().astype(np.float64)
    lognorm = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)
    centred = lognorm - lognorm.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    pcs = log_pca(adata.X, adata.n_obs)
    n_pcs = pcs.shape[1]
    assert n_pcs == 3  # 60 cells // 20, as scDataLoader's preprocessor
    np.testing.assert_allclose(np.abs(pcs), np.abs(u[:, :n_pcs] * s[:n_pcs]), rtol=1e-3, atol=1e-3)
    d = np.linalg.norm(pcs[:, None] - pcs[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    dist = graph.distances.toarray()
    for i in range(adata.n_obs):
        assert set(np.flatnonzero(dist[i])) == set(np.argsort(d[i])[:14])
    small = exact_knn(np.array([[0.0], [1.0], [3.0]], dtype=np.float32), k=15)
    np.testing.assert_allclose(small.toarray(), [[0, 1, 3], [1, 0, 2], [3, 2, 0]])


def test_large_datasets_take_pynndescent_as_scanpy_does():
    """Past ``exact_below`` cells (scanpy: 8,192) the graph is pynndescent's, nearly the exact one."""
    adata = _adata(n_cells=600, seed=3)
    exact = neighbor_graph(adata)
    approx = neighbor_graph(adata, exact_below=500)
    assert EXACT_BELOW == 8192 and exact.params["method"].startswith("exact")
    assert approx.params["method"].startswith("pynndescent") and approx.params["k"] == 15
    assert (approx.params["n_trees"], approx.params["n_iters"], approx.params["n_jobs"]) == (6, 9, 1)
    found, truth = approx.distances.tocsr(), exact.distances.tocsr()
    assert (np.diff(found.indptr) == 14).all() and (found.diagonal() == 0).all()
    pcs = log_pca(adata.X, adata.n_obs)
    rows, cols = found.nonzero()
    np.testing.assert_allclose(found[rows, cols].A1, np.linalg.norm(pcs[rows] - pcs[cols], axis=1), rtol=1e-4)
    shared = found.multiply(truth).nnz  # pairs both graphs hold
    assert shared / truth.nnz > 0.98
    again = neighbor_graph(adata, exact_below=500)  # one seed, one graph
    assert (again.distances != approx.distances).nnz == 0


def test_nearest_takes_the_group_neighbours_and_fills_with_the_cell_itself():
    adata = _adata(n_cells=10)
    dist = np.zeros((10, 10), np.float32)
    dist[0, [1, 2, 3]] = [0.5, 0.2, 0.9]
    dist[1, [0]] = [0.4]
    adata.obsp["distances"] = sp.csr_matrix(dist)
    graph = neighbor_graph(adata).subset(np.array([0, 1, 3]))
    index, distance = graph.nearest(np.arange(3), 3)
    np.testing.assert_array_equal(index, [[1, 2, 0], [0, 1, 1], [2, 2, 2]])
    np.testing.assert_allclose(distance, [[0.5, 0.9, 0], [0.4, 0, 0], [0, 0, 0]])


@pytest.fixture
def files(tmp_path):
    ckpt = write_v2(tmp_path / "small-v2.ckpt", official_state_dict(seed=2))
    h5ad = tmp_path / "cells.h5ad"
    _adata().write_h5ad(h5ad)
    return ckpt, h5ad, tmp_path


def test_grn_command_on_a_v2_checkpoint(files):
    ckpt, h5ad, tmp = files
    out = tmp / "edges.parquet"
    args = ["grn", "--ckpt", str(ckpt), "--h5ad", str(h5ad), "--out", str(out), "--group-by", "cell_type"]
    result = CliRunner().invoke(app, [*args, "--n-genes", "10", "--min-cells", "5"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert set(table.column("group").to_pylist()) == {"B cell", "T cell"} and table.num_rows > 0
    params = json.loads(table.schema.metadata[b"scprint_graph.grn"])
    assert {p["model_family"] for p in params} == {"scprint2"}
    assert {p["organism"] for p in params} == {"NCBITaxon:9606"}
    assert all(p["neighbors"]["source"] == "computed" and p["neighbors"]["k"] == 15 for p in params)
    bad = CliRunner().invoke(app, [*args, "--genes", "random-expressed"])
    assert bad.exit_code != 0 and "fixed gene list" in bad.output
    named = CliRunner().invoke(app, [*args, "--n-genes", "10", "--min-cells", "5", "--organism", "human"])
    assert named.exit_code == 0, named.output
    assert pq.read_table(out).equals(table), "naming the organism the genes already chose changes nothing"
    fish = CliRunner().invoke(app, [*args, "--n-genes", "10", "--min-cells", "5", "--organism", "zebrafish"])
    assert fish.exit_code != 0 and "'zebrafish' is not in the" in fish.output


def test_embed_and_denoise_commands_on_a_v2_checkpoint(files):
    ckpt, h5ad, tmp = files
    base = ["--ckpt", str(ckpt), "--h5ad", str(h5ad), "--max-len", "12"]
    result = CliRunner().invoke(app, ["embed", *base, "--out", str(tmp / "e.h5ad")])
    assert result.exit_code == 0, result.output
    emb = ad.read_h5ad(tmp / "e.h5ad")
    assert emb.obsm["X_scprint"].shape == (40, 8 + 8 + 2)  # cell token, VAE mean, FSQ projection
    assert (
        emb.obs["scprint_cell_type_ontology_term_id"].isin(["CL:0000084", "CL:0000236", "CL:0000576"]).all()
    )
    assert emb.uns["scprint_graph"]["model_family"] == "scprint2"
    result = CliRunner().invoke(app, ["denoise", *base, "--out", str(tmp / "d.h5ad"), "--depth", "500"])
    assert result.exit_code == 0, result.output
    den = ad.read_h5ad(tmp / "d.h5ad").layers["scprint_denoised"]
    assert den.shape == (40, len(HUMAN)) and (den.getnnz(axis=1) == 12).all() and den.sum() > 0


def test_convert_official_refuses_a_v2_checkpoint_with_a_clear_message(files):
    ckpt, _, tmp = files
    result = CliRunner().invoke(app, ["convert-official", "--ckpt", str(ckpt), "--out", str(tmp / "x.pt")])
    text = " ".join(result.output.replace("│", " ").split())  # the error box wraps lines
    assert result.exit_code != 0 and "scPRINT-2 checkpoint: use it as it is" in text


def test_select_heads_command_on_a_v2_checkpoint(files):
    """Heads of scPRINT-2's gene transformer selected against a user prior; grn then uses the file."""
    ckpt, h5ad, tmp = files
    prior = tmp / "prior.tsv"
    pairs = [(HUMAN[r], HUMAN[t]) for r in range(4) for t in range(4, len(HUMAN)) if (r + t) % 2]
    prior.write_text("regulator\ttarget\n" + "".join(f"{r}\t{t}\n" for r, t in pairs))
    heads = tmp / "heads.json"
    args = ["select-heads", "--ckpt", str(ckpt), "--h5ad", str(h5ad), "--prior", str(prior)]
    result = CliRunner().invoke(app, [*args, "--out", str(heads), "--n-genes", str(len(HUMAN))])
    assert result.exit_code == 0, result.output
    content = json.loads(heads.read_text())
    assert content["heads"] and content["held_out"]["n_train"] > 0
    out = tmp / "edges.parquet"
    grn = ["grn", "--ckpt", str(ckpt), "--h5ad", str(h5ad), "--out", str(out), "--heads", str(heads)]
    result = CliRunner().invoke(app, [*grn, "--n-genes", "10", "--min-cells", "5"])
    assert result.exit_code == 0, result.output
    (params,) = json.loads(pq.read_table(out).schema.metadata[b"scprint_graph.grn"])
    assert params["model_family"] == "scprint2"
    assert params["heads"] == [list(h) for h in content["heads"]]
