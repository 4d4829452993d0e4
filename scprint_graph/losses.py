"""Losses of the scPRINT model: ZINB expression likelihood, hierarchical label loss, token dissimilarity.

Pure functions on tensors; ``ScPrintModel.loss`` combines them for a batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def zinb_log_likelihood(
    x: Tensor, mean: Tensor, theta: Tensor, zero_logit: Tensor, eps: float = 1e-8
) -> Tensor:
    """Elementwise log P(x) under a zero-inflated negative binomial.

    Parameters
    ----------
    x
        Observed counts (non-negative).
    mean, theta
        NB mean and inverse dispersion (positive): variance = mean + mean^2 / theta.
    zero_logit
        Logit of the zero-inflation probability pi.

    Notes
    -----
    P(0) = pi + (1 - pi) NB(0), P(k > 0) = (1 - pi) NB(k), computed in log space with
    log(sigmoid(z)) = -softplus(-z) (the scvi-tools / scPRINT formulation).
    """
    x, mean, theta, zero_logit = (t.float() for t in (x, mean, theta, zero_logit))
    log_theta_mean = torch.log(theta + mean + eps)
    nb_zero = theta * (torch.log(theta + eps) - log_theta_mean)  # log NB(0)
    log_one_minus_pi = -F.softplus(zero_logit)
    # log(pi + (1 - pi) NB(0)) = log(exp(z) + exp(nb_zero)) - log(1 + exp(z))
    case_zero = torch.logaddexp(zero_logit, nb_zero) - F.softplus(zero_logit)
    case_positive = (
        log_one_minus_pi
        + nb_zero
        + x * (torch.log(mean + eps) - log_theta_mean)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )
    return torch.where(x < eps, case_zero, case_positive)


def zinb_loss(x: Tensor, mean: Tensor, theta: Tensor, zero_logit: Tensor) -> Tensor:
    """Mean negative ZINB log-likelihood over all cells and context genes."""
    return -zinb_log_likelihood(x, mean, theta, zero_logit).mean()


def hierarchy_matrix(n_leaves: int, parent_leaves: tuple[tuple[int, ...], ...], device=None) -> Tensor:
    """(n_parents, n_leaves) bool: row j marks the leaf descendants of parent label ``n_leaves + j``."""
    mat = torch.zeros((len(parent_leaves), n_leaves), dtype=torch.bool, device=device)
    for j, leaves in enumerate(parent_leaves):
        mat[j, list(leaves)] = True
    return mat


def hierarchical_label_loss(logits: Tensor, labels: Tensor, hierarchy: Tensor | None = None) -> Tensor:
    """scPRINT's label loss: binary cross-entropy over leaf labels with parent labels as a soft max.

    Parameters
    ----------
    logits
        (batch, n_leaves) logits of the leaf labels.
    labels
        (batch,) int: a leaf index, ``n_leaves + j`` for parent label j, or -1 (unknown, no loss).
    hierarchy
        (n_parents, n_leaves) bool from :func:`hierarchy_matrix`; needed when labels hold parents.

    Notes
    -----
    A leaf label is a one-hot BCE target over all leaves. A parent label does not say which descendant
    the cell is: its descendant leaves carry no loss, the other leaves are negatives, and, when the batch
    holds any parent label, one extra logit per cell, log-sum-exp of the descendants' logits (a
    differentiable max), is pushed towards 1 for the parent-labelled cells. As in scPRINT
    (``loss.classification``), the weighted BCE is averaged over *every* (cell, logit) entry: unknown
    cells and the entries a parent label masks count in the denominator with zero loss, so a class with
    many unknown or parent labels weighs less, not more.
    """
    n_leaves = logits.shape[1]
    logits = logits.float()
    known = labels >= 0
    is_parent = labels >= n_leaves
    target = torch.zeros_like(logits)
    weight = known[:, None].float().expand_as(logits).clone()  # unknown cells: weight 0
    leaf_rows = (known & ~is_parent).nonzero().squeeze(1)
    target[leaf_rows, labels[leaf_rows]] = 1.0
    if not is_parent.any():
        return F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    if hierarchy is None:
        bad = int(labels[is_parent][0])
        msg = f"label {bad} is a parent label (>= {n_leaves} leaves) but no hierarchy was given"
        raise ValueError(msg)
    parent_index = labels[is_parent] - n_leaves
    if int(parent_index.max()) >= hierarchy.shape[0]:
        msg = f"label {int(labels.max())} is beyond the {n_leaves} leaves + {hierarchy.shape[0]} parents"
        raise ValueError(msg)
    descendants = hierarchy.to(logits.device)[parent_index]  # (n_parent_rows, n_leaves)
    weight[is_parent] = (~descendants).float()
    masked = logits[is_parent].masked_fill(~descendants, float("-inf"))
    extra_logit = torch.zeros(logits.shape[0], device=logits.device)
    extra_logit[is_parent] = torch.logsumexp(masked, dim=1)
    all_logits = torch.cat([logits, extra_logit[:, None]], dim=1)  # (batch, n_leaves + 1)
    all_target = torch.cat([target, torch.ones_like(extra_logit)[:, None]], dim=1)
    all_weight = torch.cat([weight, is_parent.float()[:, None]], dim=1)
    return F.binary_cross_entropy_with_logits(all_logits, all_target, weight=all_weight)


def token_dissimilarity(special_embeddings: Tensor) -> Tensor:
    """Mean |cosine similarity| between different special-token outputs (scPRINT keeps them distinct).

    ``special_embeddings`` is (batch, n_special, d); the batch-mean similarity matrix's off-diagonal mean.
    """
    x = F.normalize(special_embeddings.float(), dim=-1)
    sim = (x @ x.transpose(1, 2)).abs().mean(0)  # (n_special, n_special)
    n = sim.shape[0]
    off_diagonal = sim.masked_fill(torch.eye(n, dtype=torch.bool, device=sim.device), 0.0)
    return off_diagonal.sum() / (n * n)
