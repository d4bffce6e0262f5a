"""Interrupted uploads handed over through a shared blob folder, so any node resumes them.

With one process an interrupted upload waits in that process's memory. In a
cluster the client's reconnect may land on another node, so a node whose
upload loses its connection writes what it knows beside the part file: a
*ticket* (``ID.json`` in the uploads folder, the same folder every node
mounts). Whichever node resumes the upload first (the same one included)
*claims* the ticket by renaming it, an atomic step on the shared file system
that only one node wins; the winner reads the part file's first ``received``
bytes again to rebuild the SHA-256 state (hash states cannot be moved between
processes) and goes on writing. A node whose upload was claimed by another
forgets it without touching the file. A ticket that nobody claims within
``upload_timeout`` is swept, with its part file, by any node.

Runs on worker threads (file I/O); the callers are in roost.server.files.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from roost.fileio import sha256_prefix

# An upload id as roost.server.files.new_id makes them: nothing else names a file here.
UPLOAD_ID = re.compile(r"[a-z2-7]{12}")


@dataclass(frozen=True)
class Ticket:
    """What a node needs to take over an interrupted upload."""

    id: str
    owner: str
    key: str  # conversation
    name: str
    size: int
    media_type: str
    text: str
    received: int  # bytes in the part file, written and synced


def ticket_path(folder: Path, upload_id: str) -> Path:
    return folder / f"{upload_id}.json"


def part_path(folder: Path, upload_id: str) -> Path:
    return folder / f"{upload_id}.part"


def write_ticket(folder: Path, ticket: Ticket) -> None:
    """Publish ``ticket`` (written aside, then renamed: never seen half-written)."""
    final = ticket_path(folder, ticket.id)
    aside = final.with_suffix(".json-new")
    aside.write_bytes(msgspec.json.encode(asdict(ticket)))
    os.replace(aside, final)


def claim(folder: Path, upload_id: str, node: str) -> Ticket | None:
    """Take the ticket of ``upload_id``; None if there is none (or another node won)."""
    if not UPLOAD_ID.fullmatch(upload_id):
        return None  # a client's resume value: never a path of its own
    path = ticket_path(folder, upload_id)
    mine = path.with_suffix(f".json-{node}")
    try:
        os.rename(path, mine)
    except OSError:
        return None
    try:
        raw: dict[str, Any] = msgspec.json.decode(mine.read_bytes())
        return Ticket(**raw)
    except (OSError, msgspec.DecodeError, TypeError):
        return None
    finally:
        with contextlib.suppress(OSError):
            mine.unlink()


def tickets(folder: Path) -> list[tuple[float, Ticket]]:
    """Every published ticket with its age in seconds (unreadable ones are skipped)."""
    out = []
    now = time.time()
    for path in folder.glob("*.json"):
        try:
            raw = msgspec.json.decode(path.read_bytes())
            out.append((now - path.stat().st_mtime, Ticket(**raw)))
        except (OSError, msgspec.DecodeError, TypeError):
            continue
    return out


def reopen(folder: Path, ticket: Ticket) -> tuple[int, Any]:
    """Open the part file of a claimed ticket for appending: (fd, SHA-256 of its bytes).

    The file is cut to ``received`` (bytes past it were never acknowledged);
    a file shorter than that is refused (OSError).
    """
    path = part_path(folder, ticket.id)
    with path.open("rb") as f:
        hasher = sha256_prefix(f, ticket.received)
    if hasher is None:
        raise OSError(f"{path.name} holds fewer than {ticket.received} bytes")
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
    try:
        os.ftruncate(fd, ticket.received)
        os.lseek(fd, ticket.received, os.SEEK_SET)
        # Touched now: other nodes sweep part files without a ticket by their age.
        os.utime(fd)
    except OSError:
        os.close(fd)
        raise
    return fd, hasher


def discard(folder: Path, upload_id: str) -> None:
    """Delete the part file of an upload whose ticket this node claimed."""
    with contextlib.suppress(OSError):
        part_path(folder, upload_id).unlink()
