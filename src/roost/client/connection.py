"""The async client SDK: connect, log in, send, receive events in order, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from roost.client.accounts import AccountsMixin
from roost.client.activity import ActivityMixin
from roost.client.edits import EditsMixin
from roost.client.events import ConnectionState
from roost.client.moderation import ModerationMixin
from roost.client.rooms import RoomsMixin
from roost.client.search import SearchMixin
from roost.client.stream import ServerStream, open_stream
from roost.client.tls import (
    KnownServers,
    default_known_servers,
    open_tls,
    server_key,
    speaks_tls,
)
from roost.protocol.codec import BadFrame, client_decoder, encode
from roost.protocol.errors import ErrorCode, ProtocolError, RoostError
from roost.protocol.frames import DEFAULT_MAX_FRAME
from roost.protocol.messages import (
    LOW,
    PROTOCOL_VERSION,
    Admitted,
    Bye,
    ClientHello,
    Error,
    FileData,
    FileDetails,
    FileQuery,
    FileResult,
    Gap,
    History,
    HistoryResult,
    Join,
    JoinResult,
    KeepAlive,
    Leave,
    Left,
    Limits,
    ListRooms,
    Login,
    LoginResult,
    Logout,
    MemberInfo,
    Message,
    Ok,
    Ping,
    Pong,
    Resume,
    RoomDeleted,
    RoomInfo,
    RoomRenamed,
    Send,
    SendResult,
    ServerHello,
    Who,
)
from roost.protocol.names import note_rename

if TYPE_CHECKING:
    from roost.client.files import AutoAccept, Progress

log = logging.getLogger("roost.client")
T = TypeVar("T")

# Events held for a consumer that is not reading; past this, live messages are
# dropped and refetched from history, so client memory stays bounded.
MAX_QUEUED_EVENTS = 10_000
# Queued events past which the reader lets events() consumers run before it
# decodes more: the loop can hand over megabytes from one socket in a row (a
# client that fell behind), more messages than the queue holds, and dropping
# them to refetch from history costs more than reading them in turns.
YIELD_EVENTS = MAX_QUEUED_EVENTS // 4
# A plain client whose server sends no hello for this long asks whether it speaks TLS.
TLS_PROBE_AFTER = 0.5
# Messages of one conversation passed on ahead of earlier, less important ones
# still on their way; past this many the earlier ones are fetched from history.
MAX_AHEAD = 1_000
# Tries of a gap fill's history read that meets a rename under way (50 ms more each time).
RENAME_RETRIES = 5
# What a read of a room answers while it is renamed, or once it is gone.
RENAME_ERRORS = (ErrorCode.NO_SUCH_ROOM, ErrorCode.UNAVAILABLE)
# Default download window: file data the server may have sent and this client not
# yet consumed. Bounds what a chat message can wait behind in the socket buffers
# (about 2 ms of decoding on loopback) while keeping a download's pace
# (docs/benchmarks.md, "Chat latency during bulk").
DOWNLOAD_WINDOW = 1024 * 1024
# Bye codes after which reconnecting is pointless.
FINAL_CODES = {
    "blocked",
    "kicked",
    "banned",
    "refused",
    "auth_failed",
    "version",
    "logout",
    "logged_out",
    "disabled",
    "deleted",
}
# Failures of a connection attempt that retrying will not cure.
FINAL_ERRORS = {
    ErrorCode.AUTH_FAILED,
    ErrorCode.BLOCKED,
    ErrorCode.BANNED,
    ErrorCode.VERSION,
    ErrorCode.TLS,
    ErrorCode.CERT_CHANGED,
}


class ConnectionLost(RoostError):
    """The connection ended before the server answered.

    ``bye`` is the server's bye when it ended the session itself (a block, a
    kick, a shutdown): a request in flight then fails with this, and the
    caller can still tell a block from a network fault.
    """

    def __init__(
        self, message: str = "connection to the server lost", bye: Bye | None = None
    ) -> None:
        super().__init__("disconnected", message)
        self.bye = bye


class Client(ModerationMixin, AccountsMixin, EditsMixin, SearchMixin, ActivityMixin, RoomsMixin):
    """A connection to a Roost server, logged in as one user.

    Use :func:`connect` (``async with connect(...) as client``), or call
    :meth:`start` and :meth:`close` yourself.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7878,
        user: str | None = None,
        password: str | None = None,
        *,
        register: bool = False,
        token: str | None = None,
        reconnect: bool = True,
        cursors: dict[str, int] | None = None,
        connect_timeout: float = 10.0,
        max_backoff: float = 10.0,
        tls: bool = False,
        insecure: bool = False,
        known_servers: str | os.PathLike[str] | None = None,
        on_pin: Callable[[str, str], None] | None = None,
        auto_accept: str | os.PathLike[str] | None = None,
        recv_buffer: int = 0,
        download_window: int = DOWNLOAD_WINDOW,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.register = register
        self.token = token
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        # Bytes this side may hold unread (the kernel's receive buffer); 0 leaves
        # the kernel's autotuning. When this process
        # reads slower than the server sends (a download on a fast link), the
        # backlog forms in these buffers, where chat waits behind file data; with
        # a small bound it forms in the server's outbox, where urgent goes first.
        # The cost: throughput is capped near recv_buffer / round-trip time.
        self.recv_buffer = recv_buffer
        # Bytes of a download the server may send beyond what this client has
        # acknowledged (docs/files.md); 0 asks for no window (old servers' behaviour).
        if download_window < 0:
            raise ValueError("download_window must not be negative")
        self.download_window = download_window
        # TLS: the server's certificate must match its pin in the known-servers file
        # (pinned on first use), unless ``insecure`` skips the check.
        self.tls = tls
        self.insecure = insecure
        self.known_servers = KnownServers(
            Path(known_servers) if known_servers is not None else default_known_servers()
        )
        self.pinned: str | None = None  # fingerprint pinned by the first connection, if new
        self.on_pin = on_pin  # called with (server, fingerprint) when a certificate is pinned
        # Last seq seen per conversation: what resume asks for after a reconnect.
        self.cursors: dict[str, int] = dict(cursors or {})
        self._explicit_cursors = cursors is not None
        self.limits: Limits | None = None
        self.hello: ServerHello | None = None
        self.session: LoginResult | None = None
        self.bye: Bye | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: deque[Any] = deque()
        self._event_ready = asyncio.Event()
        self._event_waiters = 0  # events() consumers waiting for the next event
        self._dropped: dict[str, int] = {}  # room -> highest seq dropped locally
        # Renamed rooms as this client heard of them (old name -> name now), on
        # arrival; the cursors move later, when the notice is consumed.
        self._renames: dict[str, str] = {}
        # Per conversation, seqs above the cursor already yielded (messages that
        # overtook less important earlier ones).
        self._ahead: dict[str, set[int]] = {}
        # Events that arrive during a login wait here until its gap fills are queued.
        self._held: list[Any] | None = None
        self._stream: ServerStream | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self._handlers: list[Callable[[Any], None]] = []
        # Requests whose reply follows a stream of data events (downloads): id -> sink.
        self._streams: dict[int, Callable[[FileData], None]] = {}
        # Held while a stream's consumer (a download's disk writer) is behind:
        # the connection then stops reading, and TCP makes the server wait too.
        self._read_holds = 0
        self._auto: AutoAccept | None = None
        if auto_accept is not None:
            from roost.client.files import AutoAccept

            self._auto = AutoAccept(self, Path(auto_accept))

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> LoginResult:
        """Connect and log in; raises RoostError when that fails."""
        await self._open()
        return self._session()

    @property
    def connected(self) -> bool:
        """True while logged in over a live connection."""
        return self._connected.is_set() and self.session is not None

    def _session(self) -> LoginResult:
        assert self.session is not None
        return self.session

    async def close(self) -> None:
        """Log out politely and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._auto is not None:
            await self._auto.close()
        if self._stream is not None and self._connected.is_set():
            with contextlib.suppress(Exception):
                self._stream.write(encode(Logout(id=next(self._ids))))
                await asyncio.wait_for(self._stream.drain(), 1.0)
        await self._teardown()
        self._push_event(ConnectionState("closed", "closed by the client"))
        self._push_event(_CLOSED)

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _teardown(self) -> None:
        self._connected.clear()
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._stream is not None:
            self._stream.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stream.wait_closed(), 1.0)
        self._stream = None
        self._fail_pending(ConnectionLost())

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    async def _connect(self) -> ServerStream:
        if not self.tls:
            stream = await open_stream(self.host, self.port)
        else:
            known = None if self.insecure else self.known_servers
            stream, pinned = await open_tls(self.host, self.port, known)
            if pinned is not None:
                self.pinned = pinned
                if self.on_pin is not None:
                    self.on_pin(server_key(self.host, self.port), pinned)
        sock = stream.get_extra_info("socket")
        if self.recv_buffer > 0 and sock is not None:
            with contextlib.suppress(OSError):  # a hint: the platform may round or refuse it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.recv_buffer)
        return stream

    async def _first_bytes(self, stream: ServerStream) -> bytes:
        """The first bytes of the server (its hello), within the connect timeout.

        A plain client facing a TLS server would hear nothing until the
        server's handshake timeout: when the server stays silent for a moment,
        a second connection asks whether it speaks TLS, and if it does the
        client says so at once.
        """
        read = asyncio.ensure_future(stream.read())
        probe: asyncio.Task[bool] | None = None
        try:
            done, _ = await asyncio.wait({read}, timeout=min(TLS_PROBE_AFTER, self.connect_timeout))
            if not done and not self.tls:
                probe = asyncio.ensure_future(
                    speaks_tls(self.host, self.port, self.connect_timeout)
                )
            deadline = asyncio.get_running_loop().time() + self.connect_timeout
            while not read.done():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError
                waiting: set[asyncio.Future[Any]] = {read}
                if probe is not None:
                    waiting.add(probe)
                await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if probe is not None and probe.done():
                    if probe.result():
                        raise RoostError(
                            ErrorCode.TLS,
                            f"the server at {server_key(self.host, self.port)} speaks TLS:"
                            " connect with --tls (SDK: tls=True)",
                        )
                    probe = None
            return read.result()
        finally:
            for task in (read, probe):
                if task is not None and not task.done():
                    task.cancel()

    async def _open(self) -> None:
        """One connection attempt: TCP (and TLS), hellos, login or resume."""
        stream = await asyncio.wait_for(self._connect(), self.connect_timeout)
        try:
            decoder = client_decoder(DEFAULT_MAX_FRAME)
            hello: ServerHello | None = None
            leftovers: list[Any] = []
            heard = False
            while hello is None:
                try:
                    if heard:
                        data = await asyncio.wait_for(stream.read(), self.connect_timeout)
                    else:
                        data = await self._first_bytes(stream)
                        heard = True
                except TimeoutError:
                    hint = "" if self.tls else " (if it uses TLS, connect with TLS: --tls)"
                    raise RoostError(
                        ErrorCode.TIMEOUT,
                        f"no hello from the server within {self.connect_timeout:g} seconds{hint}",
                    ) from None
                if not data:
                    raise ConnectionLost("the server closed the connection during the handshake")
                msgs = decoder.feed(data)
                if msgs:
                    first = msgs[0]
                    if isinstance(first, Bye):
                        # Refused at the door (a banned address, too many connections).
                        raise RoostError(first.code, first.reason)
                    if not isinstance(first, ServerHello):
                        raise RoostError(ErrorCode.PROTOCOL, "the server did not start with hello")
                    hello = first
                    leftovers = msgs[1:]
            if hello.version != PROTOCOL_VERSION:
                raise RoostError(
                    ErrorCode.VERSION,
                    f"server speaks protocol {hello.version}, this client {PROTOCOL_VERSION}",
                )
            decoder.max_frame = hello.limits.max_frame
            self.hello, self.limits = hello, hello.limits
            stream.write(encode(ClientHello(version=PROTOCOL_VERSION, client="roost-py")))
            self._stream = stream
            self._held = []
            self._read_task = asyncio.create_task(self._read_loop(stream, decoder, leftovers))
            self._connected.set()
            session = await self._login()
        except BaseException:
            self._held = None
            if stream is not self._stream:  # refused before the session began
                stream.close()
            await self._teardown()
            raise
        is_first = self.session is None
        self.session = session
        self.user = session.user
        self.token = session.token
        self._sync_cursors(session, is_first)
        if self._admission is not None and session.status != "pending":
            self._admission_ended(session, None)  # admitted while we were away
        # Live events of the new session come after the fills of what was missed.
        held, self._held = self._held or [], None
        for ev in held:
            self._push_event(ev)

    async def _login(self) -> LoginResult:
        if self.token:
            try:
                resumed: LoginResult = await self._call(Resume(id=0, token=self.token), LoginResult)
                return resumed
            except RoostError as exc:
                if exc.code != ErrorCode.AUTH_FAILED or self.password is None:
                    raise
        if self.user is None or self.password is None:
            raise RoostError(ErrorCode.AUTH_FAILED, "a user name and password are needed")
        login = Login(id=0, user=self.user, password=self.password, register=self.register)
        session: LoginResult = await self._call(login, LoginResult)
        return session

    def _sync_cursors(self, session: LoginResult, first: bool) -> None:
        """After a login, queue gap fills for everything missed while away."""
        for old, new in session.renamed.items():
            note_rename(self._renames, old, new)
            # Renamed while this client was away: told as if it had been here.
            if old in self.cursors:
                self._rename(old, new)
                self._push_event(RoomRenamed(room=old, new=new, by=""))
        for key, last in session.conversations.items():
            if key not in self.cursors:
                if first and not self._explicit_cursors:
                    # A fresh client starts at "now"; it can read older history on request.
                    self.cursors[key] = last
                    continue
                self.cursors[key] = 0 if key.startswith("@") else last
                if not key.startswith("@"):
                    continue
            if last > self.cursors[key]:
                self._push_event(Gap(room=key, after=self.cursors[key], upto=last))

    async def _reconnect(self) -> None:
        delay = 0.2
        while not self._closed:
            self._push_event(ConnectionState("reconnecting", f"retrying in {delay:.1f}s"))
            await asyncio.sleep(delay)
            try:
                await self._open()
            except RoostError as exc:
                if exc.code in FINAL_ERRORS:
                    self._admission_ended(None, exc)
                    self._push_event(ConnectionState("closed", exc.message))
                    self._push_event(_CLOSED)
                    self._closed = True
                    return
            except (TimeoutError, OSError, ConnectionError):
                pass
            else:
                self._push_event(ConnectionState("connected", f"{self.host}:{self.port}"))
                return
            delay = min(self.max_backoff, delay * 2) * (0.8 + 0.4 * random.random())

    # --- reading ---------------------------------------------------------------------

    async def _read_loop(self, stream: ServerStream, decoder: Any, first: list[Any]) -> None:
        reason = "connection to the server lost"
        try:
            for msg in first:
                self._on_message(msg)
            self._apply_read_holds()
            stream.start(lambda data: self._on_data(stream, decoder, data))
            await stream.wait_ended()
        except RoostError as exc:
            reason = exc.message
        except (OSError, ConnectionError) as exc:
            reason = str(exc)
        except Exception as exc:  # an event handler that failed, a bug: still reconnect
            log.exception("reading from the server failed")
            reason = f"the client failed while reading: {exc!r}"
        finally:
            self._connected.clear()
        if self.bye is not None:
            reason = self.bye.reason
        self._fail_pending(ConnectionLost(reason, self.bye))
        if self._closed:
            return
        final = self.bye is not None and self.bye.code in FINAL_CODES
        if self.reconnect and not final:
            self.bye = None
            self._read_task = None
            asyncio.create_task(self._reconnect())  # noqa: RUF006 - lives until connected
        else:
            self._closed = True
            code = self.bye.code if self.bye is not None else "disconnected"
            self._admission_ended(None, RoostError(code, reason))
            self._push_event(ConnectionState("closed", reason))
            self._push_event(_CLOSED)

    def _on_data(self, stream: ServerStream, decoder: Any, data: bytes) -> None:
        """One read from the server, decoded and dispatched (from the loop's read callback)."""
        try:
            msgs = decoder.feed(data)
        except ProtocolError as exc:
            for msg in exc.before:  # what came whole before the break is the server's word
                self._on_message(msg)
            raise
        events = self._events
        if (
            self._held is None
            and not self._handlers
            and not self._renames
            and not self._dropped
            and len(events) + len(msgs) <= MAX_QUEUED_EVENTS
        ):
            # The common case (chat messages, nothing held or dropped): what
            # _on_message would do with each, and the consumers woken once.
            for i, msg in enumerate(msgs):
                if type(msg) is not Message:
                    for rest in msgs[i:]:  # anything else may change the state above
                        self._on_message(rest)
                    break
                events.append(msg)
            if events:
                self._event_ready.set()
        else:
            for msg in msgs:
                self._on_message(msg)
        if len(events) >= YIELD_EVENTS and self._event_waiters:
            # The next read waits a loop turn, so that the waiting events()
            # consumers have theirs: the loop may call this for one socket many
            # times in a row.
            stream.hold("events", True)
            asyncio.get_running_loop().call_soon(stream.hold, "events", False)

    def _on_message(self, msg: Any) -> None:
        if type(msg) is Message and not self._renames:
            # The common case first (every chat message), past the checks below
            # that no Message meets.
            for handler in self._handlers:
                handler(msg)
            self._queue_message(msg)
            return
        if isinstance(msg, FileData):
            sink = self._streams.get(msg.id)
            if sink is not None:
                sink(msg)
            return
        if isinstance(msg, Ok | Error) and msg.id is not None:
            fut = self._pending.pop(msg.id, None)
            if fut is not None and not fut.done():
                if isinstance(msg, Ok):
                    fut.set_result(msg.result)
                else:
                    fut.set_exception(RoostError(msg.code, msg.message))
            return
        if isinstance(msg, BadFrame):
            log.warning("undecodable frame from server: %s", msg.error)
            return
        if isinstance(msg, KeepAlive):
            if self._stream is not None:
                self._stream.write(encode(Pong(ts=msg.ts)))
            return
        if isinstance(msg, RoomRenamed):
            note_rename(self._renames, msg.room, msg.new)
        elif self._renames:
            room = getattr(msg, "room", None)
            now = self._renames.get(room) if isinstance(room, str) else None
            if now is not None:
                # Queued for this client under the old name, and overtaken by the
                # more important notice (docs/protocol.md 6): it is the new room's.
                msg = msgspec.structs.replace(msg, room=now)
        if isinstance(msg, Bye):
            self.bye = msg
        elif isinstance(msg, RoomDeleted) or (
            isinstance(msg, Left) and msg.user == self.user and msg.by
        ):
            # Put out of the room, or it is gone: nothing more to resume there.
            self.cursors.pop(msg.room, None)
            self._ahead.pop(msg.room, None)
        elif isinstance(msg, Admitted):
            # Out of the lobby: the same connection is now a full session.
            self.session = msg.session
            self.token = msg.session.token
            self._sync_cursors(msg.session, True)
            self._admission_ended(msg.session, None)
        for handler in self._handlers:
            handler(msg)
        if isinstance(msg, Message):
            self._queue_message(msg)
        else:
            self._queue(msg)

    def _queue_message(self, msg: Message) -> None:
        if len(self._events) >= MAX_QUEUED_EVENTS:
            # Not consumed fast enough: drop it; events() refetches it from history.
            self._dropped[msg.room] = max(self._dropped.get(msg.room, 0), msg.seq)
            return
        if self._dropped:
            upto = self._dropped.pop(msg.room, None)
            if upto is not None:  # the drop is refetched in its place, before this one
                self._queue(Gap(room=msg.room, after=0, upto=upto))
        self._queue(msg)

    def room_now(self, room: str) -> str:
        """The name room ``room`` has now, as far as this client has heard (renames)."""
        return self._renames.get(room, room)

    def _rename(self, old: str, new: str) -> None:
        """Resume state of room ``old`` is ``new``'s now (same seqs)."""
        if old in self.cursors:
            self.cursors[new] = max(self.cursors.pop(old), self.cursors.get(new, 0))
        ahead = self._ahead.pop(old, None)
        if ahead:
            self._ahead.setdefault(new, set()).update(ahead)
        dropped = self._dropped.pop(old, None)
        if dropped is not None:
            self._dropped[new] = max(dropped, self._dropped.get(new, 0))

    def _queue(self, ev: Any) -> None:
        if self._held is not None:
            self._held.append(ev)
        else:
            self._push_event(ev)

    def hold_reading(self) -> None:
        """Stop reading from the server until release_reading (a stream consumer is behind)."""
        self._read_holds += 1
        self._apply_read_holds()

    def release_reading(self) -> None:
        self._read_holds = max(0, self._read_holds - 1)
        self._apply_read_holds()

    def _apply_read_holds(self) -> None:
        if self._stream is not None:
            self._stream.hold("consumer", self._read_holds > 0)

    def _push_event(self, ev: Any) -> None:
        self._events.append(ev)
        self._event_ready.set()

    def on_event(self, handler: Callable[[Any], None]) -> None:
        """Call ``handler`` for every event as it arrives (before ordering and gap fill)."""
        self._handlers.append(handler)

    # --- requests ----------------------------------------------------------------------

    async def _call(
        self,
        msg: Any,
        result_type: type[T] | None = None,
        stream: Callable[[FileData], None] | None = None,
    ) -> Any:
        """Send a request (its id is filled in) and wait for its reply.

        ``stream`` receives the data events of the request (downloads).
        """
        if self._stream is None or not self._connected.is_set():
            if self._closed:
                raise ConnectionLost("the client is closed")
            await asyncio.wait_for(self._connected.wait(), self.connect_timeout * 3)
        fut = self._request(msg, stream)
        try:
            await self._drain()
        except BaseException:
            fut.cancel()  # the connection is gone; nobody will wait for this reply
            raise
        result = await fut
        if result_type is None:
            return result
        return msgspec.convert(result, result_type)

    def _request(
        self,
        msg: Any,
        stream: Callable[[FileData], None] | None = None,
        encoder: Callable[[Any], bytes | bytearray] = encode,
    ) -> asyncio.Future[Any]:
        """Write a request now, without waiting; the future gives the raw reply result.

        ``encoder`` makes the frame once the request id is set (file data is
        read straight into its frame).
        """
        if self._stream is None or not self._connected.is_set():
            raise ConnectionLost()
        request_id = next(self._ids)
        msg.id = request_id
        frame = encoder(msg)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        if stream is not None:
            self._streams[request_id] = stream
            fut.add_done_callback(lambda _: self._streams.pop(request_id, None))
        self._stream.write(frame)
        return fut

    async def _drain(self) -> None:
        """Wait while the socket's send buffer is full."""
        if self._stream is None:
            raise ConnectionLost()
        try:
            await self._stream.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionLost(f"connection to the server lost: {exc}") from exc

    async def send(
        self, to: str, text: str, priority: int | None = None, reply_to: int = 0
    ) -> SendResult:
        """Send to a room or ``@user``; returns once the server has stored it.

        ``reply_to``: the seq of the message (same conversation) this answers.
        """
        result: SendResult = await self._call(
            Send(id=0, to=to, text=text, priority=priority, reply_to=reply_to), SendResult
        )
        # Our own message comes back as an event too; it is new to us all the same.
        return result

    async def join(self, room: str, create: bool = True, private: bool = False) -> JoinResult:
        """Join a room; without ``create``, a room that does not exist is refused.

        ``private``: a room this join creates is private (unlisted, by invitation).
        """
        msg = Join(id=0, room=room, create=create, private=private)
        result: JoinResult = await self._call(msg, JoinResult)
        self.cursors.setdefault(result.room, result.last_seq)
        return result

    async def follow(self, room: str, after: int | None = None, create: bool = True) -> str:
        """Receive a room (joining it if needed) or ``@user`` conversation in events().

        With ``after``, stored messages with seq > after are replayed first.
        Without ``create``, a room that does not exist is refused (no_such_room).
        Returns the conversation key.
        """
        if room.startswith("@"):
            page = await self.history_page(room, 0, 0, 1)
            key, last = page.room, page.last_seq
        else:
            joined = await self.join(room, create)
            key, last = joined.room, joined.last_seq
        if after is not None:
            self.cursors[key] = after
            self._ahead.pop(key, None)
            if last > after:
                self._push_event(Gap(room=key, after=after, upto=last))
        else:
            self.cursors.setdefault(key, last)
        return key

    async def leave(self, room: str) -> None:
        await self._call(Leave(id=0, room=room))
        self.cursors.pop(room, None)
        self._ahead.pop(room, None)

    async def rooms(self) -> list[RoomInfo]:
        result: list[RoomInfo] = await self._call(ListRooms(id=0), list[RoomInfo])
        return result

    async def who(self, room: str) -> list[MemberInfo]:
        result: list[MemberInfo] = await self._call(Who(id=0, room=room), list[MemberInfo])
        return result

    async def ping(self) -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await self._call(Ping(id=0))
        return loop.time() - t0

    async def history_page(
        self, room: str, after: int = 0, before: int = 0, limit: int = 100
    ) -> HistoryResult:
        """One page of stored messages with after < seq < before, oldest first."""
        req = History(id=0, room=room, after=after, before=before, limit=limit)
        result: HistoryResult = await self._call(req, HistoryResult)
        return result

    async def history(
        self, room: str, after: int = 0, before: int = 0, limit: int | None = None
    ) -> AsyncIterator[Message]:
        """Every stored message with after < seq < before, oldest first, paging as needed."""
        sent = 0
        page = self.limits.history_page if self.limits else 100
        while limit is None or sent < limit:
            want = page if limit is None else min(page, limit - sent)
            res = await self.history_page(room, after, before, want)
            for m in res.messages:
                yield m
            sent += len(res.messages)
            if not res.messages:
                return
            after = res.messages[-1].seq
            if after >= res.last_seq or (before and after >= before - 1):
                return

    # --- files ---------------------------------------------------------------------------

    async def upload(
        self,
        path: str | os.PathLike[str],
        to: str,
        *,
        name: str | None = None,
        text: str = "",
        media_type: str | None = None,
        progress: Progress | None = None,
    ) -> FileResult:
        """Send a file to a room or ``@user``; see :func:`roost.client.files.upload`."""
        from roost.client.files import upload

        return await upload(
            self, path, to, name=name, text=text, media_type=media_type, progress=progress
        )

    async def download(
        self,
        file_id: str,
        dest: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> Path:
        """Fetch a file; see :func:`roost.client.files.download`. Returns where it was saved."""
        from roost.client.files import download

        return await download(self, file_id, dest, progress=progress)

    async def file_info(self, file_id: str) -> FileDetails:
        """What the server knows about a file: FileDetails(file, sender, room, created, expires)."""
        result: FileDetails = await self._call(FileQuery(id=0, file=file_id), FileDetails)
        return result

    async def latest(self, room: str, count: int) -> list[Message]:
        """The last ``count`` stored messages of a conversation, oldest first."""
        res = await self.history_page(room, 0, 0, 1)
        start = max(0, res.last_seq - count)
        return [m async for m in self.history(res.room, after=start)]

    # --- events --------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Any]:
        """Every event, each message once and none missing.

        Per conversation, a message comes after every earlier message of the
        same or a more important priority; a more important message may come
        before earlier, less important ones still on their way (that is what
        priorities are for). Gaps (from the server, from a reconnect, or from a
        consumer too slow for the local queue) are filled from history.
        """
        while True:
            while not self._events:
                if self._dropped:
                    room, upto = self._dropped.popitem()
                    self._push_event(Gap(room=room, after=self.cursors.get(room, 0), upto=upto))
                    break
                self._event_ready.clear()
                self._event_waiters += 1
                try:
                    await self._event_ready.wait()
                finally:
                    self._event_waiters -= 1
            ev = self._events.popleft()
            if type(ev) is Message:
                # The next message of a conversation in order (most of them):
                # what _in_order would do, without an async generator per message.
                room = ev.room
                cur = self.cursors.get(room)
                if cur is not None and ev.seq == cur + 1 and room not in self._ahead:
                    self.cursors[room] = ev.seq
                    if ev.file is not None and self._auto is not None:
                        self._auto.offer(ev)
                    yield ev
                    continue
            if ev is _CLOSED:
                return
            if isinstance(ev, Message | Gap):
                ordered = (
                    self._in_order(ev)
                    if isinstance(ev, Message)
                    else self._fill(ev.room, ev.upto, ev.after)
                )
                async for m in ordered:
                    if m.file is not None and self._auto is not None:
                        self._auto.offer(m)
                    yield m
            else:
                if isinstance(ev, RoomRenamed):
                    # Here, not on arrival: the messages queued before it are
                    # counted under the old name first, then move with it.
                    self._rename(ev.room, ev.new)
                yield ev

    def _seen(self, room: str, seq: int) -> bool:
        return seq <= self.cursors.get(room, 0) or seq in self._ahead.get(room, ())

    def _mark(self, room: str, seq: int) -> None:
        """Record ``seq`` as yielded: move the cursor, or remember it above the cursor."""
        cur = self.cursors.get(room, 0)
        if seq > cur + 1:
            self._ahead.setdefault(room, set()).add(seq)
            return
        self._advance(room, seq)

    def _advance(self, room: str, seq: int) -> None:
        """Everything up to ``seq`` is yielded (or does not exist): move the cursor there."""
        cur = self.cursors.get(room, 0)
        if seq <= cur:
            return
        ahead = self._ahead.get(room)
        if ahead:
            if seq > cur + 1:  # a jump (end of a fill): forget what it passed
                ahead.difference_update([s for s in ahead if s <= seq])
            while seq + 1 in ahead:
                seq += 1
                ahead.discard(seq)
        if ahead is not None and not ahead:
            del self._ahead[room]
        self.cursors[room] = seq

    async def _in_order(self, m: Message) -> AsyncIterator[Message]:
        room = m.room
        cur = self.cursors.get(room)
        if cur is None:
            cur = self.cursors[room] = 0 if room.startswith("@") else m.seq - 1
        if self._seen(room, m.seq):
            return
        if m.seq > cur + 1:
            ahead = self._ahead.get(room)
            if m.priority < LOW and (ahead is None or len(ahead) < MAX_AHEAD):
                # The server sends a conversation's messages of one priority in
                # order, and announces drops before anything later of that
                # priority; so the missing ones are less important and still
                # coming, or will be announced. This one goes first.
                self._mark(room, m.seq)
                yield m
                return
            async for old in self._fill(room, m.seq - 1):
                yield old
            if self._seen(room, m.seq):
                return
        self._mark(room, m.seq)
        yield m

    async def _fill(self, room: str, upto: int, after: int | None = None) -> AsyncIterator[Message]:
        """Yield the stored messages after..upto not yet yielded (after: the cursor)."""
        cur = self.cursors.get(room, 0)
        start = cur if after is None else max(after, cur)
        pos = start
        page = self.limits.history_page if self.limits else 100
        while pos < upto:
            try:
                res = await self._history_now(room, pos, upto + 1, page)
            except ConnectionLost:
                return  # the reconnect queues a fresh gap fill
            except RoostError as exc:
                if exc.code not in RENAME_ERRORS:
                    raise
                log.warning("could not fill the gap of %s: %s", room, exc)
                return  # deleted meanwhile: nothing more to read there
            for m in res.messages:
                if not self._seen(room, m.seq):
                    self._mark(room, m.seq)
                    yield m if m.room == room else msgspec.structs.replace(m, room=room)
            if not res.messages:
                break
            pos = res.messages[-1].seq
        if start <= cur:
            # History holds all of cur..upto: a seq missing there was never stored.
            self._advance(room, upto)

    async def _history_now(self, room: str, after: int, before: int, limit: int) -> HistoryResult:
        """A history page of ``room`` under the name it has now (a gap queued
        before its rename notice was consumed still counts under the old one);
        a rename under way, or one this client has not heard of yet, is waited for."""
        for attempt in range(RENAME_RETRIES - 1):
            try:
                return await self.history_page(self.room_now(room), after, before, limit)
            except RoostError as exc:
                if exc.code not in RENAME_ERRORS:
                    raise
            # The rename notice may be on its way: look the name up again.
            await asyncio.sleep(0.05 * (attempt + 1))
        return await self.history_page(self.room_now(room), after, before, limit)


class _Closed:
    pass


_CLOSED = _Closed()


def connect(
    host: str = "127.0.0.1",
    port: int = 7878,
    user: str | None = None,
    password: str | None = None,
    **kwargs: Any,
) -> Client:
    """``async with connect(host, port, user, password) as client: ...``"""
    return Client(host, port, user, password, **kwargs)
