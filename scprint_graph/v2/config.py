"""The scPRINT-2 configuration: one frozen dataclass, validated on construction, with size presets.

scPRINT-2 (Kalfon et al. 2025, ``scprint2`` 1.0.3) has two transformers: a gene transformer over gene tokens
only, and a cell transformer whose tokens (a cell token and one token per label class) cross-attend to the
gene transformer's normalised output and then attend to each other. Both use grouped-query attention.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from scprint_graph.config import ATTENTIONS, LabelClass, check_choice, check_label_classes

FAMILY = "scprint2"
# Below this compressed size a class is compressed by FSQ (2 levels per dimension), else by a VAE (scprint2).
FSQ_BELOW = 8

# Named sizes: "small" is scprint2's config/base_v2.yml, "medium" pretrain_medium.yml, "large"
# pretrain_large.yml (cell heads_kv default 4); "tiny" is for tests.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"d_model": 32, "n_layers": 2, "n_heads": 4, "n_heads_kv": 2, "d_model_cell": 16,
             "n_layers_cell": 2, "n_heads_cell": 2, "n_heads_kv_cell": 1},
    "small": {"d_model": 256, "n_layers": 8, "n_heads": 4, "n_heads_kv": 4, "d_model_cell": 256,
              "n_layers_cell": 6, "n_heads_cell": 4, "n_heads_kv_cell": 4},
    "medium": {"d_model": 512, "n_layers": 16, "n_heads": 8, "n_heads_kv": 4, "d_model_cell": 256,
               "n_layers_cell": 6, "n_heads_cell": 4, "n_heads_kv_cell": 4},
    "large": {"d_model": 1280, "n_layers": 30, "n_heads": 20, "n_heads_kv": 5, "d_model_cell": 512,
              "n_layers_cell": 6, "n_heads_cell": 8, "n_heads_kv_cell": 4},
}  # fmt: skip


@dataclass(frozen=True)
class V2Config:
    """Architecture of scPRINT-2 (inference).

    Parameters
    ----------
    n_genes
        Vocabulary size (all organisms, concatenated in the checkpoint's organism order).
    d_model, n_layers, n_heads, n_heads_kv
        Gene transformer: width, depth, query heads, key/value heads (``n_heads`` divides by it).
    d_model_cell, n_layers_cell, n_heads_cell, n_heads_kv_cell
        Cell transformer, the same.
    classes
        Label classes: one cell-transformer token and one classifier each (after the cell token).
    compress_dims
        Compressed size per class (same order as ``classes``); < 8 is FSQ, else the VAE mean. Empty: no
        compression, the classifiers read the class tokens.
    classifier_hidden
        Hidden sizes of each classifier (scprint2's ``layers_cls``).
    expr_encoder_layers
        Layers of the expression encoder's shared part (scprint2's ``expr_encoder_layers``).
    n_neighbors
        Neighbour cells fed to the expression encoder (scprint2's data loader takes 6).
    gene_adapter
        The frozen gene embedding goes through Linear-ReLU-Linear (``finetune_gene_emb``).
    use_locations
        Add the checkpoint's genomic-location encoding to gene tokens.
    max_len
        Context genes per cell.
    attention
        ``"sdpa"`` or ``"explicit"`` (see :func:`scprint_graph.model.attention`).
    """

    n_genes: int
    d_model: int = 256
    n_layers: int = 8
    n_heads: int = 4
    n_heads_kv: int = 4
    d_model_cell: int = 256
    n_layers_cell: int = 6
    n_heads_cell: int = 4
    n_heads_kv_cell: int = 4
    mlp_ratio: int = 4
    classes: tuple[LabelClass, ...] = ()
    compress_dims: tuple[int, ...] = ()
    classifier_hidden: tuple[int, ...] = (256,)
    expr_encoder_layers: int = 1
    n_neighbors: int = 6
    gene_adapter: bool = True
    use_locations: bool = True
    max_len: int = 3200
    attention: str = "sdpa"
    layer_norm_eps: float = 1e-6
    preset_name: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "compress_dims", tuple(int(d) for d in self.compress_dims))
        object.__setattr__(self, "classifier_hidden", tuple(int(h) for h in self.classifier_hidden))
        positive = ("n_genes", "d_model", "n_layers", "n_heads", "n_heads_kv", "d_model_cell")
        positive += ("n_layers_cell", "n_heads_cell", "n_heads_kv_cell", "mlp_ratio", "expr_encoder_layers")
        positive += ("n_neighbors", "max_len")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer, got {value!r}"
                raise ValueError(msg)
        for width, heads, heads_kv in (
            ("d_model", "n_heads", "n_heads_kv"),
            ("d_model_cell", "n_heads_cell", "n_heads_kv_cell"),
        ):
            d, h, hkv = getattr(self, width), getattr(self, heads), getattr(self, heads_kv)
            if d % h:
                msg = f"{width}={d} is not divisible by {heads}={h}"
                raise ValueError(msg)
            if h % hkv:
                msg = f"{heads}={h} is not divisible by {heads_kv}={hkv} (grouped-query attention)"
                raise ValueError(msg)
        check_choice("attention", self.attention, ATTENTIONS)
        check_label_classes(self.classes)
        if self.compress_dims and len(self.compress_dims) != len(self.classes):
            msg = f"compress_dims has {len(self.compress_dims)} sizes for {len(self.classes)} classes"
            raise ValueError(msg)
        if any(d < 1 for d in self.compress_dims + self.classifier_hidden):
            msg = f"compress_dims and classifier_hidden must be positive, got {self.compress_dims!r}"
            raise ValueError(msg)
        if self.layer_norm_eps <= 0:
            msg = f"layer_norm_eps must be positive, got {self.layer_norm_eps!r}"
            raise ValueError(msg)

    family = FAMILY

    @property
    def d_head(self) -> int:
        """Gene-transformer head size (what GRN extraction uses)."""
        return self.d_model // self.n_heads

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def classifier_input(self, i: int) -> int:
        """Width the classifier of class ``i`` reads: its compressed size, else the cell width."""
        return self.compress_dims[i] if self.compress_dims else self.d_model_cell

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> V2Config:
        """A named size (tiny, small, medium, large) with any field overridden; ``n_genes`` is required."""
        if name not in PRESETS:
            msg = f"unknown scPRINT-2 preset {name!r}; choose one of {sorted(PRESETS)}"
            raise ValueError(msg)
        values: dict[str, Any] = {**PRESETS[name], "preset_name": name, **overrides}
        if "n_genes" not in values:
            msg = f"preset {name!r} needs n_genes (the size of the gene vocabulary)"
            raise ValueError(msg)
        return cls(**values)

    def replace(self, **changes: Any) -> V2Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain python values (JSON and ``torch.load(weights_only=True)`` safe)."""
        out = dataclasses.asdict(self)
        out["classes"] = [c.to_dict() for c in self.classes]
        out["compress_dims"] = list(self.compress_dims)
        out["classifier_hidden"] = list(self.classifier_hidden)
        out["family"] = FAMILY
        return out
