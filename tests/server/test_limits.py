"""Each limit refuses with a clear GraphQL error, and lets through what lies within it."""

import pytest

from server.config import Limits
from tests.server.conftest import GraphQL, make_client


@pytest.fixture
def limited(store_root):
    def build(**limits) -> GraphQL:
        client = make_client(store_root, Limits(**limits))
        return GraphQL(client)

    return build


def message(body: dict) -> str:
    assert body.get("data") is None, body
    return body["errors"][0]["message"]


def test_depth_limit(limited):
    gql = limited(max_depth=3)
    assert gql.data("{ network(id: 1) { edges { nodes { rank } } } }")["network"]["edges"]["nodes"]
    deep = "{ network(id: 1) { edges { nodes { regulator { symbol } } } } }"
    for _ in range(2):  # the second time the document comes from the parse and validation caches
        assert "exceeds maximum operation depth of 3" in message(gql(deep))


def test_depth_limit_follows_fragments(limited):
    gql = limited(max_depth=3)
    query = """{ network(id: 1) { ...E } } fragment E on Network { edges { nodes { target { symbol } } } }"""
    assert "exceeds maximum operation depth of 3" in message(gql(query))


def test_alias_limit(limited):
    gql = limited(max_aliases=2)
    assert gql.data("{ a: network(id: 1) { id } b: network(id: 2) { id } }") == {
        "a": {"id": 1},
        "b": {"id": 2},
    }
    body = gql("{ a: network(id: 1) { id } b: network(id: 2) { id } c: network(id: 3) { id } }")
    assert message(body) == "3 aliases found. Allowed: 2"


def test_token_limit(limited):
    gql = limited(max_tokens=30)
    assert gql.data("{ network(id: 1) { id } }")["network"] == {"id": 1}
    long_query = "{ " + " ".join(f"n{i}: network(id: {i}) {{ id }}" for i in range(10)) + " }"
    for _ in range(2):
        assert "more than 30 tokens" in message(gql(long_query))


@pytest.mark.parametrize(
    "query",
    [
        "{ networks(first: 1001) { totalCount } }",
        "{ networks(first: 0) { totalCount } }",
        "{ network(id: 1) { edges(first: 5000) { nodes { rank } } } }",
        '{ gene(symbol: "TF1") { targets(first: -1) { nodes { rank } } } }',
    ],
)
def test_page_size_cap(gql, query):
    assert "`first` must lie between 1 and 1000" in message(gql(query))


def test_page_size_cap_through_variables(gql):
    body = gql("query($n: Int) { networks(first: $n) { totalCount } }", {"n": 100_000})
    assert "`first` must lie between 1 and 1000" in message(body)


NESTED = """query($outer: Int, $inner: Int) { networks(first: $outer) { nodes {
    edges(first: $inner) { nodes { regulator { symbol } target { symbol } } } } } }"""


def test_cost_limit_multiplies_page_sizes(gql):
    body = gql(NESTED, {"outer": 1000, "inner": 1000})
    text = message(body)
    assert text.startswith("Query cost ") and "exceeds the limit of 100000" in text
    # the same shape with small pages is fine
    data = gql.data(NESTED, {"outer": 2, "inner": 2})
    assert len(data["networks"]["nodes"]) == 2


def test_cost_counts_defaults_and_fragments(limited):
    gql = limited(max_cost=200, default_page_size=50)
    # networks: 1 + 50 x (nodes 1 + edges (1 + 50 x ...)) exceeds 200 with default pages
    query = "{ networks { ...N } } fragment N on NetworkConnection { nodes { edges { nodes { rank } } } }"
    assert message(gql(query)).startswith("Query cost ")
    assert gql.data("{ networks(first: 2) { nodes { edges(first: 3) { nodes { rank } } } } }")


def test_body_size_limit(store_root):
    client = make_client(store_root, Limits(max_body_bytes=2_000))
    response = client.post(
        "/graphql", json={"query": "{ meta { release } }", "variables": {"x": "a" * 5_000}}
    )
    assert response.status_code == 413
    assert "larger than 2000 bytes" in response.json()["errors"][0]["message"]
    chunks = (b'{"query": "{ meta { release } }", "variables": {"x": "' + b"a" * 1000 + b'"}}',) * 3
    chunked = client.post("/graphql", content=iter(chunks), headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "larger than 2000 bytes" in chunked.text


def test_limits_validate_their_values():
    with pytest.raises(ValueError, match="max_depth"):
        Limits(max_depth=0)
    with pytest.raises(ValueError, match="default_page_size"):
        Limits(default_page_size=5000)


def test_graphiql_introspection_passes_the_default_limits(gql):
    from graphql import get_introspection_query

    data = gql.data(get_introspection_query(descriptions=True, input_value_deprecation=True))
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Query", "Network", "Gene", "NetworkComparison", "GeneSetEnrichment"} <= names


def test_cost_arithmetic():
    from server.api import build_schema
    from server.limits import operation_cost, prepare

    schema = build_schema(Limits())._schema

    def cost(query, variables=None, limits=None):
        limits = limits or Limits()
        return operation_cost(schema, prepare(schema, limits, query, None), variables or {}, limits)

    # rank 1; nodes 1 + 1; edges 1 + 5 x 2; nodes 1 + 11; networks 1 + 10 x 12; __typename is free
    assert cost("{ networks(first: 10) { nodes { edges(first: 5) { nodes { rank } } } } __typename }") == 121
    defaults = "query($n: Int) { networks(first: $n) { totalCount } }"
    assert cost(defaults, limits=Limits(default_page_size=7)) == 1 + 7 * 1
    assert cost(defaults, {"n": 3}) == 1 + 3 * 1
    # a gene list costs per gene, plus the field's fixed charge; the same as a literal or a variable
    stats = "query($g: [String!]!) { network(id: 1) { nodeStatistics(genes: $g) { results { inNetwork } } } }"
    assert cost(stats, {"g": ["A"] * 100}) == 1 + 1 + 10 + 100 * (1 + 1)
    literal = '{ network(id: 1) { nodeStatistics(genes: ["A", "B", "C"]) { unknownGenes } } }'
    assert cost(literal) == 1 + 1 + 10 + 3 * 1
    # a fragment spread costs what its selection costs, each time it is spread
    spread = "{ a: network(id: 1) { ...F } b: network(id: 2) { ...F } } fragment F on Network { id nCells }"
    assert cost(spread) == 2 * (1 + 2)
