"""Search requests of the SDK: full-text search of the history one may read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.durations import is_duration, parse_duration
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import Limits, Message, Search, SearchResult

T = TypeVar("T")


class SearchMixin:
    """Search requests, on top of the client's ``_call``."""

    limits: Limits | None

    if TYPE_CHECKING:
        # Provided by Client, which this class is mixed into.
        async def _call(self, msg: Any, result_type: type[T] | None = None) -> Any: ...

    async def search_page(
        self,
        query: str,
        *,
        room: str = "",
        sender: str = "",
        since: float = 0.0,
        until: float = 0.0,
        limit: int = 50,
        cursor: str = "",
    ) -> SearchResult:
        """One page of messages matching ``query``, newest first (docs/protocol.md, "Search").

        ``query`` is words and "quoted phrases", all of which must occur;
        ``word*`` matches a prefix. Only conversations of this user are
        searched: all of them, or ``room`` (a room, ``@user`` or a key).
        Pass the page's ``next`` as ``cursor`` for the next, older page.
        """
        req = Search(
            id=0,
            query=query,
            room=room,
            sender=sender,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        result: SearchResult = await self._call(req, SearchResult)
        return result

    async def search(
        self,
        query: str,
        *,
        room: str = "",
        sender: str = "",
        since: float = 0.0,
        until: float = 0.0,
        limit: int | None = None,
    ) -> AsyncIterator[Message]:
        """Every message matching ``query`` (at most ``limit``), newest first, paging as needed.

        Each page is one search request, held to the server's search rate.
        """
        page = self.limits.search_page if self.limits else 50
        cursor, sent = "", 0
        while limit is None or sent < limit:
            want = page if limit is None else min(page, limit - sent)
            res = await self.search_page(
                query, room=room, sender=sender, since=since, until=until, limit=want, cursor=cursor
            )
            for m in res.messages:
                yield m
            sent += len(res.messages)
            if not res.next or not res.messages:
                return
            cursor = res.next


def parse_when(text: str, now: float, end: bool = False) -> float:
    """A point in time as the CLI and the chat clients take it, as a Unix time.

    ``2026-12-01`` (local midnight; with ``end``, the midnight after, so an
    --until of a day includes that day), ``2026-12-01T14:30`` (local time, or
    with an offset), or a duration ago (``2h``, ``7d``, ``1w``).
    RoostError(BAD_QUERY) for anything else.
    """
    value = text.strip()
    try:
        if len(value) == 10 and value[4:5] == "-":
            day = date.fromisoformat(value)
            if end:
                day += timedelta(days=1)
            return datetime(day.year, day.month, day.day).timestamp()
        if value[:1].isdigit() and "-" in value[:5]:
            return datetime.fromisoformat(value).timestamp()
    except ValueError:
        pass
    else:
        if is_duration(value) and parse_duration(value) > 0:
            return now - parse_duration(value)
    raise RoostError(
        ErrorCode.BAD_QUERY,
        f"{text!r} is not a time: use a date (2026-12-01), a date and time"
        " (2026-12-01T14:30) or how long ago (2h, 7d)",
    )
