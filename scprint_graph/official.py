"""Load the official scPRINT v1 checkpoints (``small-v1.ckpt``, ``medium-v1.5.ckpt``, ``large-v1.ckpt``).

These are PyTorch Lightning files: ``{"hyper_parameters": {...}, "state_dict": {...}, ...}`` written by
``scprint.model.scPrint`` (scPRINT 1.6.4 layout). They are read on the CPU without importing scprint or
lightning: ``torch.load(weights_only=True)``, where any non-torch class the pickle names (e.g. lightning's
``AttributeDict``) is replaced by an inert stand-in, so no code from the file ever runs.

Architecture correspondence (checked against scPRINT 1.6.4 ``model.py``, ``encoders.py``, ``decoders.py``,
``flash_attn/``): tokens are ``[cell, depth, class_1..n, genes]`` (scPRINT's ``class_encoder`` holds the cell
and class embeddings and the depth token is inserted at position 1); gene token = embedding + expression MLP
+ location ``pe``; flash-attention blocks are pre-LayerNorm (eps 1e-6) with exact GELU, fused QKV laid out as
``(three, heads, d_head)``, softmax scale 1/sqrt(d_head) and a final LayerNorm. scPRINT's block form
"dropout -> add -> LN -> MHA" with a carried residual equals x + attn(ln(x)) at inference.

The key map (official name -> ours), applied by :func:`map_official_state_dict`:

=============================================  ============================================
``gene_encoder.embedding.weight``              ``gene_embedding.weight``
``pos_encoder.pe`` (n_genes, 1, d)             ``location_encoding`` (n_genes, d)
``expr_encoder.encoder.{0,1,4}.*``             ``expression_encoder.layers.{0,1,4}.*``
``depth_encoder.encoder.{0,1,4}.*``            ``depth_encoder.layers.{0,1,4}.*``
``class_encoder.embedding.weight``             ``special_embedding.weight``
``transformer.blocks.{i}.norm1.*``             ``blocks.{i}.ln_1.*``
``transformer.blocks.{i}.mixer.Wqkv.*``        ``blocks.{i}.attn.qkv.*``
``transformer.blocks.{i}.mixer.out_proj.*``    ``blocks.{i}.attn.proj.*``
``transformer.blocks.{i}.norm2.*``             ``blocks.{i}.ln_2.*``
``transformer.blocks.{i}.mlp.fc1.*``           ``blocks.{i}.mlp.fc.*``
``transformer.blocks.{i}.mlp.fc2.*``           ``blocks.{i}.mlp.proj.*``
``transformer.norm.*``                         ``ln_f.*``
``expr_decoder.fc.{0,1,4,5}.*``                ``expression_decoder.fc.{0,1,4,5}.*``
``expr_decoder.pred_var_zero.*``               ``expression_decoder.out.*``
``cls_decoders.<class>.decoder.{j}.*``         ``label_decoders.<class>.hidden.{j}.*``
``cls_decoders.<class>.out_layer.*``           ``label_decoders.<class>.out.*``
``mvc_decoder.gene2query.*``                   ``mvc_decoder.gene2query.*``
``mvc_decoder.norm.*``                         ``mvc_decoder.norm.*``
``mvc_decoder.pred_var_zero.weight``           ``mvc_decoder.out.weight``
=============================================  ============================================

The MVC decoder (``mvc_decoder: "inner product"``, the official configs' choice) is loaded and runs with
``model(batch, with_mvc=True)``. Dropped on purpose (training-only): ``grad_reverse_discriminator_loss.*``.
Any other official key is an error naming it, and so is any hyper-parameter value the model does not
implement (see :data:`SUPPORTED_HPARAMS`).
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from scprint_graph.checkpoint import (
    Checkpoint,
    CheckpointError,
    build_empty_model,
    check_finite,
    checkpoint_from_payload,
    file_sha256,
    is_project_checkpoint,
    load_weights_checked,
    read_payload,
    refused_globals,
)
from scprint_graph.config import LabelClass, ModelConfig
from scprint_graph.model import ScPrintModel

logger = logging.getLogger(__name__)

# (official key template, our key template); {i} {j}: indices, {p}: weight|bias, {c}: label class name.
KEY_MAP: tuple[tuple[str, str], ...] = (
    ("gene_encoder.embedding.weight", "gene_embedding.weight"),
    ("pos_encoder.pe", "location_encoding"),
    ("expr_encoder.encoder.{j}.{p}", "expression_encoder.layers.{j}.{p}"),
    ("depth_encoder.encoder.{j}.{p}", "depth_encoder.layers.{j}.{p}"),
    ("class_encoder.embedding.weight", "special_embedding.weight"),
    ("transformer.blocks.{i}.norm1.{p}", "blocks.{i}.ln_1.{p}"),
    ("transformer.blocks.{i}.mixer.Wqkv.{p}", "blocks.{i}.attn.qkv.{p}"),
    ("transformer.blocks.{i}.mixer.out_proj.{p}", "blocks.{i}.attn.proj.{p}"),
    ("transformer.blocks.{i}.norm2.{p}", "blocks.{i}.ln_2.{p}"),
    ("transformer.blocks.{i}.mlp.fc1.{p}", "blocks.{i}.mlp.fc.{p}"),
    ("transformer.blocks.{i}.mlp.fc2.{p}", "blocks.{i}.mlp.proj.{p}"),
    ("transformer.norm.{p}", "ln_f.{p}"),
    ("expr_decoder.fc.{j}.{p}", "expression_decoder.fc.{j}.{p}"),
    ("expr_decoder.pred_var_zero.{p}", "expression_decoder.out.{p}"),
    ("cls_decoders.{c}.decoder.{j}.{p}", "label_decoders.{c}.hidden.{j}.{p}"),
    ("cls_decoders.{c}.out_layer.{p}", "label_decoders.{c}.out.{p}"),
    ("mvc_decoder.gene2query.{p}", "mvc_decoder.gene2query.{p}"),
    ("mvc_decoder.norm.{p}", "mvc_decoder.norm.{p}"),
    ("mvc_decoder.pred_var_zero.weight", "mvc_decoder.out.weight"),
)
_FIELDS = {"i": r"\d+", "j": r"\d+", "p": "weight|bias", "c": r"[^.]+"}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, regex in _FIELDS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{regex})")
    return re.compile(f"^{pattern}$")


def _rename(key: str, direction: int) -> str | None:
    """Map one key official -> ours (direction 0) or ours -> official (direction 1); None if no rule."""
    for pair in KEY_MAP:
        match = _compile(pair[direction]).match(key)
        if match:
            return pair[1 - direction].format(**match.groupdict())
    return None


def official_name(our_key: str) -> str:
    """The official checkpoint's name for one of our state-dict keys (for error messages)."""
    return _rename(our_key, 1) or our_key


DROPPED_PREFIXES = ("grad_reverse_discriminator_loss.",)
# Official hyper-parameters (scPRINT 1.6.4 scPrint and FlashTransformerEncoder options) whose other values
# change the forward pass: name -> (default when absent, the values this model implements).
SUPPORTED_HPARAMS: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "transformer": ("fast", ("fast", "flash", "normal")),
    "prenorm": (True, (True,)),
    "expr_emb_style": ("continuous", ("continuous",)),
    "cell_emb_style": ("cls", ("cls",)),
    "attn_bias": ("none", ("none",)),
    "zinb": (True, (True,)),
    "expr_encoder_layers": (2, (2,)),
    "num_heads_kv": (None, (None,)),
    "domain_spec_batchnorm": ("None", ("None", None)),
    "mvc_decoder": ("None", ("None", None, "inner product")),
    "return_residual": (False, (False,)),
}
# Top-level packages whose globals a Lightning checkpoint may name; they are replaced by inert stand-ins.
STAND_IN_PACKAGES = frozenset(
    {
        "lightning",
        "lightning_fabric",
        "lightning_utilities",
        "pytorch_lightning",
        "torchmetrics",
        "numpy",
        "scprint",
        "scdataloader",
        "collections",
        "pathlib",
        "datetime",
        "omegaconf",
    }
)
# numpy globals a pickle may name to rebuild arrays and scalars (data only, no code)
NUMPY_GLOBALS = {"_reconstruct", "ndarray", "dtype", "scalar"}


@dataclass
class OfficialModel:
    """An official checkpoint converted to our model, with its vocabulary (embedding-row order)."""

    model: ScPrintModel
    genes: list[str]
    sha256: str
    hyper_parameters: dict[str, Any]


# --- safe reading ---------------------------------------------------------------------------------------
class _StandInDict:
    """Replaces dict subclasses such as lightning's ``AttributeDict``: unpickles as a plain dict."""

    def __new__(cls, *args: Any, **kwargs: Any) -> dict:  # type: ignore[misc]
        return dict(*args)


class _Opaque:
    """Inert stand-in for any other class named in the pickle: keeps its arguments and state."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Opaque:
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _stand_in(qualified_name: str) -> Any:
    """What a global the pickle names becomes: numpy's array/scalar rebuilders, or an inert stand-in."""
    module, _, name = qualified_name.rpartition(".")
    if module.split(".")[0] == "numpy" and (name in NUMPY_GLOBALS or module.endswith("dtypes")):
        return getattr(importlib.import_module(module), name)
    if name.endswith("Dict"):
        return type(name, (_StandInDict,), {"__module__": __name__})
    return type(name, (_Opaque,), {"__module__": __name__})


def read_lightning_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load`` a Lightning checkpoint on the CPU without running code or importing lightning.

    Globals of the packages a Lightning checkpoint may name (:data:`STAND_IN_PACKAGES`) become inert
    stand-ins; a pickle naming anything else (``os.system``, ``builtins.eval`` ...) is refused.
    """
    try:
        return read_payload(path)
    except pickle.UnpicklingError:
        pass
    unsafe = refused_globals(path)
    foreign = [name for name in unsafe if name.split(".")[0] not in STAND_IN_PACKAGES]
    if foreign:
        problem = f"refused: its pickle names code a checkpoint does not need ({', '.join(foreign[:5])})"
        raise CheckpointError(path, problem)
    logger.info("replacing %d non-torch globals of %s with stand-ins: %s", len(unsafe), path, unsafe)
    allowed: list[Any] = [(_stand_in(name), name) for name in unsafe]
    if any(name.startswith("numpy") for name in unsafe):
        # a rebuilt numpy dtype is an instance of a numpy.dtypes class the pickle never names
        allowed += [getattr(np.dtypes, n) for n in np.dtypes.__all__]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(path, f"cannot be read as a Lightning checkpoint ({first})") from None


# --- conversion -----------------------------------------------------------------------------------------
def map_official_state_dict(
    state_dict: Mapping[str, Tensor], source: str = "checkpoint"
) -> dict[str, Tensor]:
    """Rename official weights to ours (see the module table); unknown official keys are errors."""
    mapped: dict[str, Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        if key.startswith(DROPPED_PREFIXES):
            continue
        ours = _rename(key, 0)
        if ours is None:
            unknown.append(key)
        else:
            mapped[ours] = value
    if unknown:
        msg = f"{source}: official tensors with no place in the model: {sorted(unknown)}"
        raise ValueError(msg)
    if "location_encoding" in mapped and mapped["location_encoding"].ndim == 3:
        mapped["location_encoding"] = mapped["location_encoding"][:, 0, :]  # (n_genes, 1, d) -> (n_genes, d)
    return mapped


def official_genes(hparams: Mapping[str, Any]) -> list[str]:
    """The vocabulary: ``genes`` is a list, or (later versions) organism -> list, concatenated in order."""
    genes = hparams.get("genes")
    if isinstance(genes, Mapping):
        genes = [g for organism_genes in genes.values() for g in organism_genes]
    if genes is None or len(genes) == 0:
        msg = "official checkpoint has no 'genes' in its hyper_parameters"
        raise ValueError(msg)
    return [str(g) for g in genes]


def _label_classes(
    hparams: Mapping[str, Any], state_dict: Mapping[str, Tensor] | None = None
) -> tuple[LabelClass, ...]:
    """Label classes from ``classes`` (name -> leaf count), ``label_decoders`` and ``labels_hierarchy``.

    scPRINT numbers parent labels from the hparams leaf count (``classes[name]``) upwards. When the saved
    classifier has another size than ``classes`` says (scPRINT resizes it in ``on_load_checkpoint``), the
    weights win; a hierarchy that no longer fits them is dropped, with a warning.
    """
    decoders = hparams.get("label_decoders") or {}
    hierarchy = hparams.get("labels_hierarchy") or {}
    out = []
    for name, n_declared in (hparams.get("classes") or {}).items():
        n_declared = int(n_declared)
        bias = (state_dict or {}).get(f"cls_decoders.{name}.out_layer.bias")
        n_leaves = int(bias.shape[0]) if bias is not None else n_declared
        names = {int(k): str(v) for k, v in (decoders.get(name) or {}).items()}
        by_id = {int(k): [int(i) for i in v] for k, v in (hierarchy.get(name) or {}).items()}
        parent_ids = sorted(by_id)
        if parent_ids != list(range(n_declared, n_declared + len(parent_ids))):
            msg = (
                f"class {name!r}: parent label ids {parent_ids[:5]}... do not follow the {n_declared} leaves"
            )
            raise ValueError(msg)
        if n_leaves != n_declared:
            logger.warning(
                "class %r: the checkpoint's classifier has %d outputs, hparams say %d",
                name,
                n_leaves,
                n_declared,
            )
            if any(i >= n_leaves for leaves in by_id.values() for i in leaves):
                logger.warning(
                    "class %r: label hierarchy dropped (it names leaves beyond the classifier)", name
                )
                parent_ids = []
        out.append(
            LabelClass(
                name=name,
                leaves=tuple(names.get(i, f"{name}_{i}") for i in range(n_leaves)),
                parents=tuple(names.get(p, f"{name}_{p}") for p in parent_ids),
                parent_leaves=tuple(tuple(by_id[p]) for p in parent_ids),
            )
        )
    return tuple(out)


def config_from_hparams(
    hparams: Mapping[str, Any], state_dict: Mapping[str, Tensor] | None = None, **overrides: Any
) -> ModelConfig:
    """Our :class:`ModelConfig` for an official checkpoint; unsupported variants are refused by name.

    ``state_dict`` (official names), when given, decides the classifier sizes (see ``_label_classes``).
    """
    for name, (default, supported) in SUPPORTED_HPARAMS.items():
        found = hparams.get(name, default)
        if found not in supported:
            allowed = " or ".join(repr(v) for v in supported)
            msg = f"official checkpoint uses {name}={found!r}, which this model does not implement"
            msg += f" (only {allowed})"
            raise ValueError(msg)
    mvc = hparams.get("mvc_decoder", "None")
    values: dict[str, Any] = {
        "n_genes": len(official_genes(hparams)),
        "d_model": int(hparams.get("d_model", 512)),
        "n_layers": int(hparams.get("nlayers", 6)),
        "n_heads": int(hparams.get("nhead", 8)),
        "mlp_ratio": int(hparams.get("mlp_ratio", 4)),
        "dropout": float(hparams.get("dropout", 0.2)),
        "normalization": str(hparams.get("normalization", "sum")),
        "classes": _label_classes(hparams, state_dict),
        "classifier_hidden": tuple(int(h) for h in hparams.get("layers_cls") or ()),
        "use_locations": hparams.get("gene_pos_enc") is not None,
        "frozen_gene_embeddings": hparams.get("precpt_gene_emb") is not None
        and bool(hparams.get("freeze_embeddings", True)),
        "mvc_decoder": mvc if mvc not in ("None", None) else None,
    }
    values.update(overrides)
    return ModelConfig(**values)


def load_official_checkpoint(path: str | os.PathLike, **config_overrides: Any) -> OfficialModel:
    """Read an official scPRINT Lightning checkpoint into our model (CPU, eval mode).

    ``config_overrides`` change runtime fields such as ``attention`` or ``max_len``.
    """
    path = _existing(path)
    payload = read_lightning_checkpoint(path)
    from scprint_graph.v2.official import is_v2_payload  # v2 imports this module

    if is_v2_payload(payload):
        msg = f"{path.name} is an scPRINT-2 checkpoint: use it as it is (no conversion needed)"
        raise ValueError(msg)
    return _official_from_payload(payload, path, **config_overrides)


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        msg = f"checkpoint file not found: {path}"
        raise FileNotFoundError(msg)
    return path


def _official_from_payload(payload: Any, path: Path, **config_overrides: Any) -> OfficialModel:
    if not isinstance(payload, Mapping) or "state_dict" not in payload or "hyper_parameters" not in payload:
        found = sorted(map(str, payload))[:8] if isinstance(payload, Mapping) else type(payload).__name__
        problem = f"not a Lightning checkpoint with hyper_parameters and state_dict (found {found})"
        raise CheckpointError(path, problem)
    if not isinstance(payload["state_dict"], Mapping) or not isinstance(payload["hyper_parameters"], Mapping):
        raise CheckpointError(path, "its hyper_parameters and state_dict must be dicts")
    hparams = dict(payload["hyper_parameters"])
    try:
        config = config_from_hparams(hparams, payload["state_dict"], **config_overrides)
        state = map_official_state_dict(payload["state_dict"], str(path))
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise CheckpointError(path, str(err).removeprefix(f"{path}: ")) from None
    check_finite(state, str(path), describe=official_name)
    model = build_empty_model(config)
    load_weights_checked(model, state, str(path), describe=lambda key: f"{official_name(key)} (ours: {key})")
    model.eval()
    logger.info(
        "loaded official scPRINT %s: d_model=%d, %d layers, %d heads, %d genes, classes %s",
        path.name,
        config.d_model,
        config.n_layers,
        config.n_heads,
        config.n_genes,
        list(config.class_names),
    )
    return OfficialModel(
        model=model, genes=official_genes(hparams), sha256=file_sha256(path), hyper_parameters=hparams
    )


def load_any_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load our checkpoint format, an official scPRINT one (converted) or an official scPRINT-2 one
    (``scprint_graph.v2``; its model has ``family == "scprint2"``), reading the file once."""
    path = _existing(path)
    payload = read_lightning_checkpoint(path)
    if isinstance(payload, Mapping) and "format" in payload and not is_project_checkpoint(payload):
        found = payload.get("format")
        raise CheckpointError(path, f"unknown checkpoint format {found!r}")
    if is_project_checkpoint(payload):
        return checkpoint_from_payload(payload, path)
    from scprint_graph.v2.official import is_v2_payload, v2_from_payload  # v2 imports this module

    if is_v2_payload(payload):
        return v2_from_payload(payload, path)
    official = _official_from_payload(payload, path)
    extra = {
        "source": "official scPRINT checkpoint",
        "source_file": path.name,
        "source_sha256": official.sha256,
    }
    return Checkpoint(model=official.model, genes=official.genes, extra=extra, sha256=official.sha256)
