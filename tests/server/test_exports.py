"""Plain-HTTP exports of a network: TSV, GraphML (read back with networkx), GMT regulons."""

import io

import networkx as nx
import pytest

from server.config import Limits
from tests.server.conftest import ensembl, make_client


def test_tsv_lists_edges_by_rank(client):
    response = client.get("/networks/1/edges.tsv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/tab-separated-values")
    lines = response.text.strip().split("\n")
    assert lines[0].split("\t") == [
        "regulator_ensembl_id",
        "regulator_symbol",
        "target_ensembl_id",
        "target_symbol",
        "weight",
        "rank",
        "known_in",
        "network_id",
        "cell_type",
        "tissue",
        "disease",
        "organism",
        "model",
        "release",
    ]
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 6
    release = client.get("/healthz").json()["release"]
    assert {r[6] for r in rows} == {""}  # the hand-made store has no priors: no edge is known
    assert {tuple(r[7:]) for r in rows} == {
        ("1", "T cell", "lung", "normal", "Homo sapiens", "scprint-test", release)
    }
    assert rows[0][:4] == [ensembl("TF1"), "TF1", ensembl("G3"), "G3"]
    assert [int(r[5]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert float(rows[0][4]) == pytest.approx(0.9)


def test_tsv_filters(client):
    strong = client.get("/networks/1/edges.tsv", params={"minWeight": "0.75"}).text.strip().split("\n")[1:]
    assert [r.split("\t")[3] for r in strong] == ["G3", "G4"]
    top = client.get("/networks/2/edges.tsv", params={"maxRank": "1"}).text.strip().split("\n")[1:]
    assert len(top) == 1


def test_graphml_round_trips_through_networkx(client):
    response = client.get("/networks/2/network.graphml")
    assert response.status_code == 200
    graph = nx.read_graphml(io.BytesIO(response.content))
    assert graph.is_directed()
    assert graph.number_of_edges() == 5
    edge = graph.edges[ensembl("TF2"), ensembl("G7")]
    assert edge["weight"] == pytest.approx(0.85) and edge["rank"] == 2
    assert graph.nodes[ensembl("TF1")]["symbol"] == "TF1"
    assert graph.nodes[ensembl("TF1")]["is_transcription_factor"] is True
    assert graph.nodes[ensembl("G7")]["is_transcription_factor"] is False
    assert graph.graph["network_id"] == 2 and graph.graph["model"] == "scprint-test"
    assert graph.graph["release"] == client.get("/healthz").json()["release"]
    assert graph.graph["tissue"] == "lung" and graph.graph["cell_type"] == "B cell"


def test_gmt_has_one_regulon_per_regulator(client):
    response = client.get("/networks/1/regulons.gmt")
    assert response.status_code == 200
    regulons = {}
    for line in response.text.strip().split("\n"):
        name, description, *genes = line.split("\t")
        regulons[name] = genes
        assert "network 1 (T cell, lung, normal; model scprint-test; release r" in description
    assert regulons == {
        "TF1_network1": ["G3", "G4", "G5"],
        "TF2_network1": ["G3", "G6"],
        "G3_network1": ["G7"],
    }


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/networks/99/edges.tsv", 404, "unknown network id 99"),
        ("/networks/abc/edges.tsv", 400, "network id must be an integer"),
        ("/networks/1/edges.xlsx", 404, "unknown export 'edges.xlsx'"),
        ("/networks/1/edges.tsv?minWeight=heavy", 400, "minWeight must be a number"),
        ("/networks/1/edges.tsv?maxRank=1.5", 400, "maxRank must be an integer"),
        ("/networks/1/edges.tsv?max_rank=1", 400, "unknown query parameter(s) 'max_rank': an export takes"),
        ("/networks/1/network.graphml?maxrank=1&x=2", 400, "'maxrank', 'x'"),
    ],
)
def test_export_errors_are_plain_messages(client, path, status, text):
    response = client.get(path)
    assert response.status_code == status
    assert text in response.text


def test_export_cap(store_root):
    client = make_client(store_root, Limits(max_export_edges=4))
    response = client.get("/networks/1/edges.tsv")
    assert response.status_code == 400 and "over 4 edges" in response.text
    assert client.get("/networks/1/edges.tsv", params={"maxRank": 4}).status_code == 200
