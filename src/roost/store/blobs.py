"""A content-addressed blob store in the data folder.

A blob is a file named by the SHA-256 of its bytes: ``blobs/ab/abcdef...``.
Uploads are written to ``uploads/`` (same file system), checked, then
renamed into place after an fsync, so a blob path either does not exist or
holds exactly the bytes its name promises. Identical files are stored once.

All methods do blocking file I/O; the server calls the slow ones
(``commit``, ``sweep_temp``) from worker threads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from roost.protocol.errors import ErrorCode, RoostError

# errno values that mean "the disk cannot take more", reported as code storage.
FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class BlobStore:
    """Blobs under ``root/blobs``, uploads in progress under ``root/uploads``."""

    def __init__(self, root: Path | str, grace: float = 0.0) -> None:
        """``grace``: seconds a blob or upload file is safe from deletion after it
        was last written or reused. 0 with one process; with a folder shared by
        several, another process may be about to record a file that uses a blob
        this one found unused, or be writing an upload this one did not start."""
        self.root = Path(root)
        self.blob_dir = self.root / "blobs"
        self.temp_dir = self.root / "uploads"
        self.grace = grace
        # Uploads: a shared folder keeps interrupted ones for other processes to
        # resume (roost.server.upload_handover), up to upload_timeout.
        self.temp_grace = grace

    def _stale(self, path: Path, grace: float | None = None) -> bool:
        grace = self.grace if grace is None else grace
        if grace <= 0:
            return True
        try:
            return path.stat().st_mtime < time.time() - grace
        except OSError:
            return False

    def open(self) -> None:
        """Create the folders and delete uploads left by an earlier run."""
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.temp_dir.iterdir():
            if leftover.suffix == ".live" and self.temp_grace > 0:
                # Another node's upload in progress, however old: the file
                # service sweeps these once their node is dead (upload_handover).
                continue
            if self._stale(leftover, self.temp_grace):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def sweep_parts(self, keep: set[str]) -> None:
        """Delete upload files of no upload in ``keep`` untouched for ``temp_grace``
        (a process that died mid-upload leaves one)."""
        for part in self.temp_dir.glob("*.part"):
            if part.stem not in keep and self._stale(part, self.temp_grace):
                with contextlib.suppress(OSError):
                    part.unlink()

    def path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def create_temp(self, name: str) -> tuple[int, Path]:
        """A new empty upload file: (fd open for writing, path)."""
        path = self.temp_dir / f"{name}.part"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        return fd, path

    def commit(self, fd: int, temp: Path, sha256: str) -> bool:
        """Make the checked upload at ``temp`` the blob ``sha256``; closes ``fd``.

        The data is fsynced before the rename and the folder after it, so a
        crash leaves either no blob or the whole blob. Returns False when the
        blob existed already (the upload is dropped). Raises RoostError
        (storage) when the disk refuses; nothing is left behind then.
        """
        target = self.path(sha256)
        try:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if target.is_file():
                temp.unlink()
                # Reused: fresh again, so a sweep elsewhere does not take it now.
                with contextlib.suppress(OSError):
                    os.utime(target)
                return False
            made_dir = not target.parent.is_dir()
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
            _fsync_dir(target.parent)
            if made_dir:
                _fsync_dir(self.blob_dir)
            return True
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise storage_error(exc) from exc

    def discard(self, fd: int | None, temp: Path) -> None:
        """Drop an upload that will not complete."""
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            temp.unlink()

    def delete(self, sha256: str) -> None:
        """Delete a blob no file uses (kept while within ``grace``)."""
        path = self.path(sha256)
        if self._stale(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def all_blobs(self) -> Iterator[str]:
        """SHA-256 of every blob present."""
        for sub in self.blob_dir.iterdir():
            if sub.is_dir():
                for blob in sub.iterdir():
                    yield blob.name


def storage_error(exc: OSError) -> RoostError:
    """The error a client sees when the server cannot write a file."""
    if exc.errno in FULL_ERRNOS:
        return RoostError(
            ErrorCode.STORAGE,
            "the server has no room for this file (disk full); nothing was stored",
        )
    return RoostError(ErrorCode.STORAGE, f"the server could not store the file: {exc.strerror}")


def write_all(fd: int, data: memoryview | bytes) -> None:
    """os.write until everything is written (a write may be partial near a limit)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":
        return  # folders cannot be opened for fsync there; NTFS journals renames
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
