"""Load the official scPRINT-2 checkpoints (``small-v2.ckpt`` and larger) without scprint2 or lightning.

They are Lightning files written by ``scprint2.scPRINT2`` (1.0.3): ``{"hyper_parameters", "state_dict"}``.
Reading is :func:`scprint_graph.official.read_lightning_checkpoint` (``weights_only``; any non-torch class
in the pickle becomes an inert stand-in). The vocabulary is ``hyper_parameters["genes"]`` (organism ->
Ensembl ids) concatenated in ``hyper_parameters["organisms"]`` order, as ``scPRINT2.genes``.

The key map (official -> ours; ``{i}`` a layer, ``{c}`` a class, ``T`` the transformer: official
``transformer`` is our ``gene_transformer``, ``cell_transformer`` keeps its name):

=============================================  ============================================
``gene_encoder.0.embeddings.weight``           ``gene_embedding.weight`` (frozen)
``gene_encoder.{1,3}.*`` (adapter)             ``gene_adapter.{0,2}.*``
``pos_encoder.pe`` (n_genes, 1, d)             ``location_encoding`` (n_genes, d)
``expr_encoder.self_layers.*``                 ``expression_encoder.self_mlp.*``
``expr_encoder.neighbors_layers.*``            ``expression_encoder.neighbor_mlp.*``
``expr_encoder.shared_layers.*``               ``expression_encoder.shared_mlp.*``
``class_encoder.embedding.weight``             ``cell_token_embedding.weight``
``T.blocks.{i}.norm{1,2,3}.*``                 ``T.blocks.{i}.ln_{1,2,3}.*``
``T.blocks.{i}.mixer.Wqkv.*`` / ``out_proj``   ``T.blocks.{i}.attn.qkv.*`` / ``proj``
``T.blocks.{i}.cross_attn.Wq/Wkv/out_proj.*``  ``T.blocks.{i}.cross_attn.q/kv/proj.*``
``T.blocks.{i}.mlp.fc1/fc2.*``                 ``T.blocks.{i}.mlp.fc/proj.*``
``T.norm.*``                                   ``T.ln_f.*``
``expr_decoder.fc.*`` / ``pred_var_zero.*``    ``expression_decoder.fc.*`` / ``out.*``
``compressor.{c}.*``                           ``compressors.{c}.*`` (VAE or FSQ, same sub-names)
``cls_decoders.{c}.decoder.*`` / ``out_layer``  ``label_decoders.{c}.hidden.*`` / ``out.*``
=============================================  ============================================

Dropped on purpose: the training-only adversarial heads (``adv_*_decoder.*``), ``mvc_decoder.*``, and the
compressors of classes the model does not predict. Any other official key is an error naming it; so is a
hyper-parameter value this implementation does not reproduce (one line naming the key and the value).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from scprint_graph.checkpoint import Checkpoint, file_sha256, load_weights_checked
from scprint_graph.official import _label_classes, read_lightning_checkpoint
from scprint_graph.v2.config import FAMILY, V2Config
from scprint_graph.v2.model import ScPrint2Model

logger = logging.getLogger(__name__)

_BLOCK = r"(?P<t>transformer|cell_transformer)\.blocks\.(?P<i>\d+)\."
# (official regex, our template), first match wins; {t} is renamed by _TRANSFORMERS.
KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"gene_encoder\.0\.embeddings?\.weight", "gene_embedding.weight"),
    (r"gene_encoder\.embeddings?\.weight", "gene_embedding.weight"),
    (r"gene_encoder\.1\.(?P<p>weight|bias)", "gene_adapter.0.{p}"),
    (r"gene_encoder\.3\.(?P<p>weight|bias)", "gene_adapter.2.{p}"),
    (r"pos_encoder\.pe", "location_encoding"),
    (r"expr_encoder\.self_layers\.(?P<r>.+)", "expression_encoder.self_mlp.{r}"),
    (r"expr_encoder\.neighbors_layers\.(?P<r>.+)", "expression_encoder.neighbor_mlp.{r}"),
    (r"expr_encoder\.shared_layers\.(?P<r>.+)", "expression_encoder.shared_mlp.{r}"),
    (r"class_encoder\.embedding\.weight", "cell_token_embedding.weight"),
    (_BLOCK + r"norm(?P<n>[123])\.(?P<p>weight|bias)", "{t}.blocks.{i}.ln_{n}.{p}"),
    (_BLOCK + r"mixer\.Wqkv\.(?P<p>weight|bias)", "{t}.blocks.{i}.attn.qkv.{p}"),
    (_BLOCK + r"mixer\.out_proj\.(?P<p>weight|bias)", "{t}.blocks.{i}.attn.proj.{p}"),
    (_BLOCK + r"cross_attn\.Wq\.(?P<p>weight|bias)", "{t}.blocks.{i}.cross_attn.q.{p}"),
    (_BLOCK + r"cross_attn\.Wkv\.(?P<p>weight|bias)", "{t}.blocks.{i}.cross_attn.kv.{p}"),
    (_BLOCK + r"cross_attn\.out_proj\.(?P<p>weight|bias)", "{t}.blocks.{i}.cross_attn.proj.{p}"),
    (_BLOCK + r"mlp\.fc1\.(?P<p>weight|bias)", "{t}.blocks.{i}.mlp.fc.{p}"),
    (_BLOCK + r"mlp\.fc2\.(?P<p>weight|bias)", "{t}.blocks.{i}.mlp.proj.{p}"),
    (r"(?P<t>transformer|cell_transformer)\.norm\.(?P<p>weight|bias)", "{t}.ln_f.{p}"),
    (r"expr_decoder\.fc\.(?P<r>.+)", "expression_decoder.fc.{r}"),
    (r"expr_decoder\.pred_var_zero\.(?P<p>weight|bias)", "expression_decoder.out.{p}"),
    (r"compressor\.(?P<c>[^.]+)\.(?P<r>.+)", "compressors.{c}.{r}"),
    (r"cls_decoders\.(?P<c>[^.]+)\.decoder\.(?P<r>.+)", "label_decoders.{c}.hidden.{r}"),
    (r"cls_decoders\.(?P<c>[^.]+)\.out_layer\.(?P<p>weight|bias)", "label_decoders.{c}.out.{p}"),
)
_COMPILED = tuple((re.compile(f"^{pattern}$"), template) for pattern, template in KEY_MAP)
_TRANSFORMERS = {"transformer": "gene_transformer", "cell_transformer": "cell_transformer"}
DROPPED_PREFIXES = ("adv_assay_decoder.", "adv_organism_decoder.", "mvc_decoder.")

# hyper-parameter -> (its default in scPRINT2.__init__, the values reproduced here)
SUPPORTED: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "expr_emb_style": ("continuous", ("metacell",)),
    "cell_specific_blocks": (False, (True,)),
    "normalization": ("sum", ("log",)),
    "attention": ("normal", ("normal", "flash", "legacy-flash")),
    "attn_bias": (None, (None, "none")),
    "use_metacell_token": (False, (False,)),
    "mvc_decoder": (None, (None,)),
    "splicing_head": (False, (False,)),
    "zinb": (True, (True,)),
    "fused_mlp": (False, (False, None)),
}


def map_v2_state_dict(state_dict: Mapping[str, Tensor], keep_classes, source: str) -> dict[str, Tensor]:
    """Rename official scPRINT-2 tensors to ours (module table); unknown official keys are errors."""
    mapped, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith(DROPPED_PREFIXES):
            continue
        for pattern, template in _COMPILED:
            match = pattern.match(key)
            if match:
                fields = match.groupdict()
                if "t" in fields:
                    fields["t"] = _TRANSFORMERS[fields["t"]]
                ours = template.format(**fields)
                break
        else:
            unknown.append(key)
            continue
        if key.startswith("compressor.") and fields["c"] not in keep_classes:
            continue  # a compressor of a class the checkpoint does not predict: never used
        mapped[ours] = value
    if unknown:
        msg = f"{source}: official scPRINT-2 tensors with no place in the model: {sorted(unknown)}"
        raise ValueError(msg)
    if "location_encoding" in mapped and mapped["location_encoding"].ndim == 3:
        mapped["location_encoding"] = mapped["location_encoding"][:, 0, :]  # (n_genes, 1, d) -> (n_genes, d)
    return mapped


def is_v2_payload(payload: Any) -> bool:
    """A Lightning payload written by scprint2 (it has a cell transformer or a metacell encoder)."""
    if not isinstance(payload, Mapping) or "hyper_parameters" not in payload or "state_dict" not in payload:
        return False
    hparams = payload["hyper_parameters"]
    return (
        bool(hparams.get("cell_specific_blocks"))
        or hparams.get("expr_emb_style") == "metacell"
        or any(str(k).startswith("cell_transformer.") for k in payload["state_dict"])
    )


def v2_genes(hparams: Mapping[str, Any]) -> tuple[list[str], list[str], dict[str, tuple[int, int]]]:
    """Vocabulary, organisms and each organism's rows, as ``scPRINT2.genes`` orders them."""
    genes = hparams.get("genes")
    if not isinstance(genes, Mapping) or not genes:
        msg = "scPRINT-2 checkpoint: hyper_parameters['genes'] must map organism -> Ensembl ids"
        raise ValueError(msg)
    organisms = [str(o) for o in (hparams.get("organisms") or list(genes))]
    missing = [o for o in organisms if o not in genes]
    if missing:
        msg = f"scPRINT-2 checkpoint: organisms {missing} have no gene list in hyper_parameters['genes']"
        raise ValueError(msg)
    flat, slices = [], {}
    for organism in organisms:
        start = len(flat)
        flat += [str(g) for g in genes[organism]]
        slices[organism] = (start, len(flat))
    return flat, organisms, slices


def _check_supported(hparams: Mapping[str, Any]) -> None:
    for name, (default, supported) in SUPPORTED.items():
        value = hparams.get(name, default)
        if value not in supported:
            msg = f"scPRINT-2 checkpoint uses {name}={value!r}; supported: {list(supported)}"
            raise ValueError(msg)
    compress = hparams.get("compress_class_dim")
    if isinstance(compress, Mapping) and "default" in compress:
        msg = (
            f"scPRINT-2 checkpoint uses compress_class_dim['default']={compress['default']!r}; not supported"
        )
        raise ValueError(msg)


def v2_config_from_hparams(
    hparams: Mapping[str, Any], state_dict: Mapping[str, Tensor], **overrides: Any
) -> V2Config:
    """Our :class:`V2Config` for an official scPRINT-2 checkpoint; unsupported variants refused by name."""
    _check_supported(hparams)
    classes = _label_classes(hparams, state_dict)
    compress = hparams.get("compress_class_dim")
    dims: tuple[int, ...] = ()
    if compress is not None:
        absent = [c.name for c in classes if c.name not in compress]
        if absent:
            msg = f"scPRINT-2 checkpoint: compress_class_dim has no size for classes {absent}"
            raise ValueError(msg)
        dims = tuple(int(compress[c.name]) for c in classes)
    values: dict[str, Any] = {
        "n_genes": len(v2_genes(hparams)[0]),
        "d_model": int(hparams.get("d_model", 256)),
        "n_layers": int(hparams.get("nlayers", 8)),
        "n_heads": int(hparams.get("nhead", 4)),
        "n_heads_kv": int(hparams.get("num_heads_kv") or hparams.get("nhead", 4)),
        "d_model_cell": int(hparams.get("d_model_cell", 128)),
        "n_layers_cell": int(hparams.get("nlayers_cell", 6)),
        "n_heads_cell": int(hparams.get("nhead_cell", 4)),
        "n_heads_kv_cell": int(hparams.get("num_heads_kv_cell") or hparams.get("nhead_cell", 4)),
        "mlp_ratio": int(hparams.get("mlp_ratio", 4)),
        "classes": classes,
        "compress_dims": dims,
        "classifier_hidden": tuple(int(h) for h in hparams.get("layers_cls", [256, 128]) or ()),
        "expr_encoder_layers": int(hparams.get("expr_encoder_layers", 3)),
        "gene_adapter": bool(hparams.get("finetune_gene_emb", False)),
        "use_locations": "pos_encoder.pe" in state_dict,
    }
    values.update(overrides)
    return V2Config(**values)


def v2_from_payload(payload: Mapping[str, Any], path: str | os.PathLike, **overrides: Any) -> Checkpoint:
    """Build the model of an already-read scPRINT-2 Lightning payload (CPU, eval mode)."""
    path = Path(path)
    hparams = dict(payload["hyper_parameters"])
    config = v2_config_from_hparams(hparams, payload["state_dict"], **overrides)
    genes, organisms, slices = v2_genes(hparams)
    state = map_v2_state_dict(payload["state_dict"], set(config.class_names), str(path))
    model = ScPrint2Model(config)
    load_weights_checked(model, state, str(path))
    model.organisms, model.organism_slices = organisms, slices
    model.eval()
    sha = file_sha256(path)
    logger.info(
        "loaded official scPRINT-2 %s: gene transformer %dx%d (%d/%d heads), cell transformer %dx%d, "
        "%d genes over %d organisms",
        path.name, config.n_layers, config.d_model, config.n_heads, config.n_heads_kv,
        config.n_layers_cell, config.d_model_cell, len(genes), len(organisms),
    )  # fmt: skip
    extra = {
        "source": "official scPRINT-2 checkpoint",
        "source_file": path.name,
        "source_sha256": sha,
        "family": FAMILY,
        "organisms": organisms,
    }
    return Checkpoint(model=model, genes=genes, extra=extra, sha256=sha)


def load_v2_checkpoint(path: str | os.PathLike, **overrides: Any) -> Checkpoint:
    """Read an official scPRINT-2 checkpoint into :class:`ScPrint2Model` (``overrides``: e.g. attention)."""
    path = Path(path)
    if not path.is_file():
        msg = f"checkpoint file not found: {path}"
        raise FileNotFoundError(msg)
    payload = read_lightning_checkpoint(path)
    if not is_v2_payload(payload):
        msg = f"{path}: not an scPRINT-2 Lightning checkpoint (no cell transformer, no metacell encoder)"
        raise ValueError(msg)
    return v2_from_payload(payload, path, **overrides)


def family_of(model: torch.nn.Module) -> str:
    """``"scprint2"`` for scPRINT-2 models, ``"scprint"`` for every v1-layout model."""
    return getattr(model, "family", "scprint")
