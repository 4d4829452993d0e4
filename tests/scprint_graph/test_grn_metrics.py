"""Metrics against hand-computed values on toy inputs."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scprint_graph.grn_metrics import (
    average_precision,
    bengrn_auprc,
    early_precision_ratio,
    evaluate_network,
    load_ground_truth,
    pr_metrics,
    tf_enrichment,
)


def test_epr_and_ap_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.0, 0.0, 0.0])
    truth = np.array([1, 0, 1, 0, 1, 0], bool)
    epr, precision = early_precision_ratio(scores, truth)
    assert precision == pytest.approx(2 / 3)  # top 3 hold 2 true edges
    assert epr == pytest.approx((2 / 3) / (3 / 6))
    # steps: (R 1/3, P 1), (1/3, 1/2), (2/3, 2/3), (1, 1/2 for the tied zeros)
    assert average_precision(scores, truth) == pytest.approx(1 / 3 + (1 / 3) * (2 / 3) + (1 / 3) * (1 / 2))


def test_epr_counts_ties_at_the_cut_in_expectation():
    scores = np.array([1.0, 0.5, 0.5, 0.5, 0.0])
    truth = np.array([0, 1, 0, 0, 1], bool)
    epr, precision = early_precision_ratio(scores, truth)
    assert precision == pytest.approx((0 + 1 * (1 / 3)) / 2)  # one slot left among 3 tied, 1 true
    assert epr == pytest.approx(precision / (2 / 5))


def test_bengrn_auprc_by_hand():
    # dense perfect ranking: (R 1, P 1) down to (R .5, P 1), then no prediction left -> (0, 0)
    assert bengrn_auprc(np.array([4.0, 3.0, 2.0, 1.0]), np.array([1, 1, 0, 0], bool)) == pytest.approx(0.75)
    # sparse: the one edge is true; recall 1 is never reached -> closed at random precision (0.5)
    assert bengrn_auprc(np.array([0.9, 0, 0, 0]), np.array([1, 0, 1, 0], bool)) == pytest.approx(0.5)


def test_random_scores_give_epr_near_one():
    rng = np.random.default_rng(0)
    truth = rng.random(20_000) < 0.05
    metrics = pr_metrics(rng.random(20_000), truth)
    assert metrics["epr"] == pytest.approx(1.0, abs=0.2)
    assert metrics["ap"] == pytest.approx(truth.mean(), abs=0.01)
    assert metrics["n_true"] == truth.sum()


def test_evaluate_network_universe_and_tf_restriction():
    genes = ["A", "B", "C", "D"]
    edges = pa.table(
        {"regulator": ["A", "A", "B", "Z"], "target": ["B", "C", "A", "A"], "weight": [0.9, 0.5, 0.2, 1.0]}
    )
    truth = pa.table({"regulator": ["A", "C", "E"], "target": ["B", "D", "A"]})
    metrics = evaluate_network(edges, genes, truth)
    # universe: network genes in the truth (A B C D; not E, not Z) -> 12 ordered pairs, 2 true
    assert (metrics["n_genes"], metrics["n_pairs"], metrics["n_true"]) == (4, 12, 2)
    assert metrics["precision_at_k"] == pytest.approx(0.5)  # top 2: A->B (true), A->C
    assert metrics["epr"] == pytest.approx(0.5 / (2 / 12))
    only_a = evaluate_network(edges, genes, truth, regulators={"A"})
    assert (only_a["n_pairs"], only_a["n_true"], only_a["epr"]) == (3, 1, pytest.approx(3.0))
    with pytest.raises(ValueError, match="ground truth"):
        evaluate_network(edges, ["X", "Y"], truth)


def test_load_ground_truth_filters_by_source(tmp_path):
    path = tmp_path / "gt.parquet"
    table = pa.table(
        {
            "regulator": ["A", "B", "C"],
            "target": ["B", "C", "A"],
            "sources": ["CollecTRI;ExTRI_CollecTRI", "TRRUST_DoRothEA", "SIGNOR"],
        }
    )
    pq.write_table(table, path)
    assert load_ground_truth(path, sources=["CollecTRI"]).column("regulator").to_pylist() == ["A"]
    assert load_ground_truth(path, sources=["DoRothEA"]).column("regulator").to_pylist() == ["B"]
    assert load_ground_truth(path).num_rows == 3


def test_tf_enrichment_finds_planted_tf_hubs():
    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(200)]
    tfs = genes[:20]
    regulators = rng.choice(200, size=2000)
    weights = np.where(regulators < 20, 1.0, 0.1) * rng.random(2000)
    edges = pa.table(
        {
            "regulator": [genes[i] for i in regulators],
            "target": [genes[i] for i in rng.choice(200, size=2000)],
            "weight": weights.astype(np.float32),
        }
    )
    res = tf_enrichment(edges, genes, tfs, top_k=20, n_permutations=200)
    assert res["top_k_tfs"] == 20 and res["fold"] == pytest.approx(10.0)
    assert res["nes"] > 1 and res["p_value"] < 0.01 and res["hypergeom_p"] < 1e-10
    shuffled = tf_enrichment(edges, genes, genes[100:120], top_k=20, n_permutations=200)
    assert shuffled["p_value"] > 0.05 and shuffled["top_k_tfs"] < 5
