"""What shapes a gene network: one frozen, validated parameter set, and the heads file of a head selection.

:class:`GrnParams` is the single description of the network options; the extractor, ``scprint-graph grn``
and the ingest config's ``[params]`` table all take it (their choices come from the registries of
:mod:`scprint_graph.grn_core`). Runtime choices that do not change the network (device, batch size,
progress bars, where the counts are) are not in it.

A heads file (written by ``scprint-graph select-heads``) is JSON::

    {"format": "scprint-graph-heads/1", "heads": [[layer, head], ...], "prior": "collectri",
     "held_out": {"selected": {...}, "all": {...}, ...}, "checkpoint_sha256": "...", ...}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scprint_graph.grn_core import EDGE_FILTERS, HEAD_AGGREGATIONS, filter_mask

GENE_MODES = ("random expressed", "most variable", "most expressed")
PRECISIONS = ("fp32", "bf16")
HEADS_FORMAT = "scprint-graph-heads/1"


@dataclass(frozen=True)
class GrnParams:
    """Options of one network extraction (see :func:`scprint_graph.grn.extract_network`).

    Parameters
    ----------
    genes
        ``"random expressed"`` (each cell's context holds random expressed genes; the network keeps the
        ``n_genes`` genes expressed in most cells), ``"most variable"``, ``"most expressed"`` (a fixed list
        shared by every cell), or a list of gene ids / symbols.
    n_genes
        Network size (a given list is truncated to it; None keeps the whole list).
    drop_unexpressed
        Drop given genes that no cell of the group expresses (scPRINT's ``drop_unexpressed``, default
        False as there: every given gene stays in every cell's context).
    max_cells
        Keep the ``max_cells`` cells with the most counts (scPRINT's ``max_cells``).
    head_aggregation
        A name in :data:`~scprint_graph.grn_core.HEAD_AGGREGATIONS`.
    heads
        ``(layer, head)`` pairs to use (e.g. from a heads file); all heads when None.
    heads_selection
        Provenance of ``heads`` when they come from a heads file (file hash, prior, held-out score).
    edge_filter, top_k
        A name in :data:`~scprint_graph.grn_core.EDGE_FILTERS` and its ``top_k`` (for ``"top_k"``).
    symmetrize
        Average each network with its transpose.
    precision
        ``"fp32"`` (default, as scPRINT's GRN inference) or ``"bf16"`` autocast; CPUs always run fp32.
    seed
        Seeds the random gene draws (random contexts and the split of long lists).
    """

    genes: str | tuple[str, ...] = "most variable"
    n_genes: int | None = 2000
    drop_unexpressed: bool = False
    max_cells: int = 1024
    head_aggregation: str = "mean"
    heads: tuple[tuple[int, int], ...] | None = None
    heads_selection: Mapping[str, Any] | None = None
    edge_filter: str = "threshold"
    top_k: int | None = None
    symmetrize: bool = False
    precision: str = "fp32"
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.genes, str):
            if self.genes not in GENE_MODES:
                msg = f"genes must be one of {GENE_MODES} or a list of gene ids, got {self.genes!r}"
                raise ValueError(msg)
            if self.n_genes is None or _not_int(self.n_genes) or self.n_genes < 2:
                msg = f"n_genes must be an integer >= 2 with genes={self.genes!r}, got {self.n_genes!r}"
                raise ValueError(msg)
        else:
            object.__setattr__(self, "genes", tuple(str(g) for g in self.genes))
            if len(self.genes) < 2:
                msg = f"a given gene list needs at least 2 genes, got {list(self.genes)!r}"
                raise ValueError(msg)
            if self.n_genes is not None and (_not_int(self.n_genes) or self.n_genes < 2):
                msg = f"n_genes must be None or an integer >= 2, got {self.n_genes!r}"
                raise ValueError(msg)
        for name in ("max_cells",):
            value = getattr(self, name)
            if _not_int(value) or value < 1:
                msg = f"{name} must be an integer >= 1, got {value!r}"
                raise ValueError(msg)
        if _not_int(self.seed):
            msg = f"seed must be an integer, got {self.seed!r}"
            raise ValueError(msg)
        for name in ("drop_unexpressed", "symmetrize"):
            if not isinstance(getattr(self, name), bool):
                msg = f"{name} must be true or false, got {getattr(self, name)!r}"
                raise ValueError(msg)
        if self.head_aggregation not in HEAD_AGGREGATIONS:
            msg = f"head_aggregation must be one of {tuple(HEAD_AGGREGATIONS)}, got {self.head_aggregation!r}"
            raise ValueError(msg)
        if self.edge_filter not in EDGE_FILTERS:
            msg = f"edge_filter must be one of {tuple(EDGE_FILTERS)}, got {self.edge_filter!r}"
            raise ValueError(msg)
        if self.top_k is not None and (_not_int(self.top_k) or self.top_k < 1):
            msg = f"top_k must be None or an integer >= 1, got {self.top_k!r}"
            raise ValueError(msg)
        # a filter checks its own options: a dry run on a tiny matrix raises what a real one would
        filter_mask(torch.zeros(2, 2), edge_filter=self.edge_filter, top_k=self.top_k)
        if self.precision not in PRECISIONS:
            msg = f"precision must be one of {PRECISIONS}, got {self.precision!r}"
            raise ValueError(msg)
        object.__setattr__(self, "heads", _heads_tuple(self.heads))
        if self.heads_selection is not None and self.heads is None:
            msg = "heads_selection is set but heads is not"
            raise ValueError(msg)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The options a config may set (``heads_selection`` comes from a heads file, not a user)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "heads_selection")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, base: str | os.PathLike | None = None) -> GrnParams:
        """Build from plain values (a TOML table, JSON); unknown keys are errors.

        ``heads`` may be ``[[layer, head], ...]``, the path of a heads file (relative to ``base``) or the
        already-read content of one (:func:`read_heads_file`).
        """
        values = dict(values)
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            msg = f"unknown network parameters {unknown}; allowed are {sorted(cls.field_names())}"
            raise ValueError(msg)
        heads = values.get("heads")
        if isinstance(heads, str | os.PathLike):
            path = Path(heads).expanduser()
            heads = read_heads_file(path if path.is_absolute() or base is None else Path(base) / path)
        if isinstance(heads, Mapping):
            values["heads"] = heads["heads"]
            values["heads_selection"] = {k: v for k, v in heads.items() if k not in ("heads", "format")}
        genes = values.get("genes")
        if genes is not None and not isinstance(genes, str):
            values["genes"] = tuple(genes)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values, for the network's recorded parameters."""
        out = dataclasses.asdict(self)
        out["genes"] = self.genes if isinstance(self.genes, str) else list(self.genes)
        out["heads"] = None if self.heads is None else [list(h) for h in self.heads]
        out["heads_selection"] = None if self.heads_selection is None else dict(self.heads_selection)
        return out

    def replace(self, **changes: Any) -> GrnParams:
        return dataclasses.replace(self, **changes)


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _heads_tuple(heads: Any) -> tuple[tuple[int, int], ...] | None:
    if heads is None:
        return None
    try:
        pairs = tuple((int(layer), int(head)) for layer, head in heads)
    except (TypeError, ValueError) as err:
        msg = f"heads must be (layer, head) pairs, got {heads!r}"
        raise ValueError(msg) from err
    if not pairs or any(layer < 0 or head < 0 for layer, head in pairs):
        msg = f"heads must be a non-empty list of non-negative (layer, head) pairs, got {heads!r}"
        raise ValueError(msg)
    return pairs


def write_heads_file(path: str | os.PathLike, heads: Sequence[tuple[int, int]], **provenance: Any) -> Path:
    """Write a heads file: the selected heads and where they come from (prior, held-out score, ...)."""
    path = Path(path)
    payload = {"format": HEADS_FORMAT, "heads": [[int(a), int(b)] for a, b in heads], **provenance}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    return path


def read_heads_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a heads file; the result also holds the file's name and content hash."""
    path = Path(path)
    if not path.is_file():
        msg = f"heads file not found: {path}"
        raise ValueError(msg)
    raw = path.read_bytes()
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        msg = f"{path} is not a heads file (not JSON: {err})"
        raise ValueError(msg) from err
    if not isinstance(payload, dict) or payload.get("format") != HEADS_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        msg = f"{path} is not a heads file (format {found!r}, expected {HEADS_FORMAT!r})"
        raise ValueError(msg)
    payload["heads"] = [list(h) for h in _heads_tuple(payload.get("heads")) or ()]
    payload["file"] = path.name
    payload["file_sha256"] = hashlib.sha256(raw).hexdigest()
    return payload
