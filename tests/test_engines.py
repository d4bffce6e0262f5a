"""The test engines themselves: a real PostgreSQL and redis-server answer."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis


async def test_postgres_and_redis_answer(pg_dsn: str, redis_url: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT 40 + 2") == 42
        assert await conn.fetchval("SHOW server_version_num") >= "130000"
    finally:
        await conn.close()
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.set("k", "v")
        assert await client.get("k") == b"v"
    finally:
        await client.aclose()
