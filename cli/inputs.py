"""A command's checkpoint and AnnData, with file errors reported against the option that named them."""

from pathlib import Path

import anndata as ad
import typer

from ingest.readable import inspect_h5ad
from scprint_graph.checkpoint import Checkpoint
from scprint_graph.official import load_any_checkpoint


def load_inputs(ckpt: Path, h5ad: Path) -> tuple[Checkpoint, ad.AnnData]:
    """Our checkpoint or an official scPRINT one (converted on load), and the AnnData in memory."""
    for path, flag in ((ckpt, "--ckpt"), (h5ad, "--h5ad")):
        if not path.is_file():
            msg = f"file not found: {path}"
            raise typer.BadParameter(msg, param_hint=flag)
    try:
        checkpoint = load_any_checkpoint(ckpt)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--ckpt") from err
    inspect_h5ad(h5ad)  # a damaged, compressed or oversized file is named in one line before anndata reads it
    return checkpoint, ad.read_h5ad(h5ad)
