"""Per-request DataLoaders: one batched store query per kind of object and tick, never one per parent.

`networks { nodes { hubs { gene { symbol } } } }` costs three queries (networks, hubs of all of them, their
genes), whatever the page size. Loaders are built per request by `Context`; their caches die with it.
Genes need no loader: `Context.genes` reads them from the release's gene index. Networks come from its
memo, which holds them all unless the release has very many (`Release.networks_complete`). Datasets,
models and networks not yet read go through the memo (`Release.memo`): a row read by one request is not
read again while that release is served.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from schema.queries.evidence import (
    EvidenceRow,
    KnownEdgesRow,
    QualityRow,
    TfHubsRow,
    edge_evidence,
    known_edge_counts,
    network_quality,
    network_tf_hubs,
)
from schema.queries.hubs import hubs_for_networks
from schema.queries.meta import list_models
from schema.queries.networks import datasets_by_ids, networks_by_ids
from schema.rows import DatasetRow, HubRow, ModelRow, NetworkRow

# the store refuses batches of more than 1000 ids (schema.queries._common.MAX_IDS)
MAX_BATCH = 1000

Runner = Callable[..., Awaitable[Any]]
HubKey = tuple[int, str, int, bool]  # (network id, statistic, k, transcription factors only)


class Loaders:
    """The DataLoaders of one request, all running store queries through `run` (the thread pool)."""

    def __init__(self, run: Runner, memo: dict[str, dict[int, Any]], *, networks_complete: bool) -> None:
        self._run = run
        self._memo = memo
        self._networks_complete = networks_complete  # memo["network"] holds every network of the release
        self.network: DataLoader[int, NetworkRow | None] = DataLoader(
            self._networks, max_batch_size=MAX_BATCH
        )
        self.dataset: DataLoader[int, DatasetRow | None] = DataLoader(
            self._datasets, max_batch_size=MAX_BATCH
        )
        self.model: DataLoader[int, ModelRow | None] = DataLoader(self._models)
        self.hubs: DataLoader[HubKey, list[HubRow]] = DataLoader(self._hubs, max_batch_size=MAX_BATCH)
        self.quality: DataLoader[int, list[QualityRow]] = DataLoader(self._quality, max_batch_size=MAX_BATCH)
        self.tf_hubs: DataLoader[int, TfHubsRow | None] = DataLoader(self._tf_hubs, max_batch_size=MAX_BATCH)
        self.known_edges: DataLoader[int, list[KnownEdgesRow]] = DataLoader(
            self._known_edges, max_batch_size=MAX_BATCH
        )
        self.evidence: DataLoader[tuple[int, int], list[EvidenceRow]] = DataLoader(
            self._evidence, max_batch_size=MAX_BATCH
        )

    async def _memoised(self, table: str, ids: list[int], fetch: Callable) -> list:
        """Rows by id from the release memo, reading only the ids it lacks (in one batch)."""
        memo = self._memo[table]
        missing = [i for i in dict.fromkeys(ids) if i not in memo]
        if missing:
            for i, row in zip(missing, await fetch(missing), strict=True):
                if row is not None:
                    memo[i] = row
        return [memo.get(i) for i in ids]

    async def _networks(self, ids: list[int]) -> Sequence[NetworkRow | None]:
        if self._networks_complete:
            return [self._memo["network"].get(i) for i in ids]
        return await self._memoised("network", ids, lambda missing: self._run(networks_by_ids, missing))

    async def _datasets(self, ids: list[int]) -> Sequence[DatasetRow | None]:
        return await self._memoised("dataset", ids, lambda missing: self._run(datasets_by_ids, missing))

    async def _models(self, ids: list[int]) -> Sequence[ModelRow | None]:
        return await self._memoised("model", ids, self._all_models)

    async def _all_models(self, ids: list[int]) -> list[ModelRow | None]:
        by_id = {m.id: m for m in await self._run(list_models)}  # a handful of rows per release
        return [by_id.get(i) for i in ids]

    async def _quality(self, ids: list[int]) -> list[list[QualityRow]]:
        by_network = await self._run(network_quality, sorted(set(ids)))
        return [by_network.get(i, []) for i in ids]

    async def _known_edges(self, ids: list[int]) -> list[list[KnownEdgesRow]]:
        by_network = await self._run(known_edge_counts, sorted(set(ids)))
        return [by_network[i] for i in ids]

    async def _tf_hubs(self, ids: list[int]) -> list[TfHubsRow | None]:
        return list(await self._run(network_tf_hubs, ids))

    async def _evidence(self, pairs: list[tuple[int, int]]) -> list[list[EvidenceRow]]:
        """The prior sources holding each (regulator id, target id): one query for a whole page of edges."""
        found = await self._run(edge_evidence, sorted(set(pairs)))
        return [found.get(pair, []) for pair in pairs]

    async def _hubs(self, keys: list[HubKey]) -> Sequence[list[HubRow]]:
        # one query per distinct (statistic, k, tfs_only): usually one for the whole page of networks
        groups: dict[tuple[str, int, bool], list[int]] = defaultdict(list)
        for network_id, by, k, tfs_only in keys:
            groups[(by, k, tfs_only)].append(network_id)
        found: dict[HubKey, list[HubRow]] = {}
        for (by, k, tfs_only), network_ids in groups.items():
            unique = sorted(set(network_ids))
            rows = await self._run(hubs_for_networks, unique, by=by, k=k, tfs_only=tfs_only)
            for network_id, hubs in zip(unique, rows, strict=True):
                found[(network_id, by, k, tfs_only)] = hubs
        return [found[key] for key in keys]
