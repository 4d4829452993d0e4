"""Network quality in the store: the figures bench/grn_quality.py computes, rescoring without the model."""

import numpy as np
import pyarrow as pa
import pytest

from bench.grn_quality import network_metrics
from schema import Store
from schema.priors import load_priors
from schema.quality import MIN_KNOWN_EDGES, TOO_FEW, quality_badge, rescore_release, score_edges
from schema.queries import evidence
from scprint_graph import grn_metrics
from tests.schema.prior_store import build_prior_store


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    built = build_prior_store(tmp_path_factory.mktemp("quality"))
    with Store(built.root).new_release(note="priors") as w:
        load_priors(w.con, "known", built.prior)
        assert rescore_release(w.con, metrics=grn_metrics) == 3
    return built


def _rows(built, name):
    with Store(built.root).open_reader() as r:
        nid = built.network_ids[name]
        return {q.scope: q for q in evidence.network_quality(r.con, [nid])[nid]}, evidence.network_tf_hubs(
            r.con, [nid]
        )[0]


def _bench_inputs(table: pa.Table):
    """The network's genes in gene-id order (synthetic ids follow Ensembl order) and the TFs among them."""
    genes = sorted(set(table["regulator"].to_pylist()) | set(table["target"].to_pylist()))
    tfs = {g for g in genes if int(g[4:]) % 10 == 0}
    return genes, tfs


@pytest.mark.parametrize("name", ["good", "random"])
def test_store_reports_what_bench_computes(scored, name):
    rows, hubs = _rows(scored, name)
    genes, tfs = _bench_inputs(scored.edges[name])
    bench = network_metrics(scored.edges[name], genes, scored.prior, tfs)
    assert rows["all"].status == rows["tf"].status == "scored"
    assert rows["all"].epr == bench["EPR"] and rows["all"].auprc == bench["AUPRC"]
    assert rows["tf"].epr == bench["EPR_TF"] and rows["tf"].auprc == bench["AUPRC_TF"]
    assert hubs.nes == pytest.approx(bench["TFhub_NES"], rel=1e-12)
    assert hubs.p_value == pytest.approx(bench["TFhub_p"], rel=1e-12)


def test_counts_and_random_precision_are_the_pairs_scored(scored):
    rows, _ = _rows(scored, "good")
    genes, tfs = _bench_inputs(scored.edges["good"])
    prior = set(zip(scored.prior["regulator"].to_pylist(), scored.prior["target"].to_pylist(), strict=True))
    universe = set(genes) & {g for pair in prior for g in pair}
    known = {(r, t) for r, t in prior if r in universe and t in universe}
    assert rows["all"].n_genes == len(universe) and rows["all"].n_known == len(known)
    assert rows["all"].n_pairs == len(universe) * (len(universe) - 1)
    assert rows["all"].random_precision == pytest.approx(len(known) / rows["all"].n_pairs)
    assert rows["tf"].n_regulators == len(universe & tfs)
    assert rows["tf"].n_known == sum(r in tfs for r, _ in known)
    assert rows["all"].auprc_ratio == pytest.approx(rows["all"].auprc / rows["all"].random_precision)


def test_good_network_beats_random_and_the_badge_says_so(scored):
    good, _ = _rows(scored, "good")
    rand, _ = _rows(scored, "random")
    assert good["all"].epr > 3 and good["all"].epr_p_value < 1e-6
    assert rand["all"].epr < 2 and rand["all"].epr_p_value > 0.05
    assert good["all"].badge == f"{good['all'].epr:.1f}x random against known"
    assert rand["all"].badge == "at random level against known"


def test_too_few_known_edges_gives_no_figure(scored):
    rows, hubs = _rows(scored, "tiny")
    for row in rows.values():
        assert row.status == TOO_FEW and row.n_known < MIN_KNOWN_EDGES
        assert row.auprc is None and row.epr is None
        assert row.badge == (
            f"too few known edges to score against known ({row.n_known} known; {MIN_KNOWN_EDGES} needed)"
        )
    assert hubs.n_ranked == 2 and hubs.top_k == 3


def test_rescoring_after_new_priors_reads_stored_edges_only(tmp_path):
    built = build_prior_store(tmp_path)
    good = built.network_ids["good"]
    store = Store(built.root)
    with store.new_release() as w:
        load_priors(w.con, "known", built.prior)
        rescore_release(w.con, metrics=grn_metrics)
    with store.open_reader() as r:
        before = {q.source: q.epr for q in evidence.network_quality(r.con, [good])[good] if q.scope == "all"}
    half = built.prior.slice(0, built.prior.num_rows // 2)
    with store.new_release() as w:
        load_priors(w.con, "known", half)  # replaces the source and drops its quality rows
        load_priors(w.con, "other", built.prior)
        assert w.con.execute("SELECT count(*) FROM network_quality WHERE source_id = 1").fetchall()[0][0] == 0
        rescore_release(w.con, metrics=grn_metrics)
    with store.open_reader() as r:
        after = {q.source: q for q in evidence.network_quality(r.con, [good])[good] if q.scope == "all"}
    assert set(after) == {"known", "other"}
    assert after["other"].epr == before["known"]  # same edges as the first "known": same figure
    genes, tfs = _bench_inputs(built.edges["good"])
    assert after["known"].epr == network_metrics(built.edges["good"], genes, half, tfs)["EPR"]


def test_score_edges_checks_shapes(scored):
    with Store(scored.root).open_reader() as r, pytest.raises(ValueError, match="same length"):
        score_edges(r.con, np.array([1, 2]), np.array([3]), np.array([0.5, 0.5]), metrics=grn_metrics)


def test_badge_needs_figures_when_scored():
    with pytest.raises(ValueError, match="needs an EPR"):
        quality_badge("CollecTRI", "scored", None, None, 12)
    assert quality_badge("CollecTRI", "scored", 2.44, 1e-5, 40) == "2.4x random against CollecTRI"


def test_rescoring_drops_rows_of_deleted_networks(tmp_path):
    built = build_prior_store(tmp_path)
    store = Store(built.root)
    with store.new_release() as w:
        load_priors(w.con, "known", built.prior)
        rescore_release(w.con, metrics=grn_metrics)
        w.delete_networks([built.network_ids["tiny"]])
        assert rescore_release(w.con, metrics=grn_metrics) == 2
    with store.open_reader() as r:
        left = r.con.execute("SELECT DISTINCT network_id FROM network_quality ORDER BY 1").fetchall()
        hubs = r.con.execute("SELECT network_id FROM network_tf_hubs ORDER BY 1").fetchall()
    assert left == hubs == [(built.network_ids["good"],), (built.network_ids["random"],)]
