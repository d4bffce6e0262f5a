"""Uploads and downloads for the SDK: streamed, verified, resumable.

Memory stays constant whatever the file size: an upload keeps at most
``UPLOAD_WINDOW`` bytes unacknowledged, a download writes each chunk as it
arrives and lets the server send at most ``Client.download_window`` bytes
beyond what it has acknowledged (``download_ack`` every half window). Both continue from where they stopped after the connection drops
(the SDK reconnects by itself) and, across processes, from what the server
or the ``.part`` file already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import mimetypes
import os
from collections import deque
from collections.abc import Callable
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.client.connection import ConnectionLost
from roost.client.events import FileSaved
from roost.fileio import HASH_BLOCK, HashingWriter, sha256_prefix
from roost.protocol.codec import frame_with_room
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.filenames import numbered, safe_filename
from roost.protocol.messages import (
    Download,
    DownloadAck,
    DownloadCancel,
    FileData,
    FileDetails,
    FileInfo,
    FileResult,
    Message,
    Put,
    Upload,
    UploadCancel,
    UploadDone,
    UploadResult,
)

if TYPE_CHECKING:
    from roost.client.connection import Client

log = logging.getLogger("roost.client")

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_done, total)``; raising from it aborts the transfer."""


class TransferCancelled(RoostError):
    """Raise from a progress callback to stop a transfer for good.

    Unlike any other exception (after which the partial state is kept for a
    resume), the server is told to discard an upload, and a download's
    ``.part`` file is deleted.
    """

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(ErrorCode.CANCELLED, message)


# Unacknowledged upload bytes in flight: enough to keep a fast link busy, small
# enough that a chat message sent meanwhile is not stuck behind much data.
UPLOAD_WINDOW = 1024 * 1024
# Reconnect-and-resume attempts in a row that make no progress before giving up.
MAX_ATTEMPTS = 5
_EMPTY = memoryview(b"")


# --- upload -----------------------------------------------------------------------------


async def upload(
    client: Client,
    path: str | os.PathLike[str],
    to: str,
    *,
    name: str | None = None,
    text: str = "",
    media_type: str | None = None,
    progress: Progress | None = None,
) -> FileResult:
    """Send the file at ``path`` to a room or ``@user``; returns once it is stored and offered.

    The server checks its limits before any byte moves (RoostError with code
    too_large, quota_exceeded or too_many_transfers). After a dropped
    connection the upload continues from the server's offset; an upload
    interrupted in an earlier process continues too when the same file is
    sent again to the same conversation.
    """
    path = Path(path)
    name = name or path.name
    media_type = media_type or mimetypes.guess_type(name)[0] or ""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        upload_id = ""
        failures = 0
        best = -1  # furthest offset the server has reported
        while True:
            start = Upload(
                id=0,
                to=to,
                name=name,
                size=size,
                media_type=media_type,
                text=text,
                resume=upload_id,
            )
            try:
                res: UploadResult = await client._call(start, UploadResult)
                upload_id = res.upload
                if res.offset > best:
                    best, failures = res.offset, 0
                hasher = await asyncio.to_thread(_hash_prefix, f, res.offset)
                if res.offset and hasher.hexdigest() != res.prefix_sha256:
                    # The server's partial upload holds other bytes: start afresh.
                    await client._call(UploadCancel(id=0, upload=upload_id))
                    upload_id = ""
                    continue
                if progress is not None:
                    progress(res.offset, size)
                await _send(client, f, upload_id, res.offset, size, hasher, progress)
                done = UploadDone(id=0, upload=upload_id, sha256=hasher.hexdigest())
                result: FileResult = await client._call(done, FileResult)
                return result
            except TransferCancelled:
                if upload_id:
                    # Frees the sender's quota and transfer slot on the server now.
                    with contextlib.suppress(RoostError, ConnectionLost):
                        await client._call(UploadCancel(id=0, upload=upload_id))
                raise
            except ConnectionLost:
                if not client.reconnect or client._closed:
                    raise
                failures += 1
                if failures > MAX_ATTEMPTS:
                    raise
                log.info("upload of %s interrupted; resuming after reconnect", name)


def _hash_prefix(f: FileIO, length: int) -> Any:
    """SHA-256 state after the first ``length`` bytes of ``f``."""
    hasher = sha256_prefix(f, length)
    if hasher is None:
        raise RoostError(ErrorCode.BAD_REQUEST, "the file shrank while it was being sent")
    return hasher


async def _send(
    client: Client,
    f: FileIO,
    upload_id: str,
    offset: int,
    size: int,
    hasher: Any,
    progress: Progress | None,
) -> None:
    """Put the bytes from ``offset`` on, keeping at most UPLOAD_WINDOW unacknowledged."""
    assert client.limits is not None
    chunk = client.limits.chunk_size
    inflight: deque[asyncio.Future[Any]] = deque()
    acked = offset
    f.seek(offset)

    def put_frame(msg: Put, n: int) -> bytearray:
        # The file's bytes are read straight into the frame and hashed there.
        frame, start = frame_with_room(msg, n)
        room = memoryview(frame)[start:]
        got = f.readinto(room)
        if got != n:
            raise RoostError(ErrorCode.BAD_REQUEST, "the file shrank while it was being sent")
        hasher.update(room)
        return frame

    try:
        while offset < size:
            n = min(chunk, size - offset)
            put = Put(id=0, upload=upload_id, offset=offset, data=_EMPTY)
            inflight.append(client._request(put, encoder=functools.partial(put_frame, n=n)))
            offset += n
            await client._drain()
            if offset - acked >= UPLOAD_WINDOW:
                # Window full: wait until half of it is acknowledged, then go on
                # (one wake-up per half window rather than one per chunk).
                while inflight and offset - acked > UPLOAD_WINDOW // 2:
                    acked = await inflight.popleft()
                while inflight and inflight[0].done():
                    acked = inflight.popleft().result()
                if progress is not None:
                    progress(acked, size)
        while inflight:
            acked = await inflight.popleft()
            if progress is not None:
                progress(acked, size)
    finally:
        # After a failure the later puts fail too; collect them quietly.
        for fut in inflight:
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()


# --- download ---------------------------------------------------------------------------


async def download(
    client: Client,
    file_id: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    progress: Progress | None = None,
) -> Path:
    """Fetch a file; returns the path it was saved as.

    ``dest``: a folder (the file keeps its offered name, made safe), a file
    path, or None for the current folder. An existing file is never
    overwritten: the new one is saved as ``name (1).ext``. The bytes go to
    ``name.<id>.part`` first, are checked against the SHA-256, and only then
    get their final name; a later call continues from the ``.part`` file.
    """
    details: FileDetails = await client.file_info(file_id)
    info = details.file
    folder, name = resolve_destination(dest, info.name)
    sink = await _Sink.open(client, folder / f"{name}.{info.id}.part", info)
    sink.progress = progress
    failures = 0
    try:
        while True:
            start = sink.offset
            if progress is not None:
                progress(start, info.size)
            try:
                sink.start(client.download_window)
                request = Download(id=0, file=info.id, offset=start, window=client.download_window)
                await client._call(request, None, stream=sink.receive())
                break
            except ConnectionLost:
                if not client.reconnect or client._closed:
                    raise
                await sink.settle()
                failures = failures + 1 if sink.offset == start else 1
                if failures > MAX_ATTEMPTS:
                    raise
                log.info("download of %s interrupted; resuming after reconnect", info.name)
        if sink.error is not None:
            raise sink.error
        return await sink.finish(folder, name)
    except TransferCancelled:
        await sink.close()
        sink.part.unlink(missing_ok=True)
        raise
    finally:
        await sink.close()


def resolve_destination(dest: str | os.PathLike[str] | None, offered: str) -> tuple[Path, str]:
    """(folder, file name) for a download; the offered name is only used once made safe.

    ``dest`` is a folder when it ends with a path separator, is an existing
    folder, or does not exist and its last part has no extension (such as
    ``~/Downloads``); a missing folder is created. Otherwise it is the file
    name to save as, in its parent folder (created when missing).
    """
    if dest is None:
        return Path.cwd(), safe_filename(offered)
    text = os.fspath(dest)
    path = Path(text).expanduser()
    if is_folder_destination(text, path):
        make_folder(path)
        return path, safe_filename(offered)
    make_folder(path.parent)
    # A name the user typed is theirs to choose; it still never overwrites.
    return path.parent, path.name


def is_folder_destination(text: str, path: Path) -> bool:
    """The rule of :func:`resolve_destination`: does ``text`` name a folder?"""
    separators = tuple(s for s in (os.sep, os.altsep) if s)
    if text.endswith(separators) or path.is_dir():
        return True
    return not path.exists() and not path.suffix


def make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"cannot make the folder {str(path)!r} to save into: {exc.strerror or exc}",
        ) from None


class _Sink:
    """The ``.part`` file of a download, written and hashed on a worker thread as data comes."""

    def __init__(self, client: Client, part: Path, fd: int, info: FileInfo, have: int) -> None:
        self.client = client
        self.part = part
        self.fd = fd
        self.info = info
        self.offset = have  # bytes accepted (written, or queued for the writer)
        self.writer = HashingWriter(fd, hashlib.sha256(), on_room=self._room)
        self.progress: Progress | None = None
        self.error: BaseException | None = None
        self.held = False
        self.closed = False
        self.window = 0
        self.acked = have  # offset last acknowledged to the server (or requested from)

    def start(self, window: int) -> None:
        """A new ``download`` request from ``offset``: the server's credit starts there."""
        self.window = window
        self.acked = self.offset

    def _ack(self, request_id: int) -> None:
        """Acknowledge what was consumed, once per half window.

        No ack once the server's credit covers the rest of the file: it no longer
        needs one, and so none can arrive after the download has ended there.
        """
        w = self.window
        if not w or self.offset - self.acked < w // 2 or self.acked + w >= self.info.size:
            return
        self.acked = self.offset
        client = self.client
        try:
            reply = client._request(DownloadAck(id=0, download=request_id, offset=self.offset))
        except ConnectionLost:
            return  # the download is resumed after the reconnect

        def check(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            # A lost connection is not this download's fault: it resumes after it.
            lost = isinstance(exc, ConnectionLost)
            if isinstance(exc, RoostError) and not lost and self.error is None:
                # Without its ack the download would stall: fail it instead.
                self.error = exc
                abort_stream(client, request_id, exc)

        reply.add_done_callback(check)

    @classmethod
    async def open(cls, client: Client, part: Path, info: FileInfo) -> _Sink:
        def prepare() -> tuple[int, int, Any]:
            fd = os.open(part, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
            try:
                _lock(fd, part)
                have = os.fstat(fd).st_size
                if have > info.size:
                    os.ftruncate(fd, 0)  # not a prefix of this file
                    have = 0
                hasher = hashlib.sha256()
                pos = 0
                while pos < have:  # plain reads: no os.pread on Windows
                    block = os.read(fd, min(HASH_BLOCK, have - pos))
                    if not block:
                        break
                    hasher.update(block)
                    pos += len(block)
                os.lseek(fd, have, os.SEEK_SET)
            except BaseException:
                os.close(fd)
                raise
            return fd, have, hasher

        fd, have, hasher = await asyncio.to_thread(prepare)
        sink = cls(client, part, fd, info, have)
        sink.writer.hasher = hasher
        sink.writer.queued = sink.writer.written = have
        return sink

    def _room(self) -> None:
        if self.held:
            self.held = False
            self.client.release_reading()

    def receive(self) -> Callable[[FileData], None]:
        """The stream callback: runs in the client's read loop, so it must not raise."""

        def on_data(msg: FileData) -> None:
            if self.error is not None:
                return
            try:
                if msg.offset != self.offset:
                    raise RoostError(
                        ErrorCode.PROTOCOL,
                        f"download data at offset {msg.offset}, expected {self.offset}",
                    )
                if not self.writer.feed(msg.data) and not self.held:
                    self.held = True
                    self.client.hold_reading()
                self.offset += len(msg.data)
                self._ack(msg.id)
                if self.progress is not None:
                    self.progress(self.offset, self.info.size)
            except Exception as exc:
                self.error = exc
                abort_stream(self.client, msg.id, exc)

        return on_data

    async def settle(self) -> None:
        """Wait for the writer; afterwards ``offset`` is what the .part file holds."""
        try:
            await self.writer.flush()
        except OSError as exc:
            raise RoostError(
                ErrorCode.STORAGE, f"cannot write {self.part}: {exc.strerror or exc}"
            ) from exc
        self.offset = self.writer.written

    async def finish(self, folder: Path, name: str) -> Path:
        """Check the bytes and give them their final name; the .part goes away either way."""
        await self.settle()
        self.closed = True
        os.close(self.fd)
        digest = self.writer.hasher.hexdigest()
        if self.offset != self.info.size or digest != self.info.sha256:
            self.part.unlink(missing_ok=True)
            raise RoostError(
                ErrorCode.INTEGRITY,
                f"{self.info.name}: the data received does not match its SHA-256"
                f" ({self.offset} of {self.info.size} bytes, sha256 {digest});"
                " nothing was saved, download it again",
            )
        return await asyncio.to_thread(place, self.part, folder, name)

    async def close(self) -> None:
        """Keep what was received in the .part file (for a later resume) and close it."""
        self._room()
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.writer.flush()
        fd = self.fd
        self.writer.abandon(lambda: os.close(fd))


def _lock(fd: int, part: Path) -> None:
    """One download per .part file: a second one into the same folder is refused."""
    try:
        import fcntl
    except ImportError:  # Windows: opening the file shares it anyway
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"{part.name} is being downloaded already (by another transfer)"
        ) from None


def place(part: Path, folder: Path, name: str) -> Path:
    """Move ``part`` to ``folder/name``, or ``name (1)``... if taken; never overwrites."""
    for candidate in numbered(name):
        target = folder / candidate
        try:
            os.link(part, target)  # fails if target exists: no race with other writers
        except FileExistsError:
            continue
        except OSError:
            # A file system without hard links: check, then rename.
            if target.exists():
                continue
            os.rename(part, target)
            return target
        part.unlink()
        return target
    raise AssertionError("unreachable")


def abort_stream(client: Client, request_id: int, exc: BaseException) -> None:
    """Stop a download from the read loop: fail its request and tell the server."""
    client._streams.pop(request_id, None)
    fut = client._pending.pop(request_id, None)
    if fut is not None and not fut.done():
        fut.set_exception(exc)
    with contextlib.suppress(ConnectionLost):
        reply = client._request(DownloadCancel(id=0, download=request_id))
        reply.add_done_callback(lambda f: f.cancelled() or f.exception())


# --- auto-accept ------------------------------------------------------------------------


class AutoAccept:
    """Downloads every file offered by someone else into a folder (Client(auto_accept=...)).

    Offers are seen as :meth:`Client.events` yields them, live or from
    history after a reconnect. Each result comes as a :class:`FileSaved` event.
    """

    PARALLEL = 2

    def __init__(self, client: Client, folder: Path) -> None:
        self.client = client
        self.folder = folder
        self.seen: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None

    def offer(self, m: Message) -> None:
        info = m.file
        if info is None or m.sender == self.client.user or info.id in self.seen:
            return
        self.seen.add(info.id)
        task = asyncio.get_running_loop().create_task(self._fetch(info))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _fetch(self, info: FileInfo) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.PARALLEL)
        async with self._slots:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = await download(self.client, info.id, self.folder)
            except (RoostError, OSError) as exc:
                text = exc.message if isinstance(exc, RoostError) else str(exc)
                self.client._push_event(FileSaved(info, "", text))
            else:
                self.client._push_event(FileSaved(info, str(path)))

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
