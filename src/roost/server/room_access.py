"""Who may see, join and act in a room, and the room state beside membership.

Authority inside a room is a rank: admin 5, server moderator 4, the room's
owners 3, its moderators 2, its members 1 (docs/rooms.md). Server staff count
above every room role, so a server-wide moderator can always step in. The
request handlers are in roost.server.rooms; joining and listing rooms
(roost.server.chat) use the checks here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import RoomInfo
from roost.server.audit import RANK
from roost.server.changes import ROOM, announce
from roost.server.state import Room
from roost.store.base import Account, RoomRecord, RoomUser

if TYPE_CHECKING:
    from roost.server.app import Server

OWNER, MODERATOR, MEMBER = "owner", "moderator", "member"
ROOM_ROLES = (OWNER, MODERATOR, MEMBER)
_ROOM_RANK = {OWNER: 3, MODERATOR: 2}
NOBODY = RoomUser()


# --- who may do what -----------------------------------------------------------------


def room_rank(room: Room, account: Account) -> int:
    """The account's authority in ``room`` (0: not a member)."""
    if account.role == "admin":
        return 5
    if account.role == "moderator":
        return 4
    role = room.people.get(account.name, NOBODY).role
    if role in _ROOM_RANK:
        return _ROOM_RANK[role]
    return 1 if account.name in room.members else 0


def room_role(room: Room, user: str) -> str:
    return room.people.get(user, NOBODY).role


def may_see(room: Room, account: Account) -> bool:
    """Whether ``account`` may know of ``room`` (a private room: members, invitees, staff)."""
    if not room.private or account.name in room.members:
        return True
    return bool(room.people.get(account.name, NOBODY).invited_by) or (
        RANK.get(account.role, 0) >= RANK["moderator"]
    )


def muted_until(room: Room, user: str, now: float) -> float | None:
    """When ``user``'s mute in ``room`` ends (0: until lifted); None if not muted now."""
    entry = room.people.get(user)
    if entry is None or entry.mute_expires is None:
        return None
    if entry.mute_expires and entry.mute_expires <= now:
        return None
    return entry.mute_expires


def record_of(room: Room) -> RoomRecord:
    return RoomRecord(
        room.name,
        0.0,
        "",
        topic=room.topic,
        topic_by=room.topic_by,
        topic_ts=room.topic_ts,
        private=room.private,
    )


async def save_person(server: Server, room: Room, user: str, entry: RoomUser) -> None:
    """Store what ``user`` is in ``room``, then hold it in memory and tell the other nodes."""
    await server.store.save_room_user(room.name, user, entry)
    # In memory after the store: a re-read of the room for another node's change
    # that raced with this write may have brought back the old entry meanwhile.
    if entry.is_empty():
        room.people.pop(user, None)
    else:
        room.people[user] = entry
    announce(server, ROOM, room.name)


def person(room: Room, user: str) -> RoomUser:
    old = room.people.get(user, NOBODY)
    return RoomUser(old.role, old.invited_by, old.mute_expires, old.mute_reason, old.mute_by)


def info(server: Server, room: Room, account: Account) -> RoomInfo:
    """A room as ``account`` sees it in the rooms list."""
    here, elsewhere = server.state.online, server.bus.online_on_others()
    return RoomInfo(
        name=room.name,
        members=len(room.members),
        online=sum(1 for m in room.members if m in here or m in elsewhere),
        joined=account.name in room.members,
        quiet=server.is_quiet(room),
        topic=room.topic,
        private=room.private,
        invited=bool(room.people.get(account.name, NOBODY).invited_by),
        role=room_role(room, account.name),
    )


async def made_by(server: Server, room: Room, creator: str) -> None:
    """The creator of a new room is its owner."""
    entry = person(room, creator)
    entry.role = OWNER
    await save_person(server, room, creator, entry)


async def joined_by_invitation(server: Server, room: Room, user: str) -> None:
    """A join uses up the user's invitation."""
    entry = room.people.get(user)
    if entry is not None and entry.invited_by:
        fresh = person(room, user)
        fresh.invited_by = ""
        await save_person(server, room, user, fresh)


def check_may_join(room: Room, account: Account) -> None:
    """A private room lets in its members, invitees and server staff."""
    if not may_see(room, account):
        raise RoostError(
            ErrorCode.NOT_INVITED,
            f"#{room.name} is private: a member of it must /invite you first",
        )
