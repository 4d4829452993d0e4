"""The schema documents itself, settings are documented, the CLI writes the SDL, loaders batch queries."""

import dataclasses

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLScalarType
from typer.testing import CliRunner

from cli.main import app as cli_app
from schema.queries._common import NetworkFilter
from schema.queries.networks import facet_counts, find_network_ids, find_networks, find_networks_and_facets
from schema.release import Reader, Store
from server.api import build_schema
from server.config import Limits, ServerConfig
from server.releases import Release
from tests.server.conftest import GraphQL, make_client

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def undocumented() -> list[str]:
    schema = build_schema(Limits())._schema
    missing = []
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLObjectType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({a})" for a, arg in field.args.items() if not arg.description
                ]
        elif isinstance(kind, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, field in kind.fields.items() if not field.description]
        elif isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in kind.values.items() if not value.description]
        elif not isinstance(kind, GraphQLScalarType):
            pytest.fail(f"unexpected kind of type {name}")
    return missing


def test_every_type_field_argument_and_value_is_documented():
    assert undocumented() == []


@pytest.mark.parametrize("cls", [Limits, ServerConfig])
def test_every_setting_is_documented(cls):
    for field in dataclasses.fields(cls):
        assert f"\n    {field.name}\n" in cls.__doc__, f"{cls.__name__}.{field.name} lacks a docstring entry"


def test_export_schema_writes_the_sdl(tmp_path):
    out = tmp_path / "schema.graphql"
    result = CliRunner().invoke(cli_app, ["export-schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    sdl = out.read_text()
    assert sdl == build_schema(Limits()).as_str() + "\n"
    for name in ("compareNetworks(", "enrichment(", "enrichedRegulators(", "type Network ", "termId: String"):
        assert name in sdl


def test_serve_refuses_a_missing_store(tmp_path):
    result = CliRunner().invoke(cli_app, ["serve", "--db", str(tmp_path / "nowhere")])
    assert result.exit_code == 2  # a usage error, not a traceback
    assert "is not a store folder" in " ".join(result.output.replace("│", " ").split())


@pytest.fixture
def store_calls(monkeypatch):
    """Names of the store functions each request calls, in order."""
    calls: list[str] = []
    original = Release._call

    def counting(self, statement, fn, args, kwargs):
        calls.append(fn.__name__)
        return original(self, statement, fn, args, kwargs)

    monkeypatch.setattr(Release, "_call", counting)
    return calls


NESTED = """query($n: Int) { networks(first: $n) { nodes { id
    hubs(first: 3) { gene { symbol } }
    provenance { dataset { title } model { name } } } } }"""


def test_nested_queries_do_not_fan_out(store_root, store_calls):
    calls = {}
    for n in (1, 3):  # a fresh app each time: its release memo starts empty
        store_calls.clear()
        data = GraphQL(make_client(store_root)).data(NESTED, {"n": n})
        assert len(data["networks"]["nodes"]) == n
        calls[n] = sorted(store_calls)
    assert calls[3] == calls[1]  # three networks cost the same queries as one
    # genes and networks come from the release, read when it opens: no query for them per request
    assert calls[3] == sorted(["find_network_ids", "hubs_for_networks", "datasets_by_ids", "list_models"])


def test_a_page_of_networks_and_its_facets_cost_one_call(store_root, store_calls):
    gql = GraphQL(make_client(store_root))
    query = "{ networks(first: 2) { totalCount nodes { id } facets { tissue { count } disease { count } } } }"
    data = gql.data(query)["networks"]
    assert store_calls == ["find_networks_and_facets"]
    assert [n["id"] for n in data["nodes"]] == [1, 2]
    assert sum(f["count"] for f in data["facets"]["tissue"]) == data["totalCount"]
    assert sum(f["count"] for f in data["facets"]["disease"]) == data["totalCount"]
    store_calls.clear()
    assert gql.data("{ networks(first: 2) { totalCount } }")["networks"]["totalCount"] == data["totalCount"]
    assert store_calls == ["find_network_ids"]  # no facet counts when none is selected


class CountingCursor:
    """A DuckDB cursor of the server's pool that records the statements run on it."""

    def __init__(self, cursor, statements: list[str]) -> None:
        self._cursor = cursor
        self._statements = statements

    def execute(self, sql: str, *args):
        self._statements.append(sql)
        return self._cursor.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    """The SQL statements requests run (the release's own reads when it opens are not counted)."""
    found: list[str] = []
    original = Reader.cursor
    monkeypatch.setattr(Reader, "cursor", lambda self: CountingCursor(original(self), found))
    return found


FACETED = """{ networks(filter: {tissues: ["lung"]}, first: 1) { totalCount pageInfo { hasNextPage endCursor }
    nodes { id cellType { label } }
    facets { disease { term { label } count } cellType { term { label } count } } } }"""


def test_a_page_of_networks_and_its_facets_run_one_statement(store_root, statements):
    # the filter is evaluated once for the page, the count and every facet (two statements and three
    # evaluations of the filter cost 14 ms of the 27 ms such a request took at 20,000 networks)
    data = GraphQL(make_client(store_root)).data(FACETED)["networks"]
    assert len(statements) == 1
    assert data == {
        "totalCount": 2,
        "pageInfo": {"hasNextPage": True, "endCursor": "1"},
        "nodes": [{"id": 1, "cellType": {"label": "T cell"}}],
        "facets": {
            "disease": [{"term": {"label": label}, "count": 1} for label in ("COVID-19", "normal")],
            "cellType": [{"term": {"label": label}, "count": 1} for label in ("B cell", "T cell")],
        },
    }


@pytest.mark.parametrize("ids_only", [True, False])
def test_one_statement_page_and_facets_equal_the_page_and_the_facets_apart(store_root, ids_only):
    find = find_network_ids if ids_only else find_networks
    facets = ["tissue", "disease", "cell_type", "organism"]
    filters = [
        None,
        NetworkFilter(tissues=("lung",)),
        NetworkFilter(cell_types=("T cell",), diseases=("normal",)),
        NetworkFilter(tissues=("nowhere",)),
    ]
    with Store(store_root).open_reader() as reader:
        for where in filters:
            for first, after in ((1, None), (2, None), (1, "1"), (5, "3"), (1, "99")):
                together = find_networks_and_facets(
                    reader.con, where, first=first, after=after, facets=facets, ids_only=ids_only
                )
                page = find(reader.con, where, first=first, after=after)
                apart = (page, facet_counts(reader.con, where, facets=facets))
                assert together == apart, (where, first, after)
        assert find_networks_and_facets(reader.con, facets=())[1] == {}


def test_pages_of_networks_with_too_many_to_read_whole(store_root, store_calls, monkeypatch):
    monkeypatch.setattr("server.releases.MAX_PRELOADED_NETWORKS", 1)
    gql = GraphQL(make_client(store_root))
    query = "{ networks(first: 2) { totalCount nodes { id tissue { label } } facets { tissue { count } } } }"
    data = gql.data(query)["networks"]
    assert store_calls == ["find_networks_and_facets"] and [n["id"] for n in data["nodes"]] == [1, 2]
    store_calls.clear()
    assert gql.data("{ networks(first: 2) { nodes { id } } }")["networks"]["nodes"] == [{"id": 1}, {"id": 2}]
    assert store_calls == ["find_networks"]


def test_networks_are_read_when_the_release_opens(store_root, store_calls):
    gql = GraphQL(make_client(store_root))
    query = "{ network(id: 1) { edges(first: 6) { nodes { regulator { symbol } target { symbol } } } } }"
    assert gql.data(query)["network"]["edges"]["nodes"]
    assert store_calls == ["network_edges"]  # genes and networks come from the release, read when it opened
    assert gql.data("{ network(id: 999) { id } }")["network"] is None
    assert store_calls == ["network_edges"]


def test_rows_are_memoised_per_release(store_root, store_calls, monkeypatch):
    monkeypatch.setattr("server.releases.MAX_PRELOADED_NETWORKS", 1)  # too many networks to read whole
    gql = GraphQL(make_client(store_root))
    query = "{ network(id: 2) { edges(first: 6) { nodes { regulator { symbol } target { symbol } } } } }"
    first = gql.data(query)
    assert store_calls == ["networks_by_ids", "network_edges"]
    store_calls.clear()
    assert gql.data(query) == first
    assert store_calls == ["network_edges"]  # the network comes from the release's memo
    assert gql.data("{ network(id: 999) { id } }")["network"] is None
    assert store_calls == ["network_edges", "networks_by_ids"]  # unknown ids are asked again


def test_gene_names_resolve_without_queries(store_root, store_calls):
    gql = GraphQL(make_client(store_root))
    for _ in range(2):
        assert gql.data('{ gene(symbol: "TF1") { ensemblId } }')["gene"]["ensemblId"] == "ENSG00000000001"
        assert gql.data('{ gene(symbol: "tf1") { ensemblId } }')["gene"]["ensemblId"] == "ENSG00000000001"
        assert gql.data('{ gene(symbol: "NOPE") { ensemblId } }')["gene"] is None
    # names are resolved by the release's gene index (read once when the release opened)
    assert store_calls == []
