"""Executors run a dataset's groups through the model: locally (the default) or fanned out over Ray.

Groups are independent units of work. ``LocalExecutor`` runs them one after the other in this process on the
dataset the pipeline already opened. ``RayExecutor`` sends them to GPU actors that each hold the model and
open the dataset themselves (paths must be readable from the workers). Either yields one ``NetworkResult``
per group, a failed group carrying its error instead of a network (the traceback is logged where it ran).
"""

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

import anndata as ad

from ingest.plan import Group
from ingest.sources import Dataset
from ingest.worker import ModelWorker, NetworkResult

logger = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs groups of one dataset; results may come in any order (``NetworkResult.index`` says which)."""

    def map_groups(
        self, dataset: Dataset, adata: ad.AnnData, groups: Sequence[Group]
    ) -> Iterator[NetworkResult]: ...

    def close(self) -> None: ...


def compute_one(
    worker: ModelWorker, adata: ad.AnnData, dataset: Dataset, index: int, group_cells
) -> NetworkResult:
    """One group's network, timing it; a failure is logged with its traceback and returned as an error."""
    started = time.perf_counter()
    try:
        network = worker.compute(adata, group_cells, dataset.columns)
    except Exception as err:
        logger.exception("dataset %s: group %d failed", dataset.key, index)
        return NetworkResult(index, None, time.perf_counter() - started, f"{type(err).__name__}: {err}")
    return NetworkResult(index, network, time.perf_counter() - started)


class LocalExecutor:
    """All groups in this process, on the worker's device."""

    def __init__(self, worker: ModelWorker) -> None:
        self.worker = worker

    def map_groups(
        self, dataset: Dataset, adata: ad.AnnData, groups: Sequence[Group]
    ) -> Iterator[NetworkResult]:
        for index, group in enumerate(groups):
            yield compute_one(self.worker, adata, dataset, index, group.cells)

    def close(self) -> None:
        pass


class _GroupActor:
    """Body of a Ray actor: a model worker plus the dataset it opened last."""

    def __init__(self, checkpoint: str, options: dict) -> None:
        self.worker = ModelWorker.from_file(checkpoint, **options)
        self.open_key: str | None = None
        self.adata: ad.AnnData | None = None

    def _dataset(self, dataset: Dataset) -> ad.AnnData:
        if self.open_key != dataset.key:
            if self.adata is not None and self.adata.isbacked:
                self.adata.file.close()
            self.adata = dataset.opener()
            self.open_key = dataset.key
        return self.adata

    def compute(self, dataset: Dataset, index: int, cells) -> NetworkResult:
        return compute_one(self.worker, self._dataset(dataset), dataset, index, cells)


def _ray():
    try:
        import ray
    except ImportError as err:
        msg = "the ray executor needs ray: pip install 'scprint-graph[ray]' (or pip install ray==2.58.0)"
        raise ImportError(msg) from err
    return ray


class RayExecutor:
    """Groups fanned out over Ray actors, each holding the model (one GPU each by default).

    Parameters
    ----------
    checkpoint
        Checkpoint path, readable from every Ray worker.
    options
        ``ModelWorker`` options (device, batch_size, params).
    address
        Ray cluster address (``"auto"`` joins a running cluster); None starts a local Ray instance.
    actors
        Number of model actors.
    gpus_per_actor
        GPUs reserved per actor (0 for CPU actors).
    """

    def __init__(
        self,
        checkpoint: str,
        options: dict,
        *,
        address: str | None = None,
        actors: int = 1,
        gpus_per_actor: float = 1.0,
    ) -> None:
        ray = _ray()
        from ray.util import ActorPool

        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
        actor_cls = ray.remote(num_gpus=gpus_per_actor, num_cpus=1)(_GroupActor)
        self.actors = [actor_cls.remote(str(checkpoint), dict(options)) for _ in range(actors)]
        self.pool = ActorPool(self.actors)
        logger.info("ray executor: %d actors, %.2g GPU each", actors, gpus_per_actor)

    def map_groups(
        self, dataset: Dataset, adata: ad.AnnData, groups: Sequence[Group]
    ) -> Iterator[NetworkResult]:
        tasks = [(i, g.cells) for i, g in enumerate(groups)]
        yield from self.pool.map_unordered(lambda actor, task: actor.compute.remote(dataset, *task), tasks)

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._started_ray:
            ray.shutdown()
