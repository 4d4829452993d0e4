"""Label-weighted sampling: the shares of batches each label category gets, as scDataLoader draws them."""

import numpy as np
import pandas as pd
import pytest
import torch

from scprint_graph.cells import label_sampling_weights
from scprint_graph.sampling import WeightedCellSampler

SCALER = 50.0


def original_category_shares(sizes: dict[str, int], scaler: float) -> dict[str, float]:
    """scDataLoader 1.7.0: category weight ``s / (n + s)`` (data.py:get_label_weights, return_categories),
    multiplied by the category's cell count in ``LabelWeightedSampler`` (datamodule.py:416), normalised."""
    mass = {k: (scaler / (n + scaler)) * n for k, n in sizes.items()}
    total = sum(mass.values())
    return {k: m / total for k, m in mass.items()}


def shares_of(weights: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    return {g: float(weights[groups == g].sum() / weights.sum()) for g in np.unique(groups)}


def test_shares_equal_the_original_formula_on_a_joint_label_distribution():
    # two label columns; the sampler flattens their joint distribution
    sizes = {
        ("T", "normal"): 3000,
        ("T", "covid"): 400,
        ("B", "normal"): 120,
        ("B", "covid"): 30,
        ("NK", "normal"): 5,
    }
    obs = pd.DataFrame(
        [key for key, n in sizes.items() for _ in range(n)], columns=["cell_type", "disease"]
    ).sample(frac=1.0, random_state=0)
    groups = (obs["cell_type"] + "/" + obs["disease"]).to_numpy()
    weights = label_sampling_weights(obs, ["cell_type", "disease"], scaler=SCALER)
    expected = original_category_shares({f"{a}/{b}": n for (a, b), n in sizes.items()}, SCALER)
    got = shares_of(weights, groups)
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-9), key
    # within a category every cell is equally likely (the original draws uniformly inside it)
    t_normal = weights[groups == "T/normal"]
    assert np.all(t_normal == t_normal[0])

    # and the sampler's draws follow these shares
    sampler = WeightedCellSampler(weights, 200_000, seed=1)
    drawn = groups[sampler.indices().numpy()]
    for key, share in expected.items():
        assert np.mean(drawn == key) == pytest.approx(share, abs=0.004), key


def test_issue_example_large_atlas():
    """Categories of 1e6 ... 10 cells: the original draws about 0.21 / 0.21 / 0.21 / 0.20 / 0.14 / 0.035."""
    sizes = [1_000_000, 100_000, 10_000, 1_000, 100, 10]
    obs = pd.DataFrame({"cell_type": np.repeat([f"c{i}" for i in range(len(sizes))], sizes)})
    weights = label_sampling_weights(obs, ["cell_type"], scaler=SCALER)
    got = shares_of(weights, obs["cell_type"].to_numpy())
    expected = original_category_shares({f"c{i}": n for i, n in enumerate(sizes)}, SCALER)
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), rtol=1e-9)
    np.testing.assert_allclose(list(got.values()), [0.21, 0.21, 0.21, 0.20, 0.14, 0.035], atol=0.006)


def test_inverse_count_weights_and_errors():
    obs = pd.DataFrame({"ct": ["a"] * 6 + ["b"] * 3 + ["c"], "d": ["x"] * 10})
    inverse = label_sampling_weights(obs, ["ct"], scaler=None)
    np.testing.assert_allclose(inverse[[0, 6, 9]], [1 / 6, 1 / 3, 1])
    strong = label_sampling_weights(obs, ["ct"], scaler=100)
    weak = label_sampling_weights(obs, ["ct"], scaler=1)
    assert weak[9] / weak[0] > strong[9] / strong[0]  # a smaller scaler balances more
    unknown = pd.DataFrame({"ct": ["a", "a", "a", "unknown"]})
    w = label_sampling_weights(unknown, ["ct"], scaler=SCALER)
    np.testing.assert_allclose(w, [SCALER / 53] * 3 + [SCALER / 51])  # "unknown" is a category of its own
    with pytest.raises(ValueError, match="scaler"):
        label_sampling_weights(obs, ["ct"], scaler=0)
    with pytest.raises(ValueError, match="zz"):
        label_sampling_weights(obs, ["zz"])


def test_sampler_is_reproducible_and_splits_ranks():
    weights = torch.rand(50).numpy()
    a = WeightedCellSampler(weights, 20, seed=3).indices()
    b = WeightedCellSampler(weights, 20, seed=3).indices()
    assert torch.equal(a, b)
    ranks = [WeightedCellSampler(weights, 10, rank=r, world_size=2, seed=3).indices() for r in (0, 1)]
    both = torch.stack(ranks, dim=1).reshape(-1)
    assert torch.equal(both, a)
