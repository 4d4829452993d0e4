"""The benchmark's simulator and baselines (bench/): planted structure is visible to the baselines."""

import numpy as np
import pytest

from bench.baselines import abs_pearson, genie3, matrix_to_edges, random_scores
from bench.simulate import SimulationConfig, simulate
from scprint_graph.grn_metrics import evaluate_network


@pytest.fixture(scope="module")
def small_simulation(human_vocab):
    config = SimulationConfig(n_genes=30, n_regulators=6, n_master=2, cells_per_type=80, burn_in_steps=150)
    return simulate(config, vocab=human_vocab)


def test_simulation_shapes_and_truth(small_simulation):
    sim = small_simulation
    assert sim.adata.shape == (240, 30)
    assert set(sim.adata.obs["cell_type"]) == {"type_0", "type_1", "type_2"}
    regs = set(sim.truth.column("regulator").to_pylist())
    assert regs <= set(sim.regulators)  # only the regulator genes regulate
    targets = sim.truth.column("target").to_pylist()
    assert set(sim.adata.var_names[2:]) <= set(targets)  # every non-master gene has an input
    x = sim.adata.X.toarray()
    assert (x >= 0).all() and np.allclose(x, np.rint(x)) and 0.1 < (x == 0).mean() < 0.9


def test_pearson_recovers_the_planted_network_better_than_chance(small_simulation):
    sim = small_simulation
    genes = list(sim.adata.var_names)
    pearson = evaluate_network(matrix_to_edges(abs_pearson(sim.adata.X), genes), genes, sim.truth)
    chance = evaluate_network(matrix_to_edges(random_scores(30), genes), genes, sim.truth)
    assert pearson["epr"] > 2.0 > chance["epr"]
    assert pearson["auprc"] > chance["auprc"]


def test_genie3_finds_a_planted_regulator_as_regulator_by_target():
    rng = np.random.default_rng(0)
    counts = rng.poisson(5, size=(400, 40)).astype(float)
    counts[:, 1] = rng.poisson(counts[:, 0] * 3 + 1)  # gene 1 depends on gene 0; the rest is noise
    scores = genie3(counts, n_trees=30)
    assert scores[0, 1] == scores[:, 1].max() and scores[0, 1] > 3 * np.sort(scores[:, 1])[-2]
    assert np.all(np.diag(scores) == 0)
