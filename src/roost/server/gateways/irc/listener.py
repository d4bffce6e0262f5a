"""The IRC listener: IRC sessions as connections of the server, like native ones.

An ``IrcConnection`` is a ``ClientConnection`` whose bytes are IRC lines: it
feeds them to its ``IrcSession`` and dispatches the requests that come out
through the same handler table, backlog and limits as a native connection,
so presence, rooms, fan-out, kicks and blocks treat it like any session.
Its outbox translates the server's envelopes into IRC lines on the way in
(``IrcOutbox``), so budgets, priorities and gaps work on what is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from irctokens.line import Line

from roost.bus.base import Envelope
from roost.protocol.errors import ProtocolError, RoostError
from roost.protocol.messages import Bye, Message, Wire
from roost.server.connection import MAX_BACKLOG, ClientConnection, tune_listener
from roost.server.gateways.irc.lines import BadLine, LineReader
from roost.server.gateways.irc.render import Renderer
from roost.server.gateways.irc.session import IrcSession, RoomView, SessionConfig, UserView
from roost.server.outbox import CONTROL, Outbox
from roost.server.tls import server_context

if TYPE_CHECKING:
    from roost.server.app import Server

log = logging.getLogger("roost.server.irc")


class IrcOutbox(Outbox):
    """An outbox that holds IRC lines: envelopes are translated as they come in."""

    __slots__ = ("conn",)

    def __init__(self, conn: IrcConnection, *args: Any) -> None:
        super().__init__(*args)
        self.conn = conn

    def push(self, env: Envelope) -> bool:
        data = self.conn.translate(env)
        if not data:
            return True
        return super().push(Envelope(env.room, env.seq, env.klass, data, env.first))

    def write_or_push(self, env: Envelope) -> bool:
        data = self.conn.translate(env)
        if not data:
            return False
        return super().write_or_push(Envelope(env.room, env.seq, env.klass, data, env.first))

    def push_lines(self, data: bytes) -> None:
        """Lines of the session's own (replies, numerics): queued as control frames."""
        super().push(Envelope("", 0, CONTROL, data))


class IrcConnection(ClientConnection):
    """Server side of one IRC client connection."""

    kind = "irc"  # the transport label of its metrics

    def __init__(self, server: Server, gateway: IrcGateway) -> None:
        super().__init__(server)
        self.gateway = gateway
        self.hello_done = True  # IRC has no hello; the session handles registration
        self.reader = LineReader()
        self.session = IrcSession(gateway.session_config(), gateway)
        self._pumping = False
        self._pump_scheduled = False

    def new_outbox(self, transport: asyncio.Transport) -> Outbox:
        return IrcOutbox(self, transport, self.server.config.outbox_budget, False)

    # --- input ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_seen = time.monotonic()
        for item in self.reader.feed(data):
            if isinstance(item, BadLine):
                self.server.on_bad_frame(self, ProtocolError(item.text))
                if self.closing:
                    return
            if self.busy or self.held:
                if self.backlog is None:
                    self.backlog = deque()
                self.backlog.append(item)
            else:
                self._dispatch(item)
            if self.closing:
                return
        if self.backlog is not None and len(self.backlog) > MAX_BACKLOG:
            self._pause_reading()

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, Line | BadLine):
            self.session.receive(msg)
            self.pump()
        else:
            super()._dispatch(msg)

    def pump(self) -> None:
        """Write the session's lines, dispatch its requests, end it if it says so."""
        if self._pumping:
            return  # the outer call goes on until nothing is left
        self._pumping = True
        session = self.session
        try:
            while (session.out or session.requests) and not self.closing:
                if session.out:
                    data = b"".join(session.out)
                    session.out.clear()
                    box = self.outbox
                    assert isinstance(box, IrcOutbox)
                    box.push_lines(data)
                    self.server.mark_dirty(self)
                if session.requests:
                    requests: list[Wire] = session.requests
                    session.requests = []
                    self._submit(requests)
        finally:
            self._pumping = False
        if session.closing is not None and not self.closing:
            self.close(*session.closing)

    def _submit(self, requests: list[Wire]) -> None:
        """Requests the session made, before any line still waiting in the backlog."""
        for i, msg in enumerate(requests):
            if self.busy or self.held:
                if self.backlog is None:
                    self.backlog = deque()
                self.backlog.extendleft(reversed(requests[i:]))
                return
            self._dispatch(msg)

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_pump)

    def _scheduled_pump(self) -> None:
        self._pump_scheduled = False
        if not self.closing:
            self.pump()

    # --- replies and events ----------------------------------------------------------------

    def send_ok(self, request_id: int, result: Any = None, klass: int = CONTROL) -> None:
        self.session.replied(request_id, result, None)
        self.pump()

    def send_error(self, request_id: int | None, exc: RoostError) -> None:
        self.session.replied(request_id, None, exc)
        self.pump()

    def translate(self, env: Envelope) -> bytes:
        """An envelope of the server's as the IRC lines this session is to read."""
        session = self.session
        rendered = self.gateway.renderer.rendered(env)
        if (
            session.registered
            and not rendered.personal
            and not session.labels
            and session.me not in rendered.people
        ):
            if env.seq:
                session.last[env.room] = env.seq
            return rendered.lines(session.mask, session.cfg.server, session.cfg.server)
        # Messages keep the envelope's class (priority, and may be dropped as a
        # gap); what the session says about itself (its JOIN, a notice, a bye)
        # goes as a control frame, in order with the replies that follow it.
        data: list[bytes] = []
        for ev in rendered.events:
            session.event(ev)
            if not session.out:
                continue
            if isinstance(ev, Message):
                data.extend(session.out)
            elif isinstance(ev, Bye):
                data.extend(session.out)  # close() writes it from the queues itself
            else:
                box = self.outbox
                assert isinstance(box, IrcOutbox)
                box.push_lines(b"".join(session.out))
            session.out.clear()
        if session.requests or session.closing is not None:
            self._schedule_pump()
        return b"".join(data)

    def _depart(self) -> None:
        if not self.departed and self.session.account:
            self.gateway.remember(self.session.account, self.session.last)
        super()._depart()


class IrcGateway:
    """The IRC listeners of a server, and what its sessions share."""

    def __init__(self, server: Server) -> None:
        self.server = server
        cfg = server.config
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self._config: SessionConfig | None = None
        self._config_of: object = None
        self.renderer = Renderer(cfg.server_name, cfg.server_name)
        self.listeners: list[asyncio.AbstractServer] = []
        self.ports: list[int] = []
        # account -> conversation -> last seq its IRC sessions saw (for playback)
        self._marks: dict[str, dict[str, int]] = {}

    def session_config(self) -> SessionConfig:
        """What a new session is told about the server: from the configuration in
        force, so a reload (registration, server_name, history_page) applies to it."""
        cfg = self.server.config
        # A reload changes the config object in place: compare the values.
        values = (
            cfg.irc_server_name,
            cfg.server_name,
            cfg.registration,
            cfg.history_page,
            cfg.irc_playback,
            cfg.irc_motd,
        )
        if self._config is None or self._config_of != values:
            name = cfg.irc_server_name or cfg.server_name
            self._config = SessionConfig(
                server=name,
                network=cfg.server_name,
                registration=cfg.registration,
                playback=cfg.irc_playback,
                history_page=cfg.history_page,
                motd=cfg.irc_motd,
                version="roost-0.1",
                created=self.created,
            )
            self._config_of = values
            self.renderer.host = self.renderer.server = name
        return self._config

    async def start(self) -> None:
        cfg = self.server.config
        loop = asyncio.get_running_loop()
        plans: list[tuple[int, Any]] = []
        if cfg.irc_port:
            plans.append((cfg.irc_port, None))
        if cfg.irc_tls_port:
            plans.append((cfg.irc_tls_port, server_context(dataclasses.replace(cfg, tls=True))))
        for port, tls in plans:
            listener = await loop.create_server(
                lambda: IrcConnection(self.server, self),
                cfg.host,
                port,
                reuse_address=True,
                backlog=1024,
                ssl=tls,
                ssl_handshake_timeout=cfg.handshake_timeout if tls else None,
            )
            tune_listener(listener)
            self.listeners.append(listener)
            self.ports.append(listener.sockets[0].getsockname()[1])
            log.info("IRC%s listening on %s:%d", " (TLS)" if tls else "", cfg.host, self.ports[-1])

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()

    async def wait_closed(self) -> None:
        for listener in self.listeners:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(listener.wait_closed(), 2.0)

    # --- Directory (what sessions look up) -----------------------------------------------

    def user(self, name: str) -> UserView | None:
        account = self.server.accounts.get(name)
        if account is None:
            return None
        state = self.server.state
        rooms = tuple(sorted(state.rooms_of.get(name, ())))
        online = name in state.online or name in self.server.bus.online_on_others()
        return UserView(account.name, account.role, online, rooms)

    def room(self, name: str) -> RoomView | None:
        room = self.server.state.rooms.get(name)
        if room is None:
            return None
        return RoomView(room.topic, room.topic_by, room.topic_ts, room.private)

    def last_seq(self, key: str) -> int:
        # What this node has delivered: the store's count is a coroutine (a
        # cluster's is in PostgreSQL), and a session can only have seen these.
        return self.server.ordering.delivered.get(key, 0)

    def away(self, name: str) -> str:
        # The server's away state (roost.server.activity), shared with native clients.
        reason = self.server.activity.away.get(name)
        return "" if reason is None else reason or "away"

    def mark(self, account: str) -> dict[str, int]:
        marks = self._marks.get(account, {})
        renamed = self.server.state.renamed
        # Rooms renamed since: their marks (same seqs) are the new names'.
        for old in [key for key in marks if key in renamed]:
            seq = marks.pop(old)
            marks[renamed[old]] = max(seq, marks.get(renamed[old], 0))
        return marks

    def remember(self, account: str, last: dict[str, int]) -> None:
        """An IRC session of ``account`` ended having seen ``last``."""
        marks = self._marks.setdefault(account, {})
        for key, seq in last.items():
            if seq > marks.get(key, 0):
                marks[key] = seq
