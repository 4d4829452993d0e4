"""Official scPRINT-2 checkpoints: a tiny file in the scprint2 1.0.3 Lightning layout, and a reference
forward written here from scprint2's and simpler_flash's source (EasyExprGNN, Block with a carried residual,
MHA with grouped-query heads, ExprDecoder with depth, VAEDecoder at its mean, FSQ, ClsDecoder) and
scprint2's GNInfer equations, against the official tensor names; it calls none of the project's modules."""

import math
from dataclasses import replace

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from scprint_graph import keys
from scprint_graph.errors import InputError
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn_params import GrnParams
from scprint_graph.official import load_any_checkpoint
from scprint_graph.v2.grn import extract_network_v2
from scprint_graph.v2.model import MASK, NEIGHBOR_DISTANCE, NEIGHBOR_EXPRESSION
from scprint_graph.v2.official import load_v2_checkpoint
from tests.scprint_graph.test_official import _LightningAttributeDict, fake_lightning

D, H, HKV, L = 16, 4, 2, 2  # gene transformer: GQA, 2 query heads per kv head
DC, HC, HKVC, LC = 8, 2, 1, 2  # cell transformer: multi-query
HUMAN = [f"ENSG{i:011d}" for i in range(20)]
MOUSE = [f"ENSMUSG{i:011d}" for i in range(10)]
GENES = HUMAN + MOUSE
N = len(GENES)
CLASSES = {"cell_type_ontology_term_id": 3, "sex_ontology_term_id": 2}
COMPRESS = {"cell_type_ontology_term_id": 8, "sex_ontology_term_id": 2, "tissue_ontology_term_id": 8}
HIDDEN = 6  # layers_cls = [6]
N_NB = 6


def _linear(shapes, name, d_out, d_in):
    shapes[f"{name}.weight"] = (d_out, d_in)
    shapes[f"{name}.bias"] = (d_out,)


def _norm(shapes, name, d):
    shapes[f"{name}.weight"] = (d,)
    shapes[f"{name}.bias"] = (d,)


def _transformer(shapes, prefix, d, h, hkv, n_layers, d_cross):
    hd = d // h
    for i in range(n_layers):
        b = f"{prefix}.blocks.{i}"
        for n in ("norm1", "norm2", "norm3"):
            _norm(shapes, f"{b}.{n}", d)
        _linear(shapes, f"{b}.mixer.Wqkv", hd * (h + 2 * hkv), d)
        _linear(shapes, f"{b}.mixer.out_proj", d, d)
        _linear(shapes, f"{b}.cross_attn.Wq", d, d)
        _linear(shapes, f"{b}.cross_attn.Wkv", 2 * hd * hkv, d_cross)
        _linear(shapes, f"{b}.cross_attn.out_proj", d, d)
        _linear(shapes, f"{b}.mlp.fc1", 4 * d, d)
        _linear(shapes, f"{b}.mlp.fc2", d, 4 * d)
    _norm(shapes, f"{prefix}.norm", d)


def official_state_dict(seed: int = 0, n_genes: int = N) -> dict[str, torch.Tensor]:
    """Tensors named and shaped as scprint2 1.0.3's scPRINT2 (expr_encoder_layers=2, finetune_gene_emb)."""
    s: dict[str, tuple] = {
        "gene_encoder.0.embeddings.weight": (n_genes, D),
        "pos_encoder.pe": (n_genes, 1, D),
    }
    _linear(s, "gene_encoder.1", D, D)
    _linear(s, "gene_encoder.3", D, D)
    for part, d_in in (("neighbors_layers", 2), ("self_layers", 1)):
        _linear(s, f"expr_encoder.{part}.0", D, d_in)
        _norm(s, f"expr_encoder.{part}.1", D)
        _linear(s, f"expr_encoder.{part}.4", D, D)
    _linear(s, "expr_encoder.shared_layers.0", 2 * D, 2 * D)
    _norm(s, "expr_encoder.shared_layers.1", 2 * D)
    _linear(s, "expr_encoder.shared_layers.4", D, 2 * D)
    s["class_encoder.embedding.weight"] = (1 + len(CLASSES), DC)
    _transformer(s, "transformer", D, H, HKV, L, DC)
    _transformer(s, "cell_transformer", DC, HC, HKVC, LC, D)
    _linear(s, "expr_decoder.fc.0", D, D + 1)
    _norm(s, "expr_decoder.fc.1", D)
    _linear(s, "expr_decoder.fc.4", D, D)
    _norm(s, "expr_decoder.fc.5", D)
    _linear(s, "expr_decoder.pred_var_zero", 3, D)
    for name, dim in COMPRESS.items():
        c = f"compressor.{name}"
        if dim >= 8:
            _linear(s, f"{c}.encoder.0", 128, DC)
            _norm(s, f"{c}.encoder.1", 128)
            _linear(s, f"{c}.encoder.4", dim, 128)
            _norm(s, f"{c}.encoder.5", dim)
            _linear(s, f"{c}.fc_mu", dim, dim)
            _linear(s, f"{c}.fc_var", dim, dim)
            _linear(s, f"{c}.decoder.0", 128, dim)
            _norm(s, f"{c}.decoder.1", 128)
            _linear(s, f"{c}.decoder.4", DC, 128)
        else:
            _linear(s, f"{c}.project_in", dim, DC)
            _linear(s, f"{c}.project_out", DC, dim)
    for name, n in CLASSES.items():
        _linear(s, f"cls_decoders.{name}.decoder.0", HIDDEN, COMPRESS[name])
        _norm(s, f"cls_decoders.{name}.decoder.1", HIDDEN)
        _linear(s, f"cls_decoders.{name}.out_layer", n, HIDDEN)
    _linear(s, "adv_organism_decoder.out_layer", 2, HIDDEN)  # training-only head, dropped on load
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in s.items():
        t = torch.randn(shape, generator=g) * (0.4 if len(shape) > 1 else 0.2)
        if ".norm" in k or ".1.weight" in k or ".5.weight" in k:  # LayerNorm gains near 1, not constant
            t = 1 + 0.1 * t if k.endswith("weight") else t
        state[k] = t
    return state


def hyper_parameters():
    return _LightningAttributeDict(
        genes={"NCBITaxon:9606": HUMAN, "NCBITaxon:10090": MOUSE},
        organisms=["NCBITaxon:9606", "NCBITaxon:10090"],
        d_model=D, nhead=H, num_heads_kv=HKV, nlayers=L,
        d_model_cell=DC, nhead_cell=HC, num_heads_kv_cell=HKVC, nlayers_cell=LC,
        expr_emb_style="metacell", expr_encoder_layers=2, normalization="log", attention="normal",
        cell_specific_blocks=True, finetune_gene_emb=True, freeze_embeddings=True,
        classes=CLASSES, compress_class_dim=COMPRESS, layers_cls=[HIDDEN],
        label_decoders={
            "cell_type_ontology_term_id": {0: "CL:0000084", 1: "CL:0000236", 2: "CL:0000576"},
            "sex_ontology_term_id": {0: "PATO:0000383", 1: "PATO:0000384"},
        },
        labels_hierarchy={}, dropout=0.02, zinb=True, do_adv_cls=True,
        precpt_gene_emb="./data/main/gene_embs/", gene_pos_file="./data/main/gene_locs/all_locs.parquet",
    )  # fmt: skip


def write_v2(path, state, **hparam_changes):
    hp = hyper_parameters()
    hp.update(hparam_changes)
    with fake_lightning():
        torch.save({"epoch": 1, "hyper_parameters": hp, "state_dict": state}, path)
    return path


# ----------------------------------------------------------------------------------------------------------
# The reference: scprint2 / simpler_flash equations written out on the official tensors
# ----------------------------------------------------------------------------------------------------------
def lin(sd, x, p):
    return x @ sd[f"{p}.weight"].T + sd[f"{p}.bias"]


def layernorm_any(sd, x, p, eps):
    return F.layer_norm(x, x.shape[-1:], sd[f"{p}.weight"], sd[f"{p}.bias"], eps=eps)


def mlp_block(sd, x, p):
    """Linear, LayerNorm(eps 1e-5, torch default), ReLU, dropout(off), Linear."""
    h = lin(sd, x, f"{p}.0")
    h = torch.relu(layernorm_any(sd, h, f"{p}.1", 1e-5))
    return lin(sd, h, f"{p}.4")


def mha(sd, p, x, x_kv, heads, heads_kv, cross):
    """simpler_flash MHA: returns output and (q, k) with k repeated to every query head."""
    b, t, d = x.shape
    hd = d // heads
    if cross:
        q = lin(sd, x, f"{p}.Wq").reshape(b, t, heads, hd)
        kv = lin(sd, x_kv, f"{p}.Wkv").reshape(b, x_kv.shape[1], 2, heads_kv, hd)
    else:
        qkv = lin(sd, x, f"{p}.Wqkv")
        q = qkv[..., : heads * hd].reshape(b, t, heads, hd)
        kv = qkv[..., heads * hd :].reshape(b, t, 2, heads_kv, hd)
    out = torch.zeros(b, t, heads, hd)
    qs, ks = torch.zeros(b, heads, t, hd), torch.zeros(b, heads, kv.shape[1], hd)
    for hh in range(heads):
        j = hh // (heads // heads_kv)  # the kv head of query head hh
        k, v = kv[:, :, 0, j], kv[:, :, 1, j]
        scores = torch.einsum("btd,bsd->bts", q[:, :, hh], k) / math.sqrt(hd)
        out[:, :, hh] = torch.einsum("bts,bsd->btd", torch.softmax(scores, -1), v)
        qs[:, hh], ks[:, hh] = q[:, :, hh], k
    return lin(sd, out.reshape(b, t, d), f"{p}.out_proj"), (qs, ks)


def flash_transformer(sd, p, x, n_layers, heads, heads_kv, x_kv=None):
    """FlashTransformer.forward at inference: Dropout-Add-LN blocks carrying a residual."""
    residual, self_qk, cross_qk = None, [], []
    for i in range(n_layers):
        b = f"{p}.blocks.{i}"
        residual = x + residual if residual is not None else x
        h = layernorm_any(sd, residual, f"{b}.norm1", 1e-6)
        if x_kv is not None:
            h, cqk = mha(sd, f"{b}.cross_attn", h, x_kv, heads, heads_kv, cross=True)
            cross_qk.append(cqk)
            residual = h + residual
            h = layernorm_any(sd, residual, f"{b}.norm3", 1e-6)
        h, sqk = mha(sd, f"{b}.mixer", h, None, heads, heads_kv, cross=False)
        self_qk.append(sqk)
        residual = h + residual
        h = layernorm_any(sd, residual, f"{b}.norm2", 1e-6)
        x = lin(sd, F.gelu(lin(sd, h, f"{b}.mlp.fc1")), f"{b}.mlp.fc2")
    residual = x + residual
    return layernorm_any(sd, residual, f"{p}.norm", 1e-6), self_qk, cross_qk


def reference_forward(sd, genes, expr, neighbors, distances, depth, mask=None):
    b, n_ctx = genes.shape
    # _encoder: normalization "log", EasyExprGNN, then gene encoder (+adapter) and pos encoder
    x = torch.log2(1 + expr)
    nb = torch.log2(1 + neighbors).transpose(1, 2)  # (b, n_ctx, n_nb)
    info = distances.unsqueeze(1).repeat(1, n_ctx, 1)
    near = mlp_block(
        sd, torch.cat([nb.unsqueeze(-1), info.unsqueeze(-1)], -1), "expr_encoder.neighbors_layers"
    )
    near = near.sum(-2)
    own = mlp_block(sd, x.unsqueeze(-1), "expr_encoder.self_layers")
    h = torch.cat([own, near], -1)
    h = torch.relu(
        layernorm_any(sd, lin(sd, h, "expr_encoder.shared_layers.0"), "expr_encoder.shared_layers.1", 1e-5)
    )
    expr_emb = lin(sd, h, "expr_encoder.shared_layers.4")
    if mask is not None:
        expr_emb = expr_emb.masked_fill(mask.unsqueeze(-1), 0)
    emb = sd["gene_encoder.0.embeddings.weight"][genes]
    emb = lin(sd, torch.relu(lin(sd, emb, "gene_encoder.1")), "gene_encoder.3")
    enc = emb + expr_emb + sd["pos_encoder.pe"][:, 0][genes]
    cell_embs = sd["class_encoder.embedding.weight"][torch.arange(1 + len(CLASSES))].repeat(b, 1, 1)
    gene_out, gene_qk, _ = flash_transformer(sd, "transformer", enc, L, H, HKV)
    cells, cell_self_qk, cell_cross_qk = flash_transformer(
        sd, "cell_transformer", cell_embs, LC, HC, HKVC, gene_out
    )
    # _expr_decoder (depth_mult = expression.sum(1), req_depth = log2(1 + depth))
    req = torch.log2(1 + depth)
    y = torch.cat([gene_out, req[:, None, None].expand(-1, n_ctx, 1)], -1)
    y = F.leaky_relu(layernorm_any(sd, lin(sd, y, "expr_decoder.fc.0"), "expr_decoder.fc.1", 1e-5))
    y = F.leaky_relu(layernorm_any(sd, lin(sd, y, "expr_decoder.fc.4"), "expr_decoder.fc.5", 1e-5))
    pred, var, zero = lin(sd, y, "expr_decoder.pred_var_zero").split(1, -1)
    mean = F.softmax(pred[..., 0], -1) * expr.sum(1)[:, None]
    theta = torch.exp(var[..., 0].clamp(max=15))
    # _cell_decoder: VAE at its mean, FSQ's pre-quantisation projection, classifiers on the compressed
    decoded, compressed, logits = [cells[:, 0]], [cells[:, 0]], {}
    for i, name in enumerate(CLASSES):
        t = cells[:, i + 1]
        p = f"compressor.{name}"
        if COMPRESS[name] >= 8:
            e = torch.relu(layernorm_any(sd, lin(sd, t, f"{p}.encoder.0"), f"{p}.encoder.1", 1e-5))
            e = torch.relu(layernorm_any(sd, lin(sd, e, f"{p}.encoder.4"), f"{p}.encoder.5", 1e-5))
            mu = lin(sd, e, f"{p}.fc_mu")
            dd = torch.relu(layernorm_any(sd, lin(sd, mu, f"{p}.decoder.0"), f"{p}.decoder.1", 1e-5))
            decoded.append(lin(sd, dd, f"{p}.decoder.4"))
            z = mu
        else:
            z = lin(sd, t, f"{p}.project_in")
            half_l = (2 - 1) * (1 - 1e-3) / 2
            bounded = torch.tanh(z + math.tan(0.5 / half_l)) * half_l - 0.5
            decoded.append(lin(sd, torch.round(bounded) / 1, f"{p}.project_out"))
        compressed.append(z)
        c = f"cls_decoders.{name}"
        hid = torch.relu(layernorm_any(sd, lin(sd, z, f"{c}.decoder.0"), f"{c}.decoder.1", 1e-5))
        logits[name] = lin(sd, hid, f"{c}.out_layer")
    return {
        "mean": mean, "theta": theta, "zero_logit": zero[..., 0], "cells": cells,
        "decoded": torch.stack(decoded, 1), "compressed": compressed, "logits": logits,
        "gene_qk": gene_qk, "cell_self_qk": cell_self_qk, "cell_cross_qk": cell_cross_qk,
    }  # fmt: skip


def _batch(seed=1, n_cells=3, n_ctx=12):
    g = torch.Generator().manual_seed(seed)
    genes = torch.stack([torch.randperm(len(HUMAN), generator=g)[:n_ctx] for _ in range(n_cells)])
    expr = torch.poisson(torch.full((n_cells, n_ctx), 3.0), generator=g)
    neighbors = torch.poisson(torch.full((n_cells, N_NB, n_ctx), 2.0), generator=g)
    distances = torch.rand(n_cells, N_NB, generator=g) * 3 + 0.5
    depth = expr.sum(1) + 100
    return genes, expr, neighbors, distances, depth


def test_v2_checkpoint_matches_reference_forward(tmp_path):
    sd = official_state_dict()
    path = write_v2(tmp_path / "small-v2.ckpt", sd)
    loaded = load_any_checkpoint(path)
    model = loaded.model
    assert model.family == "scprint2" and loaded.extra["family"] == "scprint2"
    assert loaded.genes == GENES and model.organisms == ["NCBITaxon:9606", "NCBITaxon:10090"]
    assert model.organism_slices == {"NCBITaxon:9606": (0, 20), "NCBITaxon:10090": (20, 30)}
    genes, expr, nbs, dist, depth = _batch()
    batch = {keys.GENES: genes, keys.EXPRESSION: expr, keys.DEPTH: depth,
             NEIGHBOR_EXPRESSION: nbs, NEIGHBOR_DISTANCE: dist}  # fmt: skip
    with torch.no_grad():
        out = model(batch, capture_qk=True)
        ref = reference_forward(sd, genes, expr, nbs, dist, depth)
        again = model(batch)
    tol = {"atol": 1e-5, "rtol": 1e-4}
    torch.testing.assert_close(out.zinb.mean, ref["mean"], **tol)
    torch.testing.assert_close(out.zinb.theta, ref["theta"], **tol)
    torch.testing.assert_close(out.zinb.zero_logit, ref["zero_logit"], **tol)
    torch.testing.assert_close(out.cell_tokens, ref["cells"], **tol)
    torch.testing.assert_close(out.decoded_cell_tokens, ref["decoded"], **tol)
    for ours, theirs in zip(out.compressed, ref["compressed"], strict=True):
        torch.testing.assert_close(ours, theirs, **tol)
    torch.testing.assert_close(out.cell_embedding, torch.cat(ref["compressed"], -1), **tol)
    for name in CLASSES:
        torch.testing.assert_close(out.class_logits[name], ref["logits"][name], **tol)
    for name in ("gene_qk", "cell_self_qk", "cell_cross_qk"):
        ours, theirs = getattr(out, name), ref[name]
        assert len(ours) == len(theirs) == (L if name == "gene_qk" else LC)
        for (q, k), (rq, rk) in zip(ours, theirs, strict=True):
            torch.testing.assert_close(q, rq, **tol)
            torch.testing.assert_close(k, rk, **tol)
    torch.testing.assert_close(again.zinb.mean, out.zinb.mean)  # deterministic: no dropout, VAE mean
    assert out.zinb.mean.std() > 0 and out.cell_tokens.std() > 0


def test_v2_masked_call_and_sdpa_match_reference(tmp_path):
    sd = official_state_dict(seed=3)
    model = load_v2_checkpoint(write_v2(tmp_path / "v2.ckpt", sd), attention="explicit").model
    genes, expr, nbs, dist, depth = _batch(seed=4)
    mask = torch.zeros_like(expr, dtype=torch.bool)
    mask[:, ::3] = True
    batch = {keys.GENES: genes, keys.EXPRESSION: expr, keys.DEPTH: depth,
             NEIGHBOR_EXPRESSION: nbs, NEIGHBOR_DISTANCE: dist, MASK: mask}  # fmt: skip
    with torch.no_grad():
        out = model(batch)
        ref = reference_forward(sd, genes, expr, nbs, dist, depth, mask)
        unmasked = reference_forward(sd, genes, expr, nbs, dist, depth)
    torch.testing.assert_close(out.zinb.mean, ref["mean"], atol=1e-5, rtol=1e-4)
    sex = "sex_ontology_term_id"
    torch.testing.assert_close(out.class_logits[sex], ref["logits"][sex], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(ref["mean"], unmasked["mean"], atol=1e-4)  # the mask matters


def test_v2_generate_matches_reference(tmp_path):
    sd = official_state_dict(seed=5)
    model = load_v2_checkpoint(write_v2(tmp_path / "v2.ckpt", sd)).model
    genes, expr, _, _, depth = _batch(seed=6)
    g = torch.Generator().manual_seed(7)
    cell_embs = torch.randn(genes.shape[0], 1 + len(CLASSES), DC, generator=g)
    with torch.no_grad():
        ours = model.generate(cell_embs, {keys.GENES: genes, keys.EXPRESSION: expr, keys.DEPTH: depth})
        # scprint2 _generate: gene tokens without expression cross-attend to the cell embeddings
        emb = sd["gene_encoder.0.embeddings.weight"][genes]
        emb = (
            lin(sd, torch.relu(lin(sd, emb, "gene_encoder.1")), "gene_encoder.3")
            + sd["pos_encoder.pe"][:, 0][genes]
        )
        out, _, _ = flash_transformer(sd, "transformer", emb, L, H, HKV, cell_embs)
        y = torch.cat([out, torch.log2(1 + depth)[:, None, None].expand(-1, genes.shape[1], 1)], -1)
        y = F.leaky_relu(layernorm_any(sd, lin(sd, y, "expr_decoder.fc.0"), "expr_decoder.fc.1", 1e-5))
        y = F.leaky_relu(layernorm_any(sd, lin(sd, y, "expr_decoder.fc.4"), "expr_decoder.fc.5", 1e-5))
        mean = F.softmax(lin(sd, y, "expr_decoder.pred_var_zero")[..., 0], -1) * expr.sum(1)[:, None]
    torch.testing.assert_close(ours.mean, mean, atol=1e-5, rtol=1e-4)


def _group_adata(n_cells=12, seed=0):
    """Cells with raw counts over the human genes and a scanpy-layout kNN graph (8 neighbours each)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(2.0, size=(n_cells, len(HUMAN))).astype(np.float32)
    counts[:, 5] = 0  # an unexpressed gene
    rows, cols, vals = [], [], []
    for i in range(n_cells):
        others = rng.choice(np.delete(np.arange(n_cells), i), 8, replace=False)
        rows += [i] * 8
        cols += others.tolist()
        vals += (rng.random(8) * 4 + 0.1).tolist()
    adata = ad.AnnData(X=sp.csr_matrix(counts))
    adata.var_names = HUMAN
    adata.obsp["distances"] = sp.csr_matrix((vals, (rows, cols)), shape=(n_cells, n_cells))
    adata.uns["neighbors"] = {"params": {"n_neighbors": 9, "method": "umap", "metric": "euclidean"}}
    return adata, counts


def reference_grn(sd, adata, counts, gene_idx):
    """scprint2 GNInfer (how='some', head_agg='mean', preprocess='softmax', filtration='none'): neighbours as
    SimpleAnnDataset picks them, Q/K per gene averaged over cells, softmax(QKᵀ/√d) per layer and head,
    mean."""
    n_cells = counts.shape[0]
    dense = adata.obsp["distances"].toarray()
    genes = torch.tensor(gene_idx).repeat(n_cells, 1)
    expr = torch.tensor(counts[:, gene_idx])
    nbs, dists = [], []
    for i in range(n_cells):
        d = dense[i]
        nn_idx = np.argsort(-1 / (d - 1e-6))[:N_NB]
        nbs.append(counts[nn_idx][:, gene_idx].astype(int))
        dists.append(d[nn_idx])
    ref = reference_forward(
        sd, genes, expr, torch.tensor(np.array(nbs), dtype=torch.float32),
        torch.tensor(np.array(dists), dtype=torch.float32), torch.tensor(counts.sum(1)),
    )  # fmt: skip
    total = 0
    for q, k in ref["gene_qk"]:  # (cells, heads, genes, d_head)
        qm, km = q.mean(0), k.mean(0)
        for hh in range(H):
            total = total + torch.softmax(qm[hh] @ km[hh].T / math.sqrt(D // H), dim=-1)
    return total / (L * H)


def test_v2_grn_matches_reference(tmp_path):
    sd = official_state_dict(seed=11)
    ckpt = load_v2_checkpoint(write_v2(tmp_path / "v2.ckpt", sd))
    adata, counts = _group_adata()
    vocab = GeneVocabulary.from_ensembl_ids(ckpt.genes)
    given = [HUMAN[i] for i in (0, 2, 3, 5, 7, 9, 11, 13)] + [MOUSE[0]]  # one unexpressed, one other organism
    params = GrnParams(genes=tuple(given), n_genes=None, edge_filter="none")
    net = extract_network_v2(ckpt.model, adata, vocab, params, batch_size=5, progress=False)
    kept = [g for g in given if g in HUMAN]
    assert net.genes == kept and net.params["organism"] == "NCBITaxon:9606"
    assert net.params["neighbors"]["source"] == "obsp['distances']" and net.params["neighbors"]["k"] == 9
    assert net.params["model_family"] == "scprint2"
    refused = r"'Danio rerio' is not in the checkpoint's vocabulary, which knows human \(NCBITaxon:9606\)"
    with pytest.raises(InputError, match=refused + r", mouse \(NCBITaxon:10090\)$"):
        extract_network_v2(ckpt.model, adata, vocab, params, organism="Danio rerio", progress=False)
    expected = reference_grn(sd, adata, counts, [HUMAN.index(g) for g in kept]).numpy()
    got = np.zeros_like(expected)
    index = {g: i for i, g in enumerate(kept)}
    edges = net.edges.to_pydict()
    for reg, tgt, w in zip(edges["regulator"], edges["target"], edges["weight"], strict=True):
        got[index[tgt], index[reg]] = w  # rows = target (query), columns = regulator (key)
    off = ~np.eye(len(kept), dtype=bool)
    np.testing.assert_allclose(got[off], expected[off], rtol=1e-4, atol=1e-6)
    assert expected[off].std() > 0
    dropped = extract_network_v2(
        ckpt.model, adata, vocab, replace(params, drop_unexpressed=True), progress=False
    )
    assert HUMAN[5] not in dropped.genes and len(dropped.genes) == len(kept) - 1


def test_v2_refuses_unsupported_hyper_parameters(tmp_path):
    sd = official_state_dict()
    with pytest.raises(ValueError, match=r"mvc_decoder='inner product'"):
        load_v2_checkpoint(write_v2(tmp_path / "a.ckpt", sd, mvc_decoder="inner product"))
    with pytest.raises(ValueError, match=r"use_metacell_token=True"):
        load_v2_checkpoint(write_v2(tmp_path / "b.ckpt", sd, use_metacell_token=True))
    extra = dict(sd, **{"transformer.blocks.0.mixer.rotary.weight": torch.ones(2)})
    with pytest.raises(ValueError, match=r"transformer\.blocks\.0\.mixer\.rotary\.weight"):
        load_v2_checkpoint(write_v2(tmp_path / "c.ckpt", extra))
    short = {k: v for k, v in sd.items() if k != "cell_transformer.norm.weight"}
    with pytest.raises(ValueError, match=r"missing tensors \['cell_transformer\.ln_f\.weight'\]"):
        load_v2_checkpoint(write_v2(tmp_path / "d.ckpt", short))
