"""Messages delivered to this node's sessions in seq order, each exactly once.

With one process the bus hands over messages in commit order and this is a
counter per conversation. With several processes the bus (Redis) is a hint:
another node's message may come late, twice, or never. So a message that
leaves a hole waits a moment for the ones before it and then fetches them
from the store; a message at or below what was delivered is dropped; and a
bus that may lose messages has the last seq of each active conversation
checked now and then (and at once after it reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.server.chat import wire_message
from roost.server.outbox import chat_class
from roost.store.base import StoredMessage

if TYPE_CHECKING:
    from roost.store.base import Store

log = logging.getLogger("roost.server")

# Seconds a message after a hole waits before the hole is fetched. Whatever
# lies below a committed seq is committed too, so the read could be at once;
# the wait only spares reads that the bus makes needless (it usually brings a
# node's earlier seqs within 1 to 2 ms). 50 ms made it the two-node p99.
HOLE_WAIT = 0.01
CHECK_INTERVAL = 1.0  # seconds between two checks of the active conversations' last seqs
FETCH_PAGE = 500  # messages per history read while filling a hole


class Ordering:
    """Per-conversation delivery watermark of this node, holes filled from the store."""

    def __init__(
        self,
        store: Store,
        deliver: Callable[[Envelope], None],
        active: Callable[[], Iterable[str]],
        known: Callable[[str], bool] = lambda key: True,
    ) -> None:
        self._store = store
        self._deliver = deliver
        self._active = active
        self._known = known
        self.delivered: dict[str, int] = {}
        self._held: dict[str, dict[int, Envelope]] = {}
        self._filling: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._checker: asyncio.Task[None] | None = None

    async def start(self, check: bool) -> None:
        """Take the store's last seqs as delivered; ``check``: poll them (a lossy bus)."""
        self.delivered = dict(await self._store.all_last_seqs())
        if check:
            self._checker = asyncio.create_task(self._check_loop())

    async def stop(self) -> None:
        tasks = list(self._tasks)
        if self._checker is not None:
            tasks.append(self._checker)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._checker = None

    def accept(self, env: Envelope) -> None:
        """A message from the bus: deliver it, and whatever it lets through, in order."""
        room = env.room
        done = self.delivered.get(room, 0)
        if env.seq == done + 1:
            self.delivered[room] = env.seq
            self._deliver(env)
            if room in self._held:
                self._release(room)  # the ones it held back follow it now
            return
        if env.seq <= done:
            return  # delivered already (from the store, or the bus said it twice)
        if not self._known(room):
            # A room this node has not heard of (made, or renamed, on another
            # node a moment ago): nobody here reads it, so there is nothing to fill.
            self.delivered[room] = env.seq
            return
        held = self._held.setdefault(room, {})
        held[env.seq] = env
        self._fill_later(room, HOLE_WAIT)

    def _release(self, room: str) -> None:
        held = self._held.get(room)
        if not held:
            self._held.pop(room, None)
            return
        done = self.delivered.get(room, 0)
        for seq in sorted(held):
            if seq <= done:
                del held[seq]
            elif seq == done + 1:
                done = seq
                self.delivered[room] = seq
                self._deliver(held.pop(seq))
            else:
                break
        if not held:
            del self._held[room]

    def _fill_later(self, room: str, delay: float) -> None:
        if room in self._filling:
            return
        self._filling.add(room)
        task = asyncio.create_task(self._fill(room, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, room: str, delay: float, upto: int = 0) -> None:
        """Fetch from the store what lies between the watermark and the held messages."""
        try:
            await asyncio.sleep(delay)
            self._release(room)  # the bus may have brought the missing ones meanwhile
            while True:
                held = self._held.get(room)
                target = min(held) - 1 if held else upto
                done = self.delivered.get(room, 0)
                if target <= done:
                    break
                rows = await self._store.history(room, done, target + 1, FETCH_PAGE)
                if not rows:
                    break  # not committed yet as far as this read saw: the next check retries
                # The store is the truth: a seq below a stored row that is not
                # there was never stored (a row that failed, on SQLite; on
                # PostgreSQL a reader that sees a commit sees every earlier one).
                for rec in rows:
                    if rec.seq > self.delivered.get(room, 0):
                        self.delivered[room] = rec.seq
                        self._deliver(_envelope(rec))
                self._release(room)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store is away: the next check tries again
            log.warning("could not fetch missed messages of %s: %s", room, exc)
        finally:
            self._filling.discard(room)
        if self._held.get(room):
            self._fill_later(room, CHECK_INTERVAL)

    def rename(self, old: str, new: str) -> None:
        """Room ``old`` is ``new`` now (same seqs): what this node's readers saw
        of it is what they saw of ``new``; the check fetches what follows."""
        self.delivered[new] = self.delivered.pop(old, 0)
        self._held.pop(old, None)  # the store has them under the new name
        self.catch_up()

    def catch_up(self) -> None:
        """Check every active conversation now (say, the bus reconnected)."""
        task = asyncio.create_task(self._check())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            await self._check()

    async def _check(self) -> None:
        keys = set(self._active())
        if not keys:
            return
        try:
            last = await self._store.last_seqs(keys)
        except Exception as exc:
            log.warning("could not check the last seqs: %s", exc)
            return
        for room, seq in last.items():
            if seq > self.delivered.get(room, 0) and room not in self._filling:
                self._filling.add(room)
                task = asyncio.create_task(self._fill(room, 0.0, seq))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)


def _envelope(rec: StoredMessage) -> Envelope:
    return Envelope(rec.room, rec.seq, chat_class(rec.priority), encode(wire_message(rec)))
