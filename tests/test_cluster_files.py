"""Files across the nodes of a cluster: one shared blob folder, quotas counted once."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from cluster_helpers import Balancer
from files_helpers import MiB, make_file, sha256
from helpers import client_for, logged_in, next_event, unique
from roost.client import Message, RoostError
from roost.protocol.messages import (
    FileResult,
    Put,
    Upload,
    UploadCancel,
    UploadDone,
    UploadResult,
)
from test_files_resume import cut_once_at


async def test_uploaded_through_one_node_downloaded_through_another(
    cluster: Any, tmp_path: Path
) -> None:
    shared = tmp_path / "blobs"
    a, b = cluster(2, blob_dir=str(shared))
    data = make_file(tmp_path / "report.bin", 3 * MiB + 17)
    name = unique("up")
    async with logged_in(a, name) as alice, logged_in(b, unique("down")) as bob:
        sent = await alice.upload(tmp_path / "report.bin", "general", text="the report")
        offer = await next_event(bob, Message, text="the report")
        assert offer.file is not None and offer.file.id == sent.file.id
        saved = await bob.download(offer.file.id, tmp_path / "copy.bin")
        assert sha256(saved.read_bytes()) == sha256(data) == sent.file.sha256
    assert (shared / "blobs" / sent.file.sha256[:2] / sent.file.sha256).is_file()


async def test_the_quota_counts_what_was_stored_through_every_node(
    cluster: Any, tmp_path: Path
) -> None:
    a, b = cluster(2, blob_dir=str(tmp_path / "blobs"), user_quota=3 * MiB)
    for seed, size in ((1, MiB), (2, 3 * MiB // 2), (3, MiB)):
        make_file(tmp_path / f"{seed}.bin", size, seed=seed)
    name = unique("q")
    async with logged_in(b, name) as on_b:
        await on_b.upload(tmp_path / "1.bin", "general")  # node b now counts 1 MiB used
        async with logged_in(a, name, register=False) as on_a:
            await on_a.upload(tmp_path / "2.bin", "general")  # 2.5 MiB in all
        # Node b's count must have heard of the upload through node a: 3.5 > 3 MiB.
        with pytest.raises(RoostError) as err:
            await on_b.upload(tmp_path / "3.bin", "general")
        assert err.value.code == "quota_exceeded"


async def test_the_quota_counts_uploads_in_progress_on_every_node(
    cluster: Any, tmp_path: Path
) -> None:
    """An upload under way on node a (live, then handed over) reserves its
    size on node b too: node b refuses an offer that would go over the quota."""
    a, b = cluster(2, blob_dir=str(tmp_path / "blobs"), user_quota=MiB)
    name = unique("q")
    big, small = 700 * 1024, 500 * 1024

    def offer(size: int, file: str) -> Upload:
        return Upload(id=0, to="general", name=file, size=size)

    async with logged_in(b, name) as on_b:
        async with logged_in(a, name, register=False, reconnect=False) as on_a:
            first = await on_a._call(offer(big, "big.bin"), UploadResult)
            await on_a._call(Put(id=0, upload=first.upload, offset=0, data=b"x" * 4000))
            with pytest.raises(RoostError) as err:
                await on_b._call(offer(small, "small.bin"), UploadResult)
            assert err.value.code == "quota_exceeded"
            assert "700.0 KiB in use" in str(err.value), str(err.value)
            # Cancelled on node a, its bytes are free on node b at once.
            await on_a._call(UploadCancel(id=0, upload=first.upload))
            mine = await on_b._call(offer(small, "small.bin"), UploadResult)
            await on_b._call(UploadCancel(id=0, upload=mine.upload))
            second = await on_a._call(offer(big, "again.bin"), UploadResult)
            await on_a._call(Put(id=0, upload=second.upload, offset=0, data=b"y" * 4000))
        # Node a's client went: the upload waits for a resume, still reserved.
        uploads = tmp_path / "blobs" / "uploads"
        for _ in range(100):
            if (uploads / f"{second.upload}.json").exists():
                break
            await asyncio.sleep(0.05)
        with pytest.raises(RoostError) as err:
            await on_b._call(offer(small, "small.bin"), UploadResult)
        assert err.value.code == "quota_exceeded"
        # What fits beside it is taken.
        fits = await on_b._call(offer(MiB - big, "fits.bin"), UploadResult)
        assert fits.offset == 0


async def test_an_upload_cut_on_one_node_resumes_on_another(cluster: Any, tmp_path: Path) -> None:
    """The reconnect lands on the other node, which takes the upload over from its offset."""
    shared = tmp_path / "blobs"
    nodes = cluster(2, blob_dir=str(shared), max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "big.bin", 12 * MiB + 5)
    seen: list[int] = []
    async with Balancer(nodes) as lb:
        alice = client_for(lb, unique("up"), max_backoff=0.2)
        await alice.start()
        try:
            sent = await alice.upload(
                tmp_path / "big.bin", "general", progress=cut_once_at(alice, 2 * MiB, seen)
            )
        finally:
            await alice.close()
    assert sent.file.sha256 == sha256(data) and sent.file.size == len(data)
    cut = seen.index(-1)
    resumed_from = seen[cut + 1]
    assert 0 < resumed_from < len(data), "went on from the first node's offset"
    assert seen[-1] == len(data)
    # No ticket or part file is left behind, on either side.
    assert sorted(p.name for p in (shared / "uploads").iterdir()) == []
    async with logged_in(nodes[0]) as bob:
        saved = await bob.download(sent.file.id, tmp_path / "copy.bin")
    assert saved.read_bytes() == data


async def test_a_stopped_node_leaves_its_uploads_and_the_sweep_ends_forgotten_ones(
    cluster: Any, tmp_path: Path
) -> None:
    shared = tmp_path / "blobs"
    # Long enough for node b's login and resume under a loaded CI machine, which
    # must come before its sweep ends the handed-over upload (1.5 s was not).
    a, b = cluster(2, blob_dir=str(shared), upload_timeout=4.0)
    name = unique("up")
    body = b"0123456789" * 1000
    async with logged_in(a, name, reconnect=False) as alice:
        started = await alice._call(
            Upload(id=0, to="general", name="half.bin", size=len(body)), UploadResult
        )
        await alice._call(Put(id=0, upload=started.upload, offset=0, data=body[:4000]))
        forgotten = await alice._call(
            Upload(id=0, to="general", name="never.bin", size=10), UploadResult
        )
    a.stop()  # SIGTERM: its uploads are handed over, not deleted
    async with logged_in(b, name, register=False, reconnect=False) as again:
        resumed = await again._call(
            Upload(id=0, to="general", name="half.bin", size=len(body), resume=started.upload),
            UploadResult,
        )
        assert (resumed.upload, resumed.offset) == (started.upload, 4000)
        assert resumed.prefix_sha256 == hashlib.sha256(body[:4000]).hexdigest()
        await again._call(Put(id=0, upload=started.upload, offset=4000, data=body[4000:]))
        done = await again._call(
            UploadDone(id=0, upload=started.upload, sha256=hashlib.sha256(body).hexdigest()),
            FileResult,
        )
        assert done.file.size == len(body)
        # The one nobody resumes is swept by node b once upload_timeout has passed.
        uploads = shared / "uploads"
        assert (uploads / f"{forgotten.upload}.json").exists()
        for _ in range(200):
            if not any(uploads.iterdir()):
                break
            await asyncio.sleep(0.1)
        assert sorted(p.name for p in uploads.iterdir()) == []


async def test_a_node_dropping_an_upload_it_handed_over_leaves_the_new_holders_file(
    cluster: Any, tmp_path: Path
) -> None:
    """Node a still lists the upload it handed over when node b takes it; a's
    limit on interrupted uploads then drops it, and must not delete b's file."""
    shared = tmp_path / "blobs"
    a, b = cluster(2, blob_dir=str(shared), max_transfers=1, upload_timeout=600)
    name = unique("up")
    body = b"abcdefghij" * 1000
    async with logged_in(a, name, reconnect=False) as first:
        started = await first._call(
            Upload(id=0, to="general", name="moved.bin", size=len(body)), UploadResult
        )
        await first._call(Put(id=0, upload=started.upload, offset=0, data=body[:4000]))
    ticket = shared / "uploads" / f"{started.upload}.json"
    for _ in range(50):
        if ticket.exists():
            break
        await asyncio.sleep(0.05)
    async with logged_in(b, name, register=False, reconnect=False) as on_b:
        resumed = await on_b._call(
            Upload(id=0, to="general", name="moved.bin", size=len(body), resume=started.upload),
            UploadResult,
        )
        assert resumed.offset == 4000
        async with logged_in(a, name, register=False, reconnect=False) as on_a:
            # One interrupted upload at most per user (max_transfers): a drops its own.
            await on_a._call(Upload(id=0, to="general", name="other.bin", size=10), UploadResult)
        await on_b._call(Put(id=0, upload=started.upload, offset=4000, data=body[4000:]))
        done = await on_b._call(
            UploadDone(id=0, upload=started.upload, sha256=hashlib.sha256(body).hexdigest()),
            FileResult,
        )
        assert done.file.size == len(body)
        saved = await on_b.download(done.file.id, tmp_path / "copy.bin")
        assert saved.read_bytes() == body


def _live_tickets(shared: Path, upload_id: str = "*") -> list[str]:
    return sorted(p.name for p in (shared / "uploads").glob(f"{upload_id}.*.live"))


async def test_an_upload_whose_node_was_killed_resumes_on_another(
    cluster: Any, tmp_path: Path
) -> None:
    """kill -9: the node writes no ticket. Its live ticket names it; once the bus
    counts it dead, the other node takes the upload over from the part file."""
    shared = tmp_path / "blobs"
    nodes = cluster(2, blob_dir=str(shared), max_file_size=64 * MiB, user_quota=256 * MiB)
    data = make_file(tmp_path / "big.bin", 12 * MiB + 5)
    seen: list[int] = []
    live_before: list[str] = []

    def kill_once_at(done: int, total: int) -> None:
        seen.append(done)
        if -1 not in seen and done >= 2 * MiB:
            live_before.extend(_live_tickets(shared))
            seen.append(-1)
            nodes[0].kill9()  # the balancer put the client's first connection there

    async with Balancer(nodes) as lb:
        alice = client_for(lb, unique("up"), max_backoff=0.2)
        await alice.start()
        try:
            sent = await asyncio.wait_for(
                alice.upload(tmp_path / "big.bin", "general", progress=kill_once_at), 60
            )
        finally:
            await alice.close()
    assert nodes[0].proc is None, "node a was killed"
    assert len(live_before) == 1, "node a's live ticket was out"
    assert sent.file.sha256 == sha256(data) and sent.file.size == len(data)
    cut = seen.index(-1)
    resumed_from = seen[cut + 1]
    assert 0 < resumed_from < len(data), "went on from what the dead node wrote"
    assert seen[-1] == len(data)
    # The dead node's live ticket was taken, node b's own removed with the part file.
    assert sorted(p.name for p in (shared / "uploads").iterdir()) == []
    async with logged_in(nodes[1]) as bob:
        saved = await bob.download(sent.file.id, tmp_path / "copy.bin")
    assert sha256(saved.read_bytes()) == sha256(data)


async def test_a_live_ticket_of_a_node_that_is_alive_is_not_taken(
    cluster: Any, tmp_path: Path
) -> None:
    """A resume through node b of an upload node a still holds (its client has
    not left it) starts afresh, however long b waits and sweeps: a goes on."""
    shared = tmp_path / "blobs"
    a, b = cluster(2, blob_dir=str(shared), upload_timeout=1.0)
    name = unique("up")
    body = b"0123456789" * 1000
    async with logged_in(a, name, reconnect=False) as alice:
        started = await alice._call(
            Upload(id=0, to="general", name="held.bin", size=len(body)), UploadResult
        )
        await alice._call(Put(id=0, upload=started.upload, offset=0, data=body[:4000]))
        live = _live_tickets(shared, started.upload)
        assert len(live) == 1, "node a published a live ticket for the upload"
        async with logged_in(b, name, register=False, reconnect=False) as other:
            by_id = await other._call(
                Upload(id=0, to="general", name="held.bin", size=len(body), resume=started.upload),
                UploadResult,
            )
            assert by_id.upload != started.upload and by_id.offset == 0
            by_name = await other._call(
                Upload(id=0, to="general", name="held.bin", size=len(body)), UploadResult
            )
            assert by_name.upload != started.upload and by_name.offset == 0
            # Past upload_timeout: node b's sweeps ran and left node a's upload alone.
            await asyncio.sleep(1.5)
            assert _live_tickets(shared, started.upload) == live
            assert (shared / "uploads" / f"{started.upload}.part").exists()
            for up in (by_id.upload, by_name.upload):
                await other._call(UploadCancel(id=0, upload=up))
        await alice._call(Put(id=0, upload=started.upload, offset=4000, data=body[4000:]))
        done = await alice._call(
            UploadDone(id=0, upload=started.upload, sha256=hashlib.sha256(body).hexdigest()),
            FileResult,
        )
        assert done.file.size == len(body)
    assert _live_tickets(shared) == [], "removed once the upload completed"


async def test_the_sweep_ends_an_upload_whose_node_died_holding_it(
    cluster: Any, tmp_path: Path
) -> None:
    shared = tmp_path / "blobs"
    a, _b = cluster(2, blob_dir=str(shared), upload_timeout=1.0)
    name = unique("up")
    async with logged_in(a, name, reconnect=False) as alice:
        started = await alice._call(
            Upload(id=0, to="general", name="lost.bin", size=10_000), UploadResult
        )
        await alice._call(Put(id=0, upload=started.upload, offset=0, data=b"x" * 4000))
        assert len(_live_tickets(shared, started.upload)) == 1
        a.kill9()
    uploads = shared / "uploads"
    # Node b sweeps it (with its part file) once a counts as dead and upload_timeout passed.
    for _ in range(300):
        if not any(uploads.iterdir()):
            break
        await asyncio.sleep(0.1)
    assert sorted(p.name for p in uploads.iterdir()) == []
