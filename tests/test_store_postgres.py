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
