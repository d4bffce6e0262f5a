"""/topic, /invite, /private, /op, /deop, /owner, /roomkick, /roommute, /roomunmute,
/deleteroom as people type them, for every chat client.

Each acts on the room on screen (``room``) and returns the lines to show;
what the room's members see comes to them as events. Same shape as the
edit commands (:class:`roost.client.edit_commands.EditCommand`), so a client
wires both alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.client.edit_commands import EditCommand, Run
from roost.client.edits import MessageBook
from roost.client.moderation import result_text
from roost.protocol.display import visible
from roost.protocol.durations import split_duration
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import Invited, Left, RoomChanged, RoomDeleted, RoomRenamed

if TYPE_CHECKING:
    from roost.client.connection import Client

Lines = list[str]


def _in_a_room(room: str) -> str:
    if room.startswith("@") or not room:
        raise RoostError(ErrorCode.BAD_REQUEST, "this works in a room, not a private conversation")
    return room


async def _topic(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    room = _in_a_room(room)
    if not w:
        found = next((r for r in await c.rooms() if r.name == room), None)
        topic = found.topic if found is not None else ""
        return [
            f"#{visible(room)}: {visible(topic)}" if topic else f"#{visible(room)} has no topic"
        ]
    info = await c.set_topic(room, "" if w == ["-"] else " ".join(w))
    return [] if info.topic else [f"#{visible(room)} has no topic now"]


async def _invite(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    result = await c.invite(_in_a_room(room), w[0])
    return [f"invited {visible(result.target)} into #{visible(room)}"]


async def _private(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    want = (w[0].lower() if w else "on") not in ("off", "no", "false", "0")
    info = await c.set_private(_in_a_room(room), want)
    state = "private (invitation only)" if info.private else "public"
    return [f"#{visible(room)} is {state} now"]


def _role(role: str) -> Run:
    async def run(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
        return [result_text(await c.set_room_role(_in_a_room(room), w[0], role))]

    return run


async def _kick(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    return [result_text(await c.room_kick(_in_a_room(room), w[0], " ".join(w[1:])))]


async def _mute(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    duration, reason = split_duration(w[1:])
    return [result_text(await c.room_mute(_in_a_room(room), w[0], duration, reason))]


async def _unmute(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    return [result_text(await c.room_unmute(_in_a_room(room), w[0]))]


async def _delete_room(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    # The room is named again on purpose: deleting is for good.
    return [result_text(await c.delete_room(w[0], " ".join(w[1:])))]


async def _rename_room(c: Client, book: MessageBook, room: str, w: list[str]) -> Lines:
    return [result_text(await c.rename_room(_in_a_room(room), w[0], " ".join(w[1:])))]


def room_event_text(ev: RoomChanged | Invited | RoomDeleted | RoomRenamed | Left) -> str:
    """The line a chat client shows for a room event (raw: make it visible() to print)."""
    if isinstance(ev, RoomChanged):
        topic = f"topic: {ev.topic}" if ev.topic else "no topic"
        return f"#{ev.room} ({'private' if ev.private else 'public'}) {topic} (set by {ev.by})"
    if isinstance(ev, Invited):
        about = f" -- {ev.topic}" if ev.topic else ""
        return f"{ev.by} invites you into #{ev.room}{about}; /join {ev.room} to go in"
    why = f": {ev.reason}" if ev.reason else ""
    if isinstance(ev, RoomDeleted):
        return f"#{ev.room} was deleted by {ev.by}{why}"
    if isinstance(ev, RoomRenamed):
        by = f" by {ev.by}" if ev.by else ""
        return f"#{ev.room} is now #{ev.new} (renamed{by}{why})"
    if ev.by:
        return f"{ev.user} was put out of #{ev.room} by {ev.by}{why}"
    return f"{ev.user} left #{ev.room}"


ROOM_COMMANDS = (
    EditCommand("topic", "/topic [TEXT]", 0, "show or set the room's topic (- clears it)", _topic),
    EditCommand("invite", "/invite NAME", 1, "invite NAME into this room", _invite),
    EditCommand(
        "private", "/private [on|off]", 0, "make this room private or public (owners)", _private
    ),
    EditCommand("op", "/op NAME", 1, "make NAME a moderator of this room", _role("moderator")),
    EditCommand("deop", "/deop NAME", 1, "make NAME a plain member of this room", _role("member")),
    EditCommand("owner", "/owner NAME", 1, "make NAME an owner of this room", _role("owner")),
    EditCommand("roomkick", "/roomkick NAME [REASON]", 1, "put NAME out of this room", _kick),
    EditCommand(
        "roommute",
        "/roommute NAME [DURATION] [REASON]",
        1,
        "stop NAME posting in this room, for DURATION if given",
        _mute,
    ),
    EditCommand("roomunmute", "/roomunmute NAME", 1, "let NAME post here again", _unmute),
    EditCommand(
        "renameroom",
        "/renameroom NEW [REASON]",
        1,
        "give this room the name NEW, history and all (admins)",
        _rename_room,
    ),
    EditCommand(
        "deleteroom",
        "/deleteroom ROOM [REASON]",
        1,
        "delete ROOM and its history for good (admins)",
        _delete_room,
    ),
)
