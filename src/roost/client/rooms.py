"""Room settings and room-level moderation in the SDK (a mixin of :class:`roost.client.Client`).

Who may do what is decided by the server (docs/rooms.md): topics and room
kicks and mutes need a moderator or owner of the room, privacy and room roles
an owner, deleting a room a server admin; others get ``forbidden``. Server
moderators and admins may act in every room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.messages import (
    DeleteRoom,
    Invite,
    ModResult,
    RenameRoom,
    RoomInfo,
    RoomKick,
    RoomMute,
    RoomUnmute,
    SetRoom,
    SetRoomRole,
)

T = TypeVar("T")


class RoomsMixin:
    """Topics, privacy, invitations, room roles, room kicks and mutes."""

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...

    async def set_topic(self, room: str, topic: str) -> RoomInfo:
        """Set (or, with "", clear) the topic of ``room``; its members get ``room_changed``."""
        result: RoomInfo = await self._call(SetRoom(id=0, room=room, topic=topic), RoomInfo)
        return result

    async def set_private(self, room: str, private: bool = True) -> RoomInfo:
        """Make ``room`` private (unlisted, by invitation) or public again (its owners)."""
        result: RoomInfo = await self._call(SetRoom(id=0, room=room, private=private), RoomInfo)
        return result

    async def invite(self, room: str, user: str) -> ModResult:
        """Invite ``user`` into ``room``; they get an ``invited`` event on every session."""
        result: ModResult = await self._call(Invite(id=0, room=room, user=user), ModResult)
        return result

    async def set_room_role(self, room: str, user: str, role: str) -> ModResult:
        """Make a member of ``room`` an ``owner``, a ``moderator`` or a plain ``member``."""
        msg = SetRoomRole(id=0, room=room, user=user, role=role)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def room_kick(self, room: str, user: str, reason: str = "") -> ModResult:
        """Put ``user`` out of ``room`` (their invitation too)."""
        msg = RoomKick(id=0, room=room, user=user, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def room_mute(
        self, room: str, user: str, duration: float | None = None, reason: str = ""
    ) -> ModResult:
        """Stop ``user`` posting in ``room``, for ``duration`` seconds (None: until lifted)."""
        msg = RoomMute(id=0, room=room, user=user, duration=duration or 0.0, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def room_unmute(self, room: str, user: str) -> ModResult:
        result: ModResult = await self._call(RoomUnmute(id=0, room=room, user=user), ModResult)
        return result

    async def rename_room(self, room: str, new: str, reason: str = "") -> ModResult:
        """Give ``room`` the name ``new`` (server admins), history and seqs with it;
        its members get ``RoomRenamed``. The old name is not given out again."""
        msg = RenameRoom(id=0, room=room, new=new, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result

    async def delete_room(self, room: str, reason: str = "") -> ModResult:
        """Delete ``room`` and its history (server admins); the name is not given out again."""
        msg = DeleteRoom(id=0, room=room, reason=reason)
        result: ModResult = await self._call(msg, ModResult)
        return result
