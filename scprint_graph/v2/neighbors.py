"""Each cell's nearest neighbour cells, which scPRINT-2's expression encoder reads.

The graph: the dataset's own kNN graph when it has one (scanpy's ``obsp['distances']``, described by
``uns['neighbors']``), else one computed the way scPRINT-2's pipeline does (scDataLoader's ``Preprocessor``
then ``sc.pp.neighbors(adata, use_rep="X_pca")``): log1p of counts per 10k over all genes, PCA with 50
components (``n_cells // 20`` at most 1,000 cells), 15 neighbours counting the cell itself, euclidean.
scanpy is not a dependency; its two search paths are reproduced. Below 8,192 cells scanpy searches exactly
(scikit-learn brute force): here an exact blockwise search. From 8,192 cells it uses pynndescent (what
scprint2 1.0.3 installs) with UMAP's settings, ``n_trees = min(64, 5 + round(sqrt(n) / 20))`` and
``n_iters = max(5, round(log2 n))``: here the same call (``n_jobs=1``, so that a seed gives one graph on any
machine). The method, k, the search settings and the seed are in the graph's ``params``, which networks
record.

Memory is bounded: the count matrix is streamed in row chunks of ``CHUNK`` cells for the PCA; the exact
search holds one block of ``DISTANCE_BLOCK_BYTES`` (64 MiB) of distances at a time; the approximate one
holds its index, linear in the cells (peak about 300 bytes per cell beyond the components, measured at
400,000 cells x 50 PCs); and both the (n_cells, n_pcs) float32 components and the (n_cells, k) result.
Time (one core): exact is quadratic, 3.6 s for 20,000 cells (so about 25 min for 400,000); pynndescent took
0.9 s for 20,000 and 40 s for 400,000 clustered cells, after numba's one-off compilation (about 30 s per
process, paid only by datasets that reach the approximate path).

Which neighbours a cell gets (scDataLoader's ``SimpleAnnDataset`` with ``get_knn_cells``): within the cells
given to the model (scPRINT-2 subsets the AnnData, and with it the graph, to the group and its kept cells),
the ``n_neighbors`` (6) nearest by stored distance, nearest first; the neighbour's raw counts (cast to int)
and its distance feed the encoder. A cell with fewer neighbours in the group has its free slots filled with
itself at distance 0 (scPRINT-2 fills them with arbitrary cells at distance 0, an argsort tie).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

KNN_K = 15  # scanpy's default n_neighbors (the cell itself included)
PCA_COMPONENTS = 50
CHUNK = 4096
DISTANCE_BLOCK_BYTES = 1 << 26  # (rows x cells) float32 distances computed at once
EXACT_BELOW = 8192  # scanpy: a euclidean graph of fewer cells is searched exactly


@dataclass
class NeighborGraph:
    """A kNN graph over an AnnData's cells: ``distances`` (cells x cells, CSR, 0 = not a neighbour)."""

    distances: sp.csr_matrix
    params: dict = field(default_factory=dict)

    def subset(self, rows: np.ndarray) -> NeighborGraph:
        """The graph among ``rows`` only (positions or a boolean mask), as AnnData subsetting does to obsp."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.int64)
        return NeighborGraph(self.distances[rows][:, rows].tocsr(), dict(self.params))

    def nearest(self, rows: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n_neighbors`` nearest neighbours of each of ``rows`` among ``rows`` themselves.

        Returns positions into ``rows`` ``(len(rows), n_neighbors)`` and their distances (float32).
        """
        rows = np.asarray(rows, dtype=np.int64)
        sub = self.distances[rows][:, rows].tocsr()  # the graph restricted to the model's cells
        sub.sort_indices()
        index = np.repeat(np.arange(len(rows))[:, None], n_neighbors, axis=1)  # fill: the cell itself
        dist = np.zeros((len(rows), n_neighbors), dtype=np.float32)
        for r in range(len(rows)):
            lo, hi = sub.indptr[r], sub.indptr[r + 1]
            cols, vals = sub.indices[lo:hi], sub.data[lo:hi]
            keep = (vals > 0) & (cols != r)
            cols, vals = cols[keep], vals[keep]
            order = np.argsort(vals, kind="stable")[:n_neighbors]
            index[r, : len(order)] = cols[order]
            dist[r, : len(order)] = vals[order]
        return index, dist


def neighbor_graph(
    adata: ad.AnnData,
    *,
    layer: str | None = None,
    counts=None,
    seed: int = 0,
    exact_below: int = EXACT_BELOW,
) -> NeighborGraph:
    """The dataset's kNN graph (``obsp['distances']``), or when it has none one computed as scPRINT-2 does
    from the raw counts in ``X``, ``layer``, or ``counts`` (a matrix over the same cells, e.g. ``raw.X``):
    exact below ``exact_below`` cells, pynndescent's approximate search from there (module docstring)."""
    if "distances" in adata.obsp:
        distances = sp.csr_matrix(adata.obsp["distances"], dtype=np.float32)
        if distances.shape != (adata.n_obs, adata.n_obs):
            msg = f"obsp['distances'] has shape {distances.shape}, expected ({adata.n_obs}, {adata.n_obs})"
            raise ValueError(msg)
        found = dict(adata.uns.get("neighbors", {}).get("params", {}))
        params = {
            "source": "obsp['distances']",
            "method": str(found.get("method", "unknown")),
            "metric": str(found.get("metric", "unknown")),
            "k": int(found["n_neighbors"]) if "n_neighbors" in found else None,
        }
        return NeighborGraph(distances, params)
    matrix = counts if counts is not None else adata.layers[layer] if layer is not None else adata.X
    pcs = log_pca(matrix, adata.n_obs, seed=seed)
    if adata.n_obs < exact_below:
        distances = exact_knn(pcs, KNN_K)
        search = {"method": "exact euclidean kNN on PCA of log1p(CP10k) (scanpy pp.neighbors' exact path)"}
    else:
        distances, settings = approximate_knn(pcs, KNN_K, seed=seed)
        search = {"method": "pynndescent on PCA of log1p(CP10k) (scanpy pp.neighbors' path)", **settings}
    params = {"source": "computed", **search, "metric": "euclidean", "k": KNN_K, "n_pcs": int(pcs.shape[1])}
    params["seed"] = seed
    logger.info("computed a %d-NN graph of %d cells on %d PCs", KNN_K, adata.n_obs, pcs.shape[1])
    return NeighborGraph(distances, params)


def _lognorm_rows(matrix, lo: int, hi: int) -> sp.csr_matrix:
    block = matrix[lo:hi]
    block = sp.csr_matrix(block if sp.issparse(block) else np.asarray(block), dtype=np.float64)
    depth = np.asarray(block.sum(axis=1)).ravel()
    scale = np.repeat(1e4 / np.maximum(depth, 1e-12), np.diff(block.indptr))
    block.data = np.log1p(block.data * scale)
    return block


def log_pca(matrix, n_cells: int, *, seed: int = 0, n_iter: int = 6) -> np.ndarray:
    """(n_cells, n_pcs) principal components of log1p(CP10k), centred, by randomized subspace iteration."""
    n_genes = matrix.shape[1]
    n_pcs = PCA_COMPONENTS if n_cells > 1000 else max(2, n_cells // 20)
    n_pcs = min(n_pcs, n_cells - 1, n_genes - 1)
    if n_pcs < 1:
        msg = f"too few cells ({n_cells}) or genes ({n_genes}) for a neighbour graph"
        raise ValueError(msg)
    chunks = [(lo, min(lo + CHUNK, n_cells)) for lo in range(0, n_cells, CHUNK)]
    mean = np.zeros(n_genes)
    for lo, hi in chunks:
        mean += np.asarray(_lognorm_rows(matrix, lo, hi).sum(axis=0)).ravel()
    mean /= n_cells
    width = min(n_pcs + 10, n_genes, n_cells)
    basis = np.random.default_rng(seed).standard_normal((n_genes, width))

    def times(right: np.ndarray) -> np.ndarray:  # (X - mean) @ right, (n_cells, width)
        return np.vstack([_lognorm_rows(matrix, lo, hi) @ right for lo, hi in chunks]) - mean @ right

    def times_t(left: np.ndarray) -> np.ndarray:  # (X - mean).T @ left, (n_genes, width)
        out = np.zeros((n_genes, left.shape[1]))
        for lo, hi in chunks:
            out += _lognorm_rows(matrix, lo, hi).T @ left[lo:hi]
        return out - np.outer(mean, left.sum(axis=0))

    q = np.linalg.qr(times(basis))[0]
    for _ in range(n_iter):
        q = np.linalg.qr(times(np.linalg.qr(times_t(q))[0]))[0]
    u, s, _ = np.linalg.svd(times_t(q).T, full_matrices=False)  # (width, width)
    pcs = (q @ u)[:, :n_pcs] * s[:n_pcs]
    signs = np.sign(pcs[np.abs(pcs).argmax(axis=0), np.arange(n_pcs)])  # deterministic sign
    return (pcs * signs).astype(np.float32)


def exact_knn(points: np.ndarray, k: int) -> sp.csr_matrix:
    """scanpy-layout distances: each cell's ``k - 1`` nearest other cells (k counts the cell itself)."""
    n = points.shape[0]
    k_other = min(k - 1, n - 1)
    sq = (points.astype(np.float64) ** 2).sum(axis=1)
    block = max(1, DISTANCE_BLOCK_BYTES // (8 * max(n, 1)))
    rows, cols, vals = [], [], []
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        d2 = sq[lo:hi, None] + sq[None, :] - 2.0 * points[lo:hi].astype(np.float64) @ points.T
        d2[np.arange(hi - lo), np.arange(lo, hi)] = np.inf  # not its own neighbour
        nearest = np.argpartition(d2, k_other - 1, axis=1)[:, :k_other]
        picked = np.sqrt(np.maximum(np.take_along_axis(d2, nearest, axis=1), 0.0))
        rows.append(np.repeat(np.arange(lo, hi), k_other))
        cols.append(nearest.ravel())
        vals.append(np.maximum(picked.ravel(), 1e-12))  # a stored 0 would read as "not a neighbour"
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )


def approximate_knn(points: np.ndarray, k: int, *, seed: int = 0) -> tuple[sp.csr_matrix, dict]:
    """``exact_knn``'s layout from pynndescent's search with UMAP's settings (as scanpy calls it), and them.

    pynndescent is imported here: its numba functions compile on import, which only large graphs need.
    """
    from pynndescent import NNDescent

    n = points.shape[0]
    settings = {
        "n_trees": min(64, 5 + round(n**0.5 / 20.0)),
        "n_iters": max(5, round(float(np.log2(n)))),
        "n_jobs": 1,
    }
    index = NNDescent(
        np.ascontiguousarray(points, dtype=np.float32),
        n_neighbors=min(k, n),
        metric="euclidean",
        random_state=seed,
        low_memory=True,
        verbose=False,
        **settings,
    )
    found, dist = index.neighbor_graph  # (n, k) each, nearest first, usually the cell itself first
    k_other = min(k - 1, n - 1)
    other = (found != np.arange(n)[:, None]) & (found >= 0)  # -1: a slot the search left empty
    other &= np.cumsum(other, axis=1) <= k_other  # the k - 1 nearest others (the last if self was missed)
    rows = np.repeat(np.arange(n), other.sum(axis=1))
    vals = np.maximum(dist[other].astype(np.float32), 1e-12)  # a stored 0 would read as "not a neighbour"
    graph = sp.csr_matrix((vals, (rows, found[other])), shape=(n, n), dtype=np.float32)
    return graph, settings
