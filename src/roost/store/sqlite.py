"""SQLite store (WAL) with group commit on one database thread.

Every operation is a function of the connection. The operations of one loop
turn go together: message rows, when the database thread has nothing queued,
are committed right there on the loop thread (a WAL append without fsync,
tens of microseconds), and their callbacks run at once, so a message is
stored, acknowledged and fanned out in the loop turn after it arrived.
Everything else (and message rows behind it) goes to the database thread,
which takes everything queued, runs it in one transaction and commits once.

Durability: ``synchronous=NORMAL`` (the default here) survives a crash or
``kill -9`` of the server process, since a committed transaction is in the
WAL file; ``durability="fsync"`` (``synchronous=FULL``) also survives power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.names import note_rename
from roost.store.base import (
    Account,
    AuditRecord,
    FileRecord,
    OnStored,
    RoomPeople,
    RoomRecord,
    RoomUser,
    Sanction,
    SearchPage,
    SearchQuery,
    Store,
    StoredMessage,
    TokenRecord,
)
from roost.store.search import fts5_match

T = TypeVar("T")
log = logging.getLogger("roost.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'member',
    priority INTEGER NOT NULL DEFAULT 2,
    status TEXT NOT NULL DEFAULT 'active',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    name TEXT PRIMARY KEY,
    creator TEXT NOT NULL,
    created REAL NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    topic_by TEXT NOT NULL DEFAULT '',
    topic_ts REAL NOT NULL DEFAULT 0,
    private INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    renamed_to TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS members (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    priority INTEGER NOT NULL,
    file TEXT,
    kind TEXT NOT NULL DEFAULT 'text',
    ref INTEGER NOT NULL DEFAULT 0,
    reply_to INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
-- the events about one message (edits, deletions, reactions) are found by its seq
CREATE INDEX IF NOT EXISTS messages_ref ON messages (room, ref) WHERE ref > 0;
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    owner TEXT NOT NULL,
    room TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    expired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_owner ON files (owner) WHERE expired = 0;
CREATE INDEX IF NOT EXISTS files_expires ON files (expires) WHERE expired = 0;
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS sanctions (
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    author TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (kind, target)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_target ON audit (target, id);
CREATE TABLE IF NOT EXISTS read_markers (
    user TEXT NOT NULL,
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user, room)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mentions (
    user TEXT NOT NULL,
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (user, room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS last_seen (
    user TEXT PRIMARY KEY,
    ts REAL NOT NULL
) WITHOUT ROWID;
-- room roles, invitations and room mutes (docs/rooms.md); a row per user with any
CREATE TABLE IF NOT EXISTS room_users (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    invited_by TEXT NOT NULL DEFAULT '',
    mute_expires REAL,
    mute_reason TEXT NOT NULL DEFAULT '',
    mute_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
"""
# Full-text search (FTS5). Indexing a message costs 20-60 us of SQLite time
# (bench/search_index.py), several times what storing it costs; in the
# transaction that stores it, that would be on the loop thread (inline
# commits, _hand_over). So messages are indexed in batches on the database
# thread instead: a few times a second, and before every search, which
# therefore always sees every message stored before it. ``search_indexed``
# holds, per conversation, the highest seq indexed; a database of an older
# Roost starts with none and is indexed in the background after it opens.
# ``remove_diacritics 0``: accents count, as in PostgreSQL's "simple" config,
# so both stores find the same messages.
SEARCH_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5(
    text, room UNINDEXED, seq UNINDEXED, src UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TABLE IF NOT EXISTS search_indexed (
    room TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
"""
INDEX_INTERVAL = 0.25  # seconds between two background indexing batches
INDEX_CHUNK = 1024  # messages per background indexing batch
# While messages keep coming, the background batches wait: a batch on the
# database thread sends every commit of its time through that thread (no
# inline commits, _hand_over) and takes CPU from the fan-out (full-speed
# fan-out 1.14-1.28 M deliveries/s with a batch every 0.25 s, against
# 1.51-1.72 M without). A search still indexes everything first; past this
# backlog the batches run anyway, so that first search stays short.
INDEX_BACKLOG = 100_000  # messages (about 3 s of indexing for that first search)
# Columns added after a table was first published: (table, column, definition).
MIGRATIONS = [
    ("messages", "file", "TEXT"),
    ("messages", "kind", "TEXT NOT NULL DEFAULT 'text'"),
    ("messages", "ref", "INTEGER NOT NULL DEFAULT 0"),
    ("messages", "reply_to", "INTEGER NOT NULL DEFAULT 0"),
    ("rooms", "topic", "TEXT NOT NULL DEFAULT ''"),
    ("rooms", "topic_by", "TEXT NOT NULL DEFAULT ''"),
    ("rooms", "topic_ts", "REAL NOT NULL DEFAULT 0"),
    ("rooms", "private", "INTEGER NOT NULL DEFAULT 0"),
    ("rooms", "deleted", "INTEGER NOT NULL DEFAULT 0"),
    ("rooms", "renamed_to", "TEXT NOT NULL DEFAULT ''"),
]
ROOM_COLUMNS = "name, creator, created, topic, topic_by, topic_ts, private, deleted, renamed_to"
ROOM_USER_COLUMNS = "room, user, role, invited_by, mute_expires, mute_reason, mute_by"
# Everything keyed by a room's name that a delete removes (files stay, until
# they expire), and what a rename moves besides.
ROOM_TABLES = ("members", "room_users", "messages", "read_markers", "mentions")
RENAMED_TABLES = (*ROOM_TABLES, "files", "message_search", "search_indexed")


def _room_record(row: tuple[Any, ...]) -> RoomRecord:
    name, creator, created, topic, topic_by, topic_ts, private, deleted, renamed_to = row
    return RoomRecord(
        name,
        created,
        creator,
        set(),
        topic,
        topic_by,
        topic_ts,
        bool(private),
        bool(deleted),
        renamed_to,
    )


def _room_user(row: tuple[Any, ...]) -> RoomUser:
    return RoomUser(row[2], row[3], row[4], row[5], row[6])


def _require_live(conn: sqlite3.Connection, room: str) -> None:
    """On the database thread: ``no_such_room`` unless ``room`` is stored and not
    deleted (nor renamed, which marks the old name deleted)."""
    row = conn.execute("SELECT deleted FROM rooms WHERE name = ?", (room,)).fetchone()
    if row is None or row[0]:
        raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{room} was renamed or deleted")


def _people_of(conn: sqlite3.Connection, room: str) -> RoomPeople:
    """The members of ``room`` and those invited to it, as stored now."""
    return RoomPeople(
        {r[0] for r in conn.execute("SELECT user FROM members WHERE room = ?", (room,))},
        {
            r[0]
            for r in conn.execute(
                "SELECT user FROM room_users WHERE room = ? AND invited_by <> ''", (room,)
            )
        },
    )


# The messages that mention a user, newest first: with the text of their latest
# edit, and not those deleted or removed since ("ref > 0": the partial index).
MENTIONS_SQL = (
    "SELECT g.room, g.seq, g.sender, COALESCE((SELECT e.text FROM messages e"
    " WHERE e.room = g.room AND e.ref = g.seq AND e.ref > 0 AND e.kind = 'edit'"
    " ORDER BY e.seq DESC LIMIT 1), g.text), g.ts, g.priority FROM mentions m"
    " JOIN messages g ON g.room = m.room AND g.seq = m.seq"
    " WHERE m.user = ? AND g.ts < ? AND NOT EXISTS (SELECT 1 FROM messages x"
    " WHERE x.room = g.room AND x.ref = g.seq AND x.ref > 0 AND x.kind IN ('delete', 'remove'))"
    " ORDER BY g.ts DESC, g.seq DESC LIMIT ?"
)
MESSAGE_COLUMNS = "m.room, m.seq, m.sender, m.text, m.ts, m.priority, m.kind, m.ref, m.reply_to"
FILE_COLUMNS = "id, sha256, name, size, media_type, owner, room, created, expires, expired"

_STOP = object()
CHECKPOINT_INTERVAL = 0.5  # seconds between WAL checkpoints (on their own thread)
WAL_LIMIT = 16 * 1024 * 1024  # bytes of WAL before the writer checkpoints too
WAL_CHECK_EVERY = 32  # commits between two looks at the WAL's size
INLINE_MAX = 4096  # message rows the loop thread may commit itself (see _hand_over)
COMMIT_CHUNK = 256  # operations per commit on the database thread (durability "normal")
LOCK_WAIT = 5.0  # seconds the database thread waits for another process's write lock
Work = list[tuple[Callable[[sqlite3.Connection], Any], Any]]


class SQLiteStore(Store):
    """The default store: one SQLite file in the data folder."""

    def __init__(self, path: Path | str, durability: str = "normal") -> None:
        self.path = Path(path)
        self.durability = durability
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpoints = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq: dict[str, int] = {}
        # Names of renamed and deleted rooms: nothing is stored under them again.
        self._dead: set[str] = set()
        # Renamed rooms' old names -> their names now: a write keyed by an old
        # name (a caller that looked the room up before) lands under the new one.
        self._moved: dict[str, str] = {}
        self._conn: sqlite3.Connection | None = None
        self._outgoing: Work = []
        # Batches handed to the database thread whose results the loop has not
        # taken yet (only the loop thread counts): while above 0 only that
        # thread touches the connection, and results it posted may be pending.
        self._queued = 0
        self._commits = 0
        # Frames in the WAL as the last checkpoint found it, and the page size.
        self._wal_frames = 0
        self._page_size = 4096
        # The WAL outgrew WAL_LIMIT: the next batch goes to the database thread,
        # which checkpoints after it (never the loop thread).
        self._wal_due = False
        # Search index: highest seq indexed per conversation (or handed to the
        # database thread to index), the conversations with messages past it,
        # and the timer of the next background batch.
        self._indexed: dict[str, int] = {}
        self._unindexed: set[str] = set()
        self._index_timer: asyncio.TimerHandle | None = None
        self._indexing = 0  # background batches under way
        self._appended = 0  # messages stored since the last indexing tick

    # --- the database thread -------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # New databases use 1 KiB pages: a commit appends every page it changed
        # to the WAL, and a commit of a row or two at a steady message rate
        # changes one leaf page. With 4 KiB pages 2,000 commits/s wrote 8 MB/s
        # of WAL and reached WAL_LIMIT every 2 s (each time a batch's detour
        # through the database thread). No effect on an existing database.
        conn.execute("PRAGMA page_size=1024")
        conn.execute("PRAGMA journal_mode=WAL")
        sync = "FULL" if self.durability == "fsync" else "NORMAL"
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("PRAGMA foreign_keys=ON")
        for table, column, definition in MIGRATIONS:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if have and column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        # Checkpoints (copying the WAL into the database, with an fsync) run on
        # a thread of their own, so a commit never waits behind one.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executescript(SCHEMA + SEARCH_SCHEMA)
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        # From now on no waiting inside SQLite: the loop thread commits on this
        # connection too and must never sleep on another process's lock (_begin).
        conn.execute("PRAGMA busy_timeout=0")
        return conn

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        """Under steady writes the checkpoint thread never catches up with the
        end of the WAL, so the WAL never restarts; past WAL_LIMIT the writer
        checkpoints the (short) rest itself, between two batches, on the
        database thread."""
        if self._checkpoint(conn):
            # Nothing was written meanwhile: the next commit starts the WAL over.
            self._wal_frames = 0

    def _checkpoint(self, conn: sqlite3.Connection) -> bool:
        """A passive checkpoint; True if it copied the whole WAL."""
        with contextlib.suppress(sqlite3.Error):
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if row is not None and row[1] >= 0:
                busy, frames, copied = (int(v) for v in row)
                self._wal_frames = frames
                return busy == 0 and copied == frames
        return False

    def _checkpoints(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_INTERVAL):
                self._checkpoint(conn)
        finally:
            conn.close()

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None and self._loop is not None
        loop = self._loop
        q = self._queue
        while True:
            item = q.get()
            work: Work = []
            stop = False
            taken = 0
            while True:
                if item is _STOP:
                    stop = True
                else:
                    work.extend(item)
                    taken += 1
                if len(work) >= 2048:
                    break
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
            # In chunks, each its own commit: the loop fans out and acknowledges
            # one chunk while the next commits, instead of the whole room waiting
            # for one big commit. (With an fsync per commit, one big batch.)
            chunk = max(1, len(work)) if self.durability == "fsync" else COMMIT_CHUNK
            for i in range(0, len(work), chunk):
                results = self._execute(conn, work[i : i + chunk])
                assert results is not None  # waits for the lock, never None
                last = i + chunk >= len(work)
                if last and self._wal_due:
                    self._bound_wal(conn)
                    self._wal_due = False
                with contextlib.suppress(RuntimeError):  # loop already closed
                    loop.call_soon_threadsafe(self._thread_done, results, taken if last else 0)
            if stop:
                conn.close()
                return

    def _thread_done(self, results: Results, batches: int) -> None:
        """On the loop: results of the database thread, in the order it committed."""
        self._queued -= batches
        self._resolve(results)

    def _resolve(self, results: Results) -> None:
        _resolve_all(results)
        if self.after_stored is not None:
            try:
                self.after_stored()
            except Exception:
                log.exception("after_stored failed")

    def _begin(self, conn: sqlite3.Connection, wait: bool) -> bool:
        """Start a write transaction; False if another process holds the lock
        and ``wait`` is false. Only the database thread waits (at most
        LOCK_WAIT), so another writer on the file (say `roost user add` while
        the server runs) never stalls the event loop."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if not _locked(exc) or (wait and time.monotonic() > deadline):
                    raise
                if not wait:
                    return False
            time.sleep(0.002)

    def _execute(
        self, conn: sqlite3.Connection, work: list[Any], wait: bool = True
    ) -> Results | None:
        """Run a batch of operations in one transaction; one result per operation.

        None (and nothing done) if the database is locked and ``wait`` is false.
        """
        results: Results = []
        try:
            if not self._begin(conn, wait):
                return None
            started = time.perf_counter()
            i, n = 0, len(work)
            while i < n:
                j = i
                while j < n and type(work[j][0]) is _MessageRow:
                    j += 1
                if j - i > 1:
                    group = work[i:j]
                    if not _insert_rows(conn, group, results):
                        for fn, fut in group:
                            _run_one(conn, fn, fut, results)
                    i = j
                else:
                    fn, fut = work[i]
                    _run_one(conn, fn, fut, results)
                    i += 1
            conn.execute("COMMIT")
            self._commits += 1
            if self.on_commit is not None:
                self.on_commit(time.perf_counter() - started)
            # The WAL file keeps its size when it starts over, so its length
            # in frames (from the checkpoints) is what tells its growth.
            if (
                self._commits % WAL_CHECK_EVERY == 0
                and self._wal_frames * self._page_size > WAL_LIMIT
            ):
                self._wal_due = True
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            err = _as_store_error(exc)
            results = [(fut, False, err) for _, fut in work]
        return results

    def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        assert self._loop is not None, "store is not open"
        fut: asyncio.Future[T] = self._loop.create_future()
        self._enqueue(fn, fut)
        return fut

    def _enqueue(self, fn: Callable[[sqlite3.Connection], Any], target: Any) -> None:
        assert self._loop is not None, "store is not open"
        # Operations of one loop turn go together: one commit (and at most one
        # wake-up of the database thread) per turn, not one per message.
        self._outgoing.append((fn, target))
        if len(self._outgoing) == 1:
            self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        ops, self._outgoing = self._outgoing, []
        if not ops:
            return
        conn = self._conn
        if (
            self._queued == 0
            and not self._wal_due
            and self.durability != "fsync"
            and len(ops) <= INLINE_MAX
            and conn is not None
            and all(type(fn) is _MessageRow for fn, _ in ops)
        ):
            # Message rows while the database thread has nothing of ours: commit
            # them here. A commit of rows to the WAL (no fsync in this mode)
            # costs about 25 us plus 2.5 us a row; handing them to the thread
            # costs a wake-up, a GIL hand-over each way and a loop turn to take
            # the results, which was most of a message's latency under load.
            # No results of the thread are pending (_queued counts until the
            # loop took them), so callbacks still run in seq order.
            results = self._execute(conn, ops, wait=False)
            if results is not None:
                self._resolve(results)
                return
            # Another process is writing: the database thread waits for it.
        self._queued += 1
        self._queue.put(ops)

    # --- lifecycle -----------------------------------------------------------

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._conn = await asyncio.to_thread(self._connect)
        self._thread = threading.Thread(target=self._run, name="roost-sqlite", daemon=True)
        self._thread.start()
        self._stop_checkpoints.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoints, name="roost-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

        def load_seq(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT room, MAX(seq) FROM messages GROUP BY room")
            return {room: seq for room, seq in rows}

        self._seq = await self._submit(load_seq)
        self._dead = set(
            await self._submit(
                lambda conn: [
                    r[0] for r in conn.execute("SELECT name FROM rooms WHERE deleted = 1")
                ]
            )
        )

        self._moved = await self._submit(
            lambda conn: dict(
                conn.execute("SELECT name, renamed_to FROM rooms WHERE renamed_to != ''")
            )
        )

        def load_indexed(conn: sqlite3.Connection) -> dict[str, int]:
            return {room: seq for room, seq in conn.execute("SELECT room, seq FROM search_indexed")}

        self._indexed = await self._submit(load_indexed)
        self._unindexed = {r for r, seq in self._seq.items() if seq > self._indexed.get(r, 0)}
        self._index_later(0.0)

    # --- search index (see SEARCH_SCHEMA) ------------------------------------------

    def _index_later(self, delay: float = INDEX_INTERVAL) -> None:
        assert self._loop is not None
        if self._index_timer is None:
            self._index_timer = self._loop.call_later(delay, self._index_tick)

    def _index_tick(self) -> None:
        self._index_timer = None
        if self._thread is None:
            return  # closed
        busy, self._appended = self._appended, 0
        if self._unindexed and not self._indexing and (not busy or self._backlogged()):
            self._index(INDEX_CHUNK)
        self._index_later()

    def _backlogged(self) -> bool:
        backlog = sum(self._seq.get(r, 0) - self._indexed.get(r, 0) for r in self._unindexed)
        return backlog >= INDEX_BACKLOG

    def _index(self, budget: int | None) -> asyncio.Future[None] | None:
        """Hand the database thread the next messages to index (all with budget None)."""
        ranges: list[tuple[str, int, int]] = []
        left = budget
        for room in list(self._unindexed):
            done, last = self._indexed.get(room, 0), self._seq.get(room, 0)
            upto = last if left is None else min(last, done + left)
            if upto > done:
                ranges.append((room, done, upto))
            # Marked now: a search queued behind this batch must not index them again.
            self._indexed[room] = max(done, upto)
            if upto >= last:
                self._unindexed.discard(room)
            if left is not None:
                left -= upto - done
                if left <= 0:
                    break
        if not ranges:
            return None
        fut = self._submit(lambda conn: _index_messages(conn, ranges))
        if budget is not None:
            self._indexing += 1
        fut.add_done_callback(lambda f: self._indexed_done(f, ranges, budget))
        return fut

    def _indexed_done(
        self, fut: asyncio.Future[None], ranges: list[tuple[str, int, int]], budget: int | None
    ) -> None:
        if budget is not None:
            self._indexing -= 1
        if fut.cancelled() or fut.exception() is not None:
            # Not indexed after all: from where it was, at the next batch.
            log.warning("search indexing failed: %s", None if fut.cancelled() else fut.exception())
            for room, after, _ in ranges:
                if room not in self._seq:
                    # Renamed meanwhile: the new name's mark moved with it, so these
                    # rows stay out of the index (a known gap, see docs/rooms.md).
                    continue
                self._indexed[room] = min(self._indexed.get(room, 0), after)
                self._unindexed.add(room)
            return
        full = budget is not None and sum(upto - after for _, after, upto in ranges) >= budget
        if (
            full
            and self._unindexed
            and self._thread is not None
            and (not self._appended or self._backlogged())
        ):
            # A backlog (a database of an older Roost, a burst): the next batch now.
            self._index(INDEX_CHUNK)

    async def close(self) -> None:
        if self._thread is None:
            return
        if self._index_timer is not None:
            self._index_timer.cancel()
            self._index_timer = None
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        self._hand_over()
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def health_check(self) -> None:
        # Through the database thread, behind any queued work: a stuck thread shows.
        await self._submit(lambda conn: conn.execute("SELECT 1").fetchone())

    # --- accounts --------------------------------------------------------------

    async def get_account(self, name: str) -> Account | None:
        def op(conn: sqlite3.Connection) -> Account | None:
            row = conn.execute(
                "SELECT name, password_hash, role, priority, status, created"
                " FROM accounts WHERE name = ?",
                (name,),
            ).fetchone()
            return Account(*row) if row else None

        return await self._submit(op)

    async def create_account(self, account: Account) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO accounts"
                " (name, password_hash, role, priority, status, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    account.name,
                    account.password_hash,
                    account.role,
                    account.priority,
                    account.status,
                    account.created,
                ),
            )
            return cur.rowcount == 1

        return await self._submit(op)

    async def update_account(self, name: str, **fields: object) -> None:
        allowed = {"password_hash", "role", "priority", "status"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        cols = ", ".join(f"{k} = ?" for k in fields)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(f"UPDATE accounts SET {cols} WHERE name = ?", (*fields.values(), name))

        await self._submit(op)

    async def list_accounts(self) -> list[Account]:
        def op(conn: sqlite3.Connection) -> list[Account]:
            rows = conn.execute(
                "SELECT name, password_hash, role, priority, status, created"
                " FROM accounts ORDER BY name"
            )
            return [Account(*r) for r in rows]

        return await self._submit(op)

    async def delete_account(self, name: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM members WHERE user = ?", (name,))
            conn.execute("DELETE FROM tokens WHERE user = ?", (name,))
            conn.execute("DELETE FROM last_seen WHERE user = ?", (name,))
            return conn.execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount == 1

        return await self._submit(op)

    # --- moderation ----------------------------------------------------------------

    async def put_sanction(self, sanction: Sanction) -> None:
        s = sanction

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO sanctions (kind, target, reason, author, created, expires)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (s.kind, s.target, s.reason, s.author, s.created, s.expires),
            )

        await self._submit(op)

    async def delete_sanction(self, kind: str, target: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM sanctions WHERE kind = ? AND target = ?", (kind, target)
            )
            return cur.rowcount == 1

        return await self._submit(op)

    async def list_sanctions(self) -> list[Sanction]:
        def op(conn: sqlite3.Connection) -> list[Sanction]:
            rows = conn.execute(
                "SELECT kind, target, reason, author, created, expires FROM sanctions"
                " ORDER BY created"
            )
            return [Sanction(*r) for r in rows]

        return await self._submit(op)

    async def append_audit(self, record: AuditRecord) -> int:
        r = record

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO audit (ts, actor, action, target, reason, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (r.ts, r.actor, r.action, r.target, r.reason, r.detail),
            )
            return int(cur.lastrowid or 0)

        return await self._submit(op)

    async def audit_log(self, limit: int, target: str = "", before: int = 0) -> list[AuditRecord]:
        upper = before if before > 0 else (1 << 62)
        where = "id < ?" + (" AND target = ?" if target else "")
        args: tuple[object, ...] = (upper, target, limit) if target else (upper, limit)

        def op(conn: sqlite3.Connection) -> list[AuditRecord]:
            rows = conn.execute(
                "SELECT ts, actor, action, target, reason, detail, id FROM audit"
                f" WHERE {where} ORDER BY id DESC LIMIT ?",
                args,
            ).fetchall()
            return [AuditRecord(*r) for r in reversed(rows)]

        return await self._submit(op)

    # --- tokens ------------------------------------------------------------------

    async def save_token(self, token_hash: str, user: str, expires: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO tokens (token_hash, user, expires) VALUES (?, ?, ?)",
                (token_hash, user, expires),
            )

        await self._submit(op)

    async def token_user(self, token_hash: str, now: float) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT user FROM tokens WHERE token_hash = ? AND expires > ?", (token_hash, now)
            ).fetchone()
            return row[0] if row else None

        return await self._submit(op)

    async def list_tokens(self, user: str, now: float) -> list[TokenRecord]:
        def op(conn: sqlite3.Connection) -> list[TokenRecord]:
            rows = conn.execute(
                "SELECT token_hash, user, expires FROM tokens"
                " WHERE user = ? AND expires > ? ORDER BY expires",
                (user, now),
            ).fetchall()
            return [TokenRecord(*r) for r in rows]

        return await self._submit(op)

    async def revoke_tokens(self, user: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM tokens WHERE user = ?", (user,)).rowcount

        return await self._submit(op)

    async def revoke_token(self, token_hash: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            sql = "DELETE FROM tokens WHERE token_hash = ?"
            return conn.execute(sql, (token_hash,)).rowcount > 0

        return await self._submit(op)

    async def save_last_seen(self, user: str, ts: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO last_seen (user, ts) VALUES (?, ?)"
                " ON CONFLICT (user) DO UPDATE SET ts = max(ts, excluded.ts)",
                (user, ts),
            )

        await self._submit(op)

    async def last_seen(self) -> dict[str, float]:
        def op(conn: sqlite3.Connection) -> dict[str, float]:
            return {u: float(ts) for u, ts in conn.execute("SELECT user, ts FROM last_seen")}

        return await self._submit(op)

    # --- rooms -------------------------------------------------------------------

    async def load_rooms(self) -> list[RoomRecord]:
        def op(conn: sqlite3.Connection) -> list[RoomRecord]:
            rooms = {
                row[0]: _room_record(row)
                for row in conn.execute(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE deleted = 0")
            }
            for room, user in conn.execute("SELECT room, user FROM members"):
                if room in rooms:
                    rooms[room].members.add(user)
            for row in conn.execute(f"SELECT {ROOM_USER_COLUMNS} FROM room_users"):
                if row[0] in rooms:
                    rooms[row[0]].people[row[1]] = _room_user(row)
            return list(rooms.values())

        return await self._submit(op)

    async def get_room(self, name: str) -> RoomRecord | None:
        def op(conn: sqlite3.Connection) -> RoomRecord | None:
            row = conn.execute(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                return None
            rec = _room_record(row)
            rec.members = {
                r[0] for r in conn.execute("SELECT user FROM members WHERE room = ?", (name,))
            }
            rec.people = {
                r[1]: _room_user(r)
                for r in conn.execute(
                    f"SELECT {ROOM_USER_COLUMNS} FROM room_users WHERE room = ?", (name,)
                )
            }
            return rec

        return await self._submit(op)

    async def create_room(self, name: str, creator: str, ts: float, private: bool = False) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO rooms (name, creator, created, private) VALUES (?, ?, ?, ?)",
                (name, creator, ts, int(private)),
            )
            return cur.rowcount == 1

        return await self._submit(op)

    async def save_room(self, rec: RoomRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE rooms SET topic = ?, topic_by = ?, topic_ts = ?, private = ? WHERE name = ?",
                (rec.topic, rec.topic_by, rec.topic_ts, int(rec.private), rec.name),
            )

        await self._submit(op)

    async def save_room_user(self, room: str, user: str, entry: RoomUser) -> None:
        if entry.is_empty():
            # A removal follows a rename (as remove_member): it leaves no row behind.
            room = self._moved.get(room, room)
        else:
            self._refuse_gone(room)

        def op(conn: sqlite3.Connection) -> None:
            if entry.is_empty():
                conn.execute("DELETE FROM room_users WHERE room = ? AND user = ?", (room, user))
                return
            conn.execute(
                f"INSERT OR REPLACE INTO room_users ({ROOM_USER_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    room,
                    user,
                    entry.role,
                    entry.invited_by,
                    entry.mute_expires,
                    entry.mute_reason,
                    entry.mute_by,
                ),
            )

        await self._submit(op)

    async def delete_room(self, name: str) -> RoomPeople:
        if name in self._dead:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{name} was renamed or deleted")
        # Before any later append or join: the database thread runs the delete
        # after every write queued before it, and refuses the ones after it.
        self._dead.add(name)

        def op(conn: sqlite3.Connection) -> RoomPeople:
            _require_live(conn, name)
            # Read on the one writer thread, in the delete's transaction: what it removes.
            gone = _people_of(conn, name)
            for table in ROOM_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE room = ?", (name,))
            conn.execute("DELETE FROM message_search WHERE room = ?", (name,))
            conn.execute(
                "UPDATE rooms SET deleted = 1, topic = '', topic_by = '', private = 0"
                " WHERE name = ?",
                (name,),
            )
            return gone

        return await self._run_or_undo(op, lambda: self._dead.discard(name))

    async def rename_room(self, old: str, new: str) -> RoomPeople:
        if old in self._dead:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{old} was renamed or deleted")
        if new in self._seq or new in self._dead:
            raise RoostError(ErrorCode.NAME_TAKEN, f"the name {new!r} is taken")
        # Moved here, before any later append: the database thread runs the
        # rename after every message queued before it, and the ones after it
        # are numbered from the moved counter. (The server posts to neither
        # name while it waits, so a failed rename moves them back as they were.)
        self._move_counters(old, new)
        self._dead.add(old)
        moved = dict(self._moved)
        note_rename(self._moved, old, new)

        def op(conn: sqlite3.Connection) -> RoomPeople:
            _require_live(conn, old)
            # Read on the one writer thread, in the rename's transaction: whom it moves.
            moved_people = _people_of(conn, old)
            try:
                conn.execute(
                    "INSERT INTO rooms (name, creator, created, topic, topic_by, topic_ts, private)"
                    " SELECT ?, creator, created, topic, topic_by, topic_ts, private FROM rooms"
                    " WHERE name = ?",
                    (new, old),
                )
            except sqlite3.IntegrityError as exc:
                raise RoostError(ErrorCode.NAME_TAKEN, f"the name {new!r} is taken") from exc
            for table in RENAMED_TABLES:
                conn.execute(f"UPDATE {table} SET room = ? WHERE room = ?", (new, old))
            conn.execute(
                "UPDATE rooms SET deleted = 1, renamed_to = ?, topic = '', topic_by = '',"
                " private = 0 WHERE name = ?",
                (new, old),
            )
            conn.execute("UPDATE rooms SET renamed_to = ? WHERE renamed_to = ?", (new, old))
            return moved_people

        def undo() -> None:
            self._move_counters(new, old)
            self._dead.discard(old)
            self._moved = moved

        return await self._run_or_undo(op, undo)

    async def _run_or_undo(
        self, op: Callable[[sqlite3.Connection], T], undo: Callable[[], None]
    ) -> T:
        """Run ``op`` on the database thread to its end, even if the caller stops
        waiting, and call ``undo`` (put back what was marked in memory before it
        was queued) only if its transaction failed: a caller that stopped
        waiting does not stop the database thread from committing it."""

        def done(fut: asyncio.Future[T]) -> None:
            if not fut.cancelled() and fut.exception() is not None:
                undo()

        fut = self._submit(op)
        fut.add_done_callback(done)
        return await asyncio.shield(fut)

    def _move_counters(self, old: str, new: str) -> None:
        if old in self._seq:
            self._seq[new] = self._seq.pop(old)
        if old in self._indexed:
            self._indexed[new] = self._indexed.pop(old)
        if old in self._unindexed:
            self._unindexed.discard(old)
            self._unindexed.add(new)

    async def flushed(self) -> None:
        # One queue, run in order: a no-op returns after every earlier write.
        await self._submit(lambda conn: None)

    async def room_renames(self) -> dict[str, str]:
        def op(conn: sqlite3.Connection) -> dict[str, str]:
            rows = conn.execute("SELECT name, renamed_to FROM rooms WHERE renamed_to != ''")
            return dict(rows.fetchall())

        return await self._submit(op)

    async def add_member(self, room: str, user: str) -> None:
        self._refuse_gone(room)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO members (room, user) VALUES (?, ?)", (room, user))

        await self._submit(op)

    def _refuse_gone(self, room: str) -> None:
        """Before a member or room-user row of ``room`` is queued: ``no_such_room``
        if the room is deleted or renamed, or a delete or rename of it is queued
        (both mark it dead before they are queued, and the database thread runs
        them before the row). They took its people and told them; a row written
        after would belong to someone never told. A name never made passes."""
        if room in self._dead:
            if room in self._moved:
                raise RoostError(
                    ErrorCode.NO_SUCH_ROOM, f"#{room} was renamed to #{self._moved[room]}"
                )
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{room} was deleted")

    async def remove_member(self, room: str, user: str) -> None:
        room = self._moved.get(room, room)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM members WHERE room = ? AND user = ?", (room, user))

        await self._submit(op)

    # --- messages ------------------------------------------------------------------

    def append_message(
        self,
        room: str,
        sender: str,
        text: str,
        priority: int,
        ts: float,
        on_stored: OnStored,
        file: FileRecord | None = None,
        kind: str = "text",
        ref: int = 0,
        reply_to: int = 0,
    ) -> StoredMessage:
        if room in self._dead:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{room} was renamed or deleted")
        seq = self._seq.get(room, 0) + 1
        self._seq[room] = seq
        self._unindexed.add(room)
        self._appended += 1
        if file is None:
            # The common case: a plain row, batched with its neighbours (_MessageRow).
            self._enqueue(
                _MessageRow((room, seq, sender, text, ts, priority, None, kind, ref, reply_to)),
                on_stored,
            )
            return StoredMessage(room, seq, sender, text, ts, priority, None, kind, ref, reply_to)
        record = file
        row = (room, seq, sender, text, ts, priority, record.id, kind, ref, reply_to)

        def op_with_file(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _file_row(record),
            )
            conn.execute(INSERT_MESSAGE, row)

        self._enqueue(op_with_file, on_stored)
        return StoredMessage(room, seq, sender, text, ts, priority, file, kind, ref, reply_to)

    async def last_seq(self, room: str) -> int:
        return self._seq.get(room, 0)

    async def all_last_seqs(self) -> dict[str, int]:
        return dict(self._seq)

    async def conversations_of(self, user: str, rooms: set[str]) -> dict[str, int]:
        out = {room: self._seq.get(room, 0) for room in rooms}
        for key, seq in self._seq.items():
            if key.startswith("@") and user in key[1:].split("+"):
                out[key] = seq
        return out

    async def history(self, room: str, after: int, before: int, limit: int) -> list[StoredMessage]:
        upper = before if before > 0 else (1 << 62)
        return await self._messages(
            "m.room = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq LIMIT ?",
            (room, after, upper, limit),
        )

    async def get_message(self, room: str, seq: int) -> StoredMessage | None:
        rows = await self._messages("m.room = ? AND m.seq = ?", (room, seq))
        return rows[0] if rows else None

    async def refs_to(self, room: str, seq: int) -> list[StoredMessage]:
        if seq <= 0:
            return []
        # "m.ref > 0" repeats the partial index's condition, so SQLite uses the index.
        return await self._messages(
            "m.room = ? AND m.ref = ? AND m.ref > 0 ORDER BY m.seq", (room, seq)
        )

    async def _messages(self, where: str, args: tuple[Any, ...]) -> list[StoredMessage]:
        """Messages (with their files) matching ``where``, a condition on ``m``."""
        file_cols = ", ".join(f"f.{c}" for c in FILE_COLUMNS.split(", "))

        def op(conn: sqlite3.Connection) -> list[StoredMessage]:
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS}, {file_cols}"
                f" FROM messages m LEFT JOIN files f ON f.id = m.file WHERE {where}",
                args,
            )
            return [
                StoredMessage(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    _file_record(r[9:]) if r[9] else None,
                    r[6],
                    r[7],
                    r[8],
                )
                for r in rows
            ]

        return await self._submit(op)

    # --- read markers and mentions -------------------------------------------------

    async def set_read(self, user: str, room: str, seq: int) -> int:
        room = self._moved.get(room, room)

        def op(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO read_markers (user, room, seq) VALUES (?, ?, ?)"
                " ON CONFLICT (user, room) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (user, room, seq),
            )
            row = conn.execute(
                "SELECT seq FROM read_markers WHERE user = ? AND room = ?", (user, room)
            ).fetchone()
            return int(row[0])

        return await self._submit(op)

    async def read_markers(self, user: str) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT room, seq FROM read_markers WHERE user = ?", (user,))
            return {r[0]: int(r[1]) for r in rows}

        return await self._submit(op)

    async def add_mentions(self, room: str, seq: int, users: Iterable[str]) -> None:
        room = self._moved.get(room, room)
        rows = [(u, room, seq) for u in users]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO mentions (user, room, seq) VALUES (?, ?, ?)", rows
            )

        await self._submit(op)

    async def mention_counts(self, user: str) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute(
                "SELECT m.room, COUNT(*) FROM mentions m"
                " LEFT JOIN read_markers r ON r.user = m.user AND r.room = m.room"
                " WHERE m.user = ? AND m.seq > COALESCE(r.seq, 0) GROUP BY m.room",
                (user,),
            )
            return {r[0]: int(r[1]) for r in rows}

        return await self._submit(op)

    async def mentions(self, user: str, limit: int, before: float = 0.0) -> list[StoredMessage]:
        upper = before if before > 0 else float("inf")

        def op(conn: sqlite3.Connection) -> list[StoredMessage]:
            rows = conn.execute(MENTIONS_SQL, (user, upper, limit)).fetchall()
            return [StoredMessage(*r) for r in reversed(rows)]

        return await self._submit(op)

    async def search(self, query: SearchQuery) -> SearchPage:
        try:
            upper = int(query.cursor) if query.cursor else 1 << 62
        except ValueError:
            raise RoostError(ErrorCode.BAD_QUERY, "that search cursor is not one of ours") from None
        where = ["message_search MATCH ?", "s.room IN (SELECT value FROM json_each(?))"]
        args: list[object] = [fts5_match(query.terms), json.dumps(query.rooms)]
        where.append("s.rowid < ?")
        args.append(upper)
        if query.sender:
            where.append("m.sender = ?")
            args.append(query.sender)
        if query.since:
            where.append("m.ts >= ?")
            args.append(query.since)
        if query.until:
            where.append("m.ts < ?")
            args.append(query.until)
        args.append(query.limit + 1)
        file_cols = ", ".join(f"f.{c}" for c in FILE_COLUMNS.split(", "))
        # Everything stored (or queued to be) before this search, indexed
        # first: the batch is queued ahead of the query.
        self._index(None)
        # An entry is the text of row src for the message seq (itself, or an
        # edit of it): found only while it is the message's latest text and the
        # message was not deleted or removed ("x.ref > 0": the partial index).
        where.append(
            "NOT EXISTS (SELECT 1 FROM messages x WHERE x.room = s.room AND x.ref = s.seq"
            " AND x.ref > 0 AND (x.kind IN ('delete', 'remove')"
            " OR (x.kind = 'edit' AND x.seq > s.src)))"
        )
        sql = (
            f"SELECT s.rowid, m.room, m.seq, m.sender, t.text, m.ts, m.priority, {file_cols},"
            " m.reply_to"
            " FROM message_search s JOIN messages m ON m.room = s.room AND m.seq = s.seq"
            " JOIN messages t ON t.room = s.room AND t.seq = s.src"
            " LEFT JOIN files f ON f.id = m.file"
            f" WHERE {' AND '.join(where)} ORDER BY s.rowid DESC LIMIT ?"
        )

        def op(conn: sqlite3.Connection) -> SearchPage:
            try:
                rows = conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                # parse_query quotes every term, so this should not happen; if
                # FTS5 refuses a query all the same, it is the query's fault.
                if "fts5" not in str(exc):
                    raise
                raise RoostError(ErrorCode.BAD_QUERY, f"the search cannot be run: {exc}") from None
            found = [
                StoredMessage(
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    _file_record(r[7:17]) if r[7] else None,
                    reply_to=r[17],
                )
                for r in rows[: query.limit]
            ]
            more = len(rows) > query.limit
            return SearchPage(found, str(rows[query.limit - 1][0]) if more else "")

        return await self._submit(op)

    # --- files ---------------------------------------------------------------------

    async def get_file(self, file_id: str) -> FileRecord | None:
        def op(conn: sqlite3.Connection) -> FileRecord | None:
            row = conn.execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE id = ?", (file_id,)
            ).fetchone()
            return _file_record(row) if row else None

        return await self._submit(op)

    async def file_usage(self, owner: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COALESCE(SUM(size), 0) FROM files WHERE owner = ? AND expired = 0",
                (owner,),
            ).fetchone()
            return int(row[0])

        return await self._submit(op)

    async def expire_files(self, now: float) -> tuple[list[FileRecord], list[str]]:
        def op(conn: sqlite3.Connection) -> tuple[list[FileRecord], list[str]]:
            rows = conn.execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE expired = 0 AND expires <= ?", (now,)
            ).fetchall()
            if not rows:
                return [], []
            gone = [_file_record(r) for r in rows]
            conn.executemany("UPDATE files SET expired = 1 WHERE id = ?", [(f.id,) for f in gone])
            unused = [
                sha
                for sha in {f.sha256 for f in gone}
                if conn.execute(
                    "SELECT 1 FROM files WHERE sha256 = ? AND expired = 0 LIMIT 1", (sha,)
                ).fetchone()
                is None
            ]
            return gone, unused

        return await self._submit(op)

    async def live_blobs(self) -> set[str]:
        def op(conn: sqlite3.Connection) -> set[str]:
            return {
                r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM files WHERE expired = 0")
            }

        return await self._submit(op)


def _index_messages(conn: sqlite3.Connection, ranges: list[tuple[str, int, int]]) -> None:
    """Add the messages with after < seq <= upto of each (room, after, upto) to the index.

    The one place messages enter the search index. Text messages (and file
    offers) are indexed as themselves, an edit as the text of the message it
    edits (``seq`` the message, ``src`` the row the text is from); reactions
    and deletions are not text to find (a search drops a deleted message and
    a text an edit replaced, see search). In time order, so the index's
    rowids (the order search pages in) follow time.
    """
    conn.execute(
        "INSERT INTO message_search (text, room, seq, src)"
        " SELECT m.text, m.room, CASE m.kind WHEN 'edit' THEN m.ref ELSE m.seq END, m.seq"
        " FROM json_each(?) j JOIN messages m"
        " ON m.room = j.value ->> 0 AND m.seq > j.value ->> 1 AND m.seq <= j.value ->> 2"
        " WHERE m.kind IN ('text', 'edit')"
        " ORDER BY m.ts, m.room, m.seq",
        (json.dumps(ranges),),
    )
    conn.executemany(
        "INSERT OR REPLACE INTO search_indexed (room, seq) VALUES (?, ?)",
        [(room, upto) for room, _, upto in ranges],
    )


def _file_row(f: FileRecord) -> tuple[object, ...]:
    return (
        f.id,
        f.sha256,
        f.name,
        f.size,
        f.media_type,
        f.owner,
        f.room,
        f.created,
        f.expires,
        int(f.expired),
    )


def _file_record(row: tuple[Any, ...]) -> FileRecord:
    fid, sha, name, size, media_type, owner, room, created, expires, expired = row
    return FileRecord(
        fid, sha, name, size, media_type, owner, room, created, expires, bool(expired)
    )


INSERT_MESSAGE = (
    "INSERT INTO messages (room, seq, sender, text, ts, priority, file, kind, ref, reply_to)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _MessageRow(tuple):  # type: ignore[type-arg]
    """One message insert. Consecutive ones in a batch go to SQLite as one
    executemany, so a busy room costs a few statements per commit, not four
    per message (and the database thread holds the GIL that much less)."""

    __slots__ = ()

    def __call__(self, conn: sqlite3.Connection) -> None:
        conn.execute(INSERT_MESSAGE, self)


# (future or on_stored callback, succeeded, result or error) per operation
Results = list[tuple[Any, bool, Any]]


def _run_one(
    conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any], fut: Any, results: Results
) -> None:
    """One operation in its own savepoint: if it fails, the rest of the batch stands."""
    try:
        conn.execute("SAVEPOINT op")
        res = fn(conn)
        conn.execute("RELEASE op")
        results.append((fut, True, res))
    except Exception as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
        results.append((fut, False, _as_store_error(exc)))


def _insert_rows(conn: sqlite3.Connection, group: list[Any], results: Results) -> bool:
    """Insert a run of message rows at once; False (and nothing done) if any fails."""
    try:
        conn.execute("SAVEPOINT rows")
        conn.executemany(INSERT_MESSAGE, [row for row, _ in group])
        conn.execute("RELEASE rows")
    except sqlite3.Error:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK TO rows")
            conn.execute("RELEASE rows")
        return False
    results.extend((fut, True, None) for _, fut in group)
    return True


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, RoostError):
        return exc
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
        return RoostError(ErrorCode.STORAGE, "the server's disk is full")
    if isinstance(exc, sqlite3.Error):
        return RoostError(ErrorCode.STORAGE, f"storage error: {exc}")
    return exc


def _resolve_all(results: Results) -> None:
    for target, ok, value in results:
        if isinstance(target, asyncio.Future):
            if target.done():
                continue
            if ok:
                target.set_result(value)
            else:
                target.set_exception(value)
            continue
        # A callback runs the server's code (publish, reply, the next requests):
        # if it fails, the other operations of the batch must still be told.
        try:
            target(None if ok else value)
        except Exception:
            log.exception("a store callback failed")
