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
import itertools
import logging
import time
import uuid
from collections.abc import Callable
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
HEARTBEAT = 1.0  # seconds between two heartbeats of a node
NODE_TTL = 5.0  # seconds without a heartbeat after which a node counts as gone


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
    shares_counters = True
    node_ttl = NODE_TTL

    def __init__(self, url: str, prefix: str = "roost") -> None:
        super().__init__()
        self.url = url
        self.channel = f"{prefix}:events"
        self.node = uuid.uuid4().bytes
        self.node_id = self.node.hex()  # its name in the node set and its users' key
        self.connected = False
        self._up_since = 0.0  # monotonic time of the last (re)subscription
        self._out: list[tuple[str, int, int, int, bytes]] = []
        self._changes: list[tuple[str, str, str]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pub: aioredis.Redis | None = None
        # Users with sessions on this node (mirrored in Redis, rewritten whole
        # after Redis comes back) and the additions/removals not sent yet.
        self._here: set[str] = set()
        self._presence: list[tuple[str, bool]] = []
        self._rewrite = True
        self._checks: set[asyncio.Task[None]] = set()
        self._nodes = f"{prefix}:nodes"
        self._users = f"{prefix}:node:"
        self._recent = f"{prefix}:recent:"
        self._once = f"{prefix}:once:"
        self._others: set[str] = set()  # users online on the other live nodes
        self._event_ids = itertools.count()

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
            asyncio.create_task(self._heartbeat_loop()),
        ]
        # Subscribed before the server takes clients: nothing published after is missed.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(subscribed.wait(), 5)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._checks]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pub is not None:
            with contextlib.suppress(RedisError, OSError):
                # Leaving cleanly: the others need not wait for the heartbeat to lapse.
                async with self._pub.pipeline(transaction=True) as pipe:
                    pipe.zrem(self._nodes, self.node.hex())
                    pipe.delete(self._users + self.node.hex())
                    await pipe.execute()
            with contextlib.suppress(RedisError, OSError):
                await self._pub.aclose()
            self._pub = None

    async def health_check(self) -> None:
        """A PING on the publishing connection (for /readyz and roost_bus_up)."""
        if self._pub is None:
            raise RoostError(ErrorCode.INTERNAL, "the bus is not started")
        await asyncio.wait_for(self._pub.ping(), CONNECT_TIMEOUT)
        if not self.connected:
            raise RoostError(ErrorCode.INTERNAL, "not subscribed to Redis (reconnecting)")

    def publish(self, envelope: Envelope) -> None:
        e = envelope
        self._out.append((e.room, e.seq, e.klass, e.first, bytes(e.frame)))
        if len(self._out) > MAX_OUTGOING:
            # Redis is away and the backlog is full: the oldest are dropped
            # (the other nodes catch up from the store).
            del self._out[: len(self._out) - MAX_OUTGOING]
        # Woken before the local delivery schedules its fan-out: at the next
        # yield the other nodes' copy goes out first, and then this node
        # writes to its own sessions (which takes longer).
        self._wake.set()
        if self._handler is not None:
            self._handler(envelope)

    # --- presence -----------------------------------------------------------------

    def here(self, user: str, online: bool) -> None:
        if online:
            self._here.add(user)
        else:
            self._here.discard(user)
        self._presence.append((user, online))
        self._wake.set()

    async def _live_nodes(self) -> list[str]:
        assert self._pub is not None
        now = time.time()
        raw = await self._pub.zrangebyscore(self._nodes, now - NODE_TTL, "+inf")
        mine = self.node.hex()
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
        return [n for n in names if n != mine]

    async def online_elsewhere(self, user: str) -> bool:
        try:
            nodes = await self._live_nodes()
            if not nodes:
                return False
            assert self._pub is not None
            async with self._pub.pipeline(transaction=False) as pipe:
                for node in nodes:
                    pipe.sismember(self._users + node, user)
                found = await pipe.execute()
        except (RedisError, OSError):
            return False  # Redis away: as far as this node can tell
        return any(found)

    def online_on_others(self) -> set[str]:
        return self._others

    async def node_alive(self, node: str) -> bool:
        """Its heartbeat in the node set is older than NODE_TTL, or it is not
        there (removed as dead, or it left) while this node has been connected
        long enough for every live node to have written its heartbeat since
        (Redis may have restarted empty): dead. Anything unknown: alive."""
        if node == self.node_id or self._pub is None or not self.connected:
            return True
        try:
            score = await asyncio.wait_for(self._pub.zscore(self._nodes, node), CONNECT_TIMEOUT)
        except (TimeoutError, RedisError, OSError):
            return True
        if score is not None:
            return float(score) >= time.time() - NODE_TTL
        return time.monotonic() - self._up_since < NODE_TTL + HEARTBEAT

    def offline(self, user: str, then: Callable[[], None]) -> None:
        async def check() -> None:
            if not await self.online_elsewhere(user) and user not in self._here:
                then()

        task = asyncio.create_task(check())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self._heartbeat()
            except (RedisError, OSError) as exc:
                log.debug("heartbeat failed: %s", exc)
                self._rewrite = True  # Redis may have lost our set: write it whole again
                self._others = set()  # as far as this node can tell
            await asyncio.sleep(HEARTBEAT)

    async def _heartbeat(self) -> None:
        assert self._pub is not None
        mine = self.node.hex()
        users_key = self._users + mine
        now = time.time()
        async with self._pub.pipeline(transaction=True) as pipe:
            pipe.zadd(self._nodes, {mine: now})
            if self._rewrite:
                pipe.delete(users_key)
                if self._here:
                    pipe.sadd(users_key, *sorted(self._here))
            pipe.expire(users_key, int(NODE_TTL * 6))
            await pipe.execute()
        self._rewrite = False
        nodes = await self._live_nodes()
        if nodes:
            raw_users = await self._pub.sunion([self._users + n for n in nodes])
            self._others = {u.decode() if isinstance(u, bytes) else str(u) for u in raw_users}
        else:
            self._others = set()
        # A node whose heartbeat lapsed died: one node (whoever removes it
        # first) says its users went offline.
        dead = await self._pub.zrangebyscore(self._nodes, "-inf", now - NODE_TTL)
        for raw in dead:
            node = raw.decode() if isinstance(raw, bytes) else str(raw)
            if await self._pub.zrem(self._nodes, node) != 1:
                continue
            users = [
                u.decode() if isinstance(u, bytes) else str(u)
                for u in await self._pub.smembers(self._users + node)
            ]
            await self._pub.delete(self._users + node)
            log.info("node %s stopped without leaving; %d users gone with it", node, len(users))
            if users and self._presence_lost is not None:
                self._presence_lost(sorted(users))

    async def count_recent(
        self, key: str, window: float, add: bool = True
    ) -> tuple[int, float] | None:
        """One sorted set per key (scores: wall times), trimmed to the window and
        counted in one transaction: every process sees the same count, and two
        events counted at once get different counts."""
        if self._pub is None or not self.connected:
            return None  # away: not a wait of CONNECT_TIMEOUT on each count
        name = self._recent + key
        now = time.time()
        try:
            async with self._pub.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(name, "-inf", now - window)
                if add:
                    pipe.zadd(name, {f"{self.node.hex()}:{next(self._event_ids)}": now})
                    pipe.pexpire(name, int(window * 1000) + 1000)
                pipe.zcard(name)
                pipe.zrange(name, 0, 0, withscores=True)
                result = await asyncio.wait_for(pipe.execute(), CONNECT_TIMEOUT)
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("cannot count %s in Redis (%s); counting on this node", key, exc)
            return None
        oldest = result[-1]
        return int(result[-2]), float(oldest[0][1]) if oldest else now

    async def take_once(self, key: str, ttl: float) -> bool | None:
        """SET NX, then the expiry pushed out (in one transaction)."""
        if self._pub is None or not self.connected:
            return None
        name, ms = self._once + key, int(ttl * 1000)
        try:
            async with self._pub.pipeline(transaction=True) as pipe:
                pipe.set(name, self.node.hex(), nx=True, px=ms)
                pipe.pexpire(name, ms)
                result = await asyncio.wait_for(pipe.execute(), CONNECT_TIMEOUT)
        except (TimeoutError, RedisError, OSError) as exc:
            log.warning("cannot claim %s in Redis (%s); deciding on this node", key, exc)
            return None
        return bool(result[0])

    def announce(self, change: Change) -> None:
        self._changes.append((change.topic, change.key, change.detail))
        self._wake.set()

    async def _send_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._presence:
                await self._send_presence()
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

    async def _send_presence(self) -> None:
        ops, self._presence = self._presence, []
        assert self._pub is not None
        key = self._users + self.node.hex()
        try:
            async with self._pub.pipeline(transaction=False) as pipe:
                for user, online in ops:
                    if online:
                        pipe.sadd(key, user)
                    else:
                        pipe.srem(key, user)
                await pipe.execute()
        except (RedisError, OSError):
            self._rewrite = True  # the next heartbeat that gets through writes it whole

    async def _listen(self, subscribed: asyncio.Event) -> None:
        backoff = 0.05
        first = True
        while True:
            client = self._client()
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._up_since = time.monotonic()
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
                        await self._receive(message["data"])
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

    async def _receive(self, data: Any) -> None:
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
                    # Applied before this batch's envelopes (a member of a new room
                    # gets the room's messages).
                    await self._on_change(Change(topic, key, detail))
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
