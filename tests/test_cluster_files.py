"""Files across the nodes of a cluster: one shared blob folder, quotas counted once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from files_helpers import MiB, make_file, sha256
from helpers import logged_in, next_event, unique
from roost.client import Message, RoostError


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
