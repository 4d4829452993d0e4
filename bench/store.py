"""Benchmark of the network store: bulk load rate and latency of each query on a synthetic atlas.

Builds (or reuses, with --reuse) an atlas of --networks x --edges random edges with ``build_synthetic_atlas``,
then times every query function on random arguments and prints p50 / p99 latencies. DuckDB runs with
--threads threads (2 by default: the target machine). Targets: load >= 2 M edges/s; top-k edges of a network
and targets of a regulator in one network < 10 ms p50; regulators of a gene across all networks < 150 ms p50;
publishing one new dataset (--publish-networks networks) into the atlas <= 10 s, written as a delta release
on the atlas's base (schema/release.py); the queries are then timed on that release (base + delta).

    python bench/store.py                                  # 200 networks x 50,000 edges (10 M)
    python bench/store.py --networks 2000 --edges 50000    # 100 M edges
    python bench/store.py --networks 20000 --edges 50000 --network-genes 2000 --root /data/atlas-1b \
        --keep --memory-limit 4GB                          # 1 B edges, 2,000 genes per network
"""

import argparse
import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from schema import NetworkMeta, Store, queries, writer
from schema.queries import NetworkFilter
from schema.queries.node_index import NodeIndex
from schema.synthetic import DISEASES, TISSUES, build_synthetic_atlas, gene_names, random_edges

log = logging.getLogger("bench.store")


def timed(fn: Callable[[int], object], reps: int, warmup: int = 3) -> tuple[float, float]:
    """p50 and p99 in milliseconds of ``fn(i)`` over ``reps`` calls (after ``warmup`` untimed calls)."""
    for i in range(warmup):
        fn(10_000 + i)
    times = []
    for i in range(reps):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def query_suite(
    con, n_networks: int, n_genes: int, index: NodeIndex | None, seed: int = 0
) -> dict[str, Callable[[int], object]]:
    """The queries to time, each a function of the repetition index drawing its own random arguments.

    Regulator enrichment reads the release's node statistics from ``index`` as the server does, and once
    more from the store for comparison."""
    rng = np.random.default_rng(seed)
    nets = rng.integers(1, n_networks + 1, 100_000)
    genes = rng.integers(1, n_genes + 1, 100_000)
    hubs_of = [h.gene_id for h in queries.hubs(con, 1, k=200)]  # regulators that have targets
    gene_list = list(rng.choice(np.arange(1, n_genes + 1), 200, replace=False))
    has_sets = bool(queries.gene_set_collections(con))
    suite = {
        "top-100 edges of a network": lambda i: queries.network_edges(con, int(nets[i]), first=100),
        "edges page 2 (cursor)": lambda i: queries.network_edges(con, int(nets[i]), first=100, after="100"),
        "targets of a regulator in one network": lambda i: queries.network_edges(
            con, int(nets[i]), regulator_id=hubs_of[i % len(hubs_of)], first=1000
        ),
        "regulators of a gene in one network": lambda i: queries.network_edges(
            con, int(nets[i]), target_id=int(genes[i]), first=1000
        ),
        "regulators of a gene across networks": lambda i: queries.regulators_of(
            con, int(genes[i]), first=1000
        ),
        "targets of a regulator across networks": lambda i: queries.targets_of(
            con, hubs_of[i % len(hubs_of)], first=1000
        ),
        "regulators of a gene by tissue": lambda i: queries.regulator_summary(
            con, int(genes[i]), by="tissue"
        ),
        "targets of a regulator by disease": lambda i: queries.target_summary(
            con, hubs_of[i % len(hubs_of)], by="disease"
        ),
        "hubs of a network": lambda i: queries.hubs(con, int(nets[i]), k=20),
        "hubs of 50 networks (batched)": lambda i: queries.hubs_for_networks(
            con, nets[i : i + 50].tolist(), k=10
        ),
        "networks by facets": lambda i: queries.find_networks(
            con, NetworkFilter(tissues=(TISSUES[i % 6][0],), diseases=(DISEASES[i % 4][1],)), first=50
        ),
        "networks by free text": lambda i: queries.find_networks(con, NetworkFilter(text="macro"), first=50),
        "facet counts": lambda i: queries.facet_counts(con, NetworkFilter(diseases=(DISEASES[i % 4][0],))),
        "networks by ids (batched 100)": lambda i: queries.networks_by_ids(con, nets[i : i + 100].tolist()),
        "genes by ids (batched 1000)": lambda i: queries.genes_by_ids(con, genes[i : i + 1000].tolist()),
        "compare two networks": lambda i: queries.compare_networks(con, int(nets[i]), int(nets[i + 1])),
        "regulators enriched in 200 genes, one network": lambda i: queries.enriched_regulators(
            con, gene_list, where=NetworkFilter(network_ids=(int(nets[i]),)), index=index
        ),
        "regulators enriched in 200 genes, all networks": lambda i: queries.enriched_regulators(
            con, gene_list, index=index
        ),
        "regulators enriched, all networks, no node index": lambda i: queries.enriched_regulators(
            con, gene_list
        ),
        "meta": lambda i: queries.store_info(con),
    }
    if has_sets:
        suite["gene sets enriched in a regulator's targets"] = lambda i: queries.enrich_targets(
            con, int(nets[i]), hubs_of[i % len(hubs_of)]
        )
        suite["gene sets enriched in a network's hubs"] = lambda i: queries.enrich_hubs(
            con, int(nets[i]), k=100
        )
    return suite


def publish_dataset(store: Store, tables: list, source_id: str) -> tuple:
    """Publish one new dataset of the given edge tables; return the writer and the seconds it took."""
    start = time.perf_counter()
    with store.new_release(note=f"bench: one new dataset of {len(tables)} networks") as w:
        dataset = w.upsert_dataset(source="bench", source_id=source_id).id
        for k, edges in enumerate(tables):
            meta = NetworkMeta(dataset_id=dataset, n_cells=500, tissue="lung", cell_type=f"new type {k}")
            w.add_edges(w.add_network(meta), edges)
    return w, time.perf_counter() - start


def report_publish(store: Store, n_networks: int, n_edges: int, n_genes: int, seed: int) -> None:
    """Publish one new dataset of random networks (drawn before the clock starts) and print what it cost."""
    rng = np.random.default_rng(seed)
    tables = [random_edges(rng, gene_names(n_genes), n_edges) for _ in range(n_networks)]
    w, seconds = publish_dataset(store, tables, f"new dataset {seed}")
    written = store.release_path(w.release_id).stat().st_size
    print(
        f"\npublish one dataset ({n_networks} networks, {n_networks * n_edges:,} edges): {seconds:.2f} s,"
        f" {written / 2**20:,.1f} MiB written ({w.layout}, base {w.base})"
    )
    for step, step_seconds in w.timings.items():
        print(f"  {step:<14} {step_seconds:8.2f} s")


SLOW = {
    "regulators enriched in 200 genes, all networks",
    "regulators enriched, all networks, no node index",
    "compare two networks",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--edges", type=int, default=50_000, help="edges per network")
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument(
        "--network-genes",
        type=int,
        default=None,
        help="genes each network's edges are drawn among (default: all; ingestion keeps 2,000 per group)",
    )
    parser.add_argument("--gene-sets", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--memory-limit", default="8GB", help="DuckDB memory limit")
    parser.add_argument("--reps", type=int, default=50, help="timed calls per query")
    parser.add_argument("--root", type=Path, default=None, help="store folder (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="time the queries on an existing --root")
    parser.add_argument("--keep", action="store_true", help="keep the store folder afterwards")
    parser.add_argument(
        "--publish-networks", type=int, default=20, help="networks of the dataset published after the load"
    )
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=writer.ROW_GROUP_ROWS,
        help=f"rows per row group of the release files written (default {writer.ROW_GROUP_ROWS:,}; DuckDB's: "
        "122,880), to compare sizes on one workload",
    )
    args = parser.parse_args()
    if args.row_group_rows <= 0 or args.row_group_rows % 2048:
        parser.error(f"--row-group-rows must be a positive multiple of 2,048 (DuckDB's vector size), got "
                     f"{args.row_group_rows}")  # fmt: skip
    writer.ROW_GROUP_ROWS = args.row_group_rows
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    options = {"threads": args.threads, "memory_limit": args.memory_limit}
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-store-"))
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f}; DuckDB threads {args.threads}")
    print(f"row groups of {writer.ROW_GROUP_ROWS:,} rows in the release files written")
    try:
        if not args.reuse:
            cpu = time.process_time()
            with tqdm(total=args.networks, desc="networks", unit="net") as bar:
                stats = build_synthetic_atlas(
                    root,
                    n_networks=args.networks,
                    n_edges=args.edges,
                    n_genes=args.genes,
                    n_gene_sets=args.gene_sets,
                    network_genes=args.network_genes,
                    store_options=options,
                    on_network=lambda _: bar.update(),
                )
            cpu = time.process_time() - cpu  # includes generating the random edges
            print(f"\nload: {stats.n_edges:,} edges in {stats.n_networks:,} networks")
            add_rate = stats.n_edges / stats.add_seconds / 1e6
            print(f"  add loop       {stats.add_seconds:8.1f} s  ({add_rate:.2f} M edges/s; networks, edges)")
            for step, seconds in stats.publish_steps.items():
                print(f"  {step:<14} {seconds:8.1f} s")
            rate = stats.edges_per_second / 1e6
            print(f"  total          {stats.total_seconds:8.1f} s  ({rate:.2f} M edges/s)")
            print(f"  store CPU time {stats.cpu_seconds:8.1f} s  (all threads; {cpu:.1f} s with generation)")
            per_cpu = stats.n_edges / stats.cpu_seconds / 1e6
            print(f"  = {per_cpu:.2f} M edges per CPU-second (wall time is inflated on a shared machine)")
            print(f"  load average after the load {os.getloadavg()[0]:.1f}")
            print(
                f"  peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
            )
        store = Store(root, **options)
        if args.publish_networks:
            report_publish(store, args.publish_networks, args.edges, args.genes, seed=len(store.releases()))
        with store.open_reader() as reader:
            files = [reader.path] + ([store.release_path(reader.base_id)] if reader.base_id else [])
            size = sum(path.stat().st_size for path in files)
            shown = ", ".join(f"{p.name} {p.stat().st_size / 2**30:.2f} GiB" for p in files)
            print(f"release files: {shown}")
            info = queries.store_info(reader.con)
            print(f"storage: {size / info.n_edges:.1f} bytes/edge, both access paths and node statistics")
            start = time.perf_counter()
            index = NodeIndex.read(reader.con)
            built = time.perf_counter() - start
            held = f"{index.nbytes / 2**20:.0f} MiB" if index is not None else "none (too many node rows)"
            print(f"node index (as the server reads it): {held}, read in {built:.1f} s")
            suite = query_suite(reader.con, info.n_networks, info.n_genes, index)
            print(f"\n{'query':<50} {'p50 ms':>9} {'p99 ms':>9}")
            for name, fn in suite.items():
                reps = max(5, args.reps // 5) if name in SLOW else args.reps
                p50, p99 = timed(fn, reps)
                print(f"{name:<50} {p50:9.1f} {p99:9.1f}", flush=True)
    finally:
        if args.root is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
