"""Over-representation statistics: hypergeometric p-values, Haldane odds ratios, Benjamini-Hochberg FDR."""

import numpy as np
from scipy.special import gammaln


def _log_pmf(i, n, k, m):
    return (
        gammaln(k + 1) - gammaln(i + 1) - gammaln(k - i + 1)
        + gammaln(m - k + 1) - gammaln(n - i + 1) - gammaln(m - k - n + i + 1)
        - gammaln(m + 1) + gammaln(n + 1) + gammaln(m - n + 1)
    )  # fmt: skip


def _tail_sum(start, stop, n, k, m, step: int) -> np.ndarray:
    """Sum of probabilities from ``start`` towards ``stop`` (inclusive), moving away from the mode.

    Terms shrink geometrically away from the mode, so the loop ends once they stop changing the sum.
    """
    term = np.exp(_log_pmf(start, n, k, m))
    total = term.copy()
    i = start.copy()
    live = np.flatnonzero(i != stop)
    while live.size:
        j = i[live]
        nl, kl, ml = n[live], k[live], m[live]
        if step > 0:  # P(i + 1) / P(i)
            term[live] *= (kl - j) * (nl - j) / ((j + 1) * (ml - kl - nl + j + 1))
        else:  # P(i - 1) / P(i)
            term[live] *= j * (ml - kl - nl + j) / ((kl - j + 1) * (nl - j + 1))
        i[live] += step
        total[live] += term[live]
        live = live[(i[live] != stop[live]) & (term[live] >= total[live] * 1e-17)]
    return total


def hypergeom_pvalues(overlap, query_size, set_size, universe_size) -> np.ndarray:
    """P(X >= overlap) for X ~ Hypergeom(universe_size, set_size, query_size), elementwise.

    Above the mean the upper tail is summed from ``overlap`` up; below it, 1 minus the lower tail summed
    from ``overlap - 1`` down (accurate there, as p is close to 1). Both use the ratio of consecutive
    probabilities, all rows at once. scipy's ``hypergeom.sf`` gives the same values (tests check) but takes
    ~75 microseconds a call on 20,000-gene universes: seconds for the 10^5 tests of one gene list.
    """
    shape = np.broadcast_shapes(*(np.shape(x) for x in (overlap, query_size, set_size, universe_size)))
    a, n, k, m = (
        np.broadcast_to(np.asarray(x, dtype=np.float64), shape).ravel()
        for x in (overlap, query_size, set_size, universe_size)
    )
    low, top = np.maximum(0.0, n + k - m), np.minimum(n, k)
    p = np.where(a <= low, 1.0, 0.0)  # overlap at or below the support: certain; above it: impossible
    mean = n * k / np.maximum(m, 1)
    upper = np.flatnonzero((a > low) & (a <= top) & (a > mean))
    lower = np.flatnonzero((a > low) & (a <= top) & (a <= mean))
    if upper.size:
        p[upper] = _tail_sum(a[upper], top[upper], n[upper], k[upper], m[upper], step=1)
    if lower.size:
        p[lower] = 1.0 - _tail_sum(a[lower] - 1, low[lower], n[lower], k[lower], m[lower], step=-1)
    return np.clip(p, 0.0, 1.0).reshape(shape)


def haldane_odds_ratio(overlap, query_size, set_size, universe_size) -> np.ndarray:
    """Odds ratio of the 2x2 table with 0.5 added to every cell (finite when a cell is zero).

    a = query in set, b = query not in set, c = set not in query, d = neither.
    """
    a = np.asarray(overlap, dtype=np.float64)
    b = np.asarray(query_size, dtype=np.float64) - a
    c = np.asarray(set_size, dtype=np.float64) - a
    d = np.asarray(universe_size, dtype=np.float64) - a - b - c
    return (a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5))


def bh_fdr(pvalues, n_tests: int | None = None, *, counts=None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values.

    ``counts[i]`` tests share ``pvalues[i]`` (default: one each): a caller with many tests of equal counts
    passes each distinct p-value once. ``n_tests`` greater than the tests given counts tests left out
    because their p-value is 1 (no overlap): they make the correction stricter exactly as if they had been
    passed, and as they rank last, they change no other test's adjusted value but through ``n_tests``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    multiplicity = np.ones(flat.size, dtype=np.int64) if counts is None else np.asarray(counts).ravel()
    if not ((flat >= 0) & (flat <= 1)).all():  # NaN fails both
        msg = "p-values must lie between 0 and 1"
        raise ValueError(msg)
    if multiplicity.shape != flat.shape or (multiplicity < 1).any():
        msg = f"counts must give a positive count for each of the {flat.size} p-values"
        raise ValueError(msg)
    given = int(multiplicity.sum())
    n_tests = given if n_tests is None else n_tests
    if n_tests < given:
        msg = f"n_tests ({n_tests}) is smaller than the number of tests given ({given})"
        raise ValueError(msg)
    if flat.size == 0:
        return p
    order = np.argsort(flat, kind="stable")
    last_rank = np.cumsum(multiplicity[order])  # rank of the last test of each p-value, p ascending
    scaled = flat[order] * (n_tests / last_rank)
    adjusted = np.empty_like(flat)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted.reshape(p.shape)
