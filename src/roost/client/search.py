"""Search requests of the SDK: full-text search of the history one may read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from roost.protocol.display import visible
from roost.protocol.durations import is_duration, parse_duration
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import Limits, Message, Search, SearchResult
from roost.protocol.names import dm_peer

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


SEARCH_USAGE = "/search WORDS [from:USER] [in:ROOM|@USER] [since:DATE] [until:DATE]"


@dataclass(frozen=True)
class SearchArgs:
    """A search as typed in a chat client: the words, and the filters given as key:value."""

    query: str
    room: str = ""
    sender: str = ""
    since: float = 0.0
    until: float = 0.0


def parse_search_line(text: str, now: float) -> SearchArgs:
    """``deploy* from:ann in:ops since:7d`` as a search; RoostError with the usage if empty.

    ``in:``, ``from:``, ``since:`` and ``until:`` words are filters (an
    until date counts to that day's end); the other words are the query.
    """
    words: list[str] = []
    fields: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition(":")
        if sep and value and key.lower() in ("in", "from", "since", "until"):
            fields[key.lower()] = value
        else:
            words.append(word)
    if not words:
        raise RoostError(ErrorCode.BAD_REQUEST, f"usage: {SEARCH_USAGE}")
    return SearchArgs(
        " ".join(words),
        room=fields.get("in", ""),
        sender=fields.get("from", ""),
        since=parse_when(fields["since"], now) if "since" in fields else 0.0,
        until=parse_when(fields["until"], now, end=True) if "until" in fields else 0.0,
    )


def hit_text(m: Message, me: str) -> str:
    """One search result on one line: when, where, who and the text (control characters shown)."""
    when = datetime.fromtimestamp(m.ts).strftime("%Y-%m-%d %H:%M")
    where = f"@{dm_peer(m.room, me)}" if m.room.startswith("@") else f"#{m.room}"
    text = " ".join(m.text.split())
    return visible(f"{when} {where} <{m.sender}> {text}")


async def search_lines(client: SearchMixin, text: str, me: str, limit: int = 20) -> list[str]:
    """What `/search` shows in the line client: a heading and one line per result."""
    args = parse_search_line(text, time.time())
    page = await client.search_page(
        args.query,
        room=args.room,
        sender=args.sender,
        since=args.since,
        until=args.until,
        limit=limit,
    )
    if not page.messages:
        return [f"* no messages match {visible(args.query)!r}"]
    more = " (more: narrow it with from:, in:, since:)" if page.next else ""
    head = f"* {len(page.messages)} newest matching {visible(args.query)!r}{more}:"
    return [head, *(f"  {hit_text(m, me)}" for m in page.messages)]
