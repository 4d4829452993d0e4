"""Zero-shot scPRINT-2 on an AnnData: cell embeddings, label predictions, denoising (scanpy-style, as
:mod:`scprint_graph.zero_shot` for v1; results under the same names, parameters in ``adata.uns``).

Contexts: each cell's ``max_len`` context genes are drawn as for v1 (expressed genes first, at random); the
neighbours (:mod:`scprint_graph.v2.neighbors`) give their counts at those genes. scprint2's collator fills a
short context with the genes its neighbours express most; ours fills it with random unexpressed genes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.genes import GeneVocabulary
from scprint_graph.model import autocast_for, resolve_device
from scprint_graph.v2.batches import neighbour_batches
from scprint_graph.v2.model import ScPrint2Model, V2Output
from scprint_graph.v2.neighbors import NeighborGraph, neighbor_graph
from scprint_graph.zero_shot import check_vocabulary, record_params

logger = logging.getLogger(__name__)


def _run(
    adata, model, vocab, *, batch_size, max_len, gene_column, layer, seed, device, neighbors, adjust=None
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor], V2Output]]:
    check_vocabulary(model, vocab)
    device = resolve_device(device)
    model.eval().to(device)
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer)
    graph = neighbors if neighbors is not None else neighbor_graph(adata, layer=layer, seed=seed)
    batches = neighbour_batches(
        cells,
        graph,
        np.arange(adata.n_obs),
        n_neighbors=model.config.n_neighbors,
        batch_size=batch_size,
        max_len=max_len or model.config.max_len,
        seed=seed,
    )
    with torch.no_grad():
        for rows, batch in batches:
            batch = adjust(batch) if adjust is not None else batch
            with autocast_for(device):
                out = model({k: v.to(device) for k, v in batch.items()})
            yield rows, batch, out
    record_params(adata, "neighbors", graph.params)


def embed_v2(
    adata: ad.AnnData,
    model: ScPrint2Model,
    *,
    vocab: GeneVocabulary,
    batch_size: int = 32,
    max_len: int | None = None,
    gene_column: str | None = None,
    layer: str | None = None,
    key_added: str = "scprint",
    seed: int = 0,
    device: str | torch.device | None = None,
    neighbors: NeighborGraph | None = None,
) -> None:
    """``obsm[f"X_{key_added}"]``: the cell token and every compressed class vector concatenated (scprint2's
    ``output_cell_emb``); ``obsm[f"X_{key_added}_{class}"]``: each class's compressed vector;
    ``obs[f"{key_added}_{class}"]`` and ``..._score``: the predicted leaf and its softmax probability."""
    config = model.config
    parts: list[list[np.ndarray]] = [[] for _ in range(1 + config.n_classes)]
    predicted = {c.name: [] for c in config.classes}
    scores = {c.name: [] for c in config.classes}
    for _, _, out in _run(
        adata,
        model,
        vocab,
        batch_size=batch_size,
        max_len=max_len,
        gene_column=gene_column,
        layer=layer,
        seed=seed,
        device=device,
        neighbors=neighbors,
    ):
        pieces = out.compressed or (out.cell_tokens[:, i] for i in range(1 + config.n_classes))
        for i, piece in enumerate(pieces):
            parts[i].append(piece.float().cpu().numpy())
        for c in config.classes:
            prob = torch.softmax(out.class_logits[c.name].float(), dim=-1)
            best = prob.argmax(dim=1)
            predicted[c.name].append(best.cpu().numpy())
            scores[c.name].append(prob.gather(1, best[:, None])[:, 0].cpu().numpy())
    blocks = [np.concatenate(p) for p in parts]
    adata.obsm[f"X_{key_added}"] = np.concatenate(blocks, axis=1)
    for i, c in enumerate(config.classes):
        adata.obsm[f"X_{key_added}_{c.name}"] = blocks[i + 1]
        names = np.asarray(c.leaves, dtype=object)[np.concatenate(predicted[c.name])]
        adata.obs[f"{key_added}_{c.name}"] = pd.Categorical(names, categories=list(c.leaves))
        adata.obs[f"{key_added}_{c.name}_score"] = np.concatenate(scores[c.name])
    record_params(
        adata,
        "embed",
        {
            "model_family": model.family,
            "batch_size": batch_size,
            "max_len": max_len or config.max_len,
            "seed": seed,
            "key_added": key_added,
        },
    )
    logger.info("embedded %d cells with scPRINT-2 (d=%d)", adata.n_obs, adata.obsm[f"X_{key_added}"].shape[1])


def denoise_v2(
    adata: ad.AnnData,
    model: ScPrint2Model,
    *,
    vocab: GeneVocabulary,
    depth: float | None = None,
    batch_size: int = 32,
    max_len: int | None = None,
    gene_column: str | None = None,
    layer: str | None = None,
    key_added: str = "scprint_denoised",
    seed: int = 0,
    device: str | torch.device | None = None,
    neighbors: NeighborGraph | None = None,
) -> None:
    """``layers[key_added]`` (CSR): E[x] = (1 - pi) mean of each cell's context genes at ``depth`` total
    counts (None: the cell's own); the decoder is told the depth, as scprint2's denoiser."""
    if depth is not None and depth <= 0:
        msg = f"depth must be positive, got {depth!r}"
        raise ValueError(msg)

    def at_depth(batch):
        context_total = batch[keys.EXPRESSION].sum(dim=1)
        if depth is None:
            return {**batch, keys.TARGET_DEPTH: context_total}
        scale = depth / batch[keys.DEPTH].clamp_min(1.0)
        return {**batch, keys.DEPTH: torch.full_like(scale, depth), keys.TARGET_DEPTH: context_total * scale}

    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer)
    vocab_to_column = np.full(len(vocab), -1, dtype=np.int64)
    known = np.flatnonzero(cells.mapping.indices >= 0)
    vocab_to_column[cells.mapping.indices[known]] = known
    rows, cols, values = [], [], []
    for batch_rows, batch, out in _run(
        adata,
        model,
        vocab,
        batch_size=batch_size,
        max_len=max_len,
        gene_column=gene_column,
        layer=layer,
        seed=seed,
        device=device,
        neighbors=neighbors,
        adjust=at_depth,
    ):
        n_ctx = batch[keys.GENES].shape[1]
        rows.append(np.repeat(batch_rows, n_ctx))
        cols.append(vocab_to_column[batch[keys.GENES].numpy()].ravel())
        values.append(out.zinb.expected().float().cpu().numpy().ravel())
    adata.layers[key_added] = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=adata.shape,
        dtype=np.float32,
    )
    record_params(
        adata,
        "denoise",
        {
            "model_family": model.family,
            "depth": depth,
            "batch_size": batch_size,
            "max_len": max_len or model.config.max_len,
            "seed": seed,
            "key_added": key_added,
        },
    )
