"""What only the PostgreSQL store has: versioned schema, numbering shared by several nodes."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.postgres import SCHEMA_VERSION, PostgresStore
from store_helpers import append


async def test_open_refuses_a_database_without_the_schema(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn)
    with pytest.raises(RoostError) as err:
        await store.open()
    assert "roost db migrate" in err.value.message
    assert await store.migrate() == list(range(1, SCHEMA_VERSION + 1))
    assert await store.migrate() == []  # a second run changes nothing
    assert await store.schema_version() == SCHEMA_VERSION
    await store.open()
    await store.close()


async def test_a_newer_schema_is_refused(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn)
    await store.migrate()
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute("INSERT INTO schema_version VALUES ($1, 0)", SCHEMA_VERSION + 1)
    await conn.close()
    with pytest.raises(RoostError) as err:
        await store.migrate()
    assert "newer" in err.value.message


async def test_unreachable_database_is_a_clear_error() -> None:
    store = PostgresStore("postgresql://roost@127.0.0.1:1/none")
    with pytest.raises(RoostError) as err:
        await store.open()
    assert err.value.code is ErrorCode.UNAVAILABLE
    assert "cannot reach PostgreSQL" in err.value.message


async def test_three_nodes_writing_one_room_get_distinct_gapless_seqs(pg_dsn: str) -> None:
    nodes = [PostgresStore(pg_dsn) for _ in range(3)]
    await nodes[0].migrate()
    for node in nodes:
        await node.open()
    try:
        futs = []
        for i in range(300):  # interleaved: each node's batches race the others'
            node = nodes[i % 3]
            futs.append(append(node, "r", f"{i % 3}:{i}")[1])
            if i % 7 == 0:
                await asyncio.sleep(0)
        recs = await asyncio.gather(*futs)
        seqs = sorted(r.seq for r in recs)
        assert seqs == list(range(1, 301))
        # Each node's own messages are numbered in the order it sent them.
        for n in range(3):
            mine = [r.seq for r in recs if r.text.startswith(f"{n}:")]
            assert mine == sorted(mine)
        stored = await nodes[1].history("r", 0, 0, 1000)
        assert {(m.seq, m.text) for m in stored} == {(r.seq, r.text) for r in recs}
    finally:
        for node in nodes:
            await node.close()


async def test_a_join_waiting_on_a_delete_of_its_room_adds_no_member(pg_dsn: str) -> None:
    """A join on one node whose member row waits for another node's delete of
    the room (holding the room's row) takes the delete's outcome: no_such_room,
    and no member row outlives the room."""
    store = PostgresStore(pg_dsn)
    await store.migrate()
    await store.open()
    other = await asyncpg.connect(pg_dsn)
    try:
        assert await store.create_room("doomed", "ann", 1.0)
        tx = other.transaction()
        await tx.start()
        # What PostgresStore.delete_room does on the other node, held open.
        await other.execute("SELECT 1 FROM rooms WHERE name = 'doomed' FOR UPDATE")
        join = asyncio.ensure_future(store.add_member("doomed", "bob"))
        for _ in range(200):
            waiting = await other.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE NOT l.granted AND c.relname = 'rooms'"
            )
            if waiting or join.done():
                break
            await asyncio.sleep(0.01)
        assert not join.done()  # it waits for the delete
        await other.execute("DELETE FROM members WHERE room = 'doomed'")
        await other.execute("UPDATE rooms SET deleted = true WHERE name = 'doomed'")
        await tx.commit()
        with pytest.raises(RoostError) as err:
            await join
        assert err.value.code == ErrorCode.NO_SUCH_ROOM
        rows = await other.fetchval("SELECT count(*) FROM members WHERE room = 'doomed'")
        assert rows == 0
    finally:
        await other.close()
        await store.close()
