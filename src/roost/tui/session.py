"""The chat session behind the screens: a logged-in Client feeding a ChatModel.

No widget code lives here. The screens subscribe to :class:`Update` records and
call the session's coroutines; extensions add handlers for event types the core
does not know (file offers, moderation notices) with :meth:`ChatSession.on`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roost.client import Client, ConnectionState, Joined, Left, Message, Notice, Presence
from roost.client.activity import ReadSync
from roost.client.address import format_address
from roost.client.edits import MessageBook
from roost.client.ending import ending, ending_line
from roost.client.priority import lowered_note
from roost.client.room_commands import room_event_text
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    Bye,
    LoginResult,
    MemberInfo,
    ReadMarker,
    RoomInfo,
    TypingEvent,
)
from roost.protocol.names import check_user
from roost.tui.config import ReadMarkers
from roost.tui.model import ChatModel, Conversation

log = logging.getLogger("roost.tui")

# Messages fetched per history request: one screenful and more, small enough to be quick.
PAGE = 50


@dataclass(frozen=True)
class Update:
    """Something changed that a screen may want to show.

    kind is one of: "messages" (key, messages, older), "changed" (key, messages: those
    an edit, removal or reaction changed), "conversations", "unread" (key),
    "typing" (key, text: the user who types),
    "members" (key), "members-stale" (key: ask the server again), "connection" (state,
    text), "info" (key, text, level), "ended" (event: the bye that ended the
    session, text: the line that says so),
    or an extension's own kind.
    """

    kind: str
    key: str | None = None
    messages: tuple[Message, ...] = ()
    older: bool = False
    text: str = ""
    level: str = "info"  # info | warning | error
    state: str = ""
    event: Any = None


Listener = Callable[[Update], None]
EventHandler = Callable[["ChatSession", Any], None]


class ChatSession:
    """One logged-in user's chat: conversations, members, connection state."""

    def __init__(self, client: Client, login: LoginResult, markers: ReadMarkers | None = None):
        self.client = client
        self.login = login
        self.markers = markers
        self.model = ChatModel(login.user)
        self.connection = "connected"
        self._listeners: list[Listener] = []
        self._handlers: dict[type, list[EventHandler]] = {}
        self.on(Message, ChatSession._on_message)
        self.on(Presence, ChatSession._on_presence)
        self.on(Joined, ChatSession._on_joined)
        self.on(Left, ChatSession._on_left)
        self.on(Notice, ChatSession._on_notice)
        self.on(Bye, ChatSession._on_bye)
        self.on(ConnectionState, ChatSession._on_connection)
        self.on(ReadMarker, ChatSession._on_read)
        self.on(TypingEvent, ChatSession._on_typing)
        read = markers.get(self.account) if markers else {}
        returning = markers is not None and self.account in markers.accounts
        self.model.restore(login.conversations, read, returning or bool(login.read))
        # The server's markers and mention counts: what every device of the user shows.
        self.model.restore_server(login.read, login.mentions)
        for room in login.rooms:
            self.model.ensure(room)
        self.read_sync = ReadSync(client)
        # Every text message loaded, with the edits, removals and reactions about it.
        self.book = MessageBook()
        self._typed: dict[str, float] = {}  # conversation -> when we last said we type
        self.auto_away = False  # away because idle (a key press brings the user back)

    # --- opening and closing ------------------------------------------------------

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        user: str,
        password: str,
        *,
        register: bool = False,
        markers: ReadMarkers | None = None,
        on_pending: Callable[[], None] | None = None,
    ) -> ChatSession:
        """Connect and log in; raises RoostError or OSError when that fails.

        A new account on a server that admits newcomers waits here until a
        moderator admits it (``on_pending`` is called first, to say so).
        """
        client = Client(host, port, user, password, register=register)
        try:
            login = await client.start()
            if client.pending_admission:
                if on_pending is not None:
                    on_pending()
                login = await client.wait_admitted()
        except BaseException:
            await client.close()
            raise
        return cls(client, login, markers)

    @property
    def me(self) -> str:
        return self.login.user

    @property
    def role(self) -> str:
        return self.login.role

    @property
    def address(self) -> str:
        return format_address(self.client.host, self.client.port)

    @property
    def account(self) -> str:
        """The key of this account in the read-marker file."""
        return f"{self.login.user}@{self.address}"

    async def close(self) -> None:
        """Save read markers, log out, close the connection (safe to call twice)."""
        self.save_markers()
        with contextlib.suppress(RoostError, OSError, TimeoutError):
            await asyncio.wait_for(self.read_sync.flush(), 2.0)
        await self.client.close()

    def save_markers(self) -> None:
        if self.markers is None:
            return
        self.markers.put(self.account, self.model.read_markers())
        try:
            self.markers.save()
        except OSError as exc:  # a read-only home must not stop the chat
            log.warning("cannot save read markers: %s", exc)

    # --- subscriptions --------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every update; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, update: Update) -> None:
        for listener in list(self._listeners):
            listener(update)

    def info(self, text: str, key: str | None = None, level: str = "info") -> None:
        """A line for the user (a command's output, an error) in a conversation's view."""
        self.emit(Update("info", key=key or self.model.current, text=text, level=level))

    def on(self, kind: type, handler: EventHandler) -> None:
        """Handle events of ``kind`` from the client (several handlers may share a kind)."""
        self._handlers.setdefault(kind, []).append(handler)

    async def run(self) -> None:
        """Feed every client event to its handlers until the client closes."""
        async for ev in self.client.events():
            handlers = self._handlers.get(type(ev), ())
            for handler in handlers:
                try:
                    handler(self, ev)
                except Exception:  # one bad handler must not end the event stream
                    log.exception("handler for %s failed", type(ev).__name__)

    # --- event handlers ---------------------------------------------------------------

    def _on_message(self, m: Message) -> None:
        unseen = m.room not in self.model.conversations
        conv, new = self.model.receive(m)
        if unseen:
            self.emit(Update("conversations"))
        if not new:
            return
        if m.room == self.model.current and m.seq <= conv.read_seq:
            self.read_sync.seen(m.room, conv.read_seq)
        changed = self.book.add(m)
        if m.kind != "text":
            # An edit, removal or reaction changes a message on screen, if it is loaded.
            if changed is not None:
                self.emit(Update("changed", key=conv.key, messages=(changed.message,)))
            return
        self.emit(Update("messages", key=conv.key, messages=(m,)))
        if conv.unread:
            self.emit(Update("unread", key=conv.key))

    def _page(self, conv: Conversation, messages: list[Message]) -> list[Message]:
        """A history page into the model and the book; the messages that were new."""
        changed = []
        for m in sorted(messages, key=lambda m: m.seq):
            shown = self.book.add(m)
            if m.kind != "text" and shown is not None:
                changed.append(shown.message)
        new = conv.add(messages)
        if changed:  # about messages perhaps on screen already
            self.emit(Update("changed", key=conv.key, messages=tuple(changed)))
        return new

    def _on_read(self, ev: ReadMarker) -> None:
        """Another session of this user read a conversation: its unread mark follows."""
        self.read_sync.sent[ev.room] = max(self.read_sync.sent.get(ev.room, 0), ev.seq)
        if self.model.read_elsewhere(ev.room, ev.seq) is not None:
            self.emit(Update("unread", key=ev.room))

    def _on_typing(self, ev: TypingEvent) -> None:
        if ev.user != self.me:
            self.emit(Update("typing", key=ev.room, text=ev.user))

    def _on_presence(self, ev: Presence) -> None:
        touched = self.model.set_online(ev.user, ev.online, ev.away, ev.reason)
        for room in touched:
            self.emit(Update("members", key=room))
        current = self.model.conversations.get(self.model.current or "")
        if current is None:
            return
        if current.peer == ev.user:
            self.emit(Update("members", key=current.key))
        elif not current.is_direct and current.key not in touched:
            # Someone we share a room with, not listed here: perhaps a new member.
            self.emit(Update("members-stale", key=current.key))

    def _on_joined(self, ev: Joined) -> None:
        self.model.users.add(ev.user)
        if ev.user != self.me and ev.room in self.model.conversations:
            self.info(f"{ev.user} joined #{ev.room}", key=ev.room)
        if ev.room in self.model.members:
            members = [m for m in self.model.members[ev.room] if m.user != ev.user]
            members.append(MemberInfo(user=ev.user, online=True, role="member"))
            self.model.set_members(ev.room, sorted(members, key=lambda m: m.user))
            self.emit(Update("members", key=ev.room))

    def _on_left(self, ev: Left) -> None:
        why = f": {ev.reason}" if ev.reason else ""
        if ev.user == self.me and ev.by and ev.room in self.model.conversations:
            # Put out by a room moderator: the room is no longer ours to read.
            self.model.forget(ev.room)
            self.emit(Update("conversations"))
            self.info(f"{ev.by} put you out of #{ev.room}{why}", level="warning")
            return
        if ev.user != self.me and ev.room in self.model.conversations:
            self.info(room_event_text(ev), key=ev.room)
        if ev.room in self.model.members:
            self.model.members[ev.room] = [
                m for m in self.model.members[ev.room] if m.user != ev.user
            ]
            self.emit(Update("members", key=ev.room))

    def _on_notice(self, ev: Notice) -> None:
        self.info(ev.text, key=ev.room or None, level="warning")

    def _on_bye(self, ev: Bye) -> None:
        if ending(ev, outlive_restarts=True) is not None:
            # A block, a kick, a shutdown: the app ends and says why (roost.client.ending).
            self.emit(Update("ended", text=ending_line(ev), event=ev))
            return
        self.info(f"the server closed the connection: {ev.reason}", level="error")

    def _on_connection(self, ev: ConnectionState) -> None:
        was = self.connection
        self.connection = ev.state
        if ev.state == "connected":
            text = f"reconnected to {self.address}" if was != "connected" else "connected"
        elif ev.state == "reconnecting":
            text = f"connection lost; reconnecting ({ev.detail})"
        else:
            text = f"disconnected: {ev.detail}" if ev.detail else "disconnected"
        self.emit(Update("connection", state=ev.state, text=text))

    # --- actions ------------------------------------------------------------------------

    async def send(self, key: str, text: str, priority: int | None = None) -> None:
        result = await self.client.send(key, text, priority)
        note = lowered_note(priority, result)
        if note:
            self.info(note, key=result.room, level="warning")

    async def join(self, room: str) -> str:
        """Join (creating if needed) and receive a room; returns its name."""
        key = await self.client.follow(room)
        conv = self.model.ensure(key)
        conv.read_seq = max(conv.read_seq, conv.last_seq)
        self.emit(Update("conversations"))
        return key

    async def leave(self, room: str) -> str:
        key = room.removeprefix("#").lower()
        await self.client.leave(key)
        self.model.forget(key)
        self.emit(Update("conversations"))
        return key

    async def open_direct(self, user: str) -> str:
        """The direct conversation with ``user`` (it exists once a message is sent)."""
        name = check_user(user.removeprefix("@"))
        if name == self.me:
            raise RoostError(ErrorCode.BAD_REQUEST, "that is you; pick someone else")
        key = await self.client.follow("@" + name)
        self.model.ensure(key)
        self.emit(Update("conversations"))
        return key

    async def rooms(self) -> list[RoomInfo]:
        """Every room on the server (also remembered for completion)."""
        infos = await self.client.rooms()
        self.model.rooms.update(r.name for r in infos)
        return infos

    async def refresh_members(self, key: str) -> None:
        """Ask the server who is in a room (direct conversations need no request)."""
        conv = self.model.conversations.get(key)
        if conv is not None and conv.is_direct:
            self.emit(Update("members", key=key))
            return
        self.model.set_members(key, await self.client.who(key))
        self.emit(Update("members", key=key))

    async def load_latest(self, key: str) -> None:
        """Fetch the newest page of a conversation the first time it is shown."""
        conv = self.model.ensure(key)
        if conv.loaded:
            return
        res = await self.client.history_page(key, max(0, conv.last_seq - PAGE), 0, PAGE)
        if res.last_seq > (res.messages[-1].seq if res.messages else 0):
            # More arrived since the login snapshot: fetch the true latest page.
            res = await self.client.history_page(key, max(0, res.last_seq - PAGE), 0, PAGE)
        conv.last_seq = max(conv.last_seq, res.last_seq)
        new = self._page(conv, res.messages)
        conv.loaded = True
        if not res.messages:
            conv.complete = True
        if key == self.model.current:
            conv.mark_read()
            self.read_sync.seen(key, conv.read_seq)
        if new:
            self.emit(Update("messages", key=key, messages=tuple(new)))

    async def load_older(self, key: str) -> int:
        """Fetch the page before the oldest loaded message; returns how many arrived."""
        conv = self.model.ensure(key)
        oldest = conv.oldest
        if conv.complete or oldest is None:
            conv.complete = True
            return 0
        res = await self.client.history_page(key, max(0, oldest - 1 - PAGE), oldest, PAGE)
        new = self._page(conv, res.messages)
        if not res.messages:
            conv.complete = True
        if new:
            self.emit(Update("messages", key=key, messages=tuple(new), older=True))
        return len(new)

    def select(self, key: str) -> Conversation:
        """Make a conversation the current one; its unread count drops to zero."""
        conv = self.model.select(key)
        if conv.read_seq:
            self.read_sync.seen(key, conv.read_seq)
        self.emit(Update("unread", key=key))
        return conv

    async def typing(self, key: str) -> None:
        """Say we are typing in ``key``, at most once per the server's typing interval."""
        limits = self.client.limits
        interval = limits.typing_interval if limits is not None else 3.0
        if not interval:
            return
        now = time.monotonic()
        if now - self._typed.get(key, -interval) < interval:
            return
        self._typed[key] = now
        with contextlib.suppress(RoostError):
            await self.client.typing(key)

    async def set_away(self, reason: str = "", auto: bool = False) -> None:
        await self.client.set_away(reason)
        self.auto_away = auto

    async def back(self) -> None:
        self.auto_away = False
        await self.client.back()
