"""Download credit windows: the server sends at most ``window`` unacknowledged bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from files_helpers import MiB, make_file, sha256
from helpers import RawConnection, logged_in, unique
from roost.client import Client, ErrorCode, files
from roost.protocol.messages import Download, DownloadAck, Error, FileData, Ok
from roost.server.config import ServerConfig

CHUNK = ServerConfig().chunk_size


@pytest.mark.parametrize("window", [100_000, 0])
async def test_download_with_a_small_window_or_none_is_whole(
    server, tmp_path: Path, window: int
) -> None:
    data = make_file(tmp_path / "f.bin", 3 * MiB + 13)
    out = tmp_path / "out"
    out.mkdir()
    async with logged_in(server) as alice, logged_in(server, download_window=window) as bob:
        sent = await alice.upload(tmp_path / "f.bin", "general")
        saved = await bob.download(sent.file.id, out)
    assert saved.read_bytes() == data and sha256(saved.read_bytes()) == sent.file.sha256


async def _data_until_quiet(raw: RawConnection, quiet: float = 0.3) -> list[Any]:
    """Every message until none has come for ``quiet`` seconds."""
    got = []
    while True:
        try:
            msg = await raw.recv(timeout=quiet)
        except TimeoutError:
            return got
        assert msg is not None, "the server closed the connection"
        got.append(msg)


def _bytes(msgs: list[Any], request_id: int) -> bytes:
    return b"".join(bytes(m.data) for m in msgs if isinstance(m, FileData) and m.id == request_id)


async def test_server_stops_at_the_window_until_acknowledged(server, tmp_path: Path) -> None:
    data = make_file(tmp_path / "f.bin", 2 * MiB + 5)
    window = 150_000  # not a multiple of the chunk size
    async with logged_in(server) as alice:
        sent = await alice.upload(tmp_path / "f.bin", "general")
    raw = await RawConnection.open(server)
    try:
        await raw.login(unique("raw"))
        raw.send(Download(id=1, file=sent.file.id, window=window))
        first = await _data_until_quiet(raw)
        got = _bytes(first, 1)
        assert got == data[:window]  # exactly the window, then nothing
        assert all(len(m.data) <= CHUNK for m in first if isinstance(m, FileData))

        raw.send(DownloadAck(id=2, download=1, offset=window // 2))
        more = await _data_until_quiet(raw)
        assert any(isinstance(m, Ok) and m.id == 2 for m in more)
        got += _bytes(more, 1)
        assert got == data[: window + window // 2]  # credit for half a window more

        # A stale (lower) ack changes nothing and is not an error.
        raw.send(DownloadAck(id=3, download=1, offset=10))
        stale = await _data_until_quiet(raw)
        assert [m for m in stale if isinstance(m, Ok | Error)] == [Ok(id=3)]
        assert _bytes(stale, 1) == b""

        # Acknowledge everything received, as often as it takes, until the reply.
        next_id = 10
        done = False
        while not done:
            raw.send(DownloadAck(id=next_id, download=1, offset=len(got)))
            next_id += 1
            msgs = await _data_until_quiet(raw, quiet=0.2)
            got += _bytes(msgs, 1)
            done = any(isinstance(m, Ok) and m.id == 1 for m in msgs)
            assert not any(isinstance(m, Error) for m in msgs)
        assert got == data and sha256(got) == sent.file.sha256
    finally:
        raw.close()


async def test_bad_acks_get_clear_errors_and_the_download_goes_on(server, tmp_path: Path) -> None:
    data = make_file(tmp_path / "f.bin", MiB)
    window = 200_000
    async with logged_in(server) as alice:
        sent = await alice.upload(tmp_path / "f.bin", "general")
    raw = await RawConnection.open(server)
    try:
        await raw.login(unique("raw"))
        # No download on this connection yet.
        raw.send(DownloadAck(id=2, download=1, offset=0))
        err = await raw.recv_until(lambda m: getattr(m, "id", None) == 2)
        assert isinstance(err, Error) and err.code == ErrorCode.NO_SUCH_FILE
        assert "no download 1 in progress" in err.message

        raw.send(Download(id=3, file=sent.file.id, window=-1))
        err = await raw.recv_until(lambda m: getattr(m, "id", None) == 3)
        assert isinstance(err, Error) and err.code == ErrorCode.BAD_REQUEST
        assert "window must not be negative" in err.message

        raw.send(Download(id=1, file=sent.file.id, window=window))
        got = _bytes(await _data_until_quiet(raw), 1)
        assert got == data[:window]
        cases = [
            (DownloadAck(id=4, download=1, offset=window + 1), ErrorCode.BAD_REQUEST, "beyond"),
            (DownloadAck(id=5, download=99, offset=0), ErrorCode.NO_SUCH_FILE, "no download 99"),
        ]
        for ack, code, words in cases:
            raw.send(ack)
            msgs = await _data_until_quiet(raw)
            [err] = [m for m in msgs if isinstance(m, Error)]
            assert err.id == ack.id and err.code == code and words in err.message
            assert _bytes(msgs, 1) == b""  # no credit was given by a bad ack

        # The connection and the download are intact: acknowledge it to the end.
        next_id = 10
        done = False
        while not done:
            raw.send(DownloadAck(id=next_id, download=1, offset=len(got)))
            next_id += 1
            msgs = await _data_until_quiet(raw, quiet=0.2)
            got += _bytes(msgs, 1)
            done = any(isinstance(m, Ok) and m.id == 1 for m in msgs)
        assert got == data
    finally:
        raw.close()


async def test_sdk_client_that_stops_acknowledging_gets_no_more_than_the_window(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's own acks drive the download: without them it stalls at the window."""
    make_file(tmp_path / "f.bin", 4 * MiB)
    window = 256 * 1024
    async with logged_in(server) as alice, logged_in(server, download_window=window) as bob:
        sent = await alice.upload(tmp_path / "f.bin", "general")
        received: list[int] = []
        monkeypatch.setattr(files._Sink, "_ack", lambda self, request_id: None)
        task = asyncio.ensure_future(
            bob.download(sent.file.id, tmp_path, progress=lambda d, t: received.append(d))
        )

        async def reach_window() -> None:
            while not received or received[-1] < window:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(reach_window(), 10)
        await asyncio.sleep(0.3)
        # Progress settled at the window and stayed there.
        assert received[-1] == window and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_negative_download_window_is_refused() -> None:
    with pytest.raises(ValueError, match="download_window must not be negative"):
        Client("127.0.0.1", 1, "x", "y", download_window=-1)
