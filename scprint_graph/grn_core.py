"""The tensor core of gene networks from attention: Q/K accumulation, attention matrices, head
aggregation, edge filters and edge tables. Tensors in, Arrow tables out; no AnnData here (the extractor in
:mod:`scprint_graph.grn` feeds it).

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

Head aggregations and edge filters are registries (as decoupler's methods): one function each, one table
each (:data:`HEAD_AGGREGATIONS`, :data:`EDGE_FILTERS`). A new one is a function added to its table; the
parameters (:class:`~scprint_graph.grn_params.GrnParams`), the CLI and the ingest config take their choices
from the tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch

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


def check_heads(
    heads: Sequence[tuple[int, int]] | None, n_layers: int, n_heads: int
) -> list[tuple[int, int]]:
    """The ``(layer, head)`` pairs to use (all when None), each checked against the model's shape."""
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


# --- head aggregations: per-head (n_genes, n_genes) matrices -> one matrix, or a stack (one per head) -----
def _mean_heads(matrices: Iterator[torch.Tensor]) -> torch.Tensor:
    """Mean over heads (scPRINT's default)."""
    total, count = None, 0
    for matrix in matrices:
        total = matrix if total is None else total.add_(matrix)
        count += 1
    return total / count


def _max_heads(matrices: Iterator[torch.Tensor]) -> torch.Tensor:
    """Element-wise maximum over heads."""
    best = None
    for matrix in matrices:
        best = matrix if best is None else torch.maximum(best, matrix, out=best)
    return best


def _keep_heads(matrices: Iterator[torch.Tensor]) -> torch.Tensor:
    """No aggregation: ``(n_heads, n_genes, n_genes)``, one edge set per head (memory: heads x genes²)."""
    return torch.stack(list(matrices))


HeadAggregation = Callable[[Iterator[torch.Tensor]], torch.Tensor]
HEAD_AGGREGATIONS: dict[str, HeadAggregation] = {
    "mean": _mean_heads,
    "max": _max_heads,
    "none": _keep_heads,
}


# --- edge filters: a (n_targets, n_regulators) matrix -> boolean mask of the kept entries ----------------
def _threshold_filter(matrix: torch.Tensor, *, n_special: int, top_k: int | None) -> torch.Tensor:
    """Weights >= 1 / (n_genes + n_special): above uniform attention over the softmax's width (scPRINT
    filters before dropping its special tokens)."""
    return matrix >= 1.0 / (matrix.shape[-1] + n_special)


def _top_k_filter(matrix: torch.Tensor, *, n_special: int, top_k: int | None) -> torch.Tensor:
    """The ``top_k`` strongest regulators of each target (self-loops excluded)."""
    if top_k is None or top_k < 1:
        msg = f"edge_filter='top_k' needs top_k >= 1, got {top_k}"
        raise ValueError(msg)
    n = matrix.shape[-1]
    ranked = matrix.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    kept = torch.topk(ranked, min(top_k, n - 1), dim=-1).indices
    return torch.zeros_like(matrix, dtype=torch.bool).scatter_(-1, kept, True)


def _nonzero_filter(matrix: torch.Tensor, *, n_special: int, top_k: int | None) -> torch.Tensor:
    """Every non-zero weight."""
    return matrix != 0


EdgeFilter = Callable[..., torch.Tensor]
EDGE_FILTERS: dict[str, EdgeFilter] = {
    "threshold": _threshold_filter,
    "top_k": _top_k_filter,
    "none": _nonzero_filter,
}


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        msg = f"{what} must be one of {tuple(table)}, got {name!r}"
        raise ValueError(msg)
    return table[name]


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
        A name in :data:`HEAD_AGGREGATIONS`: ``"mean"`` or ``"max"`` -> ``(n_genes, n_genes)``;
        ``"none"`` -> ``(n_chosen_heads, n_genes, n_genes)`` in the order of ``heads``.
    heads
        ``(layer, head)`` pairs to use (e.g. from head selection); all heads when None.
    """
    aggregate = _lookup(HEAD_AGGREGATIONS, head_aggregation, "head_aggregation")
    chosen = check_heads(heads, *q_mean.shape[:2])
    matrices = (
        attention_matrix(q_mean[layer, head], k_mean[layer, head], n_special, symmetrize=symmetrize)
        for layer, head in chosen
    )
    return aggregate(matrices)


def filter_mask(
    matrix: torch.Tensor, *, edge_filter: str = "threshold", top_k: int | None = None, n_special: int = 0
) -> torch.Tensor:
    """Which entries of a ``(n_targets, n_regulators)`` matrix become edges (self-loops never do); the
    filter is a name in :data:`EDGE_FILTERS`."""
    keep = _lookup(EDGE_FILTERS, edge_filter, "edge_filter")
    diagonal = torch.eye(matrix.shape[-1], dtype=torch.bool)
    return keep(matrix, n_special=n_special, top_k=top_k) & ~diagonal


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
        See :func:`filter_mask`; an aggregation that keeps one matrix per head (``"none"``) has each head
        filtered on its own and the table gains ``layer`` and ``head`` columns.
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
    if agg.ndim == 2:
        mask = filter_mask(agg, edge_filter=edge_filter, top_k=top_k, n_special=n_special)
        return edges_from_matrix(agg, mask, genes)
    chosen = check_heads(heads, *q_mean.shape[:2])
    tables = []
    for (layer, head), matrix in zip(chosen, agg, strict=True):
        mask = filter_mask(matrix, edge_filter=edge_filter, top_k=top_k, n_special=n_special)
        table = edges_from_matrix(matrix, mask, genes)
        n = table.num_rows
        table = table.append_column("layer", pa.array(np.full(n, layer, np.int16)))
        tables.append(table.append_column("head", pa.array(np.full(n, head, np.int16))))
    return pa.concat_tables(tables)
