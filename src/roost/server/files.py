"""File transfer: uploads into the blob store, offers in history, streamed downloads.

Upload: ``upload`` checks every limit before any data moves and answers with
an upload id and the offset to send from (non-zero when resuming); ``put``
requests carry the bytes in order, each written and hashed as it arrives (no
buffering); ``upload_done`` compares the SHA-256, moves the file into the
blob store (fsync, atomic rename) and posts the offer as a message of the
conversation, stored with its seq like any other.

Download: ``download`` streams ``data`` events in the outbox's BULK class,
reading the next chunk only when the connection has drained (Outbox.bulk_room
and the connection's drain hooks), so a download holds about one chunk in
server memory whatever the file size; the reply follows the last byte. With
a ``window``, the pump also stops a download while ``window`` bytes are sent
and not yet acknowledged (``download_ack``): credit flow control, as HTTP/2
stream windows, so the file data queued in the client's socket buffer stays
bounded whatever its kernel's autotuning does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from roost.bus.base import Envelope
from roost.fileio import HashingWriter
from roost.protocol.codec import frame_with_room
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.filenames import clean_name
from roost.protocol.messages import (
    Download,
    DownloadAck,
    DownloadCancel,
    FileData,
    FileDetails,
    FileQuery,
    FileResult,
    Put,
    Send,
    SendResult,
    Upload,
    UploadCancel,
    UploadDone,
    UploadResult,
)
from roost.protocol.names import dm_parties
from roost.protocol.sizes import compare_sizes, human_size
from roost.server import upload_handover as handover
from roost.server.chat import conversation_key, file_info, post_message, require_login
from roost.server.connection import BulkReply
from roost.server.outbox import BULK
from roost.store.base import Account, FileRecord
from roost.store.blobs import BlobStore, storage_error

if TYPE_CHECKING:
    from roost.server.app import Server
    from roost.server.config import ServerConfig
    from roost.server.connection import ClientConnection

log = logging.getLogger("roost.files")

DEFAULT_MEDIA_TYPE = "application/octet-stream"
_EMPTY = memoryview(b"")
# An upload is flushed to disk in the background every this many bytes, so the
# fsync before it becomes a blob has little left to write.
SYNC_EVERY = 64 * 1024 * 1024
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}")


# Seconds a blob or upload in a shared blob folder is safe from deletion (BlobStore.grace).
SHARED_GRACE = 600.0
# Seconds a resume waits for the ticket of an upload whose part file exists
# (the node it comes from is handing it over: roost.server.upload_handover).
TICKET_WAIT = 2.0
# Seconds past the bus's node_ttl that a resume waits for the node holding the
# upload's live ticket to count as dead (or to hand the upload over).
LIVE_MARGIN = 1.5

T = TypeVar("T")


def new_id() -> str:
    """12 characters of a-z2-7 (60 random bits): short enough to type after /get."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii").lower()[:12]


@dataclass(eq=False)
class PartialUpload:
    """An upload in progress; kept for ``upload_timeout`` after its connection drops."""

    id: str
    owner: str
    key: str  # conversation
    name: str
    size: int
    media_type: str
    text: str
    fd: int
    path: Path
    writer: HashingWriter
    conn: ClientConnection | None = None
    received: int = 0
    touched: float = field(default_factory=time.monotonic)
    finishing: bool = False
    held: ClientConnection | None = None  # connection paused while the disk catches up
    # Shared blob folder: its ticket is being written (task) or is out (handed),
    # for any node to claim (roost.server.upload_handover).
    handing: asyncio.Task[None] | None = None
    handed: bool = False
    # Its live ticket (naming this node) is out: another node may take the
    # upload over once this node is dead (upload_handover.claim_live).
    live: bool = False

    def release(self) -> None:
        """The writer has room again: let the paused connection read."""
        if self.held is not None:
            self.held.release_reading()
            self.held = None


@dataclass(eq=False)
class DownloadStream:
    """One download being sent on one connection."""

    request_id: int
    record: FileRecord
    fd: int
    offset: int
    user: str
    done: asyncio.Future[None]
    window: int = 0  # bytes sent beyond ``acked`` at most; 0: no limit
    acked: int = 0  # file offset the client has acknowledged

    def credit(self) -> int:
        """Bytes this stream may send now (its chunk size aside)."""
        left = self.record.size - self.offset
        if self.window:
            return min(left, self.acked + self.window - self.offset)
        return left


class DownloadPump:
    """Queues the chunks of one connection's downloads as its outbox drains."""

    def __init__(self, conn: ClientConnection, chunk_size: int) -> None:
        self.conn = conn
        self.chunk_size = chunk_size
        self.streams: deque[DownloadStream] = deque()
        conn.add_drain_hook(self.pump)

    def pump(self) -> None:
        box = self.conn.outbox
        if box is None or self.conn.closing:
            return
        streams = self.streams
        pushed = False
        # Round-robin: concurrent downloads on one connection share it chunk by chunk.
        # A stream out of credit is passed over; its ack calls pump() again.
        while streams and box.bulk_room() > 0:
            for _ in range(len(streams)):
                if streams[0].credit() > 0:
                    break
                streams.rotate(-1)
            s = streams[0]
            n = min(self.chunk_size, s.credit())
            if n <= 0:
                break
            # The file's bytes are read straight into their frame: one copy.
            msg = FileData(id=s.request_id, offset=s.offset, data=_EMPTY)
            frame, start = frame_with_room(msg, n)
            try:
                got = os.preadv(s.fd, [memoryview(frame)[start:]], s.offset)
            except OSError as exc:
                self.fail(s, storage_error(exc))
                continue
            if got != n:
                self.fail(
                    s, RoostError(ErrorCode.STORAGE, "the stored file is damaged (too short)")
                )
                continue
            box.push(Envelope("", 0, BULK, frame))
            pushed = True
            self.conn.server.counters.file_bytes_out += n
            s.offset += n
            if s.offset >= s.record.size:
                streams.popleft()
                if not s.done.done():
                    s.done.set_result(None)
            else:
                streams.rotate(-1)
        if pushed:
            self.conn.server.mark_dirty(self.conn)

    def ack(self, request_id: int, offset: int) -> None:
        """Record the client's ``download_ack`` and send what the new credit allows."""
        s = next((s for s in self.streams if s.request_id == request_id), None)
        if s is None:
            raise RoostError(ErrorCode.NO_SUCH_FILE, f"no download {request_id} in progress")
        if offset > s.offset:
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                f"acknowledged offset {offset} of download {request_id} is beyond"
                f" the {s.offset} bytes sent",
            )
        # An older ack arriving late changes nothing.
        s.acked = max(s.acked, offset)
        self.pump()

    def fail(self, s: DownloadStream, exc: RoostError) -> None:
        self.remove(s)
        if not s.done.done():
            s.done.set_exception(exc)

    def remove(self, s: DownloadStream) -> None:
        with contextlib.suppress(ValueError):
            self.streams.remove(s)


class FileService:
    """The server's file state: blob store, uploads in progress, transfer counts, sweeper."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.config: ServerConfig = server.config
        cfg = self.config
        # A shared blob folder: what another node may be using is kept a while.
        grace = SHARED_GRACE if cfg.blob_dir else 0.0
        self.blobs = BlobStore(Path(cfg.blob_dir) if cfg.blob_dir else cfg.data_dir, grace)
        # With a shared folder, interrupted uploads are handed over through it.
        self.shared = bool(cfg.blob_dir) and server.bus.shares_counters
        if self.shared:
            self.blobs.temp_grace = max(grace, cfg.upload_timeout)
        # The bus's id for this node: the one its live tickets name, and the one
        # the other nodes ask the bus about (Bus.node_alive).
        self.node = server.bus.node_id
        self.uploads: dict[str, PartialUpload] = {}
        self.transfers: Counter[str] = Counter()  # user -> transfers moving data now
        self.reserved: Counter[str] = Counter()  # user -> bytes of unfinished uploads
        self.pins: Counter[str] = Counter()  # blobs being committed: not to be swept
        self.pumps: dict[ClientConnection, DownloadPump] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.completing: set[asyncio.Future[FileResult]] = set()  # uploads being stored
        # Claims whose request was cancelled, finishing on their own (see _unlost).
        self._claiming: set[asyncio.Future[Any]] = set()
        # Rehashing a taken-over part file reads all of it: not on the default
        # pool, which password checks and upload writes share.
        self._rehash = ThreadPoolExecutor(1, thread_name_prefix="roost-rehash")

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.blobs.open)
        live = await self.server.store.live_blobs()
        orphans = await asyncio.to_thread(
            lambda: [sha for sha in self.blobs.all_blobs() if sha not in live]
        )
        for sha in orphans:
            # A crash between storing a blob and recording its file leaves one.
            self.blobs.delete(sha)
        self._sweeper = asyncio.create_task(self._sweep_loop())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.completing:
            # Uploads with all their bytes are stored before the store closes.
            await asyncio.wait(self.completing, timeout=30)
        if self._claiming:
            await asyncio.wait(self._claiming, timeout=30)
        for up in list(self.uploads.values()):
            if up.finishing:
                continue
            if self.shared:
                # Left for another node: the client resumes there.
                if up.handing is not None:
                    await asyncio.shield(up.handing)
                elif not up.handed:
                    await self._hand_over(up)
                if up.handed:
                    self._let_go(up)
                    continue
            self.drop(up)
        self._rehash.shutdown(wait=False)

    def on_disconnect(self, conn: ClientConnection) -> None:
        """Keep the connection's uploads for a resume; its downloads end with it."""
        for up in self.uploads.values():
            if up.conn is conn:
                self._detach(up)
        pump = self.pumps.pop(conn, None)
        if pump is not None:
            for s in list(pump.streams):
                pump.fail(s, RoostError(ErrorCode.CANCELLED, "connection closed"))

    # --- accounting ------------------------------------------------------------------

    def _check_transfers(self, user: str) -> None:
        limit = self.config.max_transfers
        if self.transfers[user] >= limit:
            raise RoostError(
                ErrorCode.TOO_MANY_TRANSFERS,
                f"you have {self.transfers[user]} transfers in progress and the limit is"
                f" {limit} at a time; wait for one to finish",
            )

    def _attach(self, up: PartialUpload, conn: ClientConnection) -> None:
        if up.conn is None:
            self.transfers[up.owner] += 1
        up.conn = conn
        up.touched = time.monotonic()

    def _detach(self, up: PartialUpload) -> None:
        if up.conn is not None:
            up.conn = None
            self._release(up.owner)
        up.release()
        up.touched = time.monotonic()
        tracked = up.id in self.uploads  # not when forget() detaches it
        if tracked and self.shared and not up.finishing and up.handing is None and not up.handed:
            up.handing = asyncio.ensure_future(self._hand_over(up))

    # --- hand-over through a shared blob folder (roost.server.upload_handover) ------

    async def _hand_over(self, up: PartialUpload) -> None:
        """Publish ``up``'s ticket: what is on disk, synced, for any node to resume."""
        try:
            await up.writer.flush()
            if up.id not in self.uploads:
                return  # dropped meanwhile: nothing to hand over
            ticket = handover.Ticket(
                up.id, up.owner, up.key, up.name, up.size, up.media_type, up.text, up.received
            )

            def publish() -> bool:
                os.fsync(up.fd)
                return handover.publish(self.blobs.temp_dir, ticket, self.node, up.live)

            if not await asyncio.to_thread(publish):
                # Its live ticket was taken: another node held this node for dead.
                log.warning("upload %s was taken over by another node", up.id)
                up.live = False
                self._let_go(up)
                return
            up.live = False
            up.handed = True
        except OSError as exc:
            log.warning("could not hand over upload %s: %s", up.id, exc)
        finally:
            up.handing = None

    async def _unlost(self, work: Coroutine[Any, Any, T], left: Callable[[T], None]) -> T:
        """Run ``work`` (a claim) to its end even if the request is cancelled.

        A client that disconnects while its resume claims a ticket cancels the
        request; the claim goes on, and ``left`` gets what it took (to hand it
        over again), so that nothing claimed is lost with the request.
        """
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._claiming.add(task)

            def done(t: asyncio.Future[T]) -> None:
                self._claiming.discard(t)
                if not t.cancelled() and t.exception() is None:
                    left(t.result())

            task.add_done_callback(done)
            raise

    async def _take_back(self, up: PartialUpload) -> bool:
        """Resume a local upload: claim its ticket first. False if another node has it."""

        async def claim() -> bool:
            if up.handing is not None:
                await asyncio.shield(up.handing)
            if not up.handed:
                return True
            up.handed = False  # first, so that the sweep does not take the claim for another's
            got = await asyncio.to_thread(handover.claim, self.blobs.temp_dir, up.id, self.node)
            if got is None:
                self._let_go(up)
                return False
            await self._go_live(up)
            return True

        return await self._unlost(claim(), lambda mine: self._detach(up) if mine else None)

    async def _go_live(self, up: PartialUpload) -> None:
        await asyncio.to_thread(self.write_live, up)

    def write_live(self, up: PartialUpload) -> None:
        """Publish ``up``'s live ticket: this node holds it (for a resume after its death)."""
        ticket = handover.Ticket(
            up.id, up.owner, up.key, up.name, up.size, up.media_type, up.text, 0
        )
        try:
            handover.write_live(self.blobs.temp_dir, ticket, self.node)
            up.live = True
        except OSError as exc:
            log.warning("could not publish the live ticket of upload %s: %s", up.id, exc)

    def _let_go(self, up: PartialUpload) -> None:
        """Forget an upload another node holds (or may take): its file stays."""
        if up.id not in self.uploads:
            return
        self.forget(up)
        fd = up.fd
        up.writer.abandon(lambda: os.close(fd))

    async def adopt(self, user: str, msg: Upload, key: str, name: str) -> PartialUpload | None:
        """Take over an upload another node (or an earlier run) handed over."""
        return await self._unlost(
            self._adopt(user, msg, key, name), lambda up: self._detach(up) if up else None
        )

    async def _adopt(self, user: str, msg: Upload, key: str, name: str) -> PartialUpload | None:
        folder = self.blobs.temp_dir
        ticket = await self._find_ticket(user, msg, key, name)
        if ticket is None:
            return None
        if (ticket.owner, ticket.size) != (user, msg.size) or ticket.id in self.uploads:
            # Not this user's upload (or this node has it already): put the ticket back.
            await asyncio.to_thread(handover.write_ticket, folder, ticket)
            return None
        try:
            fd, hasher = await asyncio.get_running_loop().run_in_executor(
                self._rehash, handover.reopen, folder, ticket
            )
        except OSError as exc:
            log.warning("could not take over upload %s: %s", ticket.id, exc)
            await asyncio.to_thread(handover.discard, folder, ticket.id)
            return None
        writer = HashingWriter(fd, hasher, sync_every=SYNC_EVERY)
        up = PartialUpload(
            id=ticket.id,
            owner=user,
            # The room may have been renamed since the ticket was written.
            key=self.server.state.renamed.get(ticket.key, ticket.key),
            name=ticket.name,
            size=ticket.size,
            media_type=ticket.media_type,
            text=ticket.text,
            fd=fd,
            path=handover.part_path(folder, ticket.id),
            writer=writer,
            received=ticket.received,
        )
        self.track(up)
        await self._go_live(up)
        log.info("took over upload %s of %s at %d bytes", up.id, user, up.received)
        return up

    async def _find_ticket(
        self, user: str, msg: Upload, key: str, name: str
    ) -> handover.Ticket | None:
        """Claim the ticket a resume names (or, without an id, the newest of this file's)."""
        folder = self.blobs.temp_dir
        if msg.resume:
            # The node the client left may still be writing the ticket (the client
            # came back faster than that node saw it go): wait a moment. If that
            # node holds a live ticket for it, it may have died instead: wait
            # until the bus can tell (its heartbeat lapses), then take it over.
            start = time.monotonic()
            asked = 0.0

            def attempt() -> tuple[handover.Ticket | None, bool, list[handover.Live]]:
                got = handover.claim(folder, msg.resume, self.node)
                part = handover.part_path(folder, msg.resume).exists()
                live = [] if got or not part else handover.lives(folder, msg.resume)
                return got, part, live

            while True:
                got, part, live = await asyncio.to_thread(attempt)
                if got is not None or not part:
                    return got
                now = time.monotonic()
                live = [lv for lv in live if self._may_take(lv, user, msg.size)]
                if live and now - asked >= 0.2:
                    asked = now
                    got = await self._take_dead(live)
                    if got is not None:
                        return got
                wait = TICKET_WAIT
                if live:
                    wait = max(wait, self.server.bus.node_ttl + LIVE_MARGIN)
                if now - start > wait:
                    return None
                await asyncio.sleep(0.05)

        def newest() -> handover.Ticket | None:
            mine = sorted(
                (
                    (age, t)
                    for age, t in handover.tickets(folder)
                    if (t.owner, t.key, t.name, t.size) == (user, key, name, msg.size)
                ),
                key=lambda pair: pair[0],
            )
            for _, t in mine:
                got = handover.claim(folder, t.id, self.node)
                if got is not None:
                    return got
            return None

        got = await asyncio.to_thread(newest)
        if got is not None:
            return got
        # An upload of this file whose node died holding it (newest first).
        live = [
            lv
            for lv in await asyncio.to_thread(handover.lives, folder)
            if (lv.ticket.key, lv.ticket.name) == (key, name) and self._may_take(lv, user, msg.size)
        ]
        return await self._take_dead(sorted(live, key=lambda lv: lv.age))

    def _may_take(self, live: handover.Live, user: str, size: int) -> bool:
        t = live.ticket
        return (
            (t.owner, t.size) == (user, size)
            and live.node != self.node
            and t.id not in self.uploads
        )

    async def _of_dead_nodes(self, live: list[handover.Live]) -> list[handover.Live]:
        """Those of ``live`` whose node the bus says is dead (one question per node)."""
        alive: dict[str, bool] = {}
        for lv in live:
            if lv.node not in alive:
                alive[lv.node] = await self.server.bus.node_alive(lv.node)
        return [lv for lv in live if not alive[lv.node]]

    async def _take_dead(self, live: list[handover.Live]) -> handover.Ticket | None:
        """Claim the first of these live tickets whose node is dead (never a living one's)."""
        for lv in await self._of_dead_nodes(live):
            got = await asyncio.to_thread(
                handover.claim_live, self.blobs.temp_dir, lv.ticket.id, lv.node, self.node
            )
            if got is not None:
                log.info("node %s died holding upload %s: taking it over", lv.node, got.id)
                return got
        return None

    async def _sweep_tickets(self) -> None:
        """Handed-over uploads: forget those another node took; delete those nobody
        resumed within upload_timeout (and part files without a ticket as old)."""
        folder = self.blobs.temp_dir
        timeout = self.config.upload_timeout
        out = await asyncio.to_thread(handover.tickets, folder)
        published = {t.id for _, t in out}
        for up in list(self.uploads.values()):
            if up.handed and up.id not in published:
                self._let_go(up)  # claimed by another node
        for age, t in out:
            if age <= timeout:
                continue
            if await asyncio.to_thread(handover.claim, folder, t.id, self.node) is None:
                continue  # another node swept or resumed it first
            held = self.uploads.get(t.id)
            if held is not None:
                held.handed = False  # the ticket is claimed: drop deletes the file only
                self.drop(held)
            else:
                await asyncio.to_thread(handover.discard, folder, t.id)
            log.info("dropping interrupted upload %s of %s", t.id, t.owner)
        # A dead node's live tickets are as good as unclaimed tickets; a living
        # node's are never taken, however old (its upload may sit idle).
        live = await asyncio.to_thread(handover.lives, folder)
        kept = {lv.ticket.id for lv in live}
        old = [lv for lv in live if lv.node != self.node and lv.age > timeout]
        for lv in await self._of_dead_nodes(old):
            claimed = await asyncio.to_thread(
                handover.claim_live, folder, lv.ticket.id, lv.node, self.node
            )
            if claimed is None:
                continue
            held = self.uploads.get(lv.ticket.id)
            if held is not None:
                held.handed = False
                self.drop(held)
            else:
                await asyncio.to_thread(handover.discard, folder, lv.ticket.id)
            log.info(
                "dropping upload %s of %s (its node %s died)",
                lv.ticket.id,
                lv.ticket.owner,
                lv.node,
            )
        await asyncio.to_thread(self.blobs.sweep_parts, {*self.uploads, *published, *kept})

    def _release(self, user: str) -> None:
        self.transfers[user] -= 1
        if self.transfers[user] <= 0:
            del self.transfers[user]

    async def _usage(self, user: str) -> int:
        # Asked of the store at each upload, never cached: with several nodes the
        # files stored through the others count too (one query per upload).
        return await self.server.store.file_usage(user)

    # --- uploads ---------------------------------------------------------------------

    def own_upload(self, user: str, conn: ClientConnection, upload_id: str) -> PartialUpload:
        up = self.uploads.get(upload_id)
        if up is None or up.owner != user:
            raise RoostError(
                ErrorCode.NO_SUCH_FILE,
                f"no upload {upload_id!r} in progress (it finished, failed or expired); start again",
            )
        if up.conn is not conn:
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                "this upload continues on another connection; send upload with resume first",
            )
        return up

    def find_resumable(self, user: str, msg: Upload, key: str, name: str) -> PartialUpload | None:
        if msg.resume:
            up = self.uploads.get(msg.resume)
            if up is not None and up.owner == user and up.size == msg.size and not up.finishing:
                return up
            return None
        # A client that lost its upload id (restarted) continues a detached upload of
        # the same file; it checks prefix_sha256 before sending more.
        candidates = [
            up
            for up in self.uploads.values()
            if up.owner == user
            and up.conn is None
            and not up.finishing
            and (up.key, up.name, up.size) == (key, name, msg.size)
        ]
        return max(candidates, key=lambda up: up.touched, default=None)

    def track(self, up: PartialUpload) -> None:
        """Start tracking an upload: its slot and its reserved bytes (undone by forget)."""
        up.writer.on_room = up.release
        self.uploads[up.id] = up
        self.reserved[up.owner] += up.size

    def forget(self, up: PartialUpload) -> None:
        """Stop tracking an upload (its slot and reserved bytes are freed)."""
        if self.uploads.pop(up.id, None) is None:
            return
        if up.live:
            # Completed or discarded here (an upload another node took has none).
            up.live = False
            handover.end_live(self.blobs.temp_dir, up.id, self.node)
        self._detach(up)
        self.reserved[up.owner] -= up.size
        if self.reserved[up.owner] <= 0:
            del self.reserved[up.owner]

    async def reserved_bytes(self, user: str) -> int:
        """Bytes of ``user``'s unfinished uploads, on every node of a shared folder.

        Each node publishes a live ticket for every upload it holds and a ticket
        for every one it handed over, so the folder names them all: without
        them an upload in progress on one node counted only there, and a user
        could hold up to the quota in progress on each node at once.
        """
        here = self.reserved[user]
        if not self.shared:
            return here
        folder, mine = self.blobs.temp_dir, set(self.uploads)
        try:
            elsewhere = await asyncio.to_thread(handover.reserved_by, folder, user, mine)
        except OSError as exc:
            raise storage_error(exc) from exc
        return here + elsewhere

    def room_renamed(self, old: str, new: str) -> None:
        """Uploads in progress to room ``old`` are offered in ``new`` when they finish."""
        for up in self.uploads.values():
            if up.key == old:
                up.key = new

    def limit_detached(self, user: str) -> None:
        """Keep at most max_transfers interrupted uploads per user: drop the oldest.

        Each holds an open file and reserved quota; without a bound, a client
        that starts uploads and drops its connection could pile them up.
        """
        detached = [
            up
            for up in self.uploads.values()
            if up.owner == user and up.conn is None and not up.finishing
        ]
        while len(detached) >= self.config.max_transfers:
            oldest = min(detached, key=lambda up: up.touched)
            detached.remove(oldest)
            self.drop(oldest)

    def drop(self, up: PartialUpload) -> None:
        """Forget an upload that will not complete and delete its data."""
        if up.id not in self.uploads:
            return
        if up.handed:
            # Its ticket first: if another node claimed it already, the file is that
            # node's now and only this node's hold on it goes.
            up.handed = False
            if handover.claim(self.blobs.temp_dir, up.id, self.node) is None:
                self._let_go(up)
                return
        self.forget(up)
        fd, path, blobs = up.fd, up.path, self.blobs
        up.writer.abandon(lambda: blobs.discard(fd, path))

    # --- sweeper -----------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        shortest = min(self.config.file_retention, self.config.upload_timeout)
        interval = min(60.0, max(0.2, shortest / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("file sweep failed")

    async def sweep(self) -> None:
        """Expire files past their retention, delete unused blobs and stale uploads."""
        gone, unused = await self.server.store.expire_files(time.time())
        # No await between the store's answer and the deletes: a blob pinned by an
        # upload being committed now is kept (its new record will use it).
        for sha in unused:
            if not self.pins[sha]:
                self.blobs.delete(sha)
        if gone:
            log.info("expired %d files, deleted %d blobs", len(gone), len(unused))
        limit = time.monotonic() - self.config.upload_timeout
        for up in list(self.uploads.values()):
            if up.conn is None and not up.finishing and up.touched < limit and not up.handed:
                log.info("dropping interrupted upload %s of %s", up.id, up.owner)
                self.drop(up)
        if self.shared:
            await self._sweep_tickets()

    # --- downloads ---------------------------------------------------------------------

    def start_download(self, conn: ClientConnection, stream: DownloadStream) -> None:
        self.transfers[stream.user] += 1
        if stream.offset >= stream.record.size:
            stream.done.set_result(None)
            return
        pump = self.pumps.get(conn)
        if pump is None:
            pump = self.pumps[conn] = DownloadPump(conn, self.config.chunk_size)
        pump.streams.append(stream)
        pump.pump()

    def end_download(self, conn: ClientConnection, stream: DownloadStream) -> None:
        self._release(stream.user)
        with contextlib.suppress(OSError):
            os.close(stream.fd)
        pump = self.pumps.get(conn)
        if pump is not None:
            pump.remove(stream)
            if not pump.streams:
                del self.pumps[conn]
                conn.remove_drain_hook(pump.pump)


def service(server: Server) -> FileService:
    return server.files


# --- request handlers ---------------------------------------------------------------


async def upload(server: Server, conn: ClientConnection, msg: Upload) -> UploadResult:
    account = require_login(conn)
    svc = service(server)
    cfg = server.config
    key = conversation_key(server, account.name, msg.to)
    name = clean_name(msg.name)
    if msg.size < 0:
        raise RoostError(ErrorCode.BAD_REQUEST, "size must not be negative")
    if msg.size > cfg.max_file_size:
        size, limit = compare_sizes(msg.size, cfg.max_file_size)
        raise RoostError(ErrorCode.TOO_LARGE, f"{name}: {size} exceeds the {limit} limit")
    if len(msg.text) > cfg.max_text:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"caption exceeds the limit of {cfg.max_text} characters"
        )
    media_type = msg.media_type.strip().lower() or DEFAULT_MEDIA_TYPE
    if not _MEDIA_TYPE.fullmatch(media_type):
        media_type = DEFAULT_MEDIA_TYPE
    for check in server.send_checks:
        # An offer is a message: mutes and rate limits apply before any byte moves.
        check(server, conn, Send(id=msg.id, to=msg.to, text=msg.text or name))

    up = svc.find_resumable(account.name, msg, key, name)
    if svc.shared and (up is None or up.conn is None):
        # Before a claim: a ticket is not taken to be refused.
        svc._check_transfers(account.name)
    if up is not None and svc.shared and not await svc._take_back(up):
        up = None
    if up is None and svc.shared:
        up = await svc.adopt(account.name, msg, key, name)
    if up is not None:
        if up.conn is None:
            try:
                svc._check_transfers(account.name)
            except RoostError:
                svc._detach(up)  # a slot went while it was claimed: handed over again
                raise
        svc._attach(up, conn)
        try:
            await up.writer.flush()  # the offset is what is on disk
        except OSError as exc:
            svc.drop(up)
            raise storage_error(exc) from exc
        prefix = up.writer.hasher.copy().hexdigest() if up.received else ""
        return UploadResult(upload=up.id, offset=up.received, prefix_sha256=prefix)

    svc._check_transfers(account.name)
    used = await svc._usage(account.name)
    reserved = await svc.reserved_bytes(account.name)
    if used + reserved + msg.size > cfg.user_quota:
        size, quota = compare_sizes(msg.size, cfg.user_quota)
        raise RoostError(
            ErrorCode.QUOTA_EXCEEDED,
            f"{name}: {size} would exceed your {quota} storage quota"
            f" ({human_size(used + reserved)} in use); wait for files to expire",
        )
    # Checked again after the await: another upload may have started meanwhile.
    svc._check_transfers(account.name)
    svc.limit_detached(account.name)
    upload_id = new_id()
    try:
        fd, path = svc.blobs.create_temp(upload_id)
    except OSError as exc:
        raise storage_error(exc) from exc
    writer = HashingWriter(fd, hashlib.sha256(), sync_every=SYNC_EVERY)
    up = PartialUpload(
        id=upload_id,
        owner=account.name,
        key=key,
        name=name,
        size=msg.size,
        media_type=media_type,
        text=msg.text or name,
        fd=fd,
        path=path,
        writer=writer,
    )
    if svc.shared:
        svc.write_live(up)  # before the reply (no await: nothing can hand it over meanwhile)
    svc.track(up)
    svc._attach(up, conn)
    return UploadResult(upload=upload_id, offset=0)


def put(server: Server, conn: ClientConnection, msg: Put) -> int:
    account = require_login(conn)
    svc = service(server)
    up = svc.own_upload(account.name, conn, msg.upload)
    if up.finishing:
        raise RoostError(ErrorCode.BAD_REQUEST, "the upload is complete; send upload_done")
    if msg.offset != up.received:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"chunk at offset {msg.offset}, expected {up.received}"
        )
    data = msg.data
    n = len(data)
    if n > server.config.chunk_size:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"chunk of {n} bytes exceeds the chunk size of {server.config.chunk_size}",
        )
    if up.received + n > up.size:
        svc.drop(up)
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"more data than the {up.size} bytes announced; upload dropped"
        )
    try:
        # Written and hashed by a worker thread, in order; the frame's bytes stay
        # alive until then. Past the writer's backlog, this connection stops reading.
        has_room = up.writer.feed(data)
    except OSError as exc:
        svc.drop(up)
        raise storage_error(exc) from exc
    if not has_room and up.held is None:
        up.held = conn
        conn.hold_reading()
    up.received += n
    server.counters.file_bytes_in += n
    up.touched = time.monotonic()
    return up.received


async def upload_done(server: Server, conn: ClientConnection, msg: UploadDone) -> FileResult:
    account = require_login(conn)
    svc = service(server)
    up = svc.own_upload(account.name, conn, msg.upload)
    if up.finishing:
        raise RoostError(ErrorCode.BAD_REQUEST, "the upload is being completed already")
    if up.received != up.size:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"the upload is incomplete: {up.received} of {up.size} bytes received",
        )
    up.finishing = True  # no more puts, no resume, no sweep
    # Once all bytes are here, storing and offering the file goes to its end even
    # if the connection drops meanwhile (the task is not cancelled with it).
    task = asyncio.ensure_future(_complete(server, account, up, msg.sha256))
    svc.completing.add(task)
    task.add_done_callback(svc.completing.discard)
    # Its error is the reply's; with nobody left to reply to, it is read here.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return await asyncio.shield(task)


async def _complete(
    server: Server, account: Account, up: PartialUpload, declared: str
) -> FileResult:
    svc = service(server)
    try:
        await up.writer.flush()
        digest = up.writer.hasher.hexdigest()
        if declared.strip().lower() != digest:
            raise RoostError(
                ErrorCode.INTEGRITY,
                f"{up.name}: the bytes received do not match the SHA-256 declared"
                f" (got {digest}); the upload was discarded, send it again",
            )
        # The sender may have left the conversation while the bytes moved.
        conversation_key(server, account.name, up.key)
    except (OSError, RoostError) as exc:
        up.finishing = False
        svc.drop(up)
        if isinstance(exc, OSError):
            raise storage_error(exc) from exc
        raise
    svc.pins[digest] += 1
    try:
        writer = up.writer

        def commit() -> bool:
            writer.join_sync()
            return svc.blobs.commit(up.fd, up.path, digest)  # closes fd, removes temp on error

        try:
            await asyncio.to_thread(commit)
        finally:
            svc.forget(up)
        # A rename of the room under way: offered under its new name once it is
        # done (FileService.room_renamed), rather than refused with the bytes stored.
        await server.state.not_renaming(up.key)
        now = time.time()
        record = FileRecord(
            id=new_id(),
            sha256=digest,
            name=up.name,
            size=up.size,
            media_type=up.media_type,
            owner=account.name,
            room=up.key,
            created=now,
            expires=now + server.config.file_retention,
        )
        offered: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()

        def then(result: SendResult | None, exc: BaseException | None) -> None:
            if offered.done():
                return  # the upload's request was cancelled meanwhile
            if exc is not None:
                offered.set_exception(exc)
            else:
                assert result is not None
                offered.set_result(result)

        post_message(server, up.key, account.name, up.text, account.priority, then, record)
        posted = await offered
    finally:
        svc.pins[digest] -= 1
        if svc.pins[digest] <= 0:
            del svc.pins[digest]
    log.info("stored %s (%d bytes) from %s in %s", record.id, record.size, record.owner, up.key)
    return FileResult(file=file_info(record), room=posted.room, seq=posted.seq, ts=posted.ts)


def upload_cancel(server: Server, conn: ClientConnection, msg: UploadCancel) -> None:
    account = require_login(conn)
    svc = service(server)
    up = svc.uploads.get(msg.upload)
    if up is None or up.owner != account.name:
        raise RoostError(ErrorCode.NO_SUCH_FILE, f"no upload {msg.upload!r} in progress")
    if up.finishing:
        raise RoostError(ErrorCode.BAD_REQUEST, "the upload is being completed already")
    svc.drop(up)


async def visible_file(server: Server, user: str, file_id: str) -> FileRecord:
    """The file, if ``user`` may fetch it: its sender, or whoever is in its conversation."""
    rec = await server.store.get_file(file_id)
    if rec is None or not _may_see(server, user, rec):
        # Existence is not revealed to those who may not see the file.
        raise RoostError(ErrorCode.NO_SUCH_FILE, f"no file with id {file_id!r}")
    if rec.expired:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec.expires))
        raise RoostError(
            ErrorCode.NO_SUCH_FILE, f"the file {rec.name!r} ({file_id}) expired on {when}"
        )
    return rec


def _may_see(server: Server, user: str, rec: FileRecord) -> bool:
    if rec.owner == user:
        return True
    parties = dm_parties(rec.room)
    if parties is not None:
        return user in parties
    room = server.state.rooms.get(rec.room)
    return room is not None and user in room.members


def _details(rec: FileRecord) -> FileDetails:
    return FileDetails(
        file=file_info(rec),
        sender=rec.owner,
        room=rec.room,
        created=rec.created,
        expires=rec.expires,
    )


async def file_query(server: Server, conn: ClientConnection, msg: FileQuery) -> FileDetails:
    account = require_login(conn)
    return _details(await visible_file(server, account.name, msg.file))


async def download(server: Server, conn: ClientConnection, msg: Download) -> BulkReply:
    account = require_login(conn)
    svc = service(server)
    rec = await visible_file(server, account.name, msg.file)
    if not 0 <= msg.offset <= rec.size:
        raise RoostError(
            ErrorCode.BAD_REQUEST, f"offset {msg.offset} is outside the file (0..{rec.size})"
        )
    if msg.window < 0:
        raise RoostError(ErrorCode.BAD_REQUEST, "window must not be negative (0: no window)")
    svc._check_transfers(account.name)
    try:
        fd = os.open(svc.blobs.path(rec.sha256), os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        log.error("blob %s of file %s unreadable: %s", rec.sha256, rec.id, exc)
        raise RoostError(ErrorCode.STORAGE, "the server cannot read this file") from exc
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stream = DownloadStream(
        msg.id, rec, fd, msg.offset, account.name, done, window=msg.window, acked=msg.offset
    )
    svc.start_download(conn, stream)
    try:
        await done
    finally:
        svc.end_download(conn, stream)
    # Same class as the data, so the reply cannot overtake the last chunk.
    return BulkReply(_details(rec))


def download_cancel(server: Server, conn: ClientConnection, msg: DownloadCancel) -> None:
    require_login(conn)
    pump = service(server).pumps.get(conn)
    if pump is None:
        return
    for s in list(pump.streams):
        if s.request_id == msg.download:
            pump.fail(s, RoostError(ErrorCode.CANCELLED, "download cancelled"))


def download_ack(server: Server, conn: ClientConnection, msg: DownloadAck) -> None:
    require_login(conn)
    pump = service(server).pumps.get(conn)
    if pump is None:
        raise RoostError(ErrorCode.NO_SUCH_FILE, f"no download {msg.download} in progress")
    pump.ack(msg.download, msg.offset)


HANDLERS: dict[type, Any] = {
    Upload: upload,
    Put: put,
    UploadDone: upload_done,
    UploadCancel: upload_cancel,
    FileQuery: file_query,
    Download: download,
    DownloadCancel: download_cancel,
    DownloadAck: download_ack,
}

# file_info only reads; a download streams for as long as the file takes and
# changes nothing a later request sees; upload_done hashes and syncs the file,
# and its offer takes the next seq once stored (chat sent meanwhile is not
# held behind a disk write).
CONCURRENT = frozenset({FileQuery, Download, UploadDone})
