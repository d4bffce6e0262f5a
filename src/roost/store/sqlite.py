"""SQLite store (WAL) with group commit on one database thread.

Every operation is a function of the connection, queued to the database
thread. The thread takes everything queued, runs it in one transaction, and
commits once: under load many messages share one commit, so acknowledging
after the store costs little. SQLite releases the GIL while it works, so the
event loop keeps serving meanwhile.

Durability: ``synchronous=NORMAL`` (the default here) survives a crash or
``kill -9`` of the server process, since a committed transaction is in the
WAL file; ``durability="fsync"`` (``synchronous=FULL``) also survives power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.base import (
    Account,
    AuditRecord,
    FileRecord,
    RoomRecord,
    Sanction,
    Store,
    StoredMessage,
)

T = TypeVar("T")

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
    created REAL NOT NULL
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
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
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
"""
# Columns added after a table was first published: (table, column, definition).
MIGRATIONS = [("messages", "file", "TEXT")]
FILE_COLUMNS = "id, sha256, name, size, media_type, owner, room, created, expires, expired"

_STOP = object()
CHECKPOINT_INTERVAL = 0.5  # seconds between WAL checkpoints (on their own thread)
WAL_LIMIT = 16 * 1024 * 1024  # bytes of WAL before the writer checkpoints too
INLINE_MAX = 64  # message rows the loop thread may commit itself (see _hand_over)
COMMIT_CHUNK = 64  # operations per commit on the database thread (durability "normal")


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
        self._conn: sqlite3.Connection | None = None
        self._outgoing: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        # Batches handed to the database thread and not finished; while it is
        # above 0 only that thread touches the connection.
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._commits = 0

    # --- the database thread -------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
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
        conn.executescript(SCHEMA)
        return conn

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        """Under steady writes the checkpoint thread never catches up with the
        end of the WAL, so the WAL never restarts; past WAL_LIMIT the writer
        checkpoints the (short) rest itself, between two batches."""
        try:
            size = os.path.getsize(f"{self.path}-wal")
        except OSError:
            return
        if size > WAL_LIMIT:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoints(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop_checkpoints.wait(CHECKPOINT_INTERVAL):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None and self._loop is not None
        loop = self._loop
        q = self._queue
        while True:
            item = q.get()
            work: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
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
            chunk = len(work) if self.durability == "fsync" else COMMIT_CHUNK
            for i in range(0, len(work), chunk):
                results = self._execute(conn, work[i : i + chunk])
                with contextlib.suppress(RuntimeError):  # loop already closed
                    loop.call_soon_threadsafe(_resolve_all, results)
            # Only now may the loop thread use the connection itself (see _hand_over).
            with self._queued_lock:
                self._queued -= taken
            if stop:
                conn.close()
                return

    def _execute(self, conn: sqlite3.Connection, work: list[Any]) -> Results:
        """Run a batch of operations in one transaction; one result per operation."""
        results: Results = []
        try:
            conn.execute("BEGIN")
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
            if self._commits % 32 == 0:
                self._bound_wal(conn)
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            err = _as_store_error(exc)
            results = [(fut, False, err) for _, fut in work]
        return results

    def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        assert self._loop is not None, "store is not open"
        fut: asyncio.Future[T] = self._loop.create_future()
        # Operations of one loop turn go to the database thread together: one
        # wake-up of that thread per turn, not one per message.
        self._outgoing.append((fn, fut))
        if len(self._outgoing) == 1:
            self._loop.call_soon(self._hand_over)
        return fut

    def _hand_over(self) -> None:
        ops, self._outgoing = self._outgoing, []
        if not ops:
            return
        conn = self._conn
        assert self._loop is not None
        if (
            self._queued == 0
            and self.durability != "fsync"
            and len(ops) <= INLINE_MAX
            and conn is not None
            and all(type(fn) is _MessageRow for fn, _ in ops)
        ):
            # A few message rows while the database thread is idle: commit them
            # here. A commit of a few rows to the WAL (no fsync in this mode) is
            # cheaper than waking that thread and waiting for it to be
            # scheduled, which is most of a message's latency on a busy machine.
            # Resolved through the ready queue, behind any results the thread
            # already posted, so messages are published in seq order.
            self._loop.call_soon(_resolve_all, self._execute(conn, ops))
            return
        with self._queued_lock:
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

    async def close(self) -> None:
        if self._thread is None:
            return
        if self._checkpointer is not None:
            self._stop_checkpoints.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        self._hand_over()
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

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

    # --- rooms -------------------------------------------------------------------

    async def load_rooms(self) -> list[RoomRecord]:
        def op(conn: sqlite3.Connection) -> list[RoomRecord]:
            rooms = {
                name: RoomRecord(name, created, creator)
                for name, creator, created in conn.execute(
                    "SELECT name, creator, created FROM rooms"
                )
            }
            for room, user in conn.execute("SELECT room, user FROM members"):
                if room in rooms:
                    rooms[room].members.add(user)
            return list(rooms.values())

        return await self._submit(op)

    async def create_room(self, name: str, creator: str, ts: float) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO rooms (name, creator, created) VALUES (?, ?, ?)",
                (name, creator, ts),
            )
            return cur.rowcount == 1

        return await self._submit(op)

    async def add_member(self, room: str, user: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO members (room, user) VALUES (?, ?)", (room, user))

        await self._submit(op)

    async def remove_member(self, room: str, user: str) -> None:
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
        file: FileRecord | None = None,
    ) -> tuple[StoredMessage, asyncio.Future[None]]:
        seq = self._seq.get(room, 0) + 1
        self._seq[room] = seq
        if file is None:
            # The common case: a plain row, batched with its neighbours (_MessageRow).
            op: Callable[[sqlite3.Connection], None] = _MessageRow(
                (room, seq, sender, text, ts, priority, None)
            )
            return StoredMessage(room, seq, sender, text, ts, priority, file), self._submit(op)
        record = file
        row = (room, seq, sender, text, ts, priority, record.id)

        def op_with_file(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _file_row(record),
            )
            conn.execute(INSERT_MESSAGE, row)

        return StoredMessage(room, seq, sender, text, ts, priority, file), self._submit(
            op_with_file
        )

    def last_seq(self, room: str) -> int:
        return self._seq.get(room, 0)

    def conversations_of(self, user: str, rooms: set[str]) -> dict[str, int]:
        out = {room: self._seq.get(room, 0) for room in rooms}
        for key, seq in self._seq.items():
            if key.startswith("@") and user in key[1:].split("+"):
                out[key] = seq
        return out

    async def history(self, room: str, after: int, before: int, limit: int) -> list[StoredMessage]:
        upper = before if before > 0 else (1 << 62)

        file_cols = ", ".join(f"f.{c}" for c in FILE_COLUMNS.split(", "))

        def op(conn: sqlite3.Connection) -> list[StoredMessage]:
            rows = conn.execute(
                f"SELECT m.room, m.seq, m.sender, m.text, m.ts, m.priority, {file_cols}"
                " FROM messages m LEFT JOIN files f ON f.id = m.file"
                " WHERE m.room = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq LIMIT ?",
                (room, after, upper, limit),
            )
            return [
                StoredMessage(
                    r[0], r[1], r[2], r[3], r[4], r[5], _file_record(r[6:]) if r[6] else None
                )
                for r in rows
            ]

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
    "INSERT INTO messages (room, seq, sender, text, ts, priority, file)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class _MessageRow(tuple):  # type: ignore[type-arg]
    """One message insert. Consecutive ones in a batch go to SQLite as one
    executemany, so a busy room costs a few statements per commit, not four
    per message (and the database thread holds the GIL that much less)."""

    __slots__ = ()

    def __call__(self, conn: sqlite3.Connection) -> None:
        conn.execute(INSERT_MESSAGE, self)


Results = list[tuple["asyncio.Future[Any]", bool, Any]]


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


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, RoostError):
        return exc
    if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
        return RoostError(ErrorCode.STORAGE, "the server's disk is full")
    if isinstance(exc, sqlite3.Error):
        return RoostError(ErrorCode.STORAGE, f"storage error: {exc}")
    return exc


def _resolve_all(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in results:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
