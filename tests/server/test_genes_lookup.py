"""Gene names over GraphQL: versioned Ensembl ids, synonyms, the bulk lookup and nodeStatistics' reports.

The store is the hand-made one of conftest plus, in a second release, a mouse gene and a few synonyms:

    ALPHA3 -> G3          tf-one -> TF1         G6 -> G7 (a current symbol: G6 stays G6)
    SHARED -> G4 and G5 (ambiguous)             BOTH -> G8 (human) and Mg1 (mouse)
"""

# ruff: noqa: E501  (GraphQL documents read best on one line each)

import pyarrow as pa
import pytest

from schema import queries
from schema.reference import gene_synonyms
from schema.release import Store
from server.config import Limits
from tests.server.conftest import HUMAN, GraphQL, ensembl, make_client, write_store

MOUSE = "NCBITaxon:10090"
MOUSE_GENE = "ENSMUSG00000000001"
SYNONYMS = [
    ("ALPHA3", "G3"),
    ("tf-one", "TF1"),
    ("G6", "G7"),
    ("SHARED", "G4"),
    ("SHARED", "G5"),
    ("BOTH", "G8"),
    ("BOTH", MOUSE_GENE),
]


def _ensembl_id(name: str) -> str:
    return name if name.startswith("ENSMUSG") else ensembl(name)


@pytest.fixture(scope="module")
def synonym_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synonyms")
    store = write_store(root)
    with store.new_release(note="a mouse gene and synonyms") as w:
        w.upsert_genes(pa.table({"ensembl_id": [MOUSE_GENE], "symbol": ["Mg1"], "organism": [MOUSE]}))
        w.set_gene_synonyms(
            pa.table(
                {"synonym": [s for s, _ in SYNONYMS], "ensembl_id": [_ensembl_id(g) for _, g in SYNONYMS]}
            )
        )
    return root


@pytest.fixture(scope="module")
def sgql(synonym_root):
    with make_client(synonym_root) as client:
        yield GraphQL(client)


# --- versioned Ensembl ids ----------------------------------------------------------------------------


def test_versioned_ensembl_ids_resolve_in_gene_and_its_regulators(sgql):
    query = """query($id: String) { gene(ensemblId: $id) { symbol ensemblId
        regulators { nodes { networkId regulator { symbol } } } } }"""
    gene = sgql.data(query, {"id": ensembl("G3") + ".12"})["gene"]
    plain = sgql.data(query, {"id": ensembl("G3")})["gene"]
    assert gene == plain and gene["symbol"] == "G3" and gene["ensemblId"] == ensembl("G3")
    assert {(r["networkId"], r["regulator"]["symbol"]) for r in gene["regulators"]["nodes"]} == {
        (1, "TF1"), (1, "TF2"), (2, "TF1")
    }  # fmt: skip
    by_symbol_argument = sgql.data('{ gene(symbol: "ENSG00000000003.5") { symbol } }')["gene"]
    assert by_symbol_argument == {"symbol": "G3"}
    for not_a_version in (ensembl("G3") + ".", ensembl("G3") + ".v2", ensembl("G3") + ".1.2"):
        assert sgql.data(query, {"id": not_a_version})["gene"] is None


def test_versioned_ensembl_ids_in_edges_and_enrichment_lists(sgql):
    edges = sgql.data(
        '{ network(id: 1) { edges(regulator: "ENSG00000000002.3") { nodes { target { symbol } } } } }'
    )["network"]["edges"]["nodes"]
    assert [e["target"]["symbol"] for e in edges] == ["G3", "G6"]
    query = """query($g: [String!]!) { enrichment(genes: $g, collections: ["test"], minSetSize: 1) { queryGeneCount unknownGenes
        results { geneSet overlap } } }"""
    names = [ensembl("G3") + ".1", ensembl("G4") + ".22", "G5", "ENSG99999999999.1"]
    result = sgql.data(query, {"g": names})["enrichment"]
    assert result["queryGeneCount"] == 3 and result["unknownGenes"] == ["ENSG99999999999.1"]
    assert {r["geneSet"]: r["overlap"] for r in result["results"]}["SET_A"] == 3


# --- synonyms -----------------------------------------------------------------------------------------


def test_a_synonym_resolves_to_its_gene_in_any_case(sgql):
    gene = sgql.data('{ gene(symbol: "alpha3") { symbol synonyms } }')["gene"]
    assert gene == {"symbol": "G3", "synonyms": ["ALPHA3"]}
    assert sgql.data('{ gene(symbol: "TF-ONE") { symbol } }')["gene"] == {"symbol": "TF1"}
    assert sgql.data('{ gene(symbol: "G6") { symbol } }')["gene"] == {"symbol": "G6"}  # current symbol wins
    assert sgql.data('{ gene(symbol: "G7") { synonyms } }')["gene"] == {"synonyms": ["G6"]}
    edges = sgql.data('{ network(id: 1) { edges(target: "Alpha3") { nodes { regulator { symbol } } } } }')
    assert [e["regulator"]["symbol"] for e in edges["network"]["edges"]["nodes"]] == ["TF1", "TF2"]


def test_an_ambiguous_synonym_names_no_gene(sgql):
    assert sgql.data('{ gene(symbol: "SHARED") { symbol } }')["gene"] is None
    body = sgql('{ network(id: 1) { edges(regulator: "shared") { nodes { rank } } } }')
    assert body["errors"][0]["message"] == (
        f"ambiguous gene 'shared': a synonym of G4 ({ensembl('G4')}), G5 ({ensembl('G5')}); "
        "give an Ensembl id or the organism"
    )
    # a synonym of one human and one mouse gene names one gene once the organism is given
    assert sgql.data('{ gene(symbol: "BOTH") { symbol } }')["gene"] is None
    human = sgql.data('{ gene(symbol: "BOTH", organism: "NCBITaxon:9606") { symbol } }')["gene"]
    mouse = sgql.data('{ gene(symbol: "both", organism: "NCBITaxon:10090") { symbol } }')["gene"]
    assert (human, mouse) == ({"symbol": "G8"}, {"symbol": "Mg1"})
    enrichment = sgql.data('{ enrichment(genes: ["SHARED", "G6"]) { queryGeneCount unknownGenes } }')
    assert enrichment["enrichment"] == {"queryGeneCount": 1, "unknownGenes": ["SHARED"]}


def test_the_gene_index_and_the_sql_resolve_alike(synonym_root):
    reader = Store(synonym_root).open_reader()
    index = queries.gene_index(reader.con)
    names = ["alpha3", "SHARED", "both", "G6", "g6", "TF-ONE", ensembl("G3") + ".7", ensembl("G3"), "Mg1",
             MOUSE_GENE + ".3", "ENSG00000000003.", "nope"]  # fmt: skip
    for organism in (None, HUMAN[1], MOUSE):
        assert index.resolve(names, organism=organism) == queries.resolve_genes(
            reader.con, names, organism=organism
        )
    assert [g and g.symbol for g in index.resolve(names)] == [
        "G3", None, None, "G6", "G6", "TF1", "G3", "G3", "Mg1", "Mg1", None, None
    ]  # fmt: skip
    assert [g.symbol for g in index.match(["shared"])[0].candidates] == ["G4", "G5"]


def test_the_bundled_synonyms_name_real_genes(tmp_path):
    store = Store(tmp_path)
    store.init()
    columns = ("ensembl_id", "symbol", "organism")
    genes = [("ENSG00000105329", "TGFB1", HUMAN[1]), ("ENSG00000141510", "TP53", HUMAN[1]),
             ("ENSMUSG00000059552", "Trp53", MOUSE)]  # fmt: skip
    with store.new_release() as w:
        w.upsert_genes(pa.table({name: [g[i] for g in genes] for i, name in enumerate(columns)}))
        assert w.set_gene_synonyms(gene_synonyms()) > 100_000
    index = queries.gene_index(store.open_reader().con)
    tgfb1, p53, human_p53 = index.resolve(["DPD1", "p53", "P53"], organism=None)[:2] + index.resolve(
        ["P53"], organism=HUMAN[1]
    )
    assert tgfb1.symbol == "TGFB1" and p53 is None and human_p53.symbol == "TP53"
    assert {"DPD1", "TGFbeta"} <= set(index.synonyms[tgfb1.id])


# --- the bulk lookup ----------------------------------------------------------------------------------

LOOKUP = """query($names: [String!]!, $organism: String) { genesByName(names: $names, organism: $organism) {
    matches { name matchedBy gene { symbol } candidates { symbol } } unknownGenes ambiguousGenes } }"""


def test_genes_by_name_answers_each_name_in_order(sgql):
    names = ["G3", ensembl("G4") + ".2", "alpha3", "SHARED", "nope", "g3", "BOTH"]
    lookup = sgql.data(LOOKUP, {"names": names})["genesByName"]
    assert [(m["name"], m["matchedBy"], m["gene"] and m["gene"]["symbol"]) for m in lookup["matches"]] == [
        ("G3", "SYMBOL", "G3"),
        (ensembl("G4") + ".2", "ENSEMBL_ID", "G4"),
        ("alpha3", "SYNONYM", "G3"),
        ("SHARED", None, None),
        ("nope", None, None),
        ("g3", "SYMBOL", "G3"),
        ("BOTH", None, None),
    ]
    assert [m["candidates"] for m in lookup["matches"]][3] == [{"symbol": "G4"}, {"symbol": "G5"}]
    assert lookup["unknownGenes"] == ["nope"] and lookup["ambiguousGenes"] == ["SHARED", "BOTH"]
    mouse = sgql.data(LOOKUP, {"names": ["BOTH", "G3"], "organism": MOUSE})["genesByName"]
    assert [m["gene"] for m in mouse["matches"]] == [{"symbol": "Mg1"}, None]
    assert mouse["unknownGenes"] == ["G3"] and mouse["ambiguousGenes"] == []


def test_genes_by_name_respects_the_gene_list_limit_and_is_charged_per_name(synonym_root):
    with make_client(synonym_root, Limits(max_gene_list=3, max_cost=100)) as client:
        gql = GraphQL(client)
        assert len(gql.data(LOOKUP, {"names": ["G3", "G4", "G5"]})["genesByName"]["matches"]) == 3
        body = gql(LOOKUP, {"names": ["G3", "G4", "G5", "G6"]})
        assert body["data"] is None
        assert body["errors"][0]["message"] == "names holds 4 names, at most 3 are allowed"
        per_name = """query($names: [String!]!) { genesByName(names: $names) { matches { gene {
            regulators(first: 20) { nodes { rank } } } } } }"""  # 1 + names x (1 + 1 + 1 + 20 x 2)
        assert "errors" not in gql(per_name, {"names": ["G3"]})
        refused = gql(per_name, {"names": ["G3", "G4", "G5"]})
        assert refused["data"] is None
        assert refused["errors"][0]["message"].startswith("Query cost 130 exceeds the limit of 100")


# --- nodeStatistics ------------------------------------------------------------------------------------

STATS = """query($g: [String!]!, $by: HubStatistic) { network(id: 1) { nodeStatistics(genes: $g, by: $by) {
    results { name inNetwork gene { symbol } statistics { outDegree inDegree pagerank rank } }
    unknownGenes ambiguousGenes } } }"""


def test_node_statistics_report_unknown_genes_and_genes_not_in_the_network(gql):
    body = gql(STATS, {"g": ["G3", "nope", "G8", "ENSG00000000001.4"]})
    assert "errors" not in body
    result = body["data"]["network"]["nodeStatistics"]
    shown = [(r["name"], r["inNetwork"], r["gene"] and r["gene"]["symbol"]) for r in result["results"]]
    assert shown == [("G3", True, "G3"), ("nope", False, None), ("G8", False, "G8"),
                     ("ENSG00000000001.4", True, "TF1")]  # fmt: skip
    g3, unknown, g8, tf1 = result["results"]
    assert (g3["statistics"]["inDegree"], g3["statistics"]["outDegree"]) == (2, 1)
    assert unknown["statistics"] is None and g8["statistics"] is None
    assert tf1["statistics"]["rank"] == 1  # the network's strongest hub by out-degree
    assert result["unknownGenes"] == ["nope"] and result["ambiguousGenes"] == []


def test_node_statistics_resolve_synonyms_in_the_network_organism(sgql):
    result = sgql.data(STATS, {"g": ["BOTH", "shared", "alpha3"]})["network"]["nodeStatistics"]
    assert [(r["name"], r["gene"] and r["gene"]["symbol"], r["inNetwork"]) for r in result["results"]] == [
        ("BOTH", "G8", False), ("shared", None, False), ("alpha3", "G3", True)
    ]  # fmt: skip
    assert result["ambiguousGenes"] == ["shared"] and result["unknownGenes"] == []


def test_node_statistics_by_a_statistic_sort_and_rank_by_it(gql):
    names = ["G8", "G7", "TF1", "nope", "G3", "TF2"]
    by_out = gql.data(STATS, {"g": names, "by": "OUT_DEGREE"})["network"]["nodeStatistics"]["results"]
    assert [r["name"] for r in by_out] == ["TF1", "TF2", "G3", "G7", "G8", "nope"]
    by_in = gql.data(STATS, {"g": names, "by": "IN_DEGREE"})["network"]["nodeStatistics"]["results"]
    order = [r["name"] for r in by_in]
    assert order[:2] == ["G3", "G7"] and order[-2:] == ["G8", "nope"]
    assert by_in[0]["statistics"]["rank"] == 1  # G3: two regulators, the most in network 1
    hubs = gql.data("{ network(id: 1) { hubs(by: PAGERANK, first: 10) { gene { symbol } rank } } }")
    hub_rank = {h["gene"]["symbol"]: h["rank"] for h in hubs["network"]["hubs"]}
    by_pagerank = gql.data(STATS, {"g": names, "by": "PAGERANK"})["network"]["nodeStatistics"]["results"]
    ranked = [r for r in by_pagerank if r["inNetwork"]]
    assert [r["statistics"]["pagerank"] for r in ranked] == sorted(
        (r["statistics"]["pagerank"] for r in ranked), reverse=True
    )
    assert [r["statistics"]["rank"] for r in ranked] == sorted(r["statistics"]["rank"] for r in ranked)
    assert {r["gene"]["symbol"]: r["statistics"]["rank"] for r in ranked} == {
        s: hub_rank[s] for s in ("G7", "TF1", "G3", "TF2")
    }
    given = gql.data(STATS, {"g": names})["network"]["nodeStatistics"]["results"]
    assert [r["name"] for r in given] == names  # without `by`: the order given
