"""The IRC gateway driven by an independent IRC client library (jaraco's ``irc``)."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

import irc.client

from helpers import PASSWORD, logged_in, next_event, unique
from irc_helpers import irc_server
from modhelpers import staff
from roost.client import Message


class LibraryClient:
    """An ``irc.client`` connection run by its own reactor thread; events land in a queue."""

    def __init__(self, port: int, nick: str, password: str = PASSWORD, sasl: bool = False) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.reactor = irc.client.Reactor()
        self.reactor.add_global_handler("all_events", self._record)
        self.conn = self.reactor.server().connect(
            "127.0.0.1",
            port,
            nick,
            password=password,
            sasl_login=nick if sasl else None,
        )
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _record(self, conn: Any, event: Any) -> None:
        self.events.put((event.type, event))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.reactor.process_once(0.05)

    def wait(self, kind: str, pred: Any = None, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} event")
            try:
                got, ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if got == kind and (pred is None or pred(ev)):
                return ev

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        if self.conn.is_connected():
            self.conn.close()


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_library_client_joins_and_talks_with_a_native_client(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("lib")
    lib = LibraryClient(srv.irc_port, nick)
    try:
        welcome = await in_thread(lib.wait, "welcome")
        assert welcome.target == nick
        names = await in_thread(lib.wait, "namreply")
        assert names.arguments[1] == "#general" and nick in names.arguments[2].split()
        async with logged_in(srv) as native:
            await native.send("general", "hi library")
            ev = await in_thread(lib.wait, "pubmsg", lambda e: e.arguments[0] == "hi library")
            assert ev.source.nick == native.user and ev.target == "#general"
            lib.conn.privmsg("#general", "hi native")
            got = await next_event(native, Message, text="hi native")
            assert got.sender == nick
            await native.send("@" + nick, "private word")
            ev = await in_thread(lib.wait, "privmsg", lambda e: e.arguments[0] == "private word")
            assert ev.source.nick == native.user
            lib.conn.whois([native.user])
            who = await in_thread(lib.wait, "whoisuser")
            assert who.arguments[0] == native.user
            lib.conn.list()
            listed = await in_thread(lib.wait, "list")
            assert listed.arguments[0] == "#general"
    finally:
        lib.close()


async def test_library_client_with_sasl_is_ended_by_a_block(server_factory) -> None:
    srv = irc_server(server_factory)
    nick = unique("sasl")
    async with logged_in(srv, nick):
        pass
    lib = LibraryClient(srv.irc_port, nick, sasl=True)
    boss = await staff(srv, "boss")
    try:
        await in_thread(lib.wait, "welcome")
        await boss.block(nick, 0, "go away")
        kill = await in_thread(lib.wait, "kill")
        assert "blocked" in kill.arguments[0]
        await in_thread(lib.wait, "disconnect")
    finally:
        lib.close()
        await boss.close()
