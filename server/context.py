"""The typed per-request context: the release leased for this request, its DataLoaders, limits and deadline.

A request keeps the release it started on even if a new one is published meanwhile, so every field of one
response reads the same snapshot. Loaders live here (never at module level) so their caches die with the
request. Every store query goes through `run`, which holds the request's deadline: past it the running
DuckDB statement is interrupted and the field answers `DeadlineError`.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from starlette.requests import Request

from schema.rows import GeneRow
from server.config import Limits
from server.errors import UserError
from server.limits import Prepared
from server.loaders import Loaders
from server.releases import Release

T = TypeVar("T")


class DeadlineError(UserError):
    """The request ran past `Limits.deadline_s`; its running statement was interrupted."""


def deadline_message(limits: Limits) -> str:
    return (
        f"the query ran past the {limits.deadline_s:g} s deadline and was stopped: "
        "ask for smaller pages, fewer networks or fewer fields"
    )


@dataclass
class Context:
    """What every resolver receives as `info.context`."""

    request: Request
    release: Release
    limits: Limits
    deadline: float = field(default=0.0)  # time.monotonic() past which queries are interrupted
    prepared: Prepared | None = None  # the document as the app parsed and validated it
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.limits.deadline_s
        self.loaders = Loaders(self.run, self.release.memo, networks_complete=self.release.networks_complete)

    def genes(self, ids: Iterable[int]) -> dict[int, GeneRow]:
        """Gene rows by id, the one way resolvers get genes: the release's gene index holds them all."""
        by_id = self.release.genes.by_id
        return {i: by_id[i] for i in set(ids) if i in by_id}

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run the store query `fn(connection, *args, **kwargs)` in the thread pool, within the deadline."""
        if time.monotonic() >= self.deadline:
            raise DeadlineError(deadline_message(self.limits))
        try:
            return await self.release.run_until(self.deadline, fn, *args, **kwargs)
        except TimeoutError:
            raise DeadlineError(deadline_message(self.limits)) from None


Info = strawberry.Info[Context, None]
