"""Automatic protection: rate limits, connection limits, failed logins, abuse escalation.

Abuse (messages refused by the rate limits, malformed or oversized frames)
gives its source a *strike*: the account when the connection is logged in,
else the address. Strikes within ``abuse_window`` lead, step by step, to a
warning, a mute and a temporary block (for an address that is not logged
in: a warning, then a temporary ban). Each step is an audited moderation
action with its cause, which also tells the moderators online.

In a cluster the counts are the cluster's, not the node's (docs/cluster.md):
failed logins and strikes are counted in Redis (``Bus.count_recent``), and
what an account sends through one node is charged to its buckets on the
others (``SPENT`` changes, batched every ``SPENT_EVERY`` seconds), so a flood
spread over three nodes gets the allowance of one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.protocol.durations import format_duration
from roost.protocol.errors import ErrorCode, ProtocolError, RoostError
from roost.protocol.messages import Send
from roost.server import logs, moderation
from roost.server.audit import AUTO, record
from roost.server.sanctions import banned_text

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

log = logging.getLogger("roost.moderation")

WARN, MUTE, BLOCK = 1, 2, 3
SPENT_EVERY = 0.1  # seconds: how often a node tells the others what accounts sent through it


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a refused take costs nothing."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, amount: float, now: float) -> bool:
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def spend(self, amount: float, now: float) -> None:
        """Charge ``amount`` taken elsewhere (another node); an empty bucket stays empty."""
        self._refill(now)
        self.tokens = max(0.0, self.tokens - amount)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


@dataclass(slots=True)
class Limiter:
    """The message and byte buckets of one connection or one account (None: that limit is off)."""

    messages: TokenBucket | None
    data: TokenBucket | None

    def allow(self, size: int, now: float) -> bool:
        # Both are checked before either is charged, so a refusal costs nothing.
        if self.messages is not None and not self.messages.take(1, now):
            return False
        if self.data is not None and not self.data.take(size, now):
            if self.messages is not None:
                self.messages.tokens += 1
            return False
        return True

    def idle(self, now: float) -> bool:
        return all(b is None or b.full(now) for b in (self.messages, self.data))


@dataclass(slots=True)
class Offender:
    strikes: deque[float] = field(default_factory=deque)
    level: int = 0
    last: float = float("-inf")
    step: asyncio.Task[Any] | None = None  # the escalation under way, if any


def _bucket(rate: float, burst: float, now: float) -> TokenBucket | None:
    return TokenBucket(rate, burst, now) if rate > 0 and burst > 0 else None


def _rebucket(old: TokenBucket | None, rate: float, burst: float, now: float) -> TokenBucket | None:
    """A bucket with new limits that holds what ``old`` held (at most the new burst)."""
    new = _bucket(rate, burst, now)
    if new is not None and old is not None:
        old._refill(now)
        new.tokens = min(burst, old.tokens)
    return new


def _recent(times: deque[float], now: float, window: float) -> int:
    while times and now - times[0] > window:
        times.popleft()
    return len(times)


class Protection:
    """Per-server protection state; every check reads its limits from the config."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cfg = server.config
        self.per_connection: dict[ClientConnection, Limiter] = {}
        self.per_account: dict[str, Limiter] = {}
        self.per_address: dict[str, int] = {}
        self.fails_account: dict[str, deque[float]] = {}
        self.fails_address: dict[str, deque[float]] = {}
        self.offenders: dict[tuple[str, str], Offender] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        # In a cluster: what each account sent through this node since the last SPENT.
        self.spent: dict[str, list[int]] = {}
        self.shared = server.bus.shares_counters
        self.rate_on = False
        self.reconfigure()

    def reconfigure(self) -> None:
        """The limits in the config changed (reload): buckets in use take the new
        rates and bursts and keep what they hold (up to the new burst), so a
        reload neither refills a flooder nor empties anyone."""
        cfg = self.cfg
        self.rate_on = any(
            r > 0
            for r in (cfg.msg_rate, cfg.bytes_rate, cfg.account_msg_rate, cfg.account_bytes_rate)
        )
        now = time.monotonic()
        for limiters, params in (
            (self.per_connection, (cfg.msg_rate, cfg.msg_burst, cfg.bytes_rate, cfg.bytes_burst)),
            (
                self.per_account,
                (
                    cfg.account_msg_rate,
                    cfg.account_msg_burst,
                    cfg.account_bytes_rate,
                    cfg.account_bytes_burst,
                ),
            ),
        ):
            msg_rate, msg_burst, bytes_rate, bytes_burst = params
            for limiter in limiters.values():
                limiter.messages = _rebucket(limiter.messages, msg_rate, msg_burst, now)
                limiter.data = _rebucket(limiter.data, bytes_rate, bytes_burst, now)

    # --- connections -----------------------------------------------------------------

    def on_connect(self, conn: ClientConnection) -> tuple[str, str] | None:
        """(bye code, reason) if the connection must be refused, else None."""
        # Every connection counts until it is gone, refused ones too: that keeps the
        # books simple (no per-connection flag) and a burst of attempts changes nothing.
        count = self.per_address.get(conn.address, 0) + 1
        self.per_address[conn.address] = count
        ban = self.server.sanctions.ban_of(conn.address, time.time())
        if ban is not None:
            return str(ErrorCode.BANNED), banned_text(ban)
        limit = self.cfg.max_connections_per_address
        if limit and count > limit:
            return (
                str(ErrorCode.RATE_LIMITED),
                f"too many connections from {conn.address} (the limit is {limit})",
            )
        return None

    def on_disconnect(self, conn: ClientConnection) -> None:
        self.per_connection.pop(conn, None)
        left = self.per_address.get(conn.address, 1) - 1
        if left > 0:
            self.per_address[conn.address] = left
        else:
            self.per_address.pop(conn.address, None)

    # --- rate limits -----------------------------------------------------------------

    def check_send(self, server: Server, conn: ClientConnection, msg: Send) -> None:
        """Send check: the connection's and the account's token buckets."""
        if not self.rate_on or conn.user is None:
            return
        cfg = self.cfg
        now = time.monotonic()
        mine = self.per_connection.get(conn)
        if mine is None:
            mine = Limiter(
                _bucket(cfg.msg_rate, cfg.msg_burst, now),
                _bucket(cfg.bytes_rate, cfg.bytes_burst, now),
            )
            self.per_connection[conn] = mine
        theirs = self._account_limiter(conn.user, now)
        size = len(msg.text.encode())
        if mine.allow(size, now) and theirs.allow(size, now):
            if self.shared:
                self.note_spent(conn.user, 1, size)
            return
        self.strike(conn, "flood: messages over the rate limit")
        raise RoostError(ErrorCode.RATE_LIMITED, "slow down: you are sending too fast")

    def _account_limiter(self, user: str, now: float) -> Limiter:
        cfg = self.cfg
        theirs = self.per_account.get(user)
        if theirs is None:
            theirs = Limiter(
                _bucket(cfg.account_msg_rate, cfg.account_msg_burst, now),
                _bucket(cfg.account_bytes_rate, cfg.account_bytes_burst, now),
            )
            self.per_account[user] = theirs
        return theirs

    def note_spent(self, user: str, messages: int = 0, size: int = 0, searches: int = 0) -> None:
        """In a cluster: ``user`` sent or searched through this node (told to the others)."""
        if not self.spent:
            asyncio.get_running_loop().call_later(SPENT_EVERY, self._send_spent)
        counts = self.spent.setdefault(user, [0, 0, 0])
        counts[0] += messages
        counts[1] += size
        counts[2] += searches

    def _send_spent(self) -> None:
        from roost.server.changes import SPENT, announce

        spent, self.spent = self.spent, {}
        for user, (messages, size, searches) in spent.items():
            announce(self.server, SPENT, user, f"{messages} {size} {searches}")

    def spent_elsewhere(self, user: str, detail: str) -> None:
        """Another node let ``user`` send or search ``detail`` ("messages bytes
        searches"): charge it here too."""
        try:
            messages, size, searches = (int(x) for x in detail.split())
        except ValueError:
            log.warning("ignored a malformed spent change %r for %s", detail, user)
            return
        now = time.monotonic()
        if searches:
            self.server.search_limits.spend(self.server, user, searches, now)
        if not self.rate_on or not (messages or size):
            return
        # Made if need be: an account that flooded elsewhere gets no fresh burst here.
        theirs = self._account_limiter(user, now)
        if theirs.messages is not None:
            theirs.messages.spend(messages, now)
        if theirs.data is not None:
            theirs.data.spend(size, now)

    # --- failed logins -----------------------------------------------------------------

    async def _failures(
        self, book: dict[str, deque[float]], kind: str, key: str, add: bool
    ) -> tuple[int, float, bool]:
        """Failed logins of ``key`` in the window, seconds since the oldest, and
        whether the count is the cluster's (else this node's)."""
        window = self.cfg.login_fail_window
        now = time.monotonic()
        times = book.setdefault(key, deque()) if add else book.get(key, deque())
        if add:
            times.append(now)
        if self.shared:
            counted = await self.server.bus.count_recent(f"login_fail:{kind}:{key}", window, add)
            if counted is not None:
                return counted[0], time.time() - counted[1], True
        n = _recent(times, now, window)
        return n, (now - times[0]) if n else 0.0, False

    async def _first(self, name: str, n: int, threshold: int, shared: bool, window: float) -> bool:
        """Whether this node takes the step that ``n`` events reach at ``threshold``.

        With this node's own count: when ``n`` is the threshold exactly (each
        event has its own number). With the cluster's count, which slides and
        may land on the threshold again while the abuse goes on: the first
        node to see it reached, once while the events keep coming less than
        ``window`` apart (Bus.take_once), as a single node steps up once until
        the source behaves for a window; if Redis cannot say, the node whose
        event was counted at the threshold.
        """
        if n < threshold:
            return False
        taken = await self.server.bus.take_once(f"step:{name}", window) if shared else None
        return n == threshold if taken is None else taken

    async def check_login(self, conn: ClientConnection, name: str) -> None:
        """Refuse a password login early when its account or address failed too often."""
        cfg = self.cfg
        for limit, book, kind, key, what in (
            (cfg.login_fail_account, self.fails_account, "account", name, f"for {name}"),
            (
                cfg.login_fail_address,
                self.fails_address,
                "address",
                conn.address,
                f"from {conn.address}",
            ),
        ):
            if not limit:
                continue
            n, age, _ = await self._failures(book, kind, key, add=False)
            if n >= limit:
                wait = cfg.login_fail_window - age
                raise RoostError(
                    ErrorCode.RATE_LIMITED,
                    f"too many failed logins {what}; try again in {format_duration(wait)}",
                )

    async def login_failed(self, conn: ClientConnection, name: str) -> None:
        """Count a failed login; lock the account or ban the address past the limits."""
        cfg = self.cfg
        self.server.counters.login_failures += 1
        log.info(
            "login failed for %s from %s",
            name,
            conn.peer,
            extra=logs.fields("login_failed", name, conn.address, "wrong password or unknown user"),
        )
        window = format_duration(cfg.login_fail_window)
        n, _, shared = await self._failures(self.fails_account, "account", name, add=True)
        limit = cfg.login_fail_account
        if limit and await self._first(f"lock:{name}", n, limit, shared, cfg.login_fail_window):
            why = f"{n} failed logins in {window}"
            self._spawn(record(self.server, AUTO, "lock", name, why, f"for up to {window}"))
        n, _, shared = await self._failures(self.fails_address, "address", conn.address, add=True)
        limit = cfg.login_fail_address
        # This node's count starts over after a ban.
        if (
            limit
            and conn.address
            and await self._first(f"ban:{conn.address}", n, limit, shared, cfg.login_fail_window)
        ):
            self.fails_address[conn.address].clear()
            why = f"{n} failed logins in {window}"
            duration = cfg.auto_block_duration
            self._spawn(moderation.ban(self.server, AUTO, conn.address, duration, why))

    # --- abuse --------------------------------------------------------------------------

    def bad_frame(self, conn: ClientConnection, exc: ProtocolError) -> None:
        kind = "oversized frame" if exc.code == ErrorCode.FRAME_TOO_LARGE else "malformed frames"
        self.strike(conn, kind)

    def strike(self, conn: ClientConnection, cause: str) -> None:
        """Count one abuse by the source of ``conn``; escalate when a threshold is reached."""
        cfg = self.cfg
        if conn.account is not None:
            key = ("user", conn.account.name)
        elif conn.address:
            key = ("address", conn.address)
        else:
            return
        now = time.monotonic()
        off = self.offenders.setdefault(key, Offender())
        if off.level == BLOCK:
            # Strikes that arrive while the block is imposed, or while it lasts, add nothing;
            # once it is over, the source starts afresh.
            if (off.step is not None and not off.step.done()) or self._blocked(key):
                return
            off.level = 0
            off.strikes.clear()
        if conn.closing or now - off.last < cfg.abuse_interval:
            return
        off.last = now
        if not _recent(off.strikes, now, cfg.abuse_window):
            off.level = 0  # behaved for a whole window: start over
        off.strikes.append(now)
        if self.shared:
            self._spawn(self._count_shared(key, off, cause, conn))
        else:
            self._count(key, off, len(off.strikes), cause, conn)

    async def _count_shared(
        self, key: tuple[str, str], off: Offender, cause: str, conn: ClientConnection
    ) -> None:
        kind, target = key
        counted = await self.server.bus.count_recent(
            f"strike:{kind}:{target}", self.cfg.abuse_window
        )
        if counted is None:  # Redis is away: this node's own count
            self._count(key, off, len(off.strikes), cause, conn)
            return
        n = counted[0]
        step, threshold = self._step_of(n)
        if step and await self._first(
            f"{kind}:{target}:{step}", n, threshold, True, self.cfg.abuse_window
        ):
            self._take(key, off, step, n, cause, conn)

    def _step_of(self, n: int) -> tuple[int, int]:
        """The highest step ``n`` strikes reach, with its threshold; (0, 0) for none."""
        cfg = self.cfg
        for level, threshold in (
            (BLOCK, cfg.abuse_block),
            (MUTE, cfg.abuse_mute),
            (WARN, cfg.abuse_warn),
        ):
            if threshold and n >= threshold:
                return level, threshold
        return 0, 0

    def _count(
        self, key: tuple[str, str], off: Offender, n: int, cause: str, conn: ClientConnection
    ) -> None:
        """The ``n``-th strike of ``key`` on this node: the highest step it reaches,
        if not taken yet."""
        step, _ = self._step_of(n)
        if step > off.level:
            self._take(key, off, step, n, cause, conn)

    def _take(
        self,
        key: tuple[str, str],
        off: Offender,
        step: int,
        n: int,
        cause: str,
        conn: ClientConnection,
    ) -> None:
        off.level = max(off.level, step)
        reason = f"{cause} ({n} strikes in {format_duration(self.cfg.abuse_window)})"
        off.step = self._spawn(self._escalate(key, step, reason, conn))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run an automatic action on its own: not in a request's task, which ends
        (and would be cancelled) when the action closes that request's connection."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _blocked(self, key: tuple[str, str]) -> bool:
        kind, target = key
        now = time.time()
        if kind == "user":
            return self.server.sanctions.block_of(target, now) is not None
        return self.server.sanctions.ban_of(target, now) is not None

    async def _escalate(
        self, key: tuple[str, str], step: int, reason: str, conn: ClientConnection
    ) -> None:
        cfg = self.cfg
        kind, target = key
        if step == WARN:
            conns = moderation.sessions_of(self.server, target) if kind == "user" else {conn}
            await moderation.warn(self.server, target, conns, reason)
        elif kind == "address":
            if step == BLOCK:
                await moderation.ban(self.server, AUTO, target, cfg.auto_block_duration, reason)
            # An address that is not logged in cannot be muted: it skips that step.
        elif step == MUTE:
            await moderation.mute(self.server, AUTO, target, cfg.auto_mute_duration, reason)
        else:
            await moderation.block(self.server, AUTO, target, cfg.auto_block_duration, reason)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("automatic moderation failed", exc_info=task.exception())

    # --- housekeeping -------------------------------------------------------------------

    def tick(self) -> None:
        """Forget state that no longer matters, so memory follows the active clients."""
        cfg = self.cfg
        now = time.monotonic()
        for name, limiter in list(self.per_account.items()):
            if limiter.idle(now):
                del self.per_account[name]
        for book in (self.fails_account, self.fails_address):
            for key, times in list(book.items()):
                if not _recent(times, now, cfg.login_fail_window):
                    del book[key]
        for source, off in list(self.offenders.items()):
            if not _recent(off.strikes, now, cfg.abuse_window):
                del self.offenders[source]
