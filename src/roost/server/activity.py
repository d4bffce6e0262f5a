"""Read markers, unread and mention counts, away, typing (docs/protocol.md 7.6-7.9).

Read markers and mentions live in the store, so every device (and every node
of a cluster) shows the same counts. Away and typing are transient: kept in
memory and carried by events, never stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.mentions import mentions_of
from roost.protocol.messages import (
    NORMAL,
    MarkRead,
    Mentions,
    Message,
    Presence,
    ReadMarker,
    SetAway,
    Typing,
    TypingEvent,
    Unread,
    UnreadInfo,
)
from roost.protocol.names import dm_parties

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

log = logging.getLogger("roost.server")

OWN = "="  # bus key prefix: events for one user's own sessions ("=" + name)
TYPING_KEEP = 10_000  # remembered (user, conversation) typing times before pruning
# Store reads of one mentions page at most, skipping rooms the user has left.
MENTION_READS = 10


def mentioned(text: str) -> set[str]:
    """User names mentioned as ``@name`` in ``text`` (lower-case; trailing dots dropped).

    One rule for server and clients (roost.protocol.mentions): what a client
    highlights is what the server counts.
    """
    return mentions_of(text)


class Activity:
    """Per-server transient state: who is away (and why), when each user last typed where."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.away: dict[str, str] = {}  # user -> reason ("" when none given)
        self._typed: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def note_message(self, key: str, sender: str, seq: int, text: str) -> None:
        """After a message is stored: record whom it mentions (only if it mentions anyone)."""
        names = mentioned(text)
        if not names:
            return
        names.discard(sender)
        targets = sorted(n for n in names if self.can_read(n, key))
        if not targets:
            return
        task = asyncio.get_running_loop().create_task(
            self.server.store.add_mentions(key, seq, targets)
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def settled(self) -> None:
        """Wait until the mentions of every message stored so far are stored too."""
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("storing mentions failed: %s", task.exception())

    def can_read(self, user: str, key: str) -> bool:
        parties = dm_parties(key)
        if parties is not None:
            return user in parties
        room = self.server.state.rooms.get(key)
        return room is not None and user in room.members

    def went_offline(self, user: str) -> None:
        """A user with no session left is no longer away (away is a state of the online)."""
        if self.away.pop(user, None) is not None:
            self.announce_away(user)

    def announce_away(self, user: str) -> None:
        """Tell the other nodes of a cluster the user's away state (not stored: it
        lives as long as the user's sessions, in every node's memory)."""
        from roost.server.changes import AWAY, announce

        reason = self.away.get(user)
        announce(self.server, AWAY, user, "-" if reason is None else "+" + reason)

    def away_elsewhere(self, user: str, detail: str) -> None:
        """Another node's user went away (detail "+reason") or came back ("-")."""
        if detail.startswith("+"):
            self.away[user] = detail[1:]
        else:
            self.away.pop(user, None)

    def presence(self, user: str, online: bool) -> Presence:
        reason = self.away.get(user)
        if not online or reason is None:
            return Presence(user=user, online=online)
        return Presence(user=user, online=True, away=True, reason=reason)

    def typed(self, user: str, key: str, now: float) -> bool:
        """True if a typing event of ``user`` in ``key`` may be relayed now (rate limit)."""
        interval = self.server.config.typing_interval
        last = self._typed.get((user, key), 0.0)
        if now - last < interval:
            return False
        if len(self._typed) >= TYPING_KEEP:
            self._typed = {k: t for k, t in self._typed.items() if now - t < interval}
        self._typed[(user, key)] = now
        return True


async def unread_of(server: Server, user: str) -> list[UnreadInfo]:
    """Counts of every conversation of ``user``, from the store (same on every device)."""
    rooms = server.state.rooms_of.get(user, set())
    last = await server.store.conversations_of(user, rooms)
    read = await server.store.read_markers(user)
    mentions = await server.store.mention_counts(user)
    return [
        UnreadInfo(
            room=key,
            last_seq=seq,
            read=min(read.get(key, 0), seq),
            unread=max(0, seq - read.get(key, 0)),
            mentions=mentions.get(key, 0),
        )
        for key, seq in sorted(last.items())
    ]


async def handle_read(server: Server, conn: ClientConnection, msg: MarkRead) -> UnreadInfo:
    from roost.server.chat import conversation_key, require_login

    account = require_login(conn)
    key = conversation_key(server, account.name, msg.room)
    last = await server.store.last_seq(key)
    if msg.seq < 0:
        raise RoostError(ErrorCode.BAD_REQUEST, "seq must not be negative")
    # A marker past the last message would hide the next ones: held to the last.
    seq = await server.store.set_read(account.name, key, min(msg.seq, last))
    counts = await server.store.mention_counts(account.name)
    info = UnreadInfo(
        room=key,
        last_seq=last,
        read=seq,
        unread=max(0, last - seq),
        mentions=counts.get(key, 0),
    )
    event = ReadMarker(room=key, seq=seq, unread=info.unread, mentions=info.mentions)
    # Through the bus: the user's sessions on other nodes see it too.
    server.bus.publish(Envelope(OWN + account.name, 0, NORMAL, encode(event)))
    return info


async def handle_unread(server: Server, conn: ClientConnection, msg: Unread) -> list[UnreadInfo]:
    from roost.server.chat import require_login

    account = require_login(conn)
    # The mentions of messages already acknowledged are stored first (their
    # writes run after the message's commit, roost.server.activity.note_message).
    await server.activity.settled()
    return await unread_of(server, account.name)


async def handle_mentions(server: Server, conn: ClientConnection, msg: Mentions) -> list[Message]:
    from roost.server.chat import require_login, wire_message

    account = require_login(conn)
    limit = max(1, min(msg.limit, server.config.history_page))
    before = max(0.0, msg.before)
    await server.activity.settled()  # as in handle_unread
    shown: list[Message] = []
    # Only what the user may still read: a room left since is not shown. Its
    # mentions are skipped, not counted: a page is short only at the end.
    for _ in range(MENTION_READS):
        rows = await server.store.mentions(account.name, limit, before)
        readable = [r for r in rows if server.activity.can_read(account.name, r.room)]
        shown[:0] = [wire_message(r) for r in readable[-(limit - len(shown)) :]]
        if len(shown) >= limit or len(rows) < limit:
            break
        before = rows[0].ts
    return shown


def handle_away(server: Server, conn: ClientConnection, msg: SetAway) -> dict[str, Any]:
    from roost.server.chat import require_login

    account = require_login(conn)
    if len(msg.reason) > server.config.max_away_reason:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"away reason of {len(msg.reason)} characters exceeds the limit of"
            f" {server.config.max_away_reason}",
        )
    activity = server.activity
    was = activity.away.get(account.name)
    if msg.away:
        activity.away[account.name] = msg.reason.strip()
    else:
        activity.away.pop(account.name, None)
    now = activity.away.get(account.name)
    if now != was:  # announced once per change, like online/offline
        # The other nodes first: the bus applies a change before the events
        # of its batch, so a reader there who sees the presence event finds
        # the same state in `who`.
        activity.announce_away(account.name)
        server.publish_presence(account.name, True)
    return {"away": msg.away, "reason": now or ""}


def handle_typing(server: Server, conn: ClientConnection, msg: Typing) -> dict[str, bool]:
    from roost.server.chat import conversation_key, require_login

    account = require_login(conn)
    key = conversation_key(server, account.name, msg.to)
    if not server.config.typing_interval:
        return {"relayed": False}
    room = server.state.rooms.get(key)
    # Quiet rooms announce no comings and goings; typing would reach everyone too.
    if room is not None and server.is_quiet(room):
        return {"relayed": False}
    if not server.activity.typed(account.name, key, time.monotonic()):
        return {"relayed": False}
    event = TypingEvent(room=key, user=account.name)
    server.bus.publish(Envelope(key, 0, NORMAL, encode(event)))
    return {"relayed": True}


HANDLERS: dict[type, Any] = {
    MarkRead: handle_read,
    Unread: handle_unread,
    Mentions: handle_mentions,
    SetAway: handle_away,
    Typing: handle_typing,
}
