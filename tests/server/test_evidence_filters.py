"""Evidence and quality as filters over HTTP: known / novel edges everywhere edges are answered, TF-only
lists, bulk gene lists, known-edge counts, networks filtered and sorted by quality, compare options.

Expected answers are computed here from the tables the store was built from (Python sets), not read back
from the store's SQL.
"""

import pytest

from schema import Store
from schema.priors import load_priors
from schema.quality import rescore_release
from scprint_graph import grn_metrics
from tests.schema.prior_store import build_prior_store
from tests.server.conftest import GraphQL, make_client

REGULATIONS = """
query ($gene: String!, $known: Boolean!, $novel: Boolean!, $tfs: Boolean!, $after: String) {
  gene(symbol: $gene) {
    regulators(knownOnly: $known, novelOnly: $novel, transcriptionFactorsOnly: $tfs, first: 50,
               after: $after) {
      nodes { networkId regulator { ensemblId isTranscriptionFactor } target { ensemblId } }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    built = build_prior_store(tmp_path_factory.mktemp("evidence-filters"))
    with Store(built.root).new_release(note="priors") as w:
        load_priors(w.con, "known", built.prior, origin="tests")
        rescore_release(w.con, metrics=grn_metrics)
    return built


@pytest.fixture(scope="module")
def gql(atlas):
    with make_client(atlas.root) as client:
        yield GraphQL(client)


def pairs(table) -> set[tuple[str, str]]:
    return set(zip(table["regulator"].to_pylist(), table["target"].to_pylist(), strict=True))


def all_pages(gql, query, variables, path):
    """Every node of a paged field, following endCursor; `path` leads from `data` to the connection."""
    nodes, after = [], None
    while True:
        connection = gql.data(query, {**variables, "after": after})
        for key in path:
            connection = connection[key]
        nodes += connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]


def busiest_target(atlas) -> str:
    """The gene (symbol) with most incoming edges over the networks, known and novel ones among them."""
    counts = {}
    for table in atlas.edges.values():
        for target in table["target"].to_pylist():
            counts[target] = counts.get(target, 0) + 1
    return f"G{int(max(counts, key=counts.get)[4:])}"


def test_known_and_novel_regulators_split_a_genes_edges_by_the_prior(atlas, gql):
    gene = busiest_target(atlas)
    known_pairs = pairs(atlas.prior)

    def edges(known, novel, tfs=False):
        variables = {"gene": gene, "known": known, "novel": novel, "tfs": tfs}
        nodes = all_pages(gql, REGULATIONS, variables, ["gene", "regulators"])
        return [(n["networkId"], n["regulator"]["ensemblId"], n["target"]["ensemblId"]) for n in nodes]

    everything, known, novel = edges(False, False), edges(True, False), edges(False, True)
    assert known and novel, "the test gene needs both known and novel edges"
    assert all((r, t) in known_pairs for _, r, t in known)
    assert not any((r, t) in known_pairs for _, r, t in novel)
    assert sorted(known + novel) == sorted(everything)
    tf_only = edges(False, False, tfs=True)
    tf_ids = {f"ENSG{i:011d}" for i in range(0, 150, 10)}
    assert tf_only == [e for e in everything if e[1] in tf_ids]
    errors = gql(REGULATIONS, {"gene": gene, "known": True, "novel": True, "tfs": False})["errors"]
    assert "knownOnly and novelOnly exclude each other" in errors[0]["message"]


BULK = """
query ($genes: [String!]!, $after: String, $known: Boolean! = false) {
  targets(genes: $genes, knownOnly: $known, first: 40, after: $after) {
    nodes { networkId rank regulator { symbol } target { ensemblId } }
    pageInfo { endCursor hasNextPage }
    unknownGenes
  }
}
"""
ONE = """
query ($gene: String!, $after: String) {
  gene(symbol: $gene) {
    targets(first: 40, after: $after) {
      nodes { networkId rank regulator { symbol } target { ensemblId } }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""


def test_targets_of_a_gene_list_in_one_request_equal_one_request_per_gene(gql):
    genes = ["G0", "G10", "G3"]
    bulk = all_pages(gql, BULK, {"genes": [*genes, "NOT_A_GENE"]}, ["targets"])
    one_by_one = [n for g in genes for n in all_pages(gql, ONE, {"gene": g}, ["gene", "targets"])]
    assert len(bulk) > 40, "the list's edges should span several pages"
    key = lambda n: (n["regulator"]["symbol"], n["networkId"], n["rank"])  # noqa: E731
    assert sorted(bulk, key=key) == sorted(one_by_one, key=key)
    assert gql.data(BULK, {"genes": ["G0", "NOT_A_GENE"]})["targets"]["unknownGenes"] == ["NOT_A_GENE"]


def test_known_edge_counts_per_network_match_the_prior(atlas, gql):
    known_pairs = pairs(atlas.prior)
    query = "query ($id: Int!) { network(id: $id) { knownEdges { source nKnownEdges } } }"
    for name, network_id in atlas.network_ids.items():
        expected = len(pairs(atlas.edges[name]) & known_pairs)
        counts = gql.data(query, {"id": network_id})["network"]["knownEdges"]
        assert counts[0] == {"source": None, "nKnownEdges": expected}, name
        assert counts[1:] == ([{"source": "known", "nKnownEdges": expected}] if expected else [])


NETWORKS_BY_QUALITY = """
query ($quality: QualityFilterInput!, $order: Boolean!, $after: String) {
  networks(filter: {quality: $quality}, orderByQuality: $order, first: 1, after: $after) {
    nodes { id quality(source: "known", scope: ALL) { status epr } }
    totalCount
    pageInfo { endCursor hasNextPage }
  }
}
"""


def test_networks_are_filtered_and_sorted_by_their_stored_quality(atlas, gql):
    quality = {"source": "known", "metric": "EPR", "scope": "ALL"}
    ranked = all_pages(gql, NETWORKS_BY_QUALITY, {"quality": quality, "order": True}, ["networks"])
    eprs = [n["quality"][0]["epr"] if n["quality"][0]["status"] == "SCORED" else None for n in ranked]
    scored = [e for e in eprs if e is not None]
    assert len(scored) >= 2 and scored == sorted(scored, reverse=True)
    assert eprs[: len(scored)] == scored, "unscored networks come last"
    assert ranked[0]["id"] == atlas.network_ids["good"]
    bound = {**quality, "minValue": (scored[0] + scored[1]) / 2}
    kept = gql.data(NETWORKS_BY_QUALITY, {"quality": bound, "order": False})["networks"]
    assert kept["totalCount"] == 1 and kept["nodes"][0]["id"] == atlas.network_ids["good"]
    errors = gql("{ networks(orderByQuality: true) { totalCount } }")["errors"]
    assert "orderByQuality needs filter.quality" in errors[0]["message"]
    for field in (
        '{ networks(filter: {quality: {source: "Known"}}) { totalCount } }',
        '{ gene(symbol: "G3") { regulators(filter: {quality: {source: "Known"}}) { nodes { rank } } } }',
        '{ enrichedRegulators(genes: ["G3"], filter: {quality: {source: "Known"}}) { results { overlap } } }',
        '{ networkGroups(filter: {quality: {source: "Known"}}) { totalCount } }',
    ):  # every field taking a network filter, not only `networks`
        messages = [e["message"] for e in gql(field)["errors"]]
        assert messages == ["unknown prior source 'Known'; loaded: known"], field


COMPARE = """
query ($a: Int!, $b: Int!, $known: Boolean!, $common: Boolean!, $first: Int!, $offset: Int!) {
  compareNetworks(a: $a, b: $b, knownOnly: $known, commonGenesOnly: $common, first: $first, offset: $offset) {
    sharedCount gainedCount lostCount
    shared { regulator { ensemblId } target { ensemblId } }
    lost { regulator { ensemblId } target { ensemblId } }
  }
}
"""


def test_compare_on_known_edges_common_genes_and_pages(atlas, gql):
    a, b = atlas.network_ids["good"], atlas.network_ids["random"]
    edges_a, edges_b = pairs(atlas.edges["good"]), pairs(atlas.edges["random"])
    known_pairs = pairs(atlas.prior)

    def compare(known=False, common=False, first=1000, offset=0):
        variables = {"a": a, "b": b, "known": known, "common": common, "first": first, "offset": offset}
        return gql.data(COMPARE, variables)["compareNetworks"]

    def edge_set(rows):
        return {(e["regulator"]["ensemblId"], e["target"]["ensemblId"]) for e in rows}

    known = compare(known=True)
    ka, kb = edges_a & known_pairs, edges_b & known_pairs
    assert (known["sharedCount"], known["gainedCount"], known["lostCount"]) == (
        len(ka & kb), len(kb - ka), len(ka - kb)
    )  # fmt: skip
    genes_a = {g for e in edges_a for g in e}
    genes_b = {g for e in edges_b for g in e}
    common_genes = genes_a & genes_b
    ca = {e for e in edges_a if set(e) <= common_genes}
    cb = {e for e in edges_b if set(e) <= common_genes}
    common = compare(common=True)
    assert (common["sharedCount"], common["lostCount"]) == (len(ca & cb), len(ca - cb))
    assert edge_set(common["lost"]) == ca - cb
    whole = compare(first=1000)
    assert whole["lostCount"] > 30
    pages = [compare(first=30, offset=offset)["lost"] for offset in range(0, whole["lostCount"], 30)]
    assert [e for page in pages for e in page] == whole["lost"]
    assert edge_set(whole["lost"]) == edges_a - edges_b
