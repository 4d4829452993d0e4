"""Validation runs before any model work and names every problem of a dataset."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from ingest.columns import ColumnMap, group_labels
from ingest.validate import (
    InvalidDataset,
    ValidationOptions,
    count_problems,
    label_problems,
    validate_dataset,
)


def _validate(adata, vocab=None, cmap=None, **options):
    map_genes = None if vocab is None else (lambda var, col: vocab.map_var(var, column=col))
    return validate_dataset(
        adata, cmap or ColumnMap(), name="ds", map_genes=map_genes, options=ValidationOptions(**options)
    )


def _problems(*args, **kwargs) -> list[str]:
    with pytest.raises(InvalidDataset) as info:
        _validate(*args, **kwargs)
    assert info.value.dataset == "ds"
    return info.value.problems


def test_valid_dataset_passes_and_returns_the_gene_mapping(make_adata, vocab):
    adata = make_adata()
    mapping = _validate(adata, vocab)
    assert mapping.n_known == adata.n_vars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1.0, "negative values"),
        (np.nan, "NaN or infinite"),
        (np.inf, "NaN or infinite"),
        (2.5, "non-integer"),
    ],
)
def test_bad_counts_are_named(make_adata, value, expected):
    adata = make_adata()
    adata.X = adata.X.copy()
    adata.X.data[3] = value
    problems = _problems(adata)
    assert len(problems) == 1 and expected in problems[0] and "raw counts expected" in problems[0]


def test_log_normalised_data_is_refused_but_a_raw_layer_is_used(make_adata):
    adata = make_adata()
    adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.copy()
    adata.X.data = np.log1p(adata.X.data)
    assert "non-integer" in _problems(adata)[0]
    _validate(adata, cmap=ColumnMap(counts="layers/counts"))
    assert "layer 'nope' not found" in _problems(adata, cmap=ColumnMap(counts="layers/nope"))[0]
    assert "no .raw" in _problems(adata, cmap=ColumnMap(counts="raw"))[0]


def test_every_structural_problem_is_reported_together(make_adata, vocab):
    adata = make_adata()
    names = adata.var_names.to_numpy().copy()
    names[1] = names[0]
    names[150:] = [f"NOTAGENE{i}" for i in range(50)]  # 25% unknown
    adata.var_names = names
    del adata.var["feature_name"]  # otherwise the symbols column would map every gene
    del adata.obs["disease"]
    problems = _problems(adata, vocab, max_unmapped_fraction=0.1)
    text = " | ".join(problems)
    assert "missing grouping columns ['disease']" in text
    assert "1 duplicated genes" in text and names[0] in text
    assert "unknown to the model's vocabulary" in text and "allowed 10%" in text
    # a looser threshold lets the unknown genes pass; the other problems stay
    assert len(_problems(adata, vocab, max_unmapped_fraction=0.5)) == 2
    # a constant disease satisfies the grouping
    assert len(_problems(adata, vocab, cmap=ColumnMap(disease="normal"), max_unmapped_fraction=0.5)) == 1


def test_empty_dataset(make_adata):
    adata = make_adata()[:0].copy()
    assert _problems(adata) == ["no cells"]


def test_backed_file_is_checked_in_chunks(make_adata, tmp_path):
    adata = make_adata(n_cells=5000)
    adata.X = adata.X.copy()
    adata.X[4500, 7] = 0.5  # in the third chunk of 2048 cells
    path = tmp_path / "late.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        assert "non-integer" in _problems(backed)[0]
        _validate(backed, check_cells=4000)  # only the first 4000 cells are checked
    finally:
        backed.file.close()


def test_count_problems_on_dense_and_integer_matrices():
    assert count_problems(np.arange(12, dtype=np.int32).reshape(3, 4), 3) == []
    assert "negative" in count_problems(-np.ones((2, 2), dtype=np.int64), 2)[0]
    assert count_problems(sp.csr_matrix(np.eye(3, dtype=np.float32) * 4), 3) == []


def test_genes_by_symbol_or_a_var_column(make_adata, vocab):
    adata = make_adata()
    symbols = adata.var["feature_name"].astype(str).to_numpy()
    by_symbol = adata.copy()
    by_symbol.var_names = symbols
    del by_symbol.var["feature_name"]
    assert _validate(by_symbol, vocab).n_known == adata.n_vars
    named = adata.copy()
    named.var_names = [f"gene{i}" for i in range(adata.n_vars)]
    named.var["ids"] = adata.var_names.to_numpy()
    assert _validate(named, vocab, cmap=ColumnMap(gene_col="ids")).n_known == adata.n_vars
    assert "var has no column 'symbolz'" in _problems(named, vocab, cmap=ColumnMap(gene_col="symbolz"))[-1]


def test_missing_labels_become_unknown_and_an_all_missing_column_is_refused():
    obs = pd.DataFrame({"cell_type": ["T cell", None, " ", "NA", "Unknown", "B cell"]})
    cmap = ColumnMap(tissue="lung", disease="normal")
    assert list(group_labels(obs, cmap)["cell_type"]) == ["T cell", *["unknown"] * 4, "B cell"]
    assert label_problems(obs, cmap) == []
    problems = label_problems(obs.iloc[1:5], cmap)
    assert (
        len(problems) == 1 and "the cell_type column 'cell_type' holds no label (all 4 missing" in problems[0]
    )
    assert label_problems(obs.iloc[1:5], ColumnMap(tissue="lung", disease="normal", cell_type="T")) == []
