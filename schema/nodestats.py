"""Per-network node statistics, computed once when networks are written.

Degrees and weighted degrees are plain SQL aggregates. PageRank cannot be written in SQL, and building a
graph per 50,000-edge network costs more than the whole load, so it is a scipy.sparse power iteration run on
many networks at once (they form one block-diagonal graph); it matches ``networkx.pagerank(G, weight=...)``.
"""

import logging

import duckdb
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


def write_node_stats(con: duckdb.DuckDBPyConnection, network_ids: list[int]) -> None:
    """Compute and insert node statistics of ``network_ids``, the networks added by this release (they hold
    the highest ids); set their n_genes and n_edges."""
    ids = sorted(set(network_ids))
    if not ids:
        return
    sizes = dict(
        con.execute(
            "SELECT network_id, count(*) FROM edges WHERE network_id >= ? GROUP BY network_id", [ids[0]]
        ).fetchall()
    )
    chunk: list[int] = []
    total = 0
    for network_id in ids:
        chunk.append(network_id)
        total += sizes.get(network_id, 0)
        if total >= CHUNK_EDGES:
            _write_chunk(con, chunk)
            chunk, total = [], 0
    if chunk:
        _write_chunk(con, chunk)


def _write_chunk(con: duckdb.DuckDBPyConnection, network_ids: list[int]) -> None:
    # New networks hold the highest ids, so the id range of a chunk holds no other network; a range (unlike
    # an IN list) lets DuckDB skip the row groups of other networks.
    lo, hi = min(network_ids), max(network_ids)
    edges = con.sql(
        "SELECT network_id, regulator_id, target_id, weight FROM edges WHERE network_id BETWEEN ? AND ?",
        params=[lo, hi],
    ).to_arrow_table()
    net, gene, rank = pagerank_blocks(*(edges[c].to_numpy() for c in edges.column_names))
    con.register(
        "_pagerank",
        pa.table(
            {
                "network_id": pa.array(net, pa.int32()),
                "gene_id": pa.array(gene, pa.int32()),
                "pagerank": pa.array(rank, pa.float32()),
            }
        ),
    )
    con.execute(
        """
        INSERT INTO node_stats
        WITH e AS (SELECT * FROM edges WHERE network_id BETWEEN ? AND ?),
        outs AS (SELECT network_id, regulator_id AS gene_id, count(*) AS n, sum(weight) AS w
                 FROM e GROUP BY ALL),
        ins AS (SELECT network_id, target_id AS gene_id, count(*) AS n, sum(weight) AS w FROM e GROUP BY ALL),
        sizes AS (SELECT network_id, count(*) AS n_nodes FROM _pagerank GROUP BY ALL)
        SELECT p.network_id, p.gene_id,
               coalesce(ins.n, 0), coalesce(outs.n, 0), coalesce(ins.w, 0), coalesce(outs.w, 0),
               CASE WHEN s.n_nodes > 1
                    THEN (coalesce(ins.n, 0) + coalesce(outs.n, 0)) / (s.n_nodes - 1) ELSE 0 END,
               p.pagerank
        FROM _pagerank p
        JOIN sizes s USING (network_id)
        LEFT JOIN outs USING (network_id, gene_id)
        LEFT JOIN ins USING (network_id, gene_id)
        ORDER BY p.network_id, p.gene_id
        """,
        [lo, hi],
    )
    con.execute(
        """
        UPDATE networks SET n_genes = s.n_genes, n_edges = s.n_edges
        FROM (SELECT network_id, count(*) AS n_genes, sum(out_degree) AS n_edges FROM node_stats
              WHERE network_id BETWEEN ? AND ? GROUP BY ALL) s
        WHERE networks.id = s.network_id
        """,
        [lo, hi],
    )
    con.unregister("_pagerank")
