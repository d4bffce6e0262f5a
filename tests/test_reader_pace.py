"""Reader pace (roost.server.reader_pace), against a real server.

A session that lets data pile up gets Nagle's algorithm, and TCP_NODELAY back
once it has read everything; whatever the mode, every session gets every
message once and in order. The server logs each switch (at debug level),
which is how the test sees it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from files_helpers import MiB, make_file, sha256
from helpers import RawConnection, StalledReader, logged_in, unique
from roost.protocol.codec import encode
from roost.protocol.messages import Download, FileData, Message, Ok, Send
from roost.server.reader_pace import PROBE_INTERVAL

ROOM = "general"
TEXT = "x" * 250


async def _drain(conn: RawConnection, texts: list[str]) -> None:
    """Read until cancelled, keeping the texts of room messages."""
    while True:
        msg = await conn.recv(30)
        if msg is None:
            return
        if isinstance(msg, Message) and msg.room == ROOM:
            texts.append(msg.text)


async def _until_logged(srv: Any, line: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while line not in srv.log():
        assert loop.time() < deadline, f"the server never logged {line!r}"
        await asyncio.sleep(0.05)


def _numbers(texts: list[str]) -> list[int]:
    return [int(t.split()[0]) for t in texts]


async def test_a_reader_that_falls_behind_gets_nagle_then_nodelay_and_loses_nothing(
    server_factory: Any,
) -> None:
    srv = server_factory(args=["-v"])
    lazy_name = unique("lazy")
    lazy = await StalledReader.open(srv, lazy_name)
    prompt = await RawConnection.open(srv)
    await prompt.login(unique("prompt"))
    sender = await RawConnection.open(srv)
    await sender.login(unique("tx"))
    prompt_texts: list[str] = []
    echoed: list[str] = []
    readers = [
        asyncio.create_task(_drain(prompt, prompt_texts)),
        asyncio.create_task(_drain(sender, echoed)),
    ]
    loop = asyncio.get_running_loop()
    sent = 0

    async def send_for(seconds: float, until: str | None = None) -> None:
        # About 250 KB/s: a reader that does not read has kilobytes unacknowledged.
        nonlocal sent
        deadline = loop.time() + seconds
        while loop.time() < deadline and (until is None or until not in srv.log()):
            for _ in range(2):
                sent += 1
                sender.send(Send(id=sent, to=ROOM, text=f"{sent} {TEXT}"))
            await asyncio.sleep(0.002)

    lags = f"({lazy_name}) reads late: Nagle on"
    await send_for(10.0, until=lags)
    assert lags in srv.log(), "a reader that read nothing for 10 s was never seen lagging"
    await send_for(0.3)  # these are written under Nagle's algorithm

    got = await lazy.read_all(idle=5.0, chat=sent)
    texts = [m.text for m in got if isinstance(m, Message) and m.room == ROOM]
    assert _numbers(texts) == list(range(1, sent + 1))
    # It has read everything and acknowledged it: the next probes see it caught up.
    await _until_logged(srv, f"({lazy_name}) Nagle off", 5.0)

    await send_for(0.2)  # and after the switch back, nothing is lost either
    got = await lazy.read_all(idle=5.0, chat=sent - len(texts))
    more = [m.text for m in got if isinstance(m, Message) and m.room == ROOM]
    assert _numbers(texts + more) == list(range(1, sent + 1))

    deadline = loop.time() + 10
    while len(prompt_texts) < sent and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert _numbers(prompt_texts) == list(range(1, sent + 1))
    for task in readers:
        task.cancel()
    for conn in (prompt, sender):
        conn.close()
    lazy.close()


async def test_pace_readers_off_keeps_every_session_on_nodelay(server_factory: Any) -> None:
    srv = server_factory(args=["-v"], pace_readers=False)
    lazy = await StalledReader.open(srv, unique("lazy"))
    sender = await RawConnection.open(srv)
    await sender.login(unique("tx"))
    echoed: list[str] = []
    drain = asyncio.create_task(_drain(sender, echoed))
    for i in range(1, 1001):
        sender.send(Send(id=i, to=ROOM, text=f"{i} {TEXT}"))
        if i % 2 == 0:
            await asyncio.sleep(0.002)
    got = await lazy.read_all(idle=5.0, chat=1000)
    assert _numbers([m.text for m in got if isinstance(m, Message)]) == list(range(1, 1001))
    assert "Nagle on" not in srv.log()
    drain.cancel()
    sender.close()
    lazy.close()


async def test_a_download_keeps_nodelay_while_its_reader_lags(
    server_factory: Any, tmp_path: Path
) -> None:
    srv = server_factory(args=["-v"])
    data = make_file(tmp_path / "big.bin", 2 * MiB)
    async with logged_in(srv) as owner:
        offered = await owner.upload(tmp_path / "big.bin", ROOM)
    name = unique("fetch")
    reader = await StalledReader.open(srv, name)
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(reader.sock, encode(Download(id=7, file=offered.file.id)))
    # Twenty probes' worth of a reader that takes nothing while chunks queue up.
    await asyncio.sleep(20 * PROBE_INTERVAL)
    got = bytearray()
    async for msg in reader.messages(idle=5.0):
        if isinstance(msg, FileData) and msg.id == 7:
            got += msg.data
        elif getattr(msg, "id", None) == 7:
            assert isinstance(msg, Ok), msg
            break
    assert sha256(bytes(got)) == sha256(data)
    assert f"({name}) reads late" not in srv.log()
    reader.close()


async def test_a_reader_the_kernel_cannot_take_more_for_goes_back_to_nodelay(
    server_factory: Any,
) -> None:
    srv = server_factory(args=["-v"])
    name = unique("stalled")
    stalled = await StalledReader.open(srv, name)
    sender = await RawConnection.open(srv)
    await sender.login(unique("tx"))
    echoed: list[str] = []
    drain = asyncio.create_task(_drain(sender, echoed))
    sent = 0
    # First it lags (Nagle on); once the socket refuses writes and frames wait
    # in the outbox, holding bytes back in the kernel gains nothing (Nagle off).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while f"({name}) Nagle off" not in srv.log():
        assert loop.time() < deadline, "the stalled reader never went back to TCP_NODELAY"
        assert sent < 3000, "3,000 messages (within the outbox budget) and still no switch"
        for _ in range(4):
            sent += 1
            sender.send(Send(id=sent, to=ROOM, text=f"{sent} {TEXT}"))
        await asyncio.sleep(0.004)
    log = srv.log()
    assert log.index(f"({name}) reads late: Nagle on") < log.index(f"({name}) Nagle off")
    got = await stalled.read_all(idle=5.0, chat=sent)
    assert _numbers([m.text for m in got if isinstance(m, Message)]) == list(range(1, sent + 1))
    drain.cancel()
    sender.close()
    stalled.close()
