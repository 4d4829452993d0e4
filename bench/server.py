"""Benchmark of the GraphQL API on a synthetic atlas: latency against raw SQL, then a load run.

    python bench/server.py [--networks 2000 --edges 50000 --genes 20000] [--root DIR] [--load-seconds 60]

1. Builds (or reuses, when --root already holds a release) a synthetic atlas with the store's builder
   (`schema.synthetic.build_synthetic_atlas`, the one bench/store.py uses); the default is 100 M edges.
2. Starts `scprint-graph serve` on loopback in a subprocess.
3. For each query, p50 / p99 over GraphQL (HTTP on loopback, one request at a time) and of the same answer
   computed by hand-written SQL on a read-only DuckDB connection in this process, in the same run, with
   the same parameters (each asked first every other time); prints the ratio and the target GraphQL
   p50 <= 1.5 x SQL p50 + 2 ms.
4. A load run: `--clients` concurrent clients (default 32) for `--load-seconds` (default 60) mixing the
   queries; prints requests/s, latency percentiles and the number of errors.
5. An abuse run (`--abuse-seconds`, default 30, twice): the same normal clients alone, then alongside
   `--attackers` clients (default 4, from other loopback addresses 127.0.0.2...) sending expensive legal
   queries (nested regulators -> targets, nodeStatistics of 1,000 genes over 40 networks, regulator
   enrichment of 200 genes) and malicious ones (fragment fan-out, JSON nested 100k deep, invalid UTF-8,
   oversized bodies, 40-digit cursors); prints normal-query p50/p99 both times, the ratio (target p99 <= 2x)
   and what the attackers got back. Only 127.0.0.0/8 is ever contacted.
`--runs` picks the parts (default latency,load,abuse). Figures are printed, never asserted.
"""

import argparse
import asyncio
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schema.release import Store  # noqa: E402
from schema.synthetic import build_synthetic_atlas, gene_names  # noqa: E402
from tests.server.live import free_port  # noqa: E402

log = logging.getLogger("bench.server")


@dataclass(frozen=True)
class Case:
    """One question asked both ways: a GraphQL document and the SQL that answers it directly."""

    name: str
    graphql: str
    sql: str

    def variables(self, rng: random.Random, n_networks: int, n_genes: int) -> dict:
        return {
            "network": rng.randint(1, n_networks),
            "gene": str(gene_names(n_genes)[rng.randrange(n_genes // 20)]),
        }


LUNG = "lower(tissue) = 'lung'"

CASES = [
    Case(
        "gene regulators (first 50)",
        """query($gene: String) { gene(ensemblId: $gene) { symbol regulators(first: 50) {
            nodes { networkId weight rank tissue regulator { ensemblId symbol } } } } }""",
        """WITH g AS (SELECT id, symbol FROM genes WHERE ensembl_id = $gene)
        SELECT e.network_id, e.weight, e.rank, n.tissue, r.ensembl_id, r.symbol
        FROM edges_by_target e JOIN g ON e.target_id = g.id JOIN networks n ON n.id = e.network_id
        JOIN genes r ON r.id = e.regulator_id ORDER BY e.network_id, e.rank LIMIT 50""",
    ),
    Case(
        "network top edges (first 100)",
        """query($network: Int!) { network(id: $network) { id
            edges(first: 100) { nodes { weight rank regulator { symbol } target { symbol } } } } }""",
        """SELECT e.weight, e.rank, r.symbol, t.symbol FROM edges e
        JOIN genes r ON r.id = e.regulator_id JOIN genes t ON t.id = e.target_id
        WHERE e.network_id = $network ORDER BY e.rank LIMIT 100""",
    ),
    Case(
        "network hubs (first 20)",
        """query($network: Int!) { network(id: $network) {
            hubs(first: 20) { outDegree pagerank gene { symbol } } } }""",
        """SELECT s.out_degree, s.pagerank, g.symbol FROM node_stats s JOIN genes g ON g.id = s.gene_id
        WHERE s.network_id = $network
        ORDER BY s.out_degree DESC, s.weighted_out_degree DESC, s.gene_id LIMIT 20""",
    ),
    Case(
        "networks of a tissue with facets",
        """{ networks(filter: {tissues: ["lung"]}, first: 20) {
            totalCount nodes { id cellType { label termId } }
            facets { disease { term { label } count } cellType { term { label } count } } } }""",
        # the same answer as the GraphQL query: node cell types, facet labels with their counts
        f"""SELECT (SELECT count(*) FROM networks WHERE {LUNG}),
               (SELECT list((id, cell_type, cell_type_ontology_term_id) ORDER BY id)[1:20]
                FROM networks WHERE {LUNG}),
               (SELECT list((disease, c) ORDER BY c DESC)
                FROM (SELECT disease, count(*) c FROM networks WHERE {LUNG} GROUP BY 1)),
               (SELECT list((cell_type, c) ORDER BY c DESC)
                FROM (SELECT cell_type, count(*) c FROM networks WHERE {LUNG} GROUP BY 1))""",
    ),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc), for load-independent figures."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ensure_atlas(root: Path, networks: int, edges: int, genes: int) -> None:
    if Store(root).current_release() is not None:
        log.info("reusing the atlas in %s", root)
        return
    log.info(
        "building a synthetic atlas: %d networks x %d edges (%d genes) in %s", networks, edges, genes, root
    )
    with tqdm(total=networks, desc="atlas", unit="network") as bar:
        stats = build_synthetic_atlas(
            root, n_networks=networks, n_edges=edges, n_genes=genes, on_network=lambda i: bar.update()
        )
    rate = stats.edges_per_second
    print(f"atlas: {stats.n_edges:,} edges in {stats.total_seconds:.0f} s ({rate:,.0f} edges/s)")


def start_server(root: Path, port: int, duckdb_threads: int | None) -> subprocess.Popen:
    command = [sys.executable, "-m", "cli.main", "serve", "--db", str(root), "--port", str(port)]
    if duckdb_threads is not None:
        command += ["--duckdb-threads", str(duckdb_threads)]
    server_log = Path(tempfile.mkstemp(prefix="scprint-graph-serve-", suffix=".log")[1])
    log.info("server log: %s", server_log)
    with server_log.open("w") as sink:  # the child keeps its own copy of the descriptor
        server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    msg = "the server did not become healthy within 120 s"
    raise RuntimeError(msg)


def latency(url: str, root: Path, n_networks: int, n_genes: int, repeats: int, server_pid: int) -> None:
    con = Store(root).open_reader().con  # the server's view of the release (a base, or a delta on one)
    client = httpx.Client(base_url=url, timeout=60)
    print(f"\nlatency in ms over {repeats} requests each (GraphQL: HTTP on loopback; SQL: DuckDB in-process)")
    print("(CPU: ms of CPU of the server process per GraphQL request, of this process per SQL query)")
    columns = ("GQL p50", "GQL p99", "SQL p50", "SQL p99", "ratio", "GQL CPU", "SQL CPU")
    print(f"{'query':34s} " + " ".join(f"{c:>8s}" for c in columns) + "  target")
    for case in CASES:
        rng = random.Random(0)
        params = [case.variables(rng, n_networks, n_genes) for _ in range(repeats)]
        sql_params = [{k: v for k, v in p.items() if f"${k}" in case.sql} for p in params]
        gql_params = [{k: v for k, v in p.items() if f"${k}" in case.graphql} for p in params]
        for warm in range(3):  # warm both paths
            con.execute(case.sql, sql_params[warm]).fetchall()
            client.post("/graphql", json={"query": case.graphql, "variables": gql_params[warm]})
        sql_ms, gql_ms, sql_cpu, gql_cpu = [], [], 0.0, 0.0
        for i, (sql_p, gql_p) in enumerate(zip(sql_params, gql_params, strict=True)):
            # whichever asks first for new parameters pays for reading the file's pages into the OS cache
            # (100 M edges, top edges: SQL p50 7.3 ms when always first, 4.8 ms when always second): alternate
            for side in ("sql", "gql") if i % 2 == 0 else ("gql", "sql"):
                if side == "sql":
                    start, cpu = time.perf_counter(), time.process_time()
                    con.execute(case.sql, sql_p).fetchall()
                    sql_ms.append((time.perf_counter() - start) * 1000)
                    sql_cpu += time.process_time() - cpu
                    continue
                start, cpu = time.perf_counter(), cpu_seconds(server_pid)
                body = client.post("/graphql", json={"query": case.graphql, "variables": gql_p}).json()
                gql_ms.append((time.perf_counter() - start) * 1000)
                gql_cpu += cpu_seconds(server_pid) - cpu
                if "errors" in body:
                    msg = f"{case.name}: {body['errors']}"
                    raise RuntimeError(msg)
        g50, g99, s50, s99 = (percentile(gql_ms, 50), percentile(gql_ms, 99), percentile(sql_ms, 50),
                              percentile(sql_ms, 99))  # fmt: skip
        met = "met" if g50 <= 1.5 * s50 + 2 else "MISSED"
        cpu_g, cpu_s = gql_cpu * 1000 / repeats, sql_cpu * 1000 / repeats
        times = f"{g50:8.2f} {g99:8.2f} {s50:8.2f} {s99:8.2f} {g50 / s50:6.2f}"
        print(f"{case.name:34s} {times} {cpu_g:8.2f} {cpu_s:8.2f}  {met}")
    client.close()
    con.close()


async def load(url: str, n_networks: int, n_genes: int, clients: int, seconds: float) -> None:
    start = time.monotonic()
    latencies, errors = await normal_clients(url, n_networks, n_genes, clients, seconds)
    elapsed = time.monotonic() - start
    print(f"\nload: {clients} concurrent clients for {elapsed:.0f} s on loopback (mixed queries)")
    rate = len(latencies) / elapsed
    print(f"  requests: {len(latencies):,}  errors: {len(errors)}  throughput: {rate:,.1f} req/s")
    print(f"  latency p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms")
    if errors:
        print(f"  first error: {errors[0]}")


EXPENSIVE = [
    """query($gene: String) { gene(ensemblId: $gene) { regulators(first: 100) { nodes {
        regulator { targets(first: 20) { nodes { weight target { symbol } } } } } } } }""",
    """query($genes: [String!]!) { networks(first: 40) { nodes { nodeStatistics(genes: $genes) {
        results { statistics { outDegree pagerank } } } } } }""",
    """query($some: [String!]!) { enrichedRegulators(genes: $some, first: 100) {
        results { overlap pValue regulator { symbol } } } }""",
]


def fan_out(levels: int) -> str:
    fragments = ["fragment F0 on Network { id nCells }"]
    fragments += [f"fragment F{i} on Network {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)]
    return f"{{ network(id: 1) {{ ...F{levels} }} }} " + " ".join(fragments)


MALICIOUS_BODIES = [
    ("fan-out", lambda: {"json": {"query": fan_out(40)}}),
    ("deep JSON", lambda: {"content": b"[" * 100_000 + b"]" * 100_000}),
    ("invalid UTF-8", lambda: {"content": b'{"query": "\xff"}'}),
    ("oversized", lambda: {"content": b'{"query": "' + b"a" * 1_100_000 + b'"}'}),
    ("40-digit cursor", lambda: {"json": {"query": f'{{ networks(after: "{"9" * 40}") {{ totalCount }} }}'}}),
    ("many fields", lambda: {"json": {"query": "{ " + "network(id: 1) { id } " * 30 + "}"}}),
    (
        "over cost",
        lambda: {
            "json": {"query": "{ networks(first: 1000) { nodes { edges(first: 1000) { nodes { rank } } } } }"}
        },
    ),
]


async def normal_clients(url, n_networks, n_genes, clients, seconds) -> tuple[list[float], list[str]]:
    """`clients` concurrent clients sending the mixed CASES for `seconds`: latencies (ms) and error texts."""
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    async def worker(index: int) -> None:
        rng = random.Random(index)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                case = rng.choice(CASES)
                variables = {
                    k: v
                    for k, v in case.variables(rng, n_networks, n_genes).items()
                    if f"${k}" in case.graphql
                }
                start = time.perf_counter()
                try:
                    response = await client.post(
                        "/graphql", json={"query": case.graphql, "variables": variables}
                    )
                    if response.status_code != 200 or "errors" in response.json():
                        errors.append(response.text[:200])
                except httpx.HTTPError as error:
                    errors.append(repr(error))
                latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(worker(i) for i in range(clients)))
    return latencies, errors


async def attacker(url, index, n_genes, stop: asyncio.Event, outcomes: dict) -> None:
    """One hostile client from its own loopback address: expensive and malicious requests in turn."""
    rng = random.Random(1000 + index)
    names = [str(g) for g in gene_names(n_genes)]
    transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{2 + index}")
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=60, transport=transport) as client:
        turn = 0
        while not stop.is_set():
            turn += 1
            if turn % 2:
                query = rng.choice(EXPENSIVE)
                variables = {"gene": rng.choice(names[:1000]), "genes": rng.sample(names, 1000),
                             "some": rng.sample(names, 200)}  # fmt: skip
                variables = {k: v for k, v in variables.items() if f"${k}" in query}
                kind, request = "expensive", {"json": {"query": query, "variables": variables}}
            else:
                kind, make = rng.choice(MALICIOUS_BODIES)
                request = make()
            start = time.perf_counter()
            try:
                response = await client.post("/graphql", headers=headers, **request)
                body = response.json()
                error = body.get("errors", [{}])[0].get("message", "")[:48] if "errors" in body else "data"
                outcome = f"{response.status_code} {error}"
            except httpx.HTTPError as exc:
                outcome = f"transport error {type(exc).__name__}"
            key = (kind, outcome)
            count, total = outcomes.get(key, (0, 0.0))
            outcomes[key] = (count + 1, total + time.perf_counter() - start)


async def abuse(url, n_networks, n_genes, clients, attackers, seconds) -> None:
    print(f"\nabuse: {clients} normal clients for {seconds:.0f} s, alone then with {attackers} attackers")
    alone, alone_errors = await normal_clients(url, n_networks, n_genes, clients, seconds)
    stop, outcomes = asyncio.Event(), {}
    hostile = [asyncio.create_task(attacker(url, i, n_genes, stop, outcomes)) for i in range(attackers)]
    await asyncio.sleep(1.0)  # let the attack start first
    attacked, attacked_errors = await normal_clients(url, n_networks, n_genes, clients, seconds)
    stop.set()
    await asyncio.gather(*hostile)
    for label, values, errors in (("alone", alone, alone_errors), ("attacked", attacked, attacked_errors)):
        print(f"  normal queries {label:9s}: {len(values):6,} requests  {len(errors)} errors  "
              f"p50 {percentile(values, 50):7.1f} ms  p99 {percentile(values, 99):7.1f} ms")  # fmt: skip
        if errors:
            print(f"    first error: {errors[0]}")
    ratio = percentile(attacked, 99) / percentile(alone, 99)
    print(f"  p99 attacked / alone: {ratio:.2f} (target <= 2: {'met' if ratio <= 2 else 'MISSED'})")
    print("  what the attackers got (kind, status and first error; count; mean seconds):")
    for (kind, outcome), (count, total) in sorted(outcomes.items()):
        print(f"    {kind:9s} {outcome:60s} {count:5d} {total / count:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, help="Atlas folder (reused if it holds a release).")
    parser.add_argument("--networks", type=int, default=2000)
    parser.add_argument("--edges", type=int, default=50_000, help="Edges per network.")
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--duckdb-threads", type=int, help="Passed to `scprint-graph serve`.")
    parser.add_argument("--abuse-seconds", type=float, default=30.0, help="Each half of the abuse run.")
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--runs", default="latency,load,abuse", help="Parts to run, comma-separated.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per timed request
    root = args.root or Path(tempfile.mkdtemp(prefix="scprint-graph-bench-"))
    ensure_atlas(root, args.networks, args.edges, args.genes)
    n_networks = Store(root).open_reader().con.execute("SELECT max(id) FROM networks").fetchone()[0]
    print(f"atlas: {root}, {n_networks} networks, {args.genes} genes, machine: {os.cpu_count()} CPU cores")
    port = free_port()
    server = start_server(root, port, args.duckdb_threads)
    url = f"http://127.0.0.1:{port}"
    try:
        runs = set(args.runs.split(","))
        if "latency" in runs:
            latency(url, root, n_networks, args.genes, args.repeats, server.pid)
        if "load" in runs:
            asyncio.run(load(url, n_networks, args.genes, args.clients, args.load_seconds))
        if "abuse" in runs:
            attack = abuse(url, n_networks, args.genes, args.clients, args.attackers, args.abuse_seconds)
            asyncio.run(attack)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
