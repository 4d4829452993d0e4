"""`scprint-graph select-heads` end to end on the demo data (a few cells), with a shipped and a user prior;
`grn --heads FILE` uses the file and records its provenance."""

import json
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from scprint_graph.grn_params import read_heads_file

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "pbmc68k_reduced.h5ad"
WEIGHTS = ROOT / "weights" / "demo-tiny.pt"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """40 cells of the demo PBMCs (fast), written once."""
    folder = tmp_path_factory.mktemp("demo")
    adata = ad.read_h5ad(DEMO)[:40].copy()
    path = folder / "pbmc40.h5ad"
    adata.write_h5ad(path)
    return path, adata


def _run(args):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result.output


def test_select_heads_against_collectri_then_grn_uses_the_file(demo, tmp_path):
    h5ad, _ = demo
    heads = tmp_path / "heads.json"
    out = _run(
        [
            "select-heads",
            "--ckpt",
            str(WEIGHTS),
            "--h5ad",
            str(h5ad),
            "--prior",
            "collectri",
            "--n-genes",
            "300",
            "--out",
            str(heads),
        ]
    )
    content = read_heads_file(heads)
    held = content["held_out"]
    assert content["prior"] == "collectri" and content["n_layers"] * content["n_heads"] == len(
        content["coefficients"]
    )
    assert 1 <= len(content["heads"]) <= len(content["coefficients"])
    assert held["selected"]["n_true"] > 0
    reported = re.search(r"AUPRC ([0-9.]+) vs ([0-9.]+) for the mean of all heads", out)
    assert float(reported.group(1)) == pytest.approx(held["selected"]["auprc"], abs=5e-5)
    assert float(reported.group(2)) == pytest.approx(held["all"]["auprc"], abs=5e-5)

    edges = tmp_path / "edges.parquet"
    _run(
        [
            "grn",
            "--ckpt",
            str(WEIGHTS),
            "--h5ad",
            str(h5ad),
            "--out",
            str(edges),
            "--heads",
            str(heads),
            "--n-genes",
            "50",
            "--min-cells",
            "5",
        ]
    )
    (params,) = json.loads(pq.read_table(edges).schema.metadata[b"scprint_graph.grn"])
    assert params["heads"] == content["heads"]
    assert params["heads_selection"]["prior"] == "collectri"
    assert params["heads_selection"]["held_out"] == held
    assert params["heads_selection"]["file_sha256"] == content["file_sha256"]


def test_select_heads_with_a_user_prior_tsv(demo, tmp_path):
    h5ad, adata = demo
    rng = np.random.default_rng(0)
    symbols = list(adata.var["feature_name"][:80])
    gene_file = tmp_path / "genes.txt"
    gene_file.write_text("\n".join(symbols) + "\n")
    regulators = symbols[:8]
    lines = ["regulator\ttarget\tsign\tsource"]
    named = set(regulators)
    for r in regulators:
        for t in rng.choice(symbols[8:], size=6, replace=False):
            lines.append(f"{r}\t{t}\t{rng.choice(['+1', '-1', ''])}\tmy_lab")
            named.add(t)
    prior = tmp_path / "my_prior.tsv"
    prior.write_text("\n".join(lines) + "\n")
    heads = tmp_path / "heads.json"
    out = _run(
        [
            "select-heads",
            "--ckpt",
            str(WEIGHTS),
            "--h5ad",
            str(h5ad),
            "--prior",
            str(prior),
            "--genes",
            str(gene_file),
            "--out",
            str(heads),
            "--train-fraction",
            "0.6",
        ]
    )
    content = read_heads_file(heads)
    assert content["prior"] == "my_prior.tsv" and content["train_fraction"] == 0.6
    held = content["held_out"]
    # TF rows: the 8 regulators x the other genes the prior names; 40% of the pairs are held out
    n_pairs = 8 * (len(named) - 1)
    assert held["n_train"] + held["n_test"] == n_pairs and held["n_test"] == n_pairs - round(0.6 * n_pairs)
    assert "against" in out and str(prior) in out


def test_select_heads_refuses_a_bad_prior(demo, tmp_path):
    h5ad, _ = demo
    bad = tmp_path / "bad.tsv"
    bad.write_text("only_one_column\n")
    result = CliRunner().invoke(
        app,
        ["select-heads", "--ckpt", str(WEIGHTS), "--h5ad", str(h5ad), "--prior", str(bad)],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code != 0 and "expected regulator, target" in result.output
    result = CliRunner().invoke(
        app,
        ["select-heads", "--ckpt", str(WEIGHTS), "--h5ad", str(h5ad), "--prior", "trrust"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code != 0 and "prior must be one of" in result.output
