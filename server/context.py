"""The typed per-request context: the release leased for this request, its DataLoaders and the limits.

A request keeps the release it started on even if a new one is published meanwhile, so every field of one
response reads the same snapshot. Loaders live here (never at module level) so their caches die with the
request.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from starlette.requests import Request

from schema.rows import GeneRow
from server.config import Limits
from server.loaders import Loaders
from server.releases import Release

T = TypeVar("T")


@dataclass
class Context:
    """What every resolver receives as `info.context`."""

    request: Request
    release: Release
    limits: Limits
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.run, self.release.memo, networks_complete=self.release.networks_complete)

    def genes(self, ids: Iterable[int]) -> dict[int, GeneRow]:
        """Gene rows by id, the one way resolvers get genes: the release's gene index holds them all."""
        by_id = self.release.genes.by_id
        return {i: by_id[i] for i in set(ids) if i in by_id}

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run the store query `fn(connection, *args, **kwargs)` in the thread pool, off the event loop."""
        return await self.release.run(fn, *args, **kwargs)


Info = strawberry.Info[Context, None]
