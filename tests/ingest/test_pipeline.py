"""End to end: sources -> validation -> groups -> tiny model -> a published release; reruns are idempotent,
changed datasets replace their networks, failures never change what is published."""

from pathlib import Path

import numpy as np
import pytest

from ingest import worker as worker_module
from ingest.columns import ColumnMap
from ingest.config import IngestConfig, SourceSpec, ValidationOptions
from ingest.executor import LocalExecutor
from ingest.pipeline import run_ingest
from ingest.worker import NetworkResult
from schema import Store
from scprint_graph.checkpoint import file_sha256

PARAMS = {"genes": "most expressed", "n_genes": 24, "max_cells": 16, "edge_filter": "top_k", "top_k": 3}


def make_config(tmp_path: Path, checkpoint: Path, *sources: SourceSpec, **params) -> IngestConfig:
    return IngestConfig(
        sources=sources,
        store=tmp_path / "atlas",
        checkpoint=checkpoint,
        params={**PARAMS, **params},
        min_cells=15,
        device="cpu",
        batch_size=16,
        validation=ValidationOptions(max_unmapped_fraction=0.2),
        base=tmp_path,
    )


def h5ad_source(folder: Path) -> SourceSpec:
    return SourceSpec(kind="h5ad", options={"path": str(folder), "name": "lab"})


def query(store: Store, sql: str, params=()):
    with store.open_reader() as reader:
        return reader.con.execute(sql, params).fetchall()


def networks_of(store: Store) -> dict[str, list[tuple]]:
    rows = query(
        store,
        "SELECT d.source_id, n.id, n.tissue, n.disease, n.cell_type, n.cell_type_ontology_term_id, n.n_cells,"
        " n.idempotency_key FROM networks n JOIN datasets d ON d.id = n.dataset_id ORDER BY n.id",
    )
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row[1:])
    return out


@pytest.fixture
def folder(tmp_path, make_adata):
    data = tmp_path / "data"
    data.mkdir()
    make_adata(seed=0).write_h5ad(data / "a.h5ad")
    make_adata(seed=1).write_h5ad(data / "b.h5ad")
    bad = make_adata(seed=2)
    bad.X.data = np.log1p(bad.X.data)  # normalised, not counts
    bad.write_h5ad(data / "bad.h5ad")
    return data


def test_ingest_publishes_and_reruns_only_process_changes(tmp_path, checkpoint, folder, make_adata):
    config = make_config(tmp_path, checkpoint, h5ad_source(folder))
    store = Store(config.store)
    first = run_ingest(config, progress=False)
    status = {o.key: o.status for o in first.outcomes}
    assert status == {"h5ad:lab/a.h5ad": "added", "h5ad:lab/b.h5ad": "added", "h5ad:lab/bad.h5ad": "failed"}
    bad = next(o for o in first.outcomes if o.status == "failed")
    assert "non-integer values in the counts" in bad.error
    assert first.release_id == store.current_release()
    nets = networks_of(store)
    assert sorted(nets) == ["lab/a.h5ad", "lab/b.h5ad"]
    a = next(o for o in first.outcomes if o.key == "h5ad:lab/a.h5ad")
    # 12 labelled groups of 19-20 cells; the 3 "unknown" cells fall under min_cells and are reported
    assert a.n_groups == len(nets["lab/a.h5ad"]) == 12 and a.n_networks == 12
    assert {g["n_cells"] for g in a.skipped_groups} <= {1, 2} and a.skipped_groups
    assert all(n[5] == 16 for n in nets["lab/a.h5ad"])  # max_cells deepest cells per group
    assert {n[3] for n in nets["lab/a.h5ad"]} == {"T cell", "B cell", "monocyte"}
    assert all(n[4].startswith("CL:") for n in nets["lab/a.h5ad"])
    n_edges = query(store, "SELECT count(*) FROM edges")[0][0]
    assert n_edges == a.n_edges + next(o.n_edges for o in first.outcomes if o.key == "h5ad:lab/b.h5ad") > 0
    assert n_edges <= 24 * 24 * 3  # top_k=3 regulators per target, 24 genes
    (run,) = query(store, "SELECT status, n_networks, n_edges FROM ingest_runs")
    assert run == ("partial", 24, n_edges)
    summary = first.summary_table()
    assert "FAILED h5ad:lab/bad.h5ad" in summary and "2 added, 1 failed" in summary

    # nothing changed: nothing is computed or published
    second = run_ingest(config, progress=False)
    assert {o.key: o.status for o in second.outcomes}["h5ad:lab/a.h5ad"] == "unchanged"
    assert second.counts()["unchanged"] == 2 and second.release_id is None
    assert store.current_release() == first.release_id

    # b changes: only b is recomputed, and its networks are replaced, not added
    make_adata(seed=9).write_h5ad(folder / "b.h5ad")
    third = run_ingest(config, progress=False)
    status = {o.key: o.status for o in third.outcomes}
    assert status["h5ad:lab/a.h5ad"] == "unchanged" and status["h5ad:lab/b.h5ad"] == "replaced"
    b = next(o for o in third.outcomes if o.key == "h5ad:lab/b.h5ad")
    assert b.n_replaced == 12
    after = networks_of(store)
    assert after["lab/a.h5ad"] == nets["lab/a.h5ad"]
    # replaced in place: each group keeps its network id, under the new idempotency key
    assert [n[:4] for n in after["lab/b.h5ad"]] == [n[:4] for n in nets["lab/b.h5ad"]]
    assert {n[6] for n in after["lab/b.h5ad"]}.isdisjoint({n[6] for n in nets["lab/b.h5ad"]})
    assert len(query(store, "SELECT * FROM ingest_runs")) == 2

    # new parameters: every valid dataset is redone
    fourth = run_ingest(make_config(tmp_path, checkpoint, h5ad_source(folder), top_k=4), progress=False)
    assert fourth.counts()["replaced"] == 2

    # b shrinks below min_cells in every group: its old networks are removed, a is kept
    make_adata(n_cells=30).write_h5ad(folder / "b.h5ad")
    fifth = run_ingest(make_config(tmp_path, checkpoint, h5ad_source(folder), top_k=4), progress=False)
    b = next(o for o in fifth.outcomes if o.key == "h5ad:lab/b.h5ad")
    assert (b.status, b.n_replaced, b.n_networks) == ("empty", 12, 0)
    assert sum(g["n_cells"] for g in b.skipped_groups) == 30
    assert sorted(networks_of(store)) == ["lab/a.h5ad"]


class FailingExecutor(LocalExecutor):
    """Fails one group of datasets whose key contains ``marker``."""

    def __init__(self, worker, marker: str) -> None:
        super().__init__(worker)
        self.marker = marker

    def map_groups(self, dataset, adata, groups):
        for result in super().map_groups(dataset, adata, groups):
            if self.marker in dataset.key and result.index == 3:
                yield NetworkResult(result.index, None, result.seconds, "RuntimeError: out of memory")
            else:
                yield result


def test_a_failing_dataset_leaves_published_networks_alone(tmp_path, checkpoint, folder, make_adata):
    config = make_config(tmp_path, checkpoint, h5ad_source(folder))
    store = Store(config.store)
    run_ingest(config, progress=False)
    before = networks_of(store)
    make_adata(seed=11).write_h5ad(folder / "a.h5ad")
    make_adata(seed=12).write_h5ad(folder / "b.h5ad")
    report = run_ingest(
        config, progress=False, executor_factory=lambda cfg, worker: FailingExecutor(worker, "a.h5ad")
    )
    outcome = {o.key: o for o in report.outcomes}
    assert (
        outcome["h5ad:lab/a.h5ad"].status == "failed"
        and "1 of 12 groups failed" in outcome["h5ad:lab/a.h5ad"].error
    )
    assert outcome["h5ad:lab/b.h5ad"].status == "replaced"  # the others still ingest
    after = networks_of(store)
    assert after["lab/a.h5ad"] == before["lab/a.h5ad"]  # untouched, same keys: retried next run
    (version,) = query(store, "SELECT version FROM datasets WHERE source_id = 'lab/a.h5ad'")[0]
    assert version != outcome["h5ad:lab/a.h5ad"].version
    retry = run_ingest(config, progress=False)
    assert {o.key: o.status for o in retry.outcomes}["h5ad:lab/a.h5ad"] == "replaced"


def test_an_error_while_writing_publishes_nothing(tmp_path, checkpoint, folder, monkeypatch):
    config = make_config(tmp_path, checkpoint, h5ad_source(folder))
    store = Store(config.store)
    store.init()
    empty = store.current_release()
    from schema.writer import ReleaseWriter

    def broken(self, network_id, edges):
        raise OSError("disk full")

    monkeypatch.setattr(ReleaseWriter, "add_edges", broken)
    with pytest.raises(OSError, match="disk full"):
        run_ingest(config, progress=False)
    assert store.current_release() == empty and query(store, "SELECT count(*) FROM networks")[0][0] == 0
    assert not list((config.store / "releases").glob("*.partial"))


def test_lamindb_and_census_sources_end_to_end(tmp_path, checkpoint, lamin_instance, fake_census):
    config = make_config(
        tmp_path,
        checkpoint,
        SourceSpec(kind="lamindb", options={"collection": "demo"}),
        SourceSpec(kind="lamindb", options={"collection": "missing"}),
        SourceSpec(kind="census", options={"obs_filter": "tissue == 'lung'", "census_version": "2025-01-30"}),
    )
    report = run_ingest(config, census_module=fake_census, progress=False)
    assert report.counts()["added"] == 4
    assert list(report.source_errors) == ["lamindb:default:missing"]
    nets = networks_of(Store(config.store))
    assert len(nets["ds-a"]) == 6 and {n[1] for n in nets["ds-a"]} == {"lung"}
    assert sum(len(v) for v in nets.values()) == 6 + 6 + 12 + 12


@pytest.mark.parametrize("counts", ["raw", "layers/counts"])
def test_counts_in_raw_or_a_layer(tmp_path, checkpoint, make_adata, counts):
    adata = make_adata()
    if counts == "raw":
        adata.raw = adata.copy()
    else:
        adata.layers["counts"] = adata.X.copy()
    adata.X = adata.X.copy()
    adata.X.data = np.log1p(adata.X.data)  # what analysis-ready files hold in X
    (tmp_path / "data").mkdir()
    adata.write_h5ad(tmp_path / "data" / "a.h5ad")
    source = SourceSpec(
        kind="h5ad", options={"path": str(tmp_path / "data")}, columns=ColumnMap(counts=counts)
    )
    report = run_ingest(make_config(tmp_path, checkpoint, source), progress=False)
    assert report.counts()["added"] == 1 and report.n_networks == 12
    wrong = SourceSpec(kind="h5ad", options={"path": str(tmp_path / "data")})
    report = run_ingest(make_config(tmp_path / "x", checkpoint, wrong), progress=False)
    assert "non-integer" in report.outcomes[0].error


def test_backed_reads_give_the_same_networks_as_in_memory(tmp_path, checkpoint, folder, monkeypatch):
    (folder / "bad.h5ad").unlink()
    in_memory = make_config(tmp_path / "m", checkpoint, h5ad_source(folder))
    run_ingest(in_memory, progress=False)
    monkeypatch.setattr("ingest.pipeline.IN_MEMORY_BYTES", 0)  # every file stays on disk
    backed = []
    read_group = worker_module.group_counts

    def spy(adata, cells, cmap):
        backed.append(adata.isbacked)
        return read_group(adata, cells, cmap)

    monkeypatch.setattr(worker_module, "group_counts", spy)
    on_disk = make_config(tmp_path / "d", checkpoint, h5ad_source(folder))
    run_ingest(on_disk, progress=False)
    assert backed == [True] * 24
    sql = "SELECT network_id, regulator_id, target_id, weight FROM edges ORDER BY ALL"
    here, there = query(Store(in_memory.store), sql), query(Store(on_disk.store), sql)
    assert here == there and len(here) > 100


def test_ingested_genes_carry_taxon_ids_so_gene_sets_map(tmp_path, checkpoint, folder):
    """Gene sets are matched to genes of an NCBITaxon organism: ingested genes must use the same ids."""
    from schema.genesets import GmtSet

    config = make_config(tmp_path, checkpoint, h5ad_source(folder))
    run_ingest(config, progress=False)
    store = Store(config.store)
    organisms = {row[0] for row in query(store, "SELECT DISTINCT organism FROM genes")}
    assert organisms == {"NCBITaxon:9606"}
    symbols = [row[0] for row in query(store, "SELECT symbol FROM genes ORDER BY id LIMIT 5")]
    with store.new_release(note="gene sets") as writer:
        load = writer.load_gene_sets("toy", [GmtSet(name="S", description="", genes=(*symbols, "NOTAGENE"))])
    assert (load.n_members, load.n_unmapped) == (5, 1)


def test_an_official_scprint_checkpoint_is_accepted_as_is(tmp_path):
    """Users pass the official Lightning file straight to ingestion; it is converted on load."""
    from ingest.worker import ModelWorker
    from tests.scprint_graph.test_official import GENES, official_state_dict, write_official

    path = write_official(tmp_path / "small-v1.ckpt", official_state_dict())
    worker = ModelWorker.from_file(path, device="cpu")
    assert list(worker.vocab.ensembl_ids) == list(GENES)
    assert worker.checkpoint_hash == file_sha256(path)
