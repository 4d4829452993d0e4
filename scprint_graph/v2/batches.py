"""scPRINT-2 model batches: each cell's context genes plus its neighbours' counts at those same genes."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.v2.model import NEIGHBOR_DISTANCE, NEIGHBOR_EXPRESSION
from scprint_graph.v2.neighbors import NeighborGraph


def neighbour_batches(
    cells: AnnDataCells,
    graph: NeighborGraph,
    rows: np.ndarray,
    *,
    n_neighbors: int,
    batch_size: int,
    genes: np.ndarray | None = None,
    max_len: int | None = None,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """Yield ``(rows of the batch, batch)`` for the given AnnData rows, in order.

    Neighbours are taken among ``rows`` (see :meth:`NeighborGraph.nearest`). ``genes`` (fixed mode, vocabulary
    indices) or ``max_len`` (random mode) choose the context as :class:`~scprint_graph.tokenize.Tokenizer`.
    """
    if batch_size < 1:
        msg = f"batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    rows = np.asarray(rows, dtype=np.int64)
    positions, distance = graph.nearest(rows, n_neighbors)
    tokenizer = cells.tokenizer(max_len=max_len, genes=genes)
    vocab_to_col = np.full(len(cells.vocab), -1, dtype=np.int64)
    known = np.flatnonzero(cells.mapping.indices >= 0)
    vocab_to_col[cells.mapping.indices[known]] = known
    rng = np.random.default_rng(seed)
    for lo in range(0, len(rows), batch_size):
        hi = min(lo + batch_size, len(rows))
        arrays = tokenizer(cells.read_rows(rows[lo:hi]), rng)
        columns = vocab_to_col[arrays[keys.GENES]]  # (b, n_ctx), -1: gene not measured
        near = cells.read_rows(rows[positions[lo:hi].ravel()])  # (b * n_neighbors, n_var)
        b, n_ctx = columns.shape
        neighbours = np.zeros((b, n_neighbors, n_ctx), dtype=np.float32)
        for i in range(b):
            measured = columns[i] >= 0
            block = near[i * n_neighbors : (i + 1) * n_neighbors][:, columns[i][measured]].toarray()
            neighbours[i][:, measured] = np.trunc(block)  # scDataLoader casts neighbour counts to int
        batch = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        batch[NEIGHBOR_EXPRESSION] = torch.from_numpy(neighbours)
        batch[NEIGHBOR_DISTANCE] = torch.from_numpy(np.ascontiguousarray(distance[lo:hi]))
        yield rows[lo:hi], batch
