"""Tickets of interrupted uploads in a shared folder (roost.server.upload_handover), on plain files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from roost.server import upload_handover as handover


def _ticket(received: int) -> handover.Ticket:
    return handover.Ticket(
        "abcdefgh2345", "alice", "general", "a.bin", 100, "text/plain", "a", received
    )


def test_only_one_claim_of_a_ticket_wins(tmp_path: Path) -> None:
    handover.write_ticket(tmp_path, _ticket(7))
    assert [t for _, t in handover.tickets(tmp_path)] == [_ticket(7)]
    assert handover.claim(tmp_path, "abcdefgh2345", "node-a") == _ticket(7)
    assert handover.claim(tmp_path, "abcdefgh2345", "node-b") is None
    assert handover.tickets(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_reopen_rebuilds_the_hash_and_cuts_unacknowledged_bytes(tmp_path: Path) -> None:
    (tmp_path / "abcdefgh2345.part").write_bytes(b"abcdefgh" + b"junk")
    fd, hasher = handover.reopen(tmp_path, _ticket(8))
    try:
        assert hasher.hexdigest() == hashlib.sha256(b"abcdefgh").hexdigest()
        os.write(fd, b"ij")
    finally:
        os.close(fd)
    assert (tmp_path / "abcdefgh2345.part").read_bytes() == b"abcdefghij"


def test_a_reopened_part_file_is_young_again(tmp_path: Path) -> None:
    # Other nodes sweep part files without a ticket by their age: a claimed
    # ticket is gone, so the file must not look as old as its last write.
    part = tmp_path / "abcdefgh2345.part"
    part.write_bytes(b"abcdefgh")
    os.utime(part, (1_000_000, 1_000_000))
    fd, _ = handover.reopen(tmp_path, _ticket(8))
    os.close(fd)
    assert time.time() - part.stat().st_mtime < 60


def test_a_part_file_shorter_than_its_ticket_is_refused(tmp_path: Path) -> None:
    (tmp_path / "abcdefgh2345.part").write_bytes(b"abc")
    with pytest.raises(OSError, match="fewer than 8 bytes"):
        handover.reopen(tmp_path, _ticket(8))


def test_unreadable_tickets_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_bytes(b"{not json")
    (tmp_path / "other.json").write_bytes(b'{"id": "x"}')
    handover.write_ticket(tmp_path, _ticket(1))
    assert [t.id for _, t in handover.tickets(tmp_path)] == ["abcdefgh2345"]
    assert handover.claim(tmp_path, "bad", "n") is None


def test_a_resume_value_is_never_a_path(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    victim = tmp_path / "secret.json"
    victim.write_text("{}")
    for hostile in ("../secret", str(tmp_path / "secret"), "", "UPPERCASE123"):
        assert handover.claim(folder, hostile, "node") is None
    assert victim.read_text() == "{}"
