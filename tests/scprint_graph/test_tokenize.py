"""Tokenisation: random expressed genes then unexpressed fill, depth before subsetting, fixed gene lists."""

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from scprint_graph import keys
from scprint_graph.tokenize import Tokenizer


@pytest.fixture
def counts():
    """8 cells x 12 dataset genes; gene 3 is unknown to the vocabulary (var_to_vocab -1)."""
    rng = np.random.default_rng(1)
    dense = rng.poisson(1.0, size=(8, 12)).astype(np.float32) * (rng.random((8, 12)) < 0.5)
    dense[0] = 0
    dense[0, [1, 3, 5]] = [2, 7, 1]  # cell 0: 2 known expressed genes, plus 7 counts on the unknown gene
    dense[1] = 1 + np.arange(12)  # cell 1: every gene expressed
    return dense


VAR_TO_VOCAB = np.array([10, 11, 12, -1, 14, 15, 16, 17, 18, 19, 20, 21])  # vocabulary index per dataset gene


def test_context_has_expressed_genes_first_then_unexpressed_fill(counts):
    tok = Tokenizer(VAR_TO_VOCAB, max_len=6)
    out = tok(sp.csr_matrix(counts), np.random.default_rng(0))
    genes, expr, depth = out[keys.GENES], out[keys.EXPRESSION], out[keys.DEPTH]
    assert genes.shape == expr.shape == (8, 6)
    assert genes.dtype == np.int64 and expr.dtype == np.float32 and depth.dtype == np.float32
    vocab_to_col = {v: c for c, v in enumerate(VAR_TO_VOCAB) if v >= 0}
    for r in range(8):
        cols = np.array([vocab_to_col[g] for g in genes[r]])
        assert len(set(cols)) == 6  # no gene twice
        np.testing.assert_array_equal(expr[r], counts[r, cols])  # expression is the cell's raw count
        n_expr = min(6, int(((counts[r] > 0) & (VAR_TO_VOCAB >= 0)).sum()))
        assert (expr[r, :n_expr] > 0).all()  # expressed genes first ...
        assert (expr[r, n_expr:] == 0).all()  # ... then the unexpressed fill
    assert sorted(genes[0, :2].tolist()) == [11, 15]
    assert 13 not in genes  # the unknown dataset gene never becomes a token


def test_depth_is_total_count_before_subsetting(counts):
    out = Tokenizer(VAR_TO_VOCAB, max_len=3)(sp.csr_matrix(counts), np.random.default_rng(0))
    np.testing.assert_array_equal(out[keys.DEPTH], counts.sum(axis=1))
    assert out[keys.DEPTH][0] == 10  # includes the 7 counts of the gene outside the vocabulary
    assert out[keys.EXPRESSION][1].sum() < out[keys.DEPTH][1]  # 3 of 12 genes kept


def test_max_len_respected_and_draws_are_random_among_expressed(counts):
    tok = Tokenizer(VAR_TO_VOCAB, max_len=4)
    seen = set()
    for seed in range(20):
        out = tok(sp.csr_matrix(counts[1:2]), np.random.default_rng(seed))
        assert out[keys.GENES].shape == (1, 4)
        seen.update(out[keys.GENES][0].tolist())
    assert seen == set(VAR_TO_VOCAB[VAR_TO_VOCAB >= 0].tolist())  # every known gene gets drawn sometimes


def test_seeded_rng_is_deterministic_and_dense_equals_sparse(counts):
    tok = Tokenizer(VAR_TO_VOCAB, max_len=5)
    a = tok(sp.csr_matrix(counts), np.random.default_rng(7))
    b = tok(counts, np.random.default_rng(7))
    c = tok(counts, np.random.default_rng(8))
    for key in (keys.GENES, keys.EXPRESSION, keys.DEPTH):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a[keys.GENES], c[keys.GENES])


def test_context_shrinks_to_known_genes(counts, caplog):
    with caplog.at_level(logging.WARNING, logger="scprint_graph.tokenize"):
        tok = Tokenizer(VAR_TO_VOCAB, max_len=50)
    assert tok.n_ctx == 11 and "11" in caplog.text
    out = tok(counts, np.random.default_rng(0))
    assert out[keys.GENES].shape == (8, 11)
    assert (np.sort(out[keys.GENES], axis=1) == np.sort(VAR_TO_VOCAB[VAR_TO_VOCAB >= 0])).all()


def test_fixed_mode_same_genes_every_cell(counts, caplog):
    wanted = [21, 11, 99, 14]  # 99: a vocabulary gene this dataset did not measure
    with caplog.at_level(logging.WARNING, logger="scprint_graph.tokenize"):
        tok = Tokenizer(VAR_TO_VOCAB, genes=wanted)
    assert "1 of 4 fixed genes" in caplog.text
    out = tok(sp.csr_matrix(counts))
    assert (out[keys.GENES] == np.array(wanted)).all()
    np.testing.assert_array_equal(out[keys.EXPRESSION][:, 0], counts[:, 11])
    np.testing.assert_array_equal(out[keys.EXPRESSION][:, 1], counts[:, 1])
    np.testing.assert_array_equal(out[keys.EXPRESSION][:, 2], 0)
    np.testing.assert_array_equal(out[keys.EXPRESSION][:, 3], counts[:, 4])
    np.testing.assert_array_equal(out[keys.DEPTH], counts.sum(axis=1))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        Tokenizer(VAR_TO_VOCAB)
    with pytest.raises(ValueError, match="max_len"):
        Tokenizer(VAR_TO_VOCAB, max_len=0)
    with pytest.raises(ValueError, match="several dataset genes"):
        Tokenizer(np.array([1, 1, 2]), max_len=2)
    with pytest.raises(ValueError, match="no dataset gene"):
        Tokenizer(np.array([-1, -1]), max_len=2)
    with pytest.raises(ValueError, match="distinct"):
        Tokenizer(VAR_TO_VOCAB, genes=[11, 11])
    tok = Tokenizer(VAR_TO_VOCAB, max_len=3)
    with pytest.raises(ValueError, match="rng"):
        tok(np.ones((1, 12)))
    with pytest.raises(ValueError, match="5 genes"):
        tok(np.ones((1, 5)), np.random.default_rng(0))


def test_one_generator_per_row_matches_rows_tokenised_alone(counts):
    tok = Tokenizer(VAR_TO_VOCAB, max_len=5)
    together = tok(counts, [np.random.default_rng(100 + r) for r in range(8)])
    for r in range(8):
        alone = tok(counts[r : r + 1], np.random.default_rng(100 + r))
        np.testing.assert_array_equal(together[keys.GENES][r], alone[keys.GENES][0])
    with pytest.raises(ValueError, match="2 generators for 8 cells"):
        tok(counts, [np.random.default_rng(0)] * 2)
