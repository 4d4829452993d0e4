"""The scPRINT model configuration: one frozen dataclass, validated on construction, with size presets.

Label classes live in the config because the model's class tokens and classifier heads depend on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

NORMALIZATIONS = ("sum", "log")
ATTENTIONS = ("sdpa", "explicit")
MVC_DECODERS = (None, "inner product")

# Sizes of the named presets (d_model, n_layers, n_heads); scPRINT v1 small/medium/large.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 32, "n_layers": 2, "n_heads": 2},
    "small": {"d_model": 128, "n_layers": 4, "n_heads": 2},
    "medium": {"d_model": 256, "n_layers": 8, "n_heads": 4},
    "large": {"d_model": 512, "n_layers": 16, "n_heads": 8},
}


@dataclass(frozen=True)
class LabelClass:
    """One label class (e.g. cell type) predicted from its own class token.

    Label indices follow scPRINT: ``0 .. n_leaves-1`` are the leaf labels the classifier scores,
    ``n_leaves + j`` is the parent label ``parents[j]``, scored by log-sum-exp over its leaf descendants
    ``parent_leaves[j]``. ``-1`` means unknown.
    """

    name: str
    leaves: tuple[str, ...]
    parents: tuple[str, ...] = ()
    parent_leaves: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaves", tuple(self.leaves))
        object.__setattr__(self, "parents", tuple(self.parents))
        object.__setattr__(self, "parent_leaves", tuple(tuple(int(i) for i in p) for p in self.parent_leaves))
        if not self.name or "." in self.name:
            msg = f"label class name must be non-empty and contain no '.', got {self.name!r}"
            raise ValueError(msg)
        if len(self.leaves) < 1:
            msg = f"label class {self.name!r} needs at least one leaf label, got {self.leaves!r}"
            raise ValueError(msg)
        if len(self.parents) != len(self.parent_leaves):
            msg = (
                f"label class {self.name!r}: {len(self.parents)} parents but "
                f"{len(self.parent_leaves)} descendant lists"
            )
            raise ValueError(msg)
        for parent, leaves in zip(self.parents, self.parent_leaves, strict=True):
            bad = [i for i in leaves if not 0 <= i < len(self.leaves)]
            if bad or not leaves:
                msg = (
                    f"label class {self.name!r}: parent {parent!r} has invalid leaf indices {list(leaves)!r}"
                )
                raise ValueError(msg)

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists (what a config's ``to_dict`` stores); ``LabelClass(**d)`` reads it back."""
        return {
            "name": self.name,
            "leaves": list(self.leaves),
            "parents": list(self.parents),
            "parent_leaves": [list(p) for p in self.parent_leaves],
        }

    @property
    def labels(self) -> tuple[str, ...]:
        """All label names by index: leaves then parents."""
        return self.leaves + self.parents

    @classmethod
    def from_hierarchy(cls, name: str, leaves: list[str], hierarchy: dict[str, list[str]]) -> LabelClass:
        """Build from leaf names and a mapping parent label -> its leaf descendants (by name)."""
        index = {leaf: i for i, leaf in enumerate(leaves)}
        unknown = sorted({d for ds in hierarchy.values() for d in ds} - index.keys())
        if unknown:
            msg = f"label class {name!r}: hierarchy names labels that are not leaves: {unknown[:5]!r}"
            raise ValueError(msg)
        parents = tuple(hierarchy)
        parent_leaves = tuple(tuple(sorted(index[d] for d in hierarchy[p])) for p in parents)
        return cls(name=name, leaves=tuple(leaves), parents=parents, parent_leaves=parent_leaves)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """ValueError naming the option unless ``value`` is one of ``choices`` (every config uses this)."""
    if value not in choices:
        msg = f"{name} must be one of {tuple(choices)}, got {value!r}"
        raise ValueError(msg)


def check_label_classes(classes: Sequence[Any]) -> None:
    """Label classes are LabelClass instances with unique names."""
    if any(not isinstance(c, LabelClass) for c in classes):
        msg = f"classes must be LabelClass instances, got {[type(c).__name__ for c in classes]}"
        raise ValueError(msg)
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        msg = f"label class names must be unique, got {names!r}"
        raise ValueError(msg)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the scPRINT transformer.

    Parameters
    ----------
    n_genes
        Size of the gene vocabulary (rows of the gene embedding table).
    d_model, n_layers, n_heads
        Width, depth and heads of the transformer; ``d_model`` must divide by ``n_heads``.
    max_len
        Number of context genes per cell (scPRINT: 2,200).
    normalization
        Expression fed to the expression encoder: ``"sum"`` (x / sum of x over the context) or
        ``"log"`` (log2(1 + x)).
    attention
        ``"sdpa"`` (torch scaled_dot_product_attention: flash / memory-efficient kernels) or
        ``"explicit"`` (softmax(QK^T / sqrt(d)) V written out; a reference and for debugging).
    classes
        Label classes, one class token and one classifier head each.
    use_locations
        Add the sinusoidal encoding of each gene's genomic-location index to its token.
    frozen_gene_embeddings
        The gene embedding table is a user-provided precomputed table (e.g. protein embeddings) and is
        not trained.
    mvc_decoder
        ``"inner product"``: the model also has scPRINT's MVC decoder (expression from the cell embedding
        and the gene embeddings alone); None: no MVC decoder.
    gene_embeddings_sha256
        sha256 of the parquet table the gene embeddings were initialised from (provenance; None when
        they were learned from random initialisation). See :mod:`scprint_graph.gene_embeddings`.
    """

    n_genes: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 2
    mlp_ratio: int = 4
    max_len: int = 2200
    dropout: float = 0.1
    normalization: str = "sum"
    attention: str = "sdpa"
    classes: tuple[LabelClass, ...] = ()
    classifier_hidden: tuple[int, ...] = ()
    use_locations: bool = True
    frozen_gene_embeddings: bool = False
    layer_norm_eps: float = 1e-6
    max_expression: float = 100_000.0
    location_max_period: float = 10_000.0
    preset_name: str | None = field(default=None, compare=False)
    mvc_decoder: str | None = None
    gene_embeddings_sha256: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "classifier_hidden", tuple(int(h) for h in self.classifier_hidden))
        for name in ("n_genes", "d_model", "n_layers", "n_heads", "mlp_ratio", "max_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer, got {value!r}"
                raise ValueError(msg)
        if self.d_model % self.n_heads:
            msg = f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}"
            raise ValueError(msg)
        if (self.d_model // self.n_heads) % 2 or self.d_model % 2:
            msg = f"d_model={self.d_model} / n_heads={self.n_heads} must give an even head size"
            raise ValueError(msg)
        if not 0.0 <= self.dropout < 1.0:
            msg = f"dropout must be in [0, 1), got {self.dropout!r}"
            raise ValueError(msg)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_choice("attention", self.attention, ATTENTIONS)
        check_choice("mvc_decoder", self.mvc_decoder, MVC_DECODERS)
        check_label_classes(self.classes)
        if any(h < 1 for h in self.classifier_hidden):
            msg = f"classifier_hidden sizes must be positive, got {self.classifier_hidden!r}"
            raise ValueError(msg)
        sha = self.gene_embeddings_sha256
        if sha is not None and (len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha)):
            msg = f"gene_embeddings_sha256 must be 64 lowercase hex digits, got {sha!r}"
            raise ValueError(msg)
        for name in ("layer_norm_eps", "max_expression", "location_max_period"):
            if getattr(self, name) <= 0:
                msg = f"{name} must be positive, got {getattr(self, name)!r}"
                raise ValueError(msg)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_special_tokens(self) -> int:
        """Cell token, depth token, then one token per label class."""
        return 2 + len(self.classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A named size (tiny, small, medium, large) with any field overridden; ``n_genes`` is required."""
        if name not in PRESETS:
            msg = f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}"
            raise ValueError(msg)
        values: dict[str, Any] = {**PRESETS[name], "preset_name": name}
        values.update(overrides)
        if "n_genes" not in values:
            msg = f"preset {name!r} needs n_genes (the size of the gene vocabulary)"
            raise ValueError(msg)
        return cls(**values)

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain python values only (safe for ``torch.load(weights_only=True)`` and JSON)."""
        out = dataclasses.asdict(self)
        out["classes"] = [c.to_dict() for c in self.classes]
        out["classifier_hidden"] = list(self.classifier_hidden)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            msg = f"unknown model config fields {unknown!r}"
            raise ValueError(msg)
        values = dict(values)
        values["classes"] = tuple(LabelClass(**c) for c in values.get("classes", ()))
        return cls(**values)
