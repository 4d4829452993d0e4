"""The Python client against a real uvicorn server on 127.0.0.1 serving the hand-made store (three networks
of known edges, see tests/server/conftest.py): DataFrames, pages followed past the first, clear errors."""

import socket
import threading

import pandas as pd
import pytest

from schema import Store
from scprint_graph.client import (
    Client,
    ClientError,
    GraphQLResponseError,
    HTTPStatusError,
    ServerUnreachable,
)
from server.app import create_app
from server.config import ServerConfig
from tests.server.conftest import NETWORKS, ensembl, write_store
from tests.server.live import free_port, live_server


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("client-store")
    write_store(root)
    return root


@pytest.fixture(scope="module")
def url(store_root):
    with live_server(create_app(ServerConfig(db=store_root, release_check_s=0.0))) as base:
        yield base


@pytest.fixture
def client(url):
    return Client(url, page_size=2)  # pages of 2: every list of 3 or more is read over several pages


def edges_by_rank(network_id: int) -> list[tuple[str, str, float]]:
    return NETWORKS[network_id - 1][1]


def test_query_returns_data(client):
    data = client.query("query($s: String) { gene(symbol: $s) { ensemblId } }", {"s": "TF1"})
    assert data == {"gene": {"ensemblId": ensembl("TF1")}}


def test_paginate_follows_every_page(client):
    document = (
        "query($first: Int, $after: String) { network(id: 1) { edges(first: $first, after: $after) {"
        " nodes { rank } pageInfo { endCursor hasNextPage } } } }"
    )
    ranks = [node["rank"] for node in client.paginate(document, path="network.edges")]
    assert ranks == [1, 2, 3, 4, 5, 6]  # 3 pages of 2


def test_networks_frame(client):
    frame = client.networks()
    assert list(frame.id) == [1, 2, 3]
    assert list(frame.cell_type) == ["T cell", "B cell", "T cell"]
    assert list(frame.tissue_term_id) == ["UBERON:0002048", "UBERON:0002048", "UBERON:0002107"]
    assert list(frame.n_edges) == [len(edges) for _, edges in NETWORKS]
    assert list(client.networks(cell_types="T cell", tissues=["liver"]).id) == [3]
    empty = client.networks(organisms=["Mus musculus"])
    assert empty.empty and "cell_type_term_id" in empty.columns


def test_regulators_and_targets_across_networks(client):
    regulators = client.regulators("G3")
    expected = {
        (network_id, r, w)
        for network_id, (_, edges) in enumerate(NETWORKS, start=1)
        for r, t, w in edges
        if t == "G3"
    }
    assert len(regulators) == len(expected) == 3  # two pages
    assert {
        (row.network_id, row.regulator_symbol, round(row.weight, 6)) for row in regulators.itertuples()
    } == {(n, r, round(w, 6)) for n, r, w in expected}
    assert set(regulators.regulator_is_transcription_factor) == {True}
    lung_b = client.regulators(ensembl("G3"), cell_types=["B cell"])
    assert list(zip(lung_b.network_id, lung_b.regulator_symbol, strict=True)) == [(2, "TF1")]
    targets = client.targets("TF1", max_rank=2)
    assert {(row.network_id, row.target_symbol) for row in targets.itertuples()} == {
        (1, "G3"),
        (1, "G4"),
        (2, "G3"),
        (3, "G5"),
    }
    assert set(targets.tissue) == {"lung", "liver"}


def test_edges_of_a_network_by_rank(client):
    frame = client.edges(1)
    assert list(frame["rank"]) == [1, 2, 3, 4, 5, 6]
    assert list(zip(frame.regulator_symbol, frame.target_symbol, strict=True)) == [
        (r, t) for r, t, _ in edges_by_rank(1)
    ]
    assert list(client.edges(1, min_weight=0.75).target_symbol) == ["G3", "G4"]
    assert list(client.edges(2, regulator="TF2").target_symbol) == ["G7", "G8"]


def test_enrichment_of_a_gene_list(client):
    frame = client.enrichment(["G3", "G4", "G5"], min_set_size=1)
    top = frame.iloc[0]
    assert top.gene_set == "SET_A" and top.overlap == 3 and sorted(top.overlap_genes) == ["G3", "G4", "G5"]
    assert (frame.p_value.diff().dropna() >= 0).all()  # most significant first


def test_enriched_regulators_frame(client):
    frame = client.enriched_regulators(
        ["G3", "G4", "G5"], min_targets=1, min_overlap=1, cell_types=["T cell"]
    )
    assert list(frame.columns)[:3] == ["network_id", "regulator_symbol", "network_cell_type"]
    assert len(frame) > 0 and set(frame.network_cell_type) == {"T cell"} and set(frame.network_id) <= {1, 3}
    top = frame.iloc[0]
    assert (top.network_id, top.regulator_symbol, top.overlap) == (1, "TF1", 3)  # TF1 -> G3 G4 G5


def test_atlas_edges_is_the_whole_release(client, store_root, tmp_path):
    frame = client.atlas_edges()
    reader = Store(store_root).open_reader()
    try:
        assert len(frame) == reader.con.execute("SELECT count(*) FROM edges").fetchone()[0]
        assert frame.attrs["release"] == reader.release_id
    finally:
        reader.close()
    strong_t = client.atlas_edges(cell_types="T cell", min_weight=0.6)
    assert sorted(strong_t.target_symbol) == ["G3", "G3", "G4", "G5"]
    path = tmp_path / "t.tsv"
    release = client.download_atlas(path, format="tsv", network_ids=[3], exact_terms=False)
    assert release == frame.attrs["release"]
    assert list(pd.read_csv(path, sep="\t").target_symbol) in (["G5", "G6"], ["G6", "G5"])


def test_graphql_errors_are_raised_with_their_messages(client):
    with pytest.raises(GraphQLResponseError, match="Cannot query field 'nope'") as caught:
        client.query("{ meta { nope } }")
    assert caught.value.errors[0]["message"].startswith("Cannot query field")
    with pytest.raises(GraphQLResponseError, match="cellType"):
        client.networks(cell_type=["T cell"])  # a misspelt filter: the server names it


def test_a_gene_list_in_one_call_with_its_unknown_names(client):
    both = client.targets(["TF1", "TF2", "NOPE"])
    assert both.attrs["unknown_genes"] == ["NOPE"]
    one_by_one = pd.concat([client.targets("TF1"), client.targets("TF2")])
    key = ["regulator_symbol", "network_id", "rank"]
    columns = [*key, "target_symbol", "weight"]
    assert (
        both[columns].sort_values(key).values.tolist() == one_by_one[columns].sort_values(key).values.tolist()
    )
    tf_targets = client.targets(["TF1", "TF2", "G3"], transcription_factors_only=True)
    assert tf_targets.empty  # no edge of the test store ends at a TF
    tf_regulators = client.regulators("G7", transcription_factors_only=True)
    assert set(tf_regulators.regulator_symbol) == {"TF2"}  # G3 -> G7 is left out


def test_unknown_gene_or_network_is_a_lookup_error(client):
    with pytest.raises(LookupError, match="unknown gene 'NOPE1'"):
        client.regulators("NOPE1")
    with pytest.raises(LookupError, match="unknown network id 99"):
        client.edges(99)


def test_http_errors_carry_status_and_server_message(client, url):
    with pytest.raises(HTTPStatusError, match="HTTP 400") as caught:
        client.download_atlas("unused.parquet", max_rank=0.5)
    assert caught.value.status == 400 and "maxRank must be an integer" in caught.value.message
    with pytest.raises(HTTPStatusError) as caught:
        Client(f"{url}/elsewhere").query("{ meta { release } }")
    assert caught.value.status == 404


def test_an_unreachable_server_is_named():
    port = free_port()
    with pytest.raises(
        ServerUnreachable, match=f"cannot reach the scPRINT-graph server at http://127.0.0.1:{port}"
    ):
        Client(f"http://127.0.0.1:{port}").networks()
    with pytest.raises(ValueError, match="must start with http"):
        Client("127.0.0.1:8000")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_a_download_cut_short_is_an_error(tmp_path, answer):
    """A server that closes the connection mid-body, as one failing mid-stream does."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(answer)

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        with pytest.raises(ClientError, match="was cut short"):
            Client(f"http://127.0.0.1:{port}", timeout=10).download_atlas(tmp_path / "atlas.parquet")
    finally:
        thread.join(timeout=10)
        listener.close()
