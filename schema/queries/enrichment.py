"""Over-representation of gene sets in a gene list, and of a gene list among regulators' targets.

Counts are gathered in SQL (a regulator's tests across networks are matched to their overlaps in numpy),
statistics computed with scipy (see ``schema.stats``). The universe is the network's genes (genes with an
edge in it) unless given; sets and queries are cut to the universe.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa

from schema.queries._common import (
    MAX_GENE_LIST,
    MAX_PAGE,
    NetworkFilter,
    check_ids,
    check_limit,
    in_list,
    optional_filters,
)
from schema.queries.node_index import NodeIndex, PairKeys, lookup
from schema.rows import EnrichmentRow, RegulatorEnrichmentRow
from schema.stats import bh_fdr, haldane_odds_ratio, hypergeom_pvalues

MAX_UNIVERSE = 100_000
PARALLEL_SORT_KEYS = 1_000_000  # past this many keys, two threads sort them


def _universe_sql(network_id: int | None, universe_ids: Sequence[int] | None) -> tuple[str, list]:
    if universe_ids is not None:
        return "SELECT DISTINCT unnest(?::INTEGER[]) AS gene_id", [
            check_ids("universe_ids", universe_ids, MAX_UNIVERSE)
        ]
    if network_id is not None:
        return "SELECT gene_id FROM node_stats WHERE network_id = ?", [network_id]
    return "SELECT id AS gene_id FROM genes", []


def enrich_genes(
    con: duckdb.DuckDBPyConnection,
    gene_ids: Sequence[int],
    *,
    network_id: int | None = None,
    universe_ids: Sequence[int] | None = None,
    collections: Sequence[str] | None = None,
    min_set_size: int = 5,
    max_set_size: int = 2000,
    min_overlap: int = 1,
    limit: int = 50,
) -> list[EnrichmentRow]:
    """Gene sets over-represented in ``gene_ids``, most significant first.

    Parameters
    ----------
    gene_ids
        The query genes (store gene ids).
    network_id, universe_ids
        The universe: ``universe_ids`` if given, else the genes of ``network_id``, else every gene.
    collections
        Gene-set collection names to test (default: all).
    min_set_size, max_set_size
        Sets whose size within the universe falls outside are not tested (nor counted by the FDR).
    min_overlap, limit
        Sets with fewer query genes are not returned (they are counted by the FDR); at most ``limit`` rows.
    """
    query = check_ids("gene_ids", gene_ids, MAX_GENE_LIST)
    check_limit("limit", limit, MAX_PAGE)
    universe, uparams = _universe_sql(network_id, universe_ids)
    universe_size, query_size = con.execute(
        f"WITH u AS ({universe}) SELECT (SELECT count(*) FROM u),"
        " (SELECT count(*) FROM u WHERE gene_id IN (SELECT unnest(?::INTEGER[])))",
        [*uparams, query],
    ).fetchall()[0]
    in_collections, collection_params = optional_filters(
        ("list_contains(?::VARCHAR[], c.name)", list(collections) if collections is not None else None)
    )
    rows = con.execute(
        f"""
        WITH u AS ({universe}),
        q AS (SELECT gene_id FROM u WHERE gene_id IN (SELECT unnest(?::INTEGER[]))),
        sets AS (SELECT s.id, s.name, c.name AS collection FROM gene_sets s
                 JOIN gene_set_collections c ON c.id = s.collection_id
                 WHERE TRUE{in_collections}),
        members AS (SELECT m.gene_set_id, m.gene_id, m.gene_id IN (SELECT gene_id FROM q) AS hit
                    FROM gene_set_members m JOIN sets ON sets.id = m.gene_set_id
                    WHERE m.gene_id IN (SELECT gene_id FROM u))
        SELECT sets.id, sets.name, sets.collection, count(*) AS set_size,
               count(*) FILTER (WHERE hit) AS overlap,
               list(gene_id ORDER BY gene_id) FILTER (WHERE hit) AS overlap_ids
        FROM members JOIN sets ON sets.id = members.gene_set_id
        GROUP BY ALL HAVING count(*) BETWEEN ? AND ?
        """,
        [
            *uparams,
            query,
            *collection_params,
            min_set_size,
            max_set_size,
        ],
    ).fetchall()
    if not rows:
        return []
    set_size = np.array([r[3] for r in rows])
    overlap = np.array([r[4] for r in rows])
    p = hypergeom_pvalues(overlap, query_size, set_size, universe_size)
    odds = haldane_odds_ratio(overlap, query_size, set_size, universe_size)
    fdr = bh_fdr(p)
    order = np.lexsort((np.array([r[1] for r in rows]), p))
    out = []
    for i in order:
        if overlap[i] < min_overlap:
            continue
        set_id, name, collection, *_ = rows[i]
        out.append(
            EnrichmentRow(
                gene_set_id=set_id,
                gene_set=name,
                collection=collection,
                overlap=int(overlap[i]),
                query_size=int(query_size),
                set_size=int(set_size[i]),
                universe_size=int(universe_size),
                p_value=float(p[i]),
                odds_ratio=float(odds[i]),
                fdr=float(fdr[i]),
                overlap_gene_ids=list(rows[i][5] or []),
            )
        )
        if len(out) == limit:
            break
    return out


def enrich_targets(
    con: duckdb.DuckDBPyConnection,
    network_id: int,
    regulator_id: int,
    *,
    max_rank: int | None = None,
    min_weight: float | None = None,
    **options,
) -> list[EnrichmentRow]:
    """Gene sets over-represented among a regulator's targets in one network (options of enrich_genes)."""
    cut, cut_params = optional_filters(("rank <= ?", max_rank), ("weight >= ?", min_weight))
    targets = [
        r[0]
        for r in con.execute(
            f"SELECT target_id FROM edges WHERE network_id = ? AND regulator_id = ?{cut}",
            [network_id, regulator_id, *cut_params],
        ).fetchall()
    ]
    return enrich_genes(con, targets[:MAX_GENE_LIST], network_id=network_id, **options)


def enrich_hubs(
    con: duckdb.DuckDBPyConnection, network_id: int, *, k: int = 100, by: str = "out_degree", **options
) -> list[EnrichmentRow]:
    """Gene sets over-represented among a network's ``k`` strongest hubs (options of enrich_genes)."""
    from schema.queries.hubs import hubs

    hub_ids = [h.gene_id for h in hubs(con, network_id, by=by, k=k)]
    return enrich_genes(con, hub_ids, network_id=network_id, **options)


def _overlaps(
    con, keys: PairKeys, hits_where: str, params: list, min_overlap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted pair keys of the query genes' edges matching ``hits_where`` and their overlaps (the number of
    such edges), overlap at least ``min_overlap``.

    Counted by sorting the keys, one per edge: they arrive as one ascending run per query gene and per
    target-sorted run of ``edges_by_target`` (~7,000 runs for 200 genes at a billion edges), which numpy's
    stable sort (timsort) merges instead of sorting from scratch: 10^7 keys in 200 against 490 ms for its
    quicksort (and ``np.unique``, which uses it) on a 2-core AMD EPYC. DuckDB's hash aggregate of pairs nearly
    all distinct was slower still (1.0 s).
    """
    # as Arrow: DuckDB converts to Arrow in parallel, to numpy on one thread (10^7 keys: 275 against 378 ms)
    table = con.sql(
        f"SELECT {keys.sql('regulator_id')} AS pair FROM edges_by_target WHERE {hits_where}", params=params
    ).to_arrow_table()
    ordered = _sort(table["pair"].to_numpy())
    if ordered.size == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    overlap = np.diff(np.append(starts, ordered.size))
    kept = overlap >= min_overlap
    return ordered[starts[kept]], overlap[kept]


def _sort(keys: np.ndarray) -> np.ndarray:
    """``keys`` sorted, the halves below and above a sampled median each by a thread of its own (numpy
    sorts without the GIL): 10^7 keys in 131 against 196 ms at a billion edges on 2 cores."""
    if keys.size < PARALLEL_SORT_KEYS:
        return np.sort(keys, kind="stable")
    pivot = np.median(keys[:: max(keys.size // 1000, 1)])
    low, high = keys[keys < pivot], keys[keys >= pivot]
    with ThreadPoolExecutor(max_workers=1) as pool:
        sorted_high = pool.submit(np.sort, high, kind="stable")
        return np.concatenate([np.sort(low, kind="stable"), sorted_high.result()])


def _targets(con, keys: PairKeys, counts: str, params: list) -> tuple[np.ndarray, np.ndarray]:
    """Sorted pair keys and target counts of every test (``counts`` gives them with enough targets), read
    from the store when no `NodeIndex` holds them or a cut changes them.

    Matched to the overlaps by a binary search in numpy rather than joined in DuckDB: `node_stats` gives
    its out-degrees already sorted, and at a billion edges fetching 11.5 M of them and searching them for
    1.8 M tests took 280 ms, where DuckDB's hash join (11.5 M rows probed at random into 1.8 M) took 400-480.
    """
    table = con.sql(
        f"SELECT {keys.sql('regulator_id')} AS pair, n_targets FROM ({counts})", params=params
    ).to_arrow_table()
    pair, n_targets = table["pair"].to_numpy(), table["n_targets"].to_numpy()
    if pair.size > 1 and not np.all(pair[1:] > pair[:-1]):  # a cut's GROUP BY comes unordered
        order = np.argsort(pair)
        pair, n_targets = pair[order], n_targets[order]
    return pair, n_targets


_TEST_COUNTS = ("overlap", "n_targets", "query_size", "universe_size")


def _tests(
    keys: PairKeys,
    overlaps: tuple[np.ndarray, np.ndarray],
    n_targets: np.ndarray,
    min_targets: int,
    sizes: dict[str, np.ndarray],
) -> pa.Table:
    """Each overlapping (network, regulator) with at least ``min_targets`` targets (``n_targets``, aligned
    with the overlaps) in a network of ``sizes``, with the four counts of its 2x2 table."""
    hit_pair, overlap = overlaps
    network = keys.network_id(hit_pair)
    # a row of `sizes` per network id: ids are small integers, so a dense table beats a search
    networks = np.asarray(sizes["network_id"])
    size_row = np.full(int(max(networks.max(), network.max())) + 1, -1)
    size_row[networks] = np.arange(networks.size)
    size_at = size_row[network]
    found = (n_targets >= min_targets) & (size_at >= 0)  # min_targets >= 1: absent pairs (0) drop out
    size_at = size_at[found]
    return pa.table(
        {
            "network_id": network[found],
            "regulator_id": keys.regulator_id(hit_pair[found]),
            "overlap": overlap[found],
            "n_targets": n_targets[found],
            "query_size": np.asarray(sizes["query_size"])[size_at],
            "universe_size": np.asarray(sizes["universe_size"])[size_at],
        }
    )


def _most_significant(con, tests: pa.Table, n_tests: int, limit: int) -> list[dict]:
    """The ``limit`` most significant ``tests`` (by p, then network, then regulator), with their counts,
    p-value, odds ratio and FDR over ``n_tests``.

    Tests of equal counts have equal statistics, and a billion-edge atlas gives 10^6 tests but ~10^5 distinct
    counts: the statistics are computed once per distinct counts and the FDR weighs each by its tests.
    """
    con.register("_enrichment_tests", tests)
    try:
        distinct = con.execute(
            f"SELECT {', '.join(_TEST_COUNTS)}, count(*) AS n FROM _enrichment_tests GROUP BY ALL"
        ).fetchnumpy()
        if len(distinct["n"]) == 0:
            return []
        a, k, n, m = (np.asarray(distinct[c], dtype=np.int64) for c in _TEST_COUNTS)
        p = hypergeom_pvalues(a, n, k, m)
        fdr = bh_fdr(p, n_tests=max(n_tests, int(distinct["n"].sum())), counts=distinct["n"])
        # Only counts whose p-value can reach the first ``limit`` tests are joined back to their tests.
        by_p = np.argsort(p, kind="stable")
        reach = np.searchsorted(np.cumsum(distinct["n"][by_p]), limit)
        cut = p[by_p[min(reach, p.size - 1)]]
        kept = p <= cut
        statistics = pa.table(
            {
                **{c: distinct[c][kept] for c in _TEST_COUNTS},
                "p_value": p[kept],
                "odds_ratio": haldane_odds_ratio(a[kept], n[kept], k[kept], m[kept]),
                "fdr": fdr[kept],
            }
        )
        con.register("_enrichment_statistics", statistics)
        try:
            found = con.execute(
                f"""
                SELECT t.network_id, t.regulator_id, {", ".join(f"t.{c}" for c in _TEST_COUNTS)},
                       s.p_value, s.odds_ratio, s.fdr
                FROM _enrichment_tests t JOIN _enrichment_statistics s USING ({", ".join(_TEST_COUNTS)})
                ORDER BY s.p_value, t.network_id, t.regulator_id LIMIT ?
                """,
                [limit],
            )
            columns = [d[0] for d in found.description]
            return [dict(zip(columns, row, strict=True)) for row in found.fetchall()]
        finally:
            con.unregister("_enrichment_statistics")
    finally:
        con.unregister("_enrichment_tests")


def _sizes(con, query: list[int], on_nets: str, nparams: list, index: NodeIndex | None) -> dict:
    """Per network of ``on_nets``: its universe (its genes: ``n_genes`` counts them) and the query genes in
    it, counted by ``index`` when there is one."""
    if index is not None:
        sizes = con.execute(
            "SELECT network_id, coalesce(n_genes, 0) AS universe_size"
            f" FROM (SELECT id AS network_id, n_genes FROM networks) WHERE {on_nets}",
            nparams,
        ).fetchnumpy()
        sizes["query_size"] = index.query_sizes(query, sizes["network_id"])
        return sizes
    return con.execute(
        f"""
        SELECT n.network_id, coalesce(n.n_genes, 0) AS universe_size, coalesce(q.n, 0) AS query_size
        FROM (SELECT id AS network_id, n_genes FROM networks) n
        LEFT JOIN (SELECT network_id, count(*) AS n FROM node_stats
                   WHERE gene_id IN (SELECT unnest(?::INTEGER[])) AND {on_nets} GROUP BY ALL) q
            USING (network_id)
        WHERE {on_nets}
        """,
        [query, *nparams, *nparams],
    ).fetchnumpy()


def enriched_regulators(
    con: duckdb.DuckDBPyConnection,
    gene_ids: Sequence[int],
    *,
    where: NetworkFilter | None = None,
    min_weight: float | None = None,
    max_rank: int | None = None,
    min_targets: int = 5,
    min_overlap: int = 2,
    tfs_only: bool = False,
    limit: int = 100,
    index: NodeIndex | None = None,
) -> list[RegulatorEnrichmentRow]:
    """Regulators whose targets are enriched in ``gene_ids``, per network, across the networks of ``where``.

    Each (network, regulator) with at least ``min_targets`` targets (after the weight / rank cut) is one
    test; the universe of a network is its genes. The FDR runs over all tests; rows with fewer than
    ``min_overlap`` query genes among the targets are not returned. Most significant first. ``tfs_only``
    tests transcription-factor regulators only (and corrects for those tests only). ``index``, the
    `NodeIndex` of the release ``con`` reads, saves reading its node statistics (same answers).
    """
    query = check_ids("gene_ids", gene_ids, MAX_GENE_LIST)
    check_limit("limit", limit, MAX_PAGE)
    if min_targets < 1:
        msg = f"min_targets must be at least 1, got {min_targets}"
        raise ValueError(msg)
    # Small steps rather than one statement: DuckDB planned the single query as joins of whole tables.
    nets: list[int] | None = None  # every network
    if where is None or where.is_empty():
        on_nets, nparams = "TRUE", []
    else:
        sql, params = where.sql("n")
        nets = [
            r[0]
            for r in con.execute(f"SELECT n.id FROM networks n WHERE {sql} ORDER BY n.id", params).fetchall()
        ]
        if not nets:
            return []
        on_nets, nparams = f"network_id IN {in_list(nets)}", nets
    cut_clauses, cut_params = optional_filters(
        ("weight >= ?", min_weight),
        ("rank <= ?", max_rank),
        ("regulator_id IN (SELECT id FROM genes WHERE is_tf)", () if tfs_only else None),
    )
    cut = bool(cut_clauses)
    cut_sql = f"TRUE{cut_clauses}"
    keys = index.keys if index is not None else PairKeys(con)
    sizes = _sizes(con, query, on_nets, nparams, index)
    if len(sizes["network_id"]) == 0:
        return []
    hits_where = f"target_id IN (SELECT unnest(?::INTEGER[])) AND {on_nets} AND {cut_sql}"
    hits_params = [query, *nparams, *cut_params]
    overlaps = _overlaps(con, keys, hits_where, hits_params, max(min_overlap, 1))
    if overlaps[0].size == 0:
        return []
    if index is not None and not cut:
        n_targets = index.out_degrees(overlaps[0])
        n_tests = index.count_regulators(min_targets, nets)
    else:
        if cut:  # targets under the cut: count them per (network, regulator) over the selected edges
            counts = f"""SELECT network_id, regulator_id, count(*) AS n_targets FROM edges
                         WHERE {on_nets} AND {cut_sql} GROUP BY ALL"""
            counts_params = [*nparams, *cut_params]
        else:
            counts = (
                "SELECT network_id, gene_id AS regulator_id, out_degree AS n_targets"
                f" FROM node_stats WHERE {on_nets}"
            )
            counts_params = nparams
        test_pair, test_targets = _targets(
            con, keys, f"SELECT * FROM ({counts}) WHERE n_targets >= ?", [*counts_params, min_targets]
        )
        n_targets, n_tests = lookup(test_pair, test_targets, overlaps[0]), test_pair.size
    if n_tests == 0:
        return []
    tests = _tests(keys, overlaps, n_targets, min_targets, sizes)
    top = _most_significant(con, tests, n_tests=n_tests, limit=limit)
    if not top:
        return []
    network, regulator = [row["network_id"] for row in top], [row["regulator_id"] for row in top]
    # Overlap genes only for the rows returned: building lists for every hit cost more than the rest.
    picked = set(zip(network, regulator, strict=True))
    nets_in, regs_in = sorted(set(network)), sorted(set(regulator))
    genes = {
        (n, r): ids
        for n, r, ids in con.execute(
            f"""
            SELECT network_id, regulator_id, list(target_id ORDER BY target_id) FROM edges
            WHERE {hits_where} AND network_id IN {in_list(nets_in)} AND regulator_id IN {in_list(regs_in)}
            GROUP BY ALL
            """,
            [*hits_params, *nets_in, *regs_in],
        ).fetchall()
        if (n, r) in picked
    }
    return [
        RegulatorEnrichmentRow(**row, overlap_gene_ids=genes[row["network_id"], row["regulator_id"]])
        for row in top
    ]
