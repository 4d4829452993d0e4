"""Evidence queries: priors per edge, known/novel edge filters, known-edge counts, quality filter and sort."""

import pyarrow as pa
import pytest

from schema import Store
from schema.priors import load_priors
from schema.quality import rescore_release
from schema.queries import evidence
from schema.queries.evidence import EvidenceFilter, QualityFilter
from scprint_graph import grn_metrics
from tests.schema.prior_store import build_prior_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two sources: ``known`` (the whole prior) and ``half`` (its first half, levels A, signs reversed)."""
    built = build_prior_store(tmp_path_factory.mktemp("evidence"))
    half = built.prior.slice(0, built.prior.num_rows // 2)
    half = pa.table(
        {
            "regulator": half["regulator"],
            "target": half["target"],
            "sign": pa.array([-s for s in half["sign"].to_pylist()], pa.int8()),
            "level": ["A"] * half.num_rows,
        }
    )
    with Store(built.root).new_release() as w:
        load_priors(w.con, "known", built.prior, origin="tests")
        load_priors(w.con, "half", half)
        rescore_release(w.con, metrics=grn_metrics)
    return built


@pytest.fixture
def con(store):
    with Store(store.root).open_reader() as r:
        yield r.con


def _ids(con):
    return dict(con.execute("SELECT ensembl_id, id FROM genes").fetchall())


def _prior_pairs(con, table):
    ids = _ids(con)
    return {
        (ids[r], ids[t]): s
        for r, t, s in zip(
            table["regulator"].to_pylist(),
            table["target"].to_pylist(),
            table["sign"].to_pylist(),
            strict=True,
        )
    }


def _network_pairs(con, network_id):
    return set(
        con.execute("SELECT regulator_id, target_id FROM edges WHERE network_id = ?", [network_id]).fetchall()
    )


def test_edge_evidence_names_sources_signs_and_levels(con, store):
    prior = _prior_pairs(con, store.prior)
    first = next(iter(prior))  # in both sources
    last = list(prior)[-1]  # only in "known"
    novel = next(p for p in _network_pairs(con, store.network_ids["good"]) if p not in prior)
    found = evidence.edge_evidence(con, [first, last, novel])
    assert set(found) == {first, last}
    assert [(e.source, e.sign, e.level) for e in found[first]] == [
        ("half", -prior[first], "A"),
        ("known", prior[first], None),
    ]
    assert [(e.source, e.sign_name) for e in found[last]] == [
        ("known", {1: "activation", -1: "repression", 0: "both"}[prior[last]])
    ]
    assert set(evidence.edge_evidence(con, [first, last], sources=["half"])) == {first}
    assert evidence.edge_evidence(con, []) == {}
    with pytest.raises(ValueError, match="at most 10000"):
        evidence.edge_evidence(con, [(1, 2)] * 10_001)


@pytest.mark.parametrize("sources", [(), ("half",)])
def test_known_and_novel_filters_split_a_networks_edges(con, store, sources):
    network_id = store.network_ids["good"]
    counted = {}
    for mode in ("any", "known", "novel"):
        clause, params = EvidenceFilter(mode, sources).sql("e")
        counted[mode] = set(
            con.execute(
                f"SELECT regulator_id, target_id FROM edges e WHERE e.network_id = ? AND {clause}",
                [network_id, *params],
            ).fetchall()
        )
    table = store.prior if not sources else store.prior.slice(0, store.prior.num_rows // 2)
    prior = set(_prior_pairs(con, table))
    everything = _network_pairs(con, network_id)
    assert counted["any"] == everything
    assert counted["known"] == everything & prior and counted["known"]
    assert counted["novel"] == everything - prior and counted["novel"]


def test_evidence_filter_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="evidence mode must be one of any, known, novel"):
        EvidenceFilter("maybe")


def test_known_edge_counts_per_source_and_any(con, store):
    ids = [store.network_ids["good"], store.network_ids["tiny"], 999]
    counts = evidence.known_edge_counts(con, ids)
    known = set(_prior_pairs(con, store.prior))
    half = set(_prior_pairs(con, store.prior.slice(0, store.prior.num_rows // 2)))
    good = _network_pairs(con, ids[0])
    assert [(c.source, c.n_known_edges) for c in counts[ids[0]]] == [
        (None, len(good & known)),
        ("half", len(good & half)),
        ("known", len(good & known)),
    ]
    assert [(c.source, c.n_known_edges) for c in counts[999]] == [(None, 0)]


def test_quality_rows_hubs_and_sources(con, store):
    good = store.network_ids["good"]
    rows = evidence.network_quality(con, [good, 999])
    assert [(q.source, q.scope) for q in rows[good]] == [
        ("half", "all"),
        ("half", "tf"),
        ("known", "all"),
        ("known", "tf"),
    ]
    assert rows[999] == []
    hubs = evidence.network_tf_hubs(con, [999, good])
    assert hubs[0] is None and hubs[1].network_id == good and hubs[1].n_tfs == 15
    assert [(s.name, s.origin) for s in evidence.prior_sources(con)] == [("half", None), ("known", "tests")]


def test_networks_sorted_and_filtered_by_quality(con, store):
    epr = {
        name: next(
            q.epr
            for q in evidence.network_quality(con, [nid])[nid]
            if q.source == "known" and q.scope == "all"
        )
        for name, nid in store.network_ids.items()
    }
    ranked = evidence.networks_by_quality(con, QualityFilter("known", "epr"))
    assert [r.network_id for r in ranked] == [store.network_ids[n] for n in ("good", "random", "tiny")]
    assert [r.value for r in ranked] == [epr["good"], epr["random"], None]  # unscored last
    ascending = evidence.networks_by_quality(con, QualityFilter("known", "epr"), descending=False)
    assert [r.network_id for r in ascending] == [store.network_ids[n] for n in ("random", "good", "tiny")]
    passing = evidence.networks_by_quality(con, QualityFilter("known", "epr", min_value=epr["random"] + 0.01))
    assert [r.network_id for r in passing] == [store.network_ids["good"]]
    ratio = evidence.networks_by_quality(
        con, QualityFilter("known", "auprc_ratio", scope="tf", max_value=1e9)
    )
    assert len(ratio) == 2 and all(r.value > 0 for r in ratio)
    clause, params = QualityFilter("known", min_value=0).sql("n")
    n = con.execute(f"SELECT count(*) FROM networks n WHERE {clause}", params).fetchall()[0][0]
    assert n == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "f1"}, "quality metric must be one of"),
        ({"scope": "targets"}, "quality scope must be one of"),
    ],
)
def test_quality_filter_rejects_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QualityFilter("known", **kwargs)
