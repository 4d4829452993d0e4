"""Checks a dataset must pass before any model work: a failing dataset is reported and skipped.

All problems of a dataset are collected into one ``InvalidDataset`` error, so a user fixes them in one go:
no cells, fewer than two genes, missing grouping columns, a grouping column without a single label,
duplicated cell or gene names, too many genes unknown to the model's vocabulary, counts that are not raw
counts (negative, NaN/inf or non-integer values), and counts with nothing in them (no cell with a count,
fewer than two genes with counts). Whether the file itself is sound is checked earlier, when it is opened
(``ingest.readable``).
"""

import logging
from dataclasses import dataclass

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ingest.columns import KEYS, ColumnMap, missing_labels
from ingest.readable import MAX_DATASET_BYTES
from scprint_graph.errors import InputError

logger = logging.getLogger(__name__)

_CHUNK_CELLS = 2048
_N_EXAMPLES = 5
MIN_GENES = 2  # a network needs a regulator and a target


class InvalidDataset(InputError):
    """A dataset failed validation; ``problems`` lists every reason."""

    def __init__(self, dataset: str, problems: list[str]) -> None:
        self.dataset = dataset
        self.problems = list(problems)
        super().__init__(f"dataset {dataset} is invalid: " + "; ".join(self.problems))


@dataclass(frozen=True)
class ValidationOptions:
    """Thresholds of validation.

    Attributes
    ----------
    max_unmapped_fraction
        Largest fraction of the dataset's genes allowed to be unknown to the vocabulary.
    check_cells
        Cells whose counts are checked (the first ones, read in chunks); 0 checks every cell.
    max_dataset_bytes
        Largest size the arrays of one dataset may declare (uncompressed bytes; default 32 GiB): a bound on
        what reading it may allocate. A file declaring more is refused before anything is read.
    """

    max_unmapped_fraction: float = 0.5
    check_cells: int = 0
    max_dataset_bytes: int = MAX_DATASET_BYTES

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_unmapped_fraction <= 1.0:
            msg = f"max_unmapped_fraction must lie in [0, 1], got {self.max_unmapped_fraction}"
            raise ValueError(msg)
        if self.check_cells < 0:
            msg = f"check_cells must be >= 0, got {self.check_cells}"
            raise ValueError(msg)
        if not isinstance(self.max_dataset_bytes, int) or self.max_dataset_bytes < 1:
            msg = f"max_dataset_bytes must be a positive integer (bytes), got {self.max_dataset_bytes!r}"
            raise ValueError(msg)


def count_matrix(adata: ad.AnnData, counts: str):
    """The matrix holding raw counts: ``X``, ``raw.X`` or a layer (backed datasets stay on disk)."""
    if counts == "X":
        if adata.X is None:
            msg = "the dataset has no X matrix; point `counts` at a layer (layers/<name>) or raw"
            raise ValueError(msg)
        return adata.X
    if counts == "raw":
        if adata.raw is None:
            msg = "counts = 'raw' but the dataset has no .raw"
            raise ValueError(msg)
        return adata.raw.X
    name = counts.removeprefix("layers/")
    if name not in adata.layers:
        msg = f"counts layer {name!r} not found; layers are {list(adata.layers.keys())}"
        raise ValueError(msg)
    return adata.layers[name]


def _values(block) -> np.ndarray:
    """The stored values of a block of rows (non-zeros of a sparse block)."""
    if sp.issparse(block):
        return np.asarray(block.data)
    return np.asarray(block).ravel()


def _with_counts(block) -> tuple[int, np.ndarray]:
    """Cells of a block with a positive count, and the genes with one (a boolean mask over genes)."""
    if sp.issparse(block):
        positive = block.copy()
        positive.data = np.where(np.isfinite(positive.data) & (positive.data > 0), 1, 0).astype(np.int8)
        positive.eliminate_zeros()
        cells = int((positive.getnnz(axis=1) > 0).sum())
        return cells, np.asarray(positive.getnnz(axis=0) > 0).ravel()
    dense = np.asarray(block)
    positive = np.isfinite(dense) & (dense > 0) if dense.dtype.kind == "f" else dense > 0
    return int(positive.any(axis=1).sum()), positive.any(axis=0)


def count_problems(matrix, n_cells: int, *, check_cells: int = 0) -> list[str]:
    """What is wrong with a count matrix, read in row chunks (empty when it holds raw counts).

    Parameters
    ----------
    matrix
        In-memory array, scipy sparse matrix, or a backed (h5py / anndata sparse) dataset.
    n_cells
        Number of rows.
    check_cells
        Rows to check from the start; 0 checks all.
    """
    stop = n_cells if check_cells == 0 else min(n_cells, check_cells)
    n_negative = n_nan = n_fraction = cells_with_counts = 0
    genes_with_counts = None
    example = None
    for start in range(0, stop, _CHUNK_CELLS):
        block = matrix[start : min(start + _CHUNK_CELLS, stop)]
        if isinstance(block, h5py.Dataset):  # pragma: no cover - anndata returns arrays for slices
            block = block[()]
        values = _values(block)
        if values.dtype.kind not in "iuf":
            msg = f"counts have a non-numeric dtype {values.dtype}"
            return [msg]
        n_cells_block, genes = _with_counts(block)
        cells_with_counts += n_cells_block
        genes_with_counts = genes if genes_with_counts is None else genes_with_counts | genes
        if np.issubdtype(values.dtype, np.integer):
            n_negative += int((values < 0).sum())
            continue
        finite = np.isfinite(values)
        n_nan += int((~finite).sum())
        v = values[finite]
        n_negative += int((v < 0).sum())
        frac = v != np.round(v)
        n_fraction += int(frac.sum())
        if example is None and frac.any():
            example = float(v[frac][0])
    checked = "" if stop == n_cells else f" (first {stop} cells checked)"
    problems = []
    if n_negative:
        problems.append(f"{n_negative} negative values in the counts{checked}: raw counts expected")
    if n_nan:
        problems.append(f"{n_nan} NaN or infinite values in the counts{checked}: raw counts expected")
    if n_fraction:
        problems.append(
            f"{n_fraction} non-integer values in the counts (e.g. {example:g}){checked}: "
            "raw counts expected, not normalised or log-transformed data "
            "(point `counts` at a raw layer or .raw)"
        )
    n_genes = 0 if genes_with_counts is None else int(genes_with_counts.sum())
    if cells_with_counts == 0:
        problems.append(f"no cell has a positive count{checked}: the counts are all zero")
    elif n_genes < MIN_GENES:
        problems.append(f"only {n_genes} gene(s) with counts{checked}: a network needs at least {MIN_GENES}")
    return problems


def label_problems(obs: pd.DataFrame, cmap: ColumnMap) -> list[str]:
    """Grouping columns without a single label (every value missing, blank or 'unknown')."""
    problems = []
    for key in KEYS:
        column = cmap.column(key)
        if cmap.constant(key) is not None or column not in obs.columns or not len(obs):
            continue
        if missing_labels(obs[column]).all():
            problems.append(
                f"the {key} column {column!r} holds no label (all {len(obs)} missing or 'unknown'): "
                f"name another column with {key}_col or give one {key} for the whole dataset"
            )
    return problems


def gene_names(adata: ad.AnnData, cmap: ColumnMap) -> pd.Index:
    """The dataset's gene identifiers: the chosen var column, else the var index."""
    if cmap.gene_col is None:
        return adata.var_names
    if cmap.gene_col not in adata.var.columns:
        msg = f"var has no column {cmap.gene_col!r}; columns are {list(adata.var.columns)}"
        raise ValueError(msg)
    return pd.Index(adata.var[cmap.gene_col].astype(str))


def validate_dataset(
    adata: ad.AnnData,
    cmap: ColumnMap,
    *,
    name: str,
    map_genes=None,
    options: ValidationOptions | None = None,
):
    """Check a dataset before model work; raise ``InvalidDataset`` naming every problem.

    Parameters
    ----------
    adata
        The dataset (backed or in memory).
    cmap
        Its column mapping.
    name
        Dataset name for messages.
    map_genes
        ``callable(var: DataFrame, column) -> GeneMapping`` (e.g. ``GeneVocabulary.map_var``); when given, the
        fraction of unknown genes is checked.
    options
        Thresholds.

    Returns
    -------
    GeneMapping or None
        The mapping of the dataset's genes, when ``map_genes`` was given.
    """
    options = options or ValidationOptions()
    problems: list[str] = []
    if adata.n_obs == 0:
        problems.append("no cells")
    if adata.n_vars < MIN_GENES:
        problems.append(f"only {adata.n_vars} gene(s): a network needs at least {MIN_GENES}")
    if adata.obs_names.has_duplicates:
        dup = adata.obs_names[adata.obs_names.duplicated()].unique()
        problems.append(f"{len(dup)} duplicated cell names, e.g. {list(dup[:_N_EXAMPLES])}")
    missing = cmap.missing_columns(adata.obs.columns)
    if missing:
        problems.append(
            f"missing grouping columns {missing} in obs (columns are {list(adata.obs.columns)[:12]}); "
            "name them with cell_type_col / tissue_col / disease_col or give a constant tissue / disease"
        )
    problems.extend(label_problems(adata.obs, cmap))
    try:
        genes = gene_names(adata, cmap)
    except ValueError as err:
        raise InvalidDataset(name, [*problems, str(err)]) from err
    if genes.has_duplicates:
        dup = genes[genes.duplicated()].unique()
        problems.append(f"{len(dup)} duplicated genes, e.g. {list(dup[:_N_EXAMPLES])}")
    mapping = None
    if map_genes is not None and adata.n_vars:
        mapping = map_genes(adata.var, cmap.gene_col)
        unknown = 1.0 - mapping.n_known / adata.n_vars
        if mapping.n_known == 0 or unknown > options.max_unmapped_fraction:
            problems.append(
                f"{unknown:.0%} of genes are unknown to the model's vocabulary "
                f"(allowed {options.max_unmapped_fraction:.0%}), e.g. {list(mapping.unknown_examples)}; "
                "check the organism and gene_col"
            )
    if adata.n_obs and adata.n_vars:
        try:
            matrix = count_matrix(adata, cmap.counts)
        except ValueError as err:
            problems.append(str(err))
        else:
            problems.extend(count_problems(matrix, adata.n_obs, check_cells=options.check_cells))
    if problems:
        raise InvalidDataset(name, problems)
    logger.info("dataset %s: valid (%d cells, %d genes)", name, adata.n_obs, adata.n_vars)
    return mapping
