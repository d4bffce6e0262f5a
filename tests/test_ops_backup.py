"""`roost backup` of a running server under write load, `roost restore` into a fresh folder."""

from __future__ import annotations

import asyncio
import json
import time

from conftest import run_cli
from helpers import logged_in, unique
from roost.client import RoostError


async def test_backup_under_load_restores_every_acknowledged_message(
    server_factory, tmp_path
) -> None:
    srv = server_factory()
    room = unique("room")
    payload = tmp_path / "photo.bin"
    payload.write_bytes(bytes(range(256)) * 400)
    acked: dict[int, str] = {}
    async with logged_in(srv) as writer:
        await writer.join(room)
        offered = await writer.upload(payload, room, text="the photo")
        stop = asyncio.Event()

        async def load() -> None:
            # Pipelined sends, bounded in count and time.
            deadline = time.monotonic() + 30
            i = 0
            while not stop.is_set() and i < 20_000 and time.monotonic() < deadline:
                batch = [writer.send(room, f"m{i + k}") for k in range(20)]
                for k, res in enumerate(await asyncio.gather(*batch)):
                    acked[res.seq] = f"m{i + k}"
                i += 20

        task = asyncio.create_task(load())
        while len(acked) < 500:
            await asyncio.sleep(0.01)
        before = dict(acked)  # acknowledged before the backup began
        dest = tmp_path / "backup-1"
        res = await asyncio.to_thread(
            run_cli, "backup", str(dest), "--data-dir", str(srv.data_dir), "--json"
        )
        during = len(acked) - len(before)
        await asyncio.sleep(0.2)
        stop.set()
        await task
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert during > 0, "the load did not go on while the backup ran"
    assert info["messages"] >= len(before) + 1  # the file offer is a message too
    assert info["blobs"] == 1 and info["missing_blobs"] == []
    assert not (dest / "roost.db-wal").exists() and not (dest / "uploads").exists()
    assert not (dest / "roost.lock").exists()

    # A fresh folder: restored, served, and everything acknowledged before is there.
    fresh = tmp_path / "fresh"
    res = await asyncio.to_thread(run_cli, "restore", str(dest), "--data-dir", str(fresh))
    assert res.returncode == 0, res.stderr
    assert "restored" in res.stdout
    restored = server_factory("fresh")
    async with logged_in(restored, writer.user, register=False) as back:
        got = {m.seq: m.text async for m in back.history(room)}
        missing = {seq for seq in before if got.get(seq) != before[seq]}
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
        # Messages acknowledged after the backup began may or may not be in it; none is garbled.
        assert all(got[s] == t for s, t in acked.items() if s in got)
        saved = await back.download(offered.file.id, tmp_path / "photo-back.bin")
        assert saved.read_bytes() == payload.read_bytes()


async def test_restore_refuses_a_folder_with_data_unless_forced(server_factory, tmp_path) -> None:
    srv = server_factory()
    async with logged_in(srv) as a:
        await a.send("general", "kept")
    dest = tmp_path / "bk"
    assert run_cli("backup", str(dest), "--data-dir", str(srv.data_dir)).returncode == 0
    # The same destination twice: refused, the first backup untouched.
    again = run_cli("backup", str(dest), "--data-dir", str(srv.data_dir))
    assert again.returncode == 1 and "not an empty folder" in again.stderr
    assert (dest / "roost-backup.json").exists()
    # Never over the folder of a running server, even with --force.
    res = run_cli("restore", str(dest), "--data-dir", str(srv.data_dir), "--force")
    assert res.returncode == 1 and "in use by `roost serve`" in res.stderr, res.stderr
    assert "stop the server before restoring" in res.stderr
    # Not a backup at all.
    res = run_cli("restore", str(tmp_path), "--data-dir", str(tmp_path / "x"))
    assert res.returncode == 1 and "is not a Roost backup" in res.stderr
    # No database to back up.
    res = run_cli("backup", str(tmp_path / "bk2"), "--data-dir", str(tmp_path / "nothing"))
    assert res.returncode == 1 and "no Roost database" in res.stderr

    other = server_factory("other")
    async with logged_in(other) as b:
        await b.send("general", "other server's message")
    other.stop()
    res = run_cli("restore", str(dest), "--data-dir", str(other.data_dir))
    assert res.returncode == 1 and "is not empty" in res.stderr and "--force" in res.stderr
    res = run_cli("restore", str(dest), "--data-dir", str(other.data_dir), "--force", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["restored"] == str(other.data_dir)
    aside = list(tmp_path.glob("other.before-restore-*"))
    assert len(aside) == 1 and (aside[0] / "roost.db").exists()
    other.start()
    async with logged_in(other, a.user, register=False) as again_a:
        texts = [m.text async for m in again_a.history("general")]
        assert "kept" in texts and "other server's message" not in texts
    try:
        async with logged_in(other, b.user, register=False):
            pass
    except RoostError as exc:
        assert exc.code == "auth_failed"
    else:
        raise AssertionError("an account of the replaced folder survived the restore")
