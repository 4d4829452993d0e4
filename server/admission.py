"""Bounded concurrency with fair queuing: two lanes by estimated cost, each served round-robin by client.

An operation estimated at `Limits.expensive_cost` or more runs in the expensive lane (`max_expensive` at
once), the rest in the cheap lane (`max_concurrent` at once), so costly queries never hold the slots,
threads and cores that cheap ones need. Within a lane, waiting operations are queued per client (IP
address) and a freed slot goes to the next client in turn, not to whoever queued most: one client sending
many queries waits behind itself. A client may have `max_queued_per_client` operations waiting per lane;
past that it is refused at once (`BusyError`, HTTP 429), and a wait ends at the request's deadline.
"""

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.config import Limits
from server.errors import UserError


class BusyError(UserError):
    """The client has too many operations waiting, or its wait ran past the deadline."""


class FairLane:
    """`slots` operations at once; waiters are served round-robin by client key."""

    def __init__(self, name: str, slots: int, max_queued_per_client: int) -> None:
        self.name = name
        self.slots = slots
        self.max_queued = max_queued_per_client
        self.running = 0
        self._waiting: OrderedDict[str, deque[asyncio.Future]] = OrderedDict()

    def queued(self, client: str) -> int:
        return len(self._waiting.get(client, ()))

    @asynccontextmanager
    async def slot(self, client: str, timeout: float) -> AsyncIterator[None]:
        """Hold one slot of the lane for the block; waits its turn for at most `timeout` seconds."""
        if self.running < self.slots and not self._waiting:
            self.running += 1
        else:
            await self._wait(client, timeout)
        try:
            yield
        finally:
            self._release()

    async def _wait(self, client: str, timeout: float) -> None:
        if self.queued(client) >= self.max_queued:
            msg = (
                f"too many queries from your address are waiting in the {self.name} lane "
                f"(at most {self.max_queued}): retry when earlier ones have answered"
            )
            raise BusyError(msg)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(client, deque()).append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), max(timeout, 0))
        except (TimeoutError, asyncio.CancelledError) as error:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over just as the wait ended: pass it on
            else:
                future.cancel()
                self._forget(client, future)
            if isinstance(error, TimeoutError):
                msg = f"the server is busy: the query waited past its deadline in the {self.name} lane"
                raise BusyError(msg) from None
            raise

    def _forget(self, client: str, future: asyncio.Future) -> None:
        queue = self._waiting.get(client)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._waiting[client]

    def _release(self) -> None:
        """Hand the freed slot to the first waiter of the next client in turn, or free it."""
        while self._waiting:
            client, queue = next(iter(self._waiting.items()))
            future = queue.popleft()
            del self._waiting[client]
            if queue:
                self._waiting[client] = queue  # back of the line: the other clients go first
            if not future.done():
                future.set_result(None)  # the slot passes on: `running` stays the same
                return
        self.running -= 1


class Admission:
    """The two lanes of one app."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        queued = limits.max_queued_per_client
        self.cheap = FairLane("cheap", limits.max_concurrent, queued)
        self.expensive = FairLane("expensive", limits.max_expensive, queued)

    def lane(self, cost: int) -> FairLane:
        return self.expensive if cost >= self.limits.expensive_cost else self.cheap
