"""SDK requests for read markers, unread and mention counts, away and typing."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.display import visible
from roost.protocol.errors import RoostError
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
from roost.protocol.names import dm_peer

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


def notification(kind: str, m: Message, me: str, mode: str) -> str:
    """The terminal escape that signals ``m`` (``kind`` from wants_notice) in ``mode``.

    ``bell``: BEL; ``osc9``: OSC 9 with a one-line summary (terminals without
    it ignore the sequence); ``both``; ``off`` or no kind: "".
    """
    if not kind or mode not in ("bell", "osc9", "both"):
        return ""
    out = ""
    if mode in ("osc9", "both"):
        where = f"@{dm_peer(m.room, me)}" if m.room.startswith("@") else f"#{m.room}"
        summary = f"{m.sender} in {where}: {m.text}"
        # Nothing from the network may end the sequence early or start another.
        clean = "".join(c for c in visible(summary) if c.isprintable())[:200]
        out += f"\x1b]9;{clean}\x07"
    if mode in ("bell", "both"):
        out += "\a"
    return out


class ReadSync:
    """Sends read markers to the server, at most one request per conversation a second.

    Clients call ``seen`` for every message shown; the marker follows within
    a second, so other devices clear their unread counts soon after.
    """

    def __init__(self, client: ActivityMixin, delay: float = 1.0) -> None:
        self.client = client
        self.delay = delay
        self.sent: dict[str, int] = {}
        self.due: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def seen(self, room: str, seq: int) -> None:
        if seq <= max(self.sent.get(room, 0), self.due.get(room, 0)):
            return
        self.due[room] = seq
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.delay)
        await self.flush()

    async def flush(self) -> None:
        """Send every marker due now (errors are dropped: the next one carries it)."""
        due, self.due = self.due, {}
        for room, seq in due.items():
            try:
                await self.client.mark_read(room, seq)
            except (RoostError, ConnectionError, OSError, TimeoutError):
                continue
            self.sent[room] = max(self.sent.get(room, 0), seq)


class ActivityMixin:
    """Read markers, unread counts, mentions, away and typing, on top of ``_call``."""

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...
        def room_now(self, room: str) -> str: ...

    async def mark_read(self, room: str, seq: int) -> UnreadInfo:
        """Mark ``room`` read up to ``seq``; the user's other sessions get a ``read`` event.

        A renamed room's old name counts as its new one (a marker due from before)."""
        msg = MarkRead(id=0, room=self.room_now(room), seq=seq)
        result: UnreadInfo = await self._call(msg, UnreadInfo)
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
