"""Small stores built with the store's writer API, and clients of the app over them.

The hand-made store has three networks whose edges are known, so tests can check answers, not just shapes:

    1  lung / normal / T cell     TF1->G3 .9  TF1->G4 .8  TF1->G5 .7  TF2->G3 .6  TF2->G6 .5  G3->G7 .4
    2  lung / COVID-19 / B cell   TF1->G3 .95 TF2->G7 .85 TF1->G4 .3  TF2->G8 .2  G4->G5 .1
    3  liver / normal / T cell    TF1->G5 .5  TF2->G6 .4
"""

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette 1.10 suggests httpx2; httpx 0.28 is what the project pins
    from starlette.testclient import TestClient

from schema.genesets import GmtSet
from schema.release import Store
from schema.writer import NetworkMeta
from server.app import create_app
from server.config import Limits, ServerConfig
from tests.server.live import CHROMIUM, chromium, live_server

HUMAN = ("Homo sapiens", "NCBITaxon:9606")
SYMBOLS = ["TF1", "TF2", "G3", "G4", "G5", "G6", "G7", "G8"]


def ensembl(symbol: str) -> str:
    return f"ENSG{SYMBOLS.index(symbol) + 1:011d}"


LUNG, LIVER = ("lung", "UBERON:0002048"), ("liver", "UBERON:0002107")
NORMAL, COVID = ("normal", "PATO:0000461"), ("COVID-19", "MONDO:0100096")
T_CELL, B_CELL = ("T cell", "CL:0000084"), ("B cell", "CL:0000236")

NETWORKS = [
    (
        {"tissue": LUNG, "disease": NORMAL, "cell": T_CELL},
        [("TF1", "G3", 0.9), ("TF1", "G4", 0.8), ("TF1", "G5", 0.7), ("TF2", "G3", 0.6), ("TF2", "G6", 0.5),
         ("G3", "G7", 0.4)],
    ),
    (
        {"tissue": LUNG, "disease": COVID, "cell": B_CELL},
        [("TF1", "G3", 0.95), ("TF2", "G7", 0.85), ("TF1", "G4", 0.3), ("TF2", "G8", 0.2), ("G4", "G5", 0.1)],
    ),
    (
        {"tissue": LIVER, "disease": NORMAL, "cell": T_CELL},
        [("TF1", "G5", 0.5), ("TF2", "G6", 0.4)],
    ),
]  # fmt: skip

GENE_SETS = [
    GmtSet("SET_A", "G3 G4 G5", ("G3", "G4", "G5")),
    GmtSet("SET_B", "G6 G7 G8", ("G6", "G7", "G8")),
    GmtSet("SET_TF", "the TFs", ("TF1", "TF2")),
]


def edge_table(edges: list[tuple[str, str, float]]) -> pa.Table:
    return pa.table(
        {
            "regulator": [ensembl(r) for r, _, _ in edges],
            "target": [ensembl(t) for _, t, _ in edges],
            "weight": pa.array([w for _, _, w in edges], pa.float32()),
        }
    )


def write_store(
    root: Path,
    networks=NETWORKS,
    *,
    note: str = "test store",
    dataset: str = "test.h5ad",
    full: bool = False,
) -> Store:
    """Publish one release adding `networks` of `dataset` (and the genes and gene sets above) under `root`.

    A release holds one network per group: a second call for the same groups names another dataset. The
    store writes deltas whatever its size (``delta_min_bytes=0``); ``full`` makes this release a base.
    """
    store = Store(root, delta_min_bytes=0)
    store.init()
    with store.new_release(note=note, full=full) as w:
        w.upsert_genes(
            pa.table(
                {
                    "ensembl_id": [ensembl(s) for s in SYMBOLS],
                    "symbol": SYMBOLS,
                    "organism": [HUMAN[1]] * len(SYMBOLS),
                    "is_tf": [s.startswith("TF") for s in SYMBOLS],
                }
            )
        )
        model_id = w.add_model("sha256-test", "scprint-test", {"preset": "tiny"})
        dataset_id = w.upsert_dataset(source="h5ad", source_id=dataset, title="Test dataset").id
        for facets, edges in networks:
            w.add_edges(w.add_network(network_meta(facets, dataset_id, model_id)), edge_table(edges))
        w.load_gene_sets("test", GENE_SETS, organism=HUMAN[1])
    return store


def network_meta(facets: dict, dataset_id: int, model_id: int) -> NetworkMeta:
    return NetworkMeta(
        dataset_id=dataset_id,
        n_cells=100,
        cell_type=facets["cell"][0],
        cell_type_ontology_term_id=facets["cell"][1],
        tissue=facets["tissue"][0],
        tissue_ontology_term_id=facets["tissue"][1],
        disease=facets["disease"][0],
        disease_ontology_term_id=facets["disease"][1],
        organism=HUMAN[0],
        organism_ontology_term_id=HUMAN[1],
        model_id=model_id,
        parameters={"layers": "all", "head_aggregation": "mean"},
    )


def rewrite_in_a_delta(store: Store, positions: list[int], networks=NETWORKS) -> None:
    """Publish a delta that deletes the networks at ``positions`` (ids 1, 2, ...) and adds them again,
    unchanged: readers then see the base's other networks and these from the delta."""
    with store.new_release(note="test store") as w:
        assert w.layout == "delta"
        w.delete_networks([p + 1 for p in positions])
        model_id = w.add_model("sha256-test", "scprint-test", {"preset": "tiny"})
        for p in positions:
            facets, edges = networks[p]
            network_id = w.add_network(network_meta(facets, 1, model_id))
            assert network_id == p + 1
            w.add_edges(network_id, edge_table(edges))


@pytest.fixture(scope="session")
def store_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    # Served as most atlases are: a base, and a delta that replaced some of its networks.
    rewrite_in_a_delta(write_store(root, full=True), positions=[0, 2])
    return root


def make_client(root: Path, limits: Limits | None = None) -> TestClient:
    config = ServerConfig(db=root, limits=limits or Limits(), release_check_s=0.0)
    return TestClient(create_app(config), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def client(store_root) -> Iterator[TestClient]:
    with make_client(store_root) as c:
        yield c


class GraphQL:
    """POSTs a query and returns the parsed JSON body (status checked to be 200)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, query: str, variables: dict | None = None) -> dict:
        body = self(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="session")
def gql(client) -> GraphQL:
    return GraphQL(client)


# --- a live server and a browser (test_page.py, test_graphiql.py) ---------------------------------------

BROWSER_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def live_url(store_root):
    """A uvicorn server on a free loopback port, in a thread, serving the hand-made store."""
    with live_server(create_app(ServerConfig(db=store_root, release_check_s=0.0))) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with a fresh user-data dir (requests off loopback are aborted and recorded)."""
    if not Path(CHROMIUM).exists():  # `make test` installs it (scripts/ensure_chromium.sh): never skipped
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/ensure_chromium.sh or apt-get install chromium")
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        yield context


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("SCREENSHOT_DIR")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser, live_url):
    """A tab whose JavaScript errors and off-loopback requests fail the test."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.base = live_url
    yield tab
    tab.close()
    assert errors == []
    assert browser.outside == []
