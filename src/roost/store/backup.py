"""Backup and restore of a data folder, while its server runs (`roost backup`, `roost restore`).

A backup is a folder: ``roost.db`` (a consistent copy made with SQLite's
online backup API, in one step, so it is the database as of one commit; the
server goes on writing meanwhile, since WAL readers block no writer), the
blobs, the rest of the data folder (the generated TLS pair, for one) and
``roost-backup.json`` describing it. The database is copied first and the
blobs after, so every blob a copied file record names is there (a blob
appears before the record that names it, and goes only once no unexpired
record names it).

Not copied: the WAL and shared-memory files (the copy has everything they
held), unfinished uploads (their clients resume them), and the data folder's
lock file, which belongs to the serving process.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.lock import LOCK_NAME, DataFolderLock

DB_NAME = "roost.db"
MANIFEST = "roost-backup.json"
FORMAT = 1
# Names in a data folder that a backup leaves out.
SKIP = frozenset({DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", "uploads", LOCK_NAME})


@dataclass(slots=True)
class BackupInfo:
    """What ``roost-backup.json`` says about a backup."""

    format: int
    created: float
    source: str
    messages: int
    accounts: int
    files: int
    blobs: int
    blob_bytes: int
    missing_blobs: list[str] = field(default_factory=list)


def _fail(message: str) -> RoostError:
    return RoostError(ErrorCode.BAD_REQUEST, message)


def backup(data_dir: Path, dest: Path) -> BackupInfo:
    """Copy ``data_dir`` (served or not) into the new folder ``dest``."""
    data_dir, dest = Path(data_dir), Path(dest)
    db_path = data_dir / DB_NAME
    if not db_path.is_file():
        raise _fail(f"no Roost database in {str(data_dir)!r} ({DB_NAME} is missing)")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise _fail(f"{str(dest)!r} exists and is not an empty folder; name a new one")
    # Built beside its final place and renamed at the end: a folder named
    # ``dest`` is always a whole backup, never half of one.
    partial = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        counts, live = _copy_database(db_path, partial / DB_NAME)
        blobs, blob_bytes, missing = _copy_blobs(data_dir, partial, live)
        for entry in data_dir.iterdir():
            if entry.name in SKIP or entry.name == "blobs":
                continue
            target = partial / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target, symlinks=True)
            else:
                shutil.copy2(entry, target)
        info = BackupInfo(
            format=FORMAT,
            created=time.time(),
            source=str(data_dir.resolve()),
            messages=counts["messages"],
            accounts=counts["accounts"],
            files=counts["files"],
            blobs=blobs,
            blob_bytes=blob_bytes,
            missing_blobs=missing,
        )
        (partial / MANIFEST).write_text(json.dumps(asdict(info), indent=2) + "\n")
        _sync_tree(partial)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return info


def _copy_database(src_path: Path, dst_path: Path) -> tuple[dict[str, int], set[str]]:
    """The online backup, in one step (one read transaction: one consistent snapshot).

    Returns the rows counted in the copy and the blobs its unexpired files use.
    """
    # Not mode=ro: a read-only connection cannot open a WAL database whose
    # shared-memory file is gone (a server that stopped cleanly removes it).
    src = sqlite3.connect(src_path)
    dst = sqlite3.connect(dst_path)
    try:
        # The server's writes wait for nothing; this read waits for no writer.
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise _fail(f"the copied database fails its check: {check}")
        counts = {
            name: int(dst.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0])
            for name in ("messages", "accounts", "files")
        }
        live = {row[0] for row in dst.execute("SELECT sha256 FROM files WHERE expired = 0")}
    except sqlite3.Error as exc:
        raise _fail(f"cannot copy the database {str(src_path)!r}: {exc}") from exc
    finally:
        src.close()
        dst.close()
    return counts, live


def _copy_blobs(data_dir: Path, dest: Path, live: set[str]) -> tuple[int, int, list[str]]:
    """Copy every blob; returns (count, bytes, live blobs not found)."""
    src_root = data_dir / "blobs"
    count = size = 0
    found: set[str] = set()
    if src_root.is_dir():
        for blob in sorted(src_root.glob("*/*")):
            if not blob.is_file():
                continue
            target = dest / "blobs" / blob.parent.name / blob.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(blob, target)
            except FileNotFoundError:
                continue  # expired and deleted while we copied: no live record names it
            count += 1
            size += target.stat().st_size
            found.add(blob.name)
    return count, size, sorted(live - found)


def _sync_tree(root: Path) -> None:
    """fsync every file and folder of ``root``: the backup is on disk when we say so."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_info(backup_dir: Path) -> BackupInfo:
    """The manifest of a backup folder; RoostError if it is not one."""
    path = Path(backup_dir) / MANIFEST
    try:
        data = json.loads(path.read_text())
        info = BackupInfo(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise _fail(f"{str(backup_dir)!r} is not a Roost backup ({MANIFEST}: {exc})") from exc
    if info.format != FORMAT:
        raise _fail(f"backup format {info.format} is not supported (this Roost reads {FORMAT})")
    if not (Path(backup_dir) / DB_NAME).is_file():
        raise _fail(f"the backup {str(backup_dir)!r} has no {DB_NAME}")
    return info


def restore(backup_dir: Path, data_dir: Path, force: bool = False) -> BackupInfo:
    """Put a backup in place as ``data_dir``.

    A folder with data in it is refused unless ``force``; then its old content
    is moved aside (``DATA_DIR.before-restore-TIME``), not deleted. A folder a
    server is using is always refused.
    """
    backup_dir, data_dir = Path(backup_dir), Path(data_dir)
    info = read_info(backup_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # Held while restoring: a server cannot start on the folder half-way, and one
    # that serves it now makes this refuse (DataFolderInUse names it).
    with DataFolderLock(data_dir) as lock:
        lock.acquire("roost restore")
        occupied = data_dir.exists() and any(e.name != LOCK_NAME for e in data_dir.iterdir())
        if occupied and not force:
            raise _fail(
                f"{str(data_dir)!r} is not empty; restore into a new folder,"
                " or pass --force to move its content aside first"
            )
        staging = data_dir.with_name(f".{data_dir.name}.restoring")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(backup_dir, staging, symlinks=True, ignore=shutil.ignore_patterns(MANIFEST))
        _sync_tree(staging)
        if occupied:
            aside = data_dir.with_name(f"{data_dir.name}.before-restore-{int(time.time())}")
            aside.mkdir()
            for entry in list(data_dir.iterdir()):
                if entry.name != LOCK_NAME:
                    entry.rename(aside / entry.name)
        data_dir.mkdir(parents=True, exist_ok=True)
        for entry in list(staging.iterdir()):
            entry.rename(data_dir / entry.name)
        staging.rmdir()
    return info
