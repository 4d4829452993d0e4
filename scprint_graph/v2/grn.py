"""Gene networks from scPRINT-2, as scprint2's ``GNInfer`` computes them (head_agg "mean", softmax).

The gene transformer's layers only (the cell transformer does not see gene-gene attention); per gene the mean
Q and K over the group's cells; softmax(Q̄ K̄ᵀ / √d) per layer and head, rows = query (target), columns = key
(regulator); heads aggregated; there are no special tokens in the gene transformer, so nothing is dropped.
The aggregation, filters and edge table are scprint_graph.grn's (``QKAccumulator``, ``network_from_qk``).

Genes: one organism per network (scprint2 refuses mixed organisms); the organism is the one most of the
matched genes belong to in the checkpoint's vocabulary. A given gene list keeps every given gene the
vocabulary knows (``drop_unexpressed=True``: only those expressed in the group, as scprint_graph's v1 path).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import torch
from tqdm.auto import tqdm

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn import GRN_FORMAT, ORIENTATION, GeneNetwork, QKAccumulator, _sha256, network_from_qk
from scprint_graph.grn_genes import choose_genes, gene_stats
from scprint_graph.model import autocast_for
from scprint_graph.v2.batches import neighbour_batches
from scprint_graph.v2.model import ScPrint2Model
from scprint_graph.v2.neighbors import NeighborGraph, neighbor_graph

logger = logging.getLogger(__name__)


def _network_genes(cells, stats, genes, n_genes, drop_unexpressed: bool) -> np.ndarray:
    if isinstance(genes, str) or drop_unexpressed:
        return choose_genes(cells, stats, genes, n_genes)
    mapping = cells.vocab.map_genes(list(genes), source="given genes")
    chosen = mapping.indices[mapping.indices >= 0]
    _, first = np.unique(chosen, return_index=True)
    chosen = chosen[np.sort(first)]
    if len(chosen) < 2:
        msg = f"fewer than 2 of the {len(genes)} given genes are in the model's vocabulary"
        raise ValueError(msg)
    return chosen[:n_genes] if n_genes is not None else chosen


def _one_organism(model: ScPrint2Model, chosen: np.ndarray) -> tuple[str | None, np.ndarray]:
    """The organism most chosen genes belong to, and the chosen genes of that organism."""
    if not model.organism_slices:
        return None, chosen
    counts = {o: int(((chosen >= a) & (chosen < b)).sum()) for o, (a, b) in model.organism_slices.items()}
    organism = max(counts, key=counts.get)
    start, stop = model.organism_slices[organism]
    keep = (chosen >= start) & (chosen < stop)
    if (~keep).any():
        logger.warning("%d genes of other organisms than %s are left out", int((~keep).sum()), organism)
    return organism, chosen[keep]


def extract_network_v2(
    model: ScPrint2Model,
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
    drop_unexpressed: bool = False,
    neighbors: NeighborGraph | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    seed: int = 0,
    gene_column: str | None = None,
    layer: str | None = None,
) -> GeneNetwork:
    """Gene network of one group of cells from scPRINT-2's gene transformer.

    Parameters are those of :func:`scprint_graph.grn.extract_network`, plus ``drop_unexpressed`` (see the
    module docstring) and ``neighbors``: the kNN graph over ``adata``'s rows (default: ``adata``'s own
    ``obsp['distances']``, else computed, see :mod:`scprint_graph.v2.neighbors`). ``"random expressed"``
    is not offered: scprint2 computes Q/K networks on a fixed gene list only.
    """
    if isinstance(genes, str) and genes == "random expressed":
        msg = "scPRINT-2 networks use a fixed gene list: genes='most variable', 'most expressed' or a list"
        raise ValueError(msg)
    if max_cells < 1 or batch_size < 1:
        msg = f"max_cells and batch_size must be >= 1, got {max_cells} and {batch_size}"
        raise ValueError(msg)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    config = model.config
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer)
    if cells.n_cells == 0:
        msg = "the group has no cells"
        raise ValueError(msg)
    stats = gene_stats(cells)
    organism, chosen = _one_organism(model, _network_genes(cells, stats, genes, n_genes, drop_unexpressed))
    if len(chosen) > config.max_len:
        msg = f"{len(chosen)} network genes exceed the context of {config.max_len}: lower n_genes"
        raise ValueError(msg)
    graph = neighbors if neighbors is not None else neighbor_graph(adata, layer=layer, seed=seed)
    if graph.distances.shape[0] != cells.n_cells:
        msg = f"the neighbour graph covers {graph.distances.shape[0]} cells, the group has {cells.n_cells}"
        raise ValueError(msg)
    rows = np.sort(np.argsort(-stats.depth, kind="stable")[:max_cells])
    position_of = np.full(len(vocab), -1, np.int64)
    position_of[chosen] = np.arange(len(chosen))
    position_of = torch.from_numpy(position_of)
    acc = QKAccumulator(len(chosen), 0, config.n_layers, config.n_heads, config.d_head)
    bar = tqdm(total=len(rows), unit="cell", desc="GRN", disable=not progress)
    batches = neighbour_batches(
        cells, graph, rows, n_neighbors=config.n_neighbors, batch_size=batch_size, genes=chosen, seed=seed
    )
    with torch.no_grad():
        for _, batch in batches:
            on_device = {k: t.to(device) for k, t in batch.items()}
            with autocast_for(device):
                out = model(on_device, capture_qk=True)
            qk = [(q.float().cpu(), k.float().cpu()) for q, k in out.gene_qk]
            acc.add(qk, position_of[batch[keys.GENES]])
            bar.update(batch[keys.GENES].shape[0])
    bar.close()
    network_genes = [str(g) for g in vocab.ensembl_ids[chosen]]
    q_mean, k_mean = acc.means()
    edges = network_from_qk(
        q_mean, k_mean, network_genes, 0, head_aggregation=head_aggregation, heads=heads,
        edge_filter=edge_filter, top_k=top_k, symmetrize=symmetrize,
    )  # fmt: skip
    params = {
        "format": GRN_FORMAT,
        "model_family": model.family,
        "organism": organism,
        "genes": genes if isinstance(genes, str) else "given",
        "given_genes_sha256": None if isinstance(genes, str) else _sha256(list(genes)),
        "drop_unexpressed": drop_unexpressed if not isinstance(genes, str) else True,
        "n_genes": n_genes,
        "n_network_genes": len(network_genes),
        "max_cells": max_cells,
        "n_cells": int(acc.n_cells),
        "cell_selection": "deepest",
        "batch_size": batch_size,
        "layers": "gene transformer, all",
        "head_aggregation": head_aggregation,
        "heads": None if heads is None else [list(map(int, h)) for h in heads],
        "edge_filter": edge_filter,
        "top_k": top_k,
        "symmetrize": symmetrize,
        "self_loops": False,
        "preprocess": "softmax",
        "orientation": ORIENTATION,
        "neighbors": {**graph.params, "n_used": config.n_neighbors, "within": "the group's kept cells"},
        "seed": seed,
        "gene_column": gene_column,
        "layer": layer,
        "model_config_sha256": _sha256(config.to_dict()),
        "vocabulary_sha256": _sha256([str(g) for g in vocab.ensembl_ids]),
    }
    logger.info("scPRINT-2 network: %d genes, %d edges, %d cells", len(chosen), edges.num_rows, acc.n_cells)
    return GeneNetwork(edges=edges, genes=network_genes, n_cells=int(acc.n_cells), params=params)
