"""Zero-shot use of a trained model on an AnnData: cell embeddings, label predictions, denoising.

scanpy-style: the AnnData comes first, options are keyword-only, results go into ``adata.obsm`` / ``obs`` /
``layers`` and the parameters into ``adata.uns["scprint_graph"]["params"][<function name>]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from scprint_graph import keys
from scprint_graph.cells import AnnDataCells
from scprint_graph.genes import GeneVocabulary
from scprint_graph.model import ModelOutput, ScPrintModel, autocast_for, resolve_device

logger = logging.getLogger(__name__)

UNS_KEY = "scprint_graph"


def check_vocabulary(model, vocab: GeneVocabulary) -> None:
    """A vocabulary of another size than the model's gene table is refused before any cell is read."""
    if len(vocab) != model.config.n_genes:
        msg = f"the vocabulary has {len(vocab)} genes but the model has n_genes={model.config.n_genes}"
        raise ValueError(msg)


def record_params(adata: ad.AnnData, function: str, params: dict[str, Any]) -> None:
    """``adata.uns["scprint_graph"]["params"][function]``: the options a call used, as scanpy records."""
    uns = adata.uns.setdefault(UNS_KEY, {})
    uns.setdefault("params", {})[function] = {k: v for k, v in params.items() if v is not None}


def _run(
    cells: AnnDataCells,
    model: ScPrintModel,
    *,
    batch_size: int,
    max_len: int,
    seed: int,
    device: torch.device,
    progress: bool,
    adjust=None,
) -> Iterator[tuple[dict[str, torch.Tensor], ModelOutput]]:
    """Forward every cell batch (no grad, eval mode, bf16 autocast on CUDA); yields CPU batch and output."""
    model.eval().to(device)
    with torch.no_grad():
        for batch in cells.batches(batch_size=batch_size, max_len=max_len, seed=seed, progress=progress):
            if adjust is not None:
                batch = adjust(batch)
            on_device = {k: v.to(device) for k, v in batch.items()}
            with autocast_for(device):
                output = model(on_device)
            yield batch, output


def embed(
    adata: ad.AnnData,
    model: ScPrintModel,
    *,
    vocab: GeneVocabulary,
    batch_size: int = 32,
    max_len: int | None = None,
    gene_column: str | None = None,
    layer: str | None = None,
    organism: str | None = None,
    key_added: str = "scprint",
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> None:
    """Embed each cell and predict its labels with the model's class tokens.

    Parameters
    ----------
    adata
        Raw counts in ``X`` (or ``layer``), in memory or backed.
    model
        A trained model (e.g. ``load_checkpoint(...).model``); moved to ``device``.
    vocab
        The model's gene vocabulary (``GeneVocabulary.from_ensembl_ids(checkpoint.genes)``).
    batch_size, max_len
        Cells per forward pass; context genes per cell (default: the model's ``max_len``).
    gene_column, layer, organism
        Where the gene ids and counts are (see :class:`~scprint_graph.cells.AnnDataCells`).
    key_added
        Prefix of the results.
    seed
        Seed of the random context-gene draw (same seed, same result).
    device
        Default: CUDA when available (bf16 autocast), else CPU (fp32).

    Returns
    -------
    None; sets ``adata.obsm[f"X_{key_added}"]`` (cells, d): mean of the special-token outputs;
    ``adata.obsm[f"X_{key_added}_{class}"]``: each class token's output;
    ``adata.obs[f"{key_added}_{class}"]``: the predicted leaf label and
    ``adata.obs[f"{key_added}_{class}_score"]``: its sigmoid probability.
    """
    check_vocabulary(model, vocab)
    device = resolve_device(device)
    max_len = max_len or model.config.max_len
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer, organism=organism)
    n_cells, config = adata.n_obs, model.config
    cell_embedding = np.zeros((n_cells, config.d_model), dtype=np.float32)
    class_embeddings = np.zeros((n_cells, config.n_classes, config.d_model), dtype=np.float32)
    predicted = np.zeros((n_cells, config.n_classes), dtype=np.int64)
    scores = np.zeros((n_cells, config.n_classes), dtype=np.float32)
    row = 0
    for _, output in _run(
        cells, model, batch_size=batch_size, max_len=max_len, seed=seed, device=device, progress=progress
    ):
        n = output.special_embeddings.shape[0]
        cell_embedding[row : row + n] = output.cell_embedding.float().cpu().numpy()
        class_embeddings[row : row + n] = output.class_embeddings.float().cpu().numpy()
        for i, label_class in enumerate(config.classes):
            logits = output.class_logits[label_class.name].float()
            best = logits.argmax(dim=1)
            predicted[row : row + n, i] = best.cpu().numpy()
            scores[row : row + n, i] = torch.sigmoid(logits.gather(1, best[:, None])[:, 0]).cpu().numpy()
        row += n
    adata.obsm[f"X_{key_added}"] = cell_embedding
    for i, label_class in enumerate(config.classes):
        adata.obsm[f"X_{key_added}_{label_class.name}"] = class_embeddings[:, i]
        names = np.asarray(label_class.leaves, dtype=object)[predicted[:, i]]
        adata.obs[f"{key_added}_{label_class.name}"] = pd.Categorical(
            names, categories=list(label_class.leaves)
        )
        adata.obs[f"{key_added}_{label_class.name}_score"] = scores[:, i]
    record_params(
        adata,
        "embed",
        {"batch_size": batch_size, "max_len": max_len, "seed": seed, "key_added": key_added, "layer": layer},
    )
    logger.info("embedded %d cells into %s (d=%d)", n_cells, f"X_{key_added}", config.d_model)


def denoise(
    adata: ad.AnnData,
    model: ScPrintModel,
    *,
    vocab: GeneVocabulary,
    depth: float | None = None,
    batch_size: int = 32,
    max_len: int | None = None,
    gene_column: str | None = None,
    layer: str | None = None,
    organism: str | None = None,
    key_added: str = "scprint_denoised",
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> None:
    """Expected expression E[x] = (1 - pi) * mean of each context gene, at a chosen sequencing depth.

    As scPRINT's denoising: the depth token is told the target depth and the ZINB mean is scaled to it.

    Parameters
    ----------
    depth
        Total counts of the denoised cells; None keeps each cell's own depth (pure denoising). The context
        genes' expected total is the cell's context total scaled by ``depth / cell depth``.
    key_added
        Name of the result layer.
    Other parameters as in :func:`embed`.

    Returns
    -------
    None; sets ``adata.layers[key_added]``, CSR (cells, genes) float32: the expected counts of each cell's
    context genes (``max_len`` genes drawn as for embedding: expressed first), zero elsewhere.
    """
    check_vocabulary(model, vocab)
    if depth is not None and depth <= 0:
        msg = f"depth must be positive, got {depth!r}"
        raise ValueError(msg)
    device = resolve_device(device)
    max_len = max_len or model.config.max_len
    cells = AnnDataCells(adata, vocab, gene_column=gene_column, layer=layer, organism=organism)
    vocab_to_column = np.full(len(vocab), -1, dtype=np.int64)
    known = np.flatnonzero(cells.mapping.indices >= 0)
    vocab_to_column[cells.mapping.indices[known]] = known

    def at_depth(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        context_total = batch[keys.EXPRESSION].sum(dim=1)
        if depth is None:
            return {**batch, keys.TARGET_DEPTH: context_total}
        scale = depth / batch[keys.DEPTH].clamp_min(1.0)
        return {**batch, keys.DEPTH: torch.full_like(scale, depth), keys.TARGET_DEPTH: context_total * scale}

    rows, cols, values = [], [], []
    row = 0
    for batch, output in _run(
        cells,
        model,
        batch_size=batch_size,
        max_len=max_len,
        seed=seed,
        device=device,
        progress=progress,
        adjust=at_depth,
    ):
        n, n_ctx = batch[keys.GENES].shape
        rows.append(np.repeat(np.arange(row, row + n), n_ctx))
        cols.append(vocab_to_column[batch[keys.GENES].numpy()].ravel())
        values.append(output.zinb.expected().float().cpu().numpy().ravel())
        row += n
    result = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=adata.shape,
        dtype=np.float32,
    )
    adata.layers[key_added] = result
    record_params(
        adata,
        "denoise",
        {
            "depth": depth,
            "batch_size": batch_size,
            "max_len": max_len,
            "seed": seed,
            "key_added": key_added,
            "layer": layer,
        },
    )
    logger.info("denoised %d cells into layer %r", adata.n_obs, key_added)
