"""The project's own checkpoint format: one file holding config, gene vocabulary, weights, optimizer state.

The file is ``torch.save`` of a dict of plain values, so it loads with ``torch.load(weights_only=True)``
(no code runs on load)::

    {
        "format": "scprint-graph-checkpoint/1",
        "config": ModelConfig.to_dict(),       # plain python values
        "genes": [ensembl id, ...],            # the vocabulary, in embedding-row order (len == n_genes)
        "state_dict": {name: tensor},          # model weights and the location-encoding buffer
        "optimizer": optimizer.state_dict() | None,
        "extra": {...},                        # free-form plain values (step, data provenance, ...)
    }
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from scprint_graph.config import ModelConfig
from scprint_graph.model import ScPrintModel

logger = logging.getLogger(__name__)

FORMAT = "scprint-graph-checkpoint/1"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (on CPU, eval mode) and what came with it."""

    model: ScPrintModel
    genes: list[str]
    optimizer_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None


def file_sha256(path: str | os.PathLike) -> str:
    """Content hash of a checkpoint file, for provenance."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(
    path: str | os.PathLike,
    model: ScPrintModel,
    genes: Sequence[str],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` with its vocabulary ``genes`` (and optimizer state) to one file, atomically."""
    genes = [str(g) for g in genes]
    if len(genes) != model.config.n_genes:
        msg = f"{len(genes)} genes given but the model's vocabulary has n_genes={model.config.n_genes}"
        raise ValueError(msg)
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "genes": genes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    logger.info("saved checkpoint %s (%d genes, %d tensors)", path, len(genes), len(payload["state_dict"]))
    return path


def load_weights_checked(
    model: torch.nn.Module,
    state_dict: Mapping[str, Tensor],
    source: str,
    describe: Callable[[str], str] = str,
) -> None:
    """Load ``state_dict`` into ``model`` strictly; name every missing, unexpected or mis-shaped tensor.

    ``describe`` renders a key in error messages (e.g. adding the official checkpoint's name).
    """
    expected = model.state_dict()
    missing = [describe(k) for k in sorted(set(expected) - set(state_dict))]
    unexpected = [describe(k) for k in sorted(set(state_dict) - set(expected))]
    misshaped = [
        f"{describe(name)}: file {tuple(state_dict[name].shape)} vs model {tuple(expected[name].shape)}"
        for name in sorted(set(expected) & set(state_dict))
        if tuple(state_dict[name].shape) != tuple(expected[name].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    if misshaped:
        problems.append(f"mis-shaped tensors {misshaped}")
    if problems:
        msg = f"{source}: " + "; ".join(problems)
        raise ValueError(msg)
    model.load_state_dict(state_dict, strict=True)


def build_empty_model(config: ModelConfig) -> ScPrintModel:
    """A model of ``config`` whose weights and buffers are about to be overwritten by a checkpoint."""
    locations = torch.zeros(config.n_genes, dtype=torch.long) if config.use_locations else None
    table = torch.zeros(config.n_genes, config.d_model) if config.frozen_gene_embeddings else None
    return ScPrintModel(config, gene_locations=locations, gene_embeddings=table)


def check_vocabulary(found: Sequence[str], expected: Sequence[str], source: str) -> None:
    """Raise if the checkpoint's genes differ from the expected vocabulary (order matters)."""
    found, expected = list(found), list(expected)
    if found == expected:
        return
    missing = [g for g in expected if g not in set(found)]
    extra = [g for g in found if g not in set(expected)]
    first = next((i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b), None)
    msg = (
        f"{source}: gene vocabulary differs from the expected one ({len(found)} vs {len(expected)} genes; "
        f"first difference at position {first}; {len(missing)} expected genes absent, e.g. {missing[:3]}; "
        f"{len(extra)} unexpected genes, e.g. {extra[:3]})"
    )
    raise ValueError(msg)


def load_checkpoint(path: str | os.PathLike, *, genes: Sequence[str] | None = None) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU, in eval mode.

    Parameters
    ----------
    path
        The checkpoint file.
    genes
        The vocabulary the caller will tokenise with; when given, it must equal the checkpoint's.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"checkpoint file not found: {path}"
        raise FileNotFoundError(msg)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint_from_payload(payload, path, genes=genes)


def is_project_checkpoint(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def checkpoint_from_payload(
    payload: Any, path: str | os.PathLike, *, genes: Sequence[str] | None = None
) -> Checkpoint:
    """Build the model of an already-read checkpoint file (see :func:`load_checkpoint`)."""
    if not is_project_checkpoint(payload):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        msg = f"{path}: not a scprint-graph checkpoint (format {found!r}, expected {FORMAT!r})"
        raise ValueError(msg)
    config = ModelConfig.from_dict(payload["config"])
    stored_genes = list(payload["genes"])
    if len(stored_genes) != config.n_genes:
        msg = f"{path}: {len(stored_genes)} genes stored but the config says n_genes={config.n_genes}"
        raise ValueError(msg)
    if genes is not None:
        check_vocabulary(stored_genes, genes, str(path))
    model = build_empty_model(config)
    load_weights_checked(model, payload["state_dict"], str(path))
    model.eval()
    return Checkpoint(
        model=model,
        genes=stored_genes,
        optimizer_state=payload.get("optimizer"),
        extra=dict(payload.get("extra") or {}),
        sha256=file_sha256(path),
    )
