"""Throughput of the data layer: AnnData rows -> token batches, in memory vs backed, random vs fixed genes.

Prints cells per second for a synthetic raw-count matrix of realistic shape (default 4,000 cells x 30,000
human genes, about 2,000 expressed genes per cell, scPRINT's max_len 2,200 and batch 64), and the cost of
a random-access training read (``TokenizedCells.__getitems__``) relative to sequential batching.

    .venv/bin/python bench/bench_batching.py [--cells 4000] [--genes 30000] [--nnz 2000]
"""

import argparse
import logging
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scprint_graph.cells import AnnDataCells, TokenizedCells
from scprint_graph.genes import GeneVocabulary


def make_counts(n_cells: int, n_genes: int, nnz: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    per_cell = rng.integers(nnz // 4, 2 * nnz, size=n_cells)  # some cells below max_len: fill path runs
    indptr = np.concatenate([[0], np.cumsum(per_cell)])
    indices = np.concatenate([np.sort(rng.choice(n_genes, k, replace=False)) for k in per_cell])
    data = rng.geometric(0.4, size=len(indices)).astype(np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n_cells, n_genes))


def rate(fn, n_cells: int) -> float:
    start = time.perf_counter()
    fn()
    return n_cells / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=4000)
    parser.add_argument("--genes", type=int, default=30000)
    parser.add_argument("--nnz", type=int, default=2000)
    parser.add_argument("--max-len", type=int, default=2200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    vocab = GeneVocabulary.load(organisms=("human",))
    var = pd.DataFrame(index=pd.Index(vocab.ensembl_ids[: args.genes]))
    adata = ad.AnnData(make_counts(args.cells, args.genes, args.nnz), var=var)
    start = time.perf_counter()
    cells = AnnDataCells(adata, vocab)
    print(f"map {args.genes} var genes onto {len(vocab)}: {time.perf_counter() - start:.2f} s")

    def run(c: AnnDataCells, **mode) -> None:
        for _ in c.batches(batch_size=64, seed=0, **mode):
            pass

    n = args.cells
    fixed = np.arange(2000)
    mem_random = rate(lambda: run(cells, max_len=args.max_len), n)
    mem_fixed = rate(lambda: run(cells, genes=fixed), n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5ad"
        adata.write_h5ad(path)
        backed = ad.read_h5ad(path, backed="r")
        bcells = AnnDataCells(backed, vocab)
        backed_random = rate(lambda: run(bcells, max_len=args.max_len), n)
        dataset = TokenizedCells(bcells, max_len=args.max_len)
        order = np.random.default_rng(0).permutation(n)
        batches = [order[i : i + 64] for i in range(0, n, 64)]
        random_access = rate(lambda: [dataset.__getitems__(b.tolist()) for b in batches], n)
        backed.file.close()

    shape = f"{args.cells} cells x {args.genes} genes, ~{args.nnz} nnz/cell, max_len {args.max_len}, batch 64"
    print(shape)
    print(f"in memory CSR, random mode     : {mem_random:8.0f} cells/s")
    print(f"in memory CSR, fixed 2000 genes: {mem_fixed:8.0f} cells/s")
    print(
        f"backed h5ad,   random mode     : {backed_random:8.0f} cells/s ({backed_random / mem_random:.2f}x)"
    )
    print(f"backed Dataset, shuffled : {random_access:8.0f} cells/s ({random_access / backed_random:.2f}x)")


if __name__ == "__main__":
    main()
