"""The search request: full-text search of the conversations a user may read.

Only conversations the user belongs to are searched (rooms they are a member
of now, their direct conversations), whatever the request names. Searches
are held to a token bucket per account (search_rate, search_burst): a
search reads the index, which costs the store more than a message does.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import Message, Search, SearchResult
from roost.protocol.names import check_user
from roost.server.chat import conversation_key, require_login, wire_message
from roost.server.connection import BulkReply
from roost.server.protection import TokenBucket, _rebucket
from roost.store.base import SearchQuery, SearchTerm
from roost.store.search import parse_query

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.connection import ClientConnection


class SearchLimits:
    """The search token bucket of each account (None: no limit)."""

    def __init__(self) -> None:
        # user -> ((rate, burst) the bucket was made for, the bucket)
        self._buckets: dict[str, tuple[tuple[float, int], TokenBucket | None]] = {}

    def _bucket(self, server: Server, user: str, now: float) -> TokenBucket | None:
        want = (server.config.search_rate, server.config.search_burst)
        made, bucket = self._buckets.get(user, (None, None))
        if made != want:
            # New, or the limits were reloaded: keep what the old bucket held.
            bucket = _rebucket(bucket, want[0], want[1], now)
            self._buckets[user] = (want, bucket)
        return bucket

    def allow(self, server: Server, user: str, now: float) -> bool:
        """Take one search from ``user``'s bucket; False if it is empty."""
        bucket = self._bucket(server, user, now)
        if bucket is None:
            return True
        if not bucket.take(1, now):
            return False
        if server.protection.shared:
            server.protection.note_spent(user, searches=1)
        return True

    def spend(self, server: Server, user: str, searches: int, now: float) -> None:
        """``user`` searched ``searches`` times through another node of the cluster."""
        bucket = self._bucket(server, user, now)
        if bucket is not None:
            bucket.spend(searches, now)


async def search(server: Server, conn: ClientConnection, msg: Search) -> BulkReply:
    account = require_login(conn)
    me = account.name
    # Checked before the rate: a malformed query costs the store nothing.
    terms = parse_query(msg.query)
    if msg.since < 0 or msg.until < 0:
        raise RoostError(ErrorCode.BAD_QUERY, "since and until are times in seconds, not negative")
    if msg.until and msg.since >= msg.until:
        raise RoostError(ErrorCode.BAD_QUERY, "since must be before until")
    sender = check_user(msg.sender) if msg.sender else ""
    if msg.room:
        rooms = [conversation_key(server, me, msg.room)]
    else:
        mine = server.state.rooms_of.get(me, set())
        rooms = sorted(await server.store.conversations_of(me, set(mine)))
    if not server.search_limits.allow(server, me, time.monotonic()):
        raise RoostError(
            ErrorCode.RATE_LIMITED,
            f"slow down: at most {server.config.search_rate:g} searches a second"
            f" (bursts of {server.config.search_burst})",
        )
    limit = max(1, min(msg.limit, server.config.search_page))
    page = await server.store.search(
        SearchQuery(terms, rooms, sender, msg.since, msg.until, limit, msg.cursor)
    )
    # Keep the reply inside one frame, as history does: a shorter page whose
    # cursor continues after the last message sent.
    budget = server.config.max_frame - 4096
    messages: list[Message] = []
    for r in page.messages:
        budget -= len(r.text.encode()) + len(r.sender) + len(r.room) + 64
        if r.file is not None:
            budget -= len(r.file.name.encode()) + len(r.file.media_type) + 128
        if budget < 0 and messages:
            break
        messages.append(wire_message(r))
    nxt = page.next
    if len(messages) < len(page.messages):
        # Ask again from the first message left out: the store's cursor of the
        # page that ends with the last one sent.
        nxt = await _cursor_after(server, msg, terms, rooms, sender, len(messages))
    return BulkReply(SearchResult(messages=messages, next=nxt))


async def _cursor_after(
    server: Server, msg: Search, terms: list[SearchTerm], rooms: list[str], sender: str, count: int
) -> str:
    page = await server.store.search(
        SearchQuery(terms, rooms, sender, msg.since, msg.until, count, msg.cursor)
    )
    return page.next


HANDLERS: dict[type, Any] = {Search: search}
# A search only reads: later requests of the connection need not wait for it.
CONCURRENT = frozenset({Search})
