"""compareNetworks, enrichment and enrichedRegulators against hand-computed answers."""

# ruff: noqa: E501  (GraphQL documents read best on one line each)

from math import comb

import pytest


def test_compare_networks_counts_and_lists(gql):
    query = """{ compareNetworks(a: 1, b: 2) { networkA networkB edgeCountA edgeCountB sharedCount gainedCount
        lostCount jaccard rankCorrelation shared { regulator { symbol } target { symbol } rankA rankB weightB }
        gained { regulator { symbol } target { symbol } } lost { target { symbol } } } }"""
    cmp = gql.data(query)["compareNetworks"]
    assert (cmp["edgeCountA"], cmp["edgeCountB"]) == (6, 5)
    assert (cmp["sharedCount"], cmp["gainedCount"], cmp["lostCount"]) == (2, 3, 4)
    assert cmp["jaccard"] == pytest.approx(2 / 9)
    assert cmp["rankCorrelation"] is None  # fewer than 3 shared edges
    shared = [
        (e["regulator"]["symbol"], e["target"]["symbol"], e["rankA"], e["rankB"]) for e in cmp["shared"]
    ]
    assert shared == [("TF1", "G3", 1, 1), ("TF1", "G4", 2, 3)]
    gained = {(e["regulator"]["symbol"], e["target"]["symbol"]) for e in cmp["gained"]}
    assert gained == {("TF2", "G7"), ("TF2", "G8"), ("G4", "G5")}
    assert len(cmp["lost"]) == 4


def test_compare_unknown_network_is_a_clear_error(gql):
    body = gql("{ compareNetworks(a: 1, b: 77) { jaccard } }")
    assert body["errors"][0]["message"] == "unknown network id(s): 77"


def test_enrichment_of_a_user_gene_list(gql):
    query = """query($genes: [String!], $bg: [String!]) {
        enrichment(genes: $genes, background: $bg, collections: ["test"], minSetSize: 1) {
            queryGeneCount unknownGenes
            results { geneSet collection overlap setSize universeSize pValue oddsRatio fdr overlapGenes { symbol } } } }"""
    result = gql.data(query, {"genes": ["G3", "g4", "ENSG00000000005", "BOGUS"]})["enrichment"]
    assert result["queryGeneCount"] == 3
    assert result["unknownGenes"] == ["BOGUS"]
    top = result["results"][0]
    assert (top["geneSet"], top["collection"], top["overlap"], top["setSize"], top["universeSize"]) == (
        "SET_A",
        "test",
        3,
        3,
        8,
    )
    assert top["pValue"] == pytest.approx(1 / comb(8, 3))
    assert [g["symbol"] for g in top["overlapGenes"]] == ["G3", "G4", "G5"]
    assert top["oddsRatio"] > 1
    # a user background shrinks the universe
    narrowed = gql.data(query, {"genes": ["G3", "G4", "G5"], "bg": ["G3", "G4", "G5", "G6", "G7"]})[
        "enrichment"
    ]
    assert narrowed["results"][0]["universeSize"] == 5
    assert narrowed["results"][0]["pValue"] == pytest.approx(1 / comb(5, 3))


def test_enrichment_of_regulator_targets_and_hubs(gql):
    targets = gql.data(
        '{ enrichment(network: 1, regulator: "TF1", minSetSize: 1) { results { geneSet overlap universeSize pValue } } }'
    )["enrichment"]["results"][0]
    assert (targets["geneSet"], targets["overlap"], targets["universeSize"]) == ("SET_A", 3, 7)
    assert targets["pValue"] == pytest.approx(1 / comb(7, 3))
    hubs = gql.data(
        "{ enrichment(network: 1, hubs: 2, minSetSize: 1) { queryGeneCount results { geneSet overlap } } }"
    )
    top = hubs["enrichment"]["results"][0]
    assert (top["geneSet"], top["overlap"]) == ("SET_TF", 2)
    assert hubs["enrichment"]["queryGeneCount"] == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('genes: ["G3"], network: 1, regulator: "TF1"', "give exactly one of genes"),
        ("network: 1", "give exactly one of genes"),
        ('regulator: "TF1"', "regulator and hubs need a network id"),
        ('network: 1, regulator: "NOPE"', "unknown gene 'NOPE'"),
    ],
)
def test_enrichment_argument_errors(gql, arguments, message):
    body = gql(f"{{ enrichment({arguments}) {{ results {{ geneSet }} }} }}")
    assert message in body["errors"][0]["message"]


def test_enriched_regulators_across_networks(gql):
    query = """query($f: NetworkFilterInput) {
        enrichedRegulators(genes: ["G3", "G4", "G5", "NOPE"], filter: $f, minTargets: 1, minOverlap: 2) {
            queryGeneCount unknownGenes
            results { networkId regulator { symbol } network { disease { label } } overlap targetCount pValue fdr
                      overlapGenes { symbol } } } }"""
    result = gql.data(query)["enrichedRegulators"]
    assert result["unknownGenes"] == ["NOPE"]
    hits = [(r["networkId"], r["regulator"]["symbol"], r["overlap"]) for r in result["results"]]
    assert hits[0] == (1, "TF1", 3)
    assert set(hits) == {(1, "TF1", 3), (2, "TF1", 2)}
    p_values = [r["pValue"] for r in result["results"]]
    assert p_values == sorted(p_values)
    covid = gql.data(query, {"f": {"diseases": ["COVID-19"]}})["enrichedRegulators"]["results"]
    assert [(r["networkId"], r["network"]["disease"]["label"]) for r in covid] == [(2, "COVID-19")]


def test_enrichment_hub_count_is_capped(gql):
    body = gql("{ enrichment(network: 1, hubs: 5000) { results { geneSet } } }")
    assert body["errors"][0]["message"] == "`hubs` must lie between 1 and 1000, got 5000"


def test_enriched_regulators_of_transcription_factors_only(gql):
    query = """query($tfs: Boolean!) {
        enrichedRegulators(genes: ["G5", "G7"], minTargets: 1, minOverlap: 1, transcriptionFactorsOnly: $tfs) {
            results { networkId regulator { symbol isTranscriptionFactor } pValue } } }"""
    every = gql.data(query, {"tfs": False})["enrichedRegulators"]["results"]
    tfs = gql.data(query, {"tfs": True})["enrichedRegulators"]["results"]
    regulators = {(r["networkId"], r["regulator"]["symbol"]) for r in every}
    assert {(1, "G3"), (2, "G4")} <= regulators, "non-TF regulators G3->G7 and G4->G5 are tested by default"
    expected = {
        (r["networkId"], r["regulator"]["symbol"]) for r in every if r["regulator"]["isTranscriptionFactor"]
    }
    assert expected and {(r["networkId"], r["regulator"]["symbol"]) for r in tfs} == expected
    p_all = {(r["networkId"], r["regulator"]["symbol"]): r["pValue"] for r in every}
    for r in tfs:  # the same test of the same regulator: only the others are left out
        assert r["pValue"] == pytest.approx(p_all[(r["networkId"], r["regulator"]["symbol"])])


def test_enrichment_reports_collections_matching_nothing(gql):
    query = """{ enrichment(genes: ["G3", "G4", "G5"], collections: ["hallmark", "test"], minSetSize: 1) {
        unmatchedCollections results { collection } } }"""
    result = gql.data(query)["enrichment"]
    assert result["unmatchedCollections"] == ["hallmark"]
    assert result["results"] and {r["collection"] for r in result["results"]} == {"test"}


def test_enriched_regulators_read_the_node_index_of_the_served_release(gql, store_root, monkeypatch):
    """The server reads each release's node statistics once (a NodeIndex) and enrichment looks them up."""
    from schema import Store
    from schema.queries import enrichment
    from server import enrichment as resolvers
    from server.releases import Release

    with Store(store_root).open_reader() as reader:
        release = Release(reader, pool_size=1)
        assert release.node_index is not None
        genes = list(range(1, 12))
        options = {"min_targets": 1, "min_overlap": 1}
        from_store = release.call(enrichment.enriched_regulators, genes, **options)
        indexed = release.call(enrichment.enriched_regulators, genes, index=release.node_index, **options)
        assert from_store and indexed == from_store
    seen = []

    def recording(con, *args, index=None, **kwargs):
        seen.append(index)
        return enrichment.enriched_regulators(con, *args, index=index, **kwargs)

    monkeypatch.setattr(resolvers, "enriched_regulators", recording)
    gql.data('{ enrichedRegulators(genes: ["G3", "G4"], minTargets: 1) { results { overlap } } }')
    assert len(seen) == 1 and seen[0] is not None
