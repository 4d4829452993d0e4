"""Head selection: the non-negative ridge solve and the choice of informative heads on held-out pairs."""

import numpy as np
import pytest
import scipy.optimize
import torch

from scprint_graph.head_selection import fit_nonnegative_ridge, head_scores, select_heads


def test_normal_equation_solve_equals_the_augmented_nnls():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    labels = rng.random(300) < 0.2
    weights = np.where(labels, 4.0, 1.0)
    y = np.where(labels, 1.0, -1.0)
    alpha = 2.0
    augmented = np.vstack([x * np.sqrt(weights)[:, None], np.sqrt(alpha) * np.eye(6)])
    expected, _ = scipy.optimize.nnls(augmented, np.append(y * np.sqrt(weights), np.zeros(6)))
    coef = fit_nonnegative_ridge(x, labels, alpha=alpha, positive_weight=4.0)
    np.testing.assert_allclose(coef, expected, atol=1e-8)
    assert (coef >= 0).all()


def test_informative_heads_are_selected_and_help_on_held_out_pairs():
    rng = np.random.default_rng(1)
    n_pairs = 4000
    truth = rng.random(n_pairs) < 0.05
    noise = rng.random((n_pairs, 6)) * 0.1
    scores = noise.copy()
    scores[:, 1] += truth * 0.08  # informative
    scores[:, 4] += truth * 0.07  # informative
    scores[:, 2] -= truth * 0.05  # anti-informative: must get weight 0
    head_ids = [(layer, head) for layer in range(2) for head in range(3)]
    selection = select_heads(scores, truth, head_ids, train_fraction=0.5)
    assert {(0, 1), (1, 1)} <= set(selection.selected)
    assert (0, 2) not in selection.selected
    assert selection.test_metrics["selected"]["auprc"] > selection.test_metrics["all"]["auprc"]
    assert selection.test_metrics["n_test"] == 2000
    with pytest.raises(ValueError, match="train_fraction"):
        select_heads(scores, truth, head_ids, train_fraction=1.0)


def test_head_scores_gather_each_head():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 9, 4, generator=gen)
    k = torch.randn(2, 3, 9, 4, generator=gen)
    targets, regulators = np.array([0, 1, 5]), np.array([2, 0, 5])
    scores, head_ids = head_scores(q, k, 2, targets, regulators)
    assert scores.shape == (3, 6) and head_ids[4] == (1, 1)
    full = torch.softmax(q[1, 1] @ k[1, 1].T / 2.0, dim=-1)[2:, 2:]
    np.testing.assert_allclose(scores[:, 4], full[targets, regulators].numpy(), rtol=1e-5)
