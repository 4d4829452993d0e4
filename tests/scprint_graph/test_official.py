"""Official scPRINT checkpoints: a tiny file in the scPRINT 1.6.4 Lightning layout, and a reference forward
written from scPRINT's source (encoders, flash-attention blocks with a carried residual, decoders)."""

import math
import sys
import types
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scprint_graph import keys
from scprint_graph.official import load_official_checkpoint, official_name

D, HEADS, LAYERS, N_GENES = 16, 2, 2, 30
CLASSES = {"cell_type_ontology_term_id": 3, "sex_ontology_term_id": 2}
GENES = [f"ENSG{i:011d}" for i in range(N_GENES)]


def official_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Tensors named and shaped as scPRINT 1.6.4's scPrint module (layers_cls=[], 2-layer encoders)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {
        "gene_encoder.embedding.weight": (N_GENES, D),
        "pos_encoder.pe": (N_GENES, 1, D),
        "class_encoder.embedding.weight": (1 + len(CLASSES), D),
        "transformer.norm.weight": (D,),
        "transformer.norm.bias": (D,),
        "expr_decoder.pred_var_zero.weight": (3, D),
        "expr_decoder.pred_var_zero.bias": (3,),
        "grad_reverse_discriminator_loss.out_layer.weight": (5, D),
    }
    for enc in ("expr_encoder", "depth_encoder"):
        shapes |= {f"{enc}.encoder.0.weight": (D, 1), f"{enc}.encoder.0.bias": (D,)}
        shapes |= {f"{enc}.encoder.1.weight": (D,), f"{enc}.encoder.1.bias": (D,)}
        shapes |= {f"{enc}.encoder.4.weight": (D, D), f"{enc}.encoder.4.bias": (D,)}
    for i in range(LAYERS):
        b = f"transformer.blocks.{i}"
        shapes |= {f"{b}.norm1.weight": (D,), f"{b}.norm1.bias": (D,), f"{b}.norm2.weight": (D,)}
        shapes |= {
            f"{b}.norm2.bias": (D,),
            f"{b}.mixer.Wqkv.weight": (3 * D, D),
            f"{b}.mixer.Wqkv.bias": (3 * D,),
        }
        shapes |= {f"{b}.mixer.out_proj.weight": (D, D), f"{b}.mixer.out_proj.bias": (D,)}
        shapes |= {f"{b}.mlp.fc1.weight": (4 * D, D), f"{b}.mlp.fc1.bias": (4 * D,)}
        shapes |= {f"{b}.mlp.fc2.weight": (D, 4 * D), f"{b}.mlp.fc2.bias": (D,)}
    for j in (0, 4):
        shapes |= {f"expr_decoder.fc.{j}.weight": (D, D), f"expr_decoder.fc.{j}.bias": (D,)}
    for j in (1, 5):
        shapes |= {f"expr_decoder.fc.{j}.weight": (D,), f"expr_decoder.fc.{j}.bias": (D,)}
    for name, n in CLASSES.items():
        shapes |= {
            f"cls_decoders.{name}.out_layer.weight": (n, D),
            f"cls_decoders.{name}.out_layer.bias": (n,),
        }
    state = {k: torch.randn(s, generator=g) * 0.3 for k, s in shapes.items()}
    for k in state:
        if any(part in k for part in ("norm1.weight", "norm2.weight", "norm.weight", "encoder.1.weight")):
            state[k] = 1 + state[k] * 0.1
    return state


class _LightningAttributeDict(dict):
    pass


class _ModelCheckpointCallback:
    def __init__(self):
        self.best_model_score = np.float64(0.25)


@contextmanager
def fake_lightning():
    """Make a `lightning` package importable only while pickling, as Lightning would have written it."""
    names = ["lightning", "lightning.fabric", "lightning.fabric.utilities", "lightning.fabric.utilities.data"]
    modules = {name: types.ModuleType(name) for name in names}
    callbacks = types.ModuleType("lightning.pytorch.callbacks")
    _LightningAttributeDict.__module__ = "lightning.fabric.utilities.data"
    _LightningAttributeDict.__qualname__ = _LightningAttributeDict.__name__ = "AttributeDict"
    _ModelCheckpointCallback.__module__ = "lightning.pytorch.callbacks"
    _ModelCheckpointCallback.__qualname__ = _ModelCheckpointCallback.__name__ = "ModelCheckpoint"
    modules["lightning.fabric.utilities.data"].AttributeDict = _LightningAttributeDict
    callbacks.ModelCheckpoint = _ModelCheckpointCallback
    modules["lightning.pytorch"] = types.ModuleType("lightning.pytorch")
    modules["lightning.pytorch.callbacks"] = callbacks
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in modules:
            del sys.modules[name]


def hyper_parameters():
    return _LightningAttributeDict(
        genes=GENES,
        d_model=D,
        nhead=HEADS,
        nlayers=LAYERS,
        normalization="sum",
        classes=CLASSES,
        labels_hierarchy={"cell_type_ontology_term_id": {3: [0, 1]}},
        label_decoders={
            "cell_type_ontology_term_id": {
                0: "CL:0000084",
                1: "CL:0000236",
                2: "CL:0000576",
                3: "CL:0000542",
            },
            "sex_ontology_term_id": {0: "PATO:0000383", 1: "PATO:0000384"},
        },
        layers_cls=[],
        gene_pos_enc=list(range(N_GENES)),
        precpt_gene_emb=None,
        transformer="flash",
        dropout=0.1,
        n_input_bins=np.int64(0),
    )


def write_official(path, state):
    with fake_lightning():
        payload = {
            "epoch": 3,
            "pytorch-lightning_version": "2.3.0",
            "hyper_parameters": hyper_parameters(),
            "state_dict": state,
            "callbacks": {"ModelCheckpoint": _ModelCheckpointCallback()},
        }
        torch.save(payload, path)
    assert "lightning" not in sys.modules
    return path


def reference_forward(sd, genes, expression, depth):
    """scPRINT 1.6.4's forward (eval mode), written against the official tensor names."""
    n_cells, n_ctx = genes.shape

    def lin(x, p):
        return x @ sd[p + ".weight"].T + sd[p + ".bias"]

    def ln(x, p, eps):
        return F.layer_norm(x, (x.shape[-1],), sd[p + ".weight"], sd[p + ".bias"], eps)

    def value_encoder(x, p):
        h = lin(x.clamp(0, 100_000).unsqueeze(-1), p + ".encoder.0")
        return lin(F.relu(ln(h, p + ".encoder.1", 1e-5)), p + ".encoder.4")

    enc = sd["gene_encoder.embedding.weight"][genes]
    enc = enc + value_encoder(expression / expression.sum(1).unsqueeze(1), "expr_encoder")
    enc = enc + torch.index_select(sd["pos_encoder.pe"], 0, genes.view(-1)).view(n_cells, n_ctx, -1)
    cell_embs = sd["class_encoder.embedding.weight"][None].expand(n_cells, -1, -1)
    depth_encoded = value_encoder(torch.log2(1 + depth), "depth_encoder").unsqueeze(1)
    cell_embs = torch.cat((cell_embs[:, :1, :], depth_encoded, cell_embs[:, 1:, :]), dim=1)
    hidden, residual = torch.cat([cell_embs, enc], dim=1), None
    d_head = D // HEADS
    for i in range(LAYERS):
        b = f"transformer.blocks.{i}"
        residual = hidden + residual if residual is not None else hidden
        qkv = lin(ln(residual, b + ".norm1", 1e-6), b + ".mixer.Wqkv")
        qkv = qkv.view(n_cells, -1, 3, HEADS, d_head)  # "... (three h d) -> ... three h d"
        q, k, v = qkv.unbind(2)
        scores = torch.einsum("bthd,bshd->bhts", q, k * (1.0 / math.sqrt(d_head)))
        context = torch.einsum("bhts,bshd->bthd", torch.softmax(scores, dim=-1), v)
        hidden = lin(context.reshape(n_cells, -1, D), b + ".mixer.out_proj")
        residual = hidden + residual
        hidden = lin(F.gelu(lin(ln(residual, b + ".norm2", 1e-6), b + ".mlp.fc1")), b + ".mlp.fc2")
    out = ln(hidden + residual, "transformer.norm", 1e-6)
    n_special = 2 + len(CLASSES)
    x = F.leaky_relu(ln(lin(out[:, n_special:], "expr_decoder.fc.0"), "expr_decoder.fc.1", 1e-5))
    x = F.leaky_relu(ln(lin(x, "expr_decoder.fc.4"), "expr_decoder.fc.5", 1e-5))
    pred, var, zero_logits = lin(x, "expr_decoder.pred_var_zero").split(1, dim=-1)
    mean = F.softmax(pred.squeeze(-1), dim=-1) * expression.sum(1).unsqueeze(1)
    disp = torch.exp(torch.clamp(var.squeeze(-1), max=15))
    logits = {name: lin(out[:, 2 + i], f"cls_decoders.{name}.out_layer") for i, name in enumerate(CLASSES)}
    return mean, disp, zero_logits.squeeze(-1), logits


def test_official_checkpoint_matches_reference_forward(tmp_path):
    state = official_state_dict()
    path = write_official(tmp_path / "small-v1.ckpt", state)
    official = load_official_checkpoint(path)
    model, config = official.model, official.model.config
    assert official.genes == GENES and len(official.sha256) == 64
    assert (config.d_model, config.n_layers, config.n_heads, config.n_genes) == (D, LAYERS, HEADS, N_GENES)
    cell_type = config.classes[0]
    assert cell_type.leaves == ("CL:0000084", "CL:0000236", "CL:0000576")
    assert cell_type.parents == ("CL:0000542",) and cell_type.parent_leaves == ((0, 1),)
    torch.testing.assert_close(model.location_encoding, state["pos_encoder.pe"][:, 0])

    g = torch.Generator().manual_seed(1)
    genes = torch.stack([torch.randperm(N_GENES, generator=g)[:12] for _ in range(3)])
    expression = torch.poisson(torch.rand(3, 12, generator=g) * 5) + 1
    depth = expression.sum(1) * 4
    with torch.no_grad():
        out = model({keys.GENES: genes, keys.EXPRESSION: expression, keys.DEPTH: depth})
        mean, disp, zero_logits, logits = reference_forward(state, genes, expression, depth)
    torch.testing.assert_close(out.zinb.mean, mean, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.zinb.theta, disp, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.zinb.zero_logit, zero_logits, atol=1e-5, rtol=1e-4)
    for name in CLASSES:
        torch.testing.assert_close(out.class_logits[name], logits[name], atol=1e-5, rtol=1e-4)


def test_missing_and_misshaped_official_tensors_are_named(tmp_path):
    state = official_state_dict()
    del state["transformer.blocks.1.mlp.fc2.weight"]
    state["expr_decoder.pred_var_zero.bias"] = torch.zeros(4)
    with pytest.raises(ValueError, match=r"transformer\.blocks\.1\.mlp\.fc2\.weight") as info:
        load_official_checkpoint(write_official(tmp_path / "broken.ckpt", state))
    assert "expr_decoder.pred_var_zero.bias" in str(info.value) and "(4,)" in str(info.value)


def test_unknown_official_tensor_is_named(tmp_path):
    state = official_state_dict()
    state["mystery_head.weight"] = torch.zeros(2)
    with pytest.raises(ValueError, match=r"mystery_head\.weight"):
        load_official_checkpoint(write_official(tmp_path / "odd.ckpt", state))


def test_unsupported_variant_and_not_a_checkpoint(tmp_path):
    state = official_state_dict()
    with fake_lightning():
        hparams = hyper_parameters()
        hparams["attn_bias"] = "sparse"
        torch.save({"hyper_parameters": hparams, "state_dict": state}, tmp_path / "bias.ckpt")
    with pytest.raises(ValueError, match="attn_bias='sparse'"):
        load_official_checkpoint(tmp_path / "bias.ckpt")
    torch.save({"weights": state}, tmp_path / "plain.ckpt")
    with pytest.raises(ValueError, match="not a Lightning checkpoint"):
        load_official_checkpoint(tmp_path / "plain.ckpt")


def test_official_names_round_trip():
    assert official_name("blocks.3.attn.qkv.bias") == "transformer.blocks.3.mixer.Wqkv.bias"
    assert official_name("label_decoders.sex.out.weight") == "cls_decoders.sex.out_layer.weight"
    assert official_name("location_encoding") == "pos_encoder.pe"


def test_convert_official_command_writes_our_format(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app
    from scprint_graph.checkpoint import load_checkpoint
    from scprint_graph.official import load_any_checkpoint

    official_path = write_official(tmp_path / "small-v1.ckpt", official_state_dict())
    out = tmp_path / "ours.ckpt"
    result = CliRunner().invoke(app, ["convert-official", "--ckpt", str(official_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    converted = load_checkpoint(out, genes=GENES)
    assert converted.extra["source_file"] == "small-v1.ckpt"
    direct = load_any_checkpoint(official_path)
    for name, tensor in direct.model.state_dict().items():
        torch.testing.assert_close(converted.model.state_dict()[name], tensor)
    assert load_any_checkpoint(out).genes == GENES


def test_classifier_size_follows_the_weights(tmp_path, caplog):
    state = official_state_dict()
    state["cls_decoders.sex_ontology_term_id.out_layer.weight"] = torch.randn(3, D)
    state["cls_decoders.sex_ontology_term_id.out_layer.bias"] = torch.randn(3)
    state["cls_decoders.cell_type_ontology_term_id.out_layer.weight"] = torch.randn(1, D)
    state["cls_decoders.cell_type_ontology_term_id.out_layer.bias"] = torch.randn(1)
    with caplog.at_level("WARNING"):
        config = load_official_checkpoint(write_official(tmp_path / "resized.ckpt", state)).model.config
    sex, cell_type = config.classes[1], config.classes[0]
    assert sex.leaves == ("PATO:0000383", "PATO:0000384", "sex_ontology_term_id_2")
    assert cell_type.leaves == ("CL:0000084",) and cell_type.parents == ()
    assert "hierarchy dropped" in caplog.text
