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

A node that dies without noticing its client go (``kill -9``, a power cut)
writes no ticket. So each node also publishes a *live ticket* for every
upload it holds (``ID.NODE.live``, NODE being its bus id): the same fields,
naming the node that holds the upload. ``claim`` never takes one. The holder
replaces it with the ticket when it hands the upload over (``publish``) and
removes it when the upload completes or is discarded (``end_live``). Another
node takes a live ticket (``claim_live``, again by a rename that one node
wins) only once the bus says its node is dead; the offset is then what the
part file holds (every ``os.write`` of the dead process reached the kernel),
and the client checks the prefix hash as for any resume.

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
# A node's bus id (hex), as it appears in the name of a live ticket.
NODE_ID = re.compile(r"[0-9a-f]{1,64}")


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


def live_path(folder: Path, upload_id: str, node: str) -> Path:
    return folder / f"{upload_id}.{node}.live"


def write_ticket(folder: Path, ticket: Ticket) -> None:
    """Publish ``ticket`` (written aside, then renamed: never seen half-written)."""
    final = ticket_path(folder, ticket.id)
    aside = final.with_suffix(".json-new")
    aside.write_bytes(msgspec.json.encode(asdict(ticket)))
    os.replace(aside, final)


def write_live(folder: Path, ticket: Ticket, node: str) -> None:
    """Publish the live ticket of an upload ``node`` holds (aside, then renamed)."""
    final = live_path(folder, ticket.id, node)
    aside = final.with_name(final.name + "-new")
    aside.write_bytes(msgspec.json.encode({**asdict(ticket), "received": 0, "node": node}))
    os.replace(aside, final)


def publish(folder: Path, ticket: Ticket, node: str, live: bool) -> bool:
    """Hand an upload over: its ticket replaces the live ticket ``node`` published.

    False (and nothing published) if that live ticket is gone: another node
    took the upload over, taking this node for dead (cut off from Redis).
    """
    if not live:
        write_ticket(folder, ticket)
        return True
    final = ticket_path(folder, ticket.id)
    aside = final.with_suffix(".json-new")
    aside.write_bytes(msgspec.json.encode(asdict(ticket)))
    own = live_path(folder, ticket.id, node)
    held = own.with_name(f"{own.name}-{node}")
    try:
        os.rename(own, held)  # the same rename another node's claim_live makes: one wins
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            aside.unlink()
        return False
    try:
        os.replace(aside, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.rename(held, own)
        raise
    with contextlib.suppress(OSError):
        held.unlink()
    return True


def end_live(folder: Path, upload_id: str, node: str) -> None:
    """Remove the live ticket ``node`` published (its upload completed or was discarded)."""
    with contextlib.suppress(OSError):
        live_path(folder, upload_id, node).unlink()


def claim(folder: Path, upload_id: str, node: str) -> Ticket | None:
    """Take the ticket of ``upload_id``; None if there is none (or another node won)."""
    if not UPLOAD_ID.fullmatch(upload_id):
        return None  # a client's resume value: never a path of its own
    path = ticket_path(folder, upload_id)
    raw = _take(path, path.with_suffix(f".json-{node}"))
    try:
        return Ticket(**raw) if raw is not None else None
    except TypeError:
        return None


def _take(path: Path, mine: Path) -> dict[str, Any] | None:
    """Rename the ticket at ``path`` to ``mine`` (one node wins) and read it; the
    renamed file is removed. None if it was gone, taken, or unreadable."""
    try:
        os.rename(path, mine)
    except OSError:
        return None
    try:
        raw = msgspec.json.decode(mine.read_bytes())
        return raw if isinstance(raw, dict) else None
    except (OSError, msgspec.DecodeError):
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


@dataclass(frozen=True)
class Live:
    """A live ticket: the upload ``ticket`` (received 0) held by ``node``."""

    node: str
    ticket: Ticket
    age: float  # seconds since the ticket or its part file last changed


def lives(folder: Path, upload_id: str = "*") -> list[Live]:
    """The live tickets published (of one upload, or of all); unreadable ones are skipped."""
    if upload_id != "*" and not UPLOAD_ID.fullmatch(upload_id):
        return []
    out = []
    now = time.time()
    for path in folder.glob(f"{upload_id}.*.live"):
        try:
            upload, node, _ = path.name.split(".")
            if not (UPLOAD_ID.fullmatch(upload) and NODE_ID.fullmatch(node)):
                continue
            changed = path.stat().st_mtime
            with contextlib.suppress(OSError):
                changed = max(changed, part_path(folder, upload).stat().st_mtime)
            raw = msgspec.json.decode(path.read_bytes())
            raw.pop("node", None)
            ticket = Ticket(**raw)
        except (OSError, ValueError, msgspec.DecodeError, TypeError):
            continue
        if ticket.id == upload:
            out.append(Live(node, ticket, now - changed))
    return out


def reserved_by(folder: Path, owner: str, skip: set[str]) -> int:
    """Bytes of ``owner``'s unfinished uploads that the tickets in ``folder`` name,
    each upload once, leaving out those in ``skip`` (the caller's own)."""
    sizes = {t.id: t.size for _, t in tickets(folder) if t.owner == owner}
    sizes |= {lv.ticket.id: lv.ticket.size for lv in lives(folder) if lv.ticket.owner == owner}
    return sum(size for upload_id, size in sizes.items() if upload_id not in skip)


def claim_live(folder: Path, upload_id: str, dead: str, node: str) -> Ticket | None:
    """Take the live ticket node ``dead`` published for ``upload_id`` (its node is
    dead: the caller asked the bus); None if there is none (or another node won).

    The ticket's ``received`` is what the part file holds now.
    """
    if not (UPLOAD_ID.fullmatch(upload_id) and NODE_ID.fullmatch(dead)):
        return None
    path = live_path(folder, upload_id, dead)
    raw = _take(path, path.with_name(f"{path.name}-{node}"))
    if raw is None:
        return None
    raw.pop("node", None)
    try:
        received = part_path(folder, upload_id).stat().st_size
        ticket = Ticket(**{**raw, "received": received})
    except (OSError, TypeError):
        return None
    if ticket.id != upload_id or not 0 <= received <= ticket.size:
        return None
    return ticket


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
