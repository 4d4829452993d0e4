"""Tokenisation of raw-count cells into model contexts, as scPRINT's collator does ("random expr").

Random mode (pretraining, embedding): per cell, up to ``max_len`` expressed genes chosen at random (in
dataset gene order), then, when fewer are expressed, random unexpressed genes to fill the context to
``max_len`` (in random order). Fill genes are drawn among the genes the dataset measured and the vocabulary
knows; scPRINT also draws them from vocabulary genes the dataset did not measure (as zeros), which we avoid
because an unmeasured gene is not an observed zero. A dataset with fewer known genes than ``max_len`` gives
contexts of that smaller size, the same for every cell, so batches never need padding.

Fixed mode (GRN extraction): the same given vocabulary genes, in the given order, for every cell; genes the
dataset did not measure get zero counts and are reported once.

In both modes DEPTH is the cell's total count over all its genes, computed before any gene subsetting
(genes unknown to the vocabulary included), and EXPRESSION holds raw counts as float32.
"""

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from scprint_graph import keys

logger = logging.getLogger(__name__)


class Tokenizer:
    """Turns rows of raw counts over a dataset's genes into (GENES, EXPRESSION, DEPTH) arrays.

    Parameters
    ----------
    var_to_vocab
        ``(n_var,)`` int64 vocabulary index of each dataset gene, -1 for genes unknown to the vocabulary
        (``GeneMapping.indices``). Known genes must be unique.
    max_len
        Random mode: context size (number of genes per cell).
    genes
        Fixed mode: vocabulary indices of the genes every cell gets, in this order.
    """

    def __init__(
        self,
        var_to_vocab: np.ndarray,
        *,
        max_len: int | None = None,
        genes: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        if (max_len is None) == (genes is None):
            msg = f"give exactly one of max_len (random mode) or genes (fixed mode); got {max_len=}, {genes=}"
            raise ValueError(msg)
        self.var_to_vocab = np.asarray(var_to_vocab, dtype=np.int64)
        known = self.var_to_vocab[self.var_to_vocab >= 0]
        if len(np.unique(known)) != len(known):
            msg = (
                "var_to_vocab maps several dataset genes to one vocabulary gene (use GeneVocabulary.map_var)"
            )
            raise ValueError(msg)
        self.known = self.var_to_vocab >= 0  # (n_var,)
        self.known_cols = np.flatnonzero(self.known)
        if len(self.known_cols) == 0:
            msg = "no dataset gene is in the vocabulary: check the var index / gene column and the organism"
            raise ValueError(msg)
        self.fixed = genes is not None
        if genes is None:
            if max_len <= 0:
                msg = f"max_len must be positive, got {max_len}"
                raise ValueError(msg)
            self.max_len = int(max_len)
            self.n_ctx = min(self.max_len, len(self.known_cols))
            if self.n_ctx < self.max_len:
                logger.warning(
                    "only %d dataset genes are in the vocabulary: contexts have %d genes, not max_len=%d",
                    self.n_ctx,
                    self.n_ctx,
                    self.max_len,
                )
        else:
            self._init_fixed(np.asarray(genes, dtype=np.int64))

    def _init_fixed(self, genes: np.ndarray) -> None:
        if genes.ndim != 1 or len(genes) == 0:
            msg = f"genes must be a non-empty 1-d list of vocabulary indices, got shape {genes.shape}"
            raise ValueError(msg)
        if (genes < 0).any() or len(np.unique(genes)) != len(genes):
            msg = f"genes must be distinct non-negative vocabulary indices; got {genes[:10].tolist()}..."
            raise ValueError(msg)
        self.genes = genes
        self.max_len = self.n_ctx = len(genes)
        vocab_to_var = dict(
            zip(self.var_to_vocab[self.known_cols].tolist(), self.known_cols.tolist(), strict=True)
        )
        self.gene_cols = np.array([vocab_to_var.get(g, -1) for g in genes.tolist()], dtype=np.int64)
        missing = np.flatnonzero(self.gene_cols < 0)
        if len(missing):
            logger.warning(
                "%d of %d fixed genes are not measured in this dataset (zero counts given), e.g. vocab %s",
                len(missing),
                len(genes),
                genes[missing[:5]].tolist(),
            )

    def __call__(
        self,
        counts: sp.csr_matrix | np.ndarray,
        rng: np.random.Generator | Sequence[np.random.Generator] | None = None,
    ) -> dict:
        """Tokenise a block of cells.

        Parameters
        ----------
        counts
            ``(n_cells, n_var)`` raw counts (CSR or dense), columns in dataset gene order.
        rng
            Random mode only: one generator, consumed row by row (the result depends only on its state and
            the rows), or one generator per row.

        Returns
        -------
        dict
            ``keys.GENES`` ``(n_cells, n_ctx)`` int64 vocabulary indices, ``keys.EXPRESSION``
            ``(n_cells, n_ctx)`` float32 counts, ``keys.DEPTH`` ``(n_cells,)`` float32 total counts.
        """
        counts = sp.csr_matrix(counts)
        if counts.shape[1] != len(self.var_to_vocab):
            msg = f"counts have {counts.shape[1]} genes, the tokenizer was built for {len(self.var_to_vocab)}"
            raise ValueError(msg)
        counts.sum_duplicates()
        depth = (
            np.asarray(counts.sum(axis=1), dtype=np.float64).ravel().astype(np.float32)
        )  # before subsetting
        if self.fixed:
            genes, expression = self._fixed(counts)
        else:
            if rng is None:
                msg = "random mode needs a numpy Generator (rng) for reproducible gene draws"
                raise ValueError(msg)
            if not isinstance(rng, np.random.Generator) and len(rng) != counts.shape[0]:
                msg = f"got {len(rng)} generators for {counts.shape[0]} cells"
                raise ValueError(msg)
            genes, expression = self._random(counts, rng)
        return {keys.GENES: genes, keys.EXPRESSION: expression, keys.DEPTH: depth}

    def _fixed(self, counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        n = counts.shape[0]
        expression = np.zeros((n, self.n_ctx), dtype=np.float32)
        present = self.gene_cols >= 0
        expression[:, present] = counts[:, self.gene_cols[present]].toarray()
        genes = np.broadcast_to(self.genes, (n, self.n_ctx)).copy()
        return genes, expression

    def _random(self, counts: sp.csr_matrix, rngs) -> tuple[np.ndarray, np.ndarray]:
        n = counts.shape[0]
        cols = np.empty((n, self.n_ctx), dtype=np.int64)
        expression = np.zeros((n, self.n_ctx), dtype=np.float32)
        n_known = len(self.known_cols)
        taken = np.zeros(len(self.var_to_vocab), dtype=bool)  # (n_var,) this cell's expressed genes
        for r in range(n):
            rng = rngs if isinstance(rngs, np.random.Generator) else rngs[r]
            lo, hi = counts.indptr[r], counts.indptr[r + 1]
            row_cols, row_vals = counts.indices[lo:hi], counts.data[lo:hi]
            keep = self.known[row_cols] & (row_vals > 0)
            row_cols, row_vals = row_cols[keep], row_vals[keep]
            if len(row_cols) > self.n_ctx:
                pick = np.sort(rng.choice(len(row_cols), self.n_ctx, replace=False))
                row_cols, row_vals = row_cols[pick], row_vals[pick]
            n_expr = len(row_cols)
            cols[r, :n_expr] = row_cols
            expression[r, :n_expr] = row_vals
            need = self.n_ctx - n_expr
            if need:
                # n_expr + need distinct draws hold at least `need` unexpressed genes
                draw = self.known_cols[rng.choice(n_known, n_expr + need, replace=False)]
                taken[row_cols] = True
                cols[r, n_expr:] = draw[~taken[draw]][:need]
                taken[row_cols] = False
        genes = self.var_to_vocab[cols]
        return genes, expression
