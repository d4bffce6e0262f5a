"""Several `roost serve` processes on one PostgreSQL and one Redis, and a TCP balancer."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from conftest import RunningServer


class Balancer:
    """A TCP load balancer for tests: each connection goes to the next node that answers.

    Clients connect to one address, as they would behind DNS round robin or a
    TCP balancer; when a node dies, its clients' reconnects land on another.
    """

    def __init__(self, nodes: list[RunningServer]) -> None:
        self.nodes = nodes
        self.host = "127.0.0.1"
        self.port = 0
        self._next = 0
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.nodes)):
            node = self.nodes[self._next % len(self.nodes)]
            self._next += 1
            if node.proc is None or node.proc.poll() is not None:
                continue
            try:
                up_r, up_w = await asyncio.open_connection(node.host, node.port)
            except OSError:
                continue
            for src, dst in ((reader, up_w), (up_r, writer)):
                task = asyncio.create_task(_pipe(src, dst))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            dst.close()


async def behind_their_back(
    dsn: str, room: str, members: tuple[str, ...] = (), invited: dict[str, str] | None = None
) -> None:
    """Write memberships of ``room`` (and invitations, invitee -> inviter) straight
    into PostgreSQL: no node hears of them until it reads the room again (a
    restart, or the bus's change of another write)."""
    db = await asyncpg.connect(dsn)
    try:
        for user in members:
            await db.execute('INSERT INTO members (room, "user") VALUES ($1, $2)', room, user)
        for user, by in (invited or {}).items():
            await db.execute(
                'INSERT INTO room_users (room, "user", invited_by) VALUES ($1, $2, $3)',
                room,
                user,
                by,
            )
    finally:
        await db.close()


async def until_room_known(client: Any, room: str) -> None:
    """Until ``client``'s node lists ``room`` (it heard of it through the bus)."""
    for _ in range(100):
        if room in {r.name for r in await client.rooms()}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"#{room} never reached the node of {client.user}")


async def until_waiting(db: asyncpg.Connection, sql: str, *args: Any) -> None:
    """Until ``sql`` (a count over pg_locks or pg_stat_activity) is above 0.
    (Inside a transaction pg_stat_activity is read once: its snapshot is cleared.)"""
    for _ in range(500):
        if await db.fetchval(sql, *args):
            return
        await db.execute("SELECT pg_stat_clear_snapshot()")
        await asyncio.sleep(0.01)
    raise AssertionError(f"never true: {sql}")
