"""Offline ontologies: ancestors / descendants and the parent -> leaf label tables built from them."""

import socket

import pandas as pd
import pytest

from scprint_graph import ontology
from scprint_graph.pretrain_data import build_label_classes

T_CELL, CD4, CD8, B_CELL, LYMPHOCYTE, MONOCYTE = (
    "CL:0000084",
    "CL:0000624",
    "CL:0000625",
    "CL:0000236",
    "CL:0000542",
    "CL:0000576",
)


def test_loads_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    ontology.ontology_parser.cache_clear()
    assert T_CELL in ontology.ancestors(CD8)
    assert ontology.ontology_version()


def test_ancestors_and_descendants():
    assert {T_CELL, LYMPHOCYTE} <= ontology.ancestors(CD4)
    assert {CD4, CD8} <= ontology.descendants(T_CELL)
    assert CD4 not in ontology.ancestors(CD4) and B_CELL not in ontology.descendants(T_CELL)
    assert "MONDO:0000001" in ontology.ancestors("MONDO:0100096")  # COVID-19 is a disease
    assert ontology.is_known("EFO:0009922") and not ontology.is_known("T cell")
    for bad in ("CL:9999999", "T cell", "FOO:1"):
        with pytest.raises(ValueError, match="not a term"):
            ontology.ancestors(bad)


def test_leaf_groups_follow_the_ontology():
    groups = ontology.leaf_groups([T_CELL, CD4, CD8, B_CELL, LYMPHOCYTE, MONOCYTE, "my own label"])
    assert groups == {LYMPHOCYTE: [B_CELL, CD4, CD8], T_CELL: [CD4, CD8]}
    assert ontology.leaf_groups([B_CELL, MONOCYTE]) == {}


def test_label_classes_from_the_ontology_plus_explicit_parents():
    obs = pd.DataFrame({"cell_type_ontology_term_id": [T_CELL, CD4, B_CELL, LYMPHOCYTE, "unknown"]})
    column = "cell_type_ontology_term_id"
    (plain,) = build_label_classes([obs], [column], {})
    assert plain.parents == () and len(plain.leaves) == 4
    (cell_type,) = build_label_classes([obs], [column], {}, ontology_columns=[column])
    assert cell_type.leaves == (B_CELL, CD4)
    assert cell_type.parents == (T_CELL, LYMPHOCYTE)  # sorted by term id
    leaves_of = {
        p: {cell_type.leaves[i] for i in ls}
        for p, ls in zip(cell_type.parents, cell_type.parent_leaves, strict=True)
    }
    assert leaves_of == {LYMPHOCYTE: {B_CELL, CD4}, T_CELL: {CD4}}
    # an explicit table adds leaves no cell carries (CD8) and the ontology places them
    (extended,) = build_label_classes([obs], [column], {column: {T_CELL: [CD8]}}, ontology_columns=[column])
    assert extended.leaves == (B_CELL, CD4, CD8)
    groups = {
        p: {extended.leaves[i] for i in ls}
        for p, ls in zip(extended.parents, extended.parent_leaves, strict=True)
    }
    assert groups == {LYMPHOCYTE: {B_CELL, CD4, CD8}, T_CELL: {CD4, CD8}}
