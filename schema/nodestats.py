"""Per-network node statistics, computed once when a network is written.

They are computed with numpy from the edge arrays ``add_edges`` already holds in memory, rather than in SQL
after the load: a second pass over 100 M stored edges (group-bys for the degrees, a fetch for PageRank)
cost more than the load itself. PageRank cannot be written in SQL, and building a networkx graph per network
costs more than the whole load, so it is a scipy.sparse power iteration. Both match networkx (see
tests/schema/test_writer.py).
"""

import logging

import numpy as np
import pyarrow as pa
from scipy.sparse import csc_matrix, csr_matrix

log = logging.getLogger(__name__)


def pagerank(
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    n_nodes: int,
    *,
    alpha: float = 0.85,
    tol: float = 1e-6,
    max_iter: int = 100,
) -> np.ndarray:
    """Weighted PageRank of a directed graph on nodes ``0 .. n_nodes - 1``, as ``networkx.pagerank``.

    Parameters
    ----------
    source, target, weight
        One entry per edge: source and target node indices, weight (its absolute value is used).
    n_nodes
        Number of nodes; every node should have an edge.
    alpha, tol, max_iter
        As in networkx: damping, per-node L1 tolerance, iteration cap.

    Returns
    -------
    The PageRank of each node (float64, sums to 1). Dangling nodes spread their rank uniformly.
    """
    if n_nodes == 0:
        return np.zeros(0)
    w = np.abs(np.asarray(weight, dtype=np.float64))
    out_w = np.bincount(source, weights=w, minlength=n_nodes)
    dangling = out_w <= 0
    from_out = out_w[source]
    share = np.divide(w, from_out, out=np.zeros_like(w), where=from_out > 0)  # edge's share of its source
    if source.size and np.all(source[1:] >= source[:-1]):
        # Edges grouped by source are already the columns of the (target x source) matrix: no sort needed.
        indptr = np.concatenate([[0], np.cumsum(np.bincount(source, minlength=n_nodes))])
        transition = csc_matrix((share, target, indptr), shape=(n_nodes, n_nodes))
    else:
        transition = csr_matrix((share, (target, source)), shape=(n_nodes, n_nodes))
    x = np.full(n_nodes, 1.0 / n_nodes)
    for _ in range(max_iter):
        new = alpha * (transition @ x) + (alpha * x[dangling].sum() + 1.0 - alpha) / n_nodes
        err = np.abs(new - x).sum()
        x = new
        if err < n_nodes * tol:
            break
    else:
        log.warning("PageRank did not converge in %d iterations", max_iter)
    return x


def node_stats_table(
    network_id: int, regulator: np.ndarray, target: np.ndarray, weight: np.ndarray
) -> pa.Table:
    """Node statistics of one network from its edge arrays, as rows of the ``node_stats`` table.

    Degrees are counts and weight sums of out- and in-edges, degree centrality is (in + out) / (n - 1) as in
    networkx, PageRank is ``pagerank`` (weighted, damping 0.85). Rows are sorted by gene id.
    """
    regulator = np.asarray(regulator, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    width = int(max(regulator.max(), target.max())) + 1 if regulator.size else 0
    out_degree = np.bincount(regulator, minlength=width)
    in_degree = np.bincount(target, minlength=width)
    genes = np.flatnonzero(out_degree + in_degree)  # nodes: genes with an edge, in gene id order
    n = genes.size
    node = np.zeros(width, dtype=np.int64)
    node[genes] = np.arange(n)
    rank = pagerank(node[regulator], node[target], w, n)
    out_weight = np.bincount(regulator, weights=w, minlength=width)[genes]
    in_weight = np.bincount(target, weights=w, minlength=width)[genes]
    out_degree, in_degree = out_degree[genes], in_degree[genes]
    centrality = (in_degree + out_degree) / (n - 1) if n > 1 else np.zeros(n)
    return pa.table(
        {
            "network_id": pa.array(np.full(n, network_id, dtype=np.int32)),
            "gene_id": pa.array(genes.astype(np.int32)),
            "in_degree": pa.array(in_degree.astype(np.int32)),
            "out_degree": pa.array(out_degree.astype(np.int32)),
            "weighted_in_degree": pa.array(in_weight.astype(np.float32)),
            "weighted_out_degree": pa.array(out_weight.astype(np.float32)),
            "degree_centrality": pa.array(centrality.astype(np.float32)),
            "pagerank": pa.array(rank.astype(np.float32)),
        }
    )
