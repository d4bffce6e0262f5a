"""Writing a received stream to a file and hashing it, off the event loop.

Shared by the server (uploads) and the client (downloads); a leaf module that
imports nothing of Roost, so both layers may use it. Chunks are written and
hashed in order by one job at a time on a worker thread (``os.write`` and
``hashlib`` release the GIL), so the event loop keeps decoding the next
frames meanwhile and a second core can help. The bytes waiting for the
worker are bounded by the caller: :meth:`HashingWriter.feed` says when the
backlog is over ``high`` and ``on_room`` is called once it is back under half.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

BACKLOG_HIGH = 2 * 1024 * 1024
HASH_BLOCK = 1024 * 1024  # bytes read at a time when hashing what a file holds


def sha256_prefix(f: Any, length: int) -> Any:
    """SHA-256 state after the first ``length`` bytes of the open binary file ``f``
    (read from its start); None if it holds fewer."""
    hasher = hashlib.sha256()
    f.seek(0)
    left = length
    while left > 0:
        block = f.read(min(HASH_BLOCK, left))
        if not block:
            return None
        hasher.update(block)
        left -= len(block)
    return hasher


# A job is started once this much is pending (or on flush): a job costs a
# thread hand-off and a loop wake-up, too much to pay per 64 KiB chunk.
BATCH = 512 * 1024


class HashingWriter:
    """Appends chunks to ``fd`` and feeds them to ``hasher``, in order, on a worker thread.

    ``sync_every``: after this many bytes, start an fdatasync in the
    background, so the final fsync of a large file has little left to do.
    Use from the event loop thread only (the worker touches ``hasher`` and
    ``fd`` while a job runs; read the digest after :meth:`flush`).
    """

    def __init__(
        self,
        fd: int,
        hasher: Any,
        *,
        executor: Executor | None = None,
        high: int = BACKLOG_HIGH,
        sync_every: int = 0,
        on_room: Callable[[], None] | None = None,
    ) -> None:
        self.fd = fd
        self.hasher = hasher
        self.executor = executor
        self.high = high
        self.sync_every = sync_every
        self.on_room = on_room
        self.queued = 0  # bytes accepted by feed()
        self.written = 0  # bytes written and hashed
        self.error: BaseException | None = None
        self._pending: deque[Any] = deque()  # appended here, popped by the worker
        self._busy = False
        self._in_job = 0  # bytes pending when the running job started (approximately its share)
        self._waiters: list[asyncio.Future[None]] = []
        self._when_idle: list[Callable[[], None]] = []
        self._synced = 0
        self._syncing = threading.Lock()

    @property
    def backlog(self) -> int:
        return self.queued - self.written

    @property
    def idle(self) -> bool:
        return not self._busy

    def feed(self, data: Any) -> bool:
        """Queue a chunk (bytes-like, kept alive until written); False when over ``high``."""
        if self.error is not None:
            raise self.error
        self._pending.append(data)
        self.queued += len(data)
        if self.backlog - self._in_job >= BATCH:
            self._kick()
        return self.backlog < self.high

    async def flush(self) -> None:
        """Wait until everything fed is written and hashed; raise the worker's error if any."""
        while (self.backlog or self._busy) and self.error is None:
            self._kick()
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut
        if self.error is not None:
            raise self.error

    def abandon(self, fn: Callable[[], None]) -> None:
        """Stop: drop what is pending and run ``fn`` (which may close ``fd``) once no job runs.

        ``fn`` runs after any background fdatasync ended: at once when the
        writer is idle, else on a worker thread.
        """
        self._pending.clear()
        if self.error is None:
            self.error = OSError("the transfer was abandoned")
        self._wake_waiters()

        def finish() -> None:
            self.join_sync()
            fn()

        if self._busy:
            self._when_idle.append(finish)
        elif self._syncing.acquire(blocking=False):
            self._syncing.release()
            fn()  # idle: closing and unlinking now is quick
        else:
            asyncio.get_running_loop().run_in_executor(self.executor, finish)

    def join_sync(self) -> None:
        """Wait for a background fdatasync to end (call before closing ``fd``; blocks)."""
        with self._syncing:
            pass

    def _kick(self) -> None:
        if self._busy or not self._pending or self.error is not None:
            return
        self._busy = True
        self._in_job = self.backlog
        fut = asyncio.get_running_loop().run_in_executor(self.executor, self._work)
        fut.add_done_callback(self._done)

    def _work(self) -> int:
        """Worker thread: write and hash what is pending; returns the bytes done."""
        done = 0
        pending, fd, update = self._pending, self.fd, self.hasher.update
        while True:
            try:
                data = pending.popleft()
            except IndexError:
                break
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            update(data)
            done += len(data)
        if self.sync_every:
            total = self.written + done
            if total - self._synced >= self.sync_every and self._syncing.acquire(blocking=False):
                self._synced = total
                threading.Thread(target=self._sync, daemon=True).start()
        return done

    def _sync(self) -> None:
        try:
            with contextlib.suppress(OSError):  # a real failure shows at the final fsync
                os.fdatasync(self.fd)
        finally:
            self._syncing.release()

    def _done(self, fut: asyncio.Future[int]) -> None:
        self._busy = False
        self._in_job = 0
        exc = fut.exception()
        if exc is not None:
            self.error = self.error or exc
        else:
            self.written += fut.result()
        if self._when_idle:
            callbacks, self._when_idle = self._when_idle, []
            for fn in callbacks:
                asyncio.get_running_loop().run_in_executor(self.executor, fn)
            return
        if self.backlog >= BATCH or self._waiters:
            self._kick()
        if self.on_room is not None and (self.error is not None or self.backlog <= self.high // 2):
            self.on_room()
        if self.error is not None or not self.backlog:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
