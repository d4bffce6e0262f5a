"""Metrics and health over HTTP, scraped from a real `roost serve` with urllib."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from helpers import client_for, logged_in, next_event, pause_reading, resume_reading, unique
from modhelpers import staff
from opshelpers import free_port, http_get, listening_addresses, scrape, value
from roost.client import Message, RoostError

N = 300  # messages of the load


async def test_counters_move_with_the_load(server_factory, tmp_path) -> None:
    port = free_port()
    srv = server_factory(metrics_port=port)
    before = await asyncio.to_thread(scrape, port)
    assert value(before, "roost_messages_stored_total", priority="normal") == 0
    room = unique("room")
    async with logged_in(srv) as a, logged_in(srv) as b, logged_in(srv) as c:
        for cl in (a, b, c):
            await cl.join(room)
        mid = await asyncio.to_thread(scrape, port)
        assert value(mid, "roost_connections", transport="tcp") == 3
        assert value(mid, "roost_sessions", transport="tcp") == 3
        assert value(mid, "roost_logins_total", transport="tcp") == 3
        assert value(mid, "roost_registrations_total") == 3

        async def load() -> None:
            for i in range(N):
                await a.send(room, f"load {i}")
                if i % 50 == 0:
                    await asyncio.sleep(0.01)

        sender = asyncio.create_task(load())
        seen = []
        while not sender.done():
            s = await asyncio.to_thread(scrape, port)
            seen.append(value(s, "roost_messages_stored_total", priority="normal"))
            await asyncio.sleep(0.02)
        await sender
        await next_event(c, Message, timeout=10, room=room, text=f"load {N - 1}")
        after = await asyncio.to_thread(scrape, port)
    # Scrapes during the load saw the counter climb, never fall.
    assert seen == sorted(seen)
    assert value(after, "roost_messages_stored_total", priority="normal") == N
    # Every message went to the three sessions in the room (the sender's own included).
    assert value(after, "roost_messages_delivered_total", priority="normal") == 3 * N
    assert value(after, "roost_messages_stored_total", priority="urgent") == 0
    assert value(after, "roost_store_commit_seconds_count") > 0
    assert value(after, "roost_store_commit_seconds_sum") > 0
    assert value(after, "roost_fanout_seconds_count") > 0
    assert value(after, "roost_store_up") == 1
    assert value(after, "roost_bus_up") == 1

    # Wrong passwords count as failures; files count their bytes both ways.
    bad = client_for(srv, unique(), "wrong", register=False)
    try:
        await bad.start()
    except RoostError:
        pass
    else:
        raise AssertionError("login with an unknown user succeeded")
    payload = tmp_path / "blob.bin"
    payload.write_bytes(b"x" * 100_000)
    async with logged_in(srv) as up:
        await up.join(room)
        sent = await up.upload(payload, room)
        await up.download(sent.file.id, tmp_path / "back.bin")
    final = await asyncio.to_thread(scrape, port)
    assert value(final, "roost_login_failures_total") == 1
    assert value(final, "roost_file_bytes_in_total") == 100_000
    assert value(final, "roost_file_bytes_out_total") == 100_000
    assert value(final, "roost_connections", transport="tcp") == 0


async def test_health_endpoints_and_a_store_that_does_not_answer(server_factory) -> None:
    port = free_port()
    srv = server_factory(metrics_port=port)
    assert await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/healthz") == (
        200,
        "text/plain; charset=utf-8",
        "ok\n",
    )
    status, ctype, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
    assert (status, ctype) == (200, "application/json; charset=utf-8")
    assert json.loads(body) == {"ready": True, "store": True, "bus": True}
    assert (await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/nope"))[0] == 404

    # Another process holds the database's write lock: the server's database
    # thread waits on it with a write, so the store answers no query.
    async with logged_in(srv) as a:
        db = sqlite3.connect(srv.data_dir / "roost.db", isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        try:
            joining = asyncio.create_task(a.join(unique("room")))
            await asyncio.sleep(0.2)
            status, _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
            assert status == 503, body
            report = json.loads(body)
            assert report["ready"] is False and report["store"] is False
            assert report["problems"][0].startswith("store")
            # The process itself is alive all along.
            assert (await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/healthz"))[0] == 200
            # Released within the database thread's patience (5 s): the write goes through.
            db.execute("COMMIT")
            await joining
        finally:
            db.close()
    status, _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
    assert status == 200, body
    assert value(await asyncio.to_thread(scrape, port), "roost_store_up") == 1


def test_loopback_only_unless_told(server_factory) -> None:
    port = free_port()
    srv = server_factory(metrics_port=port)
    assert listening_addresses(srv.port) == {"127.0.0.1"}
    assert listening_addresses(port) == {"127.0.0.1"}
    # Off by default: a server without metrics_port serves no HTTP at all.
    plain = server_factory("plain")
    assert "metrics and health on" not in plain.log()
    assert "metrics and health on http://127.0.0.1:" in srv.log()


async def test_slow_readers_gaps_and_sanctions_are_counted(server_factory) -> None:
    port = free_port()
    srv = server_factory(
        metrics_port=port,
        outbox_budget=64 * 1024,
        stall_timeout=3.0,
        login_fail_account=2,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )
    lagging = client_for(srv, unique("lag"))  # falls behind, then reads again
    stalled = client_for(srv, unique("stall"))  # never reads again
    await lagging.start()
    await stalled.start()
    async with logged_in(srv) as sender:
        pause_reading(lagging)
        pause_reading(stalled)
        filler = "y" * 1020
        await asyncio.gather(*(sender.send("general", f"{i} {filler}") for i in range(400)))
        held = await asyncio.to_thread(scrape, port)
        # Bounded by the budgets: never more than the two outboxes can hold.
        assert 64 * 1024 <= value(held, "roost_outbox_bytes") <= 3 * 64 * 1024
        resume_reading(lagging)
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            s = await asyncio.to_thread(scrape, port)
            done = value(s, "roost_slow_reader_disconnects_total") and value(
                s, "roost_gap_notices_total"
            )
            if done or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    await lagging.close()
    await stalled.close()
    assert value(s, "roost_slow_reader_disconnects_total") == 1
    assert value(s, "roost_gap_notices_total") >= 1

    # Staff sanctions and automatic ones, by kind and by whom.
    victim = unique("victim")
    async with logged_in(srv, victim):
        pass
    for _ in range(2):
        with pytest.raises(RoostError):
            await client_for(srv, victim, "wrong", register=False).start()
    boss = await staff(srv)
    try:
        await boss.block(victim, 600, "enough")
        await boss.mute(lagging.user, 0, "quiet")
    finally:
        await boss.close()
    s = await asyncio.to_thread(scrape, port)
    assert value(s, "roost_sanctions_total", kind="block", by="staff") == 1
    assert value(s, "roost_sanctions_total", kind="mute", by="staff") == 1
    assert value(s, "roost_sanctions_active", kind="block") == 1
    assert value(s, "roost_automatic_actions_total", action="lock") == 1
    assert value(s, "roost_login_failures_total") == 2


async def test_readyz_follows_the_cluster_bus(server_factory, pg_dsn, tmp_path) -> None:
    """A node on PostgreSQL and its own redis-server: ready, then not once Redis is gone."""
    from conftest import migrated
    from engines import Redis

    redis = Redis(tmp_path / "redis")
    redis.start()
    try:
        port = free_port()
        srv = server_factory(metrics_port=port, store=migrated(pg_dsn), bus=redis.url)
        status, _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
        assert status == 200 and json.loads(body)["bus"] is True, body
        redis.stop()
        status, _, body = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz")
        report = json.loads(body)
        assert status == 503 and report["bus"] is False and report["store"] is True, body
        assert any(p.startswith("bus") for p in report["problems"])
        assert value(await asyncio.to_thread(scrape, port), "roost_bus_up") == 0
        assert srv.proc.poll() is None
    finally:
        redis.stop()
