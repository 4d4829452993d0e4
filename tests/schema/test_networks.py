"""Network columns declared once and matched by name; the label vocabulary; literal label filters; ids and
keys that stay with a group across releases."""

from dataclasses import fields

import numpy as np
import pytest

from schema import NetworkMeta, Store, network_key, queries
from schema.labels import GROUP_LABELS, LABEL_NAMES, LABELS
from schema.queries import NetworkFilter
from schema.queries._common import rows_as, select_list
from schema.rows import NetworkRow
from schema.synthetic import gene_names, gene_table, random_edges
from schema.tables import Base

LUNG_T = {"tissue": "lung", "tissue_ontology_term_id": "UBERON:0002048", "cell_type": "T cell"}


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path)
    store.init()
    with store.new_release() as w:
        w.upsert_genes(gene_table(30))
    return store


def distinct_meta(dataset_id: int, model_id: int) -> NetworkMeta:
    """A NetworkMeta whose every text field holds its own name: any swapped column shows."""
    values = {}
    for f in fields(NetworkMeta):
        if f.name in ("dataset_id", "model_id"):
            continue
        values[f.name] = {"n_cells": 7, "parameters": {"p": "parameters"}}.get(f.name, f"v:{f.name}")
    return NetworkMeta(dataset_id=dataset_id, model_id=model_id, **values)


def test_every_network_column_round_trips_by_name_through_every_query(store):
    with store.new_release() as w:
        dataset = w.upsert_dataset(source="t", source_id="d").id
        model = w.add_model("sha", "m", {})
        meta = distinct_meta(dataset, model)
        nid = w.add_network(meta)
        w.add_edges(nid, random_edges(np.random.default_rng(0), gene_names(30), 40))
    with store.open_reader() as r:
        rows = [
            *queries.find_networks(r.con).items,
            *queries.networks_by_ids(r.con, [nid]),
            *queries.all_networks(r.con, limit=10),
            *queries.networks_by_idempotency_key(r.con, "v:idempotency_key"),
        ]
    assert len(rows) == 4
    for row in rows:
        for f in fields(NetworkMeta):
            expected = getattr(meta, f.name)
            got = getattr(row, f.name)
            assert got == ('{"p": "parameters"}' if f.name == "parameters" else expected), f.name
        assert (row.id, row.n_edges) == (nid, 40) and len(row.key) == 20


def test_the_table_is_built_from_the_row_and_rows_match_columns_by_name(store):
    assert list(Base.metadata.tables["networks"].columns.keys()) == [
        "id",
        *[f.name for f in fields(NetworkRow) if f.name != "id"],
    ]
    with store.new_release() as w:
        dataset = w.upsert_dataset(source="t", source_id="d").id
        w.add_network(NetworkMeta(dataset_id=dataset, n_cells=1, tissue="lung", disease="normal"))
    columns = select_list(NetworkRow, "n").split(", ")
    i, j = columns.index("n.tissue"), columns.index("n.disease")
    columns[i], columns[j] = columns[j], columns[i]  # the swap a positional match would not notice
    with store.open_reader() as r:
        (row,) = rows_as(r.con, NetworkRow, f"SELECT {', '.join(columns)} FROM networks n")
        assert (row.tissue, row.disease) == ("lung", "normal")
        renamed = ", ".join("n.tissue AS tisue" if c == "n.tissue" else c for c in columns)
        with pytest.raises(RuntimeError, match=r"missing \['tissue'\], unexpected \['tisue'\]"):
            rows_as(r.con, NetworkRow, f"SELECT {renamed} FROM networks n")
        with pytest.raises(RuntimeError, match=r"missing \['tissue'\]"):
            rows_as(
                r.con,
                NetworkRow,
                f"SELECT {', '.join(c for c in columns if c != 'n.tissue')} FROM networks n",
            )


def test_one_label_vocabulary_everywhere():
    from ingest.columns import KEYS
    from server.types.filters import GroupBy, NetworkFilterInput
    from server.types.network import NetworkFacets

    assert LABEL_NAMES == ("tissue", "disease", "cell_type", "organism")
    assert KEYS == GROUP_LABELS == ("tissue", "disease", "cell_type")
    assert [g.value for g in GroupBy] == list(LABEL_NAMES)
    assert {f.name for f in fields(NetworkFacets)} >= set(LABEL_NAMES)
    filter_fields = {f.name for f in fields(NetworkFilter)}
    input_fields = set(NetworkFilterInput.__annotations__)
    for label in LABELS:
        assert label.plural in filter_fields and label.plural in input_fields
        assert {label.name, f"{label.name}_ontology_term_id"} <= {f.name for f in fields(NetworkRow)}
    assert NetworkFilterInput(tissues=["lung"], keys=["k"]).to_store() == NetworkFilter(
        tissues=("lung",), keys=("k",)
    )


def test_wildcards_in_filters_match_only_themselves(store):
    with store.new_release() as w:
        dataset = w.upsert_dataset(source="t", source_id="d", title="Lung atlas").id
        odd = w.add_network(NetworkMeta(dataset_id=dataset, n_cells=1, cell_type="CD4+ 50% T_cell"))
        plain = w.add_network(NetworkMeta(dataset_id=dataset, n_cells=1, cell_type="B cell", tissue="lung"))
    with store.open_reader() as r:

        def ids(**where):
            return queries.find_network_ids(r.con, NetworkFilter(**where)).items

        assert ids() == [odd, plain]
        for wildcard in ("%", "_", "%%", "B_cell", "b%"):
            assert ids(cell_types=(wildcard,)) == [], wildcard
        assert ids(text="%") == ids(text="50%") == ids(text="t_c") == [odd]
        assert ids(text="_") == [odd] and ids(text="b_cell") == [] and ids(text="LUNG") == [odd, plain]
        assert ids(cell_types=("cd4+ 50% t_cell",)) == [odd]  # whole label, any case
        assert ids(text="\\") == [] and ids(text="atlas") == [odd, plain]


def test_a_group_keeps_its_id_and_key_across_releases(store):
    edges = random_edges(np.random.default_rng(1), gene_names(30), 20)

    def publish(*groups, family="scprint", replace=True, dataset="d"):
        with store.new_release() as w:
            ds = w.upsert_dataset(source="h5ad", source_id=dataset).id
            if replace:
                w.replace_networks(ds)
            ids = []
            for labels in groups:
                nid = w.add_network(NetworkMeta(dataset_id=ds, n_cells=3, model_family=family, **labels))
                w.add_edges(nid, edges)
                ids.append(nid)
        return ids

    lung_t, lung_b = publish(LUNG_T, {**LUNG_T, "cell_type": "B cell"})
    assert publish({**LUNG_T, "cell_type": "B cell"}, LUNG_T) == [lung_b, lung_t]  # rebuilt: same ids
    (liver,) = publish({"tissue": "liver"})  # the lung groups leave the release ...
    assert liver not in (lung_t, lung_b)
    assert publish(LUNG_T, {"tissue": "liver"}) == [lung_t, liver]  # ... and come back with their ids
    # a relabelled term keeps its network (the term id stands for the label); another family does not
    assert publish({**LUNG_T, "tissue": "Lung (renamed)"}) == [lung_t]
    (v2,) = publish(LUNG_T, family="scprint2", replace=False)
    assert v2 not in (lung_t, lung_b, liver)
    (other,) = publish(LUNG_T, dataset="e")
    assert other not in (lung_t, lung_b, liver, v2)
    with store.open_reader() as r:
        rows = {row.id: row for row in queries.all_networks(r.con, limit=10)}
        assert rows[lung_t].key == network_key("h5ad", "d", LUNG_T, "scprint")
        assert queries.find_network_ids(r.con, NetworkFilter(keys=(rows[v2].key,))).items == [v2]
    with pytest.raises(ValueError, match=r"already has network .* one network per group"):
        publish(LUNG_T, replace=False)


def test_the_network_key_ignores_what_does_not_identify_the_group():
    key = network_key("h5ad", "d", LUNG_T, "scprint")
    assert key == network_key("h5ad", "d", {**LUNG_T, "tissue": "LUNG", "cell_type": " t cell "}, "scprint")
    others = [
        network_key("h5ad", "e", LUNG_T, "scprint"),
        network_key("census", "d", LUNG_T, "scprint"),
        network_key("h5ad", "d", {**LUNG_T, "tissue_ontology_term_id": "UBERON:0002107"}, "scprint"),
        network_key("h5ad", "d", {**LUNG_T, "cell_type": "B cell"}, "scprint"),
        network_key("h5ad", "d", {**LUNG_T, "organism_ontology_term_id": "NCBITaxon:10090"}, "scprint"),
        network_key("h5ad", "d", LUNG_T, "scprint2"),
    ]
    assert key not in others and len(set(others)) == len(others)
