"""Hubs: the genes of a network with the highest degree, weighted degree or PageRank."""

from collections.abc import Sequence

import duckdb

from schema.queries._common import MAX_HUBS, check_ids, check_limit, in_list, rows_as
from schema.rows import HubRow

HUB_STATISTICS = (
    "out_degree",
    "in_degree",
    "weighted_out_degree",
    "weighted_in_degree",
    "degree_centrality",
    "pagerank",
)
STAT_COLUMNS = (
    "network_id, gene_id, in_degree, out_degree, weighted_in_degree, weighted_out_degree, degree_centrality,"
    " pagerank"
)


def _check_by(by: str) -> str:
    if by not in HUB_STATISTICS:
        msg = f"unknown hub statistic {by!r}; choose from {', '.join(HUB_STATISTICS)}"
        raise ValueError(msg)
    return by


def _tie_break(by: str) -> str:
    """The weighted statistic that orders genes tied on ``by`` (before their gene id)."""
    return by if by.startswith("weighted") or by in ("pagerank", "degree_centrality") else f"weighted_{by}"


def hubs_for_networks(
    con: duckdb.DuckDBPyConnection,
    network_ids: Sequence[int],
    *,
    by: str = "out_degree",
    k: int = 20,
    tfs_only: bool = False,
) -> list[list[HubRow]]:
    """The ``k`` strongest hubs of each network by ``by``, aligned with ``network_ids``.

    Ties are broken by the weighted statistic, then by gene id. ``tfs_only`` keeps transcription factors.
    """
    ids = check_ids("network_ids", network_ids)
    _check_by(by)
    check_limit("k", k, MAX_HUBS)
    weighted = _tie_break(by)
    tfs = " AND gene_id IN (SELECT id FROM genes WHERE is_tf)" if tfs_only else ""
    if len(ids) == 1:  # one network: DuckDB's top-k of a plain ORDER BY ... LIMIT is about twice as fast
        found = con.execute(
            f"SELECT {STAT_COLUMNS} FROM node_stats WHERE network_id = ?{tfs}"
            f" ORDER BY {by} DESC, {weighted} DESC, gene_id LIMIT ?",
            [ids[0], k],
        ).fetchall()
        return [[HubRow(*row, rank) for rank, row in enumerate(found, start=1)]]
    rows = rows_as(
        con,
        HubRow,
        f"""
        WITH stats AS (
            SELECT * FROM node_stats WHERE network_id IN {in_list(ids)}{tfs}),
        top AS (  -- max_by keeps a heap of k per network: much cheaper than a window sort
            SELECT network_id, max_by(gene_id, ({by}, {weighted}, -gene_id), ?) AS genes
            FROM stats GROUP BY ALL),
        ranked AS (
            SELECT network_id, unnest(genes) AS gene_id, generate_subscripts(genes, 1) AS rank FROM top)
        SELECT {STAT_COLUMNS}, rank FROM stats JOIN ranked USING (network_id, gene_id)
        ORDER BY network_id, rank
        """,
        [*ids, k],
    )
    by_network: dict[int, list[HubRow]] = {i: [] for i in ids}
    for row in rows:
        by_network[row.network_id].append(row)
    return [by_network[i] for i in ids]


def hubs(
    con: duckdb.DuckDBPyConnection,
    network_id: int,
    *,
    by: str = "out_degree",
    k: int = 20,
    tfs_only: bool = False,
) -> list[HubRow]:
    """The ``k`` strongest hubs of one network (see ``hubs_for_networks``)."""
    return hubs_for_networks(con, [network_id], by=by, k=k, tfs_only=tfs_only)[0]


def node_stats(
    con: duckdb.DuckDBPyConnection, network_id: int, gene_ids: Sequence[int], *, by: str = "out_degree"
) -> list[HubRow | None]:
    """Statistics of given genes in one network, aligned with ``gene_ids`` (None: no edge there).

    ``rank`` is the gene's rank by ``by`` in the whole network, ties broken as ``hubs`` breaks them.
    """
    ids = check_ids("gene_ids", gene_ids)
    _check_by(by)
    rows = rows_as(
        con,
        HubRow,
        f"""
        SELECT * FROM (
            SELECT {STAT_COLUMNS}, row_number() OVER (
                ORDER BY {by} DESC, {_tie_break(by)} DESC, gene_id) AS rank
            FROM node_stats WHERE network_id = ?)
        WHERE gene_id IN {in_list(ids)}
        """,
        [network_id, *ids],
    )
    by_gene = {r.gene_id: r for r in rows}
    return [by_gene.get(i) for i in ids]
