"""Per-network node statistics, computed once when a network is written.

They are computed with numpy from the edge arrays ``add_edges`` already holds in memory, rather than in SQL
after the load: a second pass over 100 M stored edges (group-bys for the degrees, a fetch for PageRank)
cost more than the load itself. PageRank cannot be written in SQL, and building a networkx graph per network
costs more than the whole load, so it is a scipy.sparse power iteration (over one network, or several at once
as one block-diagonal graph). Both match networkx (see tests/schema/test_writer.py).
"""

import logging

import numpy as np
import pyarrow as pa
from scipy.sparse import csr_matrix

log = logging.getLogger(__name__)

CHUNK_EDGES = 5_000_000  # edges per PageRank batch (about 100 MB of arrays)


def pagerank_blocks(
    network: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    *,
    alpha: float = 0.85,
    tol: float = 1e-6,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted PageRank of several networks at once.

    Parameters
    ----------
    network, source, target, weight
        One entry per edge: network id, regulator gene id, target gene id, weight (absolute value is used).
    alpha, tol, max_iter
        As in networkx: damping, per-node L1 tolerance, iteration cap.

    Returns
    -------
    (network_ids, gene_ids, pagerank) of every node (gene with an edge), sorted by network then gene.
    """
    network = np.asarray(network, dtype=np.int64)
    if network.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    # Dense node index of each (network, gene) pair: mark the pairs present in a (networks x genes) grid and
    # number them in grid order, which sorts nodes by network then gene without a sort.
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    offset = network - network.min()
    net_present = np.zeros(int(offset.max()) + 1, dtype=bool)
    net_present[offset] = True
    net_ids = np.flatnonzero(net_present) + network.min()
    net_of_edge = (np.cumsum(net_present) - 1)[offset]
    width = int(max(source.max(), target.max())) + 1
    present = np.zeros(net_ids.size * width, dtype=bool)
    src_cell, dst_cell = net_of_edge * width + source, net_of_edge * width + target
    present[src_cell] = True
    present[dst_cell] = True
    cells = np.flatnonzero(present)
    index = np.cumsum(present) - 1
    src, dst = index[src_cell], index[dst_cell]
    node_net = cells // width
    nodes_gene = cells % width
    n_nodes = cells.size
    net_size = np.bincount(node_net, minlength=net_ids.size).astype(np.float64)  # nodes per network
    inv_size = 1.0 / net_size[node_net]
    w = np.abs(np.asarray(weight, dtype=np.float64))
    out_w = np.bincount(src, weights=w, minlength=n_nodes)
    dangling = out_w <= 0
    share = np.divide(w, out_w[src], out=np.zeros_like(w), where=out_w[src] > 0)  # edge's share of its source
    transition = csr_matrix((share, (dst, src)), shape=(n_nodes, n_nodes))  # column-stochastic but dangling
    x = inv_size.copy()
    for _ in range(max_iter):
        lost = np.bincount(node_net[dangling], weights=x[dangling], minlength=net_size.size)
        new = alpha * (transition @ x) + (alpha * lost + 1.0 - alpha)[node_net] * inv_size
        err = np.bincount(node_net, weights=np.abs(new - x), minlength=net_size.size)
        x = new
        if np.all(err < net_size * tol):
            break
    else:
        log.warning("PageRank did not converge in %d iterations", max_iter)
    return net_ids[node_net], nodes_gene, x


def node_stats_table(
    network_id: int, regulator: np.ndarray, target: np.ndarray, weight: np.ndarray
) -> pa.Table:
    """Node statistics of one network from its edge arrays, as rows of the ``node_stats`` table.

    Degrees are counts and weight sums of out- and in-edges, degree centrality is (in + out) / (n - 1) as in
    networkx, PageRank is ``pagerank_blocks`` (weighted, damping 0.85). Rows are sorted by gene id.
    """
    network = np.full(regulator.size, network_id, dtype=np.int64)
    _, genes, rank = pagerank_blocks(network, regulator, target, weight)
    n = genes.size
    w = np.asarray(weight, dtype=np.float64)
    width = int(genes.max()) + 1 if n else 0
    out_degree = np.bincount(regulator, minlength=width)[genes]
    in_degree = np.bincount(target, minlength=width)[genes]
    out_weight = np.bincount(regulator, weights=w, minlength=width)[genes]
    in_weight = np.bincount(target, weights=w, minlength=width)[genes]
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
