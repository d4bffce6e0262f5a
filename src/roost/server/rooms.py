"""Room settings and room-level moderation: topics, private rooms and invitations,
room roles (owner, moderator), room kicks and mutes, deleting a room.

Authority inside a room is a rank: admin 5, server moderator 4, the room's
owners 3, its moderators 2, its members 1 (docs/rooms.md). Server staff count
above every room role, so a server-wide moderator can always step in. An
action aimed at a user needs a rank above theirs. Every change takes effect
in this node's memory at once, is stored, and is announced on the bus (topic
ROOM), so the other nodes re-read the room (roost.server.changes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.durations import format_until
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    NORMAL,
    DeleteRoom,
    Invite,
    Invited,
    Left,
    ModResult,
    Notice,
    RenameRoom,
    RoomChanged,
    RoomDeleted,
    RoomInfo,
    RoomKick,
    RoomMute,
    RoomRenamed,
    RoomUnmute,
    SetRoom,
    SetRoomRole,
    Wire,
)
from roost.protocol.names import check_room, check_user
from roost.server.activity import OWN
from roost.server.audit import record
from roost.server.changes import ROOM, announce, move_room
from roost.server.chat import require_login
from roost.server.moderation import check_duration, check_reason, require_staff, span
from roost.server.outbox import CONTROL
from roost.server.room_access import (
    MEMBER,
    MODERATOR,
    NOBODY,
    OWNER,
    ROOM_ROLES,
    info,
    may_see,
    muted_until,
    person,
    record_of,
    room_rank,
    save_person,
)
from roost.server.state import Room, being_renamed
from roost.store.base import Account, RoomPeople

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection

T = TypeVar("T")


def _room_of(server: Server, account: Account, name: str) -> Room:
    room = server.state.rooms.get(check_room(name))
    if room is None or not may_see(room, account):
        raise RoostError(ErrorCode.NO_SUCH_ROOM, f"no room named {check_room(name)!r}")
    return room


def _require_rank(room: Room, account: Account, least: int, what: str) -> None:
    if room_rank(room, account) < least:
        who = {1: "members", 2: "its moderators and owners", 3: "its owners"}[least]
        raise RoostError(
            ErrorCode.FORBIDDEN,
            f"only {who} (or server moderators) may {what} in #{room.name}",
        )


async def _target(server: Server, room: Room, actor: Account, name: str, what: str) -> Account:
    """The account an action in ``room`` aims at, if ``actor`` outranks it there."""
    account = await server.find_account(check_user(name))
    if account is None:
        raise RoostError(ErrorCode.NO_SUCH_USER, f"no user named {name!r}")
    if account.name == actor.name:
        raise RoostError(ErrorCode.BAD_REQUEST, f"you cannot {what} yourself")
    if room_rank(room, account) >= room_rank(room, actor):
        raise RoostError(
            ErrorCode.FORBIDDEN,
            f"you cannot {what} {account.name}: their rank in #{room.name} is not below yours",
        )
    return account


async def _require_member(server: Server, room: Room, user: str, invited_too: bool = False) -> None:
    """Refuse an action on ``user`` (not_a_member) unless a member of ``room``
    or, with ``invited_too``, invited to it. A join made on another node a
    moment ago reaches this node's memory with the bus's change and a re-read
    (a few ms, or after an outage of Redis): the store, which holds the truth,
    is asked before refusing."""

    def known() -> bool:
        return user in room.members or (
            invited_too and bool(room.people.get(user, NOBODY).invited_by)
        )

    if known():
        return
    rec = await server.store.get_room(room.name)
    if rec is not None and not rec.deleted and not rec.renamed_to and user in rec.members:
        if user not in room.members:
            server.state.add_member(room, user)
        return
    if not known():
        raise RoostError(ErrorCode.NOT_A_MEMBER, f"{user} is not in #{room.name}")


def _to_room(server: Server, room: Room, event: Wire) -> None:
    server.bus.publish(Envelope(room.name, 0, NORMAL, encode(event)))


def _to_user(server: Server, user: str, event: Wire, priority: int = NORMAL) -> None:
    """To every session of ``user``, on every node."""
    server.bus.publish(Envelope(OWN + user, 0, priority, encode(event)))


# --- request handlers ------------------------------------------------------------------


async def set_room(server: Server, conn: ClientConnection, msg: SetRoom) -> RoomInfo:
    account = require_login(conn)
    room = _room_of(server, account, msg.room)
    if msg.topic is None and msg.private is None:
        raise RoostError(ErrorCode.BAD_REQUEST, "set_room needs a topic or private")
    if msg.topic is not None:
        _require_rank(room, account, 2, "set the topic")
    if msg.private is not None:
        _require_rank(room, account, 3, "make the room private or public")
    changed_privacy = msg.private is not None and msg.private != room.private
    if msg.topic is not None:
        topic = msg.topic.strip()
        if len(topic) > server.config.max_topic:
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                f"a topic of {len(topic)} characters exceeds the limit of {server.config.max_topic}",
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in topic):
            raise RoostError(
                ErrorCode.BAD_REQUEST, "a topic is one line, without control characters"
            )
    rec = record_of(room)
    if msg.topic is not None:
        rec.topic, rec.topic_by, rec.topic_ts = topic, account.name, time.time()
    if msg.private is not None:
        rec.private = msg.private
    await server.store.save_room(rec)
    # Set after the store: another node's change re-read while this one was
    # being stored may have put the old settings back in memory meanwhile.
    room.topic, room.topic_by, room.topic_ts, room.private = (
        rec.topic,
        rec.topic_by,
        rec.topic_ts,
        rec.private,
    )
    announce(server, ROOM, room.name)
    _to_room(
        server,
        room,
        RoomChanged(room=room.name, topic=rec.topic, private=rec.private, by=account.name),
    )
    if changed_privacy:
        await record(
            server,
            account.name,
            "room_private" if rec.private else "room_public",
            f"#{room.name}",
        )
    return info(server, room, account)


async def invite(server: Server, conn: ClientConnection, msg: Invite) -> ModResult:
    account = require_login(conn)
    room = _room_of(server, account, msg.room)
    _require_rank(room, account, 2 if room.private else 1, "invite people")
    target = await server.find_account(check_user(msg.user))
    if target is None:
        raise RoostError(ErrorCode.NO_SUCH_USER, f"no user named {msg.user!r}")
    if target.name in room.members:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is in #{room.name} already")
    entry = person(room, target.name)
    entry.invited_by = account.name
    await save_person(server, room, target.name, entry)
    _to_user(
        server,
        target.name,
        Invited(room=room.name, by=account.name, private=room.private, topic=room.topic),
    )
    return ModResult("invite", target.name, room=room.name)


async def set_room_role(server: Server, conn: ClientConnection, msg: SetRoomRole) -> ModResult:
    account = require_login(conn)
    room = _room_of(server, account, msg.room)
    _require_rank(room, account, 3, "give room roles")
    if msg.role not in ROOM_ROLES:
        raise RoostError(ErrorCode.BAD_REQUEST, "a room role is owner, moderator or member")
    target = await _target(server, room, account, msg.user, "change the room role of")
    await _require_member(server, room, target.name)
    entry = person(room, target.name)
    entry.role = "" if msg.role == MEMBER else msg.role
    await save_person(server, room, target.name, entry)
    said = {OWNER: "an owner", MODERATOR: "a moderator", MEMBER: "a plain member"}[msg.role]
    _to_room(
        server,
        room,
        Notice(text=f"{account.name} made {target.name} {said} of #{room.name}", room=room.name),
    )
    await record(server, account.name, "room_role", target.name, detail=f"#{room.name}: {msg.role}")
    return ModResult("room_role", target.name, role=msg.role, room=room.name)


async def room_kick(server: Server, conn: ClientConnection, msg: RoomKick) -> ModResult:
    account = require_login(conn)
    room = _room_of(server, account, msg.room)
    _require_rank(room, account, 2, "put people out")
    target = await _target(server, room, account, msg.user, "put out")
    reason = check_reason(msg.reason)
    await _require_member(server, room, target.name, invited_too=True)
    quiet = server.is_quiet(room)
    if target.name in room.members:
        server.state.remove_member(room, target.name)
        await server.store.remove_member(room.name, target.name)
    entry = person(room, target.name)
    entry.invited_by = ""
    entry.role = ""  # a room role does not outlive the membership it came with
    await save_person(server, room, target.name, entry)
    event = Left(room=room.name, user=target.name, by=account.name, reason=reason)
    if not quiet:
        _to_room(server, room, event)
    _to_user(server, target.name, event, CONTROL)
    await record(server, account.name, "room_kick", target.name, reason, f"#{room.name}")
    return ModResult("room_kick", target.name, reason, room=room.name)


async def room_mute(server: Server, conn: ClientConnection, msg: RoomMute) -> ModResult:
    account = require_login(conn)
    room = _room_of(server, account, msg.room)
    _require_rank(room, account, 2, "mute people")
    target = await _target(server, room, account, msg.user, "mute")
    await _require_member(server, room, target.name)
    duration, reason = check_duration(msg.duration), check_reason(msg.reason)
    entry = person(room, target.name)
    entry.mute_expires = time.time() + duration if duration > 0 else 0.0
    entry.mute_reason, entry.mute_by = reason, account.name
    await save_person(server, room, target.name, entry)
    said = f"by {account.name} {span(duration)}" + (f": {reason}" if reason else "")
    _to_room(
        server,
        room,
        Notice(text=f"{target.name} was muted in #{room.name} {said}", room=room.name),
    )
    await record(
        server, account.name, "room_mute", target.name, reason, f"#{room.name} {span(duration)}"
    )
    return ModResult("room_mute", target.name, reason, entry.mute_expires, room=room.name)


async def room_unmute(server: Server, conn: ClientConnection, msg: RoomUnmute) -> ModResult:
    account = require_login(conn)
    room = _room_of(server, account, msg.room)
    _require_rank(room, account, 2, "unmute people")
    target = await _target(server, room, account, msg.user, "unmute")
    if muted_until(room, target.name, time.time()) is None:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{target.name} is not muted in #{room.name}")
    entry = person(room, target.name)
    entry.mute_expires, entry.mute_reason, entry.mute_by = None, "", ""
    await save_person(server, room, target.name, entry)
    _to_room(
        server,
        room,
        Notice(
            text=f"{target.name} may post in #{room.name} again ({account.name})", room=room.name
        ),
    )
    await record(server, account.name, "room_unmute", target.name, detail=f"#{room.name}")
    return ModResult("room_unmute", target.name, room=room.name)


async def delete_room(server: Server, conn: ClientConnection, msg: DeleteRoom) -> ModResult:
    account = require_staff(conn, "delete rooms", admin=True)
    room = _room_of(server, account, msg.room)
    name = room.name
    if name in server.config.default_rooms:
        raise RoostError(ErrorCode.BAD_REQUEST, f"#{name} is a default room (config default_rooms)")
    reason = check_reason(msg.reason)
    if name in server.state.renaming:
        # A rename or a second delete of the room dispatched in the same loop turn.
        raise being_renamed(name)
    state = server.state

    async def change() -> RoomPeople:
        # Who is told is who the store took out, read in the delete's own
        # transaction: a join committed on another node a moment before is
        # among them (a read before the delete would miss it).
        gone = await server.store.delete_room(name)
        for user in sorted(room.members):  # no await from the store's commit to here
            state.remove_member(room, user)
        state.rooms.pop(name, None)
        return gone

    async def then(gone: RoomPeople) -> ModResult:
        announce(server, ROOM, name)
        event = RoomDeleted(room=name, by=account.name, reason=reason)
        # Those invited but not in yet too: their invitation goes with the room.
        for user in sorted(gone.members | gone.invited):
            _to_user(server, user, event, CONTROL)
        await record(
            server, account.name, "delete_room", f"#{name}", reason, f"{len(gone.members)} members"
        )
        return ModResult("delete_room", f"#{name}", reason, room=name)

    return await _alone(server, room, (), change, then)


async def rename_room(server: Server, conn: ClientConnection, msg: RenameRoom) -> ModResult:
    account = require_staff(conn, "rename rooms", admin=True)
    room = _room_of(server, account, msg.room)
    old = room.name
    if old in server.config.default_rooms:
        raise RoostError(ErrorCode.BAD_REQUEST, f"#{old} is a default room (config default_rooms)")
    new = check_room(msg.new)
    reason = check_reason(msg.reason)
    if new == old:
        raise RoostError(ErrorCode.BAD_REQUEST, f"#{old} has that name already")
    state = server.state
    if old in state.renaming:
        # Two renames (or a rename and a delete) of one room dispatched in the same
        # loop turn (later ones the connection refuses): each would wait for the
        # other's request to end.
        raise being_renamed(old)
    if new in state.renaming or new in state.rooms:
        raise RoostError(ErrorCode.NAME_TAKEN, f"the name #{new} is taken")

    async def change() -> RoomPeople:
        if new in state.rooms or await server.store.get_room(new) is not None:
            # Old names of renamed or deleted rooms stay taken too: a client that
            # remembers their seqs must never meet a new room under that name.
            raise RoostError(ErrorCode.NAME_TAKEN, f"the name #{new} is taken")
        # Who is told is who the store moved, read in the rename's own
        # transaction (as for a delete): a join or invitation committed on
        # another node a moment before is among them, and one that waited for
        # the rename fails with no_such_room ("renamed to"), so none is missed.
        moved = await server.store.rename_room(old, new)
        move_room(server, room, new)  # no await from the store's commit to here
        return moved

    async def then(moved: RoomPeople) -> ModResult:
        announce(server, ROOM, old)
        event = RoomRenamed(room=old, new=new, by=account.name, reason=reason)
        # Those invited but not in yet too: their invitation names the old room.
        for user in sorted(moved.members | moved.invited):
            _to_user(server, user, event, CONTROL)
        await record(server, account.name, "rename_room", f"#{old}", reason, f"to #{new}")
        return ModResult("rename_room", f"#{old}", reason, room=new)

    return await _alone(server, room, (new,), change, then)


async def _alone(
    server: Server,
    room: Room,
    also: tuple[str, ...],
    change: Callable[[], Awaitable[T]],
    then: Callable[[T], Awaitable[ModResult]],
) -> ModResult:
    """Run ``change`` of ``room`` (its rename or deletion; ``also``: for a rename
    the new name) alone on this node, then ``then`` with its result.

    Called in the loop turn in which the request checked that no rename or
    delete holds ``names``. From then until ``change`` is done, requests naming
    either name are refused with ``unavailable`` (roost.server.connection) and
    sends too (post_message), so nothing is written under them meanwhile;
    ``change`` starts once the requests on them that started before are done
    and what was posted to the room is stored, answered and fanned out (its
    mentions too). Runs to its end even if the request is cancelled (the admin
    went away): a change stopped half-way would leave the store and the node's
    state apart."""
    state = server.state
    request = asyncio.current_task()
    names = (room.name, *also)
    state.renaming.update(names)

    async def run() -> ModResult:
        try:
            for name in names:
                await state.settled(name, request)
            await server.store.flushed()
            await asyncio.sleep(0)
            await server.activity.settled()
            if state.rooms.get(names[0]) is not room:  # deleted meanwhile (by another node, say)
                raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{names[0]} was deleted meanwhile")
            done = await change()
        finally:
            state.renaming.difference_update(names)
        return await then(done)

    work = asyncio.ensure_future(run())
    work.add_done_callback(lambda f: f.cancelled() or f.exception())
    return await asyncio.shield(work)


def check_room_mute(server: Server, conn: ClientConnection, msg: object) -> None:
    """Send check: a user muted in a room cannot post there (messages, edits, files)."""
    target = getattr(msg, "to", None) or getattr(msg, "room", "")
    if conn.user is None or not target or target.startswith("@"):
        return
    room = server.state.rooms.get(target.lstrip("#").lower())
    if room is None or not room.people:
        return
    until = muted_until(room, conn.user, time.time())
    if until is not None:
        terms = format_until(until) if until else "until lifted"
        raise RoostError(ErrorCode.MUTED, f"you are muted in #{room.name} ({terms})")


HANDLERS: dict[type, Any] = {
    SetRoom: set_room,
    Invite: invite,
    SetRoomRole: set_room_role,
    RoomKick: room_kick,
    RoomMute: room_mute,
    RoomUnmute: room_unmute,
    DeleteRoom: delete_room,
    RenameRoom: rename_room,
}
