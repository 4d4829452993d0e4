"""Lookups of ``single`` and ``delta`` (bench/formats.py) measured in alternation, on one noisy machine.

Run-to-run noise on a shared 2-core machine moves millisecond lookups by up to 2x, more than the differences
between the two layouts. This builds both on the same atlas, then alternates their readers (one per
tombstone filter) over ``--rounds`` rounds of the formats script's measurement, with 1, 5 and 20 datasets in
the delta (each past the first replaces a base dataset, as in ``--delta-sweep``), and prints the median and
range of the rounds' p50s::

    python bench/format_delta.py --datasets 100
"""

import argparse
import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from formats import QUERIES, Delta, Single, dataset_edges, time_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--networks", type=int, default=10, help="networks per dataset")
    parser.add_argument("--edges", type=int, default=50_000, help="edges per network")
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-format-delta-"))
    try:
        compare(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def compare(root: Path, args) -> None:
    rng = np.random.default_rng(0)
    (root / "single").mkdir()
    (root / "delta").mkdir()
    single, delta = Single(root / "single"), Delta(root / "delta")
    for batch in range(0, args.datasets, 10):
        tables = [
            dataset_edges(rng, d, args.networks, args.edges, args.genes)
            for d in range(batch, min(args.datasets, batch + 10))
        ]
        single.publish(tables)
        delta.publish(tables)
    if delta.delta_datasets:
        delta.compact()
    new = dataset_edges(rng, args.datasets, args.networks, args.edges, args.genes)
    single.publish([new])
    delta.publish([new], compact=False)
    n_networks = (args.datasets + 1) * args.networks
    base = single.reader()
    for k in (1, 5, 20):
        while delta.delta_datasets < k:
            d = args.datasets - delta.delta_datasets
            ids = list(range(d * args.networks + 1, (d + 1) * args.networks + 1))
            table = dataset_edges(rng, d, args.networks, args.edges, args.genes)
            delta.publish([table], replaces=ids, compact=False)
        readers = {"single": base} | {f"delta, {live}": delta.reader(live) for live in Delta.FILTERS}
        p50s = {}
        for _ in range(args.rounds):
            for reader, con in readers.items():
                with contextlib.redirect_stdout(io.StringIO()):  # the per-round lines are not the result
                    result = time_queries(con, args, n_networks)
                for query, (p50, _) in result.items():
                    p50s.setdefault((reader, query), []).append(p50)
        print(
            f"\n{n_networks * args.edges:,} edges, {k} datasets in the"
            f" delta ({k - 1} replaced), load average {os.getloadavg()[0]:.1f}; median (min-max) of"
            f" {args.rounds} alternating rounds' p50, ms"
        )
        for query in QUERIES:
            print(f"  {query}")
            for reader in readers:
                v = p50s[(reader, query)]
                print(f"    {reader:<16} {np.median(v):6.1f} ({min(v):.1f}-{max(v):.1f})")
        for reader, con in readers.items():
            if reader != "single":
                con.close()
    base.close()


if __name__ == "__main__":
    main()
