"""Query functions against brute-force answers computed with pandas from the same atlas."""

import duckdb
import numpy as np
import pytest
from scipy.stats import spearmanr

from schema import SCHEMA_VERSION, queries
from schema.queries import NetworkFilter
from schema.queries._common import make_cursor
from schema.queries.edge_tables import network_edges_table
from tests.schema.conftest import N_NETWORKS, edges_with_context


def test_find_networks_by_facets_labels_term_ids_and_text(reader, frames):
    nets = frames["networks"]
    lung = queries.find_networks(reader.con, NetworkFilter(tissues=("LUNG",)))
    assert [n.id for n in lung.items] == sorted(nets.id[nets.tissue == "lung"])
    assert lung.total == len(lung.items)
    by_term = queries.find_networks(reader.con, NetworkFilter(tissues=("UBERON:0002048",)))
    assert by_term.items == lung.items
    both = queries.find_networks(reader.con, NetworkFilter(tissues=("lung", "liver"), diseases=("normal",)))
    expected = nets[nets.tissue.isin(["lung", "liver"]) & (nets.disease == "normal")].id
    assert [n.id for n in both.items] == sorted(expected)
    text = queries.find_networks(reader.con, NetworkFilter(text="macroph"))
    assert [n.id for n in text.items] == sorted(nets.id[nets.cell_type == "macrophage"])
    assert queries.find_networks(reader.con, NetworkFilter(text="Synthetic dataset 2")).total == 4
    assert queries.find_networks(reader.con, NetworkFilter(tissues=("nowhere",))).items == []


def test_find_networks_pages_cover_everything_once(reader):
    ids, after = [], None
    while True:
        page = queries.find_networks(reader.con, first=4, after=after)
        ids += [n.id for n in page.items]
        assert page.total == N_NETWORKS  # counted on every page, in the page's own statement
        after = page.next_cursor
        if after is None:
            break
    assert ids == list(range(1, N_NETWORKS + 1))
    ids = queries.find_network_ids(reader.con, NetworkFilter(tissues=("lung",)), first=3)
    full = queries.find_networks(reader.con, NetworkFilter(tissues=("lung",)), first=3)
    assert ids.items == [n.id for n in full.items] and (ids.next_cursor, ids.total) == (
        full.next_cursor,
        full.total,
    )
    past = queries.find_networks(reader.con, first=4, after=str(N_NETWORKS))
    assert past.items == [] and past.total == N_NETWORKS and past.next_cursor is None
    assert queries.find_networks(reader.con, NetworkFilter(tissues=("nowhere",))).total == 0
    with pytest.raises(ValueError, match="first"):
        queries.find_networks(reader.con, first=queries.MAX_PAGE + 1)
    with pytest.raises(ValueError, match="invalid cursor"):
        queries.find_networks(reader.con, after="abc")


def test_batched_lookups_align_with_the_ids(reader):
    rows = queries.networks_by_ids(reader.con, [3, 999, 1])
    assert [r and r.id for r in rows] == [3, None, 1]
    everything = queries.all_networks(reader.con, limit=N_NETWORKS)
    assert [r.id for r in everything] == list(range(1, N_NETWORKS + 1)) and everything[2] == rows[0]
    assert queries.all_networks(reader.con, limit=N_NETWORKS - 1) is None
    assert queries.networks_by_ids(reader.con, [3]) == rows[:1] and queries.networks_by_ids(
        reader.con, [999]
    ) == [None]
    genes = queries.genes_by_ids(reader.con, [5, 10_000, 5])
    assert genes[0].symbol == "G4" and genes[1] is None and genes[2] == genes[0]
    with pytest.raises(ValueError, match="at most"):
        queries.genes_by_ids(reader.con, range(queries.MAX_IDS + 1))


def test_facet_counts(reader, frames):
    nets = frames["networks"]
    counts = queries.facet_counts(reader.con, NetworkFilter(diseases=("normal",)))
    normal = nets[nets.disease == "normal"]
    assert {c.value: c.count for c in counts["tissue"]} == normal.tissue.value_counts().to_dict()
    assert {c.value: c.count for c in counts["cell_type"]} == normal.cell_type.value_counts().to_dict()
    lung = next(c for c in counts["tissue"] if c.value == "lung")
    assert lung.term_id == "UBERON:0002048"
    for facet in counts.values():
        assert [c.count for c in facet] == sorted((c.count for c in facet), reverse=True)
    some = queries.facet_counts(reader.con, NetworkFilter(diseases=("normal",)), facets=("disease", "tissue"))
    assert list(some) == ["disease", "tissue"] and some["tissue"] == counts["tissue"]
    assert queries.facet_counts(reader.con, facets=()) == {}
    with pytest.raises(ValueError, match="unknown facet"):
        queries.facet_counts(reader.con, facets=("colour",))


def test_network_edges_top_k_cursor_and_filters(reader, frames):
    e = frames["edges"]
    e3 = e[e.network_id == 3].sort_values("rank")
    top = queries.network_edges(reader.con, 3, first=10)
    assert [x.rank for x in top.items] == list(range(1, 11))
    assert [x.weight for x in top.items] == pytest.approx(e3.weight.iloc[:10].tolist())
    rest = queries.network_edges(reader.con, 3, first=1000, after=top.next_cursor)
    assert len(top.items) + len(rest.items) == len(e3) and rest.next_cursor is None
    strong = queries.network_edges(reader.con, 3, min_weight=0.9, first=1000)
    assert len(strong.items) == (e3.weight >= np.float32(0.9)).sum()
    reg = int(e3.regulator_id.iloc[0])
    targets = queries.network_edges(reader.con, 3, regulator_id=reg, first=1000)
    assert sorted(x.target_id for x in targets.items) == sorted(e3.target_id[e3.regulator_id == reg])


def test_regulators_and_targets_across_networks(reader, frames):
    ctx = edges_with_context(frames)
    gene = int(ctx.target_id.value_counts().index[0])
    expected = ctx[(ctx.target_id == gene) & (ctx.tissue == "lung")].sort_values(["network_id", "rank"])
    got, after = [], None
    while True:
        page = queries.regulators_of(
            reader.con, gene, where=NetworkFilter(tissues=("lung",)), first=3, after=after
        )
        got += page.items
        after = page.next_cursor
        if after is None:
            break
    assert [(r.network_id, r.regulator_id, r.rank) for r in got] == list(
        zip(expected.network_id, expected.regulator_id, expected["rank"], strict=True)
    )
    assert all(r.tissue == "lung" and r.target_id == gene for r in got)
    reg = int(ctx.regulator_id.value_counts().index[0])
    out = queries.targets_of(reader.con, reg, max_rank=100, first=1000)
    exp = ctx[(ctx.regulator_id == reg) & (ctx["rank"] <= 100)]
    assert sorted((r.network_id, r.target_id) for r in out.items) == sorted(
        zip(exp.network_id, exp.target_id, strict=True)
    )


@pytest.mark.parametrize("by", ["tissue", "disease", "cell_type"])
def test_regulator_summary_groups(reader, frames, by):
    ctx = edges_with_context(frames)
    gene = int(ctx.target_id.value_counts().index[1])
    rows = queries.regulator_summary(reader.con, gene, by=by, top=1000)
    hits = ctx[ctx.target_id == gene]
    expected = hits.groupby([by, "regulator_id"]).agg(n=("network_id", "nunique"), mean=("weight", "mean"))
    assert len(rows) == len(expected)
    sizes = frames["networks"][by].value_counts()
    for row in rows:
        ref = expected.loc[(row.group, row.partner_id)]
        assert row.n_networks == ref.n and row.mean_weight == pytest.approx(ref["mean"], rel=1e-5)
        assert row.n_group_networks == sizes[row.group]
    top2 = queries.regulator_summary(reader.con, gene, by=by, top=2)
    for group in {r.group for r in top2}:
        best = sorted((-r.n_networks, -r.mean_weight) for r in rows if r.group == group)[:2]
        assert [(-r.n_networks, -r.mean_weight) for r in top2 if r.group == group] == best
    with pytest.raises(ValueError, match="unknown grouping"):
        queries.regulator_summary(reader.con, gene, by="colour")


def test_target_summary_counts_networks(reader, frames):
    ctx = edges_with_context(frames)
    reg = int(ctx.regulator_id.value_counts().index[0])
    rows = queries.target_summary(reader.con, reg, by="disease", top=1000)
    hits = ctx[ctx.regulator_id == reg]
    assert sum(r.n_networks for r in rows) == len(hits)


def test_summaries_keep_unrecorded_labels_as_their_own_group_last(tmp_path):
    """Networks without a tissue form one group (after the named ones); a filter counts only its networks."""
    from schema import NetworkMeta, Store
    from schema.synthetic import gene_names, gene_table, random_edges

    store = Store(tmp_path)
    store.init()
    rng = np.random.default_rng(5)
    tissues = ["lung", None, "lung", None, "liver", "lung"]
    with store.new_release() as w:
        w.upsert_genes(gene_table(30))
        ds = w.upsert_dataset(source="test", source_id="d")
        for k, tissue in enumerate(tissues):
            nid = w.add_network(
                NetworkMeta(dataset_id=ds.id, n_cells=10, tissue=tissue, cell_type=f"type {k}")
            )
            w.add_edges(nid, random_edges(rng, gene_names(30), 200))
    with store.open_reader() as r:
        edges = r.con.execute("SELECT network_id, regulator_id, target_id, weight FROM edges").df()
        nets = r.con.execute("SELECT id, tissue, cell_type FROM networks").df()
        ctx = edges.merge(nets, left_on="network_id", right_on="id")
        reg = int(ctx.regulator_id.value_counts().index[0])
        some = ("type 1", "type 2", "type 3")  # a lung network and two without a tissue
        for where, chosen in ((None, ctx), (NetworkFilter(cell_types=some), ctx[ctx.cell_type.isin(some)])):
            rows = queries.target_summary(r.con, reg, by="tissue", where=where, top=1000)
            hits = chosen[chosen.regulator_id == reg].fillna({"tissue": "(none)"})
            expected = hits.groupby(["tissue", "target_id"]).agg(
                n=("network_id", "nunique"), w=("weight", "mean")
            )
            assert len(rows) == len(expected)
            for row in rows:
                ref = expected.loc[(row.group or "(none)", row.partner_id)]
                assert row.n_networks == ref.n and row.mean_weight == pytest.approx(ref.w, rel=1e-5)
            chosen_nets = chosen.drop_duplicates("network_id").fillna({"tissue": "(none)"})
            sizes = chosen_nets.tissue.value_counts()
            assert {(row.group or "(none)", row.n_group_networks) for row in rows} == set(sizes.items())
            groups = [row.group for row in rows]
            assert groups == sorted(groups, key=lambda g: (g is None, g or ""))  # named first, then none


@pytest.mark.parametrize("by", queries.HUB_STATISTICS)
def test_hubs(reader, frames, by):
    stats = frames["node_stats"]
    s = stats[stats.network_id == 2]
    hubs = queries.hubs(reader.con, 2, by=by, k=5)
    assert [h.rank for h in hubs] == [1, 2, 3, 4, 5]
    assert [getattr(h, by) for h in hubs] == pytest.approx(sorted(s[by], reverse=True)[:5])
    batched = queries.hubs_for_networks(reader.con, [4, 2, 999], by=by, k=5)
    assert batched[1] == hubs and batched[2] == [] and all(h.network_id == 4 for h in batched[0])


def test_hubs_can_keep_transcription_factors_only(reader):
    hubs = queries.hubs(reader.con, 1, k=50, tfs_only=True)
    genes = queries.genes_by_ids(reader.con, [h.gene_id for h in hubs])
    assert hubs and all(g.is_tf for g in genes)
    assert queries.hubs_for_networks(reader.con, [3, 1], k=50, tfs_only=True)[1] == hubs  # batched agrees
    with pytest.raises(ValueError, match="unknown hub statistic"):
        queries.hubs(reader.con, 1, by="size")


def test_node_stats_lookup(reader, frames):
    stats = frames["node_stats"]
    s = stats[stats.network_id == 1].set_index("gene_id")
    gene = int(s.index[0])
    row, missing = queries.node_stats(reader.con, 1, [gene, 10_000])
    assert missing is None and row.out_degree == s.loc[gene].out_degree


def test_compare_networks(reader, frames):
    e = frames["edges"]
    a = e[(e.network_id == 1) & (e["rank"] <= 300)].set_index(["regulator_id", "target_id"])
    b = e[(e.network_id == 2) & (e["rank"] <= 300)].set_index(["regulator_id", "target_id"])
    shared = a.index.intersection(b.index)
    c = queries.compare_networks(reader.con, 1, 2, max_rank=300, limit=5)
    assert (c.n_edges_a, c.n_edges_b, c.n_shared) == (300, 300, len(shared))
    assert c.n_gained == 300 - len(shared) == c.n_lost
    assert c.jaccard == pytest.approx(len(shared) / (600 - len(shared)))
    if len(shared) >= 3:
        assert c.spearman == pytest.approx(spearmanr(a.loc[shared].weight, b.loc[shared].weight).statistic)
    assert [s.rank_a for s in c.shared] == sorted(a.loc[shared]["rank"])[:5]
    assert all((g.regulator_id, g.target_id) not in a.index for g in c.gained)
    assert [x.rank for x in c.lost] == sorted(a.drop(shared)["rank"])[:5]
    same = queries.compare_networks(reader.con, 3, 3)
    assert same.jaccard == 1.0 and same.n_gained == same.n_lost == 0 and same.spearman == pytest.approx(1.0)


def test_gene_index_resolves_like_the_query(reader):
    index = queries.gene_index(reader.con)
    n_genes = reader.con.execute("SELECT count(*) FROM genes").fetchone()[0]
    assert len(index.by_id) == n_genes and index.by_id[5] == queries.genes_by_ids(reader.con, [5])[0]
    names = [
        "g5",
        "G5",
        "ENSG00000000007",
        "ensg00000000007",
        "nope",
        "",
        *(g.symbol for g in index.by_id.values()),
    ]
    for organism in (None, "NCBITaxon:9606", "NCBITaxon:10090"):
        expected = queries.resolve_genes(reader.con, names, organism=organism)
        assert index.resolve(names, organism=organism) == expected
    with pytest.raises(ValueError, match="at most"):
        index.resolve(["g1"] * (queries.MAX_GENE_LIST + 1))


def test_gene_index_ties_like_the_query():
    # duplicate symbols across organisms and within one, an Ensembl id equal to another gene's symbol
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE genes (id INTEGER, ensembl_id VARCHAR, symbol VARCHAR, organism VARCHAR,"
        " chromosome VARCHAR, start BIGINT, is_tf BOOLEAN)"
    )
    con.execute("CREATE TABLE gene_synonyms (synonym VARCHAR, ensembl_id VARCHAR)")
    human, mouse = "NCBITaxon:9606", "NCBITaxon:10090"
    con.executemany(
        "INSERT INTO genes VALUES (?, ?, ?, ?, NULL, NULL, false)",
        [[4, "ENSMUSG1", "Tp53", mouse], [2, "ENSG2", "TP53", human], [3, "ENSG3", "tp53", human],
         [5, "ENSG5", "ENSG2", human], [6, "ENSG6", None, human]],
    )  # fmt: skip
    index = queries.gene_index(con)
    names = ["TP53", "tp53", "Tp53", "ENSG2", "ENSMUSG1", "ENSG6", "ENSG3", "nope"]
    for organism in (None, human, mouse):
        assert index.resolve(names, organism=organism) == queries.resolve_genes(con, names, organism=organism)
    assert [g.id for g in index.resolve(["tp53", "ENSG2"])] == [2, 2]  # lowest id; Ensembl id wins


def test_genes_resolve_and_search(reader):
    g5, by_id, unknown = queries.resolve_genes(reader.con, ["g5", "ENSG00000000007", "nope"])
    assert g5.symbol == "G5" and by_id.symbol == "G7" and unknown is None
    assert queries.resolve_genes(reader.con, ["G5"], organism="NCBITaxon:10090") == [None]
    found = queries.search_genes(reader.con, "g1", limit=3)
    assert found[0].symbol == "G1" and all(g.symbol.startswith("G1") for g in found)


def test_store_info_counts(reader, frames):
    info = queries.store_info(reader.con)
    assert info.schema_version == SCHEMA_VERSION and info.release_id == reader.release_id
    assert info.n_networks == N_NETWORKS == len(frames["networks"])
    assert info.n_edges == len(frames["edges"]) and info.n_gene_sets == 13


@pytest.mark.parametrize(
    ("across", "partner"), [("targets_of", "target_id"), ("regulators_of", "regulator_id")]
)
def test_one_gene_across_networks_read_in_windows_pages_like_one_scan(tmp_path, monkeypatch, across, partner):
    """A gene's page is read in growing windows of network ids: the pages and cursors of one scan."""
    from schema import Store
    from schema.queries import edges as edge_queries
    from schema.synthetic import build_synthetic_atlas

    build_synthetic_atlas(tmp_path, n_networks=30, n_edges=400, n_genes=60)

    def all_pages(window: int, **options) -> list:
        monkeypatch.setattr(edge_queries, "FIRST_WINDOW", window)
        pages, after = [], None
        with Store(tmp_path).open_reader() as r:
            while True:
                page = getattr(queries, across)(r.con, 3, first=7, after=after, **options)
                items = [(e.network_id, getattr(e, partner), e.rank) for e in page.items]
                pages.append((items, page.next_cursor))
                if page.next_cursor is None:
                    return pages
                after = page.next_cursor

    for options in ({}, {"max_rank": 50}, {"where": NetworkFilter(tissues=("lung",))}):
        one_scan = all_pages(10**9, **options)
        assert sum(len(items) for items, _ in one_scan) > 7  # several pages
        assert all_pages(1, **options) == all_pages(2, **options) == one_scan


def test_synthetic_networks_draw_among_network_genes(tmp_path):
    """``network_genes`` keeps each network's edges among that many genes; the networks differ in them."""
    from schema import Store
    from schema.synthetic import build_synthetic_atlas

    build_synthetic_atlas(tmp_path, n_networks=6, n_edges=300, n_genes=200, network_genes=40)
    with Store(tmp_path).open_reader() as r:
        genes = r.con.execute(
            "SELECT network_id, list(DISTINCT gene_id) FROM (SELECT network_id, regulator_id AS gene_id"
            " FROM edges UNION ALL SELECT network_id, target_id FROM edges) GROUP BY ALL ORDER BY 1"
        ).fetchall()
        n_genes = dict(r.con.execute("SELECT id, n_genes FROM networks").fetchall())
    assert len(genes) == 6
    assert all(len(ids) <= 40 and n_genes[nid] == len(ids) for nid, ids in genes)
    assert len({frozenset(ids) for _, ids in genes}) == 6
    with pytest.raises(ValueError, match="network_genes must be between 2 and n_genes"):
        build_synthetic_atlas(tmp_path / "bad", n_networks=1, n_edges=10, n_genes=20, network_genes=21)


@pytest.mark.parametrize(("n_genes", "n_edges"), [(40, 300), (40, 1600), (2000, 5000), (3, 20)])
def test_random_edge_ids_are_distinct_pairs_among_the_genes(n_genes, n_edges):
    """As many distinct (regulator, target) pairs as asked (or every pair), each gene index in range."""
    import numpy as np

    from schema.synthetic import random_edge_ids

    regulator, target, weight = random_edge_ids(np.random.default_rng(1), n_genes, n_edges)
    expected = min(n_edges, n_genes * n_genes)
    assert regulator.size == target.size == weight.size == expected
    assert np.unique(regulator * n_genes + target).size == expected
    assert regulator.min() >= 0 and target.min() >= 0 and max(regulator.max(), target.max()) < n_genes
    assert np.all((weight >= 0) & (weight < 1))


@pytest.mark.parametrize(
    "query",
    [
        lambda con: queries.all_networks(con, limit=1),  # counted, then refused: nothing else read
        lambda con: queries.find_networks(con, first=1, after=make_cursor(N_NETWORKS)),  # past the last page
    ],
    ids=["all_networks", "find_networks"],
)
def test_a_query_leaves_its_connection_free_for_the_next(reader, query):
    """DuckDB refuses ``con.sql()`` and ``register()`` while an ``execute()`` result is unread to its end
    (what ``fetchone()`` leaves), and the server's pooled connections run one request's queries after
    another's: both of these once left such a result, and an Arrow export on the connection then failed
    (tests/test_boundaries.py keeps ``fetchone()`` out of the readers)."""
    con = reader.cursor()
    try:
        query(con)
        assert network_edges_table(con, 1, min_weight=None, max_rank=None, limit=5).num_rows == 5
    finally:
        con.close()
