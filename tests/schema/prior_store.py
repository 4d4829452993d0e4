"""A small store with known priors and three networks of known quality, shared by the evidence tests.

Genes are the synthetic ``ENSG%011d`` / ``G<i>`` with every tenth a TF. The prior names TF regulators and
two non-TF regulators; network ``good`` carries most prior edges with high weights, ``random`` has random
edges, ``tiny`` has 3 genes (too few known edges to score).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from schema import NetworkMeta, Store
from schema.synthetic import gene_table

N_GENES = 150


def ensembl(i) -> str:
    return f"ENSG{int(i):011d}"


@dataclass(frozen=True)
class PriorStore:
    root: Path
    prior: pa.Table  # regulator, target (Ensembl ids), sign
    edges: dict[str, pa.Table]  # network name -> edges as written (Ensembl ids)
    network_ids: dict[str, int]


def prior_table(rng: np.random.Generator) -> pa.Table:
    tfs = np.arange(0, N_GENES, 10)
    regulators = np.concatenate([rng.choice(tfs, 260), np.full(20, 3), np.full(20, 7)])
    targets = rng.integers(0, N_GENES, regulators.size)
    pairs = sorted({(int(r), int(t)) for r, t in zip(regulators, targets, strict=True) if r != t})
    signs = rng.choice([1, -1, 0], len(pairs))
    return pa.table(
        {
            "regulator": [ensembl(r) for r, _ in pairs],
            "target": [ensembl(t) for _, t in pairs],
            "sign": pa.array(signs, pa.int8()),
        }
    )


def network_tables(rng: np.random.Generator, prior: pa.Table) -> dict[str, pa.Table]:
    known = list(zip(prior["regulator"].to_pylist(), prior["target"].to_pylist(), strict=True))
    kept = [known[i] for i in rng.choice(len(known), int(0.6 * len(known)), replace=False)]
    noise = {(ensembl(r), ensembl(t)) for r, t in rng.integers(0, N_GENES, (600, 2)) if r != t} - set(known)
    good = [*kept, *sorted(noise)]
    good_weights = np.concatenate([rng.uniform(0.5, 1.0, len(kept)), rng.uniform(0.0, 0.7, len(noise))])
    random_pairs = sorted({(ensembl(r), ensembl(t)) for r, t in rng.integers(0, N_GENES, (900, 2)) if r != t})

    def table(pairs, weights):
        return pa.table(
            {
                "regulator": [r for r, _ in pairs],
                "target": [t for _, t in pairs],
                "weight": pa.array(weights, pa.float32()),
            }
        )

    return {
        "good": table(good, good_weights),
        "random": table(random_pairs, rng.uniform(0, 1, len(random_pairs))),
        "tiny": table([(ensembl(0), ensembl(1)), (ensembl(1), ensembl(2))], [0.5, 0.25]),
    }


def build_prior_store(root: Path, *, seed: int = 3) -> PriorStore:
    """Genes and networks in one release (no priors yet: tests load them)."""
    rng = np.random.default_rng(seed)
    prior = prior_table(rng)
    edges = network_tables(rng, prior)
    store = Store(root)
    store.init()
    ids = {}
    with store.new_release(note="evidence test networks") as w:
        w.upsert_genes(gene_table(N_GENES))
        dataset = w.upsert_dataset(source="test", source_id="evidence", content_hash="h").id
        for name, table in edges.items():
            ids[name] = w.add_network(NetworkMeta(dataset_id=dataset, n_cells=100, cell_type=name))
            w.add_edges(ids[name], table)
    return PriorStore(root=root, prior=prior, edges=edges, network_ids=ids)
