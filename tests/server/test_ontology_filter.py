"""A filter on a cell type, tissue or disease term selects its descendants (over HTTP), via the closure
that ingestion writes into the release (``term_ancestors``)."""

import pytest

from ingest.terms import write_term_closure
from schema import Store
from tests.server.conftest import LIVER, LUNG, NORMAL, make_client, write_store

CD4 = ("CD4-positive, alpha-beta T cell", "CL:0000624")
CD8 = ("CD8-positive, alpha-beta T cell", "CL:0000625")
NETWORKS = [
    ({"tissue": LUNG, "disease": NORMAL, "cell": CD4}, [("TF1", "G3", 0.9)]),
    ({"tissue": LIVER, "disease": NORMAL, "cell": CD8}, [("TF2", "G4", 0.5)]),
]
QUERY = (
    "query($w: NetworkFilterInput) { networks(filter: $w) {"
    " totalCount nodes { cellType { label } tissue { label } } } }"
)


@pytest.fixture(scope="module")
def gql(tmp_path_factory):
    root = tmp_path_factory.mktemp("ontology")
    write_store(root, NETWORKS)
    store = Store(root)
    with store.new_release(note="closure") as writer:
        assert write_term_closure(writer) > 0
    with make_client(root) as client:

        def run(where):
            body = client.post("/graphql", json={"query": QUERY, "variables": {"w": where}}).json()
            assert "errors" not in body, body
            return body["data"]["networks"]

        yield run


@pytest.mark.parametrize("term", ["T cell", "t CELL", "CL:0000084", "alpha-beta T cell"])
def test_a_parent_term_selects_its_descendants_across_tissues(gql, term):
    found = gql({"cellTypes": [term]})
    assert found["totalCount"] == 2
    assert {n["tissue"]["label"] for n in found["nodes"]} == {"lung", "liver"}


def test_exact_terms_match_only_the_term_itself(gql):
    assert gql({"cellTypes": ["T cell"], "exactTerms": True})["totalCount"] == 0
    assert gql({"cellTypes": ["CL:0000625"], "exactTerms": True})["totalCount"] == 1
    assert gql({"cellTypes": ["CL:0000625"]})["nodes"] == [
        {"cellType": {"label": CD8[0]}, "tissue": {"label": "liver"}}
    ]


def test_tissue_terms_expand_too(gql):
    # lung is a respiratory system organ; liver is not
    found = gql({"tissues": ["UBERON:0001004"]})
    assert [n["tissue"]["label"] for n in found["nodes"]] == ["lung"]


def test_the_release_records_the_ontology_version(tmp_path_factory):
    root = tmp_path_factory.mktemp("ontology_meta")
    write_store(root, NETWORKS)
    store = Store(root)
    with store.new_release(note="closure") as writer:
        write_term_closure(writer)
    with store.open_reader() as reader:
        value = reader.cursor().execute("SELECT value FROM store_meta WHERE key = 'ontology_version'")
        assert value.fetchone()[0]


def test_filter_values_that_match_nothing_are_reported(tmp_path_factory):
    root = tmp_path_factory.mktemp("unmatched")
    write_store(root, NETWORKS)
    query = "query($w: NetworkFilterInput) { networks(filter: $w) { totalCount unmatched } }"
    where = {"tissues": ["Lung ", "lung"], "cellTypes": ["CL:9999999"]}
    with make_client(root) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"w": where}}).json()
    unmatched = ["tissues=Lung ", "cellTypes=CL:9999999"]
    assert body["data"]["networks"] == {"totalCount": 0, "unmatched": unmatched}


def test_gene_set_collections_are_listed_by_their_exact_names(tmp_path_factory):
    root = tmp_path_factory.mktemp("collections")
    write_store(root, NETWORKS)
    with make_client(root) as client:
        body = client.post("/graphql", json={"query": "{ geneSetCollections { name nSets } }"}).json()
    assert body["data"]["geneSetCollections"] == [{"name": "test", "nSets": 3}]
