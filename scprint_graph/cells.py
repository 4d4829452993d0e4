"""Cells of an AnnData as model batches: chunked row reads, tokenisation, labels, a torch Dataset.

The count matrix (``adata.X`` or a layer) may be dense, CSR or CSC, in memory or backed (``backed="r"``);
rows are read in chunks (sorted, unique indices for backed files) and never densified as a whole. The var
table is mapped onto the vocabulary once (:meth:`GeneVocabulary.map_var`); unknown genes are reported and
still count towards DEPTH.

Labels: each requested obs column is encoded as an index into an ordered label list (e.g. a model
``LabelClass.labels``: leaves then parents); missing values, ``"unknown"``-like values and values absent from
the list give -1 (the latter are reported).
"""

import logging
from collections.abc import Iterator, Mapping, Sequence

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from scprint_graph import keys
from scprint_graph.genes import GeneMapping, GeneVocabulary
from scprint_graph.tokenize import Tokenizer

logger = logging.getLogger(__name__)

UNKNOWN_LABELS = frozenset({"", "unknown", "nan", "na", "none", "null"})
DEFAULT_CHUNK = 1024


def _is_unknown(values: pd.Series) -> np.ndarray:
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    return text.isin(UNKNOWN_LABELS).to_numpy()


def label_values(obs: pd.DataFrame, columns: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Sorted distinct known values of each obs column (a starting label list for a new model)."""
    out = {}
    for column in columns:
        values = obs[column]
        out[column] = tuple(sorted(set(values[~_is_unknown(values)].astype(str))))
    return out


def encode_labels(obs: pd.DataFrame, labels: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Label index of each cell for each class.

    Parameters
    ----------
    obs
        ``adata.obs``.
    labels
        obs column -> ordered label names (index i is label i); the classes keep this mapping's order.

    Returns
    -------
    np.ndarray
        ``(n_cells, n_classes)`` int64, -1 where the value is missing, unknown or not in the list.
    """
    missing = [c for c in labels if c not in obs.columns]
    if missing:
        msg = f"obs has no label columns {missing}; columns are {list(obs.columns)}"
        raise ValueError(msg)
    out = np.full((len(obs), len(labels)), -1, dtype=np.int64)
    for j, (column, names) in enumerate(labels.items()):
        if len(set(names)) != len(names):
            msg = f"label list of {column!r} names some labels twice: {list(names)[:10]}"
            raise ValueError(msg)
        values = obs[column]
        unknown = _is_unknown(values)
        lookup = pd.Series(np.arange(len(names), dtype=np.int64), index=pd.Index(list(names), dtype=object))
        codes = lookup.reindex(values.astype(str).to_numpy()).to_numpy()
        absent = np.isnan(codes) & ~unknown
        if absent.any():
            examples = sorted(set(values[absent].astype(str)))[:5]
            logger.warning(
                "label column %r: %d cells have values outside the label list (set to -1), e.g. %s",
                column,
                int(absent.sum()),
                examples,
            )
        known = ~np.isnan(codes) & ~unknown
        out[known, j] = codes[known].astype(np.int64)
    return out


def label_sampling_weights(
    obs: pd.DataFrame, columns: Sequence[str], *, scaler: float | None = 50.0
) -> np.ndarray:
    """Per-cell sampling weights that flatten the label distribution (scPRINT's label-weighted sampling).

    Cells are grouped by the combination of their values in ``columns`` (unknown values form their own
    category). A cell in a group of ``n`` cells gets weight ``scaler / (n + scaler)``, so the group is
    drawn with probability proportional to ``n * scaler / (n + scaler)``: groups much larger than
    ``scaler`` are drawn about equally often, smaller ones in proportion to their size. This is
    scDataLoader's formula (``Dataset.get_label_weights`` with categories, times the category count in
    ``LabelWeightedSampler``; scPRINT runs it with ``weight_scaler`` = 50). ``scaler=None`` gives
    ``1 / n`` (every group equally likely).

    Returns
    -------
    np.ndarray
        ``(n_cells,)`` float64 weights, e.g. for :class:`~scprint_graph.sampling.WeightedCellSampler`.
    """
    if not columns:
        msg = "give at least one obs column to weight by"
        raise ValueError(msg)
    if scaler is not None and scaler <= 0:
        msg = f"scaler must be positive or None, got {scaler}"
        raise ValueError(msg)
    missing = [c for c in columns if c not in obs.columns]
    if missing:
        msg = f"obs has no columns {missing}; columns are {list(obs.columns)}"
        raise ValueError(msg)
    groups = obs[list(columns)].astype(str).groupby(list(columns), sort=False).ngroup().to_numpy()
    counts = np.bincount(groups)[groups].astype(np.float64)  # size of each cell's group
    if scaler is None:
        return 1.0 / counts
    return scaler / (counts + scaler)


class AnnDataCells:
    """One AnnData mapped once onto a vocabulary, read in row chunks.

    Parameters
    ----------
    adata
        Raw counts in ``X`` (or ``layer``); in memory or opened with ``backed="r"``.
    vocab
        The model's gene vocabulary.
    gene_column
        var column holding gene ids or symbols; None tries the index and the usual columns.
    labels
        obs column -> ordered label names (e.g. a model ``LabelClass.labels``), for LABELS; or just obs
        columns, whose sorted known values become the label lists (``label_values``); None: no labels.
    layer
        Read this layer instead of ``X``.
    organism
        Only match vocabulary genes of this organism (for a multi-organism vocabulary).
    """

    def __init__(
        self,
        adata: ad.AnnData,
        vocab: GeneVocabulary,
        *,
        gene_column: str | None = None,
        labels: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
        layer: str | None = None,
        organism: str | None = None,
    ) -> None:
        self.adata = adata
        self.vocab = vocab
        self.layer = layer
        if layer is not None and layer not in adata.layers:
            msg = f"adata has no layer {layer!r}; layers are {list(adata.layers)}"
            raise ValueError(msg)
        self.mapping: GeneMapping = vocab.map_var(adata.var, column=gene_column, organism=organism)
        if labels and not isinstance(labels, Mapping):
            labels = label_values(adata.obs, list(labels))
        self.label_names: dict[str, tuple[str, ...]] = {c: tuple(v) for c, v in (labels or {}).items()}
        self.labels = encode_labels(adata.obs, self.label_names) if labels else None
        self._checked_counts = False

    @property
    def label_columns(self) -> tuple[str, ...]:
        """obs columns encoded in LABELS, in order."""
        return tuple(self.label_names)

    @property
    def n_cells(self) -> int:
        return self.adata.n_obs

    @property
    def matrix(self):
        """The count matrix: numpy / scipy in memory, h5py dataset or anndata sparse dataset when backed."""
        return self.adata.layers[self.layer] if self.layer is not None else self.adata.X

    def tokenizer(self, *, max_len: int | None = None, genes: Sequence[int] | None = None) -> Tokenizer:
        """A tokenizer over this dataset's genes: random mode (``max_len``) or fixed mode (``genes``)."""
        return Tokenizer(self.mapping.indices, max_len=max_len, genes=genes)

    def read_rows(self, rows: np.ndarray | slice) -> sp.csr_matrix:
        """Counts of the given cells as CSR, in the given order.

        Backed files are read with one sorted, unique index (or a slice for a contiguous range).
        """
        matrix = self.matrix
        if isinstance(rows, slice):
            block = matrix[rows]
        else:
            rows = np.asarray(rows, dtype=np.int64)
            if len(rows) == 0:
                return sp.csr_matrix((0, self.adata.n_vars), dtype=np.float32)
            if rows.min() < 0 or rows.max() >= self.n_cells:
                msg = f"row indices must lie in [0, {self.n_cells}), got {rows.min()}..{rows.max()}"
                raise IndexError(msg)
            uniq, inverse = np.unique(rows, return_inverse=True)
            contiguous = uniq[-1] - uniq[0] + 1 == len(uniq)
            index = slice(int(uniq[0]), int(uniq[-1]) + 1) if contiguous else uniq
            block = _to_csr(matrix[index])
            if not (len(uniq) == len(rows) and (uniq == rows).all()):
                block = block[inverse]
        block = _to_csr(block)
        if not self._checked_counts:
            self._check_counts(block)
        return block

    def _check_counts(self, block: sp.csr_matrix) -> None:
        data = block.data
        if data.size and ((data < 0).any() or not np.allclose(data, np.rint(data))):
            logger.warning(
                "the count matrix holds negative or non-integer values: scPRINT expects raw counts "
                "(use layer= to pick a raw-count layer)"
            )
        self._checked_counts = True

    def batches(
        self,
        *,
        batch_size: int = 64,
        max_len: int | None = None,
        genes: Sequence[int] | None = None,
        rows: np.ndarray | None = None,
        seed: int = 0,
        chunk_size: int = DEFAULT_CHUNK,
        progress: bool = False,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Yield token batches of the given cells (all by default), in order.

        Parameters
        ----------
        batch_size
            Cells per batch (the last batch may be smaller).
        max_len, genes
            Random mode (up to ``max_len`` expressed genes per cell, filled with unexpressed ones) or fixed
            mode (these vocabulary genes for every cell); exactly one.
        rows
            Cell indices to read, in order; all cells when None.
        seed
            Seed of the generator drawing genes (random mode): the same seed gives the same batches.
        chunk_size
            Cells read from the matrix at once (rounded up to whole batches).
        progress
            Show a tqdm bar.

        Yields
        ------
        dict
            ``GENES``, ``EXPRESSION``, ``DEPTH`` tensors (and ``LABELS`` when labels were given).
        """
        if batch_size <= 0 or chunk_size <= 0:
            msg = f"batch_size and chunk_size must be positive, got {batch_size} and {chunk_size}"
            raise ValueError(msg)
        tokenizer = self.tokenizer(max_len=max_len, genes=genes)
        rng = np.random.default_rng(seed)
        rows = np.arange(self.n_cells) if rows is None else np.asarray(rows, dtype=np.int64)
        chunk = max(1, -(-chunk_size // batch_size)) * batch_size
        bar = tqdm(total=len(rows), unit="cell", disable=not progress, desc="tokenising")
        for lo in range(0, len(rows), chunk):
            chunk_rows = rows[lo : lo + chunk]
            arrays = tokenizer(self.read_rows(chunk_rows), rng)
            if self.labels is not None:
                arrays[keys.LABELS] = self.labels[chunk_rows]
            for b in range(0, len(chunk_rows), batch_size):
                yield {
                    k: torch.from_numpy(np.ascontiguousarray(v[b : b + batch_size]))
                    for k, v in arrays.items()
                }
            bar.update(len(chunk_rows))
        bar.close()


def _to_csr(block) -> sp.csr_matrix:
    if isinstance(block, h5py.Dataset):
        block = block[()]
    if sp.issparse(block):
        return block.tocsr() if block.format != "csr" else block
    return sp.csr_matrix(np.atleast_2d(np.asarray(block)))


class TokenizedCells(Dataset):
    """A torch Dataset of tokenised cells (random mode), for training with a sampler.

    Item ``i`` is a dict of tensors for cell ``rows[i]``: ``GENES``, ``EXPRESSION`` (``(n_ctx,)``),
    ``DEPTH`` (scalar) and ``LABELS`` (``(n_classes,)``) when the cells carry labels. Gene draws come
    from a generator seeded by ``(seed, epoch, i)``: reproducible whatever the worker count; call
    :meth:`set_epoch` each epoch for new draws (it does not reach persistent DataLoader workers).
    With automatic batching, torch calls :meth:`__getitems__`, which reads a batch's rows at once.

    Parameters
    ----------
    cells
        The mapped AnnData.
    max_len
        Context size.
    rows
        Cell indices making up the dataset (e.g. a train split); all cells when None.
    seed
        Base seed of the gene draws.
    """

    def __init__(
        self, cells: AnnDataCells, *, max_len: int, rows: np.ndarray | None = None, seed: int = 0
    ) -> None:
        self.cells = cells
        self.tokenizer = cells.tokenizer(max_len=max_len)
        self.rows = np.arange(cells.n_cells) if rows is None else np.asarray(rows, dtype=np.int64)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use new gene draws for this epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        """Items for several indices, reading their rows with one sorted read."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and (indices.min() < -len(self) or indices.max() >= len(self)):
            msg = f"index out of range for {len(self)} cells: {indices.min()}..{indices.max()}"
            raise IndexError(msg)
        indices = indices % max(len(self), 1)
        counts = self.cells.read_rows(self.rows[indices])
        rngs = [np.random.default_rng((self.seed, self.epoch, i)) for i in indices.tolist()]
        arrays = self.tokenizer(counts, rngs)
        if self.cells.labels is not None:
            arrays[keys.LABELS] = self.cells.labels[self.rows[indices]]
        return [{k: torch.as_tensor(v[j]) for k, v in arrays.items()} for j in range(len(indices))]


def collate_cells(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items of :class:`TokenizedCells` into a batch (all items must share one context size)."""
    if not items:
        msg = "cannot collate an empty list of cells"
        raise ValueError(msg)
    sizes = {item[keys.GENES].shape[0] for item in items}
    if len(sizes) > 1:
        msg = f"cells have different context sizes {sorted(sizes)}: batch cells of one dataset together"
        raise ValueError(msg)
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}
