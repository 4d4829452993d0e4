"""Benchmark: N read-only servers sharing one atlas on one machine, while one writer publishes a delta.

    python bench/shared_release.py                               # 200 networks x 20,000 edges, 2 servers
    python bench/shared_release.py --servers 3 --clients 32 --seconds 30
    python bench/shared_release.py --root /work/my-atlas --keep  # build once, reuse with the same --root

1. Builds (or reuses, when --root holds a release) a synthetic atlas with the store's builder.
2. Starts --servers `scprint-graph serve` processes on 127.0.0.1, each on its own port, all over the same
   store root (no copies of the files).
3. Phase A: --clients concurrent clients send bench/server.py's mixed queries for --seconds, first all to
   one server, then spread over every server: requests/s, p50 / p99 latency and errors of each.
4. Phase B: while the clients keep querying every server, one writer publishes a new dataset
   (--publish-networks networks) as a delta (`Store(root, delta_min_bytes=0)`): publish seconds, bytes of
   the new release file against its base, the time from the pointer switch until each server answers
   `meta { release }` with the new id, errors around the switch, and the release files each server has open.
Prints the machine's CPU count and load average at the start and the end. Figures are printed, never asserted.
"""

import argparse
import asyncio
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.server import CASES, ensure_atlas, percentile, start_server  # noqa: E402
from bench.store import publish_dataset  # noqa: E402
from schema import Store  # noqa: E402
from schema.release import POINTER  # noqa: E402
from schema.synthetic import gene_names, random_edges  # noqa: E402
from tests.server.live import free_port  # noqa: E402

META = "{ meta { release } }"


def machine(label: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"machine ({label}): {os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f}")


async def clients(urls, n_networks, n_genes, count, stop: asyncio.Event):
    """`count` clients (client i asks urls[i % len(urls)]) until `stop`: latencies (ms), (time, error)s."""
    latencies: list[float] = []
    errors: list[tuple[float, str]] = []

    async def worker(index: int) -> None:
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=urls[index % len(urls)], timeout=60) as client:
            while not stop.is_set():
                case = rng.choice(CASES)
                drawn = case.variables(rng, n_networks, n_genes)
                variables = {k: v for k, v in drawn.items() if f"${k}" in case.graphql}
                start = time.perf_counter()
                try:
                    response = await client.post(
                        "/graphql", json={"query": case.graphql, "variables": variables}
                    )
                    if response.status_code != 200 or "errors" in response.json():
                        errors.append((time.time(), f"{response.status_code} {response.text[:200]}"))
                except (httpx.HTTPError, ValueError) as error:
                    errors.append((time.time(), repr(error)))
                latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(worker(i) for i in range(count)))
    return latencies, errors


async def timed_load(urls, n_networks, n_genes, count, seconds):
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    start = time.monotonic()
    latencies, errors = await clients(urls, n_networks, n_genes, count, stop)
    return latencies, errors, time.monotonic() - start


def report(label: str, latencies: list[float], errors: list, elapsed: float) -> None:
    print(
        f"  {label:28s} {len(latencies):7,} requests  {len(latencies) / elapsed:7.1f} req/s"
        f"  p50 {percentile(latencies, 50):7.1f} ms  p99 {percentile(latencies, 99):7.1f} ms"
        f"  errors {len(errors)}"
    )
    if errors:
        print(f"    first error: {errors[0][1]}")


async def first_new_release(url: str, old: str, deadline: float) -> tuple[float | None, str | None, int]:
    """Poll `meta { release }` every 10 ms: when (time.time()) the server first answered another release."""
    failures = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                release = (await client.post("/graphql", json={"query": META})).json()["data"]["meta"][
                    "release"
                ]
                if release != old:
                    return time.time(), release, failures
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                failures += 1
            await asyncio.sleep(0.01)
    return None, None, failures


async def phase_b(urls, store: Store, tables, n_networks, n_genes, count, timeout_s: float):
    old = store.current_release()
    stop = asyncio.Event()
    start = time.monotonic()
    load = asyncio.create_task(clients(urls, n_networks, n_genes, count, stop))
    await asyncio.sleep(2.0)  # the clients in full flow before the writer starts
    watchers = [asyncio.create_task(first_new_release(u, old, time.monotonic() + timeout_s)) for u in urls]
    writer, seconds = await asyncio.to_thread(publish_dataset, store, tables, f"shared release {time.time()}")
    # the pointer file is written, fsynced and renamed into place at the end of the publish: its mtime
    switched_at = (store.root / POINTER).stat().st_mtime
    seen = await asyncio.gather(*watchers)
    await asyncio.sleep(2.0)  # and a little after the switch
    stop.set()
    latencies, errors = await load
    return old, writer, seconds, switched_at, seen, latencies, errors, time.monotonic() - start


def open_release_files(pid: int, releases_dir: Path) -> str:
    """The release files a process holds open (from /proc/<pid>/fd): name, inode and descriptor count."""
    found: Counter = Counter()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
            if target.startswith(str(releases_dir)):
                found[(Path(target).name, fd.stat().st_ino)] += 1
        except OSError:
            continue
    return ", ".join(f"{name} (inode {ino}, {n} fd)" for (name, ino), n in sorted(found.items())) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, help="Atlas folder (reused if it holds a release).")
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--edges", type=int, default=20_000, help="Edges per network.")
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument(
        "--clients", type=int, default=16, help="Concurrent clients, spread over the servers."
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each phase A run.")
    parser.add_argument("--publish-networks", type=int, default=20, help="Networks of the published dataset.")
    parser.add_argument("--duckdb-threads", type=int, help="Passed to each `scprint-graph serve`.")
    parser.add_argument(
        "--switch-timeout", type=float, default=120.0, help="Seconds to wait for every server."
    )
    parser.add_argument("--keep", action="store_true", help="Keep a temporary atlas afterwards.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    machine("start")
    root = args.root or Path(tempfile.mkdtemp(prefix="shared-release-", dir="/work"))
    servers = []
    try:
        ensure_atlas(root, args.networks, args.edges, args.genes)
        store = Store(root, delta_min_bytes=0, threads=2)
        with store.open_reader() as reader:
            n_networks = reader.con.execute("SELECT max(id) FROM networks").fetchone()[0]
        print(f"atlas: {root}, {n_networks} networks x {args.edges:,} edges, {args.genes:,} genes")
        print(f"current release {store.current_release()}, releases on disk: {len(store.releases())}")
        ports = [free_port() for _ in range(args.servers)]
        for port in ports:
            servers.append(start_server(root, port, args.duckdb_threads))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        print(f"{args.servers} servers over the same root: pids {[s.pid for s in servers]}, ports {ports}")

        asyncio.run(timed_load(urls, n_networks, args.genes, args.clients, 3.0))  # warm every server
        print(f"\nphase A: {args.clients} concurrent clients, {args.seconds:.0f} s each, mixed queries")
        report(
            "1 server", *asyncio.run(timed_load(urls[:1], n_networks, args.genes, args.clients, args.seconds))
        )
        label = f"{args.servers} servers (spread)"
        report(label, *asyncio.run(timed_load(urls, n_networks, args.genes, args.clients, args.seconds)))

        print("\nrelease files each server holds open before the publish:")
        for server in servers:
            print(f"  pid {server.pid}: {open_release_files(server.pid, store.releases_dir)}")
        rng = np.random.default_rng(len(store.releases()))  # the edges are drawn before the clock starts
        tables = [random_edges(rng, gene_names(args.genes), args.edges) for _ in range(args.publish_networks)]
        b = phase_b(urls, store, tables, n_networks, args.genes, args.clients, args.switch_timeout)
        old, writer, seconds, switched_at, seen, latencies, errors, elapsed = asyncio.run(b)
        new_size = store.release_path(writer.release_id).stat().st_size
        print(f"\nphase B: publish {args.publish_networks} networks while {args.clients} clients query")
        print(f"  publish: {seconds:.2f} s, layout {writer.layout}, {old} -> {writer.release_id}")
        if writer.base is not None:
            base_size = store.release_path(writer.base).stat().st_size
            print(f"  written: {new_size / 2**20:.2f} MiB (new release file) vs base {writer.base} "
                  f"{base_size / 2**20:.2f} MiB ({new_size / base_size:.1%})")  # fmt: skip
        else:
            print(f"  written: {new_size / 2**20:.2f} MiB (a whole new base, no delta)")
        for url, (at, release, failures) in zip(urls, seen, strict=True):
            lag = f"{(at - switched_at) * 1000:7.0f} ms" if at is not None else "never (timed out)"
            print(
                f"  {url}: new release {release} after {lag} from the pointer switch, {failures} failed polls"
            )
        last = max((at for at, _, _ in seen if at is not None), default=switched_at)
        around = [e for e in errors if switched_at - 1 <= e[0] <= last + 1]
        report("clients during phase B", latencies, errors, elapsed)
        print(f"  errors from 1 s before the switch to 1 s after the last server switched: {len(around)}")
        print("release files each server holds open after the publish:")
        for server in servers:
            print(f"  pid {server.pid}: {open_release_files(server.pid, store.releases_dir)}")
        machine("end")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        if args.root is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
