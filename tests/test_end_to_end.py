"""The main job as a newcomer meets it: `make demo`'s steps through the real command, then every GraphQL
example of README.md over HTTP against the served demo atlas, and its Python client example.

The steps are the Makefile's (ingest the demo data with the demo weights, load the bundled gene sets
and priors, serve), run as subprocesses of the installed `scprint-graph` command on a free loopback port.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.server.live import free_port

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "cli"]
GRAPHQL_BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
README_URL = "http://127.0.0.1:8000"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    result = subprocess.run([*COMMAND, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"scprint-graph {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


MAY_BE_EMPTY = {"unknownGenes"}  # lists whose emptiness is the good answer


def non_empty(value) -> bool:
    """True when every list inside `value` (at any depth, up to the first list) holds something."""
    if isinstance(value, list):
        return len(value) > 0
    if isinstance(value, dict):
        return all(non_empty(v) for k, v in value.items() if k not in MAY_BE_EMPTY)
    return value is not None


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """The demo atlas built by `make demo`'s commands and served on loopback; yields the base URL."""
    work = tmp_path_factory.mktemp("demo")
    atlas = work / "atlas"
    ingest = run(
        "ingest",
        "--config",
        str(ROOT / "examples" / "sources.toml"),
        "--store",
        str(atlas),
        "--no-progress",
        cwd=ROOT,
    )
    assert "3 datasets (3 added)" in ingest.stdout + ingest.stderr
    run("store", "load-genesets", "--bundled", "--db", str(atlas), cwd=ROOT)
    run("store", "load-priors", "--bundled", "--db", str(atlas), cwd=ROOT)

    port = free_port()
    server = subprocess.Popen(
        [*COMMAND, "serve", "--db", str(atlas), "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"the server exited:\n{server.stdout.read()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not become healthy within 60 s")
            time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def readme_queries() -> list[str]:
    queries = GRAPHQL_BLOCK.findall((ROOT / "README.md").read_text())
    assert len(queries) >= 5, "README.md lost its GraphQL examples"
    return queries


@pytest.mark.parametrize("query", readme_queries(), ids=lambda q: q.split("(")[0].split()[1])
def test_every_readme_example_answers_with_data(demo_server, query):
    response = httpx.post(f"{demo_server}/graphql", json={"query": query}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body.get("errors")
    assert non_empty(body["data"]), f"an example answered with an empty list: {body['data']}"


def test_the_readme_client_example_answers_with_data(demo_server, tmp_path, monkeypatch):
    """README's Python client example, run as written (its URL pointed at the demo server): every DataFrame
    and Series it makes holds rows, and the downloaded file is the release's Parquet."""
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in PYTHON_BLOCK.findall(readme) if "scprint_graph.client" in b]
    assert blocks, "README.md lost its Python client example"
    monkeypatch.chdir(tmp_path)  # the example writes its download into the working directory
    for block in blocks:
        assert README_URL in block
        namespace: dict = {}
        exec(compile(block.replace(README_URL, demo_server), "README.md", "exec"), namespace)
        frames = {k: v for k, v in namespace.items() if isinstance(v, pd.DataFrame | pd.Series)}
        assert len(frames) >= 5
        assert [name for name, frame in frames.items() if frame.empty] == []
    assert namespace["release"].startswith("r")
    downloaded = pd.read_parquet(tmp_path / "atlas-edges.parquet")
    assert len(downloaded) > 100_000 and set(namespace["strongest"]["rank"]) <= set(range(1, 101))


def test_the_page_meta_and_exports_are_served(demo_server):
    page = httpx.get(f"{demo_server}/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    meta = httpx.post(
        f"{demo_server}/graphql",
        json={"query": "{ meta { release counts { networks edges geneSets } } }"},
        timeout=10,
    ).json()["data"]["meta"]
    assert meta["counts"]["networks"] == 11 and meta["counts"]["edges"] > 100_000
    assert meta["counts"]["geneSets"] > 2_000
    tsv = httpx.get(f"{demo_server}/networks/1/edges.tsv", timeout=30)
    assert tsv.status_code == 200
    comments = [line for line in tsv.text.splitlines() if line.startswith("#")]
    assert any(line.startswith("# quality vs CollecTRI") for line in comments)
    header, first = [line for line in tsv.text.splitlines() if not line.startswith("#")][:2]
    assert "regulator" in header and len(first.split("\t")) == len(header.split("\t"))


def test_every_demo_network_reports_its_quality_against_the_bundled_priors(demo_server):
    """Quality as the service reports it: every network scored against CollecTRI, DoRothEA and OmniPath."""
    query = "{ networks(first: 50) { nodes { id quality(scope: ALL) { source status badge } } } }"
    body = httpx.post(f"{demo_server}/graphql", json={"query": query}, timeout=30).json()
    assert "errors" not in body, body.get("errors")
    nodes = body["data"]["networks"]["nodes"]
    assert len(nodes) == 11
    for node in nodes:
        assert {q["source"] for q in node["quality"]} == {"CollecTRI", "DoRothEA", "OmniPath"}
        assert all(q["badge"] for q in node["quality"])


def test_a_cell_type_term_selects_its_descendants_on_the_demo_atlas(demo_server):
    """Ingest writes the ontology closure: "T cell" finds the CD4, CD8 and regulatory T cell networks."""
    query = "query($w: NetworkFilterInput) { networks(filter: $w) { totalCount } }"

    def count(where: dict) -> int:
        body = httpx.post(
            f"{demo_server}/graphql", json={"query": query, "variables": {"w": where}}, timeout=30
        )
        return body.json()["data"]["networks"]["totalCount"]

    exact = count({"cellTypes": ["T cell"], "exactTerms": True})
    assert count({"cellTypes": ["T cell"]}) >= exact + 3
    assert count({"cellTypes": ["CL:0000084"]}) == count({"cellTypes": ["T cell"]})
