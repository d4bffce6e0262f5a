"""The worker-thread writer shared by uploads (server) and downloads (client)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from roost.fileio import BATCH, HashingWriter


async def test_chunks_are_written_and_hashed_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    writer = HashingWriter(fd, hashlib.sha256(), high=1 << 20)
    chunks = [os.urandom(n) for n in (1, 0, 70_000, 65_536, 3, 200_000) * 20]
    for chunk in chunks:
        writer.feed(memoryview(chunk))
        if len(chunk) == 3:
            await asyncio.sleep(0)  # let jobs run between feeds too
    await writer.flush()
    os.close(fd)
    data = b"".join(chunks)
    assert writer.written == writer.queued == len(data)
    assert path.read_bytes() == data
    assert writer.hasher.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_backlog_bound_and_room_notice(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    rooms: list[int] = []
    writer = HashingWriter(fd, hashlib.sha256(), high=2 * BATCH)
    writer.on_room = lambda: rooms.append(writer.backlog)
    chunk = bytes(64 * 1024)
    answers = [writer.feed(chunk) for _ in range(4 * BATCH // len(chunk))]
    assert answers[0] is True and answers[-1] is False  # over the bound: stop feeding
    await writer.flush()
    os.close(fd)
    assert rooms and rooms[-1] == 0 and all(r <= BATCH for r in rooms)


async def test_a_write_error_surfaces_and_stops_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "ro"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # writes fail with EBADF
    writer = HashingWriter(fd, hashlib.sha256())
    writer.feed(b"x" * (BATCH + 1))
    with pytest.raises(OSError):
        await writer.flush()
    with pytest.raises(OSError):
        writer.feed(b"more")
    closed: list[bool] = []
    writer.abandon(lambda: closed.append(True))
    os.close(fd)
    assert closed == [True]


async def test_abandon_drops_pending_data_and_runs_the_callback(tmp_path: Path) -> None:
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    writer = HashingWriter(fd, hashlib.sha256())
    writer.feed(b"small")  # below a batch: still pending
    done = asyncio.Event()
    writer.abandon(done.set)
    await asyncio.wait_for(done.wait(), 5)
    with pytest.raises(OSError):
        await writer.flush()
    os.close(fd)
    assert path.read_bytes() == b""
