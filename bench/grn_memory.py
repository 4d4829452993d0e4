"""Peak memory of one network extraction: 5,000 genes from 1,024 cells, small config, CPU (target: < 4 GiB).

The model is randomly initialised (memory does not depend on the weights); the cells are synthetic raw
counts over 6,000 real human genes. Prints the peak resident set size of this process (ru_maxrss) before and
after the extraction, the time taken, and the edge count. Run: ``.venv/bin/python bench/grn_memory.py``
(``--n-genes``, ``--cells``, ``--batch-size`` to vary it).
"""

import argparse
import logging
import resource
import time

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from scprint_graph.config import ModelConfig
from scprint_graph.genes import GeneVocabulary
from scprint_graph.grn import extract_network
from scprint_graph.grn_params import GrnParams
from scprint_graph.model import ScPrintModel


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def synthetic_cells(n_cells: int, vocab: GeneVocabulary, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    means = rng.gamma(0.4, 2.0, size=len(vocab)).astype(np.float32)
    rows = [
        sp.csr_matrix(rng.poisson(means * rng.lognormal(0, 0.3)).astype(np.float32)) for _ in range(n_cells)
    ]
    var = pd.DataFrame(
        {"feature_name": vocab.symbols.astype(str)}, index=pd.Index(vocab.ensembl_ids.astype(str))
    )
    return ad.AnnData(X=sp.vstack(rows).tocsr(), var=var)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-genes", type=int, default=5000)
    parser.add_argument("--vocab-genes", type=int, default=6000)
    parser.add_argument("--cells", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--preset", default="small")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    full = GeneVocabulary.load(("human",), biotypes=("protein_coding",))
    vocab = full.subset(np.arange(args.vocab_genes))
    adata = synthetic_cells(args.cells, vocab)
    config = ModelConfig.preset(args.preset, n_genes=len(vocab), dropout=0.0)
    model = ScPrintModel(config, gene_locations=torch.as_tensor(vocab.location_index())).eval()
    before = peak_rss_mib()
    start = time.perf_counter()
    net = extract_network(
        model,
        adata,
        vocab,
        GrnParams(genes="most expressed", n_genes=args.n_genes, max_cells=args.cells),
        batch_size=args.batch_size,
        progress=False,
    )
    seconds = time.perf_counter() - start
    after = peak_rss_mib()
    print(
        f"config {args.preset} (d_model {config.d_model}, {config.n_layers} layers, {config.n_heads} heads, "
        f"max_len {config.max_len}); {args.cells} cells; {len(net.genes)} network genes; torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"peak RSS before extraction (model + data loaded): {before:8.0f} MiB")
    print(f"peak RSS after extraction:                        {after:8.0f} MiB  (limit 4096 MiB)")
    print(f"extraction time: {seconds:.1f} s; edges kept (threshold filter): {net.edges.num_rows:,}")


if __name__ == "__main__":
    main()
