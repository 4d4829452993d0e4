"""The whole-atlas download over HTTP: Parquet and TSV, filters as GraphQL names them, and a download's
hold on its release and on a download slot (driven through the ASGI app, so a response can be paused)."""

import asyncio
import io

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ingest.terms import write_term_closure
from schema import Store
from server import atlas
from server.app import create_app
from server.config import Limits, ServerConfig
from tests.server.conftest import NETWORKS, SYMBOLS, ensembl, make_client, write_store

COLUMNS = [
    "network_id",
    "network_key",
    "tissue",
    "tissue_ontology_term_id",
    "disease",
    "disease_ontology_term_id",
    "cell_type",
    "cell_type_ontology_term_id",
    "organism",
    "organism_ontology_term_id",
    "model_family",
    "model",
    "regulator_ensembl_id",
    "regulator_symbol",
    "target_ensembl_id",
    "target_symbol",
    "weight",
    "rank",
]


def expected_edges(network_ids=(1, 2, 3), *, min_weight=0.0, max_rank=None) -> set[tuple]:
    """(network, regulator, target, rank) of the hand-made store's edges (conftest lists them by rank)."""
    return {
        (network_id, ensembl(r), ensembl(t), rank)
        for network_id, (_, edges) in enumerate(NETWORKS, start=1)
        for rank, (r, t, w) in enumerate(edges, start=1)
        if network_id in network_ids and w >= min_weight and (max_rank is None or rank <= max_rank)
    }


def edges_of(frame: pd.DataFrame) -> set[tuple]:
    columns = ["network_id", "regulator_ensembl_id", "target_ensembl_id", "rank"]
    return {tuple(row) for row in frame[columns].itertuples(index=False)}


def parquet(client, **params) -> pd.DataFrame:
    response = client.get("/atlas/edges.parquet", params=params)
    assert response.status_code == 200, response.text
    return pd.read_parquet(io.BytesIO(response.content))


def test_parquet_holds_exactly_the_release_edges_with_metadata(client, store_root):
    response = client.get("/atlas/edges.parquet")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    release = client.get("/healthz").json()["release"]
    assert response.headers["x-scprint-graph-release"] == release
    assert release in response.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(response.content))
    assert table.schema.metadata[b"scprint_graph.release"] == release.encode()
    frame = table.to_pandas()
    assert list(frame.columns) == COLUMNS
    reader = Store(store_root).open_reader()
    try:
        stored = reader.con.execute("SELECT count(*) FROM edges").fetchone()[0]
        keys = dict(reader.con.execute("SELECT id, key FROM networks").fetchall())
    finally:
        reader.close()
    assert len(frame) == stored == 13
    assert edges_of(frame) == expected_edges()
    first = frame[(frame.network_id == 2) & (frame["rank"] == 1)].iloc[0]
    assert (first.regulator_symbol, first.target_symbol) == ("TF1", "G3")
    assert first.weight == pytest.approx(0.95)
    assert (first.cell_type, first.cell_type_ontology_term_id) == ("B cell", "CL:0000236")
    assert (first.tissue, first.disease, first.organism) == ("lung", "COVID-19", "Homo sapiens")
    assert first.model == "scprint-test" and first.network_key == keys[2]


def test_tsv_parses_to_the_same_rows(client):
    response = client.get("/atlas/edges.tsv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/tab-separated-values")
    frame = pd.read_csv(io.StringIO(response.text), sep="\t")
    assert list(frame.columns) == COLUMNS
    assert edges_of(frame) == expected_edges()
    assert set(frame.regulator_symbol) | set(frame.target_symbol) <= set(SYMBOLS)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"minWeight": "0.75"}, expected_edges(min_weight=0.75)),
        ({"maxRank": "2"}, expected_edges(max_rank=2)),
        ({"cellTypes": "T cell"}, expected_edges((1, 3))),
        ({"cellTypes": ["B cell", "CL:0000084"], "maxRank": "1"}, expected_edges(max_rank=1)),
        ({"tissues": "UBERON:0002048", "diseases": "normal"}, expected_edges((1,))),
        ({"organisms": "NCBITaxon:9606", "networkIds": ["2", "3"]}, expected_edges((2, 3))),
        ({"text": "liv"}, expected_edges((3,))),
        ({"organisms": "Mus musculus"}, set()),
    ],
)
def test_filters_select_as_graphql_does(client, params, expected):
    for name in ("edges.parquet", "edges.tsv"):
        response = client.get(f"/atlas/{name}", params=params)
        assert response.status_code == 200, response.text
        if name.endswith(".tsv"):
            frame = pd.read_csv(io.StringIO(response.text), sep="\t")
        else:
            frame = pd.read_parquet(io.BytesIO(response.content))
        assert list(frame.columns) == COLUMNS  # an empty answer still has its header / schema
        assert edges_of(frame) == expected


def test_filters_are_recorded_in_the_parquet_metadata(client):
    response = client.get("/atlas/edges.parquet", params={"cellTypes": ["T cell", "B cell"], "maxRank": "3"})
    metadata = pq.read_schema(io.BytesIO(response.content)).metadata
    assert metadata[b"scprint_graph.filters"] == b'{"cellTypes": ["T cell", "B cell"], "maxRank": ["3"]}'


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("cellType=T%20cell", 400, "unknown query parameter(s) 'cellType': the atlas download takes"),
        ("max_rank=1", 400, "unknown query parameter(s) 'max_rank'"),
        ("maxRank=1&maxRank=2", 400, "maxRank is given more than once"),
        ("maxRank=ten", 400, "maxRank must be an integer"),
        ("minWeight=0x1", 400, "minWeight must be a number"),
        ("networkIds=1&networkIds=two", 400, "networkIds takes integer ids, got 'two'"),
        ("exactTerms=yes", 400, "exactTerms must be true or false"),
        ("quality=CollecTRI", 400, "unknown query parameter(s) 'quality'"),  # a nested GraphQL input
        ("cellTypes=" + "&cellTypes=".join(["x"] * 1001), 400, "at most 1000 are allowed"),
    ],
)
def test_bad_parameters_are_refused_before_any_byte(client, query, status, message):
    for name in ("edges.parquet", "edges.tsv"):
        response = client.get(f"/atlas/{name}?{query}")
        assert response.status_code == status
        assert message in response.text


def test_head_answers_the_headers_without_reading_the_atlas(client, monkeypatch):
    monkeypatch.setattr(atlas, "atlas_edge_batches", None)  # calling it would fail the request
    response = client.head("/atlas/edges.parquet", params={"maxRank": "5"})
    assert response.status_code == 200 and response.content == b""
    assert response.headers["x-scprint-graph-release"] == client.get("/healthz").json()["release"]
    assert client.head("/atlas/edges.tsv", params={"nope": "1"}).status_code == 400


def test_an_unknown_format_is_404(client):
    response = client.get("/atlas/edges.csv")
    assert response.status_code == 404
    assert "edges.parquet, edges.tsv" in response.text


def test_ontology_filters_select_descendant_terms(tmp_path):
    write_store(tmp_path, [NETWORKS[0], NETWORKS[1]])
    with Store(tmp_path).new_release(note="closure") as writer:
        write_term_closure(writer)
    with make_client(tmp_path) as client:
        # T cell (CL:0000084) is a lymphocyte (CL:0000542), as is B cell: both networks
        assert edges_of(parquet(client, cellTypes="CL:0000542")) == expected_edges((1, 2))
        assert edges_of(parquet(client, cellTypes="lymphocyte")) == expected_edges((1, 2))
        assert edges_of(parquet(client, cellTypes="lymphocyte", exactTerms="true")) == set()


# --- a download in flight: paused mid-stream through the ASGI interface ---------------------------------


class Get:
    """One GET through an ASGI app whose response pauses after its first body chunk until `resume` is set,
    and whose client disconnects when `disconnect` is set."""

    def __init__(self, app, path: str) -> None:
        self.app, self.path = app, path
        self.started, self.resume, self.disconnect = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self._requested = False

    async def receive(self) -> dict:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            return
        self.body += message.get("body", b"")
        if not self.started.is_set():
            self.started.set()
            await self.resume.wait()

    async def run(self) -> "Get":
        path, _, query = self.path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await self.app(scope, self.receive, self.send)
        return self

    async def complete(self) -> "Get":
        """Run to the end without pausing."""
        self.resume.set()
        return await self.run()


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(atlas, "BATCH_ROWS", 2)  # 13 edges: 7 batches, 7 row groups


def test_a_download_keeps_its_release_through_a_publish_and_holds_a_slot(tmp_path, small_batches):
    write_store(tmp_path)
    app = create_app(ServerConfig(db=tmp_path, limits=Limits(max_downloads=1), release_check_s=0.0))

    async def scenario():
        held = Get(app, "/atlas/edges.parquet")
        task = asyncio.ensure_future(held.run())
        await asyncio.wait_for(held.started.wait(), 10)
        busy = await Get(app, "/atlas/edges.tsv").complete()
        assert busy.status == 429 and "1 atlas downloads are running" in busy.body.decode()
        assert busy.headers["retry-after"] == "60"
        write_store(tmp_path, dataset="second.h5ad")  # publishes a release with twice the networks
        health = await Get(app, "/healthz").complete()
        held.resume.set()
        await asyncio.wait_for(task, 10)
        after = await Get(app, "/atlas/edges.parquet").complete()
        return held, health, after

    held, health, after = asyncio.run(scenario())
    new_release = health.body.decode()
    assert held.status == 200 and held.headers["x-scprint-graph-release"] not in new_release
    old = pq.ParquetFile(io.BytesIO(bytes(held.body)))
    assert old.metadata.num_row_groups == 7
    assert edges_of(old.read().to_pandas()) == expected_edges()
    assert after.status == 200 and after.headers["x-scprint-graph-release"] in new_release
    assert len(pd.read_parquet(io.BytesIO(bytes(after.body)))) == 26


def test_a_client_that_disconnects_frees_its_slot(tmp_path, small_batches):
    write_store(tmp_path)
    app = create_app(ServerConfig(db=tmp_path, limits=Limits(max_downloads=1), release_check_s=0.0))

    async def scenario():
        gone = Get(app, "/atlas/edges.tsv")
        task = asyncio.ensure_future(gone.run())
        await asyncio.wait_for(gone.started.wait(), 10)
        gone.disconnect.set()
        await asyncio.wait_for(task, 10)
        return gone, await Get(app, "/atlas/edges.tsv").complete()

    gone, again = asyncio.run(scenario())
    assert gone.body.count(b"\n") == 3  # the header and the first batch of 2 rows, nothing after
    assert again.status == 200
    assert edges_of(pd.read_csv(io.StringIO(again.body.decode()), sep="\t")) == expected_edges()
