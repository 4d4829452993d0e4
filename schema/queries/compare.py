"""Comparison of two networks: shared, gained and lost edges, Jaccard index, rank correlation."""

import duckdb
import numpy as np
from scipy.stats import spearmanr

from schema.queries._common import MAX_PAGE, check_limit, optional_filters
from schema.queries.edges import evidence_sql
from schema.queries.evidence import EvidenceFilter
from schema.rows import Comparison, EdgeRow, SharedEdgeRow

MAX_COMPARED = 10_000_000  # edges a comparison can page through (two networks' edges are read whole)


def compare_networks(
    con: duckdb.DuckDBPyConnection,
    network_a: int,
    network_b: int,
    *,
    max_rank: int | None = None,
    min_weight: float | None = None,
    evidence: EvidenceFilter | None = None,
    common_genes: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> Comparison:
    """Compare the edges of two networks, each cut to its ``max_rank`` strongest edges / ``min_weight``.

    Edges are the same when regulator and target are. ``gained`` are edges of b absent from a, ``lost`` edges
    of a absent from b; the lists hold the ``limit`` strongest of each after the ``offset`` strongest (counts
    cover all). ``spearman`` is the rank correlation of the two weights over shared edges. ``evidence`` keeps
    known or novel edges only; ``common_genes`` keeps the edges whose two genes both networks hold an edge
    of (an edge lost because its target was not measured in b is not a biological loss).
    """
    check_limit("limit", limit, MAX_PAGE)
    if not 0 <= offset < MAX_COMPARED:
        msg = f"offset must be between 0 and {MAX_COMPARED - 1}, got {offset}"
        raise ValueError(msg)
    known, known_params = evidence_sql(evidence, "edges")
    common = (
        "regulator_id IN (SELECT gene_id FROM shared_genes)"
        " AND target_id IN (SELECT gene_id FROM shared_genes)"
    )
    cut, cut_params = optional_filters(
        ("rank <= ?", max_rank),
        ("weight >= ?", min_weight),
        (known, known_params),
        (common, () if common_genes else None),
    )
    cols = con.execute(
        f"""
        WITH shared_genes AS (
            SELECT gene_id FROM node_stats WHERE network_id = ?
            INTERSECT SELECT gene_id FROM node_stats WHERE network_id = ?
        ),
        a AS (SELECT regulator_id, target_id, weight, rank FROM edges WHERE network_id = ?{cut}),
        b AS (SELECT regulator_id, target_id, weight, rank FROM edges WHERE network_id = ?{cut})
        SELECT coalesce(a.regulator_id, b.regulator_id) AS regulator_id,
               coalesce(a.target_id, b.target_id) AS target_id,
               a.weight AS weight_a, b.weight AS weight_b,
               coalesce(a.rank, 0) AS rank_a, coalesce(b.rank, 0) AS rank_b
        FROM a FULL JOIN b ON a.regulator_id = b.regulator_id AND a.target_id = b.target_id
        """,
        [network_a, network_b, network_a, *cut_params, network_b, *cut_params],
    ).fetchnumpy()
    rank_a, rank_b = cols["rank_a"].astype(np.int64), cols["rank_b"].astype(np.int64)
    in_a, in_b = rank_a > 0, rank_b > 0
    shared, gained, lost = in_a & in_b, in_b & ~in_a, in_a & ~in_b
    n_shared, n_union = int(shared.sum()), int(in_a.sum() + in_b.sum() - shared.sum())
    spearman = None
    if n_shared >= 3:
        wa = np.asarray(cols["weight_a"][shared], dtype=np.float64)
        wb = np.asarray(cols["weight_b"][shared], dtype=np.float64)
        if np.ptp(wa) > 0 and np.ptp(wb) > 0:
            spearman = float(spearmanr(wa, wb).statistic)

    def pick(mask, order):
        idx = np.flatnonzero(mask)
        return idx[np.argsort(order[idx], kind="stable")][offset : offset + limit]

    reg, tgt = cols["regulator_id"], cols["target_id"]
    weight_a, weight_b = np.asarray(cols["weight_a"]), np.asarray(cols["weight_b"])
    return Comparison(
        network_a=network_a,
        network_b=network_b,
        n_edges_a=int(in_a.sum()),
        n_edges_b=int(in_b.sum()),
        n_shared=n_shared,
        n_gained=int(gained.sum()),
        n_lost=int(lost.sum()),
        jaccard=n_shared / n_union if n_union else 0.0,
        spearman=spearman,
        shared=[
            SharedEdgeRow(
                int(reg[i]),
                int(tgt[i]),
                float(weight_a[i]),
                float(weight_b[i]),
                int(rank_a[i]),
                int(rank_b[i]),
            )
            for i in pick(shared, rank_a)
        ],
        gained=[
            EdgeRow(network_b, int(reg[i]), int(tgt[i]), float(weight_b[i]), int(rank_b[i]))
            for i in pick(gained, rank_b)
        ],
        lost=[
            EdgeRow(network_a, int(reg[i]), int(tgt[i]), float(weight_a[i]), int(rank_a[i]))
            for i in pick(lost, rank_a)
        ],
    )
