"""Batching from AnnData: equals a dense reference for dense / CSR / CSC, in memory and backed."""

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from scprint_graph import keys
from scprint_graph.cells import (
    AnnDataCells,
    TokenizedCells,
    collate_cells,
    encode_labels,
    label_sampling_weights,
    label_values,
)
from scprint_graph.tokenize import Tokenizer

FORMATS = ["dense", "csr", "csc"]


def _with_format(adata: ad.AnnData, fmt: str) -> ad.AnnData:
    adata = adata.copy()
    adata.X = {"dense": adata.X.toarray(), "csr": sp.csr_matrix(adata.X), "csc": sp.csc_matrix(adata.X)}[fmt]
    return adata


def _concat(batches: list[dict[str, torch.Tensor]]) -> dict[str, np.ndarray]:
    return {k: torch.cat([b[k] for b in batches]).numpy() for k in batches[0]}


def _reference(adata, vocab, rows, **mode) -> dict[str, np.ndarray]:
    """Tokenise the whole dense matrix at once with a generator seeded like the batcher's."""
    mapping = vocab.map_var(adata.var)
    dense = np.asarray(adata.X.toarray() if sp.issparse(adata.X) else adata.X)[rows]
    return Tokenizer(mapping.indices, **mode)(dense, np.random.default_rng(3))


@pytest.mark.parametrize("backed", [False, True])
@pytest.mark.parametrize("fmt", FORMATS)
def test_batches_equal_dense_reference(adata, human_vocab, tmp_path, fmt, backed):
    source = _with_format(adata, fmt)
    if backed:
        path = tmp_path / f"{fmt}.h5ad"
        source.write_h5ad(path)
        source = ad.read_h5ad(path, backed="r")
    cells = AnnDataCells(source, human_vocab)
    rows = np.array([5, 2, 40, 2, 59, 0, 33, 34, 35, 11])  # unsorted, with a repeat
    for mode in ({"max_len": 64}, {"genes": human_vocab.index_of(adata.var_names[::7])}):
        batches = list(cells.batches(batch_size=4, rows=rows, seed=3, chunk_size=4, **mode))
        assert [len(b[keys.GENES]) for b in batches] == [4, 4, 2]
        got = _concat(batches)
        want = _reference(adata, human_vocab, rows, **mode)
        assert set(got) == {keys.GENES, keys.EXPRESSION, keys.DEPTH}
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{fmt} backed={backed} {key} {mode}")
    if backed:
        source.file.close()


def test_all_cells_in_order_with_labels(adata, human_vocab):
    labels = {"cell_type": ["B cell", "T cell", "monocyte"], "disease": ["normal", "COVID-19"]}
    cells = AnnDataCells(adata, human_vocab, labels=labels)
    batches = list(cells.batches(batch_size=16, max_len=32, seed=0))
    got = _concat(batches)
    assert got[keys.GENES].shape == (60, 32)
    assert got[keys.LABELS].shape == (60, 2) and got[keys.LABELS].dtype == np.int64
    cell_type = adata.obs["cell_type"].astype(str).to_numpy()
    expected = np.array([labels["cell_type"].index(c) if c != "unknown" else -1 for c in cell_type])
    np.testing.assert_array_equal(got[keys.LABELS][:, 0], expected)
    assert (got[keys.LABELS][:, 0] == -1).sum() == 3
    np.testing.assert_array_equal(got[keys.DEPTH], np.asarray(adata.X.sum(axis=1)).ravel())
    by_columns = AnnDataCells(adata, human_vocab, labels=["cell_type", "disease"])
    assert by_columns.label_names["disease"] == ("COVID-19", "normal")  # sorted known values
    np.testing.assert_array_equal(by_columns.labels[:, 0], got[keys.LABELS][:, 0])  # same sorted order
    again = _concat(list(cells.batches(batch_size=16, max_len=32, seed=0)))
    np.testing.assert_array_equal(again[keys.GENES], got[keys.GENES])


def test_symbols_in_var_index_and_unknown_genes_reported(adata, human_vocab, caplog):
    adata.var_names = adata.var["feature_name"].astype(str).to_numpy()
    adata.var_names = [*adata.var_names[:-2], "NOT_A_GENE_1", "NOT_A_GENE_2"]
    del adata.var["feature_name"]
    with caplog.at_level(logging.WARNING, logger="scprint_graph.genes"):
        cells = AnnDataCells(adata, human_vocab)
    assert cells.mapping.n_unknown == 2 and "NOT_A_GENE_1" in caplog.text
    tok = cells.tokenizer(max_len=300)
    assert tok.n_ctx == 198
    batch = next(cells.batches(batch_size=60, max_len=300))
    # depth still counts the two unknown genes
    np.testing.assert_array_equal(batch[keys.DEPTH].numpy(), np.asarray(adata.X.sum(axis=1)).ravel())


def test_non_count_matrix_warns(adata, human_vocab, caplog):
    adata.X = adata.X.multiply(0.5).tocsr()
    cells = AnnDataCells(adata, human_vocab)
    with caplog.at_level(logging.WARNING, logger="scprint_graph.cells"):
        next(cells.batches(batch_size=8, max_len=16))
    assert "raw counts" in caplog.text


def test_layer_and_bad_arguments(adata, human_vocab):
    adata.layers["counts"] = adata.X.copy()
    adata.X = sp.csr_matrix(adata.shape, dtype=np.float32)
    cells = AnnDataCells(adata, human_vocab, layer="counts")
    batch = next(cells.batches(batch_size=60, max_len=16))
    np.testing.assert_array_equal(
        batch[keys.DEPTH].numpy(), np.asarray(adata.layers["counts"].sum(1)).ravel()
    )
    with pytest.raises(ValueError, match="raw"):
        AnnDataCells(adata, human_vocab, layer="raw")
    with pytest.raises(ValueError, match="cell_kind"):
        AnnDataCells(adata, human_vocab, labels={"cell_kind": ["a"]})
    with pytest.raises(IndexError, match="60"):
        cells.read_rows(np.array([0, 60]))
    assert cells.read_rows(np.array([], dtype=int)).shape == (0, 200)
    assert list(cells.batches(batch_size=4, max_len=8, rows=np.array([], dtype=int))) == []


def test_dataset_with_weighted_sampler(adata_h5ad, human_vocab):
    backed = ad.read_h5ad(adata_h5ad, backed="r")
    labels = label_values(backed.obs, ["cell_type", "tissue"])
    assert labels["cell_type"] == ("B cell", "T cell", "monocyte")  # "unknown" is not a label
    cells = AnnDataCells(backed, human_vocab, labels=labels)
    dataset = TokenizedCells(cells, max_len=24, rows=np.arange(10, 50), seed=5)
    assert len(dataset) == 40
    item = dataset[3]
    assert item[keys.GENES].shape == (24,) and item[keys.DEPTH].shape == ()
    np.testing.assert_array_equal(item[keys.LABELS].numpy(), cells.labels[13])
    # items are reproducible, and a batched read gives the same items as single reads
    many = dataset.__getitems__([3, 0, 3])
    for key in item:
        assert torch.equal(many[0][key], item[key]) and torch.equal(many[2][key], item[key])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[3][keys.GENES], item[keys.GENES])

    weights = label_sampling_weights(backed.obs.iloc[10:50], ["cell_type"], scaler=None)
    sampler = WeightedRandomSampler(weights, num_samples=32, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(dataset, batch_size=8, sampler=sampler, collate_fn=collate_cells)
    batches = list(loader)
    assert len(batches) == 4
    assert batches[0][keys.GENES].shape == (8, 24) and batches[0][keys.LABELS].shape == (8, 2)
    backed.file.close()


def test_encode_labels_unknown_and_missing(caplog):
    obs = pd.DataFrame({"ct": ["a", "unknown", None, "zzz", "b", ""]})
    with caplog.at_level(logging.WARNING, logger="scprint_graph.cells"):
        codes = encode_labels(obs, {"ct": ["b", "a"]})
    assert codes[:, 0].tolist() == [1, -1, -1, -1, 0, -1]
    assert "zzz" in caplog.text and "1 cells" in caplog.text
    with pytest.raises(ValueError, match="twice"):
        encode_labels(obs, {"ct": ["a", "a"]})


def test_collate_rejects_mixed_context_sizes():
    a = {keys.GENES: torch.zeros(3, dtype=torch.long)}
    b = {keys.GENES: torch.zeros(4, dtype=torch.long)}
    with pytest.raises(ValueError, match="context sizes"):
        collate_cells([a, b])
