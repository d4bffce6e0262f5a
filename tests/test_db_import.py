"""`roost db import`: a single-process data folder moved into PostgreSQL, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import migrated, run_cli
from files_helpers import make_file, sha256
from helpers import logged_in, unique
from modhelpers import staff


async def test_a_data_folder_moves_into_postgres_whole(
    server_factory: Any, pg_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    single = server_factory("single")
    data = make_file(tmp_path / "doc.bin", 200_000)
    ann, bob, room = unique("ann"), unique("bob"), unique("room")
    boss = await staff(single, "boss")
    async with logged_in(single, ann) as a, logged_in(single, bob) as b:
        await a.join(room)
        texts = [f"old {i}" for i in range(5)]
        for text in texts:
            await a.send(room, text)
        await a.send("@" + bob, "private")
        sent = await a.upload(tmp_path / "doc.bin", room)
        await b.send("general", "hello")
        await b.join(room)
        said = await b.send(room, f"@{ann} have a look")
        await a.mark_read(room, sent.seq)  # read up to the file, not bob's mention
        before = {u.room: (u.unread, u.mentions, u.read) for u in await a.unread()}
        assert before[room] == (1, 1, sent.seq)
    await boss.block(bob, reason="testing the import")
    await boss.close()
    single.stop()

    dsn = migrated(pg_dsn)
    shared = tmp_path / "shared-blobs"
    done = run_cli(
        "db", "import", "--from", str(single.data_dir), "--store", dsn,
        "--blob-dir", str(shared), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    moved = json.loads(done.stdout)["moved"]
    assert moved["accounts"] == 3 and moved["messages"] >= 8 and moved["files"] == 1
    assert moved["sanctions"] == 1 and moved["audit"] >= 1 and moved["blobs copied"] == 1
    assert moved["read_markers"] >= 1 and moved["mentions"] == 1 and moved["last_seen"] >= 2
    again = run_cli("db", "import", "--from", str(single.data_dir), "--store", dsn)
    assert again.returncode != 0 and "holds accounts or messages already" in again.stderr

    node = server_factory("node", store=dsn, bus=redis_url, blob_dir=str(shared))
    async with logged_in(node, ann, register=False) as a:
        # read markers and mentions came along: the same counts as before
        after = {u.room: (u.unread, u.mentions, u.read) for u in await a.unread()}
        assert after[room] == before[room]
        assert [m.seq for m in await a.mentions()] == [said.seq]
        page = await a.history_page(room)
        assert [m.text for m in page.messages][: len(texts)] == texts
        offer = page.messages[-2]
        assert offer.file is not None and offer.file.id == sent.file.id
        saved = await a.download(offer.file.id, tmp_path / "copy.bin")
        assert sha256(saved.read_bytes()) == sha256(data)
        dm = await a.history_page("@" + bob)
        assert [m.text for m in dm.messages] == ["private"]
        assert (await a.send(room, "new")).seq == said.seq + 1  # the counter continues
    async with logged_in(node, "boss", register=False) as admin:
        seen = {u.user: u.last_seen for u in await admin.users()}
        assert seen[bob] > 0  # offline, and still known when it was last here
    blocked = run_cli("send", "--server", node.address, "--user", bob, "general", "hi")
    assert blocked.returncode != 0 and "blocked" in blocked.stderr
