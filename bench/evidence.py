"""Figures for evidence and quality: scoring networks against priors, evidence lookups, known/novel pages.

Works on a copy of a store's current release (the store itself is not changed). Loads the bundled priors
into the copy if it has none, then times: re-scoring every network (all loaded sources), the evidence of
1,000 edges, the first 100 known-only and novel-only edges of a network, known-edge counts of 100
networks, and the networks sorted by EPR. Prints the quality table of every network (docs/benchmarks.md).

    python bench/evidence.py --root atlas
"""

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schema import Store  # noqa: E402
from schema.priors import (  # noqa: E402
    BUNDLED_LICENSE,
    BUNDLED_OMNIPATH,
    BUNDLED_ORIGIN,
    BUNDLED_SPLITS,
    load_priors,
    prior_table_from_ground_truth,
)
from schema.quality import rescore_release  # noqa: E402
from schema.queries import evidence  # noqa: E402
from scprint_graph import grn_metrics  # noqa: E402

log = logging.getLogger("bench.evidence")


def timed(fn, repeats: int) -> tuple[float, float]:
    """p50 and max wall time (ms) of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="store root (its current release is copied)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = Store(args.root)
    if store.base_of(store.current_release()) is not None:
        parser.error(f"the current release of {args.root} is a delta; run `scprint-graph store compact`")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "release.duckdb"
        shutil.copyfile(store.release_path(store.current_release()), path)
        con = duckdb.connect(str(path), config={"threads": str(args.threads)})
        if not con.execute("SELECT count(*) FROM prior_sources").fetchall()[0][0]:
            for name, split in BUNDLED_SPLITS.items():
                table = prior_table_from_ground_truth(
                    grn_metrics.load_ground_truth(BUNDLED_OMNIPATH, sources=split)
                )
                load_priors(con, name, table, origin=BUNDLED_ORIGIN, license=BUNDLED_LICENSE)
        sizes = con.execute("SELECT count(*), sum(n_edges), max(n_genes) FROM networks").fetchall()[0]
        start = time.perf_counter()
        n = rescore_release(con, metrics=grn_metrics)
        seconds = time.perf_counter() - start
        n_sources = con.execute("SELECT count(*) FROM prior_sources").fetchall()[0][0]
        print(
            f"re-scored {n} networks ({sizes[1]:,} edges, up to {sizes[2]:,} genes)"
            f" against {n_sources} sources"
        )
        print(f"  {seconds:.1f} s, {seconds / max(n, 1):.2f} s per network")
        network = con.execute("SELECT id FROM networks ORDER BY n_edges DESC LIMIT 1").fetchall()[0][0]
        pairs = con.execute(
            "SELECT regulator_id, target_id FROM edges WHERE network_id = ? LIMIT 1000", [network]
        ).fetchall()
        ids = [r[0] for r in con.execute("SELECT id FROM networks LIMIT 100").fetchall()]

        def page(mode):
            clause, params = evidence.EvidenceFilter(mode).sql("e")
            return con.execute(
                f"SELECT * FROM edges e WHERE e.network_id = ? AND {clause} ORDER BY rank LIMIT 100",
                [network, *params],
            ).fetchall()

        checks = {
            "evidence of 1,000 edges": lambda: evidence.edge_evidence(con, pairs),
            "first 100 known-only edges of a network": lambda: page("known"),
            "first 100 novel-only edges of a network": lambda: page("novel"),
            f"known-edge counts of {len(ids)} networks": lambda: evidence.known_edge_counts(con, ids),
            "networks sorted by EPR against CollecTRI": lambda: evidence.networks_by_quality(
                con, evidence.QualityFilter("CollecTRI", "epr")
            ),
        }
        for name, fn in checks.items():
            p50, worst = timed(fn, args.repeats)
            print(f"{name:<45} p50 {p50:7.1f} ms  max {worst:7.1f} ms")
        print()
        print("| network | source | scope | genes | known pairs | EPR | AUPRC / random | badge |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        labels = dict(con.execute("SELECT id, coalesce(cell_type, '?') FROM networks").fetchall())
        rows = evidence.network_quality(con, sorted(labels))
        for network_id, found in rows.items():
            for q in found:
                epr = f"{q.epr:.2f}" if q.epr is not None else "-"
                ratio = f"{q.auprc_ratio:.2f}" if q.auprc_ratio is not None else "-"
                print(
                    f"| {network_id} {labels[network_id]} | {q.source} | {q.scope} | {q.n_genes:,} |"
                    f" {q.n_known:,} | {epr} | {ratio} | {q.badge} |"
                )
        hubs = evidence.network_tf_hubs(con, sorted(labels))
        print()
        print("| network | TFs | TFs in top 50 hubs (expected) | NES | p |")
        print("|---|---:|---:|---:|---:|")
        for h in hubs:
            if h is not None:
                nes = "-" if h.nes is None else f"{h.nes:.2f}"
                p = "-" if h.p_value is None else f"{h.p_value:.3f}"
                print(
                    f"| {h.network_id} {labels[h.network_id]} | {h.n_tfs} |"
                    f" {h.top_k_tfs} ({h.top_k_expected:.1f}) | {nes} | {p} |"
                )
        con.close()


if __name__ == "__main__":
    main()
