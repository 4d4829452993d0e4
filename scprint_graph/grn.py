"""Gene networks from attention: per-gene mean Q and K over a group of cells, then softmax(Q̄ K̄ᵀ / √d).

The first half is the tensor core (streaming accumulation, attention networks, head aggregation,
filtering, edge tables); :func:`extract_network` runs the model over one group's AnnData cells and calls it.

Orientation (read from scPRINT's ``GNInfer``). Row ``i`` of ``softmax(Q̄ K̄ᵀ)`` is gene ``i`` as a *query*
distributing its attention over the *key* genes ``j``: the representation of ``i`` is updated from ``j``.
We read that as "``j`` regulates ``i``": **the key gene is the regulator, the query gene is the target**.
scPRINT uses this orientation (``attn.T`` with rows as regulators) when scoring against ChIP/perturbation
ground truths, ranks "regulators" by the attention a key gene receives (column sums), and its top-k filter
keeps the top keys of each query row, i.e. "top-k regulators per target". Each target's incoming weights
sum to at most 1 (softmax over keys, special tokens dropped afterwards), so the threshold filter
``weight >= 1 / n_genes`` keeps the regulators a target attends to more than uniformly.

Memory stays bounded: cells are reduced into running per-gene sums of Q and K (never a cells x genes x
genes tensor); attention matrices are built one (layer, head) at a time in row chunks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pyarrow as pa
import torch
from tqdm.auto import tqdm

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn_genes import choose_genes, gene_stats
from scprint_graph.model import autocast_for

logger = logging.getLogger(__name__)

HEAD_AGGREGATIONS = ("mean", "max", "none")
EDGE_FILTERS = ("threshold", "top_k", "none")
ORIENTATION = "regulator=key gene (column of softmax(QK^T)), target=query gene (row)"
EDGE_SCHEMA = pa.schema(
    [("regulator", pa.string()), ("target", pa.string()), ("weight", pa.float32())],
)
# Rows of the attention matrix computed at once: bounds the (chunk, n_tokens) temporaries.
ROW_CHUNK = 1024


@dataclass
class GeneNetwork:
    """One gene network: a sparse edge list plus what produced it.

    Attributes
    ----------
    edges
        Arrow table with columns ``regulator`` (str), ``target`` (str), ``weight`` (float32): the
        regulator is the key gene, the target the query gene (see the module docstring); with
        ``head_aggregation="none"`` also ``layer`` and ``head`` (int16), one row per head and edge.
    genes
        The genes (identifiers as given) the network was computed on, in matrix order.
    n_cells
        Cells that went through the model.
    params
        JSON-serialisable parameters that produced the network (hash them for idempotency).
    """

    edges: pa.Table
    genes: list[str]
    n_cells: int
    params: dict = field(default_factory=dict)


class QKAccumulator:
    """Running sums of per-layer Q and K per gene over cells, for streaming batches.

    Special tokens (cell, depth, labels) occupy the first ``n_special`` rows and are summed over every cell;
    gene tokens are added at their position in the group's gene list. Means are taken over the cells where a
    gene was in context, which is what scPRINT's GRN mode averages.

    Parameters
    ----------
    n_genes
        Size of the group's gene list.
    n_special
        Leading special tokens of every context.
    n_layers, n_heads, d_head
        Shape of the captured Q and K.
    """

    def __init__(self, n_genes: int, n_special: int, n_layers: int, n_heads: int, d_head: int) -> None:
        for name, value in (("n_genes", n_genes), ("n_layers", n_layers), ("n_heads", n_heads)):
            if value < 1:
                msg = f"{name} must be >= 1, got {value}"
                raise ValueError(msg)
        if n_special < 0:
            msg = f"n_special must be >= 0, got {n_special}"
            raise ValueError(msg)
        self.n_genes, self.n_special = n_genes, n_special
        self.n_layers, self.n_heads, self.d_head = n_layers, n_heads, d_head
        n_tokens = n_special + n_genes
        # float64 sums so that 1,000s of cells add up without drift; (tokens, layers, heads, d_head)
        self.q_sum = torch.zeros(n_tokens, n_layers, n_heads, d_head, dtype=torch.float64)
        self.k_sum = torch.zeros_like(self.q_sum)
        self.counts = torch.zeros(n_tokens, dtype=torch.float64)
        self.n_cells = 0

    def add(
        self,
        qk: Sequence[tuple[torch.Tensor, torch.Tensor]],
        positions: torch.Tensor,
        *,
        new_cells: bool = True,
    ) -> None:
        """Add one batch.

        Parameters
        ----------
        qk
            One ``(q, k)`` per layer, each ``(batch, n_heads, n_special + n_ctx, d_head)``.
        positions
            ``(batch, n_ctx)`` int64: index of each context gene in the group's gene list, ``-1`` for a
            context slot to ignore (padding, or a gene outside the list).
        new_cells
            False when the batch is a further part of cells already added (a long gene list split into
            several contexts): genes and special tokens are summed, the cell count is not increased.
        """
        if len(qk) != self.n_layers:
            msg = f"expected Q/K for {self.n_layers} layers, got {len(qk)}"
            raise ValueError(msg)
        batch, n_ctx = positions.shape
        q = torch.stack([layer_q for layer_q, _ in qk]).detach().to("cpu", torch.float64)
        k = torch.stack([layer_k for _, layer_k in qk]).detach().to("cpu", torch.float64)
        expected = (self.n_layers, batch, self.n_heads, self.n_special + n_ctx, self.d_head)
        if tuple(q.shape) != expected or tuple(k.shape) != expected:
            msg = f"Q/K of shape {tuple(q.shape)} / {tuple(k.shape)} do not match {expected} (layers first)"
            raise ValueError(msg)
        # (layers, batch, heads, tokens, d_head) -> (batch, tokens, layers, heads, d_head)
        q = q.permute(1, 3, 0, 2, 4)
        k = k.permute(1, 3, 0, 2, 4)
        s = self.n_special
        self.q_sum[:s] += q[:, :s].sum(0)
        self.k_sum[:s] += k[:, :s].sum(0)
        self.counts[:s] += batch
        flat_pos = positions.to("cpu", torch.int64).reshape(-1)
        valid = flat_pos >= 0
        if bool((flat_pos >= self.n_genes).any()):
            msg = f"positions must be < n_genes={self.n_genes}, got max {int(flat_pos.max())}"
            raise ValueError(msg)
        index = flat_pos[valid] + s
        # (batch * n_ctx, layers, heads, d_head), only the valid slots
        q_genes = q[:, s:].reshape(batch * n_ctx, self.n_layers, self.n_heads, self.d_head)[valid]
        k_genes = k[:, s:].reshape(batch * n_ctx, self.n_layers, self.n_heads, self.d_head)[valid]
        self.q_sum.index_add_(0, index, q_genes)
        self.k_sum.index_add_(0, index, k_genes)
        self.counts.index_add_(0, index, torch.ones_like(index, dtype=torch.float64))
        self.n_cells += batch if new_cells else 0

    def seen(self) -> np.ndarray:
        """Boolean mask over the gene list: genes that were in context at least once."""
        return (self.counts[self.n_special :] > 0).numpy()

    def means(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean Q and K of the special tokens and the *seen* genes.

        Returns
        -------
        q_mean, k_mean
            ``(n_layers, n_heads, n_special + n_seen, d_head)`` float32.
        """
        if self.n_cells == 0:
            msg = "no cells were accumulated: the group is empty"
            raise ValueError(msg)
        keep = self.counts > 0
        q = self.q_sum[keep] / self.counts[keep, None, None, None]
        k = self.k_sum[keep] / self.counts[keep, None, None, None]
        # (tokens, layers, heads, d_head) -> (layers, heads, tokens, d_head)
        return q.permute(1, 2, 0, 3).float().contiguous(), k.permute(1, 2, 0, 3).float().contiguous()


def attention_matrix(
    q: torch.Tensor, k: torch.Tensor, n_special: int, *, symmetrize: bool = False, row_chunk: int = ROW_CHUNK
) -> torch.Tensor:
    """softmax(Q Kᵀ / √d) over all tokens, then the special tokens dropped; one (layer, head).

    Parameters
    ----------
    q, k
        ``(n_special + n_genes, d_head)`` mean queries and keys.
    n_special
        Leading special tokens: they take part in the softmax (as in the model) and are dropped after.
    symmetrize
        Return ``(A + Aᵀ) / 2``.

    Returns
    -------
    torch.Tensor
        ``(n_genes, n_genes)`` float32, row = target (query gene), column = regulator (key gene).
    """
    n_tokens, d_head = q.shape
    n_genes = n_tokens - n_special
    scale = 1.0 / math.sqrt(d_head)
    out = torch.empty(n_genes, n_genes, dtype=torch.float32)
    k = k.float()
    for start in range(n_special, n_tokens, row_chunk):
        stop = min(start + row_chunk, n_tokens)
        scores = (q[start:stop].float() @ k.T) * scale  # (chunk, n_tokens)
        out[start - n_special : stop - n_special] = torch.softmax(scores, dim=-1)[:, n_special:]
    if symmetrize:
        out = (out + out.T) / 2
    return out


def _check_heads(
    heads: Sequence[tuple[int, int]] | None, n_layers: int, n_heads: int
) -> list[tuple[int, int]]:
    if heads is None:
        return [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    chosen = [(int(layer), int(head)) for layer, head in heads]
    if not chosen:
        msg = "heads is empty: select at least one (layer, head)"
        raise ValueError(msg)
    for layer, head in chosen:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            msg = f"head ({layer}, {head}) is outside {n_layers} layers x {n_heads} heads"
            raise ValueError(msg)
    return chosen


def aggregate_heads(
    q_mean: torch.Tensor,
    k_mean: torch.Tensor,
    n_special: int,
    *,
    head_aggregation: str = "mean",
    heads: Sequence[tuple[int, int]] | None = None,
    symmetrize: bool = False,
) -> torch.Tensor:
    """Attention networks of the chosen heads, aggregated.

    Parameters
    ----------
    q_mean, k_mean
        ``(n_layers, n_heads, n_special + n_genes, d_head)``, from :meth:`QKAccumulator.means`.
    head_aggregation
        ``"mean"`` or ``"max"`` over heads -> ``(n_genes, n_genes)``; ``"none"`` keeps them all ->
        ``(n_chosen_heads, n_genes, n_genes)`` in the order of ``heads`` (memory: heads x genes² x 4 bytes).
    heads
        ``(layer, head)`` pairs to use (e.g. from head selection); all heads when None.
    """
    if head_aggregation not in HEAD_AGGREGATIONS:
        msg = f"head_aggregation must be one of {HEAD_AGGREGATIONS}, got {head_aggregation!r}"
        raise ValueError(msg)
    n_layers, n_heads = q_mean.shape[:2]
    chosen = _check_heads(heads, n_layers, n_heads)
    if head_aggregation == "none":
        return torch.stack(
            [
                attention_matrix(q_mean[i, j], k_mean[i, j], n_special, symmetrize=symmetrize)
                for i, j in chosen
            ]
        )
    agg = None
    for layer, head in chosen:
        attn = attention_matrix(q_mean[layer, head], k_mean[layer, head], n_special, symmetrize=symmetrize)
        if agg is None:
            agg = attn
        elif head_aggregation == "mean":
            agg += attn
        else:
            torch.maximum(agg, attn, out=agg)
    if head_aggregation == "mean":
        agg /= len(chosen)
    return agg


def filter_mask(
    matrix: torch.Tensor, *, edge_filter: str = "threshold", top_k: int | None = None, n_special: int = 0
) -> torch.Tensor:
    """Which entries of a ``(n_targets, n_regulators)`` matrix become edges (self-loops never do).

    ``"threshold"`` keeps weights >= 1 / (n_genes + n_special), i.e. above uniform attention over the
    softmax's width (scPRINT filters before dropping its special tokens); ``"top_k"`` keeps the ``top_k``
    strongest regulators of each target; ``"none"`` keeps every non-zero weight.
    """
    if edge_filter not in EDGE_FILTERS:
        msg = f"edge_filter must be one of {EDGE_FILTERS}, got {edge_filter!r}"
        raise ValueError(msg)
    n = matrix.shape[-1]
    diagonal = torch.eye(n, dtype=torch.bool)
    if edge_filter == "threshold":
        mask = matrix >= 1.0 / (n + n_special)
    elif edge_filter == "none":
        mask = matrix != 0
    else:
        if top_k is None or top_k < 1:
            msg = f"edge_filter='top_k' needs top_k >= 1, got {top_k}"
            raise ValueError(msg)
        ranked = matrix.masked_fill(diagonal, float("-inf"))
        kept = torch.topk(ranked, min(top_k, n - 1), dim=-1).indices
        mask = torch.zeros_like(matrix, dtype=torch.bool).scatter_(-1, kept, True)
    return mask & ~diagonal


def edges_from_matrix(matrix: torch.Tensor, mask: torch.Tensor, genes: Sequence[str]) -> pa.Table:
    """Sparse edge table from a ``(n_targets, n_regulators)`` matrix and a mask of kept entries."""
    targets, regulators = (idx.numpy() for idx in torch.nonzero(mask, as_tuple=True))
    weights = matrix[mask].numpy().astype(np.float32)
    names = pa.array(list(genes), pa.string())
    return pa.table(
        {
            "regulator": pa.DictionaryArray.from_arrays(pa.array(regulators, pa.int32()), names).cast(
                pa.string()
            ),
            "target": pa.DictionaryArray.from_arrays(pa.array(targets, pa.int32()), names).cast(pa.string()),
            "weight": pa.array(weights, pa.float32()),
        },
        schema=EDGE_SCHEMA,
    )


def network_from_qk(
    q_mean: torch.Tensor,
    k_mean: torch.Tensor,
    genes: Sequence[str],
    n_special: int,
    *,
    head_aggregation: str = "mean",
    heads: Sequence[tuple[int, int]] | None = None,
    edge_filter: str = "threshold",
    top_k: int | None = None,
    symmetrize: bool = False,
) -> pa.Table:
    """Edge table of the attention network defined by mean Q and K (see the module docstring).

    Parameters
    ----------
    q_mean, k_mean
        ``(n_layers, n_heads, n_special + len(genes), d_head)``.
    genes
        Gene identifiers, in token order after the special tokens.
    head_aggregation, heads, symmetrize
        See :func:`aggregate_heads`.
    edge_filter, top_k
        See :func:`filter_mask`; with ``head_aggregation="none"`` each head is filtered on its own.
    """
    if q_mean.shape != k_mean.shape or q_mean.ndim != 4:
        msg = f"q_mean and k_mean must share a 4-d shape, got {tuple(q_mean.shape)} and {tuple(k_mean.shape)}"
        raise ValueError(msg)
    if q_mean.shape[2] != n_special + len(genes):
        msg = f"Q/K hold {q_mean.shape[2]} tokens but n_special + len(genes) = {n_special + len(genes)}"
        raise ValueError(msg)
    agg = aggregate_heads(
        q_mean, k_mean, n_special, head_aggregation=head_aggregation, heads=heads, symmetrize=symmetrize
    )
    if head_aggregation != "none":
        mask = filter_mask(agg, edge_filter=edge_filter, top_k=top_k, n_special=n_special)
        return edges_from_matrix(agg, mask, genes)
    chosen = _check_heads(heads, *q_mean.shape[:2])
    tables = []
    for (layer, head), matrix in zip(chosen, agg, strict=True):
        mask = filter_mask(matrix, edge_filter=edge_filter, top_k=top_k, n_special=n_special)
        table = edges_from_matrix(matrix, mask, genes)
        n = table.num_rows
        table = table.append_column("layer", pa.array(np.full(n, layer, np.int16)))
        tables.append(table.append_column("head", pa.array(np.full(n, head, np.int16))))
    return pa.concat_tables(tables)


# ---------------------------------------------------------------------------------------------------------
# Extraction from a model and the cells of one group
# ---------------------------------------------------------------------------------------------------------
GRN_FORMAT = "scprint-graph-grn/1"


def _model_qk(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device):
    """Forward with Q/K capture; returns one (q, k) per layer on the CPU."""
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    with autocast_for(device):
        out = model(batch, capture_qk=True)
    return [(q.float().cpu(), k.float().cpu()) for q, k in out.qk]


def extract_network(
    model: torch.nn.Module,
    adata: ad.AnnData,
    vocab: GeneVocabulary,
    *,
    genes: str | Sequence[str] = "most variable",
    n_genes: int | None = 2000,
    max_cells: int = 1024,
    batch_size: int = 16,
    head_aggregation: str = "mean",
    heads: Sequence[tuple[int, int]] | None = None,
    edge_filter: str = "threshold",
    top_k: int | None = None,
    symmetrize: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    seed: int = 0,
    gene_column: str | None = None,
    layer: str | None = None,
) -> GeneNetwork:
    """Gene network of one group of cells (e.g. one cell type of one dataset) from a model's attention.

    Parameters
    ----------
    model
        A :class:`~scprint_graph.model.ScPrintModel` (any module whose ``forward(batch, capture_qk=True)``
        returns ``.qk``, one ``(q, k)`` per layer, and that has ``n_special_tokens`` and ``config.max_len``).
    adata
        The group's cells, raw counts (in memory or backed).
    vocab
        The model's gene vocabulary (``GeneVocabulary.from_ensembl_ids(checkpoint.genes)``).
    genes
        ``"random expressed"`` (each cell's context holds random expressed genes, scPRINT's default
        pretraining view; the network keeps the ``n_genes`` genes expressed in most cells), ``"most
        variable"``, ``"most expressed"`` (a fixed list shared by every cell), or a list of gene ids.
        A fixed list longer than the model's ``max_len`` is split, per batch, into random parts of at most
        ``max_len`` genes, each part one forward pass; every gene is then in context once per cell.
    n_genes
        Network size (a given list is truncated to it; None keeps the whole list).
    max_cells
        Keep the ``max_cells`` cells with the most counts (scPRINT's ``max_cells``).
    batch_size
        Cells per forward pass.
    head_aggregation, heads, symmetrize
        See :func:`aggregate_heads`; ``heads`` are ``(layer, head)`` pairs, e.g. from head selection.
    edge_filter, top_k
        See :func:`filter_mask`.
    device
        Where the model runs (default: where its weights are); bf16 autocast on CUDA.
    progress
        tqdm bar over cells.
    seed
        Seeds the random gene draws (random contexts and the split of long lists).
    gene_column, layer
        Passed to :class:`~scprint_graph.cells.AnnDataCells`.

    Returns
    -------
    GeneNetwork
        Edges (regulator = key gene, target = query gene; Ensembl ids) and the parameters.
    """
    if max_cells < 1 or batch_size < 1:
        msg = f"max_cells and batch_size must be >= 1, got {max_cells} and {batch_size}"
        raise ValueError(msg)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    n_special = int(model.n_special_tokens)
    n_layers, n_heads, max_len = model.config.n_layers, model.config.n_heads, model.config.max_len
    _check_heads(heads, n_layers, n_heads)
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer)
    if cells.n_cells == 0:
        msg = "the group has no cells"
        raise ValueError(msg)
    stats = gene_stats(cells)
    chosen = choose_genes(cells, stats, genes, n_genes)
    rows = np.sort(np.argsort(-stats.depth, kind="stable")[:max_cells])
    position_of = np.full(len(vocab), -1, np.int64)
    position_of[chosen] = np.arange(len(chosen))
    position_of = torch.from_numpy(position_of)
    acc = QKAccumulator(len(chosen), n_special, n_layers, n_heads, model.config.d_head)
    random_mode = isinstance(genes, str) and genes == "random expressed"
    rng = torch.Generator().manual_seed(seed)
    batches = cells.batches(
        batch_size=batch_size,
        rows=rows,
        seed=seed,
        **({"max_len": max_len} if random_mode else {"genes": chosen}),
    )
    bar = tqdm(total=len(rows), unit="cell", desc="GRN", disable=not progress)
    with torch.no_grad():
        for batch in batches:
            n_ctx = batch[keys.GENES].shape[1]
            parts = [torch.arange(n_ctx)]
            if n_ctx > max_len:
                n_parts = -(-n_ctx // max_len)
                parts = list(torch.randperm(n_ctx, generator=rng).tensor_split(n_parts))
            for i, cols in enumerate(parts):
                sub = {
                    name: t[:, cols] if t.ndim == 2 and name != keys.LABELS else t
                    for name, t in batch.items()
                }
                acc.add(_model_qk(model, sub, device), position_of[sub[keys.GENES]], new_cells=i == 0)
            bar.update(batch[keys.GENES].shape[0])
    bar.close()
    seen = acc.seen()
    if (~seen).any():
        logger.warning("%d of %d genes were never in context and are left out", int((~seen).sum()), len(seen))
    network_genes = [str(g) for g in vocab.ensembl_ids[chosen[seen]]]
    q_mean, k_mean = acc.means()
    edges = network_from_qk(
        q_mean,
        k_mean,
        network_genes,
        n_special,
        head_aggregation=head_aggregation,
        heads=heads,
        edge_filter=edge_filter,
        top_k=top_k,
        symmetrize=symmetrize,
    )
    params = {
        "format": GRN_FORMAT,
        "genes": genes if isinstance(genes, str) else "given",
        "given_genes_sha256": None if isinstance(genes, str) else _sha256(list(genes)),
        "n_genes": n_genes,
        "n_network_genes": len(network_genes),
        "max_cells": max_cells,
        "n_cells": int(acc.n_cells),
        "cell_selection": "deepest",
        "batch_size": batch_size,
        "context_size": max_len,
        "head_aggregation": head_aggregation,
        "heads": None if heads is None else [list(h) for h in _check_heads(heads, n_layers, n_heads)],
        "edge_filter": edge_filter,
        "top_k": top_k,
        "symmetrize": symmetrize,
        "self_loops": False,
        "preprocess": "softmax",
        "orientation": ORIENTATION,
        "seed": seed,
        "gene_column": gene_column,
        "layer": layer,
        "model_config_sha256": _sha256(model.config.to_dict()),
        "vocabulary_sha256": _sha256([str(g) for g in vocab.ensembl_ids]),
    }
    logger.info(
        "network of %d genes, %d edges from %d cells", len(network_genes), edges.num_rows, acc.n_cells
    )
    return GeneNetwork(edges=edges, genes=network_genes, n_cells=int(acc.n_cells), params=params)


def _sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
