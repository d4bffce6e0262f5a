"""The server: listener, shared state, fan-out, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
import sys
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.bus.base import Bus, Envelope
from roost.protocol.codec import encode
from roost.protocol.errors import ErrorCode, ProtocolError, RoostError
from roost.protocol.messages import PROTOCOL_VERSION, Gap, ServerHello, Wire
from roost.protocol.names import dm_parties
from roost.server import logs, moderation
from roost.server.activity import OWN, Activity
from roost.server.admission import Lobby
from roost.server.auth import Passwords
from roost.server.backends import check_pair, make_bus, make_store
from roost.server.changes import Changes
from roost.server.config import ServerConfig
from roost.server.connection import ClientConnection, TlsConnection, tune_listener
from roost.server.files import FileService
from roost.server.gateways.irc.listener import IrcGateway
from roost.server.keepalive import keepalive
from roost.server.metrics import Health, Metrics
from roost.server.ops_http import OpsEndpoint
from roost.server.ordering import Ordering
from roost.server.outbox import CONTROL, NORMAL, URGENT, Outbox
from roost.server.protection import Protection
from roost.server.reader_pace import ReaderPace
from roost.server.rooms import check_room_mute
from roost.server.sanctions import Sanctions
from roost.server.search import SearchLimits
from roost.server.state import Room, ServerState
from roost.server.tls import server_context
from roost.store.base import Account, Store
from roost.store.lock import DataFolderLock
from roost.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from roost.server.gateways.web import WebGateway

log = logging.getLogger("roost.server")

# Several consecutive messages of a room travel as one envelope up to this size.
BATCH_BYTES = 32 * 1024
GIL_SWITCH_INTERVAL = 0.001  # seconds (CPython's default is 0.005)
HEALTH_TIMEOUT = 2.0  # seconds the store or the bus may take to answer a readiness check
Handler = Callable[["Server", ClientConnection, Any], Any]


class Server:
    """A Roost server process. ``await start()``, then ``await stop()``."""

    def __init__(
        self, config: ServerConfig, store: Store | None = None, bus: Bus | None = None
    ) -> None:
        from roost.server.handlers import CONCURRENT, HANDLERS

        self.config = config
        # Rereads the configuration on reload (roost.server.reload); `roost serve`
        # sets it to read its config file again with the same command-line options.
        self.load_config: Callable[[], ServerConfig] = lambda: dataclasses.replace(config)
        self.metrics = Metrics(self)
        self.counters = self.metrics.counters
        self.store: Store = store or make_store(config)
        # One server per data folder (roost.store.lock).
        self.folder_lock = DataFolderLock(config.data_dir)
        self.bus: Bus = bus or make_bus(config)
        check_pair(config, self.store)
        self.state = ServerState()
        self.accounts: dict[str, Account] = {}
        self.passwords = Passwords(config.argon2_time_cost, config.argon2_memory_kib)
        self.handlers: dict[type, Handler] = dict(HANDLERS)
        # Requests whose awaiting handlers run alongside the requests after them
        # (roost.server.connection: every other awaiting request is a barrier).
        self.concurrent: frozenset[type] = CONCURRENT
        # Moderation state (roost.server.moderation) and automatic protection.
        self.sanctions = Sanctions()
        self.lobby = Lobby()
        self.protection = Protection(self)
        self.search_limits = SearchLimits()
        # Checks run before a message is accepted (mutes, rate limits); each may raise RoostError.
        # Rate limits come first, so that a muted flooder still collects strikes.
        self.send_checks: list[Handler] = [
            self.protection.check_send,
            moderation.check_mute,
            check_room_mute,
        ]
        self.files = FileService(self)
        self.connections: set[ClientConnection] = set()
        self._seen_saves: set[asyncio.Future[None]] = set()  # last-seen writes under way
        self.reader_pace = ReaderPace()
        self.ordering = Ordering(
            self.store, self._deliver_message, self._active_keys, self._known_key
        )
        self.changes = Changes(self)
        self.activity = Activity(self)  # away, typing, mentions (roost.server.activity)
        self.port = config.port
        self.started = time.time()
        self._listener: asyncio.AbstractServer | None = None
        self.web: WebGateway | None = None  # the web client's listener (config.web)
        self.web_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: set[ClientConnection] = set()
        self._flush_scheduled = False
        self._pending: dict[str, list[Envelope]] = {}
        self._fanout_scheduled = False
        self._full: set[ClientConnection] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._pending_since = 0.0  # perf_counter() of the oldest message in _pending
        self.tls_context: ssl.SSLContext | None = None
        self.ops: OpsEndpoint | None = None
        self.irc: IrcGateway | None = None
        self._hello = self._encode_hello()
        self.stopped = asyncio.Event()

    def _encode_hello(self) -> bytes:
        """The hello every connection gets, encoded once (again after a reload)."""
        config = self.config
        return encode(
            ServerHello(
                version=PROTOCOL_VERSION,
                server=config.server_name,
                limits=config.limits(),
                registration=config.registration,
            )
        )

    def reconfigure(self, changed: list[str]) -> None:
        """Settings in ``changed`` have new values in self.config (roost.server.reload)."""
        self._hello = self._encode_hello()
        self.protection.reconfigure()
        if "outbox_budget" in changed:
            for conn in self.connections:
                if conn.outbox is not None:
                    conn.outbox.budget = self.config.outbox_budget

    async def check_health(self) -> Health:
        """Ask the store and the bus whether they answer; the outcome is kept in metrics."""
        health = self.metrics.health
        problems: list[str] = []
        for name, check in (("store", self.store.health_check), ("bus", self.bus.health_check)):
            try:
                await asyncio.wait_for(check(), HEALTH_TIMEOUT)
                ok = True
            except Exception as exc:
                ok = False
                problems.append(f"{name}: {exc or type(exc).__name__}")
            setattr(health, name, ok)
        health.problems = problems
        health.checked = time.time()
        return health

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        # The database thread needs the GIL for a moment between SQLite calls;
        # with CPython's default 5 ms switch interval a busy loop thread makes it
        # wait that long each time, which stretched acknowledge-after-store round
        # trips (measured: about 20% more fan-out with 1 ms, docs/benchmarks.md).
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._loop = asyncio.get_running_loop()
        # Before the store opens: a second server on this SQLite database must not
        # touch it. A shared store (a cluster) has its own ways; nodes may share a folder.
        if isinstance(self.store, SQLiteStore):
            Path(self.config.data_dir).mkdir(parents=True, exist_ok=True)
            self.folder_lock.acquire("roost serve")
        try:
            await self._start()
        except BaseException:
            self.folder_lock.release()
            raise

    async def _start(self) -> None:
        assert self._loop is not None
        await self.store.open()
        for acc in await self.store.list_accounts():
            self.accounts[acc.name] = acc
        self.sanctions.load(await self.store.list_sanctions())
        for rec in await self.store.load_rooms():
            room = Room(rec.name)
            room.take(rec)
            self.state.rooms[rec.name] = room
            for user in rec.members:
                self.state.add_member(room, user)
        self.state.renamed = await self.store.room_renames()
        for name in self.config.default_rooms:
            if name not in self.state.rooms:
                await self.store.create_room(name, "", time.time())
                self.state.rooms[name] = Room(name)
        await self.files.start()
        await self.ordering.start(check=self.bus.lossy)
        self.bus.set_handler(self.deliver)
        self.bus.set_resync(self._resync)
        self.bus.set_change_handler(self.changes.received)
        self.bus.set_presence_lost(self._node_lost)
        # Messages committed in a batch are fanned out right after it, in the same turn.
        self.store.after_stored = self._fanout
        self.store.on_commit = self.metrics.commit_seconds.observe
        await self.bus.start()
        tls = self.tls_context = server_context(self.config)
        connection = ClientConnection if tls is None else TlsConnection
        self._listener = await self._loop.create_server(
            lambda: connection(self),
            self.config.host,
            self.config.port,
            reuse_address=True,
            backlog=4096,
            ssl=tls,
            ssl_handshake_timeout=self.config.handshake_timeout if tls else None,
        )
        tune_listener(self._listener)
        sock = self._listener.sockets[0]
        self.port = sock.getsockname()[1]
        if self.config.irc_port or self.config.irc_tls_port:
            self.irc = IrcGateway(self)
            await self.irc.start()
        if self.config.web:
            await self._start_web()
        self._ticker = asyncio.create_task(self._tick())
        self.reader_pace.start(self._loop, probe=self.config.pace_readers)
        if self.config.metrics_port:
            self.ops = OpsEndpoint(self)
            await self.ops.start(self.config.metrics_host, self.config.metrics_port)
        log.info(
            "listening on %s:%d, data in %s", self.config.host, self.port, self.config.data_dir
        )

    async def _start_web(self) -> None:
        # Imported here: aiohttp loads only on servers that serve the web client.
        from roost.server.gateways.web import WebGateway

        web = WebGateway(self)
        try:
            await web.start()
        except OSError as exc:
            host = self.config.web_host or self.config.host
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                f"cannot listen on {host}:{self.config.web_port} for the web client:"
                f" {exc.strerror or exc}; set web_port, or web = false",
            ) from exc
        self.web = web
        self.web_port = web.port

    async def stop(self, reason: str = "server shutting down") -> None:
        """Stop accepting, tell every client, flush the store."""
        if self._listener is not None:
            self._listener.close()
        if self.irc is not None:
            self.irc.close()
        for conn in list(self.connections):
            conn.close(str(ErrorCode.SHUTTING_DOWN), reason)
        # Their sessions end with the server: that is when they were last seen.
        for user in list(self.state.online):
            self._save_last_seen(user)
        self.reader_pace.stop()
        if self.ops is not None:
            await self.ops.stop()
        for task in list(self.protection.tasks):
            task.cancel()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.web is not None:
            await self.web.stop()
        await self.files.stop()
        await self.bus.stop()
        await self.ordering.stop()
        if self._seen_saves:
            await asyncio.wait(list(self._seen_saves), timeout=5.0)
        await self.store.close()
        self.folder_lock.release()
        if self._listener is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._listener.wait_closed(), 2.0)
        if self.irc is not None:
            await self.irc.wait_closed()
        self.stopped.set()
        log.info("stopped")

    async def _tick(self) -> None:
        cfg = self.config
        # Often enough that short timeouts (stall, handshake, ping) are kept closely.
        periods = [1.0, cfg.stall_timeout / 4, cfg.handshake_timeout / 4]
        if cfg.ping_interval > 0:
            periods.append(cfg.ping_interval / 4)
        interval = max(0.05, min(periods))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            keepalive(self, now)
            self.protection.tick()
            if self.sanctions.expiring(time.time()):
                try:
                    await moderation.expire(self)
                except Exception:  # the tick must go on; the next one retries
                    log.exception("could not lift expired sanctions")
            limit = self.config.handshake_timeout
            for conn in [c for c in self.connections if c.user is None]:
                if now - conn.connected_at > limit and not conn.busy:
                    conn.close(str(ErrorCode.TIMEOUT), f"no login within {limit:g} seconds")
            for conn in list(self._full):
                box = conn.outbox
                if conn.closing or box is None or not box.full_since:
                    self._full.discard(conn)
                elif now - box.full_since > self.config.stall_timeout:
                    self._full.discard(conn)
                    self.counters.slow_reader_disconnects += 1
                    log.info(
                        "disconnect %s (%s): stalled reader",
                        conn.peer,
                        conn.user,
                        extra=logs.fields(
                            "slow_reader", conn.user, conn.address, "stalled with a full outbox"
                        ),
                    )
                    conn.close(
                        "slow_reader",
                        f"not reading for {self.config.stall_timeout:g} seconds with a full outbox;"
                        " reconnect to catch up from history",
                    )

    # --- connections -------------------------------------------------------------

    def on_connect(self, conn: ClientConnection) -> None:
        self.connections.add(conn)
        refusal = self.protection.on_connect(conn)
        if refusal is not None:
            log.info(
                "refuse %s: %s",
                conn.peer,
                refusal[1],
                extra=logs.fields("refuse", address=conn.address, reason=refusal[1]),
            )
            conn.close(*refusal)
            return
        log.info("connect %s", conn.peer, extra=logs.fields("connect", address=conn.address))
        conn.push(Envelope("", 0, CONTROL, self._hello))

    def on_disconnect(self, conn: ClientConnection) -> None:
        self.connections.discard(conn)
        self._dirty.discard(conn)
        self._full.discard(conn)
        self.protection.on_disconnect(conn)
        self.lobby.discard(conn)
        self.files.on_disconnect(conn)
        log.info(
            "disconnect %s (%s)",
            conn.peer,
            conn.user or "not logged in",
            extra=logs.fields("disconnect", conn.user, conn.address),
        )
        user = conn.user
        if user is not None and self.state.detach(conn, user):
            self._save_last_seen(user)
            self.bus.here(user, False)
            # Offline once no node has a session of the user.
            self.bus.offline(user, lambda: self._went_offline(user))

    def _save_last_seen(self, user: str) -> None:
        """Store when ``user``'s last session here ended (`admin users`' last seen)."""
        task = asyncio.ensure_future(self.store.save_last_seen(user, time.time()))
        self._seen_saves.add(task)
        task.add_done_callback(self._seen_saved)

    def _seen_saved(self, task: asyncio.Future[None]) -> None:
        self._seen_saves.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A store that is down loses only this hint; the tokens still tell.
            log.debug("last seen not stored: %s", task.exception())

    def on_bad_frame(self, conn: ClientConnection, exc: ProtocolError) -> None:
        """Malformed or oversized frames count as abuse."""
        log.info(
            "bad frame from %s (%s): %s",
            conn.peer,
            conn.user,
            exc.message,
            extra=logs.fields("bad_frame", conn.user, conn.address, exc.message),
        )
        self.protection.bad_frame(conn, exc)

    def attach(self, conn: ClientConnection, account: Account) -> None:
        """Make a connection a logged-in session of ``account``."""
        conn.user = account.name
        conn.account = account
        if self.state.attach(conn, account.name):
            self.bus.here(account.name, True)
            self.publish_presence(account.name, True)

    def is_quiet(self, room: Room) -> bool:
        """A room too big to announce joins, leaves and presence (config quiet_room_size)."""
        limit = self.config.quiet_room_size
        return bool(limit) and len(room.members) > limit

    def member_event(self, room: Room, user: str, event: Wire, quiet: bool) -> None:
        """A member's join or leave: to the room, or in a quiet room to the user's own sessions."""
        frame = encode(event)
        if not quiet:
            self.bus.publish(Envelope(room.name, 0, NORMAL, frame))
            return
        for conn in self.state.online.get(user, ()):
            if not conn.closing:
                conn.push(Envelope(room.name, 0, NORMAL, frame))

    def _went_offline(self, user: str) -> None:
        if user not in self.state.online:  # unless a new session came meanwhile
            self.activity.went_offline(user)
            self.publish_presence(user, False)

    def _node_lost(self, users: list[str]) -> None:
        """Another node died with sessions: its users are offline unless online elsewhere."""
        for user in users:
            if user not in self.state.online:
                self.bus.offline(user, lambda user=user: self._went_offline(user))  # type: ignore[misc]

    def publish_presence(self, user: str, online: bool) -> None:
        self.bus.publish(
            Envelope("~" + user, 0, NORMAL, encode(self.activity.presence(user, online)))
        )

    # --- accounts ------------------------------------------------------------------

    async def find_account(self, name: str) -> Account | None:
        acc = self.accounts.get(name)
        if acc is None:
            # Created offline (`roost user add`) while we run, or by a peer process.
            acc = await self.store.get_account(name)
            if acc is not None:
                self.accounts[name] = acc
                # `roost user add` made it a member of the default rooms in the store.
                for room_name in self.config.default_rooms:
                    room = self.state.rooms.get(room_name)
                    if room is not None and name not in room.members:
                        self.state.add_member(room, name)
        return acc

    def require_room(self, name: str) -> Room:
        room = self.state.rooms.get(name)
        if room is None:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"no room named {name!r}")
        return room

    # --- delivery ---------------------------------------------------------------------

    def mark_dirty(self, conn: ClientConnection) -> None:
        self._dirty.add(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for conn in dirty:
            if not conn.closing:
                conn.flush()

    def note_full(self, conn: ClientConnection) -> None:
        """Watch a connection whose outbox overflowed; _tick ends it if it stays so."""
        self._full.add(conn)

    def send_gaps(self, conn: ClientConnection, gaps: dict[str, tuple[int, int]]) -> None:
        self.counters.gap_notices += len(gaps)
        for room, (first, last) in gaps.items():
            conn.send(Gap(room=room, after=first - 1, upto=last))

    def recipients(self, key: str) -> Collection[ClientConnection]:
        """Local connections that receive events of a conversation key."""
        if key.startswith("~"):
            return self.state.neighbours(key[1:], self.config.quiet_room_size)
        if key.startswith(OWN):  # the user's own sessions (read markers)
            return self.state.online.get(key[1:], set())
        parties = dm_parties(key)
        if parties is not None:
            a, b = parties
            return self.state.online.get(a, set()) | self.state.online.get(b, set())
        room = self.state.rooms.get(key)
        return room.sessions if room is not None else ()

    def deliver(self, env: Envelope) -> None:
        """Bus handler: hand an envelope to the local connections that should see it."""
        if env.seq > 0:
            # Messages go through the ordering (once each, in seq order).
            self.ordering.accept(env)
            return
        self._push_all(self.recipients(env.room), env)

    def _resync(self) -> None:
        """The bus may have lost envelopes and changes: catch up from the store."""
        self.ordering.catch_up()
        self.changes.missed()

    def _known_key(self, key: str) -> bool:
        return key.startswith("@") or key in self.state.rooms

    def _active_keys(self) -> list[str]:
        """Conversations this node has readers in (checked for missed messages)."""
        keys = [name for name, room in self.state.rooms.items() if room.sessions]
        online = self.state.online
        for key in self.ordering.delivered:
            parties = dm_parties(key) if key.startswith("@") else None
            if parties is not None and (parties[0] in online or parties[1] in online):
                keys.append(key)
        return keys

    def _deliver_message(self, env: Envelope) -> None:
        """A message in its turn: fanned out with the others of this loop turn."""
        # Messages of one loop turn are coalesced per room and sent once per recipient.
        if not self._pending:
            self._pending_since = time.perf_counter()
        self._pending.setdefault(env.room, []).append(env)
        if not self._fanout_scheduled:
            self._fanout_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._fanout)

    def _fanout(self) -> None:
        """Push the messages published since the last fan-out, then write them.

        Runs after each committed batch (Store.after_stored) and otherwise as
        scheduled by deliver; writing here rather than in a later turn saves
        a loop turn of latency per message.
        """
        self._fanout_scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        # Replies first (the senders' acknowledgements of this batch): a
        # pipelining sender then prepares its next messages while the batch
        # is written to the room, instead of after.
        self._flush_dirty()
        dirty = self._dirty
        pace = self.reader_pace
        delivered = self.counters.delivered
        for key, envs in pending.items():
            targets = self.recipients(key)
            pace.fanned_out(key, targets)
            # Counted per message, not per recipient: the loop below is the hot one.
            n = len(targets)
            for env in envs:
                delivered[env.klass] += n
            for batch in _coalesce(envs):
                # Readers that let data pile up get it later, together
                # (roost.server.reader_pace): queued after the prompt readers'
                # writes. Urgent messages go to everyone at once.
                hold = batch.klass > URGENT
                lagging: list[tuple[ClientConnection, Outbox]] = []
                for conn in targets:
                    box = conn.outbox
                    if box is None or conn.closing:
                        continue
                    if conn.lagging and hold:
                        lagging.append((conn, box))
                    elif box.write_or_push(batch):
                        dirty.add(conn)
                for conn, box in lagging:
                    box.push(batch)
                    pace.hold(conn)
        self._flush_dirty()
        pace.after_fanout()
        self.metrics.fanout_seconds.observe(time.perf_counter() - self._pending_since)

    def _push_all(self, targets: Iterable[ClientConnection], env: Envelope) -> None:
        dirty = self._dirty
        for conn in targets:
            box = conn.outbox
            if box is not None and not conn.closing:
                box.push(env)
                dirty.add(conn)
        if not self._flush_scheduled and dirty:
            self._flush_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._flush_dirty)


def _coalesce(envs: list[Envelope]) -> Iterable[Envelope]:
    """Runs of same-class consecutive messages joined into one envelope each."""
    if len(envs) == 1:
        yield envs[0]
        return
    run: list[Envelope] = []
    size = 0
    for env in envs:
        if run and (env.klass != run[0].klass or size + len(env.frame) > BATCH_BYTES):
            yield _join(run)
            run, size = [], 0
        run.append(env)
        size += len(env.frame)
    if run:
        yield _join(run)


def _join(run: list[Envelope]) -> Envelope:
    if len(run) == 1:
        return run[0]
    return Envelope(
        run[0].room, run[-1].seq, run[0].klass, b"".join(e.frame for e in run), run[0].seq
    )
