"""Which genes a group's network covers: per-gene statistics of the group's cells and the gene choice.

Used by :func:`scprint_graph.grn.extract_network`. One streaming pass over the count matrix (backed files
too) gives each cell's depth and, per dataset gene, the number of expressing cells, the mean count and the
variance of log1p(counts per 10k).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scprint_graph.cells import AnnDataCells
from scprint_graph.grn_params import GENE_MODES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneStats:
    """One pass over a group's cells: depth per cell, and per vocabulary-known dataset gene the number of
    expressing cells, the mean and the variance of log1p(counts per 10k)."""

    depth: np.ndarray  # (n_cells,)
    n_expressing: np.ndarray  # (n_var,)
    mean_counts: np.ndarray  # (n_var,)
    lognorm_var: np.ndarray  # (n_var,)


def gene_stats(cells: AnnDataCells, *, chunk_size: int = 2048) -> GeneStats:
    """Stream the count matrix once (works on backed files)."""
    n_var = len(cells.mapping.indices)
    depth = np.zeros(cells.n_cells)
    nnz = np.zeros(n_var)
    total = np.zeros(n_var)
    s1 = np.zeros(n_var)
    s2 = np.zeros(n_var)
    for lo in range(0, cells.n_cells, chunk_size):
        block = cells.read_rows(slice(lo, min(lo + chunk_size, cells.n_cells))).astype(np.float64)
        row_depth = np.asarray(block.sum(axis=1)).ravel()
        depth[lo : lo + block.shape[0]] = row_depth
        nnz += np.bincount(block.indices, minlength=n_var)
        total += np.asarray(block.sum(axis=0)).ravel()
        scale = np.repeat(1e4 / np.maximum(row_depth, 1.0), np.diff(block.indptr))
        logged = np.log1p(block.data * scale)
        s1 += np.bincount(block.indices, weights=logged, minlength=n_var)
        s2 += np.bincount(block.indices, weights=logged**2, minlength=n_var)
    n = max(cells.n_cells, 1)
    mean_log = s1 / n
    return GeneStats(depth, nnz, total / n, np.maximum(s2 / n - mean_log**2, 0.0))


def choose_genes(
    cells: AnnDataCells,
    stats: GeneStats,
    genes: str | Sequence[str],
    n_genes: int | None,
    *,
    drop_unexpressed: bool = False,
) -> np.ndarray:
    """Vocabulary indices of the network's genes.

    ``"most variable"``: highest variance of log1p(CP10k) within the group (a simple stand-in for scanpy's
    Seurat-v3 HVG that scPRINT uses); ``"most expressed"``: highest mean count; ``"random expressed"``: the
    genes expressed in most cells (contexts then hold random expressed genes; the network keeps these).
    These modes only pick genes expressed in the group.

    A list: the given Ensembl ids or symbols, in that order. Genes unknown to the vocabulary or absent from
    the dataset are dropped with a warning; genes of the dataset that no cell of the group expresses are
    kept (scPRINT's ``drop_unexpressed=False``: every cell's context is the whole list) unless
    ``drop_unexpressed``.
    """
    known = cells.mapping.indices >= 0
    expressed = known & (stats.n_expressing > 0)
    if isinstance(genes, str):
        if genes not in GENE_MODES:
            msg = f"genes must be one of {GENE_MODES} or a list of gene ids, got {genes!r}"
            raise ValueError(msg)
        if n_genes is None or n_genes < 2:
            msg = f"n_genes must be >= 2 with genes={genes!r}, got {n_genes}"
            raise ValueError(msg)
        key = {
            "most variable": stats.lognorm_var,
            "most expressed": stats.mean_counts,
            "random expressed": stats.n_expressing,
        }[genes]
        candidates = np.flatnonzero(expressed)
        order = candidates[np.argsort(-key[candidates], kind="stable")][:n_genes]
        return cells.mapping.indices[np.sort(order)]  # dataset order, as scPRINT keeps it
    mapping = cells.vocab.map_genes(list(genes), source="given genes")
    chosen = mapping.indices[mapping.indices >= 0]
    var_of_vocab = dict(
        zip(cells.mapping.indices[known].tolist(), np.flatnonzero(known).tolist(), strict=True)
    )
    in_data = np.array([g in var_of_vocab for g in chosen.tolist()], dtype=bool)
    if (~in_data).any():
        logger.warning("%d given genes are not in this dataset and are dropped", int((~in_data).sum()))
    chosen = chosen[in_data]
    if drop_unexpressed and len(chosen):
        used = np.array([stats.n_expressing[var_of_vocab[g]] > 0 for g in chosen.tolist()])
        if (~used).any():
            logger.warning(
                "%d given genes are not expressed in this group and are dropped", int((~used).sum())
            )
        chosen = chosen[used]
    if len(chosen) < 2:
        what = "known, in the dataset and expressed" if drop_unexpressed else "known and in the dataset"
        msg = f"fewer than 2 of the {len(genes)} given genes are {what}"
        raise ValueError(msg)
    return chosen[:n_genes] if n_genes is not None else chosen
