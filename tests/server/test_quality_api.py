"""Network quality and edge evidence over GraphQL: scored when a release is written, served as stored."""

import pytest

from schema import NetworkMeta, Store
from schema.priors import load_priors
from schema.queries import evidence
from scprint_graph import grn_metrics
from server.app import create_app
from server.config import ServerConfig
from tests.schema.prior_store import build_prior_store
from tests.server.conftest import GraphQL, make_client
from tests.server.live import live_server
from tests.server.test_page import READY_HERE

QUERY = """
query ($id: Int!) {
  network(id: $id) {
    quality { source scope status nKnown epr auprc randomPrecision badge }
    tfHubs { nTfs topK topKTfs }
    edges(first: 200) { nodes { regulator { ensemblId } target { ensemblId } evidence { source sign } } }
  }
}
"""


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    """Priors loaded first; then a release adds a network, which the writer scores by itself."""
    built = build_prior_store(tmp_path_factory.mktemp("quality-api"))
    store = Store(built.root)
    with store.new_release(note="priors") as w:
        load_priors(w.con, "known", built.prior, origin="tests")
    with store.new_release(note="a new network", quality_metrics=grn_metrics) as w:
        dataset = w.upsert_dataset(source="test", source_id="later", content_hash="h2").id
        new_id = w.add_network(NetworkMeta(dataset_id=dataset, n_cells=50, cell_type="good again"))
        w.add_edges(new_id, built.edges["good"])
    return built, new_id


@pytest.fixture(scope="module")
def gql(atlas):
    built, _ = atlas
    with make_client(built.root) as client:
        yield GraphQL(client)


def test_a_new_network_is_scored_at_write_time_and_served_as_stored(atlas, gql):
    built, new_id = atlas
    network = gql.data(QUERY, {"id": new_id})["network"]
    with Store(built.root).open_reader() as reader:
        stored = evidence.network_quality(reader.con, [new_id])[new_id]
    assert stored, "the writer stored no quality row for the new network"
    got = {(q["source"], q["scope"].lower()): q for q in network["quality"]}
    assert set(got) == {(r.source, r.scope) for r in stored}
    for row in stored:
        q = got[(row.source, row.scope)]
        assert q["status"].lower() == row.status
        assert q["nKnown"] == row.n_known and q["badge"] == row.badge
        assert q["epr"] == pytest.approx(row.epr) and q["auprc"] == pytest.approx(row.auprc)
    scored = got[("known", "all")]
    assert scored["epr"] > 1.5 and "random" in scored["badge"]  # the good network beats random


def test_networks_written_before_the_priors_have_no_quality_until_rescored(atlas, gql):
    built, _ = atlas
    old = built.network_ids["good"]
    assert gql.data(QUERY, {"id": old})["network"]["quality"] == []


def test_every_edge_says_which_prior_contains_it(atlas, gql):
    built, new_id = atlas
    known = {
        (r, t): s
        for r, t, s in zip(
            built.prior["regulator"].to_pylist(),
            built.prior["target"].to_pylist(),
            built.prior["sign"].to_pylist(),
            strict=True,
        )
    }
    nodes = gql.data(QUERY, {"id": new_id})["network"]["edges"]["nodes"]
    signs = {1: "ACTIVATION", -1: "REPRESSION", 0: "BOTH"}
    n_known = 0
    for edge in nodes:
        pair = (edge["regulator"]["ensemblId"], edge["target"]["ensemblId"])
        if pair in known:
            n_known += 1
            assert edge["evidence"] == [{"source": "known", "sign": signs[known[pair]]}]
        else:
            assert edge["evidence"] == []
    assert 0 < n_known < len(nodes)


def test_regulations_and_shared_edges_carry_evidence_too(atlas, gql):
    built, new_id = atlas
    good = built.network_ids["good"]  # the same edges as the new network
    query = """
    query ($a: Int!, $b: Int!, $gene: String!) {
      compareNetworks(a: $a, b: $b, first: 200) { shared { evidence { source } } }
      gene(ensemblId: $gene) { targets(first: 50) { nodes { evidence { source } } } }
    }
    """
    regulator = built.prior["regulator"][0].as_py()
    data = gql.data(query, {"a": good, "b": new_id, "gene": regulator})
    shared = [n["evidence"] for n in data["compareNetworks"]["shared"]]
    targets = [n["evidence"] for n in data["gene"]["targets"]["nodes"]]
    assert [{"source": "known"}] in shared and [] in shared
    assert [{"source": "known"}] in targets


def test_exports_carry_quality_lines_and_which_prior_knows_each_edge(atlas):
    built, new_id = atlas
    with make_client(built.root) as client:
        tsv = client.get(f"/networks/{new_id}/edges.tsv").text.splitlines()
        graphml = client.get(f"/networks/{new_id}/network.graphml").text
    comments = [line for line in tsv if line.startswith("#")]
    assert comments and all(line.startswith("# quality vs known (") for line in comments)
    header, *rows = [line.split("\t") for line in tsv if not line.startswith("#")]
    column = header.index("known_in")
    known = set(zip(built.prior["regulator"].to_pylist(), built.prior["target"].to_pylist(), strict=True))
    for row in rows:
        is_known = (
            row[header.index("regulator_ensembl_id")],
            row[header.index("target_ensembl_id")],
        ) in known
        assert row[column].startswith("known:") if is_known else row[column] == ""
    assert "quality vs known" in graphml  # a graph attribute


@pytest.mark.browser
def test_the_page_shows_the_measured_quality_as_badges(atlas, browser):
    built, new_id = atlas
    config = ServerConfig(db=built.root, release_check_s=0.0)
    with live_server(create_app(config)) as url:
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(f"{url}/#/network/{new_id}")
        tab.wait_for_function(READY_HERE)
        badges = tab.locator("p.quality .badge").all_inner_texts()
        tab.close()
    with Store(built.root).open_reader() as reader:
        stored = evidence.network_quality(reader.con, [new_id])[new_id]
    assert badges == [r.badge for r in stored if r.scope == "all"]
    assert any("random against known" in b for b in badges) and errors == []


def test_known_only_and_novel_only_split_a_networks_edges(atlas, gql):
    _, new_id = atlas
    query = """
    query ($id: Int!, $known: Boolean!, $novel: Boolean!, $sources: [String!]) {
      network(id: $id) {
        edges(first: 1000, knownOnly: $known, novelOnly: $novel, evidenceSources: $sources) {
          nodes { rank evidence { source } }
        }
      }
    }
    """

    def ranks(known, novel, sources=None):
        variables = {"id": new_id, "known": known, "novel": novel, "sources": sources}
        nodes = gql.data(query, variables)["network"]["edges"]["nodes"]
        return [n["rank"] for n in nodes], nodes

    everything, _ = ranks(False, False)
    known, known_nodes = ranks(True, False)
    novel, novel_nodes = ranks(False, True)
    assert known and novel and sorted(known + novel) == everything
    assert all(n["evidence"] for n in known_nodes) and not any(n["evidence"] for n in novel_nodes)
    assert ranks(True, False, ["known"])[0] == known
    both = gql(query, {"id": new_id, "known": True, "novel": True, "sources": None})
    assert "exclude each other" in both["errors"][0]["message"]
    unknown = gql(query, {"id": new_id, "known": True, "novel": False, "sources": ["nope"]})
    assert "unknown prior source(s) 'nope'; loaded: known" in unknown["errors"][0]["message"]
