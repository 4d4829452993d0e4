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


def test_unknown_labels_carry_no_loss():
    logits = torch.randn(3, 4, requires_grad=True)
    labels = torch.tensor([1, -1, -1])
    loss = hierarchical_label_loss(logits, labels)
    torch.testing.assert_close(loss, hierarchical_label_loss(logits[:1], labels[:1]))
    loss.backward()
    assert torch.all(logits.grad[1:] == 0)
    all_unknown = hierarchical_label_loss(logits, torch.tensor([-1, -1, -1]))
    assert all_unknown.item() == 0.0


def test_parent_label_scored_by_logsumexp_of_descendants():
    hierarchy = hierarchy_matrix(4, ((0, 1), (1, 2, 3)))
    logits = torch.randn(1, 4)
    loss = hierarchical_label_loss(logits, torch.tensor([4]), hierarchy)  # parent 0: leaves {0, 1}
    # non-descendant leaves 2 and 3 are negatives; the parent logit logsumexp(l0, l1) is a positive
    parent_logit = torch.logsumexp(logits[0, :2], dim=0)
    terms = torch.stack(
        [
            F.binary_cross_entropy_with_logits(logits[0, 2], torch.tensor(0.0)),
            F.binary_cross_entropy_with_logits(logits[0, 3], torch.tensor(0.0)),
            F.binary_cross_entropy_with_logits(parent_logit, torch.tensor(1.0)),
        ]
    )
    torch.testing.assert_close(loss, terms.mean())
    # raising a descendant's logit lowers the loss; raising a non-descendant's raises it
    up_descendant = logits.clone()
    up_descendant[0, 1] += 3
    up_other = logits.clone()
    up_other[0, 3] += 3
    assert hierarchical_label_loss(up_descendant, torch.tensor([4]), hierarchy) < loss
    assert hierarchical_label_loss(up_other, torch.tensor([4]), hierarchy) > loss


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
