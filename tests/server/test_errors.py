"""Malformed requests, injection-looking strings in every string argument, masking of unexpected errors."""

# ruff: noqa: E501  (GraphQL documents read best on one line each)

import logging

import pytest

from server.api import Query
from server.errors import MASKED_MESSAGE
from tests.server.conftest import GraphQL


def post(client, body, **kwargs):
    return client.post("/graphql", json=body, **kwargs)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ network(id: 1) { id ", "Syntax Error"),
        ("{ nope }", "Cannot query field 'nope' on type 'Query'."),
        ("{ network { id } }", "Argument 'Query.network(id:)' of type 'Int!' is required"),
        ('{ network(id: "one") { id } }', "Int cannot represent non-integer value"),
        ("{ network(id: 1) }", "must have a selection of subfields"),
        ('{ networks(filter: {colour: ["red"]}) { totalCount } }', "not to include unknown field 'colour'"),
        ("{ network(id: 99999999999) { id } }", "Int cannot represent non 32-bit signed integer value"),
    ],
)
def test_malformed_queries_get_clear_errors(gql, query, expected):
    body = gql(query)
    assert body.get("data") is None
    assert expected in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"id": "abc"}, "Int cannot represent non-integer value: 'abc'"),
        ({"id": None}, "Expected value of non-null type 'Int!' not to be None"),
        ({}, "Expected a value of non-null type 'Int!' to be provided"),
        ({"id": 1.5}, "Int cannot represent non-integer value: 1.5"),
    ],
)
def test_malformed_variables_get_clear_errors(gql, variables, expected):
    body = gql("query($id: Int!) { network(id: $id) { id } }", variables)
    assert expected in body["errors"][0]["message"]


def test_malformed_http_bodies_are_400(client):
    assert (
        client.post(
            "/graphql", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert post(client, {"variables": {}}).status_code == 400  # no query
    assert post(client, {"query": "{ meta { release } }", "variables": "x"}).status_code == 400


def test_mutations_and_subscriptions_do_not_exist(gql):
    body = gql("mutation { drop }")
    assert body["errors"][0]["message"] == "The mutation operation is not supported by the schema."


def test_get_queries_work_for_curl(client):
    response = client.get("/graphql", params={"query": "{ network(id: 2) { id } }"})
    assert response.status_code == 200 and response.json() == {"data": {"network": {"id": 2}}}


def test_graphiql_is_served(client):
    response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


INJECTIONS = [
    "'; DROP TABLE edges; --",
    '" OR 1=1 --',
    "' UNION SELECT ensembl_id FROM genes --",
    "%",
    "_",
    "\\",
    "\x00",
    "Robert'); DELETE FROM networks WHERE ('1'='1",
    "${jndi:ldap://x}",
    "a" * 5000,
    "𝔊𝔈𝔑𝔈 ÿ ☃",
    "1:2:3",
    "-1",
]

# Every String argument of the schema, reached by a query that takes it as variable $v (String or [String!]).
STRING_ARGUMENTS = {
    "Network.edges.evidenceSources": (
        "query($v: String!) { network(id: 1) { edges(knownOnly: true, evidenceSources: [$v]) { nodes { rank } } } }"
    ),
    "Network.quality.source": "query($v: String) { network(id: 1) { quality(source: $v) { badge } } }",
    "Query.genes.search": "query($v: String!) { genes(search: $v) { symbol } }",
    "Query.genes.organism": 'query($v: String) { genes(search: "G", organism: $v) { symbol } }',
    "Query.gene.symbol": "query($v: String) { gene(symbol: $v) { symbol } }",
    "Query.gene.ensemblId": "query($v: String) { gene(ensemblId: $v) { symbol } }",
    "Query.gene.organism": 'query($v: String) { gene(symbol: "G3", organism: $v) { symbol } }',
    "Query.networks.after": "query($v: String) { networks(after: $v) { totalCount } }",
    "NetworkFilterInput.cellTypes": "query($v: String!) { networks(filter: {cellTypes: [$v]}) { totalCount } }",
    "NetworkFilterInput.tissues": "query($v: String!) { networks(filter: {tissues: [$v]}) { totalCount } }",
    "NetworkFilterInput.diseases": "query($v: String!) { networks(filter: {diseases: [$v]}) { totalCount } }",
    "NetworkFilterInput.organisms": "query($v: String!) { networks(filter: {organisms: [$v]}) { totalCount } }",
    "NetworkFilterInput.keys": "query($v: String!) { networks(filter: {keys: [$v]}) { totalCount } }",
    "NetworkFilterInput.text": "query($v: String) { networks(filter: {text: $v}) { totalCount facets { tissue { count } } } }",
    "Network.edges.regulator": "query($v: String) { network(id: 1) { edges(regulator: $v) { nodes { rank } } } }",
    "Network.edges.target": "query($v: String) { network(id: 1) { edges(target: $v) { nodes { rank } } } }",
    "Network.edges.after": "query($v: String) { network(id: 1) { edges(after: $v) { nodes { rank } } } }",
    "Network.nodeStatistics.genes": "query($v: String!) { network(id: 1) { nodeStatistics(genes: [$v]) { unknownGenes } } }",
    "Query.genesByName.names": "query($v: String!) { genesByName(names: [$v]) { unknownGenes } }",
    "Query.genesByName.organism": 'query($v: String) { genesByName(names: ["G3"], organism: $v) { unknownGenes } }',
    "Gene.regulators.after": 'query($v: String) { gene(symbol: "G3") { regulators(after: $v) { nodes { rank } } } }',
    "Gene.targets.after": 'query($v: String) { gene(symbol: "TF1") { targets(after: $v) { nodes { rank } } } }',
    "Query.enrichment.genes": "query($v: String!) { enrichment(genes: [$v]) { results { geneSet } } }",
    "Query.enrichment.regulator": "query($v: String) { enrichment(network: 1, regulator: $v) { results { geneSet } } }",
    "Query.enrichment.background": 'query($v: String!) { enrichment(genes: ["G3"], background: [$v]) { results { geneSet } } }',
    "Query.enrichment.collections": 'query($v: String!) { enrichment(genes: ["G3"], collections: [$v]) { results { geneSet } } }',
    "Query.enrichedRegulators.genes": "query($v: String!) { enrichedRegulators(genes: [$v]) { results { overlap } } }",
    "Gene.regulators.evidenceSources": 'query($v: String!) { gene(symbol: "G3") { regulators(knownOnly: true, evidenceSources: [$v]) { nodes { rank } } } }',
    "Gene.targets.evidenceSources": 'query($v: String!) { gene(symbol: "TF1") { targets(novelOnly: true, evidenceSources: [$v]) { nodes { rank } } } }',
    "QualityFilterInput.source": "query($v: String!) { networks(filter: {quality: {source: $v, minValue: 1}}, orderByQuality: true) { totalCount } }",
    "Query.compareNetworks.evidenceSources": "query($v: String!) { compareNetworks(a: 1, b: 2, knownOnly: true, evidenceSources: [$v]) { sharedCount } }",
    "Query.regulators.genes": "query($v: String!) { regulators(genes: [$v, \"G3\"]) { unknownGenes nodes { rank } } }",
    "Query.regulators.organism": 'query($v: String) { regulators(genes: ["G3"], organism: $v) { unknownGenes } }',
    "Query.regulators.after": 'query($v: String) { regulators(genes: ["G3"], after: $v) { nodes { rank } } }',
    "Query.regulators.evidenceSources": 'query($v: String!) { regulators(genes: ["G3"], knownOnly: true, evidenceSources: [$v]) { nodes { rank } } }',
    "Query.targets.genes": "query($v: String!) { targets(genes: [$v]) { unknownGenes nodes { rank } } }",
    "Query.targets.organism": 'query($v: String) { targets(genes: ["TF1"], organism: $v) { unknownGenes } }',
    "Query.targets.after": 'query($v: String) { targets(genes: ["TF1"], after: $v) { nodes { rank } } }',
    "Query.targets.evidenceSources": 'query($v: String!) { targets(genes: ["TF1"], novelOnly: true, evidenceSources: [$v]) { nodes { rank } } }',
    "Query.networkGroups.search": "query($v: String) { networkGroups(search: $v) { totalCount nodes { networkCount } } }",
    "Query.networkGroups.after": "query($v: String) { networkGroups(after: $v) { totalCount } }",
}  # fmt: skip


def schema_string_arguments() -> set[str]:
    """Every String / [String] argument and input field of the schema, as Type.field.arg."""
    from graphql import GraphQLInputObjectType, GraphQLObjectType, get_named_type

    from server.api import build_schema
    from server.config import Limits

    schema = build_schema(Limits())._schema
    found = set()
    for name, kind in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(kind, GraphQLObjectType):
            for field_name, field in kind.fields.items():
                for arg_name, arg in field.args.items():
                    if get_named_type(arg.type).name == "String":
                        found.add(f"{name}.{field_name}.{arg_name}")
        elif isinstance(kind, GraphQLInputObjectType):
            for field_name, field in kind.fields.items():
                if get_named_type(field.type).name == "String":
                    found.add(f"{name}.{field_name}")
    return found


def test_injection_cases_cover_every_string_argument():
    assert schema_string_arguments() == set(STRING_ARGUMENTS)


@pytest.mark.parametrize("argument", sorted(STRING_ARGUMENTS))
def test_injection_looking_strings_are_plain_data(gql: GraphQL, argument):
    for value in INJECTIONS:
        body = gql(STRING_ARGUMENTS[argument], {"v": value})
        messages = [e["message"] for e in body.get("errors", [])]
        assert MASKED_MESSAGE not in messages, (argument, value, messages)
        echoed = [m.replace(value, "") for m in messages]  # errors may quote the value sent, nothing more
        assert not any("Traceback" in m or "SELECT" in m for m in echoed), (argument, value, messages)
    # the store is intact afterwards
    counts = gql.data("{ meta { counts { networks edges genes } } }")["meta"]["counts"]
    assert counts == {"networks": 3, "edges": 13, "genes": 8}


def test_injection_as_an_inline_literal(gql):
    body = gql('{ gene(symbol: "\\"; DROP TABLE genes; --") { symbol } }')
    assert body == {"data": {"gene": None}}


def test_unexpected_errors_are_masked_and_logged(gql, monkeypatch, caplog):
    def broken(*args, **kwargs):
        msg = "SELECT secret FROM edges failed"
        raise RuntimeError(msg)

    monkeypatch.setattr("server.api.store_info", broken)
    with caplog.at_level(logging.ERROR, logger="server.errors"):
        body = gql("{ meta { release } network(id: 1) { id } }")
    assert body["errors"] == [
        {"message": MASKED_MESSAGE, "locations": [{"line": 1, "column": 3}], "path": ["meta"]}
    ]
    assert body["data"] == {"meta": None, "network": {"id": 1}} or body["data"] is None
    assert "SELECT" not in str(body)
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "SELECT secret FROM edges failed" in str(logged[0].exc_info[1])


def test_query_type_is_documented():
    assert Query.__strawberry_definition__.description


def test_long_strings_are_cut_in_error_messages(gql):
    body = gql(
        "query($v: String) { network(id: 1) { edges(regulator: $v) { nodes { rank } } } }", {"v": "x" * 5000}
    )
    message = body["errors"][0]["message"]
    assert message.startswith("unknown gene 'xxx") and len(message) < 200
