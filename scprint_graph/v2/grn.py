"""Gene networks from scPRINT-2, as scprint2's ``GNInfer`` computes them (head_agg "mean", softmax).

The gene transformer's layers only (the cell transformer does not see gene-gene attention); per gene the mean
Q and K over the group's cells; softmax(Q̄ K̄ᵀ / √d) per layer and head, rows = query (target), columns = key
(regulator); heads aggregated; there are no special tokens in the gene transformer, so nothing is dropped.
The options (``GrnParams``), aggregation, filters, edge table and recorded parameters are v1's
(scprint_graph.grn, scprint_graph.grn_core).

Genes: one organism per network (scprint2 refuses mixed organisms): the given one (ingest passes the
dataset's), matched by Ensembl id (or symbol) among that organism's genes of the checkpoint's vocabulary,
else the one most of the matched genes belong to. A given gene list keeps every given gene the
vocabulary knows (``drop_unexpressed=True``: only those expressed in the group, as scprint_graph's v1 path).
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import torch
from tqdm.auto import tqdm

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.errors import InputError
from scprint_graph.genes import GeneVocabulary, find_organism
from scprint_graph.grn import GroupQK, edges_for, precision_context, recorded_params
from scprint_graph.grn_core import GeneNetwork, QKAccumulator
from scprint_graph.grn_genes import choose_genes, gene_stats
from scprint_graph.grn_params import GrnParams
from scprint_graph.model import resolve_device
from scprint_graph.v2.batches import neighbour_batches
from scprint_graph.v2.model import ScPrint2Model
from scprint_graph.v2.neighbors import NeighborGraph, neighbor_graph

logger = logging.getLogger(__name__)


def organism_slice(model: ScPrint2Model, organism: str) -> tuple[str, tuple[int, int]]:
    """The checkpoint's term id for ``organism`` (a name or term id) and its vocabulary rows.

    An organism the checkpoint's vocabulary does not hold is an ``InputError`` naming those it does.
    """
    wanted = find_organism(organism).term_id
    for term, rows in model.organism_slices.items():
        if find_organism(term).term_id == wanted:
            return term, rows
    known = ", ".join(find_organism(t).label for t in model.organism_slices)
    msg = f"organism {organism!r} is not in the checkpoint's vocabulary, which knows {known or 'none'}"
    raise InputError(msg)


def _one_organism(
    model: ScPrint2Model, chosen: np.ndarray, organism: str | None = None
) -> tuple[str | None, np.ndarray]:
    """The organism (the given one, else the one most chosen genes belong to) and its chosen genes."""
    if not model.organism_slices:
        return None, chosen
    if organism is not None:
        organism, (start, stop) = organism_slice(model, organism)
    else:
        counts = {o: int(((chosen >= a) & (chosen < b)).sum()) for o, (a, b) in model.organism_slices.items()}
        organism = max(counts, key=counts.get)
        start, stop = model.organism_slices[organism]
    keep = (chosen >= start) & (chosen < stop)
    if (~keep).any():
        logger.warning("%d genes of other organisms than %s are left out", int((~keep).sum()), organism)
    return organism, chosen[keep]


def group_qk_v2(
    model: ScPrint2Model,
    adata: ad.AnnData,
    vocab: GeneVocabulary,
    params: GrnParams | None = None,
    *,
    neighbors: NeighborGraph | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    gene_column: str | None = None,
    layer: str | None = None,
    organism: str | None = None,
) -> tuple[GroupQK, str | None, NeighborGraph]:
    """Mean Q and K of a group's genes over scPRINT-2's gene transformer, the organism, the neighbours.

    Parameters are those of :func:`scprint_graph.grn.extract_network`, plus ``neighbors``: the kNN graph
    over ``adata``'s rows (default: ``adata``'s own ``obsp['distances']``, else computed, see
    :mod:`scprint_graph.v2.neighbors`), and ``organism`` (a name or NCBITaxon id): match genes of that
    organism of the checkpoint's vocabulary only (an organism it lacks is an ``InputError``); when None, the
    organism most matched genes belong to. ``genes="random expressed"`` is refused: scprint2 computes Q/K
    networks on a fixed gene list only.
    """
    params = params or GrnParams()
    if isinstance(params.genes, str) and params.genes == "random expressed":
        msg = "scPRINT-2 networks use a fixed gene list: genes='most variable', 'most expressed' or a list"
        raise ValueError(msg)
    if batch_size < 1:
        msg = f"batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    config = model.config
    match = None  # the vocabulary's organism name to match genes by (symbols are per organism)
    if organism is not None and model.organism_slices:
        organism_slice(model, organism)  # refuse an organism the checkpoint lacks before reading cells
        name = find_organism(organism).name
        match = name if name in set(vocab.organism.tolist()) else None
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer, organism=match)
    if cells.n_cells == 0:
        msg = "the group has no cells"
        raise ValueError(msg)
    stats = gene_stats(cells)
    chosen = choose_genes(
        cells, stats, params.genes, params.n_genes, drop_unexpressed=params.drop_unexpressed
    )
    organism, chosen = _one_organism(model, chosen, organism)
    if len(chosen) > config.max_len:
        msg = f"{len(chosen)} network genes exceed the context of {config.max_len}: lower n_genes"
        raise ValueError(msg)
    graph = neighbors if neighbors is not None else neighbor_graph(adata, layer=layer, seed=params.seed)
    if graph.distances.shape[0] != cells.n_cells:
        msg = f"the neighbour graph covers {graph.distances.shape[0]} cells, the group has {cells.n_cells}"
        raise ValueError(msg)
    rows = np.sort(np.argsort(-stats.depth, kind="stable")[: params.max_cells])
    position_of = np.full(len(vocab), -1, np.int64)
    position_of[chosen] = np.arange(len(chosen))
    position_of = torch.from_numpy(position_of)
    acc = QKAccumulator(len(chosen), 0, config.n_layers, config.n_heads, config.d_head)
    bar = tqdm(total=len(rows), unit="cell", desc="GRN", disable=not progress)
    batches = neighbour_batches(
        cells,
        graph,
        rows,
        n_neighbors=config.n_neighbors,
        batch_size=batch_size,
        genes=chosen,
        seed=params.seed,
    )
    autocast, precision = precision_context(device, params.precision)
    with torch.no_grad():
        for _, batch in batches:
            on_device = {k: t.to(device) for k, t in batch.items()}
            with autocast:
                out = model(on_device, capture_qk=True)
            qk = [(q.float().cpu(), k.float().cpu()) for q, k in out.gene_qk]
            acc.add(qk, position_of[batch[keys.GENES]])
            bar.update(batch[keys.GENES].shape[0])
    bar.close()
    network_genes = [str(g) for g in vocab.ensembl_ids[chosen]]
    q_mean, k_mean = acc.means()
    group = GroupQK(q_mean, k_mean, network_genes, 0, int(acc.n_cells), precision)
    return group, organism, graph


def extract_network_v2(
    model: ScPrint2Model,
    adata: ad.AnnData,
    vocab: GeneVocabulary,
    params: GrnParams | None = None,
    *,
    neighbors: NeighborGraph | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = True,
    gene_column: str | None = None,
    layer: str | None = None,
    organism: str | None = None,
) -> GeneNetwork:
    """Gene network of one group of cells from scPRINT-2's gene transformer (see :func:`group_qk_v2`)."""
    params = params or GrnParams()
    group, organism, graph = group_qk_v2(
        model,
        adata,
        vocab,
        params,
        neighbors=neighbors,
        batch_size=batch_size,
        device=device,
        progress=progress,
        gene_column=gene_column,
        layer=layer,
        organism=organism,
    )
    edges = edges_for(params, group.q_mean, group.k_mean, group.genes, 0)
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
    recorded.update(
        {
            "organism": organism,
            "layers": "gene transformer, all",
            "neighbors": {
                **graph.params,
                "n_used": model.config.n_neighbors,
                "within": "the group's kept cells",
            },
        }
    )
    logger.info(
        "scPRINT-2 network: %d genes, %d edges, %d cells", len(group.genes), edges.num_rows, group.n_cells
    )
    return GeneNetwork(edges=edges, genes=group.genes, n_cells=group.n_cells, params=recorded)
