"""Gene networks of groups of AnnData cells: the AnnData-facing extractor over the tensor core.

As scvi-tools separates ``module`` from ``model``: :mod:`scprint_graph.grn_core` computes networks from
tensors; this module takes a group's AnnData, chooses its genes (:mod:`scprint_graph.grn_genes`), streams its
cells through the model capturing per-layer Q and K, and hands the per-gene means to the core.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass

import anndata as ad
import numpy as np
import torch
from tqdm.auto import tqdm

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn_core import ORIENTATION, GeneNetwork, QKAccumulator, check_heads, network_from_qk
from scprint_graph.grn_genes import choose_genes, gene_stats
from scprint_graph.grn_params import GrnParams
from scprint_graph.model import resolve_device

logger = logging.getLogger(__name__)

GRN_FORMAT = "scprint-graph-grn/1"


@dataclass(frozen=True)
class GroupQK:
    """Mean Q and K of a group's genes: what a network (or a head selection) is computed from.

    Attributes
    ----------
    q_mean, k_mean
        ``(n_layers, n_heads, n_special + len(genes), d_head)`` float32.
    genes
        Ensembl ids of the genes, in token order after the special tokens.
    n_special
        Leading special tokens.
    n_cells
        Cells that went through the model.
    precision
        What the forward passes ran in: ``"fp32"`` or ``"bf16"``.
    """

    q_mean: torch.Tensor
    k_mean: torch.Tensor
    genes: list[str]
    n_special: int
    n_cells: int
    precision: str


def precision_context(device: torch.device, precision: str) -> tuple[contextlib.AbstractContextManager, str]:
    """bf16 autocast only when asked for and on CUDA; fp32 otherwise. Returns the context and its name."""
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16), "bf16"
    return contextlib.nullcontext(), "fp32"


def group_qk(
    model: torch.nn.Module,
    adata: ad.AnnData,
    vocab: GeneVocabulary,
    params: GrnParams,
    *,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    gene_column: str | None = None,
    layer: str | None = None,
) -> GroupQK:
    """Stream a group's cells through the model and average each gene's per-layer Q and K.

    A fixed gene list longer than the model's ``max_len`` is split, per batch, into random parts of at most
    ``max_len`` genes, each part one forward pass; every gene is then in context once per cell. Parameters
    as in :func:`extract_network`.
    """
    if params.max_cells < 1 or batch_size < 1:
        msg = f"max_cells and batch_size must be >= 1, got {params.max_cells} and {batch_size}"
        raise ValueError(msg)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    n_special = int(model.n_special_tokens)
    config = model.config
    max_len = config.max_len
    check_heads(params.heads, config.n_layers, config.n_heads)
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer)
    if cells.n_cells == 0:
        msg = "the group has no cells"
        raise ValueError(msg)
    stats = gene_stats(cells)
    genes = params.genes if isinstance(params.genes, str) else list(params.genes)
    chosen = choose_genes(cells, stats, genes, params.n_genes, drop_unexpressed=params.drop_unexpressed)
    rows = np.sort(np.argsort(-stats.depth, kind="stable")[: params.max_cells])
    position_of = np.full(len(vocab), -1, np.int64)
    position_of[chosen] = np.arange(len(chosen))
    position_of = torch.from_numpy(position_of)
    acc = QKAccumulator(len(chosen), n_special, config.n_layers, config.n_heads, config.d_head)
    random_mode = params.genes == "random expressed"
    rng = torch.Generator().manual_seed(params.seed)
    batches = cells.batches(
        batch_size=batch_size,
        rows=rows,
        seed=params.seed,
        **({"max_len": max_len} if random_mode else {"genes": chosen}),
    )
    autocast, precision = precision_context(device, params.precision)
    bar = tqdm(total=len(rows), unit="cell", desc="GRN", disable=not progress)
    with torch.no_grad():
        for batch in batches:
            n_ctx = batch[keys.GENES].shape[1]
            parts = [torch.arange(n_ctx)]
            if n_ctx > max_len:
                parts = list(torch.randperm(n_ctx, generator=rng).tensor_split(-(-n_ctx // max_len)))
            for i, cols in enumerate(parts):
                sub = {
                    name: t[:, cols] if t.ndim == 2 and name != keys.LABELS else t
                    for name, t in batch.items()
                }
                with autocast:
                    out = model({k: t.to(device) for k, t in sub.items()}, capture_qk=True)
                qk = [(q.float().cpu(), k.float().cpu()) for q, k in out.qk]
                acc.add(qk, position_of[sub[keys.GENES]], new_cells=i == 0)
            bar.update(batch[keys.GENES].shape[0])
    bar.close()
    seen = acc.seen()
    if (~seen).any():
        logger.warning("%d of %d genes were never in context and are left out", int((~seen).sum()), len(seen))
    q_mean, k_mean = acc.means()
    return GroupQK(
        q_mean=q_mean,
        k_mean=k_mean,
        genes=[str(g) for g in vocab.ensembl_ids[chosen[seen]]],
        n_special=n_special,
        n_cells=int(acc.n_cells),
        precision=precision,
    )


def extract_network(
    model: torch.nn.Module,
    adata: ad.AnnData,
    vocab: GeneVocabulary,
    params: GrnParams | None = None,
    *,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    gene_column: str | None = None,
    layer: str | None = None,
) -> GeneNetwork:
    """Gene network of one group of cells (e.g. one cell type of one dataset) from a model's attention.

    Parameters
    ----------
    model
        A :class:`~scprint_graph.model.ScPrintModel` (any module whose ``forward(batch, capture_qk=True)``
        returns ``.qk``, one ``(q, k)`` per layer, and that has ``n_special_tokens`` and ``config``).
    adata
        The group's cells, raw counts (in memory or backed).
    vocab
        The model's gene vocabulary (``GeneVocabulary.from_ensembl_ids(checkpoint.genes)``).
    params
        What shapes the network (:class:`~scprint_graph.grn_params.GrnParams`; its defaults when None).
    batch_size
        Cells per forward pass.
    device
        Where the model runs (default: where its weights are); see
        :func:`~scprint_graph.model.resolve_device`.
    progress
        tqdm bar over cells.
    gene_column, layer
        Passed to :class:`~scprint_graph.cells.AnnDataCells`.

    Returns
    -------
    GeneNetwork
        Edges (regulator = key gene, target = query gene; Ensembl ids) and the parameters, which record
        the precision the forward passes ran in and, for heads from a heads file, its prior and score.
    """
    params = params or GrnParams()
    group = group_qk(
        model,
        adata,
        vocab,
        params,
        batch_size=batch_size,
        device=resolve_device(device) if device is not None else None,
        progress=progress,
        gene_column=gene_column,
        layer=layer,
    )
    edges = edges_for(params, group.q_mean, group.k_mean, group.genes, group.n_special)
    recorded = recorded_params(
        params,
        model=model,
        vocab=vocab,
        n_network_genes=len(group.genes),
        n_cells=group.n_cells,
        batch_size=batch_size,
        precision=group.precision,
        gene_column=gene_column,
        layer=layer,
    )
    logger.info(
        "network of %d genes, %d edges from %d cells", len(group.genes), edges.num_rows, group.n_cells
    )
    return GeneNetwork(edges=edges, genes=group.genes, n_cells=group.n_cells, params=recorded)


def edges_for(params: GrnParams, q_mean, k_mean, genes, n_special: int):
    """The edge table of mean Q and K shaped by ``params`` (aggregation, heads, filter, symmetry)."""
    return network_from_qk(
        q_mean,
        k_mean,
        genes,
        n_special,
        head_aggregation=params.head_aggregation,
        heads=params.heads,
        edge_filter=params.edge_filter,
        top_k=params.top_k,
        symmetrize=params.symmetrize,
    )


def recorded_params(
    params: GrnParams,
    *,
    model: torch.nn.Module,
    vocab: GeneVocabulary,
    n_network_genes: int,
    n_cells: int,
    batch_size: int,
    precision: str,
    gene_column: str | None,
    layer: str | None,
) -> dict:
    """What a network records of how it was made: its ``GrnParams`` and the run's facts (every family)."""
    recorded = params.to_dict()
    given = not isinstance(params.genes, str)
    recorded.update(
        {
            "format": GRN_FORMAT,
            "model_family": getattr(model, "family", "scprint"),
            "genes": "given" if given else params.genes,
            "given_genes_sha256": _sha256(list(params.genes)) if given else None,
            "n_network_genes": n_network_genes,
            "n_cells": n_cells,
            "cell_selection": "deepest",
            "batch_size": batch_size,
            "context_size": model.config.max_len,
            "precision": precision,
            "self_loops": False,
            "preprocess": "softmax",
            "orientation": ORIENTATION,
            "gene_column": gene_column,
            "layer": layer,
            "model_config_sha256": _sha256(model.config.to_dict()),
            "vocabulary_sha256": _sha256([str(g) for g in vocab.ensembl_ids]),
        }
    )
    return recorded


def _sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
