"""The current release, followed across publishes, and a small pool of read-only connections per release.

A request leases the release that is current when it starts and keeps it to the end, so one response reads
one snapshot. When the store's pointer names a newer release, new requests get the new one and the old one
is closed once its last lease ends (the store may already have unlinked its file: POSIX keeps it readable).
DuckDB connections are not safe for concurrent use, so each call borrows a cursor of its own from the pool.
"""

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from schema.queries.genes import GeneIndex, gene_index
from schema.queries.networks import all_networks
from schema.queries.node_index import NodeIndex
from schema.release import Reader, Store
from server.errors import UserError

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PRELOADED_NETWORKS = 50_000  # networks read whole when a release opens (~1 KiB each in memory)


class Release:
    """One open release: a read-only `Reader`, the idle cursors its threads reuse, its genes and row memo.

    A release file never changes once published, so what is read of it once stays true for its whole life.
    Its genes (a vocabulary of tens of thousands of rows) are read whole when it opens (`genes`, a
    `GeneIndex`): ids and names turn into genes without a query. So are its networks when there are at
    most `MAX_PRELOADED_NETWORKS` (`networks_complete`); past that, and for datasets and models, rows are
    kept in `memo`, per table and id, once a request has read them. The memo holds at most the rows of
    those tables (unknown ids are never stored) and dies with the release. Its node statistics are held as
    a `NodeIndex` for regulator enrichment (~6 bytes per node row: 240 MiB and 3-7 s to read at a
    billion edges). Build it off the event loop: reading the genes and networks takes tens of milliseconds.
    """

    def __init__(self, reader: Reader, *, pool_size: int) -> None:
        self.reader = reader
        self.genes: GeneIndex = gene_index(reader.con)
        self.memo: dict[str, dict[Any, Any]] = {"network": {}, "dataset": {}, "model": {}}
        networks = all_networks(reader.con, limit=MAX_PRELOADED_NETWORKS)
        self.networks_complete = networks is not None
        self.memo["network"].update((row.id, row) for row in networks or ())
        self.node_index: NodeIndex | None = NodeIndex.read(reader.con)
        self.release_id = reader.release_id
        self.pool_size = pool_size
        self.leases = 0
        self.retired = False
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(cursor, *args, **kwargs)` on a cursor no other thread is using (blocking)."""
        return self._call(Statement(), fn, args, kwargs)

    def _call(self, statement: "Statement", fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        with self.cursor(statement) as cursor:
            try:
                return fn(cursor, *args, **kwargs)
            except ValueError as error:
                # the store's query functions raise ValueError, with a clear message, for bad arguments
                raise UserError(str(error)) from error

    @contextmanager
    def cursor(self, statement: "Statement | None" = None) -> Iterator[Any]:
        """A cursor of the pool that no other thread uses until the block ends (back to the pool after).

        `call` holds one for one query; a download (server/atlas.py) for as long as it streams, across the
        worker threads that read its batches one after the other. Interrupted through `statement`, the
        cursor is closed afterwards, not reused.
        """
        statement = statement or Statement()
        with self._lock:
            cursor = self._idle.pop() if self._idle else None
        if cursor is None:
            cursor = self.reader.cursor()
        try:
            statement.start(cursor)
            yield cursor
        finally:
            interrupted = statement.finish()
            with self._lock:
                keep = not self._closed and not interrupted and len(self._idle) < self.pool_size
                if keep:
                    self._idle.append(cursor)
            if not keep:
                cursor.close()

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` in the thread pool, so the event loop never waits on DuckDB."""
        return await run_in_threadpool(self.call, fn, *args, **kwargs)

    async def run_until(self, deadline: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`run`, but past `deadline` (time.monotonic()) the DuckDB statement is interrupted.

        Raises `TimeoutError` at the deadline without waiting for the worker thread, which stops as soon
        as DuckDB notices the interrupt; its cursor is then closed, not reused.
        """
        statement = Statement()
        work = asyncio.ensure_future(run_in_threadpool(self._call, statement, fn, args, kwargs))
        work.add_done_callback(_consume)
        try:
            return await asyncio.wait_for(asyncio.shield(work), deadline - time.monotonic())
        except (TimeoutError, asyncio.CancelledError):
            statement.interrupt()
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for cursor in idle:
            cursor.close()
        self.reader.close()
        log.info("closed release %s", self.release_id)


class Statement:
    """The cursor a worker thread is running a query on, so another thread can interrupt it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursor: Any = None
        self.interrupted = False

    def start(self, cursor: Any) -> None:
        with self._lock:
            if self.interrupted:
                msg = "interrupted before it started"
                raise TimeoutError(msg)
            self._cursor = cursor

    def finish(self) -> bool:
        """Forget the cursor; True when it was interrupted (and must not be reused)."""
        with self._lock:
            self._cursor = None
            return self.interrupted

    def interrupt(self) -> None:
        with self._lock:
            self.interrupted = True
            if self._cursor is not None:
                self._cursor.interrupt()


def _consume(work: asyncio.Future) -> None:
    """Retrieve the outcome of work abandoned at a deadline, so asyncio does not log it as lost."""
    if not work.cancelled() and work.exception() is not None:
        log.debug("abandoned query ended with %r", work.exception())


class Releases:
    """Follows the store's pointer file; hands out leases on the current release."""

    def __init__(self, store: Store, *, pool_size: int = 4, check_s: float = 0.5) -> None:
        self.store = store
        self.pool_size = pool_size
        self.check_s = check_s
        self._current: Release | None = None
        self._checked_at = 0.0
        self._swap = asyncio.Lock()

    async def _ensure_current(self) -> Release:
        now = time.monotonic()
        current = self._current
        if current is not None and (now - self._checked_at < self.check_s or self._swap.locked()):
            return current  # checked recently, or a newer release is being opened: serve this one meanwhile
        async with self._swap:
            current = self._current
            if current is not None and time.monotonic() - self._checked_at < self.check_s:
                return current
            published = self.store.current_release()
            if current is None or (published is not None and published != current.release_id):
                fresh = await run_in_threadpool(self._open)
                log.info("serving release %s", fresh.release_id)
                self._current = fresh
                if current is not None:
                    self._retire(current)
            self._checked_at = time.monotonic()
            return self._current

    def _open(self) -> Release:
        reader = self.store.open_reader()
        try:
            return Release(reader, pool_size=self.pool_size)
        except BaseException:
            reader.close()
            raise

    def _retire(self, release: Release) -> None:
        release.retired = True
        if release.leases == 0:
            release.close()

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Release]:
        """The current release, kept open until the block ends even if a newer one is published."""
        release = await self._ensure_current()
        release.leases += 1
        try:
            yield release
        finally:
            release.leases -= 1
            if release.retired and release.leases == 0:
                release.close()

    def close(self) -> None:
        """Close the current release (server shutdown); leased releases close when their lease ends."""
        if self._current is not None:
            self._retire(self._current)
            self._current = None
