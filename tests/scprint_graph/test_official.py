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
        "mvc_decoder.gene2query.weight": (D, D),
        "mvc_decoder.gene2query.bias": (D,),
        "mvc_decoder.norm.weight": (D,),
        "mvc_decoder.norm.bias": (D,),
        "mvc_decoder.pred_var_zero.weight": (3 * D, D),
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
        mvc_decoder="inner product",
        prenorm=True,
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


def reference_forward(sd, genes, expression, depth, mask=None):
    """scPRINT 1.6.4's forward (eval mode, do_mvc, do_class), written against the official tensor names.

    Returns a dict: ``mean``, ``disp``, ``zero_logits`` (ZINB), ``cell_embs`` (batch, n_special, d),
    ``cls`` (class -> logits), ``qkv`` (per layer, each (batch, tokens, heads, d_head) q, k, v) and
    ``mvc_mean``, ``mvc_disp``, ``mvc_zero_logits``.
    """
    n_cells, n_ctx = genes.shape

    def lin(x, p):
        return x @ sd[p + ".weight"].T + sd.get(p + ".bias", 0)

    def ln(x, p, eps):
        return F.layer_norm(x, (x.shape[-1],), sd[p + ".weight"], sd[p + ".bias"], eps)

    def value_encoder(x, p, mask=None):
        h = lin(x.clamp(0, 100_000).unsqueeze(-1), p + ".encoder.0")
        h = lin(F.relu(ln(h, p + ".encoder.1", 1e-5)), p + ".encoder.4")
        return h if mask is None else h.masked_fill(mask.unsqueeze(-1), 0)

    gene_embs = sd["gene_encoder.embedding.weight"][genes]
    enc = gene_embs + value_encoder(expression / expression.sum(1).unsqueeze(1), "expr_encoder", mask)
    enc = enc + torch.index_select(sd["pos_encoder.pe"], 0, genes.view(-1)).view(n_cells, n_ctx, -1)
    cell_embs = sd["class_encoder.embedding.weight"][None].expand(n_cells, -1, -1)
    depth_encoded = value_encoder(torch.log2(1 + depth), "depth_encoder").unsqueeze(1)
    cell_embs = torch.cat((cell_embs[:, :1, :], depth_encoded, cell_embs[:, 1:, :]), dim=1)
    hidden, residual = torch.cat([cell_embs, enc], dim=1), None
    d_head = D // HEADS
    qkvs = []
    for i in range(LAYERS):
        b = f"transformer.blocks.{i}"
        residual = hidden + residual if residual is not None else hidden
        qkv = lin(ln(residual, b + ".norm1", 1e-6), b + ".mixer.Wqkv")
        qkv = qkv.view(n_cells, -1, 3, HEADS, d_head)  # "... (three h d) -> ... three h d"
        q, k, v = qkv.unbind(2)
        qkvs.append((q, k, v))
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
    depth_mult = expression.sum(1).unsqueeze(1)
    cell_emb = out[:, :n_special].mean(1)
    query = torch.sigmoid(ln(lin(gene_embs, "mvc_decoder.gene2query"), "mvc_decoder.norm", 1e-5))
    m_pred, m_var, m_zero = lin(query, "mvc_decoder.pred_var_zero").split(D, dim=-1)
    m_pred, m_var, m_zero = (torch.bmm(t, cell_emb.unsqueeze(2)).squeeze(2) for t in (m_pred, m_var, m_zero))
    return {
        "mean": F.softmax(pred.squeeze(-1), dim=-1) * depth_mult,
        "disp": torch.exp(torch.clamp(var.squeeze(-1), max=15)),
        "zero_logits": zero_logits.squeeze(-1),
        "cell_embs": out[:, :n_special],
        "cls": {name: lin(out[:, 2 + i], f"cls_decoders.{name}.out_layer") for i, name in enumerate(CLASSES)},
        "qkv": qkvs,
        "mvc_mean": F.softmax(m_pred, dim=-1) * depth_mult,
        "mvc_disp": torch.exp(torch.clamp(m_var, max=15)),
        "mvc_zero_logits": m_zero,
    }


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def _check_every_output(model, state, batch, mask=None):
    """Our forward (capture_qk, with_mvc) against the explicit reference, output by output."""
    captured_v = []
    hooks = [
        block.attn.qkv.register_forward_hook(lambda _m, _i, out: captured_v.append(out))
        for block in model.blocks
    ]
    try:
        with torch.no_grad():
            out = model(batch, capture_qk=True, with_mvc=True)
    finally:
        for hook in hooks:
            hook.remove()
    genes, expression, depth = batch[keys.GENES], batch[keys.EXPRESSION], batch[keys.DEPTH]
    with torch.no_grad():
        ref = reference_forward(state, genes, expression, depth, mask)
    _close(out.zinb.mean, ref["mean"])
    _close(out.zinb.theta, ref["disp"])
    _close(out.zinb.zero_logit, ref["zero_logits"])
    _close(out.special_embeddings, ref["cell_embs"])
    _close(out.cell_embedding, ref["cell_embs"].mean(1))
    for name in CLASSES:
        _close(out.class_logits[name], ref["cls"][name])
    for (q, k), qkv, (ref_q, ref_k, ref_v) in zip(out.qk, captured_v, ref["qkv"], strict=True):
        _close(q, ref_q.transpose(1, 2))  # ours: (batch, heads, tokens, d_head)
        _close(k, ref_k.transpose(1, 2))
        _close(qkv.view(*qkv.shape[:2], 3, HEADS, D // HEADS)[:, :, 2], ref_v)
    _close(out.mvc.mean, ref["mvc_mean"])
    _close(out.mvc.theta, ref["mvc_disp"])
    _close(out.mvc.zero_logit, ref["mvc_zero_logits"])
    return out


def test_official_checkpoint_matches_reference_forward(tmp_path):
    """Every output (ZINB, embeddings, class logits, per-layer Q/K/V, MVC), unmasked and masked."""
    state = official_state_dict()
    path = write_official(tmp_path / "small-v1.ckpt", state)
    official = load_official_checkpoint(path)
    model, config = official.model, official.model.config
    assert official.genes == GENES and len(official.sha256) == 64
    assert (config.d_model, config.n_layers, config.n_heads, config.n_genes) == (D, LAYERS, HEADS, N_GENES)
    assert config.mvc_decoder == "inner product"
    cell_type = config.classes[0]
    assert cell_type.leaves == ("CL:0000084", "CL:0000236", "CL:0000576")
    assert cell_type.parents == ("CL:0000542",) and cell_type.parent_leaves == ((0, 1),)
    torch.testing.assert_close(model.location_encoding, state["pos_encoder.pe"][:, 0])

    g = torch.Generator().manual_seed(1)
    genes = torch.stack([torch.randperm(N_GENES, generator=g)[:12] for _ in range(3)])
    expression = torch.poisson(torch.rand(3, 12, generator=g) * 5) + 1
    batch = {keys.GENES: genes, keys.EXPRESSION: expression, keys.DEPTH: expression.sum(1) * 4}
    plain = _check_every_output(model, state, batch)
    mask = torch.rand(3, 12, generator=g) < 0.4
    assert mask.any() and not mask.all()
    masked = _check_every_output(model, state, {**batch, keys.MASK: mask}, mask)
    assert not torch.allclose(plain.zinb.mean, masked.zinb.mean)  # the mask really hides expression


def test_official_grn_on_a_given_gene_list_matches_explicit_procedure(tmp_path):
    """softmax(mean Q mean Kᵀ / √d) per head over all tokens, specials dropped, mean over heads, on a given
    list whose unexpressed genes stay in every cell's context (scPRINT's drop_unexpressed=False)."""
    import anndata as ad
    import scipy.sparse as sp

    from scprint_graph.genes import GeneVocabulary
    from scprint_graph.grn import extract_network
    from scprint_graph.grn_params import GrnParams

    state = official_state_dict()
    model = load_official_checkpoint(write_official(tmp_path / "small-v1.ckpt", state)).model
    rng = np.random.default_rng(3)
    counts = rng.poisson(2.0, size=(9, N_GENES)).astype(np.float32) + (rng.random((9, N_GENES)) < 0.2)
    given = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 20, 21]
    counts[:, [7, 9]] = 0  # two given genes that no cell expresses
    adata = ad.AnnData(X=sp.csr_matrix(counts), var={"gene": GENES})
    adata.var_names = GENES
    vocab = GeneVocabulary.from_ensembl_ids(GENES)
    params = GrnParams(genes=[GENES[i] for i in given], n_genes=None, edge_filter="none", max_cells=9)
    net = extract_network(model, adata, vocab, params, progress=False, device="cpu")
    assert net.genes == [GENES[i] for i in given] and net.params["precision"] == "fp32"

    genes = torch.tensor([given] * 9)
    expression = torch.from_numpy(counts[:, given])
    depth = torch.from_numpy(counts.sum(1))
    with torch.no_grad():
        qkv = reference_forward(state, genes, expression, depth)["qkv"]
    n_special, d_head = 2 + len(CLASSES), D // HEADS
    expected = torch.zeros(len(given), len(given), dtype=torch.float64)
    for q, k, _ in qkv:
        q_mean, k_mean = q.double().mean(0), k.double().mean(0)  # (tokens, heads, d_head)
        for h in range(HEADS):
            attn = torch.softmax(q_mean[:, h] @ k_mean[:, h].T / math.sqrt(d_head), dim=-1)
            expected += attn[n_special:, n_special:] / (LAYERS * HEADS)
    index = {g: i for i, g in enumerate(net.genes)}
    weights = np.zeros((len(given), len(given)))
    for r, t, w in zip(
        *(net.edges.column(c).to_pylist() for c in ("regulator", "target", "weight")), strict=True
    ):
        weights[index[t], index[r]] = w
    np.fill_diagonal(weights, 0.0)
    reference = expected.numpy().copy()
    np.fill_diagonal(reference, 0.0)
    np.testing.assert_allclose(weights, reference, atol=1e-6, rtol=1e-5)


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
