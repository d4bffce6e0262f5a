"""In-memory view of rooms and who is online, kept in step with the store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.names import note_rename
from roost.store.base import RoomRecord, RoomUser

if TYPE_CHECKING:
    from roost.server.connection import ClientConnection

T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Room:
    name: str
    members: set[str] = field(default_factory=set)
    # Connections of members that are logged in now; fan-out walks this set.
    sessions: set[ClientConnection] = field(default_factory=set)
    topic: str = ""
    topic_by: str = ""
    topic_ts: float = 0.0
    private: bool = False
    # Room roles, invitations and room mutes, by user (roost.server.rooms).
    people: dict[str, RoomUser] = field(default_factory=dict)

    def take(self, rec: RoomRecord) -> None:
        """Take the settings the store holds (members are kept in step by ServerState)."""
        self.topic, self.topic_by, self.topic_ts = rec.topic, rec.topic_by, rec.topic_ts
        self.private = rec.private
        self.people = dict(rec.people)


@dataclass(slots=True)
class ServerState:
    rooms: dict[str, Room] = field(default_factory=dict)
    online: dict[str, set[ClientConnection]] = field(default_factory=dict)
    rooms_of: dict[str, set[str]] = field(default_factory=dict)
    # old room name -> the room's name now, for every renamed room
    renamed: dict[str, str] = field(default_factory=dict)
    # The old and new names of renames under way, and the names of rooms being
    # deleted (roost.server.rooms._alone): requests naming them are refused with
    # `unavailable` until it is done.
    renaming: set[str] = field(default_factory=set)
    # Requests being handled that name a room, by room: a rename or delete waits for them.
    room_work: dict[str, set[asyncio.Future[Any]]] = field(default_factory=dict)
    # Rooms being re-read from the store (roost.server.changes), each with whether
    # a request on it started meanwhile (only while the read runs: bounded).
    rereads: dict[str, bool] = field(default_factory=dict)

    def track(self, name: str, fut: asyncio.Future[Any]) -> None:
        """Count ``fut`` (a request's handler) as work on room ``name`` until it ends."""
        if name in self.rereads:
            self.rereads[name] = True
        work = self.room_work.setdefault(name, set())
        work.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            work.discard(f)
            if not work and self.room_work.get(name) is work:
                del self.room_work[name]

        fut.add_done_callback(done)

    def tracked(self, name: str, write: Awaitable[T]) -> asyncio.Future[T]:
        """Run ``write``, a store write of room ``name`` that no request naming
        the room makes (a default-room join at registration, the memberships of
        a deleted account), as work on the room (``track``): a re-read of the
        room begun before it is stored is read again rather than applied,
        which would undo the change on this node (roost.server.changes)."""
        fut = asyncio.ensure_future(write)
        self.track(name, fut)
        return fut

    async def settled(self, name: str, besides: object = None) -> None:
        """Wait until every request on room ``name`` started before the call has
        ended (but ``besides``, the caller's own)."""
        others = [f for f in self.room_work.get(name, ()) if f is not besides]
        if others:
            await asyncio.wait(others)

    async def not_renaming(self, name: str) -> None:
        """Wait until no rename of room ``name`` (from or to it) is under way."""
        while name in self.renaming:
            await asyncio.sleep(0.01)

    def rename(self, room: Room, new: str) -> None:
        """Give ``room`` (members and sessions with it) the name ``new``."""
        old = room.name
        if self.rooms.get(old) is room:
            del self.rooms[old]
        room.name = new
        self.rooms[new] = room
        for user in room.members:
            names = self.rooms_of.setdefault(user, set())
            names.discard(old)
            names.add(new)
        for conn in room.sessions:
            # Messages dropped for a slow reader are refetched under the name
            # they have now (the client hears of the rename before the gap).
            if conn.outbox is not None:
                conn.outbox.rekey(old, new)
        self.note_renamed(old, new)

    def note_renamed(self, old: str, new: str) -> None:
        """Remember that room ``old`` is ``new`` now (earlier names of it too)."""
        note_rename(self.renamed, old, new)

    def renamed_for(self, rooms: set[str]) -> dict[str, str]:
        """The old names of ``rooms`` (a login's ``renamed``)."""
        return {old: now for old, now in self.renamed.items() if now in rooms}

    def add_member(self, room: Room, user: str) -> None:
        room.members.add(user)
        self.rooms_of.setdefault(user, set()).add(room.name)
        for conn in self.online.get(user, ()):
            room.sessions.add(conn)

    def remove_member(self, room: Room, user: str) -> None:
        room.members.discard(user)
        self.rooms_of.get(user, set()).discard(room.name)
        for conn in self.online.get(user, ()):
            room.sessions.discard(conn)

    def attach(self, conn: ClientConnection, user: str) -> bool:
        """A connection logged in as ``user``; True if the user just came online."""
        sessions = self.online.setdefault(user, set())
        first = not sessions
        sessions.add(conn)
        for name in self.rooms_of.get(user, ()):
            self.rooms[name].sessions.add(conn)
        return first

    def detach(self, conn: ClientConnection, user: str) -> bool:
        """A connection of ``user`` ended; True if the user went offline."""
        sessions = self.online.get(user)
        if not sessions or conn not in sessions:
            return False
        sessions.discard(conn)
        for name in self.rooms_of.get(user, ()):
            self.rooms[name].sessions.discard(conn)
        if not sessions:
            del self.online[user]
            return True
        return False

    def neighbours(self, user: str, quiet_above: int = 0) -> set[ClientConnection]:
        """Connections of everyone who shares a room with ``user`` (and user's own).

        With ``quiet_above`` > 0, rooms with more members than that do not count
        (quiet rooms: their members are not told of each other's comings and goings).
        """
        out: set[ClientConnection] = set()
        for name in self.rooms_of.get(user, ()):
            room = self.rooms[name]
            if not quiet_above or len(room.members) <= quiet_above:
                out |= room.sessions
        out |= self.online.get(user, set())
        return out


def being_renamed(name: str) -> RoostError:
    """What a request on room ``name`` gets while a rename or a delete of it runs."""
    return RoostError(
        ErrorCode.UNAVAILABLE, f"#{name} is being renamed or deleted; try again shortly"
    )


def room_named(msg: object) -> str | None:
    """The room a request names (its ``room`` or ``to``), normalised; None for none or a DM."""
    name = getattr(msg, "room", None) or getattr(msg, "to", None)
    if not isinstance(name, str) or not name or name.startswith("@"):
        return None
    return name.strip().lower().removeprefix("#")
