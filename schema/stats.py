"""Over-representation statistics: hypergeometric p-values, Haldane odds ratios, Benjamini-Hochberg FDR."""

import numpy as np
from scipy.stats import false_discovery_control, hypergeom


def hypergeom_pvalues(overlap, query_size, set_size, universe_size) -> np.ndarray:
    """P(X >= overlap) for X ~ Hypergeom(universe_size, set_size, query_size), elementwise."""
    overlap = np.asarray(overlap, dtype=np.int64)
    return hypergeom.sf(overlap - 1, universe_size, set_size, query_size)


def haldane_odds_ratio(overlap, query_size, set_size, universe_size) -> np.ndarray:
    """Odds ratio of the 2x2 table with 0.5 added to every cell (finite when a cell is zero).

    a = query in set, b = query not in set, c = set not in query, d = neither.
    """
    a = np.asarray(overlap, dtype=np.float64)
    b = np.asarray(query_size, dtype=np.float64) - a
    c = np.asarray(set_size, dtype=np.float64) - a
    d = np.asarray(universe_size, dtype=np.float64) - a - b - c
    return (a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5))


def bh_fdr(pvalues, n_tests: int | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values.

    ``n_tests`` > len(pvalues) counts tests left out because their p-value is 1 (no overlap): they make the
    correction stricter exactly as if they had been passed.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.size == 0:
        return p
    n_tests = p.size if n_tests is None else n_tests
    if n_tests < p.size:
        msg = f"n_tests ({n_tests}) is smaller than the number of p-values ({p.size})"
        raise ValueError(msg)
    padded = np.concatenate([p, np.ones(n_tests - p.size)])
    return false_discovery_control(padded, method="bh")[: p.size]
