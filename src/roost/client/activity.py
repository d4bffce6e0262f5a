"""SDK requests for read markers, unread and mention counts, away and typing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.mentions import mentions_me
from roost.protocol.messages import (
    URGENT,
    MarkRead,
    Mentions,
    Message,
    SetAway,
    Typing,
    Unread,
    UnreadInfo,
)

T = TypeVar("T")


def wants_notice(m: Message, me: str) -> str:
    """Why ``m`` deserves a desktop notification for ``me``: "mention", "dm", "urgent" or ""."""
    if m.sender == me:
        return ""
    if m.priority == URGENT:
        return "urgent"
    if m.room.startswith("@"):
        return "dm"
    if mentions_me(m.text, me):
        return "mention"
    return ""


class ActivityMixin:
    """Read markers, unread counts, mentions, away and typing, on top of ``_call``."""

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...

    async def mark_read(self, room: str, seq: int) -> UnreadInfo:
        """Mark ``room`` read up to ``seq``; the user's other sessions get a ``read`` event."""
        result: UnreadInfo = await self._call(MarkRead(id=0, room=room, seq=seq), UnreadInfo)
        return result

    async def unread(self) -> list[UnreadInfo]:
        """Unread and mention counts of every conversation (kept on the server)."""
        result: list[UnreadInfo] = await self._call(Unread(id=0), list[UnreadInfo])
        return result

    async def mentions(self, limit: int = 50, before: float = 0.0) -> list[Message]:
        """The newest messages mentioning this user, oldest first (``before``: a ts, to page)."""
        msg = Mentions(id=0, limit=limit, before=before)
        result: list[Message] = await self._call(msg, list[Message])
        return result

    async def set_away(self, reason: str = "") -> dict[str, Any]:
        """Mark this user away (shown in ``who`` and presence events) until ``back()``."""
        result: dict[str, Any] = await self._call(SetAway(id=0, away=True, reason=reason))
        return result

    async def back(self) -> dict[str, Any]:
        """No longer away."""
        result: dict[str, Any] = await self._call(SetAway(id=0, away=False))
        return result

    async def typing(self, to: str) -> bool:
        """Tell ``to``'s online members this user is typing; False if not relayed (rate limit)."""
        result: dict[str, bool] = await self._call(Typing(id=0, to=to))
        return bool(result.get("relayed"))
