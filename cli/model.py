"""`scprint-graph embed | denoise | convert-official`: zero-shot use of a checkpoint on an .h5ad file.

``--ckpt`` takes our checkpoint format, an official scPRINT Lightning checkpoint (converted on load) or an
official scPRINT-2 one (``scprint_graph.v2``: neighbours from ``obsp['distances']`` or computed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app
from cli.inputs import load_inputs
from scprint_graph.checkpoint import checkpoint_vocabulary, save_checkpoint
from scprint_graph.official import load_official_checkpoint
from scprint_graph.v2.official import family_of
from scprint_graph.v2.zero_shot import denoise_v2, embed_v2
from scprint_graph.zero_shot import denoise, embed

logger = logging.getLogger(__name__)

CkptOption = Annotated[Path, typer.Option("--ckpt", help="Checkpoint: ours or an official scPRINT .ckpt.")]
H5adOption = Annotated[Path, typer.Option("--h5ad", help="Input AnnData with raw counts.")]
OutOption = Annotated[Path, typer.Option("--out", help="Output .h5ad (the input plus the results).")]
BatchOption = Annotated[int, typer.Option(help="Cells per forward pass.")]
MaxLenOption = Annotated[int | None, typer.Option(help="Context genes per cell (default: the model's).")]
LayerOption = Annotated[str | None, typer.Option(help="Read counts from this layer instead of X.")]
GeneColumnOption = Annotated[str | None, typer.Option(help="var column with gene ids or symbols.")]
DeviceOption = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: CUDA if present).")]
SeedOption = Annotated[int, typer.Option(help="Seed of the context-gene draw.")]


def _run(method, ckpt: Path, h5ad: Path, out: Path, **options) -> None:
    """Run a zero-shot ``method`` (embed or denoise) of the checkpoint on the file and write the result."""
    checkpoint, adata = load_inputs(ckpt, h5ad)
    vocab = checkpoint_vocabulary(checkpoint)[0]
    family = family_of(checkpoint.model)
    if family == "scprint2":  # scPRINT-2 reads each cell's neighbours too
        method = {embed: embed_v2, denoise: denoise_v2}[method]
    try:
        method(adata, checkpoint.model, vocab=vocab, **options)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    adata.uns["scprint_graph"]["checkpoint_sha256"] = checkpoint.sha256
    adata.uns["scprint_graph"]["model_family"] = family
    out.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(out)
    logger.info("wrote %s", out)


@app.command("embed")
def embed_command(
    ckpt: CkptOption,
    h5ad: H5adOption,
    out: OutOption,
    batch_size: BatchOption = 32,
    max_len: MaxLenOption = None,
    layer: LayerOption = None,
    gene_column: GeneColumnOption = None,
    seed: SeedOption = 0,
    device: DeviceOption = None,
) -> None:
    """Cell embeddings (obsm X_scprint, X_scprint_<class>) and label predictions (obs scprint_<class>)."""
    _run(
        embed,
        ckpt,
        h5ad,
        out,
        batch_size=batch_size,
        max_len=max_len,
        layer=layer,
        gene_column=gene_column,
        seed=seed,
        device=device,
    )


@app.command("denoise")
def denoise_command(
    ckpt: CkptOption,
    h5ad: H5adOption,
    out: OutOption,
    depth: Annotated[float | None, typer.Option(help="Total counts to denoise at (default: own).")] = None,
    batch_size: BatchOption = 32,
    max_len: MaxLenOption = None,
    layer: LayerOption = None,
    gene_column: GeneColumnOption = None,
    seed: SeedOption = 0,
    device: DeviceOption = None,
) -> None:
    """Expected expression of each cell's context genes at a chosen depth (layer scprint_denoised)."""
    _run(
        denoise,
        ckpt,
        h5ad,
        out,
        depth=depth,
        batch_size=batch_size,
        max_len=max_len,
        layer=layer,
        gene_column=gene_column,
        seed=seed,
        device=device,
    )


@app.command("convert-official")
def convert_official_command(
    ckpt: Annotated[Path, typer.Option("--ckpt", help="Official scPRINT Lightning checkpoint.")],
    out: Annotated[Path, typer.Option("--out", help="Our one-file checkpoint to write.")],
) -> None:
    """Convert an official scPRINT checkpoint (small-v1, medium-v1.5, large-v1) to our format."""
    if not ckpt.is_file():
        msg = f"file not found: {ckpt}"
        raise typer.BadParameter(msg, param_hint="--ckpt")
    try:
        official = load_official_checkpoint(ckpt)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--ckpt") from err
    extra = {
        "source": "official scPRINT checkpoint",
        "source_file": ckpt.name,
        "source_sha256": official.sha256,
    }
    save_checkpoint(out, official.model, official.genes, extra=extra)
