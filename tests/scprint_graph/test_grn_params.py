"""GrnParams: one validated parameter set; the aggregation and filter registries drive it."""

import json

import pytest
import torch

from scprint_graph import grn_core
from scprint_graph.grn_params import GrnParams, read_heads_file, write_heads_file


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"genes": "most var"}, "'most var'"),
        ({"n_genes": 1}, "n_genes"),
        ({"max_cells": 0}, "max_cells"),
        ({"head_aggregation": "median"}, "'median'"),
        ({"edge_filter": "top"}, "'top'"),
        ({"edge_filter": "top_k"}, "top_k"),
        ({"top_k": 0}, "top_k"),
        ({"precision": "fp16"}, "'fp16'"),
        ({"heads": [[0, -1]]}, "heads"),
        ({"symmetrize": "yes"}, "symmetrize"),
        ({"genes": ["A"]}, "at least 2"),
    ],
)
def test_bad_values_are_named(values, named):
    with pytest.raises(ValueError, match=named):
        GrnParams.from_dict(values)


def test_unknown_key_and_round_trip():
    with pytest.raises(ValueError, match="unknown network parameters \\['n_gene'\\]"):
        GrnParams.from_dict({"n_gene": 10})
    params = GrnParams.from_dict({"genes": ["A", "B"], "heads": [[0, 1]], "edge_filter": "top_k", "top_k": 3})
    assert params.genes == ("A", "B") and params.heads == ((0, 1),)
    again = GrnParams.from_dict({k: v for k, v in json.loads(json.dumps(params.to_dict())).items()})
    assert again == params


def test_heads_file_round_trip_keeps_provenance(tmp_path):
    path = write_heads_file(tmp_path / "h.json", [(1, 0), (0, 1)], prior="collectri", held_out={"x": 1.5})
    params = GrnParams.from_dict({"heads": "h.json"}, base=tmp_path)
    assert params.heads == ((1, 0), (0, 1))
    assert params.heads_selection["prior"] == "collectri" and params.heads_selection["held_out"] == {"x": 1.5}
    assert params.heads_selection["file_sha256"] == read_heads_file(path)["file_sha256"]
    (tmp_path / "bad.json").write_text('{"heads": [[0, 0]]}')
    with pytest.raises(ValueError, match="not a heads file"):
        GrnParams.from_dict({"heads": str(tmp_path / "bad.json")})
    with pytest.raises(ValueError, match="heads file not found"):
        GrnParams.from_dict({"heads": "missing.json"}, base=tmp_path)


def test_a_new_aggregation_is_one_table_entry(monkeypatch):
    """Adding a function to HEAD_AGGREGATIONS makes it valid in GrnParams and usable end to end."""

    def min_heads(matrices):
        return torch.stack(list(matrices)).amin(0)

    monkeypatch.setitem(grn_core.HEAD_AGGREGATIONS, "min", min_heads)
    params = GrnParams(head_aggregation="min", edge_filter="none")
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 2, 7, 4, generator=gen), torch.randn(2, 2, 7, 4, generator=gen)
    genes = [f"g{i}" for i in range(5)]
    table = grn_core.network_from_qk(
        q, k, genes, 2, head_aggregation=params.head_aggregation, edge_filter="none"
    )
    per_head = torch.stack(
        [grn_core.attention_matrix(q[a, b], k[a, b], 2) for a in range(2) for b in range(2)]
    )
    expected = per_head.amin(0)
    weights = {
        (r, t): w
        for r, t, w in zip(
            *(table.column(c).to_pylist() for c in ("regulator", "target", "weight")), strict=True
        )
    }
    assert weights[("g1", "g0")] == pytest.approx(float(expected[0, 1]))
    assert len(weights) == 5 * 4  # every off-diagonal entry


def test_cli_help_lists_the_registries():
    from typer.testing import CliRunner

    from cli.main import app

    out = CliRunner().invoke(app, ["grn", "--help"], env={"COLUMNS": "200"}).output
    assert all(name in out for name in (*grn_core.HEAD_AGGREGATIONS, *grn_core.EDGE_FILTERS))
