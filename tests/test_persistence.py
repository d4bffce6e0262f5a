"""History that survives restarts and kill -9; reconnect and resume without loss."""

from __future__ import annotations

import asyncio
import signal

import pytest

from conftest import RunningServer
from helpers import client_for, logged_in, next_event, unique
from roost.client import ConnectionState, Message


@pytest.fixture
def server(any_server: RunningServer) -> RunningServer:
    """These behaviours hold on SQLite and on PostgreSQL alike."""
    return any_server


async def test_acknowledged_messages_survive_kill_9(server) -> None:
    name = unique()
    async with logged_in(server, name, reconnect=False) as a:
        seqs = [(await a.send("general", f"durable {i}")).seq for i in range(50)]
    server.kill9()
    server.start()
    async with logged_in(server, name) as a:
        stored = {m.seq: m.text for m in [m async for m in a.history("general")]}
    for i, seq in enumerate(seqs):
        assert stored[seq] == f"durable {i}"


async def test_pipelined_sends_survive_kill_9_once_acknowledged(server) -> None:
    name = unique()
    async with logged_in(server, name, reconnect=False) as a:
        results = await asyncio.gather(*(a.send("general", f"burst {i}") for i in range(300)))
        server.kill9()
    server.start()
    async with logged_in(server, name) as a:
        texts = {m.seq: m.text for m in [m async for m in a.history("general")]}
    for i, res in enumerate(results):
        assert texts[res.seq] == f"burst {i}"


async def test_sigterm_tells_clients_and_exits_zero(server) -> None:
    async with logged_in(server, reconnect=False) as a:
        got_bye = asyncio.Event()
        a.on_event(lambda ev: got_bye.set() if type(ev).__name__ == "Bye" else None)
        assert server.stop(signal.SIGTERM) == 0
        await asyncio.wait_for(got_bye.wait(), 5)
        assert a.bye is not None and a.bye.code == "shutting_down"
    assert "stopped" in server.log()


async def test_rooms_memberships_accounts_survive_restart(server) -> None:
    name = unique()
    room = unique("keep")
    async with logged_in(server, name) as a:
        await a.join(room)
        await a.send(room, "before restart")
    server.restart()
    async with logged_in(server, name, register=False) as a:
        rooms = {r.name: r for r in await a.rooms()}
        assert rooms[room].joined
        seq = (await a.send(room, "after restart")).seq
        assert seq == 2  # sequence numbers continue after a restart
        page = await a.history_page(room)
        assert [m.text for m in page.messages] == ["before restart", "after restart"]


async def test_reconnect_resumes_without_loss_or_duplicates(server) -> None:
    listener = client_for(server, unique(), max_backoff=0.5)
    await listener.start()
    seen: list[str] = []
    states: list[str] = []

    async def collect() -> None:
        async for ev in listener.events():
            if isinstance(ev, ConnectionState):
                states.append(ev.state)
            if isinstance(ev, Message) and ev.room == "general":
                seen.append(ev.text)
            # The catch-up may bring m21 too, before the "connected" state that
            # follows it in the queue.
            if "m21" in seen and "connected" in states:
                return

    collector = asyncio.create_task(collect())
    async with logged_in(server, reconnect=False) as talker:
        await talker.send("general", "m0")
    server.stop()
    # messages sent while the listener is away are replayed after it reconnects
    server.start()
    async with logged_in(server, reconnect=False) as talker:
        for i in range(1, 21):
            await talker.send("general", f"m{i}")
        # live delivery continues after the catch-up
        for _ in range(100):
            if listener.connected:
                break
            await asyncio.sleep(0.1)
        await talker.send("general", "m21")
    await asyncio.wait_for(collector, 15)
    assert seen == [f"m{i}" for i in range(22)]
    assert "reconnecting" in states and "connected" in states
    await listener.close()


async def test_direct_messages_sent_while_offline_arrive_after_reconnect(server) -> None:
    bob = client_for(server, unique(), max_backoff=0.5)
    await bob.start()
    async with logged_in(server, reconnect=False) as alice:
        pass
    server.stop()
    server.start()
    async with logged_in(server, alice.user, reconnect=False) as alice2:
        await alice2.send("@" + bob.user, "while you were away")
    ev = await next_event(bob, Message, text="while you were away", timeout=15)
    assert ev.sender == alice.user and ev.room.startswith("@")
    await bob.close()


async def test_another_writer_on_the_database_does_not_stall_the_server(server_factory) -> None:
    """A second process writing the same database (say `roost user add` while the
    server runs) holds its write lock: messages wait for it on the database
    thread, the event loop keeps serving, and nothing is lost."""
    import sqlite3
    import time

    from helpers import RawConnection

    server = server_factory()  # SQLite's own write lock
    from roost.protocol.messages import Ok, Ping, Send

    conn = await RawConnection.open(server)
    await conn.login(unique())
    other = sqlite3.connect(server.data_dir / "roost.db", isolation_level=None, timeout=5)
    other.execute("BEGIN IMMEDIATE")  # the write lock, held like a slow writer would
    try:
        conn.send(Send(id=1, to="general", text="waits for the lock"))
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        conn.send(Ping(id=2))
        pong = await conn.recv_until(lambda m: isinstance(m, Ok) and m.id == 2, timeout=2)
        assert time.monotonic() - t0 < 1.0, "the event loop stalled behind the lock"
        assert pong.result is not None
        # Nothing acknowledged while the lock is held.
        assert not [m for m in conn.pending if isinstance(m, Ok) and m.id == 1]
    finally:
        other.execute("COMMIT")
        other.close()
    ack = await conn.recv_until(lambda m: isinstance(m, Ok) and m.id == 1, timeout=5)
    assert ack.result["seq"] >= 1
    conn.close()
    async with logged_in(server) as reader:
        texts = [m.text async for m in reader.history("general")]
    assert "waits for the lock" in texts
