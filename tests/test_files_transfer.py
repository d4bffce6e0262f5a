"""File transfer against a real server: content, names, offers in history, integrity."""

from __future__ import annotations

import asyncio
import resource
import socket
from pathlib import Path

import pytest

from conftest import RunningServer
from files_helpers import MiB, blobs, leftover_uploads, make_file, random_file, sha256
from helpers import logged_in, next_event, unique
from roost.client import ErrorCode, FileSaved, Message, RoostError, TransferCancelled


async def test_text_binary_and_empty_files_round_trip(server, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    text = "héllo, wörld\n" * 1000
    (tmp_path / "notes.txt").write_text(text, encoding="utf-8")
    binary = random_file(tmp_path / "random.bin", 300_001)
    (tmp_path / "empty").write_bytes(b"")
    async with logged_in(server) as alice, logged_in(server) as bob:
        for name, content in [
            ("notes.txt", text.encode()),
            ("random.bin", binary),
            ("empty", b""),
        ]:
            sent = await alice.upload(tmp_path / name, "general", text=f"here is {name}")
            info = sent.file
            assert info.name == name and info.size == len(content)
            assert info.sha256 == sha256(content)
            offer = await next_event(bob, Message, seq=sent.seq)
            assert offer.file == info and offer.sender == alice.user
            assert offer.text == f"here is {name}"
            saved = await bob.download(info.id, out)
            assert saved == out / name and saved.read_bytes() == content
        assert (await alice.file_info(info.id)).file.media_type == "application/octet-stream"
        media = (await bob.latest("general", 3))[0].file
        assert media is not None and media.media_type == "text/plain"
    assert sorted(p.name for p in out.iterdir()) == ["empty", "notes.txt", "random.bin"]
    assert {sha256(b""), sha256(binary)} <= blobs(server)
    assert leftover_uploads(server) == []


async def test_offline_recipient_downloads_from_history(server, tmp_path: Path) -> None:
    bob_name = unique("bob")
    async with logged_in(server, bob_name):
        pass  # bob exists, then goes offline
    data = make_file(tmp_path / "for-bob.pdf", 200_000)
    async with logged_in(server) as alice:
        sent = await alice.upload(tmp_path / "for-bob.pdf", "@" + bob_name)
        assert sent.room.startswith("@")
    async with logged_in(server, bob_name) as bob:
        offers = [m async for m in bob.history("@" + alice.user) if m.file is not None]
        assert [m.file.id for m in offers if m.file] == [sent.file.id]
        assert offers[0].file is not None and offers[0].file.media_type == "application/pdf"
        saved = await bob.download(sent.file.id, tmp_path / "copy.pdf")
    assert saved == tmp_path / "copy.pdf" and saved.read_bytes() == data


async def test_unicode_and_hostile_names_stay_inside_the_folder(server, tmp_path: Path) -> None:
    out = tmp_path / "inbox"
    out.mkdir()
    src = tmp_path / "payload"
    data = make_file(src, 1000)
    cases = {
        "日本語 ファイル ☕.txt": "日本語 ファイル ☕.txt",
        "../../etc/passwd": "passwd",
        "/tmp/absolute.sh": "absolute.sh",
        "..\\..\\boot.ini": "boot.ini",
        "evil\x00name\x1b[2J.txt": "evilname[2J.txt",
        "CON": "_CON",
        "nul.txt": "_nul.txt",
        "dots...  ": "dots",
        "..": "file",
        "x" * 400 + ".png": None,
    }
    async with logged_in(server) as alice, logged_in(server) as bob:
        for offered, expected in cases.items():
            sent = await alice.upload(src, "general", name=offered)
            shown = sent.file.name
            assert "/" not in shown and "\\" not in shown and "\x00" not in shown
            saved = await bob.download(sent.file.id, out)
            assert saved.parent == out, offered
            assert saved.read_bytes() == data
            if expected is not None:
                assert saved.name == expected, offered
            else:
                assert saved.name.endswith(".png") and len(saved.name.encode()) <= 255
    assert not (tmp_path / "etc").exists() and not Path("/tmp/absolute.sh").exists()
    assert len(list(out.iterdir())) == len(cases)


async def test_downloads_never_overwrite(server, tmp_path: Path) -> None:
    data = make_file(tmp_path / "photo.jpg", 5000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo.jpg").write_bytes(b"mine, keep me")
    async with logged_in(server) as alice:
        sent = await alice.upload(tmp_path / "photo.jpg", "general")
        first = await alice.download(sent.file.id, out)
        second = await alice.download(sent.file.id, out)
        chosen = await alice.download(sent.file.id, out / "photo.jpg")
    assert [first.name, second.name, chosen.name] == [
        "photo (1).jpg",
        "photo (2).jpg",
        "photo (3).jpg",
    ]
    assert (out / "photo.jpg").read_bytes() == b"mine, keep me"
    assert all(p.read_bytes() == data for p in (first, second, chosen))
    assert not list(out.glob("*.part"))


async def test_size_limit_exactly_at_and_one_byte_over(server, tmp_path: Path) -> None:
    limit = 10 * MiB
    make_file(tmp_path / "at-limit.bin", limit)
    make_file(tmp_path / "over.bin", limit + 1)
    make_file(tmp_path / "way-over.bin", 11 * MiB)
    async with logged_in(server) as alice:
        assert alice.limits is not None and alice.limits.max_file_size == limit
        sent = await alice.upload(tmp_path / "at-limit.bin", "general")
        assert sent.file.size == limit
        moved: list[int] = []
        with pytest.raises(RoostError) as over:
            await alice.upload(
                tmp_path / "over.bin", "general", progress=lambda d, t: moved.append(d)
            )
        assert over.value.code == ErrorCode.TOO_LARGE
        assert over.value.message == (
            "over.bin: 10,485,761 bytes exceeds the 10,485,760-byte limit"
        )
        assert moved == []  # refused before any data moved
        with pytest.raises(RoostError) as way_over:
            await alice.upload(tmp_path / "way-over.bin", "general")
        assert way_over.value.message == "way-over.bin: 11.0 MiB exceeds the 10.0 MiB limit"
        await alice.send("general", "still fine")  # the connection is unharmed
    assert leftover_uploads(server) == []


async def test_quota_and_concurrent_transfer_limits(server_factory, tmp_path: Path) -> None:
    srv = server_factory(user_quota=100_000, max_transfers=2)
    make_file(tmp_path / "a.bin", 60_000, seed=1)
    make_file(tmp_path / "b.bin", 60_000, seed=2)
    async with logged_in(srv) as alice, logged_in(srv) as bob:
        await alice.upload(tmp_path / "a.bin", "general")
        with pytest.raises(RoostError) as exc:
            await alice.upload(tmp_path / "b.bin", "general")
        assert exc.value.code == ErrorCode.QUOTA_EXCEEDED
        assert "would exceed your 97.7 KiB storage quota (58.6 KiB in use)" in exc.value.message
        # Quotas are per user.
        await bob.upload(tmp_path / "b.bin", "general")

        from roost.protocol.messages import Upload, UploadResult

        started = [
            await alice._call(Upload(id=0, to="general", name=f"{i}", size=10), UploadResult)
            for i in range(2)
        ]
        assert all(r.offset == 0 for r in started)
        with pytest.raises(RoostError) as busy:
            await alice._call(Upload(id=0, to="general", name="third", size=10))
        assert busy.value.code == ErrorCode.TOO_MANY_TRANSFERS
        assert "the limit is 2 at a time" in busy.value.message


async def test_corrupted_chunk_is_rejected_and_leaves_nothing(server) -> None:
    from roost.protocol.messages import Put, Upload, UploadDone, UploadResult

    good = b"the real content " * 100
    bad = bytearray(good)
    bad[500] ^= 0x01
    async with logged_in(server) as alice:
        last = (await alice.history_page("general", 0, 0, 1)).last_seq
        up: UploadResult = await alice._call(
            Upload(id=0, to="general", name="x.txt", size=len(good)), UploadResult
        )
        assert await alice._call(
            Put(id=0, upload=up.upload, offset=0, data=memoryview(bad))
        ) == len(good)
        with pytest.raises(RoostError) as exc:
            await alice._call(UploadDone(id=0, upload=up.upload, sha256=sha256(good)))
        assert exc.value.code == ErrorCode.INTEGRITY
        assert "do not match the SHA-256" in exc.value.message
        assert (await alice.history_page("general", 0, 0, 1)).last_seq == last  # no offer
        # The upload is gone: it cannot be completed by sending more.
        with pytest.raises(RoostError) as gone:
            await alice._call(UploadDone(id=0, upload=up.upload, sha256=sha256(good)))
        assert gone.value.code == ErrorCode.NO_SUCH_FILE
    assert sha256(good) not in blobs(server) and sha256(bytes(bad)) not in blobs(server)
    assert leftover_uploads(server) == []


async def test_bad_chunks_get_clear_errors(server_factory) -> None:
    from roost.protocol.messages import Put, Upload, UploadResult

    srv = server_factory(chunk_size=4096)
    async with logged_in(srv) as alice, logged_in(srv) as mallory:
        up: UploadResult = await alice._call(
            Upload(id=0, to="general", name="x", size=5000), UploadResult
        )
        cases = [
            (alice, Put(id=0, upload=up.upload, offset=10, data=memoryview(b"x")), "expected 0"),
            (alice, Put(id=0, upload=up.upload, offset=0, data=memoryview(bytes(4097))), "4097"),
            (mallory, Put(id=0, upload=up.upload, offset=0, data=memoryview(b"x")), "no upload"),
            (alice, Put(id=0, upload="nope", offset=0, data=memoryview(b"x")), "no upload"),
        ]
        for who, put, words in cases:
            with pytest.raises(RoostError) as exc:
                await who._call(put)
            assert words in exc.value.message
        assert await alice._call(
            Put(id=0, upload=up.upload, offset=0, data=memoryview(bytes(4096)))
        )
        with pytest.raises(RoostError) as exc:
            await alice._call(
                Put(id=0, upload=up.upload, offset=4096, data=memoryview(bytes(1000)))
            )
        assert "more data than the 5000 bytes announced" in exc.value.message


async def test_corrupted_blob_is_detected_by_the_client(server, tmp_path: Path) -> None:
    data = make_file(tmp_path / "doc.bin", 100_000)
    out = tmp_path / "out"
    out.mkdir()
    async with logged_in(server) as alice:
        sent = await alice.upload(tmp_path / "doc.bin", "general")
        blob = Path(server.data_dir) / "blobs" / sent.file.sha256[:2] / sent.file.sha256
        damaged = bytearray(blob.read_bytes())
        damaged[12_345] ^= 0xFF
        blob.write_bytes(bytes(damaged))
        with pytest.raises(RoostError) as exc:
            await alice.download(sent.file.id, out)
        assert exc.value.code == ErrorCode.INTEGRITY
        blob.write_bytes(data)  # repaired: now it downloads
        saved = await alice.download(sent.file.id, out)
    assert [p.name for p in out.iterdir()] == ["doc.bin"] and saved.read_bytes() == data


async def test_files_are_private_to_their_conversation(server, tmp_path: Path) -> None:
    make_file(tmp_path / "secret.txt", 100)
    room = unique("room")
    async with logged_in(server) as alice, logged_in(server) as bob, logged_in(server) as eve:
        await alice.join(room)
        await bob.join(room)
        in_room = await alice.upload(tmp_path / "secret.txt", room)
        direct = await alice.upload(tmp_path / "secret.txt", "@" + bob.user)
        await bob.download(in_room.file.id, tmp_path / "a")
        await bob.download(direct.file.id, tmp_path / "b")
        for file_id in (in_room.file.id, direct.file.id, "doesnotexist"):
            with pytest.raises(RoostError) as exc:
                await eve.download(file_id, tmp_path)
            assert exc.value.code == ErrorCode.NO_SUCH_FILE
            assert exc.value.message == f"no file with id {file_id!r}"
        with pytest.raises(RoostError) as exc:
            await eve.upload(tmp_path / "secret.txt", room)
        assert exc.value.code == ErrorCode.NOT_A_MEMBER
    assert not list(tmp_path.glob("secret*.part"))


async def test_expiry_by_the_sweeper_frees_blob_and_quota(server_factory, tmp_path: Path) -> None:
    srv = server_factory(file_retention=1.0, user_quota=150_000)
    data = make_file(tmp_path / "old.bin", 100_000)
    async with logged_in(srv) as alice:
        sent = await alice.upload(tmp_path / "old.bin", "general")
        assert sent.file.sha256 in blobs(srv)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            try:
                await alice.file_info(sent.file.id)
            except RoostError as exc:
                assert exc.code == ErrorCode.NO_SUCH_FILE and "expired on" in exc.message
                break
            assert loop.time() < deadline, "the file never expired"
            await asyncio.sleep(0.2)
        with pytest.raises(RoostError) as exc:
            await alice.download(sent.file.id, tmp_path / "again")
        assert exc.value.code == ErrorCode.NO_SUCH_FILE
        assert sent.file.sha256 not in blobs(srv)
        # The offer stays in history; the quota is free again.
        assert (await alice.latest("general", 1))[0].file == sent.file
        again = await alice.upload(tmp_path / "old.bin", "general")
        assert again.file.sha256 == sha256(data)


async def test_identical_files_share_one_blob(server, tmp_path: Path) -> None:
    data = make_file(tmp_path / "same.bin", 50_000)
    async with logged_in(server) as alice, logged_in(server) as bob:
        one = await alice.upload(tmp_path / "same.bin", "general")
        two = await bob.upload(tmp_path / "same.bin", "general", name="copy.bin")
    assert one.file.id != two.file.id and one.file.sha256 == two.file.sha256 == sha256(data)
    assert len([b for b in blobs(server) if b == sha256(data)]) == 1


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def test_full_disk_gives_storage_error_and_no_blob(tmp_path: Path) -> None:
    # The kernel refuses writes past RLIMIT_FSIZE (EFBIG) as a full disk would (ENOSPC).
    srv = RunningServer(tmp_path / "data", {}, preexec=lambda: _limit_file_size(3 * MiB))
    srv.start()
    try:
        big = make_file(tmp_path / "big.bin", 5 * MiB)
        small = make_file(tmp_path / "small.bin", 10_000)
        async with logged_in(srv) as alice:
            with pytest.raises(RoostError) as exc:
                await alice.upload(tmp_path / "big.bin", "general")
            assert exc.value.code == ErrorCode.STORAGE
            assert "no room for this file" in exc.value.message
            assert sha256(big) not in blobs(srv) and leftover_uploads(srv) == []
            await alice.send("general", "chat still works")
            sent = await alice.upload(tmp_path / "small.bin", "general")
            assert sent.file.sha256 == sha256(small) in blobs(srv)
    finally:
        srv.stop()


async def test_auto_accept_saves_offers_from_others(server, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    data = make_file(tmp_path / "auto.txt", 70_000)
    async with logged_in(server, auto_accept=inbox) as bob, logged_in(server) as alice:
        await bob.upload(tmp_path / "auto.txt", "general", name="bobs-own.txt")
        sent = await alice.upload(tmp_path / "auto.txt", "general")
        saved = await next_event(bob, FileSaved, timeout=10)
        assert saved.error == "" and saved.file == sent.file
        assert Path(saved.path) == inbox / "auto.txt" and Path(saved.path).read_bytes() == data
    assert sorted(p.name for p in inbox.iterdir()) == ["auto.txt"]  # not bob's own upload


async def test_interrupted_uploads_per_user_are_bounded(server_factory) -> None:
    from roost.protocol.messages import Upload, UploadResult

    srv = server_factory(max_transfers=2)
    name = unique("alice")
    first: list[str] = []
    for round_ in range(3):
        async with logged_in(srv, name) as alice:
            res = await alice._call(
                Upload(id=0, to="general", name=f"f{round_}", size=100), UploadResult
            )
            first.append(res.upload)
        await asyncio.sleep(0.2)  # the server sees the connection end
    # Two interrupted uploads are kept (the limit); the oldest went to make room.
    assert sorted(leftover_uploads(srv)) == sorted(f"{u}.part" for u in first[1:])
    async with logged_in(srv, name) as alice:
        again = await alice._call(
            Upload(id=0, to="general", name="f0", size=100, resume=first[0]), UploadResult
        )
        kept = await alice._call(
            Upload(id=0, to="general", name="f2", size=100, resume=first[2]), UploadResult
        )
    assert again.upload != first[0] and kept.upload == first[2]


async def test_one_download_per_part_file(server_factory, tmp_path: Path) -> None:
    srv = server_factory(max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "twice.bin", 16 * MiB)
    out = tmp_path / "out"
    out.mkdir()
    async with logged_in(srv) as alice:
        sent = await alice.upload(tmp_path / "twice.bin", "general")
        results = await asyncio.gather(
            alice.download(sent.file.id, out),
            alice.download(sent.file.id, out),
            return_exceptions=True,
        )
    saved = [r for r in results if isinstance(r, Path)]
    refused = [r for r in results if isinstance(r, RoostError)]
    assert len(saved) == 1 and len(refused) == 1, results
    assert "is being downloaded already" in refused[0].message
    assert saved[0].read_bytes() == data and list(out.iterdir()) == saved


async def test_bounded_receive_buffer_still_downloads_and_chats(server, tmp_path: Path) -> None:
    """recv_buffer caps the client's socket buffer; a download and chat beside it still work."""
    data = random_file(tmp_path / "big.bin", 3 * MiB + 17)
    out = tmp_path / "out"
    out.mkdir()
    async with logged_in(server) as alice, logged_in(server, recv_buffer=32 * 1024) as bob:
        sock = bob._stream.get_extra_info("socket") if bob._stream else None
        assert sock is not None
        # Linux reports twice the request (bookkeeping); autotuning would start at 128 KiB.
        assert 32 * 1024 <= sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 64 * 1024
        sent = await alice.upload(tmp_path / "big.bin", "@" + bob.user)
        fetch = asyncio.create_task(bob.download(sent.file.id, out))
        chat = await alice.send("@" + bob.user, "during the download", priority=0)
        got = await next_event(bob, Message, seq=chat.seq)
        assert got.text == "during the download"
        saved = await asyncio.wait_for(fetch, 30)
    assert saved.read_bytes() == data


async def test_transfer_cancelled_from_progress_is_dropped_on_both_ends(
    server_factory, tmp_path: Path
) -> None:
    # one transfer at a time: the next one only starts if the cancelled one was let go
    srv = server_factory(max_transfers=1)
    make_file(tmp_path / "a.bin", 3 * MiB)

    def stop_after_first_bytes(done: int, total: int) -> None:
        if done > 0:
            raise TransferCancelled("enough")

    async with logged_in(srv) as alice:
        with pytest.raises(TransferCancelled) as err:
            await alice.upload(tmp_path / "a.bin", "general", progress=stop_after_first_bytes)
        assert err.value.code == ErrorCode.CANCELLED
        sent = await alice.upload(tmp_path / "a.bin", "general")
        assert sent.file.size == 3 * MiB
        assert leftover_uploads(srv) == []  # the cancelled upload was discarded, not kept

        inbox = tmp_path / "inbox"
        inbox.mkdir()
        with pytest.raises(TransferCancelled):
            await alice.download(sent.file.id, inbox, progress=stop_after_first_bytes)
        assert list(inbox.iterdir()) == []  # no .part kept
        saved = await alice.download(sent.file.id, inbox)
        assert saved.read_bytes() == (tmp_path / "a.bin").read_bytes()


async def test_a_small_max_frame_takes_the_largest_chunk_that_fits(
    server_factory, tmp_path: Path
) -> None:
    # A configuration from before 192 KiB chunks (max_frame 128 KiB) still starts,
    # with chunks 1 KiB below the frame limit, and files still move whole.
    srv = server_factory(max_frame=131072)
    data = make_file(tmp_path / "photo.jpg", 3 * 131072 + 5)
    async with logged_in(srv) as alice, logged_in(srv) as bob:
        assert alice.limits.max_frame == 131072
        assert alice.limits.chunk_size == 131072 - 1024
        sent = await alice.upload(tmp_path / "photo.jpg", "general")
        saved = await bob.download(sent.file.id, tmp_path / "copy.jpg")
    assert saved.read_bytes() == data
