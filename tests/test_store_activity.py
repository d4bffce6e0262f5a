"""Read markers and mentions in the Store interface, held by SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

from roost.store.base import Store, StoredMessage


async def put(store: Store, room: str, text: str, ts: float) -> StoredMessage:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stored(exc: BaseException | None) -> None:
        fut.set_exception(exc) if exc else fut.set_result(None)

    rec = store.append_message(room, "ann", text, 2, ts, stored)
    await fut
    return rec


async def test_read_markers_only_move_forward(store: Store) -> None:
    assert await store.read_markers("bob") == {}
    assert await store.set_read("bob", "r", 5) == 5
    assert await store.set_read("bob", "r", 3) == 5
    assert await store.set_read("bob", "@ann+bob", 2) == 2
    assert await store.set_read("ann", "r", 1) == 1
    assert await store.read_markers("bob") == {"r": 5, "@ann+bob": 2}


async def test_mentions_counted_after_the_marker_and_listed(store: Store) -> None:
    recs = [await put(store, "r", f"@bob {i}", float(i)) for i in range(1, 5)]
    other = await put(store, "s", "@bob elsewhere", 10.0)
    for rec in recs:
        await store.add_mentions("r", rec.seq, ["bob"])
    await store.add_mentions("s", other.seq, ["bob", "cat"])
    await store.add_mentions("s", other.seq, ["bob"])  # twice is once
    assert await store.mention_counts("bob") == {"r": 4, "s": 1}
    await store.set_read("bob", "r", 2)
    assert await store.mention_counts("bob") == {"r": 2, "s": 1}
    assert await store.mention_counts("cat") == {"s": 1}
    listed = await store.mentions("bob", 3)
    assert [(m.room, m.seq) for m in listed] == [("r", 3), ("r", 4), ("s", 1)]
    older = await store.mentions("bob", 10, before=3.0)
    assert [m.text for m in older] == ["@bob 1", "@bob 2"]
    assert await store.mentions("dan", 10) == []
