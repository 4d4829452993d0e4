"""One ingestion run: list datasets, skip unchanged ones, validate, plan groups, run the model, publish.

Order of work, and why:

1. Sources list their datasets (ids and versions; no cells read). A source that cannot be listed is reported;
   the others go on.
2. Each dataset's idempotency key is looked up in the current release: published keys are skipped before the
   model is even loaded.
3. The rest are opened (backed, after ``ingest.readable`` checked the file's metadata and bounded what it
   may allocate), validated (nothing reaches the model before validation passes) and planned; their groups
   go through the executor. A bad file or invalid data is logged as one line naming the dataset.
4. A dataset whose groups all succeeded is written into one new release, replacing its older networks; a
   dataset that failed anywhere is reported and leaves its published networks as they were. The release is
   opened only when the first dataset is ready to write, so a run with nothing new publishes nothing, and it
   is published atomically when the run ends cleanly (an exception discards it).
"""

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from ingest.columns import dataset_organism
from ingest.config import IngestConfig
from ingest.executor import Executor, LocalExecutor, RayExecutor
from ingest.plan import Plan, plan_groups
from ingest.readable import declared_nbytes
from ingest.report import DatasetOutcome, RunReport
from ingest.sources import Dataset
from ingest.terms import write_term_closure
from ingest.validate import InvalidDataset, validate_dataset
from ingest.worker import ModelWorker, NetworkResult
from schema import NetworkMeta, ReleaseWriter, Store, idempotency_key, params_hash
from schema.queries.networks import datasets_with_networks, networks_by_idempotency_key
from scprint_graph import grn_metrics
from scprint_graph.checkpoint import file_sha256
from scprint_graph.errors import InputError
from scprint_graph.genes import GeneVocabulary, find_organism
from scprint_graph.official import load_any_checkpoint
from scprint_graph.v2.official import family_of

logger = logging.getLogger(__name__)

IN_MEMORY_BYTES = 512 << 20  # datasets declaring up to 512 MiB of arrays are read into memory once


def list_datasets(config: IngestConfig, report: RunReport, *, census_module: Any = None) -> list[Dataset]:
    """Every dataset of every source; a failing source is recorded in the report and skipped."""
    found: dict[str, Dataset] = {}
    for spec in config.sources:
        name = f"{spec.kind}:{spec.options.get('name') or spec.options.get('path') or spec.options}"
        try:
            source = spec.build(config.base, census_module=census_module)
            name = source.name
            datasets = list(source.datasets())
        except InputError as err:  # the user's to fix: one line (the traceback at debug level)
            logger.error("source %s could not be listed: %s", name, err)
            logger.debug("source %s", name, exc_info=True)
            report.source_errors[name] = str(err)
            continue
        except Exception as err:
            logger.exception("source %s could not be listed", name)
            report.source_errors[name] = f"{type(err).__name__}: {err}"
            continue
        for ds in datasets:
            if ds.key in found:
                logger.warning("dataset %s is listed by two sources; the first one is used", ds.key)
                continue
            found[ds.key] = ds
        logger.info("source %s: %d datasets", name, len(datasets))
    return list(found.values())


def published_state(
    store: Store, keys: Sequence[str], datasets: Sequence[Dataset]
) -> tuple[set[str], set[str]]:
    """What the current release holds: which idempotency keys, and which datasets (by key) have networks."""
    if store.current_release() is None:
        return set(), set()
    with store.open_reader() as reader:
        done = {k for k in keys if networks_by_idempotency_key(reader.con, k)}
        with_networks = {f"{source}:{source_id}" for source, source_id in datasets_with_networks(reader.con)}
    return done, {ds.key for ds in datasets if ds.key in with_networks}


def load_if_small(adata: ad.AnnData, limit: int | None = None) -> ad.AnnData:
    """A backed dataset whose arrays declare at most ``limit`` bytes, read into memory once.

    One sequential read beats one fancy-indexed read per group (and a validation pass) on small datasets;
    larger ones stay on disk and each group reads only its rows. The decision is made on the declared
    (uncompressed) sizes, not the file's size: a small compressed file can hold a large matrix.
    """
    limit = IN_MEMORY_BYTES if limit is None else limit
    if not adata.isbacked or declared_nbytes(Path(adata.filename)) > limit:
        return adata
    return adata.to_memory()


def vocabulary_table(vocab: GeneVocabulary) -> pa.Table:
    """The vocabulary as the store's genes table: organism as its NCBITaxon term id, as the store expects.

    Unknown chromosome and start become nulls, and so does the symbol of a gene that has none (the
    vocabulary then carries its id as symbol: e.g. a checkpoint's gene of a species the shipped reference
    does not describe); a gene of unknown organism is stored as "unknown".
    """
    terms = {name: find_organism(name).term_id for name in set(vocab.organism.tolist()) if name}
    organism = np.array([terms.get(name, "unknown") for name in vocab.organism.tolist()], dtype=object)
    symbols = vocab.symbols.astype(str)
    return pa.table(
        {
            "ensembl_id": pa.array(vocab.ensembl_ids.astype(str)),
            "symbol": pa.array(symbols, mask=symbols == vocab.ensembl_ids.astype(str)),
            "organism": pa.array(organism),
            "chromosome": pa.array(vocab.chromosome.astype(str), mask=vocab.chromosome == ""),
            "start": pa.array(vocab.start, pa.int32(), mask=vocab.start < 0),
        }
    )


def make_executor(config: IngestConfig, worker: ModelWorker | None) -> Executor:
    """The executor the config names (``local`` uses the already loaded worker)."""
    if config.executor.kind == "ray":
        options = {
            "device": config.device,
            "batch_size": config.batch_size,
            "params": config.params,
        }
        return RayExecutor(
            str(config.checkpoint),
            options,
            address=config.executor.address,
            actors=config.executor.actors,
            gpus_per_actor=config.executor.gpus_per_actor,
        )
    return LocalExecutor(worker)


class Ingestion:
    """State of one run: the store, the model (loaded on first need), the release (opened on first write)."""

    def __init__(
        self,
        config: IngestConfig,
        report: RunReport,
        stack: ExitStack,
        *,
        executor_factory: Callable[[IngestConfig, ModelWorker | None], Executor] = make_executor,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.report = report
        self.stack = stack
        self.store = Store(config.store)
        self.checkpoint_hash = file_sha256(config.checkpoint)
        self.params_hash = params_hash(config.network_params)
        self.executor_factory = executor_factory
        self.progress = progress
        self.worker: ModelWorker | None = None
        self.executor: Executor | None = None
        self.writer: ReleaseWriter | None = None
        self.model_id: int | None = None
        self.model_family: str | None = None  # "scprint" | "scprint2", known once the model is loaded
        self.with_networks: set[str] = set()  # datasets with networks in the current release

    @staticmethod
    def dataset_row(ds: Dataset) -> dict:
        return {
            "source": ds.source,
            "source_id": ds.source_id,
            "version": ds.version,
            "title": ds.title,
            "collection": ds.collection,
            "content_hash": ds.content_hash,
        }

    def key(self, ds: Dataset) -> str:
        return idempotency_key(ds.key, ds.version, self.checkpoint_hash, self.params_hash)

    def load_model(self) -> None:
        if self.worker is not None:
            return
        loaded = load_any_checkpoint(self.config.checkpoint)
        if loaded.sha256 != self.checkpoint_hash:
            msg = f"checkpoint {self.config.checkpoint} changed during the run"
            raise RuntimeError(msg)
        self.model_family = family_of(loaded.model)
        self.worker = ModelWorker(
            loaded,
            device="cpu" if self.config.executor.kind == "ray" else self.config.device,
            batch_size=self.config.batch_size,
            params=self.config.params,
        )
        self.executor = self.executor_factory(self.config, self.worker)
        self.stack.callback(self.executor.close)

    def open_release(self) -> ReleaseWriter:
        if self.writer is None:
            note = f"ingest run started {self.report.started_at.isoformat()}"
            release = self.store.new_release(note=note, quality_metrics=grn_metrics)
            self.writer = self.stack.enter_context(release)
            self.writer.upsert_genes(vocabulary_table(self.worker.vocab))
            self.model_id = self.writer.add_model(
                self.checkpoint_hash, self.config.checkpoint.name, self.worker.config.to_dict()
            )
        return self.writer

    def compute(self, ds: Dataset, outcome: DatasetOutcome) -> tuple[Plan, list[NetworkResult], str] | None:
        """Validate, plan and run one dataset; None when it is invalid, empty or a group failed."""
        cmap = ds.columns
        with ds.open(max_bytes=self.config.validation.max_dataset_bytes) as backed:
            adata = load_if_small(backed)
            organism = dataset_organism(adata.obs, cmap)
            match = self.worker.match_organism(organism)  # one line naming the organisms it knows
            validate_dataset(
                adata,
                cmap,
                name=ds.key,
                map_genes=lambda var, column: self.worker.vocab.map_var(var, column=column, organism=match),
                options=self.config.validation,
            )
            plan = plan_groups(adata.obs, cmap, min_cells=self.config.min_cells)
            outcome.skipped_groups = [{"group": s.name, "n_cells": s.n_cells} for s in plan.skipped]
            outcome.n_groups = len(plan.groups)
            for skipped in plan.skipped:
                logger.info("dataset %s: skipping group %s (%s)", ds.key, skipped.name, skipped.reason)
            if not plan.groups:
                outcome.status = "empty"
                return None
            bar = tqdm(
                total=len(plan.groups), desc=f"groups of {ds.title}", leave=False, disable=not self.progress
            )
            results = []
            for result in self.executor.map_groups(ds, adata, plan.groups):
                results.append(result)
                bar.set_postfix_str(plan.groups[result.index].name[-40:])
                bar.update()
            bar.close()
        outcome.model_seconds = sum(r.seconds for r in results)
        failed = [r for r in results if r.error is not None]
        if failed:
            outcome.failed_groups = [{"group": plan.groups[r.index].name, "error": r.error} for r in failed]
            outcome.error = f"{len(failed)} of {len(results)} groups failed, e.g. {failed[0].error}"
            return None
        return plan, sorted(results, key=lambda r: r.index), organism

    def write(
        self, ds: Dataset, key: str, plan: Plan, results: list[NetworkResult], organism: str, outcome
    ) -> None:
        """Replace the dataset's networks by the new ones in the release."""
        writer = self.open_release()
        upsert = writer.upsert_dataset(**self.dataset_row(ds))
        outcome.n_replaced = writer.replace_networks(upsert.id)
        outcome.status = "replaced" if outcome.n_replaced or not upsert.created else "added"
        for group, result in zip(plan.groups, results, strict=True):
            network = result.network
            meta = NetworkMeta(
                dataset_id=upsert.id,
                n_cells=network.n_cells,
                organism=organism,
                organism_ontology_term_id=find_organism(organism).term_id,
                model_id=self.model_id,
                model_family=self.model_family,
                parameters={**network.params, **self.config.network_params, "params_hash": self.params_hash},
                idempotency_key=key,
                **group.labels,
            )
            network_id = writer.add_network(meta)
            load = writer.add_edges(network_id, network.edges.select(["regulator", "target", "weight"]))
            outcome.n_networks += 1
            outcome.n_model_cells += network.n_cells
            outcome.n_edges += load.n_edges

    def run_dataset(self, ds: Dataset) -> DatasetOutcome:
        started = time.perf_counter()
        outcome = DatasetOutcome(key=ds.key, title=ds.title, version=ds.version)
        key = self.key(ds)
        self.load_model()  # a broken checkpoint stops the run: no dataset could succeed
        computed = None
        try:
            computed = self.compute(ds, outcome)
        except InvalidDataset as err:
            logger.error("%s", err)
            logger.debug("dataset %s", ds.key, exc_info=True)
            outcome.status, outcome.error = "failed", "; ".join(err.problems)
        except (InputError, OSError) as err:  # a bad file or value: one line (the traceback at debug level)
            logger.error("dataset %s: %s", ds.key, err)
            logger.debug("dataset %s", ds.key, exc_info=True)
            outcome.status, outcome.error = "failed", str(err)
        except Exception as err:  # its own failure (unreadable file, lost connection) spares the others
            logger.exception("dataset %s could not be ingested", ds.key)
            outcome.status, outcome.error = "failed", f"{type(err).__name__}: {err}"
        if computed is not None:
            # Errors while writing propagate: the release would hold half a dataset, so it is discarded.
            plan, results, organism = computed
            outcome.n_cells = plan.n_cells
            self.write(ds, key, plan, results, organism, outcome)
        elif outcome.status == "empty" and ds.key in self.with_networks:
            # Changed and now without any group large enough: its old networks no longer describe it.
            writer = self.open_release()
            upsert = writer.upsert_dataset(**self.dataset_row(ds))
            outcome.n_replaced = writer.replace_networks(upsert.id)
        outcome.seconds = time.perf_counter() - started
        logger.info("dataset %s: %s in %.1f s", ds.key, outcome.status, outcome.seconds)
        return outcome


def run_ingest(
    config: IngestConfig,
    *,
    census_module: Any = None,
    executor_factory: Callable[[IngestConfig, ModelWorker | None], Executor] = make_executor,
    progress: bool = True,
) -> RunReport:
    """Ingest every new or changed dataset of the config's sources into a new release.

    Parameters
    ----------
    config
        The run's configuration (``load_config``).
    census_module
        A Census-shaped module for Census sources (tests; default ``cellxgene_census``).
    executor_factory
        Builds the executor from the config and the local model worker.
    progress
        Show progress bars per dataset and per group.

    Returns
    -------
    RunReport
        Per-dataset outcomes and the published release id (None when nothing was written).
    """
    started = time.perf_counter()
    report = RunReport(started_at=datetime.now(UTC))
    datasets = list_datasets(config, report, census_module=census_module)
    with ExitStack() as stack:
        run = Ingestion(config, report, stack, executor_factory=executor_factory, progress=progress)
        keys = {ds.key: run.key(ds) for ds in datasets}
        done, run.with_networks = published_state(run.store, list(keys.values()), datasets)
        todo = []
        for ds in datasets:
            if keys[ds.key] in done:
                report.outcomes.append(DatasetOutcome(ds.key, ds.title, ds.version, status="unchanged"))
            else:
                todo.append(ds)
        logger.info(
            "%d datasets: %d unchanged, %d to ingest", len(datasets), len(datasets) - len(todo), len(todo)
        )
        for ds in tqdm(todo, desc="datasets", unit="dataset", disable=not progress):
            report.outcomes.append(run.run_dataset(ds))
        report.finished_at = datetime.now(UTC)
        report.seconds = time.perf_counter() - started
        if run.writer is not None:
            report.release_id = run.writer.release_id
            write_term_closure(run.writer)
            run.writer.record_run(
                status=report.status,
                started_at=report.started_at.replace(tzinfo=None),
                finished_at=report.finished_at.replace(tzinfo=None),
                n_networks=report.n_networks,
                n_edges=report.n_edges,
                note=", ".join(f"{n} {s}" for s, n in report.counts().items() if n),
                details=report.to_dict(),
            )
    return report
