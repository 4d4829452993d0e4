import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from scprint_graph.losses import (
    hierarchical_label_loss,
    hierarchy_matrix,
    token_dissimilarity,
    zinb_log_likelihood,
    zinb_loss,
)


def test_zinb_matches_scipy():
    rng = np.random.default_rng(0)
    x = np.array([0, 0, 1, 3, 7, 25, 0, 2], dtype=np.float64)
    mean = rng.uniform(0.1, 10, size=x.shape)
    theta = rng.uniform(0.2, 5, size=x.shape)
    zero_logit = rng.normal(size=x.shape)
    pi = 1 / (1 + np.exp(-zero_logit))
    nb = stats.nbinom.pmf(x, theta, theta / (theta + mean))
    expected = np.log(np.where(x == 0, pi + (1 - pi) * nb, (1 - pi) * nb))
    got = zinb_log_likelihood(*(torch.tensor(a, dtype=torch.float32) for a in (x, mean, theta, zero_logit)))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_zinb_without_inflation_is_torch_negative_binomial():
    x = torch.tensor([0.0, 1.0, 4.0, 12.0])
    mean = torch.tensor([0.5, 2.0, 4.0, 9.0])
    theta = torch.tensor([1.0, 0.5, 3.0, 2.0])
    # torch parametrises by total_count=theta and logits=log(mean/theta)
    reference = torch.distributions.NegativeBinomial(total_count=theta, logits=torch.log(mean / theta))
    got = zinb_log_likelihood(x, mean, theta, torch.full_like(x, -60.0))
    torch.testing.assert_close(got, reference.log_prob(x), rtol=1e-4, atol=1e-5)
    assert zinb_loss(x, mean, theta, torch.full_like(x, -60.0)) == pytest.approx(-got.mean().item())


def test_zinb_is_a_distribution():
    counts = torch.arange(0, 400, dtype=torch.float32)
    ll = zinb_log_likelihood(
        counts, torch.full_like(counts, 6.0), torch.full_like(counts, 1.5), torch.full_like(counts, 0.3)
    )
    assert torch.exp(ll).sum().item() == pytest.approx(1.0, abs=1e-4)


def test_leaf_labels_are_one_hot_bce():
    logits = torch.randn(3, 4)
    labels = torch.tensor([2, 0, 3])
    target = F.one_hot(labels, 4).float()
    expected = F.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(hierarchical_label_loss(logits, labels), expected)


def test_unknown_labels_carry_no_loss_but_count_in_the_mean():
    logits = torch.randn(3, 4, requires_grad=True)
    labels = torch.tensor([1, -1, -1])
    loss = hierarchical_label_loss(logits, labels)
    # scPRINT averages over every (cell, leaf) entry: the two unknown cells add zeros to the mean
    torch.testing.assert_close(loss, hierarchical_label_loss(logits[:1], labels[:1]) / 3)
    loss.backward()
    assert torch.all(logits.grad[1:] == 0)
    all_unknown = hierarchical_label_loss(logits, torch.tensor([-1, -1, -1]))
    assert all_unknown.item() == 0.0


def test_parent_label_scored_by_logsumexp_of_descendants():
    hierarchy = hierarchy_matrix(4, ((0, 1), (1, 2, 3)))
    logits = torch.randn(1, 4)
    loss = hierarchical_label_loss(logits, torch.tensor([4]), hierarchy)  # parent 0: leaves {0, 1}
    # non-descendant leaves 2 and 3 are negatives; the parent logit logsumexp(l0, l1) is a positive;
    # descendants 0 and 1 carry no loss but count in the mean over the 4 + 1 entries
    parent_logit = torch.logsumexp(logits[0, :2], dim=0)
    terms = torch.stack(
        [
            F.binary_cross_entropy_with_logits(logits[0, 2], torch.tensor(0.0)),
            F.binary_cross_entropy_with_logits(logits[0, 3], torch.tensor(0.0)),
            F.binary_cross_entropy_with_logits(parent_logit, torch.tensor(1.0)),
        ]
    )
    torch.testing.assert_close(loss, terms.sum() / 5)
    # raising a descendant's logit lowers the loss; raising a non-descendant's raises it
    up_descendant = logits.clone()
    up_descendant[0, 1] += 3
    up_other = logits.clone()
    up_other[0, 3] += 3
    assert hierarchical_label_loss(up_descendant, torch.tensor([4]), hierarchy) < loss
    assert hierarchical_label_loss(up_other, torch.tensor([4]), hierarchy) > loss


def original_label_loss(logits: np.ndarray, labels: np.ndarray, parents: dict[int, set[int]]) -> float:
    """scPRINT 1.6.4 ``loss.classification`` written out entry by entry (loss.py:199-271).

    Targets: one-hot leaf; weights: 0 for unknown cells and for a parent label's descendants; when any
    label is a parent, one more column (log-sum-exp of the descendants, target 1, weight 1 on parent
    rows only); then ``binary_cross_entropy_with_logits(..., weight)`` with its default mean reduction.
    """
    n_cells, n_leaves = logits.shape
    any_parent = bool((labels >= n_leaves).any())
    n_columns = n_leaves + int(any_parent)

    def bce(x: float, y: float) -> float:
        return max(x, 0.0) - x * y + np.log1p(np.exp(-abs(x)))

    total = 0.0
    for i in range(n_cells):
        label = int(labels[i])
        if label == -1:
            continue
        descendants = parents.get(label - n_leaves, set()) if label >= n_leaves else set()
        for j in range(n_leaves):
            if j in descendants:
                continue
            total += bce(logits[i, j], 1.0 if j == label else 0.0)
        if label >= n_leaves:
            lse = np.log(np.sum(np.exp([logits[i, j] for j in sorted(descendants)])))
            total += bce(lse, 1.0)
    return total / (n_cells * n_columns)


@pytest.mark.parametrize("with_parents", [False, True])
def test_label_loss_equals_the_original_formula(with_parents):
    rng = np.random.default_rng(3)
    n_leaves = 6
    parents = {0: {0, 1, 2}, 1: {3, 5}}  # parent labels 6 and 7
    labels = np.array([0, 5, -1, 2, -1, 6, 7, 3, -1, 6] if with_parents else [0, 5, -1, 2, -1, 4, 1, -1])
    logits = rng.normal(0, 2, size=(len(labels), n_leaves))
    hierarchy = hierarchy_matrix(n_leaves, tuple(tuple(sorted(v)) for _, v in sorted(parents.items())))
    got = hierarchical_label_loss(torch.tensor(logits), torch.tensor(labels), hierarchy)
    expected = original_label_loss(logits, labels, parents)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_parent_label_errors():
    with pytest.raises(ValueError, match="4"):
        hierarchical_label_loss(torch.randn(2, 4), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="6"):
        hierarchical_label_loss(torch.randn(1, 4), torch.tensor([6]), hierarchy_matrix(4, ((0,),)))


def test_token_dissimilarity():
    same = torch.ones(2, 3, 8)
    assert token_dissimilarity(same).item() == pytest.approx(6 / 9)
    orthogonal = torch.eye(3)[None].repeat(2, 1, 1)
    assert token_dissimilarity(orthogonal).item() == pytest.approx(0.0)
