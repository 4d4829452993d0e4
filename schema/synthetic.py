"""A synthetic atlas of random networks, for tests and benchmarks (``bench/store.py``, ``bench/server.py``).

Genes are ``ENSG%011d`` with symbols ``G<i>``; one gene in ten is a transcription factor. Regulators follow a
skewed (power-law-like) distribution so that hubs exist; targets are uniform; weights are uniform in (0, 1).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from schema.genesets import GmtSet
from schema.identity import idempotency_key, params_hash
from schema.release import Store
from schema.rows import NetworkMeta

log = logging.getLogger(__name__)

TISSUES = [
    ("lung", "UBERON:0002048"),
    ("liver", "UBERON:0002107"),
    ("kidney", "UBERON:0002113"),
    ("heart", "UBERON:0000948"),
    ("blood", "UBERON:0000178"),
    ("brain", "UBERON:0000955"),
]
DISEASES = [
    ("normal", "PATO:0000461"),
    ("COVID-19", "MONDO:0100096"),
    ("lung adenocarcinoma", "MONDO:0005061"),
    ("type 2 diabetes mellitus", "MONDO:0005148"),
]
CELL_TYPES = [
    ("T cell", "CL:0000084"),
    ("B cell", "CL:0000236"),
    ("macrophage", "CL:0000235"),
    ("fibroblast", "CL:0000057"),
    ("endothelial cell", "CL:0000115"),
    ("epithelial cell", "CL:0000066"),
    ("natural killer cell", "CL:0000623"),
    ("monocyte", "CL:0000576"),
]
HUMAN = ("Homo sapiens", "NCBITaxon:9606")


PREDRAW_EDGES = 200_000_000  # atlases up to this size are drawn before the timed load
GROUPS_PER_PERIOD = 48  # synthetic_group repeats after 48 networks: a dataset holds at most that many


def synthetic_group(i: int) -> tuple[tuple[str, str], ...]:
    """(tissue, disease, cell type) of the i-th network: any 48 consecutive networks have distinct groups."""
    return TISSUES[i % 6], DISEASES[(i // 6) % 4], CELL_TYPES[(i // 2) % 8]


@dataclass(frozen=True)
class AtlasStats:
    release_id: str
    n_networks: int
    n_edges: int
    add_seconds: float  # from the first add_network to the last add_edges (incl. making the string tables)
    publish_seconds: float  # node statistics, target layout, checkpoint, publish
    publish_steps: dict[str, float]  # seconds per publish step
    total_seconds: float  # add + publish, excluding the generation of random data
    cpu_seconds: float  # process CPU time (all threads) of the store calls, excluding the generation

    @property
    def edges_per_second(self) -> float:
        return self.n_edges / self.total_seconds if self.total_seconds else float("inf")


def gene_table(n_genes: int) -> pa.Table:
    """``n_genes`` synthetic human genes; every tenth is a transcription factor."""
    idx = np.arange(n_genes)
    return pa.table(
        {
            "ensembl_id": [f"ENSG{i:011d}" for i in idx],
            "symbol": [f"G{i}" for i in idx],
            "organism": ["NCBITaxon:9606"] * n_genes,
            "chromosome": [str(1 + i % 22) for i in idx],
            "start": pa.array(idx * 1000, pa.int32()),
            "is_tf": idx % 10 == 0,
        }
    )


def gene_names(n_genes: int) -> np.ndarray:
    return np.array([f"ENSG{i:011d}" for i in range(n_genes)], dtype=object)


def random_edge_ids(
    rng: np.random.Generator, n_genes: int, n_edges: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_edges`` distinct random (regulator, target) pairs of gene indices, with weights in (0, 1)."""
    n_edges = min(n_edges, n_genes * n_genes)
    pairs = np.zeros(0, dtype=np.int64)
    while pairs.size < n_edges:
        want = int((n_edges - pairs.size) * 1.1) + 16
        reg = np.minimum((rng.pareto(1.2, want) * n_genes / 50).astype(np.int64), n_genes - 1)
        pairs = _sorted_distinct(np.concatenate([pairs, reg * n_genes + rng.integers(0, n_genes, want)]))
    pairs = rng.permutation(pairs)[:n_edges]
    return pairs // n_genes, pairs % n_genes, rng.random(n_edges, dtype=np.float32)


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by a sort: numpy 2's hash-based unique took 3/4 of drawing a 2,000-gene net."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


def edges_table(names: pa.Array, regulator: np.ndarray, target: np.ndarray, weight: np.ndarray) -> pa.Table:
    """The edges of ``random_edge_ids`` as ``add_edges`` takes them (Ensembl id strings)."""
    return pa.table({"regulator": names.take(regulator), "target": names.take(target), "weight": weight})


def random_edges(rng: np.random.Generator, names: np.ndarray, n_edges: int) -> pa.Table:
    """``n_edges`` distinct random (regulator, target) pairs among ``names``, with weights in (0, 1)."""
    return edges_table(pa.array(names, pa.string()), *random_edge_ids(rng, names.size, n_edges))


def random_gene_sets(rng: np.random.Generator, n_genes: int, n_sets: int) -> list[GmtSet]:
    """Random gene sets of 10 to 300 synthetic symbols (``G<i>``)."""
    sizes = rng.integers(10, min(300, n_genes) + 1, n_sets)
    return [
        GmtSet(
            f"SYNTHETIC_SET_{i}", "random", tuple(f"G{g}" for g in rng.choice(n_genes, size, replace=False))
        )
        for i, size in enumerate(sizes)
    ]


def build_synthetic_atlas(
    root: str | Path,
    *,
    n_networks: int = 20,
    n_edges: int = 2000,
    n_genes: int = 2000,
    networks_per_dataset: int = 10,
    seed: int = 0,
    store_options: dict | None = None,
    n_gene_sets: int = 0,
    network_genes: int | None = None,
    on_network: Callable[[int], None] | None = None,
) -> AtlasStats:
    """Publish one release holding ``n_networks`` random networks of ``n_edges`` edges each.

    Facets cycle through small lists of real tissues, diseases and cell types with their ontology term ids,
    so facet and grouping queries have something to find. ``n_gene_sets`` random gene sets (10 to 300 genes)
    form the collection "synthetic sets", for enrichment queries. ``network_genes`` draws each network's
    edges among that many random genes of the ``n_genes`` (default: all of them), as ingestion keeps the
    2,000 most expressed genes of each group. ``on_network(i)`` is called after each
    network (e.g. to advance a progress bar). Returns timings of the load, which starts once the random
    edges are drawn (as gene indices; their Arrow string tables are made inside the timed loop).
    """
    if not 1 <= networks_per_dataset <= GROUPS_PER_PERIOD:
        msg = f"networks_per_dataset must be between 1 and {GROUPS_PER_PERIOD}, got {networks_per_dataset}"
        raise ValueError(msg)
    if network_genes is not None and not 2 <= network_genes <= n_genes:
        msg = f"network_genes must be between 2 and n_genes ({n_genes}), got {network_genes}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    store = Store(root, **(store_options or {}))
    store.init()
    names = pa.array(gene_names(n_genes), pa.string())
    gene_sets = random_gene_sets(rng, n_genes, n_gene_sets) if n_gene_sets else []

    # Random data first, so the timings hold the store's work alone; the ids take 12 bytes per edge, the
    # strings are made just before each add_edges. Past PREDRAW_EDGES (a billion edges would need 12 GB)
    # each network is drawn in the loop and its drawing time taken out of the timings.
    def draw():
        n_cells = int(rng.integers(50, 5000))
        if network_genes is None:
            regulator, target, weight = random_edge_ids(rng, n_genes, n_edges)
        else:
            genes = np.sort(rng.choice(n_genes, network_genes, replace=False))
            regulator, target, weight = random_edge_ids(rng, network_genes, n_edges)
            regulator, target = genes[regulator], genes[target]
        return n_cells, regulator.astype(np.int32), target.astype(np.int32), weight

    predraw = n_networks * n_edges <= PREDRAW_EDGES
    drawn = [draw() if predraw else None for _ in range(n_networks)]
    draw_seconds = draw_cpu = 0.0
    total_edges = 0
    with store.new_release(note=f"synthetic atlas {n_networks} x {n_edges}") as w:
        w.upsert_genes(gene_table(n_genes))
        if gene_sets:
            w.load_gene_sets("synthetic sets", gene_sets, license="CC0")
        model_id = w.add_model("synthetic-checkpoint", "synthetic", {"seed": seed})
        dataset_id = None
        start, cpu_start = time.perf_counter(), time.process_time()
        for i in range(n_networks):
            if drawn[i] is None:
                t, c = time.perf_counter(), time.process_time()
                drawn[i] = draw()
                draw_seconds, draw_cpu = (
                    draw_seconds + time.perf_counter() - t,
                    draw_cpu + time.process_time() - c,
                )
            n_cells, regulator, target, weight = drawn[i]
            if i % networks_per_dataset == 0:
                dataset_id = w.upsert_dataset(
                    source="synthetic",
                    source_id=f"dataset-{i // networks_per_dataset}",
                    version="1",
                    title=f"Synthetic dataset {i // networks_per_dataset}",
                    collection="synthetic atlas",
                    content_hash=f"hash-{i // networks_per_dataset}",
                ).id
            tissue, disease, cell_type = synthetic_group(i)
            meta = NetworkMeta(
                dataset_id=dataset_id,
                n_cells=n_cells,
                cell_type=cell_type[0],
                cell_type_ontology_term_id=cell_type[1],
                tissue=tissue[0],
                tissue_ontology_term_id=tissue[1],
                disease=disease[0],
                disease_ontology_term_id=disease[1],
                organism=HUMAN[0],
                organism_ontology_term_id=HUMAN[1],
                model_id=model_id,
                parameters={"seed": seed, "index": i},
                idempotency_key=idempotency_key(
                    f"synthetic:dataset-{i // networks_per_dataset}",
                    "1",
                    "synthetic-checkpoint",
                    params_hash({"seed": seed}),
                ),
            )
            network_id = w.add_network(meta)
            total_edges += w.add_edges(network_id, edges_table(names, regulator, target, weight)).n_edges
            drawn[i] = None  # free the ids as we go
            if on_network is not None:
                on_network(i)
        add_seconds = time.perf_counter() - start - draw_seconds
        finish_start = time.perf_counter()
    publish_seconds = time.perf_counter() - finish_start
    cpu_seconds = time.process_time() - cpu_start - draw_cpu
    stats = AtlasStats(
        release_id=w.release_id,
        n_networks=n_networks,
        n_edges=total_edges,
        add_seconds=add_seconds,
        publish_seconds=publish_seconds,
        total_seconds=add_seconds + publish_seconds,
        publish_steps=dict(w.timings),
        cpu_seconds=cpu_seconds,
    )
    log.info("synthetic atlas: %s", stats)
    return stats
