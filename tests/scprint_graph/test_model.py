import numpy as np
import pytest
import torch

from scprint_graph import keys
from scprint_graph.config import ModelConfig
from scprint_graph.model import ScPrintModel, attention

from .conftest import N_GENES, make_batch


def test_output_shapes(tiny_model, batch):
    config = tiny_model.config
    out = tiny_model(batch)
    n_cells, n_ctx = batch[keys.GENES].shape
    assert tiny_model.n_special_tokens == 4
    assert out.special_embeddings.shape == (n_cells, 4, config.d_model)
    assert out.cell_embedding.shape == (n_cells, config.d_model)
    assert out.class_embeddings.shape == (n_cells, 2, config.d_model)
    for field in (out.zinb.mean, out.zinb.theta, out.zinb.zero_logit):
        assert field.shape == (n_cells, n_ctx)
    assert {k: v.shape for k, v in out.class_logits.items()} == {
        "cell_type": (n_cells, 4),
        "disease": (n_cells, 2),
    }
    assert out.qk is None
    assert torch.all(out.zinb.theta > 0) and torch.all(out.zinb.pi < 1)


def test_zinb_mean_sums_to_target_depth(tiny_model, batch):
    out = tiny_model(batch)
    torch.testing.assert_close(out.zinb.mean.sum(1), batch[keys.EXPRESSION].sum(1))
    target = torch.tensor([10.0, 100.0, 1000.0, 5.0])
    out = tiny_model({**batch, keys.TARGET_DEPTH: target})
    torch.testing.assert_close(out.zinb.mean.sum(1), target)


def test_sum_normalisation_is_scale_invariant_but_log_is_not(tiny_config, batch):
    doubled = {**batch, keys.EXPRESSION: batch[keys.EXPRESSION] * 2}
    torch.manual_seed(0)
    model = ScPrintModel(tiny_config, gene_locations=torch.arange(N_GENES)).eval()
    torch.testing.assert_close(model(doubled).special_embeddings, model(batch).special_embeddings)
    torch.manual_seed(0)
    log_model = ScPrintModel(tiny_config.replace(normalization="log"), gene_locations=torch.arange(N_GENES))
    log_model.eval()
    assert not torch.allclose(log_model(doubled).special_embeddings, log_model(batch).special_embeddings)


def test_token_order_cell_depth_classes_genes(tiny_model, batch):
    special = tiny_model.special_tokens(batch[keys.DEPTH])
    learned = tiny_model.special_embedding.weight
    torch.testing.assert_close(special[0, 0], learned[0])  # cell token
    torch.testing.assert_close(special[0, 2:], learned[1:])  # class tokens
    expected_depth = tiny_model.depth_encoder(torch.log2(1 + batch[keys.DEPTH]))
    torch.testing.assert_close(special[:, 1], expected_depth)  # depth token
    # a gene token carries its location encoding
    genes = batch[keys.GENES][:1, :3]
    no_expr = tiny_model.gene_tokens(genes, None)
    torch.testing.assert_close(
        no_expr, tiny_model.gene_embedding(genes) + tiny_model.location_encoding[genes]
    )


def test_sdpa_and_explicit_attention_agree(tiny_config, batch):
    torch.manual_seed(1)
    sdpa = ScPrintModel(tiny_config, gene_locations=torch.arange(N_GENES)).eval()
    explicit = ScPrintModel(tiny_config.replace(attention="explicit"), gene_locations=torch.arange(N_GENES))
    explicit.load_state_dict(sdpa.state_dict())
    explicit.eval()
    a, b = sdpa(batch), explicit(batch)
    torch.testing.assert_close(a.special_embeddings, b.special_embeddings, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a.zinb.mean, b.zinb.mean, atol=1e-5, rtol=1e-4)
    q, k, v = torch.randn(3, 2, 2, 9, 8).unbind(0)
    torch.testing.assert_close(
        attention(q, k, v, implementation="sdpa"), attention(q, k, v, implementation="explicit")
    )
    with pytest.raises(ValueError, match="ring"):
        attention(q, k, v, implementation="ring")


def test_capture_qk_shapes_and_values(tiny_model, batch):
    plain = tiny_model(batch)
    out = tiny_model(batch, capture_qk=True)
    config = tiny_model.config
    n_cells, n_ctx = batch[keys.GENES].shape
    assert len(out.qk) == config.n_layers
    for q, k in out.qk:
        assert q.shape == k.shape == (n_cells, config.n_heads, n_ctx + 4, config.d_head)
    torch.testing.assert_close(out.special_embeddings, plain.special_embeddings)
    # layer 0: Q and K are the projections of the LayerNorm-ed input tokens
    tokens = torch.cat(
        [
            tiny_model.special_tokens(batch[keys.DEPTH]),
            tiny_model.gene_tokens(batch[keys.GENES], batch[keys.EXPRESSION]),
        ],
        dim=1,
    )
    block = tiny_model.blocks[0]
    qkv = block.attn.qkv(block.ln_1(tokens))
    d = config.d_model
    q0 = qkv[..., :d].view(n_cells, -1, config.n_heads, config.d_head).transpose(1, 2)
    k0 = qkv[..., d : 2 * d].view(n_cells, -1, config.n_heads, config.d_head).transpose(1, 2)
    torch.testing.assert_close(out.qk[0][0], q0)
    torch.testing.assert_close(out.qk[0][1], k0)


def test_reconstruction_uses_embeddings_not_expression(tiny_model, batch):
    out = tiny_model(batch)
    special = out.special_embeddings.detach().requires_grad_(True)
    zinb = tiny_model.reconstruct_from_embeddings(special, batch)
    other = {**batch, keys.EXPRESSION: batch[keys.EXPRESSION] * 0 + 7}
    zinb_other = tiny_model.reconstruct_from_embeddings(
        special, {**other, keys.TARGET_DEPTH: batch[keys.EXPRESSION].sum(1)}
    )
    torch.testing.assert_close(zinb.mean, zinb_other.mean)
    zinb.mean.sum().backward()
    assert special.grad is not None and special.grad.abs().sum() > 0
    swapped = tiny_model.reconstruct_from_embeddings(special.flip(0), batch).mean
    assert not torch.allclose(swapped, zinb.mean)
    with pytest.raises(ValueError, match="special_embeddings"):
        tiny_model.reconstruct_from_embeddings(special[:, :2], batch)


def test_loss_trains(tiny_config):
    torch.manual_seed(0)
    model = ScPrintModel(tiny_config, gene_locations=torch.arange(N_GENES))
    batch = make_batch(seed=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        terms = model.loss(model(batch), batch)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        first = first if first is not None else terms.total.item()
    assert terms.labels > 0 and terms.dissimilarity > 0
    assert terms.total.item() < 0.85 * first


def test_loss_uses_target_expression(tiny_model, batch):
    out = tiny_model(batch)
    base = tiny_model.loss(out, batch).expression
    other = tiny_model.loss(out, {**batch, keys.TARGET_EXPRESSION: batch[keys.EXPRESSION] + 5}).expression
    assert not torch.isclose(base, other)


def test_frozen_precomputed_gene_embeddings(tiny_config, batch):
    config = tiny_config.replace(frozen_gene_embeddings=True)
    table = torch.randn(N_GENES, 2 * config.d_model)
    model = ScPrintModel(config, gene_locations=torch.arange(N_GENES), gene_embeddings=table)
    assert not model.gene_embedding.weight.requires_grad
    pooled = table.view(N_GENES, config.d_model, 2).mean(-1)
    torch.testing.assert_close(model.gene_embedding.weight, pooled)
    model.loss(model(batch), batch).total.backward()
    assert model.gene_embedding.weight.grad is None
    with pytest.raises(ValueError, match="gene_embeddings"):
        ScPrintModel(config, gene_locations=torch.arange(N_GENES))
    with pytest.raises(ValueError, match=r"\(5, 3\)"):
        ScPrintModel(config, gene_locations=torch.arange(N_GENES), gene_embeddings=torch.ones(5, 3))


def test_input_errors(tiny_config, tiny_model):
    with pytest.raises(ValueError, match="gene_locations"):
        ScPrintModel(tiny_config)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        ScPrintModel(tiny_config, gene_locations=torch.arange(3))
    ScPrintModel(tiny_config.replace(use_locations=False))
    long_batch = make_batch(n_ctx=40)
    with pytest.raises(ValueError, match="40"):
        tiny_model(long_batch)


def test_no_classes_model_runs():
    config = ModelConfig.preset("tiny", n_genes=N_GENES, use_locations=False)
    model = ScPrintModel(config)
    batch = make_batch()
    out = model(batch)
    assert out.special_embeddings.shape[1] == 2 and out.class_logits == {}
    terms = model.loss(out, batch)
    assert terms.labels == 0 and terms.dissimilarity == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_sdpa_on_gpu_matches_fp32_explicit(tiny_config):
    from scprint_graph.model import autocast_for

    config = tiny_config.replace(max_len=2200)
    torch.manual_seed(0)
    reference = ScPrintModel(
        config.replace(attention="explicit"), gene_locations=torch.arange(N_GENES)
    ).eval()
    fast = ScPrintModel(config, gene_locations=torch.arange(N_GENES)).cuda().eval()
    fast.load_state_dict(reference.state_dict())
    batch = make_batch(n_ctx=N_GENES)
    with torch.no_grad():
        expected = reference(batch)
        with autocast_for("cuda"):
            got = fast({k: v.cuda() for k, v in batch.items()}, capture_qk=True)
    torch.testing.assert_close(got.zinb.mean.cpu(), expected.zinb.mean, rtol=5e-2, atol=5e-2)
    assert got.qk[0][0].dtype == torch.bfloat16


def test_sinusoidal_table_sin_on_even_cos_on_odd():
    from scprint_graph.model import sinusoidal_table

    enc = sinusoidal_table(torch.tensor([0, 1, 5]), 6).numpy()
    assert enc.shape == (3, 6) and enc.dtype == np.float32
    np.testing.assert_allclose(enc[0], [0, 1, 0, 1, 0, 1])
    w = 10_000.0 ** (-np.arange(0, 6, 2) / 6)
    np.testing.assert_allclose(enc[2, 0::2], np.sin(5 * w), rtol=1e-6)
    np.testing.assert_allclose(enc[2, 1::2], np.cos(5 * w), rtol=1e-6)


def test_masked_genes_lose_their_expression_term(tiny_config, batch):
    """With log normalisation and a fixed target depth, a masked gene's count changes nothing."""
    model = ScPrintModel(
        tiny_config.replace(normalization="log"), gene_locations=torch.arange(N_GENES)
    ).eval()
    mask = torch.zeros_like(batch[keys.GENES], dtype=torch.bool)
    mask[:, 3] = True
    base = {**batch, keys.TARGET_DEPTH: batch[keys.EXPRESSION].sum(1), keys.MASK: mask}
    changed = {**base, keys.EXPRESSION: base[keys.EXPRESSION].clone()}
    changed[keys.EXPRESSION][:, 3] += 50
    with torch.no_grad():
        a, b = model(base), model(changed)
        unmasked = model({k: v for k, v in changed.items() if k != keys.MASK})
    torch.testing.assert_close(a.special_embeddings, b.special_embeddings)
    torch.testing.assert_close(a.zinb.mean, b.zinb.mean)
    assert not torch.allclose(a.special_embeddings, unmasked.special_embeddings)
    with pytest.raises(ValueError, match="mask has shape"):
        model({**base, keys.MASK: mask[:, :4]})


def test_mvc_decoder_is_optional_and_asked_for(tiny_config, batch):
    with pytest.raises(ValueError, match="with_mvc needs a model with an MVC decoder"):
        ScPrintModel(tiny_config, gene_locations=torch.arange(N_GENES))(batch, with_mvc=True)
    model = ScPrintModel(
        tiny_config.replace(mvc_decoder="inner product"), gene_locations=torch.arange(N_GENES)
    )
    out = model.eval()(batch, with_mvc=True)
    torch.testing.assert_close(out.mvc.mean.sum(1), batch[keys.EXPRESSION].sum(1))
    assert model(batch).mvc is None
    with pytest.raises(ValueError, match="mvc_decoder must be one of"):
        tiny_config.replace(mvc_decoder="sum query")
