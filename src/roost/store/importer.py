"""Moving a single-process data folder (SQLite) into the cluster store (PostgreSQL).

Everything durable goes: accounts, session tokens, rooms (topics, privacy)
and memberships, room roles, invitations and room mutes,
messages with their seqs (and each room's counter), file records, sanctions,
the audit log, read markers, mentions and when each user was last seen. File bytes are blobs named by their SHA-256; they are
copied into the cluster's blob folder when one is given.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.postgres import PostgresStore

# Columns a data folder of an earlier Roost may not have yet (it has not been
# opened by this version): read as these values.
LATER_COLUMNS: dict[str, str] = {
    "topic": "''",
    "topic_by": "''",
    "topic_ts": "0",
    "private": "0",
    "deleted": "0",
    "renamed_to": "''",
}
# SQLite keeps these flags as 0/1; PostgreSQL wants booleans.
FLAGS = {"expired", "private", "deleted"}

# table -> columns, in the order both schemas share
TABLES: dict[str, list[str]] = {
    "accounts": ["name", "password_hash", "role", "priority", "status", "created"],
    "tokens": ["token_hash", "user", "expires"],
    "rooms": [
        "name",
        "creator",
        "created",
        "topic",
        "topic_by",
        "topic_ts",
        "private",
        "deleted",
        "renamed_to",
    ],
    "members": ["room", "user"],
    "room_users": ["room", "user", "role", "invited_by", "mute_expires", "mute_reason", "mute_by"],
    "files": [
        "id",
        "sha256",
        "name",
        "size",
        "media_type",
        "owner",
        "room",
        "created",
        "expires",
        "expired",
    ],
    "messages": [
        "room",
        "seq",
        "sender",
        "text",
        "ts",
        "priority",
        "file",
        "kind",
        "ref",
        "reply_to",
    ],
    "sanctions": ["kind", "target", "reason", "author", "created", "expires"],
    "audit": ["id", "ts", "actor", "action", "target", "reason", "detail"],
    # what each user has read and where they were mentioned (unread and mention
    # counts, the same on every device), and when each was last online
    "read_markers": ["user", "room", "seq"],
    "mentions": ["user", "room", "seq"],
    "last_seen": ["user", "ts"],
}


def read_folder(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of a data folder's database, read-only."""
    if not db_path.is_file():
        raise RoostError(ErrorCode.BAD_REQUEST, f"no Roost database at {db_path}")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table, cols in TABLES.items():
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            if not have:  # a table of a later version: nothing to move
                out[table] = []
                continue
            picked = ", ".join(f'"{c}"' if c in have else LATER_COLUMNS[c] for c in cols)
            rows = conn.execute(f"SELECT {picked} FROM {table}").fetchall()
            flags = [i for i, c in enumerate(cols) if c in FLAGS]
            if flags:
                rows = [tuple(bool(v) if i in flags else v for i, v in enumerate(r)) for r in rows]
            out[table] = rows
        return out
    finally:
        conn.close()


def copy_blobs(src: Path, dst: Path, shas: set[str]) -> int:
    """Copy the blobs ``shas`` from folder ``src`` to ``dst`` (same layout); returns how many."""
    copied = 0
    for sha in sorted(shas):
        source = src / "blobs" / sha[:2] / sha
        target = dst / "blobs" / sha[:2] / sha
        if not source.is_file() or target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_suffix(".import")
        shutil.copyfile(source, temp)
        temp.replace(target)  # atomic, as every blob write
        copied += 1
    return copied


async def import_folder(
    data_dir: Path, store: PostgresStore, blob_dir: Path | None
) -> dict[str, int]:
    """Import a data folder into an empty, migrated PostgreSQL store; counts per table."""
    rows = await asyncio.to_thread(read_folder, data_dir / "roost.db")
    counts = await store.bulk_import(TABLES, rows)
    shas = {r[1] for r in rows["files"]}
    if blob_dir is not None and blob_dir.resolve() != data_dir.resolve():
        counts["blobs copied"] = await asyncio.to_thread(copy_blobs, data_dir, blob_dir, shas)
    return counts
