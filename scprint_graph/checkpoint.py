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
import pickle
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from scprint_graph.config import ModelConfig
from scprint_graph.genes import GeneVocabulary, Organism, find_organism
from scprint_graph.model import ScPrintModel

logger = logging.getLogger(__name__)

FORMAT = "scprint-graph-checkpoint/1"
PICKLE_MAGIC = b"\x80"  # first byte of a pickle (protocol >= 2): torch's legacy, non-zip format
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip archive


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message is one line naming the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def read_payload(path: str | os.PathLike) -> Any:
    """``torch.load(weights_only=True)`` on the CPU, every failure a :class:`CheckpointError`.

    A pickle that ``weights_only`` refuses raises ``pickle.UnpicklingError`` unchanged (a caller may know
    how to read it safely, as :func:`scprint_graph.official.read_lightning_checkpoint` does); see
    :func:`refused_globals` to describe it.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"checkpoint file not found: {path}"
        raise FileNotFoundError(msg)
    with path.open("rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(path, "is empty (0 bytes), not a checkpoint")
    if head.startswith(GZIP_MAGIC):
        raise CheckpointError(path, "is gzip-compressed: decompress it first")
    if head == ZIP_MAGIC and not zipfile.is_zipfile(path):
        raise CheckpointError(path, "is truncated or corrupt (a zip archive without its directory)")
    if head != ZIP_MAGIC and not head.startswith(PICKLE_MAGIC):
        raise CheckpointError(
            path, "is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if _has_unsafe_globals(path):
            raise
        problem = (
            "is a pickle but not a readable torch.save checkpoint (corrupt, or not written by torch.save)"
        )
        raise CheckpointError(path, problem) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        problem = f"is truncated or corrupt ({first})"
        raise CheckpointError(path, problem) from None


def _has_unsafe_globals(path: Path) -> bool:
    try:
        return bool(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError):
        return False  # the pickle cannot even be scanned: a corrupt file, not a refused one


def refused_globals(path: str | os.PathLike) -> list[str]:
    """The non-tensor globals (classes, functions) a pickle names, which ``weights_only`` refuses."""
    return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))


def check_finite(state_dict: Mapping[str, Tensor], source: str, describe: Callable[[str], str] = str) -> None:
    """Refuse NaN or infinite weights, naming the first tensors that hold them."""
    bad = [
        describe(name)
        for name, tensor in state_dict.items()
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise CheckpointError(source, f"NaN or infinite weights in {len(bad)} tensors: {bad[:5]}")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (on CPU, eval mode) and what came with it."""

    model: ScPrintModel
    genes: list[str]
    optimizer_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None


def checkpoint_vocabulary(loaded: Checkpoint) -> tuple[GeneVocabulary, tuple[Organism, ...]]:
    """The checkpoint's vocabulary and the organisms it knows.

    A checkpoint with per-organism gene lists (scPRINT-2: ``organism_slices``) gives each gene its organism,
    so genes the shipped reference lacks still belong to one (stored with a null symbol); otherwise the
    organisms are those the reference gives the vocabulary's genes.
    """
    slices = getattr(loaded.model, "organism_slices", None) or {}
    if not slices:
        vocab = GeneVocabulary.from_ensembl_ids(loaded.genes)
        return vocab, tuple(find_organism(n) for n in dict.fromkeys(vocab.organism.tolist()) if n)
    names = np.full(len(loaded.genes), "", dtype=object)
    for term, (start, stop) in slices.items():
        names[start:stop] = find_organism(term).name
    vocab = GeneVocabulary.from_ensembl_ids(loaded.genes, organisms=names.tolist())
    return vocab, tuple(find_organism(term) for term in slices)


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
        raise CheckpointError(source, "; ".join(problems))
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
    try:
        payload = read_payload(path)
    except pickle.UnpicklingError:
        names = refused_globals(path)
        problem = f"refused: it names code a checkpoint does not need ({', '.join(names[:5])})"
        raise CheckpointError(path, problem) from None
    return checkpoint_from_payload(payload, path, genes=genes)


def is_project_checkpoint(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def checkpoint_from_payload(
    payload: Any, path: str | os.PathLike, *, genes: Sequence[str] | None = None
) -> Checkpoint:
    """Build the model of an already-read checkpoint file (see :func:`load_checkpoint`)."""
    if not is_project_checkpoint(payload):
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(path, f"not a scprint-graph checkpoint (format {found!r}, expected {FORMAT!r})")
    missing = sorted({"config", "genes", "state_dict"} - set(payload))
    if missing:
        raise CheckpointError(path, f"scprint-graph checkpoint without {missing}")
    if not isinstance(payload["state_dict"], Mapping) or not isinstance(payload["config"], Mapping):
        raise CheckpointError(path, "its config and state_dict must be dicts")
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"invalid model config: {err}") from None
    stored_genes = [str(g) for g in payload["genes"]]
    if len(stored_genes) != config.n_genes:
        problem = f"{len(stored_genes)} genes stored but the config says n_genes={config.n_genes}"
        raise CheckpointError(path, problem)
    check_finite(payload["state_dict"], str(path))
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
