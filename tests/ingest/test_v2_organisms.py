"""Ingestion of a non-human, non-mouse dataset with a multi-organism scPRINT-2 checkpoint."""

import numpy as np
import pandas as pd
import pytest

from ingest.pipeline import run_ingest
from schema import Store
from schema.queries.networks import all_networks
from scprint_graph.genes import GeneVocabulary
from tests.ingest.test_pipeline import h5ad_source, make_config, query
from tests.scprint_graph.test_v2_official import official_state_dict, write_v2
from tests.server.conftest import make_client

ZEBRAFISH = "NCBITaxon:7955"
TOMATO = "NCBITaxon:4081"  # in the checkpoint's vocabulary, not in the shipped reference
TOMATO_GENES = [f"Solyc01g{i:06d}" for i in range(20)]


@pytest.fixture(scope="module")
def fish_genes() -> pd.DataFrame:
    """200 zebrafish protein-coding genes of the reference (Ensembl id, symbol)."""
    vocab = GeneVocabulary.load(("zebrafish",), biotypes=("protein_coding",))
    pick = np.sort(np.random.default_rng(3).choice(len(vocab), 200, replace=False))
    return pd.DataFrame({"ensembl_id": vocab.ensembl_ids[pick], "symbol": vocab.symbols[pick]})


def fish_adata(make_adata, fish_genes, *, seed: int = 0, term: str = ZEBRAFISH):
    """The synthetic dataset with zebrafish genes (ids as var index, symbols in feature_name)."""
    adata = make_adata(seed=seed)
    adata.var = pd.DataFrame(
        {"feature_name": fish_genes["symbol"].to_numpy()}, index=fish_genes["ensembl_id"]
    )
    adata.obs["organism_ontology_term_id"] = term
    adata.obs["organism"] = "Danio rerio" if term == ZEBRAFISH else term
    return adata


def checkpoint(tmp_path, make_adata, fish_genes):
    """A v2 checkpoint knowing human (the synthetic genes), zebrafish and tomato, in that order."""
    human = list(make_adata().var_names)
    genes = {"NCBITaxon:9606": human, ZEBRAFISH: list(fish_genes["ensembl_id"]), TOMATO: TOMATO_GENES}
    n_genes = sum(len(g) for g in genes.values())
    return write_v2(
        tmp_path / "multi-v2.ckpt",
        official_state_dict(seed=2, n_genes=n_genes),
        genes=genes,
        organisms=list(genes),
    )


def test_a_zebrafish_dataset_gets_zebrafish_networks(tmp_path, make_adata, fish_genes):
    data = tmp_path / "data"
    data.mkdir()
    fish_adata(make_adata, fish_genes).write_h5ad(data / "fish.h5ad")
    config = make_config(tmp_path, checkpoint(tmp_path, make_adata, fish_genes), h5ad_source(data))
    report = run_ingest(config, progress=False)
    assert report.counts()["added"] == 1 and report.n_networks == 12
    store = Store(config.store)
    with store.open_reader() as reader:
        rows = all_networks(reader.con, limit=100)
    assert {(r.organism, r.organism_ontology_term_id, r.model_family) for r in rows} == {
        ("zebrafish", ZEBRAFISH, "scprint2")
    }
    fish = set(fish_genes["ensembl_id"])
    edge_genes = query(
        store,
        "SELECT DISTINCT g.ensembl_id, g.organism, g.symbol FROM edges e"
        " JOIN genes g ON g.id = e.regulator_id OR g.id = e.target_id",
    )
    assert edge_genes and {ensembl_id for ensembl_id, _, _ in edge_genes} <= fish
    assert {organism for _, organism, _ in edge_genes} == {ZEBRAFISH}
    # the reference's symbols; a gene it names by its id alone has a null symbol
    symbols = {i: None if s == i else s for i, s in zip(*fish_genes.to_numpy().T, strict=True)}
    assert {ensembl_id: symbol for ensembl_id, _, symbol in edge_genes} == {
        ensembl_id: symbols[ensembl_id] for ensembl_id, _, _ in edge_genes
    }
    assert any(symbol is not None for _, _, symbol in edge_genes)
    # the store holds every organism of the vocabulary; tomato genes have no symbol in the reference
    counts = dict(query(store, "SELECT organism, count(*) FROM genes GROUP BY organism"))
    assert counts == {"NCBITaxon:9606": 200, ZEBRAFISH: 200, TOMATO: len(TOMATO_GENES)}
    tomato = query(store, "SELECT count(*) FROM genes WHERE organism = ? AND symbol IS NULL", (TOMATO,))
    assert tomato == [(len(TOMATO_GENES),)]
    with make_client(config.store) as client:
        body = client.post(
            "/graphql", json={"query": "{ networks(first: 2) { nodes { organism { termId label } } } }"}
        ).json()
    assert "errors" not in body, body
    assert (
        body["data"]["networks"]["nodes"] == [{"organism": {"termId": ZEBRAFISH, "label": "zebrafish"}}] * 2
    )


def test_an_organism_the_checkpoint_does_not_know_is_one_line(tmp_path, make_adata, fish_genes):
    data = tmp_path / "data"
    data.mkdir()
    fish_adata(make_adata, fish_genes, term="NCBITaxon:7227").write_h5ad(data / "fly.h5ad")
    config = make_config(tmp_path, checkpoint(tmp_path, make_adata, fish_genes), h5ad_source(data))
    report = run_ingest(config, progress=False)
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and report.n_networks == 0
    assert outcome.error == (
        "organism fruit_fly (NCBITaxon:7227) is not in the checkpoint's vocabulary, which knows "
        "human (NCBITaxon:9606), zebrafish (NCBITaxon:7955), NCBITaxon:4081"
    )
