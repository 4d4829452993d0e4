"""Enrichment statistics against scipy and brute-force counts."""

import numpy as np
import pytest
from scipy.stats import hypergeom

from schema import queries
from schema.queries import NetworkFilter
from schema.stats import bh_fdr, haldane_odds_ratio, hypergeom_pvalues


def brute_bh(p):
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1)
    return out


def test_statistics_match_their_definitions():
    overlap, query, size, universe = np.array([0, 3, 10]), 40, np.array([5, 20, 30]), 1000
    p = hypergeom_pvalues(overlap, query, size, universe)
    for i in range(3):
        expected = sum(hypergeom.pmf(k, universe, size[i], query) for k in range(overlap[i], size[i] + 1))
        assert p[i] == pytest.approx(expected, rel=1e-9)
    a, b, c = overlap, query - overlap, size - overlap
    d = universe - a - b - c
    np.testing.assert_allclose(
        haldane_odds_ratio(overlap, query, size, universe), (a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5))
    )
    rng = np.random.default_rng(0)
    pv = rng.random(50) ** 3
    np.testing.assert_allclose(bh_fdr(pv), brute_bh(pv))
    # Tests left out with p = 1 count as if passed.
    np.testing.assert_allclose(bh_fdr(pv[:10], n_tests=50), brute_bh(np.r_[pv[:10], np.ones(40)])[:10])
    with pytest.raises(ValueError, match="n_tests"):
        bh_fdr(pv, n_tests=3)


def test_fdr_of_shared_p_values_equals_the_fdr_of_every_test():
    rng = np.random.default_rng(2)
    distinct = np.unique(np.round(rng.random(40) ** 2, 3))  # ties between distinct entries stay possible
    distinct = np.r_[distinct, distinct[:3]]
    counts = rng.integers(1, 6, distinct.size)
    every = np.repeat(distinct, counts)
    expected = brute_bh(np.r_[every, np.ones(25)])[: every.size]
    got = np.repeat(bh_fdr(distinct, n_tests=every.size + 25, counts=counts), counts)
    np.testing.assert_allclose(got, expected)
    with pytest.raises(ValueError, match="counts"):
        bh_fdr(distinct, counts=np.zeros(distinct.size, dtype=int))
    for bad in (np.nan, 1.5, -0.1):
        with pytest.raises(ValueError, match="between 0 and 1"):
            bh_fdr(np.r_[distinct, bad])


def test_hypergeometric_tail_matches_scipy_across_regimes():
    rng = np.random.default_rng(1)
    universe = rng.integers(20, 20_000, 5000)
    size = np.minimum(rng.integers(1, 400, 5000), universe)
    query = np.minimum(rng.integers(1, 6000, 5000), universe)
    overlap = rng.integers(0, 80, 5000)  # far below, around and far above the expected overlap
    expected = hypergeom.sf(overlap - 1, universe, size, query)
    np.testing.assert_allclose(
        hypergeom_pvalues(overlap, query, size, universe), expected, rtol=1e-8, atol=1e-300
    )
    assert hypergeom_pvalues(0, 10, 5, 100) == 1.0 and hypergeom_pvalues(6, 10, 5, 100) == 0.0


def _sets(frames):
    members = frames["gene_set_members"].groupby("gene_set_id").gene_id.apply(set)
    return frames["gene_sets"].set_index("id").name, members


def test_gene_set_enrichment_of_a_gene_list(reader, frames):
    names, members = _sets(frames)
    stats = frames["node_stats"]
    universe = set(stats.gene_id[stats.network_id == 5])
    set_id = int(members.index[5])
    query = (
        sorted(members[set_id] & universe)[:6]
        + [g for g in sorted(universe, reverse=True) if g not in members[set_id]][:10]
    )
    rows = queries.enrich_genes(reader.con, query, network_id=5, min_set_size=1, min_overlap=0, limit=100)
    tested = [s for s in members.index if len(members[s] & universe) >= 1]
    assert len(rows) == len(tested)
    q = set(query) & universe
    p_all = []
    for row in rows:
        in_set = members[row.gene_set_id] & universe
        assert row.set_size == len(in_set) and row.universe_size == len(universe) and row.query_size == len(q)
        assert row.overlap == len(in_set & q) and row.overlap_gene_ids == sorted(in_set & q)
        expected = hypergeom.sf(row.overlap - 1, len(universe), len(in_set), len(q))
        assert row.p_value == pytest.approx(expected, rel=1e-9)
        assert row.gene_set == names[row.gene_set_id]
        p_all.append(row.p_value)
    assert rows[0].gene_set_id == set_id
    assert [r.p_value for r in rows] == sorted(p_all)
    np.testing.assert_allclose([r.fdr for r in rows], brute_bh(p_all))


def test_enrichment_of_targets_and_hubs_and_given_universe(reader, frames):
    e = frames["edges"]
    reg = int(e[e.network_id == 2].regulator_id.value_counts().index[0])
    targets = sorted(e.target_id[(e.network_id == 2) & (e.regulator_id == reg)])
    assert queries.enrich_targets(reader.con, 2, reg, min_set_size=1) == queries.enrich_genes(
        reader.con, targets, network_id=2, min_set_size=1
    )
    hub_ids = [h.gene_id for h in queries.hubs(reader.con, 2, k=20)]
    assert queries.enrich_hubs(reader.con, 2, k=20, min_set_size=1) == queries.enrich_genes(
        reader.con, hub_ids, network_id=2, min_set_size=1
    )
    universe = list(range(1, 61))
    rows = queries.enrich_genes(reader.con, list(range(1, 30)), universe_ids=universe, min_set_size=1)
    assert rows and all(r.universe_size == 60 and r.query_size == 29 for r in rows)
    assert all(set(r.overlap_gene_ids) <= set(range(1, 30)) for r in rows)
    only = queries.enrich_genes(reader.con, targets, network_id=2, collections=["other"], min_set_size=1)
    assert only == []


def test_regulator_enrichment_is_the_same_with_wide_keys(reader, frames, monkeypatch):
    """Past 2^32 (network, regulator) keys the pairs are counted on 64-bit keys: same answer."""
    from schema.queries import node_index

    e = frames["edges"]
    query = sorted(set(e.target_id[e.network_id == e.network_id.min()]))[:40]
    narrow = queries.enriched_regulators(reader.con, query, min_targets=1, limit=1000)
    monkeypatch.setattr(node_index, "NARROW_KEYS", 1)
    wide = queries.enriched_regulators(reader.con, query, min_targets=1, limit=1000)
    assert node_index.PairKeys(reader.con).dtype == np.uint64
    assert len(narrow) > 10
    assert wide == narrow
    wide_index = node_index.NodeIndex.read(reader.con)
    assert wide_index.regulator_keys.dtype == np.uint64
    assert (
        queries.enriched_regulators(reader.con, query, min_targets=1, limit=1000, index=wide_index) == narrow
    )


def test_node_index_counts_what_node_stats_holds(reader, frames):
    from schema.queries.node_index import NodeIndex

    stats = frames["node_stats"]
    index = NodeIndex.read(reader.con)
    with pytest.raises(ValueError, match="read-only"):
        index.out_degree[0] = 7  # shared by a server's threads
    networks = np.array([*sorted(frames["networks"].id), 10_000])  # the last one is no network
    query = [1, 5, 5, 17, 40, 119, 10**6]  # a repeat and a gene outside the vocabulary
    expected = [int(stats.gene_id[stats.network_id == n].isin(query).sum()) for n in networks]
    assert index.query_sizes(query, networks).tolist() == expected
    assert index.query_sizes([], networks).tolist() == [0] * networks.size
    pairs = index.keys.encode(stats.network_id.to_numpy(), stats.gene_id.to_numpy())
    assert index.out_degrees(pairs).tolist() == stats.out_degree.tolist()
    assert index.out_degrees(index.keys.encode(np.array([3]), np.array([10**4]))).tolist() == [0]
    for min_out in (1, 5, 12):
        some = networks[::2].tolist()
        assert index.count_regulators(min_out, some) == int(
            ((stats.out_degree >= min_out) & stats.network_id.isin(some)).sum()
        )
        assert index.count_regulators(min_out, None) == int((stats.out_degree >= min_out).sum())


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"min_targets": 1, "min_overlap": 1},
        {"min_targets": 12, "limit": 3},
        {"where": NetworkFilter(tissues=("lung",))},
        {"where": NetworkFilter(network_ids=(3,)), "min_targets": 2},
        {"max_rank": 200, "min_targets": 1},
        {"tfs_only": True, "min_targets": 1, "min_overlap": 1},
    ],
)
def test_regulator_enrichment_is_the_same_with_a_node_index(reader, frames, options):
    from schema.queries.node_index import NodeIndex

    rng = np.random.default_rng(3)
    query = sorted(int(g) for g in rng.choice(frames["genes"].id, 40, replace=False))
    index = NodeIndex.read(reader.con)
    without = queries.enriched_regulators(reader.con, query, **{"limit": 1000, **options})
    assert without, options
    assert (
        queries.enriched_regulators(reader.con, query, index=index, **{"limit": 1000, **options}) == without
    )


def test_regulator_enrichment_needs_a_positive_target_count(reader):
    with pytest.raises(ValueError, match="min_targets must be at least 1, got 0"):
        queries.enriched_regulators(reader.con, [1, 2, 3], min_targets=0)


def test_keys_sorted_in_two_threads_are_sorted(monkeypatch):
    from schema.queries import enrichment

    monkeypatch.setattr(enrichment, "PARALLEL_SORT_KEYS", 10)
    rng = np.random.default_rng(4)
    runs = [np.sort(rng.integers(0, 5000, 300, dtype=np.uint32)) for _ in range(20)]  # ascending runs
    for keys in (np.concatenate(runs), np.full(50, 7, dtype=np.uint32), rng.integers(0, 3, 999, np.uint32)):
        np.testing.assert_array_equal(enrichment._sort(keys), np.sort(keys))


def test_target_counts_in_any_order_are_matched_to_their_pairs(reader):
    """A cut's counts come from a GROUP BY, in no order; the binary search needs them sorted by pair."""
    from schema.queries import enrichment
    from schema.queries.node_index import PairKeys

    keys = PairKeys(reader.con)
    counts = "SELECT * FROM (VALUES (3, 7, 9), (1, 2, 5), (2, 4, 6)) t(network_id, regulator_id, n_targets)"
    pair, n_targets = enrichment._targets(reader.con, keys, counts, [])
    network, regulator = keys.network_id(pair).tolist(), keys.regulator_id(pair).tolist()
    found = list(zip(network, regulator, n_targets.tolist(), strict=True))
    assert found == [(1, 2, 5), (2, 4, 6), (3, 7, 9)]


def test_regulators_enriched_in_a_gene_list(reader, frames):
    e = frames["edges"]
    stats = frames["node_stats"]
    lung = frames["networks"].id[frames["networks"].tissue == "lung"].tolist()
    # A query made of one regulator's targets must put that regulator first.
    counts = e[e.network_id == lung[0]].regulator_id.value_counts()
    reg = int((counts - 15).abs().idxmin())  # a regulator of about 15 of the ~120 genes
    query = sorted(e.target_id[(e.network_id == lung[0]) & (e.regulator_id == reg)])
    rows = queries.enriched_regulators(reader.con, query, where=NetworkFilter(tissues=("lung",)), limit=1000)
    assert (rows[0].network_id, rows[0].regulator_id) == (lung[0], reg)
    keys = [(r.p_value, r.network_id, r.regulator_id) for r in rows]
    assert keys == sorted(keys)
    first = queries.enriched_regulators(reader.con, query, where=NetworkFilter(tissues=("lung",)), limit=7)
    assert first == rows[:7]
    assert {r.network_id for r in rows} <= set(lung)
    n_tests = 0
    for network_id in lung:
        s = stats[stats.network_id == network_id]
        n_tests += int((s.out_degree >= 5).sum())
    for row in rows[:20]:
        ee = e[(e.network_id == row.network_id) & (e.regulator_id == row.regulator_id)]
        universe = set(stats.gene_id[stats.network_id == row.network_id])
        q = set(query) & universe
        hits = set(ee.target_id) & q
        assert (row.n_targets, row.overlap, row.query_size, row.universe_size) == (
            len(ee),
            len(hits),
            len(q),
            len(universe),
        )
        assert row.p_value == pytest.approx(
            hypergeom.sf(len(hits) - 1, len(universe), len(ee), len(q)), rel=1e-9
        )
        assert row.overlap_gene_ids == sorted(hits)
    # The FDR counts every (network, regulator) with enough targets, returned or not.
    p = [r.p_value for r in rows]
    np.testing.assert_allclose([r.fdr for r in rows], bh_fdr(p, n_tests=n_tests))
    cut = queries.enriched_regulators(
        reader.con, query, max_rank=200, min_targets=1, min_overlap=1, limit=1000
    )
    # Under a cut the target counts come from DuckDB's GROUP BY, in no order: every row is matched to its own.
    under = e[e["rank"] <= 200].groupby(["network_id", "regulator_id"]).size()
    assert len(cut) > 10
    for row in cut:
        assert row.n_targets == under[(row.network_id, row.regulator_id)]
    np.testing.assert_allclose([r.fdr for r in cut], bh_fdr([r.p_value for r in cut], n_tests=len(under)))
