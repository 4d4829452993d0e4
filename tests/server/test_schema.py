"""The schema documents itself, settings are documented, the CLI writes the SDL, loaders batch queries."""

import dataclasses

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLScalarType
from typer.testing import CliRunner

from cli.main import app as cli_app
from server.config import Limits, ServerConfig
from server.releases import Release
from server.schema import build_schema

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
    original = Release.call

    def counting(self, fn, *args, **kwargs):
        calls.append(fn.__name__)
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(Release, "call", counting)
    return calls


NESTED = """query($n: Int) { networks(first: $n) { nodes { id
    hubs(first: 3) { gene { symbol } }
    provenance { dataset { title } model { name } } } } }"""


def test_nested_queries_do_not_fan_out(gql, store_calls):
    gql.data(NESTED, {"n": 1})
    one = sorted(store_calls)
    store_calls.clear()
    data = gql.data(NESTED, {"n": 3})
    three = sorted(store_calls)
    assert len(data["networks"]["nodes"]) == 3
    assert three == one  # three networks cost the same queries as one: hubs, genes, datasets, models batched
    assert three.count("hubs_for_networks") == 1 and three.count("genes_by_ids") == 1


def test_edge_genes_are_loaded_once_per_request(gql, store_calls):
    data = gql.data(
        "{ network(id: 1) { edges(first: 6) { nodes { regulator { symbol } target { symbol } } } } }"
    )
    assert len(data["network"]["edges"]["nodes"]) == 6
    assert store_calls.count("genes_by_ids") == 1
