"""Attention networks from hand-built Q/K: planted structure, streaming sums, filters, orientation."""

import numpy as np
import pytest
import torch

from scprint_graph.grn_core import (
    QKAccumulator,
    aggregate_heads,
    attention_matrix,
    filter_mask,
    network_from_qk,
)
from scprint_graph.grn_params import GrnParams

N_GENES, N_SPECIAL = 12, 3
GENES = [f"ENSG{i:011d}" for i in range(N_GENES)]


def planted_qk(n_layers=1, n_heads=2, strength=6.0):
    """Head (0, 0) makes gene i attend to gene (i + 1) % n: regulator (i + 1) % n -> target i.

    Keys are one-hot per token (d_head = number of tokens); queries point at the planted key. The other heads
    are random.
    """
    gen = torch.Generator().manual_seed(0)
    n_tokens = N_SPECIAL + N_GENES
    q = torch.randn(n_layers, n_heads, n_tokens, n_tokens, generator=gen) * 0.1
    k = torch.randn(n_layers, n_heads, n_tokens, n_tokens, generator=gen) * 0.1
    k[0, 0] = strength * torch.eye(n_tokens)
    q[0, 0] = 0.0
    for i in range(N_GENES):
        q[0, 0, N_SPECIAL + i, N_SPECIAL + (i + 1) % N_GENES] = strength
    return q, k


def edge_set(table):
    return set(zip(table.column("regulator").to_pylist(), table.column("target").to_pylist(), strict=True))


def planted_edges():
    return {(GENES[(i + 1) % N_GENES], GENES[i]) for i in range(N_GENES)}


def test_planted_head_is_recovered_exactly():
    q, k = planted_qk()
    edges = network_from_qk(q, k, GENES, N_SPECIAL, heads=[(0, 0)], edge_filter="threshold")
    assert edge_set(edges) == planted_edges()
    assert edges.schema.field("weight").type == "float"
    assert min(edges.column("weight").to_pylist()) > 0.9


def test_mean_over_heads_keeps_the_planted_edges_as_strongest():
    q, k = planted_qk(n_layers=2, n_heads=2)
    edges = network_from_qk(q, k, GENES, N_SPECIAL, edge_filter="top_k", top_k=1)
    assert edge_set(edges) == planted_edges()


def test_attention_rows_are_softmax_over_all_tokens_then_specials_dropped():
    q, k = planted_qk()
    attn = attention_matrix(q[0, 1], k[0, 1], N_SPECIAL)
    full = torch.softmax(q[0, 1] @ k[0, 1].T / np.sqrt(q.shape[-1]), dim=-1)
    torch.testing.assert_close(attn, full[N_SPECIAL:, N_SPECIAL:])
    assert torch.all(attn.sum(1) < 1)


def test_chunked_rows_equal_one_shot():
    q, k = planted_qk()
    torch.testing.assert_close(
        attention_matrix(q[0, 1], k[0, 1], N_SPECIAL, row_chunk=5),
        attention_matrix(q[0, 1], k[0, 1], N_SPECIAL, row_chunk=1000),
    )


def test_max_and_none_aggregations():
    q, k = planted_qk(n_layers=2, n_heads=2)
    each = aggregate_heads(q, k, N_SPECIAL, head_aggregation="none")
    assert each.shape == (4, N_GENES, N_GENES)
    torch.testing.assert_close(aggregate_heads(q, k, N_SPECIAL, head_aggregation="max"), each.max(0).values)
    torch.testing.assert_close(aggregate_heads(q, k, N_SPECIAL, head_aggregation="mean"), each.mean(0))
    table = network_from_qk(q, k, GENES, N_SPECIAL, head_aggregation="none", edge_filter="none")
    assert {"layer", "head"} <= set(table.column_names)
    assert table.num_rows == 4 * N_GENES * (N_GENES - 1)  # every head, every non-self pair


def test_filters_and_symmetrize():
    q, k = planted_qk()
    matrix = aggregate_heads(q, k, N_SPECIAL, heads=[(0, 1)])
    mask = filter_mask(matrix, edge_filter="top_k", top_k=3)
    assert mask.sum(1).tolist() == [3] * N_GENES
    assert not mask.diagonal().any()
    thresh = filter_mask(matrix, edge_filter="threshold")
    assert torch.equal(thresh, (matrix >= 1 / N_GENES) & ~torch.eye(N_GENES, dtype=torch.bool))
    sym = network_from_qk(q, k, GENES, N_SPECIAL, heads=[(0, 0)], symmetrize=True)
    assert edge_set(sym) == planted_edges() | {(t, r) for r, t in planted_edges()}
    with pytest.raises(ValueError, match="edge_filter"):
        filter_mask(matrix, edge_filter="mst")
    with pytest.raises(ValueError, match="top_k"):
        filter_mask(matrix, edge_filter="top_k")
    with pytest.raises(ValueError, match="head"):
        aggregate_heads(q, k, N_SPECIAL, heads=[(5, 0)])


def random_batches(n_batches=3, batch=4, n_ctx=7, n_layers=2, n_heads=2, d_head=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        positions = torch.stack([torch.randperm(N_GENES, generator=gen)[:n_ctx] for _ in range(batch)])
        positions[0, -2:] = -1  # padding
        shape = (batch, n_heads, N_SPECIAL + n_ctx, d_head)
        qk = [(torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)) for _ in range(n_layers)]
        out.append((qk, positions))
    return out


def test_streaming_accumulation_equals_single_batch_and_brute_force():
    batches = random_batches()
    streamed = QKAccumulator(N_GENES, N_SPECIAL, 2, 2, 5)
    for qk, positions in batches:
        streamed.add(qk, positions)
    single = QKAccumulator(N_GENES, N_SPECIAL, 2, 2, 5)
    cat_qk = [
        (torch.cat([b[0][layer][0] for b in batches]), torch.cat([b[0][layer][1] for b in batches]))
        for layer in range(2)
    ]
    single.add(cat_qk, torch.cat([b[1] for b in batches]))
    for a, b in zip(streamed.means(), single.means(), strict=True):
        torch.testing.assert_close(a, b)
    # brute force: mean of gene g's query over the (cell, slot) where it sat
    q_mean, _ = streamed.means()
    seen = streamed.seen()
    kept_genes = np.flatnonzero(seen)
    g = int(kept_genes[0])
    rows = []
    for qk, positions in batches:
        for cell, slot in zip(*np.nonzero(positions.numpy() == g), strict=True):
            rows.append(qk[1][0][cell, :, N_SPECIAL + slot])  # layer 1, (heads, d_head)
    torch.testing.assert_close(q_mean[1, :, N_SPECIAL + 0], torch.stack(rows).mean(0))
    assert streamed.n_cells == 12


def test_accumulated_noisy_cells_recover_planted_network():
    q, k = planted_qk(n_layers=1, n_heads=1)
    gen = torch.Generator().manual_seed(3)
    acc = QKAccumulator(N_GENES, N_SPECIAL, 1, 1, q.shape[-1])
    for _ in range(20):
        positions = torch.stack([torch.randperm(N_GENES, generator=gen)[:8] for _ in range(6)])
        index = torch.cat([torch.arange(N_SPECIAL).expand(6, -1), positions + N_SPECIAL], dim=1)
        # (batch, heads, tokens, d_head): each cell sees its context genes' planted Q/K plus noise
        cell_q = q[0, 0][index].unsqueeze(1) + torch.randn(6, 1, index.shape[1], q.shape[-1], generator=gen)
        cell_k = k[0, 0][index].unsqueeze(1) + torch.randn(6, 1, index.shape[1], q.shape[-1], generator=gen)
        acc.add([(cell_q, cell_k)], positions)
    q_mean, k_mean = acc.means()
    assert acc.seen().all()
    edges = network_from_qk(q_mean, k_mean, GENES, N_SPECIAL, edge_filter="top_k", top_k=1)
    assert edge_set(edges) == planted_edges()


def test_accumulator_rejects_bad_input():
    acc = QKAccumulator(N_GENES, N_SPECIAL, 2, 2, 5)
    (qk, positions), *_ = random_batches()
    with pytest.raises(ValueError, match="layers"):
        acc.add(qk[:1], positions)
    with pytest.raises(ValueError, match="positions"):
        acc.add(qk, positions + N_GENES)
    with pytest.raises(ValueError, match="no cells"):
        QKAccumulator(N_GENES, N_SPECIAL, 2, 2, 5).means()


# --- extraction from a real (tiny, untrained) model and AnnData cells ---------------------------------
@pytest.fixture
def one_thread():
    """One torch thread: tiny models run many times faster than with a contended pool of two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def grn_setup(human_vocab, one_thread):
    from scprint_graph.config import ModelConfig
    from scprint_graph.genes import GeneVocabulary
    from scprint_graph.model import ScPrintModel
    from tests.scprint_graph.synthetic import synthetic_adata

    adata = synthetic_adata(n_cells=60, n_genes=200, vocab=human_vocab)
    vocab = GeneVocabulary.from_ensembl_ids(list(adata.var_names))
    config = ModelConfig.preset("tiny", n_genes=len(vocab), max_len=32, dropout=0.0)
    torch.manual_seed(0)
    model = ScPrintModel(config, gene_locations=torch.as_tensor(vocab.location_index())).eval()
    return model, adata, vocab


def test_extract_network_fixed_list_longer_than_context(grn_setup):
    import json

    from scprint_graph.grn import extract_network

    model, adata, vocab = grn_setup
    params = GrnParams(genes="most variable", n_genes=50, max_cells=40)
    net = extract_network(model, adata, vocab, params, progress=False)
    assert net.n_cells == 40 and len(net.genes) == 50
    assert set(net.genes) <= set(adata.var_names)
    assert net.edges.column_names == ["regulator", "target", "weight"]
    regs, tgts = net.edges.column("regulator").to_pylist(), net.edges.column("target").to_pylist()
    assert set(regs) | set(tgts) <= set(net.genes) and all(r != t for r, t in zip(regs, tgts, strict=True))
    assert net.edges.num_rows > 0 and min(net.edges.column("weight").to_pylist()) >= 1 / (50 + 2)
    params = json.loads(json.dumps(net.params))
    assert (
        params["n_cells"] == 40
        and params["genes"] == "most variable"
        and params["edge_filter"] == "threshold"
    )


def test_extract_network_is_independent_of_batch_size(grn_setup):
    from scprint_graph.grn import extract_network

    model, adata, vocab = grn_setup
    params = GrnParams(genes="most expressed", n_genes=30, edge_filter="top_k", top_k=3)
    small = extract_network(model, adata, vocab, params, batch_size=7, progress=False)
    large = extract_network(model, adata, vocab, params, batch_size=60, progress=False)
    assert edge_set(small.edges) == edge_set(large.edges)
    np.testing.assert_allclose(
        small.edges.column("weight").to_numpy(), large.edges.column("weight").to_numpy(), rtol=1e-4
    )


def test_extract_network_random_expressed_and_given_genes(grn_setup):
    from scprint_graph.grn import extract_network

    model, adata, vocab = grn_setup
    net = extract_network(
        model, adata, vocab, GrnParams(genes="random expressed", n_genes=40), progress=False
    )
    assert 2 <= len(net.genes) <= 40 and net.edges.num_rows > 0
    with pytest.raises(ValueError, match="genes must be one of"):
        GrnParams(genes="most var")


def test_given_genes_are_all_kept_unless_drop_unexpressed(grn_setup):
    """scPRINT's drop_unexpressed=False: a given gene nobody in the group expresses stays in context."""
    from scprint_graph.grn import extract_network

    model, adata, vocab = grn_setup
    adata = adata.copy()
    x = adata.X.tolil()
    x[:, [2, 5]] = 0  # two given genes unexpressed in the group
    adata.X = x.tocsr()
    symbols = list(adata.var["feature_name"][:10])
    given = [*symbols, "NOT_A_GENE"]
    kept = extract_network(model, adata, vocab, GrnParams(genes=given, n_genes=None), progress=False)
    assert kept.genes == list(adata.var_names[:10]) and kept.params["drop_unexpressed"] is False
    dropped = extract_network(
        model, adata, vocab, GrnParams(genes=given, n_genes=None, drop_unexpressed=True), progress=False
    )
    expressed = [g for i, g in enumerate(adata.var_names[:10]) if (adata.X[:, i] > 0).sum() > 0]
    assert dropped.genes == expressed and len(expressed) == 8
    assert kept.params["precision"] == "fp32" and kept.params["given_genes_sha256"]


def test_cli_grn_writes_one_network_per_group(grn_setup, tmp_path):
    import json

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from cli.main import app
    from scprint_graph.checkpoint import save_checkpoint

    model, adata, vocab = grn_setup
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model, list(vocab.ensembl_ids))
    h5ad = tmp_path / "cells.h5ad"
    adata.write_h5ad(h5ad)
    out = tmp_path / "edges.parquet"
    args = ["grn", "--ckpt", str(ckpt), "--h5ad", str(h5ad), "--group-by", "cell_type", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--n-genes", "20", "--filter", "top_k", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    groups = set(adata.obs["cell_type"].astype(str))
    assert set(table.column("group").to_pylist()) == groups - {"unknown"}  # 3 "unknown" cells < --min-cells
    params = json.loads(table.schema.metadata[b"scprint_graph.grn"])
    assert {p["group"] for p in params} == groups - {"unknown"} and params[0]["top_k"] == 2
    assert table.num_rows == sum(p["n_network_genes"] * 2 for p in params)
    bad = CliRunner().invoke(app, [*args, "--filter", "top_k"])
    assert bad.exit_code != 0 and "--top-k" in bad.output


def test_gene_stats_and_choice_match_dense_numpy(grn_setup):
    from scprint_graph.cells import AnnDataCells
    from scprint_graph.grn_genes import choose_genes, gene_stats

    _, adata, vocab = grn_setup
    cells = AnnDataCells(adata, vocab)
    stats = gene_stats(cells, chunk_size=7)  # several chunks
    x = adata.X.toarray().astype(np.float64)
    logged = np.log1p(x / x.sum(1, keepdims=True) * 1e4)
    np.testing.assert_allclose(stats.depth, x.sum(1))
    np.testing.assert_array_equal(stats.n_expressing, (x > 0).sum(0))
    np.testing.assert_allclose(stats.lognorm_var, logged.var(0), atol=1e-9)
    top = choose_genes(cells, stats, "most expressed", 5)
    expected = np.sort(np.argsort(-x.mean(0), kind="stable")[:5])
    np.testing.assert_array_equal(top, cells.mapping.indices[expected])
