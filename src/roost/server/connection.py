"""One client connection: bytes in through the protocol codec, frames out through the outbox."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from roost.bus.base import Envelope
from roost.protocol.codec import BadFrame, encode, server_decoder, to_builtins
from roost.protocol.errors import ErrorCode, ProtocolError, RoostError
from roost.protocol.messages import Bye, ClientHello, Error, Ok, Wire
from roost.server.outbox import BULK, CONTROL, WRITE_HIGH, WRITE_LOW, Outbox
from roost.server.state import being_renamed, room_named

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.store.base import Account

log = logging.getLogger("roost.server")

# A TLS handshake record (content type 22, version 3.x) opens every TLS client hello.
TLS_RECORD = b"\x16\x03"
MAX_BACKLOG = 256
# Requests being handled at once (waiting on the store) before the connection
# takes no more: bounds the replies one client can have in the making.
MAX_INFLIGHT = 256
# Unsent bytes the kernel may hold for a socket: beyond this it refuses writes,
# so frames wait in the outbox, where priorities still apply.
NOTSENT_LOWAT = 16 * 1024
SOCKET_SNDBUF = 64 * 1024  # where the platform cannot bound the unsent queue alone
TCP_NOTSENT_LOWAT: int | None = getattr(socket, "TCP_NOTSENT_LOWAT", None)


def tune_socket(sock: socket.socket | None) -> None:
    """Set the options every client socket has: no Nagle, a bounded unsent queue.

    Set on the listening sockets (``tune_listener``), whose accepted sockets
    inherit them (Linux and the BSDs), rather than on each connection: asking
    uvloop for a connection's socket makes it keep a wrapper object for the
    life of the transport, 72 bytes per idle session (docs/benchmarks.md,
    "Idle sessions").
    """
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if TCP_NOTSENT_LOWAT is not None:
            # Bound the kernel's unsent queue rather than the whole send buffer
            # (SO_SNDBUF): in-flight data still autotunes, so throughput is kept.
            sock.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SNDBUF)
    except OSError:
        pass


def tune_listener(listener: asyncio.Server) -> None:
    """``tune_socket`` on each socket ``listener`` accepts from."""
    for sock in listener.sockets:
        tune_socket(sock)


class _Later:
    """What a handler returns when it replies later through ``reply_later``."""

    __slots__ = ()


LATER = _Later()
Replier = Callable[[Any, BaseException | None], None]


class BulkReply:
    """A large result (history) that queues behind live chat in the outbox."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ClientConnection(asyncio.Protocol):
    """Server side of one TCP connection."""

    # Slots: thousands of idle sessions each hold one of these. A dict-backed
    # instance is about 60 bytes larger, and 1.3 KB larger from 30 attributes
    # on (CPython gives up the compact layout); docs/benchmarks.md, idle
    # sessions. Gateways' subclasses add a dict for their own attributes.
    __slots__ = (
        "account",
        "address",
        "backlog",
        "behind",
        "busy",
        "closing",
        "connected_at",
        "decoder",
        "deferred",
        "departed",
        "drain_hooks",
        "heard",
        "held",
        "hello_done",
        "lagging",
        "last_seen",
        "outbox",
        "over",
        "pending",
        "ping_sent",
        "port",
        "read_holds",
        "reading_paused",
        "server",
        "tasks",
        "tokens",
        "transport",
        "user",
    )

    # The transport label of its metrics (TlsConnection: "tls"); gateways'
    # connections name their own front door ("irc", "web").
    kind = "tcp"

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.outbox: Outbox | None = None
        self.decoder = server_decoder(server.config.max_frame)
        self.address = ""  # the peer's IP address ("" until connected)
        self.port = 0  # and its port
        self.user: str | None = None
        # Raw digests (auth.raw_token_digest, end to end) of the tokens this
        # session was issued or resumed with: a logout revokes them, so the
        # device's stored token stops working. One bytes object rather than a
        # list of hex strings: 97 bytes an idle session instead of 314.
        self.tokens = b""
        self.account: Account | None = None
        self.hello_done = False
        self.heard = False  # any byte received yet
        self.closing = False
        # A request that awaits is in progress, and requests after it wait until
        # it is done (see _dispatch).
        self.busy = False
        # Requests held back; allocated only while there are some (idle sessions stay small).
        self.backlog: deque[Any] | None = None
        # held: take no requests now (the outbox is over budget, or too many in flight)
        self.held = False
        self.over = False  # the outbox went over budget and has not drained to half yet
        self.reading_paused = False
        self.read_holds = 0  # reasons to keep reading paused (e.g. an upload's disk backlog)
        self.connected_at = time.monotonic()
        # Keepalive (roost.server.keepalive): when the peer last sent anything, and
        # when we pinged it (0: no ping outstanding).
        self.last_seen = self.connected_at
        self.ping_sent = 0.0
        # Waiting in the admission lobby (roost.server.admission): user is set, account is not.
        self.pending = False
        self.departed = False  # server.on_disconnect has run
        self.tasks: set[asyncio.Task[Any]] | None = None  # requests in progress, when any
        self.deferred = 0  # requests that reply through reply_later, not answered yet
        # Producers of bulk data (file downloads): called whenever the outbox and
        # the transport have drained, to queue their next chunks (Outbox.bulk_room).
        self.drain_hooks: list[Callable[[], None]] | None = None  # a list while there are some
        # The reader lets data pile up: its room messages are held and written
        # together (roost.server.reader_pace).
        self.lagging = False
        self.behind = 0  # probes in a row that found it behind

    # --- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.address = str(peer[0])
            self.port = int(peer[1])
        self.outbox = self.new_outbox(transport)
        self.outbox.owner = self
        self.server.on_connect(self)

    @property
    def peer(self) -> str:
        """``address:port`` (``[address]:port`` for IPv6), for logs; ``?`` before connecting."""
        if not self.address:
            return "?"
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"

    def new_outbox(self, transport: asyncio.Transport) -> Outbox:
        """The outbox of this connection (a gateway's holds its own format)."""
        return Outbox(transport, self.server.config.outbox_budget, self.server.config.fifo_outbox)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_seen = time.monotonic()
        if not self.heard:
            self.heard = True
            if data.startswith(TLS_RECORD) and self.transport is not None:
                # A TLS client hello on a plain listener: a client with --tls, or a
                # plain client asking whether we speak TLS (roost.client.tls). A
                # mistake, not abuse: no strike, and a bye that says what to do.
                self.close(str(ErrorCode.TLS), "this server does not speak TLS: connect without it")
                return
        try:
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            self.fail(exc)
            return
        for msg in messages:
            if self.busy or self.held:
                if self.backlog is None:
                    self.backlog = deque()
                self.backlog.append(msg)
            else:
                self._dispatch(msg)
            if self.closing:
                return
        if self.backlog is not None and len(self.backlog) > MAX_BACKLOG:
            self._pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        for task in list(self.tasks or ()):
            task.cancel()
        self._depart()

    def _depart(self) -> None:
        """Leave the server's books, once: when we close, or when the peer goes first."""
        if not self.departed:
            self.departed = True
            self.server.on_disconnect(self)

    def pause_writing(self) -> None:
        assert self.outbox is not None
        self.outbox.paused = True

    def resume_writing(self) -> None:
        assert self.outbox is not None
        self.outbox.paused = False
        self.outbox.flush()
        # flush() calls no hook when nothing was queued, yet a producer may be waiting.
        self._run_drain_hooks()

    # --- requests ----------------------------------------------------------------

    def _dispatch(self, msg: Any) -> None:
        if isinstance(msg, BadFrame):
            self.server.on_bad_frame(self, msg.error)
            self.send_error(msg.request_id, msg.error)
            return
        request_id: int | None = getattr(msg, "id", None)
        if not self.hello_done and not isinstance(msg, ClientHello):
            self.fail(ProtocolError("the first message must be hello"))
            return
        handler = self.server.handlers.get(type(msg))
        if handler is None:
            self.send_error(request_id, RoostError(ErrorCode.BAD_REQUEST, "unexpected message"))
            return
        state = self.server.state
        if (
            state.renaming
            and type(msg) not in self.server.concurrent  # reads and streams may go on
            and (name := room_named(msg)) in state.renaming
        ):
            self.send_error(request_id, being_renamed(str(name)))
            return
        try:
            result = handler(self.server, self, msg)
        except RoostError as exc:
            self.send_error(request_id, exc)
            return
        if result is LATER:
            return
        if isinstance(result, Awaitable):
            fut = asyncio.ensure_future(result)
            room = room_named(msg)
            if room is not None:
                # A rename of the room waits until this request is done with it.
                state.track(room, fut)
            # Requests take effect in the order sent: the handler's body starts in a
            # later loop turn and may await the store, so the requests after it wait
            # until it is done (a join before a send to the room, a leave before the
            # next send). Only handlers whose effects nothing later depends on (reads,
            # a download's stream) run alongside the requests that follow them.
            # Sends never await (they reply through reply_later), so a stream of
            # pipelined sends never waits here.
            barrier = type(msg) not in self.server.concurrent
            if barrier:
                self.busy = True
            if self.tasks is None:
                self.tasks = set()
            self.tasks.add(fut)  # type: ignore[arg-type]
            if self._inflight() >= MAX_INFLIGHT:
                self.held = True
            fut.add_done_callback(lambda f: self._finished(request_id, msg, f, barrier))
        elif request_id is not None:
            self.send_ok(request_id, result)

    def _inflight(self) -> int:
        return self.deferred + (len(self.tasks) if self.tasks is not None else 0)

    def reply_later(self, msg: Any) -> Replier:
        """For a handler that returns LATER: the function that sends its reply.

        Called with (result, None) or (None, error), on the loop. Unlike a
        future it replies at once, in the loop turn the result is known (a
        message's acknowledgement goes out with its fan-out).
        """
        request_id: int | None = getattr(msg, "id", None)
        self.deferred += 1
        if self._inflight() >= MAX_INFLIGHT:
            self.held = True

        def reply(result: Any, exc: BaseException | None) -> None:
            self.deferred -= 1
            if self.closing:
                return
            self._reply(request_id, msg, result, exc)
            if self.held:
                self._release()

        return reply

    def _finished(
        self, request_id: int | None, msg: Any, fut: asyncio.Future[Any], barrier: bool
    ) -> None:
        if self.tasks is not None:
            self.tasks.discard(fut)  # type: ignore[arg-type]
            if not self.tasks:
                self.tasks = None
        if fut.cancelled() or self.closing:
            return
        exc = fut.exception()
        self._reply(request_id, msg, None if exc is not None else fut.result(), exc)
        if barrier:
            self.busy = False
            self._release()
        elif self.held:
            self._release()

    def _reply(
        self, request_id: int | None, msg: Any, result: Any, exc: BaseException | None
    ) -> None:
        if exc is None:
            if request_id is not None:
                if isinstance(result, BulkReply):
                    self.send_ok(request_id, result.value, BULK)
                else:
                    self.send_ok(request_id, result)
        elif isinstance(exc, RoostError):
            self.send_error(request_id, exc)
        else:
            log.error("request %s failed", type(msg).__name__, exc_info=exc)
            self.send_error(request_id, RoostError(ErrorCode.INTERNAL, "internal server error"))

    def _release(self) -> None:
        """Handle held requests while nothing holds them back, then read again."""
        self.held = self.over or self._inflight() >= MAX_INFLIGHT
        while self.backlog and not (self.busy or self.held or self.closing):
            self._dispatch(self.backlog.popleft())
        if not self.backlog:
            self.backlog = None
        self._maybe_resume_reading()

    # --- output --------------------------------------------------------------------

    def push(self, env: Envelope) -> None:
        """Queue an envelope and schedule a flush at the end of this loop turn."""
        assert self.outbox is not None
        self.outbox.push(env)
        self.server.mark_dirty(self)

    def send(self, msg: Wire, klass: int = CONTROL) -> None:
        self.push(Envelope("", 0, klass, encode(msg)))

    def send_ok(self, request_id: int, result: Any = None, klass: int = CONTROL) -> None:
        self.send(Ok(id=request_id, result=to_builtins(result)), klass)

    def send_error(self, request_id: int | None, exc: RoostError) -> None:
        self.send(Error(code=str(exc.code), message=exc.message, id=request_id))

    def flush(self) -> None:
        box = self.outbox
        assert box is not None
        box.flush()
        if box.full_since:
            self.server.note_full(self)
            if box.queued >= box.budget and not self.over:
                # Replies must not pile up: take no requests until it drains.
                self.over = self.held = True
                self._pause_reading()

    def outbox_drained(self) -> None:
        """The outbox is under half its budget after a flush."""
        box = self.outbox
        assert box is not None
        if box.full_since:
            box.full_since = 0.0
            if box.gaps:
                self.server.send_gaps(self, box.take_gaps())
            if self.over:
                self.over = False
                self._release()
        self._run_drain_hooks()

    def add_drain_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` whenever the outbox and the transport have drained."""
        if self.drain_hooks is None:
            self.drain_hooks = []
        self.drain_hooks.append(hook)

    def remove_drain_hook(self, hook: Callable[[], None]) -> None:
        """Stop calling ``hook`` (added by add_drain_hook; no error if it is gone)."""
        if self.drain_hooks is not None and hook in self.drain_hooks:
            self.drain_hooks.remove(hook)
            if not self.drain_hooks:
                self.drain_hooks = None

    def _run_drain_hooks(self) -> None:
        if not self.drain_hooks:
            return  # the common case, after nearly every flush
        for hook in list(self.drain_hooks):
            if self.closing:
                return
            hook()

    def hold_reading(self) -> None:
        """Stop reading requests until release_reading (a consumer is behind)."""
        self.read_holds += 1
        self._pause_reading()

    def release_reading(self) -> None:
        self.read_holds = max(0, self.read_holds - 1)
        self._maybe_resume_reading()

    def _pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closing:
            self.reading_paused = True
            self.transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if (
            self.reading_paused
            and not self.closing
            and self.transport is not None
            and (self.backlog is None or len(self.backlog) <= MAX_BACKLOG // 2)
            and not self.over
            and not self.read_holds
        ):
            self.reading_paused = False
            self.transport.resume_reading()

    # --- ending ----------------------------------------------------------------------

    def fail(self, exc: ProtocolError) -> None:
        """A broken or hostile stream: say why, then close."""
        self.server.on_bad_frame(self, exc)
        self.send_error(None, exc)
        self.close(str(exc.code), exc.message)

    def close(self, code: str, reason: str) -> None:
        """Send a bye with the reason, write what is queued, then close."""
        if self.closing or self.transport is None:
            return
        self.closing = True
        assert self.outbox is not None
        self.outbox.push(Envelope("", 0, CONTROL, encode(Bye(code=code, reason=reason))))
        # Control frames only: the reader is leaving, so live chat can go
        # (with the fifo switch the control queue holds everything).
        frames = [env.frame for env in self.outbox.queues[CONTROL] if env.klass == CONTROL]
        for q in self.outbox.queues:
            q.clear()
        self.outbox.queued = 0
        if frames and not self.transport.is_closing():
            self.transport.write(b"".join(frames))
        if self.transport.can_write_eof():
            # Half-close, and go on reading (and dropping) until the peer closes too:
            # closing a socket with requests still unread makes the kernel send a
            # reset, which can destroy the bye and its reason before the peer reads it.
            self.transport.write_eof()
            if self.reading_paused:
                self.transport.resume_reading()
        else:
            self.transport.close()
        # The session ends now for everyone else (presence, rooms, counts).
        self._depart()
        # A peer that never reads would keep the socket open; abort it after a grace period.
        asyncio.get_running_loop().call_later(5.0, self._abort)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class TlsConnection(ClientConnection):
    """A connection on a TLS listener (the socket is the same; metrics tell them apart)."""

    __slots__ = ()
    kind = "tls"
