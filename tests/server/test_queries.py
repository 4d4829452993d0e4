"""Every root query through the ASGI app, checked against the hand-made store of conftest.py."""

# ruff: noqa: E501  (GraphQL documents read best on one line each)

import pytest

from tests.server.conftest import ensembl


def test_meta_reports_release_counts_and_models(gql, store_root):
    from schema.release import Store

    data = gql.data(
        "{ meta { release schemaVersion apiVersion note counts { genes datasets networks edges geneSets }"
        " models { name checkpointHash config } } }"
    )["meta"]
    assert data["release"] == Store(store_root).current_release()
    assert data["note"] == "test store"
    assert data["counts"] == {"genes": 8, "datasets": 1, "networks": 3, "edges": 13, "geneSets": 3}
    assert data["models"] == [
        {"name": "scprint-test", "checkpointHash": "sha256-test", "config": {"preset": "tiny"}}
    ]


def test_gene_search_prefix_and_exact_first(gql):
    genes = gql.data('{ genes(search: "tf") { symbol ensemblId isTranscriptionFactor } }')["genes"]
    assert [g["symbol"] for g in genes] == ["TF1", "TF2"]
    assert all(g["isTranscriptionFactor"] for g in genes)
    by_id = gql.data('{ genes(search: "ENSG00000000003") { symbol } }')["genes"]
    assert by_id == [{"symbol": "G3"}]


def test_gene_by_symbol_or_ensembl_id(gql):
    by_symbol = gql.data('{ gene(symbol: "g3") { ensemblId symbol organism } }')["gene"]
    assert by_symbol == {"ensemblId": ensembl("G3"), "symbol": "G3", "organism": "NCBITaxon:9606"}
    by_id = gql.data("query($id: String) { gene(ensemblId: $id) { symbol } }", {"id": ensembl("TF2")})["gene"]
    assert by_id == {"symbol": "TF2"}
    assert gql.data('{ gene(symbol: "NOPE") { symbol } }')["gene"] is None
    # an Ensembl id argument must name an Ensembl id, not a symbol
    assert gql.data('{ gene(ensemblId: "G3") { symbol } }')["gene"] is None


def test_gene_needs_exactly_one_identifier(gql):
    body = gql('{ gene(symbol: "G3", ensemblId: "ENSG00000000003") { symbol } }')
    assert body["errors"][0]["message"] == "give exactly one of symbol or ensemblId"


def test_regulators_across_networks_with_filters(gql):
    query = """query($f: NetworkFilterInput, $w: Float) { gene(symbol: "G3") {
        regulators(filter: $f, minWeight: $w) { nodes { networkId weight rank tissue disease
            regulator { symbol } network { id cellType { label termId } } } pageInfo { hasNextPage } } } }"""
    nodes = gql.data(query)["gene"]["regulators"]["nodes"]
    found = {(n["networkId"], n["regulator"]["symbol"]) for n in nodes}
    assert found == {(1, "TF1"), (1, "TF2"), (2, "TF1")}
    covid = gql.data(query, {"f": {"diseases": ["MONDO:0100096"]}})["gene"]["regulators"]["nodes"]
    assert [(n["networkId"], n["weight"], n["rank"], n["disease"]) for n in covid] == [
        (2, pytest.approx(0.95), 1, "COVID-19")
    ]
    assert covid[0]["network"]["cellType"] == {"label": "B cell", "termId": "CL:0000236"}
    strong = gql.data(query, {"w": 0.85})["gene"]["regulators"]["nodes"]
    assert {(n["networkId"], n["regulator"]["symbol"]) for n in strong} == {(1, "TF1"), (2, "TF1")}


def test_targets_paginate_without_overlap(gql):
    query = """query($after: String) { gene(symbol: "TF1") {
        targets(first: 2, after: $after) { nodes { networkId target { symbol } } pageInfo { hasNextPage endCursor } } } }"""
    seen, after = [], None
    while True:
        page = gql.data(query, {"after": after})["gene"]["targets"]
        seen += [(n["networkId"], n["target"]["symbol"]) for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [(1, "G3"), (1, "G4"), (1, "G5"), (2, "G3"), (2, "G4"), (3, "G5")]


def test_regulators_grouped_by_tissue(gql):
    query = """{ gene(symbol: "G5") { regulatorsByGroup(groupBy: TISSUE) {
        group { label termId } networkCount partners { gene { symbol } networkCount meanWeight bestRank } } } }"""
    groups = gql.data(query)["gene"]["regulatorsByGroup"]
    by_tissue = {g["group"]["label"]: g for g in groups}
    assert set(by_tissue) == {"lung", "liver"}
    assert by_tissue["lung"]["group"]["termId"] == "UBERON:0002048"
    assert by_tissue["lung"]["networkCount"] == 2
    lung = {p["gene"]["symbol"]: p for p in by_tissue["lung"]["partners"]}
    assert set(lung) == {"TF1", "G4"}
    assert lung["TF1"]["networkCount"] == 1 and lung["TF1"]["meanWeight"] == pytest.approx(0.7)
    liver = by_tissue["liver"]["partners"]
    assert [(p["gene"]["symbol"], p["bestRank"]) for p in liver] == [("TF1", 1)]


def test_targets_grouped_by_disease(gql):
    query = '{ gene(symbol: "TF2") { targetsByGroup(groupBy: DISEASE, first: 1) { group { label } partners { gene { symbol } } } } }'
    groups = gql.data(query)["gene"]["targetsByGroup"]
    assert {g["group"]["label"]: len(g["partners"]) for g in groups} == {"COVID-19": 1, "normal": 1}
    normal = next(g for g in groups if g["group"]["label"] == "normal")
    assert normal["partners"][0]["gene"]["symbol"] == "G6"  # in 2 normal networks, the others in 1


def test_networks_filter_facets_and_pagination(gql):
    query = """query($f: NetworkFilterInput, $first: Int, $after: String) {
        networks(filter: $f, first: $first, after: $after) { totalCount nodes { id tissue { label termId } }
            pageInfo { hasNextPage endCursor }
            facets { tissue { term { label termId } count } disease { term { label } count }
                     cellType { term { label } count } organism { term { termId } count } } } }"""
    everything = gql.data(query)["networks"]
    assert everything["totalCount"] == 3
    assert {(f["term"]["label"], f["count"]) for f in everything["facets"]["tissue"]} == {
        ("lung", 2),
        ("liver", 1),
    }
    assert everything["facets"]["organism"] == [{"term": {"termId": "NCBITaxon:9606"}, "count": 3}]
    lung = gql.data(query, {"f": {"tissues": ["LUNG"]}})["networks"]
    assert [n["id"] for n in lung["nodes"]] == [1, 2]
    assert {(f["term"]["label"], f["count"]) for f in lung["facets"]["disease"]} == {
        ("normal", 1),
        ("COVID-19", 1),
    }
    page1 = gql.data(query, {"first": 2})["networks"]
    assert [n["id"] for n in page1["nodes"]] == [1, 2] and page1["pageInfo"]["hasNextPage"]
    page2 = gql.data(query, {"first": 2, "after": page1["pageInfo"]["endCursor"]})["networks"]
    assert [n["id"] for n in page2["nodes"]] == [3] and not page2["pageInfo"]["hasNextPage"]
    text = gql.data(query, {"f": {"text": "liver"}})["networks"]
    assert [n["id"] for n in text["nodes"]] == [3]


def test_network_with_edges_hubs_statistics_provenance(gql):
    query = """{ network(id: 1) { id nCells nEdges nGenes disease { label termId }
        edges(first: 3) { nodes { regulator { symbol } target { symbol } weight rank } pageInfo { hasNextPage } }
        hubs(first: 2) { gene { symbol } outDegree inDegree rank }
        nodeStatistics(genes: ["G3", "ENSG00000000008"]) {
            results { name inNetwork statistics { gene { symbol } inDegree outDegree } } unknownGenes }
        provenance { release parameters dataset { title source sourceId } model { name } } } }"""
    network = gql.data(query)["network"]
    assert network["nEdges"] == 6 and network["nCells"] == 100 and network["nGenes"] == 7
    assert network["disease"] == {"label": "normal", "termId": "PATO:0000461"}
    edges = network["edges"]["nodes"]
    assert [(e["regulator"]["symbol"], e["target"]["symbol"], e["rank"]) for e in edges] == [
        ("TF1", "G3", 1),
        ("TF1", "G4", 2),
        ("TF1", "G5", 3),
    ]
    assert network["edges"]["pageInfo"]["hasNextPage"]
    assert [(h["gene"]["symbol"], h["outDegree"], h["rank"]) for h in network["hubs"]] == [
        ("TF1", 3, 1),
        ("TF2", 2, 2),
    ]
    g3, g8 = network["nodeStatistics"]["results"]
    assert g3 == {
        "name": "G3",
        "inNetwork": True,
        "statistics": {"gene": {"symbol": "G3"}, "inDegree": 2, "outDegree": 1},
    }
    assert g8 == {"name": "ENSG00000000008", "inNetwork": False, "statistics": None}  # no edge in network 1
    assert network["nodeStatistics"]["unknownGenes"] == []
    provenance = network["provenance"]
    assert provenance["parameters"] == {"head_aggregation": "mean", "layers": "all"}
    assert provenance["dataset"] == {"title": "Test dataset", "source": "h5ad", "sourceId": "test.h5ad"}
    assert provenance["model"] == {"name": "scprint-test"}
    assert provenance["release"].startswith("r")


def test_network_edges_filters(gql):
    query = """{ network(id: 1) {
        byRegulator: edges(regulator: "TF2") { nodes { target { symbol } } }
        byTarget: edges(target: "G3", minWeight: 0.7) { nodes { regulator { symbol } } }
        top1: edges(topKPerRegulator: 1) { nodes { regulator { symbol } target { symbol } } } } }"""
    network = gql.data(query)["network"]
    assert [e["target"]["symbol"] for e in network["byRegulator"]["nodes"]] == ["G3", "G6"]
    assert [e["regulator"]["symbol"] for e in network["byTarget"]["nodes"]] == ["TF1"]
    top1 = [(e["regulator"]["symbol"], e["target"]["symbol"]) for e in network["top1"]["nodes"]]
    assert top1 == [("TF1", "G3"), ("TF2", "G3"), ("G3", "G7")]


def test_unknown_network_is_null_and_unknown_gene_argument_is_an_error(gql):
    assert gql.data("{ network(id: 999) { id } }")["network"] is None
    body = gql('{ network(id: 1) { edges(regulator: "NOT_A_GENE") { nodes { rank } } } }')
    assert "unknown gene 'NOT_A_GENE'" in body["errors"][0]["message"]


def test_hub_statistics_and_tf_only(gql):
    query = """{ network(id: 2) { byIn: hubs(by: IN_DEGREE, first: 1) { gene { symbol } inDegree }
        tfs: hubs(transcriptionFactorsOnly: true, by: WEIGHTED_OUT_DEGREE) { gene { symbol } weightedOutDegree }
        pr: hubs(by: PAGERANK, first: 8) { pagerank } } }"""
    network = gql.data(query)["network"]
    assert network["byIn"][0]["inDegree"] == 1
    # weighted out-degree in network 2: TF1 0.95 + 0.3, TF2 0.85 + 0.2
    assert [h["gene"]["symbol"] for h in network["tfs"]] == ["TF1", "TF2"]
    assert network["tfs"][0]["weightedOutDegree"] == pytest.approx(1.25)
    pageranks = [h["pagerank"] for h in network["pr"]]
    assert pageranks == sorted(pageranks, reverse=True)


def test_genes_selected_through_fragments_are_loaded(gql):
    query = """{ network(id: 1) { edges(first: 2) { nodes { ...Ends } } hubs(first: 1) { ... on NodeStatistics { gene { symbol } } } }
        gene(symbol: "G3") { regulators(first: 1) { ...Reg } } }
        fragment Ends on Edge { regulator { symbol } ... { target { symbol } } }
        fragment Reg on RegulationConnection { nodes { regulator { symbol } network { id } } }"""
    data = gql.data(query)
    assert data["network"]["edges"]["nodes"] == [
        {"regulator": {"symbol": "TF1"}, "target": {"symbol": "G3"}},
        {"regulator": {"symbol": "TF1"}, "target": {"symbol": "G4"}},
    ]
    assert data["network"]["hubs"] == [{"gene": {"symbol": "TF1"}}]
    assert data["gene"]["regulators"]["nodes"] == [{"regulator": {"symbol": "TF1"}, "network": {"id": 1}}]


def test_a_repeated_query_document_is_parsed_once(client, monkeypatch):
    """Analysis scripts send one document with new variables: it is parsed and validated once."""
    from graphql.language.parser import Parser

    calls = []
    parse_document = Parser.parse_document
    monkeypatch.setattr(Parser, "parse_document", lambda self: calls.append(1) or parse_document(self))
    query = "query OneGene($symbol: String!) { gene(symbol: $symbol) { symbol } }"
    for symbol in ("TF1", "TF2", "G3", "TF1"):
        body = client.post("/graphql", json={"query": query, "variables": {"symbol": symbol}}).json()
        assert body["data"]["gene"]["symbol"] == symbol
    assert len(calls) == 1
