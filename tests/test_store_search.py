"""Full-text search in the Store, held by both backends alike (SQLite FTS5, PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.base import SearchQuery, Store, StoredMessage
from roost.store.search import parse_query
from roost.store.sqlite import SQLiteStore


async def put(store: Store, room: str, sender: str, text: str, ts: float) -> StoredMessage:
    """Store one message at time ``ts`` and wait until it is stored."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stored(exc: BaseException | None) -> None:
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)

    rec = store.append_message(room, sender, text, 2, ts, stored)
    await done
    return rec


def q(text: str, rooms: list[str], **kw: object) -> SearchQuery:
    return SearchQuery(parse_query(text), rooms, **kw)  # type: ignore[arg-type]


async def texts(store: Store, query: SearchQuery) -> list[str]:
    return [m.text for m in (await store.search(query)).messages]


async def test_words_phrases_prefixes_case(store: Store) -> None:
    await put(store, "r", "ann", "The deploy went fine", 10.0)
    await put(store, "r", "bob", "deployed it, Fine", 11.0)
    await put(store, "r", "ann", "fine weather for a deploy-party", 12.0)
    await put(store, "r", "ann", "nothing here", 13.0)
    assert await texts(store, q("deploy", ["r"])) == [
        "fine weather for a deploy-party",
        "The deploy went fine",
    ]
    assert await texts(store, q("deploy*", ["r"])) == [
        "fine weather for a deploy-party",
        "deployed it, Fine",
        "The deploy went fine",
    ]
    assert await texts(store, q('"went fine"', ["r"])) == ["The deploy went fine"]
    assert await texts(store, q('"fine went"', ["r"])) == []
    assert await texts(store, q("FINE deploy-party", ["r"])) == ["fine weather for a deploy-party"]
    assert await texts(store, q("absent", ["r"])) == []


async def test_only_the_rooms_asked_sender_and_dates(store: Store) -> None:
    await put(store, "r", "ann", "alpha one", 100.0)
    await put(store, "secret", "ann", "alpha secret", 101.0)
    await put(store, "@ann+bob", "bob", "alpha direct", 102.0)
    await put(store, "r", "bob", "alpha two", 103.0)
    assert await texts(store, q("alpha", ["r"])) == ["alpha two", "alpha one"]
    assert await texts(store, q("alpha", ["r", "@ann+bob"])) == [
        "alpha two",
        "alpha direct",
        "alpha one",
    ]
    assert await texts(store, q("alpha", [])) == []
    assert await texts(store, q("alpha", ["r", "@ann+bob"], sender="bob")) == [
        "alpha two",
        "alpha direct",
    ]
    assert await texts(store, q("alpha", ["r", "@ann+bob"], since=101.0, until=103.0)) == [
        "alpha direct"
    ]


async def test_pages_newest_first_with_a_cursor(store: Store) -> None:
    for i in range(7):
        await put(store, "r" if i % 2 else "s", "ann", f"page item {i}", 50.0 + i)
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        page = await store.search(q("item", ["r", "s"], limit=3, cursor=cursor))
        seen += [m.text for m in page.messages]
        assert len(page.messages) <= 3
        cursor = page.next
        if not cursor:
            break
    assert seen == [f"page item {i}" for i in reversed(range(7))]
    # A page that ends exactly at the last match says so.
    full = await store.search(q("item", ["r", "s"], limit=7))
    assert len(full.messages) == 7 and full.next == ""


async def test_a_foreign_cursor_is_a_bad_query(store: Store) -> None:
    await put(store, "r", "ann", "cursor test", 1.0)
    with pytest.raises(RoostError) as err:
        await store.search(q("cursor", ["r"], cursor="not a cursor"))
    assert err.value.code == ErrorCode.BAD_QUERY


@pytest.mark.parametrize(
    ("text", "why"),
    [('"open phrase', "unclosed quote"), ("!!! ...", "no word"), ("x" * 300, "at most")],
)
def test_unreadable_queries_are_refused(text: str, why: str) -> None:
    with pytest.raises(RoostError) as err:
        parse_query(text)
    assert err.value.code == ErrorCode.BAD_QUERY and why in err.value.message


def test_engine_syntax_is_quoted_away() -> None:
    # Operators of FTS5 and tsquery are only words (or separators) to us.
    terms = parse_query('NEAR(a b) OR "x*y" -z col:w ^v')
    assert [t.words for t in terms] == [
        ["near", "a"],
        ["b"],
        ["or"],
        ["x", "y"],
        ["z"],
        ["col", "w"],
        ["v"],
    ]


async def test_sqlite_index_is_built_for_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    await store.open()
    await put(store, "r", "ann", "stored before search existed", 1.0)
    await put(store, "r", "ann", "also before", 2.0)
    await store.close()
    # A database of an older Roost: no index.
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE search_indexed")
    conn.execute("DROP TABLE message_search")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        # Indexed in the background after the open, without a search asking.
        for _ in range(100):
            if not store._unindexed and not store._indexing:
                break
            await asyncio.sleep(0.05)
        rows = await store._submit(
            lambda c: c.execute("SELECT room, seq FROM message_search ORDER BY rowid").fetchall()
        )
        assert rows == [("r", 1), ("r", 2)]
        assert await texts(store, q("before", ["r"])) == [
            "also before",
            "stored before search existed",
        ]
        await put(store, "r", "ann", "after the upgrade, before long", 3.0)
        assert len(await texts(store, q("before", ["r"]))) == 3
    finally:
        await store.close()


async def test_sqlite_indexes_in_batches_and_a_search_sees_everything(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    await store.open()
    try:
        pending = [
            store.append_message("r", "ann", f"bulk {i}", 2, float(i), lambda e: None)
            for i in range(3000)
        ]
        # Asked at once, before any background batch: the search indexes first.
        page = await store.search(q("bulk", ["r"], limit=2))
        assert [m.seq for m in page.messages] == [pending[-1].seq, pending[-2].seq]
        count = await store._submit(
            lambda c: c.execute("SELECT count(*) FROM message_search").fetchone()[0]
        )
        assert count == 3000
    finally:
        await store.close()
    # Nothing is indexed twice after a reopen.
    store = SQLiteStore(tmp_path / "r.db")
    await store.open()
    try:
        store.append_message("r", "ann", "bulk one more", 2, 9999.0, lambda e: None)
        assert len([m async for m in _all(store, "bulk")]) == 3001
    finally:
        await store.close()


async def _all(store: Store, text: str) -> AsyncIterator[StoredMessage]:
    cursor = ""
    while True:
        page = await store.search(q(text, ["r"], limit=500, cursor=cursor))
        for m in page.messages:
            yield m
        if not page.next:
            return
        cursor = page.next


async def test_postgres_migration_indexes_messages_already_stored(pg_dsn: str) -> None:
    import asyncpg

    from roost.store.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore

    # A database at the version before search, with messages in it.
    search = next(i for i, sql in enumerate(MIGRATIONS, 1) if "messages_search" in sql)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_version"
            " (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
        )
        for version, sql in enumerate(MIGRATIONS[: search - 1], start=1):
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_version VALUES ($1, 0)", version)
        await conn.execute(
            "INSERT INTO messages (room, seq, sender, text, ts, priority)"
            " VALUES ('r', 1, 'ann', 'written before the upgrade', 1.0, 2)"
        )
        await conn.execute("INSERT INTO seqs (room, last) VALUES ('r', 1)")
    finally:
        await conn.close()
    store = PostgresStore(pg_dsn)
    assert await store.migrate() == list(range(search, SCHEMA_VERSION + 1))
    await store.open()
    try:
        assert await texts(store, q("upgrade", ["r"])) == ["written before the upgrade"]
    finally:
        await store.close()


async def test_edits_deletions_and_reactions(store: Store) -> None:
    async def event(kind: str, ref: int, text: str, ts: float) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        store.append_message(
            "r", "ann", text, 2, ts, lambda e: done.set_result(None), kind=kind, ref=ref
        )
        await done

    first = await put(store, "r", "ann", "original wording here", 1.0)
    second = await put(store, "r", "bob", "doomed wording", 2.0)
    await event("edit", first.seq, "revised wording here", 3.0)
    await event("react", first.seq, "wording", 4.0)
    await event("edit", first.seq, "final wording here", 5.0)
    await event("delete", second.seq, "", 6.0)
    page = await store.search(q("wording", ["r"]))
    # One hit: the first message, with its latest text, its own seq, sender and time.
    assert [(m.seq, m.text, m.sender, m.ts, m.kind) for m in page.messages] == [
        (first.seq, "final wording here", "ann", 1.0, "text")
    ]
    assert await texts(store, q("original", ["r"])) == []
    assert await texts(store, q("revised", ["r"])) == []
    assert await texts(store, q("doomed", ["r"])) == []
