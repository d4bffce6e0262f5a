"""Helpers for the moderation tests: staff accounts, raw connections, collecting events."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import run_cli
from helpers import PASSWORD, client_for
from roost.client import Client, Moderation
from roost.protocol.codec import client_decoder


def add_account(srv: Any, name: str, role: str | None = "admin") -> None:
    """`roost user add NAME [--admin|--moderator] --data-dir DIR --config FILE`, beside the server."""
    args = ["user", "add", name, "--data-dir", str(srv.data_dir)]
    config = srv.data_dir.parent / f"{srv.data_dir.name}.toml"
    if config.exists():  # the server's own config (its store may be PostgreSQL)
        args += ["--config", str(config)]
    if role:
        args.append(f"--{role}")
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr


async def staff(srv: Any, name: str = "boss", role: str = "admin") -> Client:
    """A logged-in client of a new staff account (close it yourself)."""
    add_account(srv, name, role)
    client = client_for(srv, name, PASSWORD, register=False)
    await client.start()
    return client


async def first_frame(srv: Any, timeout: float = 5.0) -> Any:
    """Open a bare TCP connection and return the first message the server sends."""
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    decoder = client_decoder()
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            assert data, "closed without a word"
            msgs = decoder.feed(data)
            if msgs:
                return msgs[0]
    finally:
        writer.close()


async def audit_until(client: Client, count: int, **kwargs: Any) -> list[Any]:
    """The audit log once it holds ``count`` entries (automatic actions land a moment later)."""
    for _ in range(100):
        entries = await client.audit(**kwargs)
        if len(entries) >= count:
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"the audit log stayed at {entries}")


class Recorder:
    """Every event a client receives, as it arrives (before ordering)."""

    def __init__(self, client: Client) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()
        client.on_event(self._add)

    def _add(self, ev: Any) -> None:
        self.events.append(ev)
        self._changed.set()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def actions(self) -> list[tuple[str, str, str]]:
        """(actor, action, target) of the moderation events seen."""
        return [(m.entry.actor, m.entry.action, m.entry.target) for m in self.of(Moderation)]

    async def wait(self, pred: Any, timeout: float = 5.0) -> Any:
        """The first event for which ``pred`` holds, waiting for it if need be."""

        async def find() -> Any:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)
