"""Interrupted transfers resume by offset; chat keeps flowing while files move."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from files_helpers import MiB, blobs, cut_connection, make_file, sha256
from helpers import logged_in, unique
from roost.client import Client, Message


class Stop(Exception):
    """Raised from a progress callback: the process 'crashes' mid-transfer."""


def cut_once_at(client: Client, at: int, seen: list[int]) -> object:
    """A progress callback recording every value that cuts the connection once past ``at``."""
    state = {"cut": False}

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if not state["cut"] and done >= at:
            state["cut"] = True
            seen.append(-1)  # marks the cut
            cut_connection(client)

    return progress


async def test_upload_resumes_after_the_connection_is_cut(server_factory, tmp_path: Path) -> None:
    srv = server_factory(max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "big.bin", 16 * MiB + 123)
    seen: list[int] = []
    async with logged_in(srv) as alice, logged_in(srv) as bob:
        sent = await alice.upload(
            tmp_path / "big.bin", "general", progress=cut_once_at(alice, 2 * MiB, seen)
        )
        assert sent.file.sha256 == sha256(data) and sent.file.size == len(data)
        cut = seen.index(-1)
        resumed_from = seen[cut + 1]
        # It went on from the server's offset (at least what was acknowledged), not from zero.
        assert seen[cut - 1] <= resumed_from < len(data)
        assert seen[-1] == len(data)
        saved = await bob.download(sent.file.id, tmp_path / "copy.bin")
    assert saved.read_bytes() == data
    assert sha256(data) in blobs(srv)


async def test_download_resumes_after_the_connection_is_cut(server_factory, tmp_path: Path) -> None:
    srv = server_factory(max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "big.bin", 16 * MiB + 7)
    out = tmp_path / "out"
    out.mkdir()
    seen: list[int] = []
    async with logged_in(srv) as alice, logged_in(srv) as bob:
        sent = await alice.upload(tmp_path / "big.bin", "general")
        saved = await bob.download(sent.file.id, out, progress=cut_once_at(bob, 2 * MiB, seen))
    cut = seen.index(-1)
    assert 2 * MiB <= seen[cut + 1] < len(data)  # restarted from what the .part held
    assert saved == out / "big.bin" and saved.read_bytes() == data
    assert list(out.iterdir()) == [saved]


async def test_download_continues_from_part_file_in_a_new_client(
    server_factory, tmp_path: Path
) -> None:
    srv = server_factory(max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "movie.mkv", 12 * MiB)
    out = tmp_path / "out"
    out.mkdir()
    bob_name = unique("bob")

    def crash(done: int, total: int) -> None:
        if done >= 3 * MiB:
            raise Stop

    async with logged_in(srv) as alice:
        sent = await alice.upload(tmp_path / "movie.mkv", "general")
    async with logged_in(srv, bob_name) as bob:
        with pytest.raises(Stop):
            await bob.download(sent.file.id, out, progress=crash)
    [part] = list(out.iterdir())
    assert part.name == f"movie.mkv.{sent.file.id}.part"
    kept = part.stat().st_size
    assert 3 * MiB <= kept < len(data) and part.read_bytes() == data[:kept]
    seen: list[int] = []
    async with logged_in(srv, bob_name) as bob:
        saved = await bob.download(sent.file.id, out, progress=lambda d, t: seen.append(d))
    assert seen[0] == kept
    assert saved.read_bytes() == data and list(out.iterdir()) == [saved]


async def test_upload_continues_in_a_new_client(server_factory, tmp_path: Path) -> None:
    srv = server_factory(max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "data.bin", 12 * MiB, seed=5)
    name = unique("alice")

    def crash(done: int, total: int) -> None:
        if done >= 3 * MiB:
            raise Stop

    async with logged_in(srv, name) as alice:
        with pytest.raises(Stop):
            await alice.upload(tmp_path / "data.bin", "general", progress=crash)
    seen: list[int] = []
    async with logged_in(srv, name) as alice:
        sent = await alice.upload(
            tmp_path / "data.bin", "general", progress=lambda d, t: seen.append(d)
        )
    assert seen[0] >= 3 * MiB  # the server kept what it had received
    assert sent.file.sha256 == sha256(data)

    # Another file of the same name and size must not be glued onto that prefix.
    async with logged_in(srv, name) as alice:
        with pytest.raises(Stop):
            await alice.upload(tmp_path / "data.bin", "general", progress=crash)
    other = make_file(tmp_path / "data.bin", 12 * MiB, seed=6)
    seen.clear()
    async with logged_in(srv, name) as alice:
        sent = await alice.upload(
            tmp_path / "data.bin", "general", progress=lambda d, t: seen.append(d)
        )
    assert sent.file.sha256 == sha256(other)
    assert seen[0] == 0


async def test_chat_flows_on_the_same_connection_during_transfers(
    server_factory, tmp_path: Path
) -> None:
    srv = server_factory(max_file_size=64 * MiB, user_quota=256 * MiB)
    size = 32 * MiB
    make_file(tmp_path / "big.bin", size)
    async with logged_in(srv) as alice, logged_in(srv) as bob:
        # Upload: a message sent mid-upload is acknowledged before the upload ends.
        progress_at_ack: list[int] = []
        last = [0]
        tasks: list[asyncio.Task[object]] = []

        def upload_progress(done: int, total: int) -> None:
            last[0] = done
            if done > 0 and not tasks:
                task = asyncio.ensure_future(alice.send("general", "typing while uploading"))
                task.add_done_callback(lambda _: progress_at_ack.append(last[0]))
                tasks.append(task)

        sent = await alice.upload(tmp_path / "big.bin", "general", progress=upload_progress)
        await tasks[0]
        assert progress_at_ack and progress_at_ack[0] < size

        # Download: a message from someone else arrives while the data still flows.
        at_message: list[int] = []
        got = [0]
        bob.on_event(
            lambda ev: (
                at_message.append(got[0])
                if isinstance(ev, Message) and ev.text == "hello during download"
                else None
            )
        )
        sending: list[asyncio.Task[object]] = []

        def download_progress(done: int, total: int) -> None:
            got[0] = done
            if done > 0 and not sending:
                sending.append(
                    asyncio.ensure_future(alice.send("general", "hello during download"))
                )

        saved = await bob.download(sent.file.id, tmp_path / "copy.bin", progress=download_progress)
        await sending[0]
        assert at_message and at_message[0] < size
        assert saved.stat().st_size == size


async def test_an_upload_with_all_its_bytes_completes_when_the_sender_drops(
    server, tmp_path: Path
) -> None:
    from roost.protocol.messages import Put, Upload, UploadDone, UploadResult

    data = make_file(tmp_path / "last.bin", 300_000)
    async with logged_in(server, reconnect=False) as alice, logged_in(server) as bob:
        up: UploadResult = await alice._call(
            Upload(id=0, to="general", name="last.bin", size=len(data)), UploadResult
        )
        for pos in range(0, len(data), 65536):
            part = memoryview(data)[pos : pos + 65536]
            await alice._call(Put(id=0, upload=up.upload, offset=pos, data=part))
        pending = alice._request(UploadDone(id=0, upload=up.upload, sha256=sha256(data)))
        cut_connection(alice)  # gone before the reply can come
        with pytest.raises(Exception):  # noqa: B017 - ConnectionLost
            await pending
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            offers = [m for m in await bob.latest("general", 5) if m.file is not None]
            if offers:
                break
            assert loop.time() < deadline, "the upload was not completed"
            await asyncio.sleep(0.1)
        assert offers[-1].file is not None and offers[-1].file.sha256 == sha256(data)
        saved = await bob.download(offers[-1].file.id, tmp_path / "copy.bin")
    assert saved.read_bytes() == data
    assert sha256(data) in blobs(server)
