"""A document sent again is neither parsed nor validated again, and a short request with it is priced on the
event loop; refusals stay the same on either path, and long requests are still analysed off the loop."""

import json

import pytest
from graphql import GraphQLError

import server.app
from server.api import build_schema
from server.app import INLINE_ANALYSIS_BYTES
from server.config import Limits
from server.limits import PreparedDocuments
from tests.server.conftest import make_client

EDGES = "query($id: Int!, $first: Int) { network(id: $id) { edges(first: $first) { nodes { rank } } } }"


def test_prepared_documents_keep_the_recent_documents_and_no_refusal():
    documents = PreparedDocuments(build_schema(Limits())._schema, Limits(), size=2)
    assert documents.get("{ meta { release } }", None) is None
    first = documents.prepare("{ meta { release } }", None)
    assert documents.prepare("{ meta { release } }", None) is first
    assert documents.get("{ meta { release } }", None) is first
    assert documents.get("{ meta { release } }", "Other") is None  # the operation name is part of the key
    documents.prepare("{ network(id: 1) { id } }", None)
    documents.get("{ meta { release } }", None)  # now the most recently used
    documents.prepare("{ network(id: 2) { id } }", None)  # evicts network(id: 1), the least recent
    assert documents.get("{ network(id: 1) { id } }", None) is None
    assert documents.get("{ meta { release } }", None) is first
    with pytest.raises(GraphQLError, match="Cannot query field"):
        documents.prepare("{ nope }", None)
    assert documents.get("{ nope }", None) is None


@pytest.fixture
def hops(monkeypatch):
    """The functions the app sent to a worker thread for analysis, in order."""
    sent = []
    original = server.app.run_in_threadpool

    async def counting(fn, *args, **kwargs):
        sent.append(fn.__name__)
        return await original(fn, *args, **kwargs)

    monkeypatch.setattr(server.app, "run_in_threadpool", counting)
    return sent


def post(client, variables, query=EDGES):
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_document_sent_again_is_priced_on_the_loop(store_root, hops):
    with make_client(store_root) as client:
        first = post(client, {"id": 1, "first": 2})
        assert hops == ["_analyse"]
        again = post(client, {"id": 1, "first": 2})
        assert hops == ["_analyse"] and again == first
        other = post(client, {"id": 2, "first": 3})  # new variables, same document: still on the loop
        assert hops == ["_analyse"]
        assert [n["rank"] for n in other["data"]["network"]["edges"]["nodes"]] == [1, 2, 3]
        padded = {"id": 1, "first": 2, "unused": "x" * INLINE_ANALYSIS_BYTES}
        assert post(client, padded) == first  # a long request: analysed off the loop, whatever its document
        assert hops == ["_analyse", "_analyse"]


def test_refusals_are_the_same_on_the_loop_and_off_it(store_root, hops):
    with make_client(store_root, Limits(max_cost=20)) as client:
        post(client, {"id": 1, "first": 2})  # prepares the document
        too_costly = {"id": 1, "first": 50}
        on_loop = post(client, too_costly)
        off_loop = post(client, {**too_costly, "unused": "x" * INLINE_ANALYSIS_BYTES})
        assert hops == ["_analyse", "_analyse"]
        assert on_loop == off_loop
        assert on_loop["errors"][0]["message"].startswith("Query cost ")
        variables = '{"id": 1, "first": 1, "x": "\\ud800"}'  # JSON's escape of a lone surrogate
        surrogate = json.dumps({"query": EDGES})[:-1] + f', "variables": {variables}}}'
        body = client.post("/graphql", content=surrogate, headers={"content-type": "application/json"})
        assert "lone UTF-16 surrogate" in body.json()["errors"][0]["message"]
        assert hops == ["_analyse", "_analyse"]  # priced on the loop, and refused there
