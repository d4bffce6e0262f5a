"""Fan-out between server processes through Redis pub/sub (redis.asyncio).

Each node delivers its own envelopes at once and publishes them, a loop
turn's worth in one Redis message, on the cluster's channel; every other node
hands them to its handler. Redis is a hint, not the truth: pub/sub drops what
a node misses while disconnected, so the bus is ``lossy`` and calls its
resync callback after each reconnect (the server then re-reads its rooms'
last seqs from the store, roost.server.ordering).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from roost.bus.base import Bus, Change, Envelope
from roost.protocol.errors import ErrorCode, RoostError
from roost.store.base import safe_url

log = logging.getLogger("roost.bus")

CONNECT_TIMEOUT = 2.0  # seconds to reach Redis
MAX_OUTGOING = 100_000  # envelopes kept while Redis is away (then the oldest go)
RECONNECT_MAX = 2.0  # seconds between two reconnect attempts, at most


class _Batch(msgspec.Struct, array_like=True):
    """One Redis message: the sending node, its changes and envelopes of one loop turn."""

    node: bytes
    envelopes: list[tuple[str, int, int, int, bytes]]  # room, seq, klass, first, frame
    changes: list[tuple[str, str, str]] = []  # topic, key, detail (applied first)


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Batch).decode


class RedisBus(Bus):
    """The cluster bus: one Redis channel shared by every node of a cluster."""

    lossy = True

    def __init__(self, url: str, prefix: str = "roost") -> None:
        super().__init__()
        self.url = url
        self.channel = f"{prefix}:events"
        self.node = uuid.uuid4().bytes
        self.connected = False
        self._out: list[tuple[str, int, int, int, bytes]] = []
        self._changes: list[tuple[str, str, str]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pub: aioredis.Redis | None = None

    def _client(self) -> aioredis.Redis:
        # No retries inside redis-py: a lost connection must surface here, so
        # the node knows it may have missed messages.
        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )

    async def start(self) -> None:
        self._pub = self._client()
        try:
            await self._pub.ping()
        except (RedisError, OSError) as exc:
            await self._pub.aclose()
            raise RoostError(
                ErrorCode.BAD_REQUEST, f"cannot reach Redis at {safe_url(self.url)}: {exc}"
            ) from exc
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(subscribed)),
            asyncio.create_task(self._send_loop()),
        ]
        # Subscribed before the server takes clients: nothing published after is missed.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(subscribed.wait(), 5)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pub.aclose()
            self._pub = None

    def publish(self, envelope: Envelope) -> None:
        if self._handler is not None:
            self._handler(envelope)
        e = envelope
        self._out.append((e.room, e.seq, e.klass, e.first, bytes(e.frame)))
        if len(self._out) > MAX_OUTGOING:
            # Redis is away and the backlog is full: the oldest are dropped
            # (the other nodes catch up from the store).
            del self._out[: len(self._out) - MAX_OUTGOING]
        self._wake.set()

    def announce(self, change: Change) -> None:
        self._changes.append((change.topic, change.key, change.detail))
        self._wake.set()

    async def _send_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._out and not self._changes:
                continue
            batch, self._out = self._out, []
            changes, self._changes = self._changes, []
            assert self._pub is not None
            try:
                payload = _encode(_Batch(self.node, batch, changes))
                await self._pub.publish(self.channel, payload)
                backoff = 0.05
            except (RedisError, OSError) as exc:
                log.warning("cannot publish to Redis (%s); the other nodes will catch up", exc)
                # Not kept: the other nodes read what they missed from the store.
                await asyncio.sleep(backoff)
                backoff = min(RECONNECT_MAX, backoff * 2)

    async def _listen(self, subscribed: asyncio.Event) -> None:
        backoff = 0.05
        first = True
        while True:
            client = self._client()
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.connected = True
                subscribed.set()
                if not first:
                    log.info("Redis is back: catching up from the store")
                    if self._resync is not None:
                        self._resync()
                first = False
                backoff = 0.05
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("lost Redis (%s); delivering locally until it returns", exc)
                self.connected = False
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()
            first = False
            await asyncio.sleep(backoff)
            backoff = min(RECONNECT_MAX, backoff * 2)

    def _receive(self, data: Any) -> None:
        try:
            batch = _decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("ignored a malformed message on %s", self.channel)
            return
        if batch.node == self.node:
            return
        if self._on_change is not None:
            for topic, key, detail in batch.changes:
                try:
                    self._on_change(Change(topic, key, detail))
                except Exception:
                    log.exception("applying a change from the bus failed")
        if self._handler is None:
            return
        handler = self._handler
        for room, seq, klass, first, frame in batch.envelopes:
            try:
                handler(Envelope(room, seq, klass, frame, first))
            except Exception:
                log.exception("delivering an envelope from the bus failed")
