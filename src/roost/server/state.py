"""In-memory view of rooms and who is online, kept in step with the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from roost.store.base import RoomRecord, RoomUser

if TYPE_CHECKING:
    from roost.server.connection import ClientConnection


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
    # Being renamed (roost.server.rooms.rename_room): nothing is posted meanwhile.
    renaming: bool = False

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
        self.note_renamed(old, new)

    def note_renamed(self, old: str, new: str) -> None:
        """Remember that room ``old`` is ``new`` now (earlier names of it too)."""
        for earlier, now in self.renamed.items():
            if now == old:
                self.renamed[earlier] = new
        self.renamed[old] = new

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
