"""PostgreSQL store (asyncpg) for cluster mode: several server processes, one truth.

Messages go in by group commit: what the server appends while a commit is in
flight is stored by the next one, in a single statement that takes each
room's next sequence numbers from its counter row (``seqs``, updated with
RETURNING) and inserts the rows, all in one transaction. The counter row stays
locked until that commit, so writers on other nodes take the following numbers:
seqs are gapless and increasing per conversation across the cluster, and a
message is acknowledged (``on_stored``) only once committed.

The schema is versioned (``schema_version``); :meth:`PostgresStore.migrate`
(``roost db migrate``) creates or upgrades it, and :meth:`open` refuses a
database whose schema is not the one this code expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg

from roost.protocol.errors import ErrorCode, RoostError
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
    safe_url,
)
from roost.store.search import tsquery

log = logging.getLogger("roost.store")
T = TypeVar("T")

# Each entry upgrades the schema by one version; never edit a published one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'member',
        priority INTEGER NOT NULL DEFAULT 2,
        status TEXT NOT NULL DEFAULT 'active',
        created DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        "user" TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX tokens_user ON tokens ("user");
    CREATE TABLE rooms (
        name TEXT PRIMARY KEY,
        creator TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE members (
        room TEXT NOT NULL,
        "user" TEXT NOT NULL,
        PRIMARY KEY (room, "user")
    );
    CREATE INDEX members_user ON members ("user");
    CREATE TABLE seqs (
        room TEXT PRIMARY KEY,
        last BIGINT NOT NULL
    );
    CREATE TABLE messages (
        room TEXT NOT NULL,
        seq BIGINT NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        priority INTEGER NOT NULL,
        file TEXT,
        PRIMARY KEY (room, seq)
    );
    CREATE TABLE files (
        id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        size BIGINT NOT NULL,
        media_type TEXT NOT NULL,
        owner TEXT NOT NULL,
        room TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL,
        expired BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX files_owner ON files (owner) WHERE NOT expired;
    CREATE INDEX files_expires ON files (expires) WHERE NOT expired;
    CREATE INDEX files_sha256 ON files (sha256);
    CREATE TABLE sanctions (
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        author TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (kind, target)
    );
    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_target ON audit (target, id);
    """,
    # 2: when each user's last session ended (admin users' "last seen").
    """
    CREATE TABLE last_seen (
        "user" TEXT PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL
    );
    """,
    # 3: edits, deletions, reactions and replies (docs/protocol.md 5.3)
    """
    ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
    ALTER TABLE messages ADD COLUMN ref BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN reply_to BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX messages_ref ON messages (room, ref) WHERE ref > 0;
    """,
    # 4: full-text search. A generated column keeps the index in step with every
    # insert in the same statement; only letters and digits are words (as in the
    # SQLite store's FTS5 tokenizer), the "simple" config folds case and keeps
    # accents. Which rows are searchable, and how edits change that, is decided
    # in this one expression and in SEARCH_SQL.
    """
    ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS
        (to_tsvector('simple', regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))) STORED;
    CREATE INDEX messages_search ON messages USING GIN (search);
    """,
    # 5: read markers and mentions (docs/protocol.md 7.6)
    """
    CREATE TABLE read_markers (
        "user" TEXT NOT NULL,
        room TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY ("user", room)
    );
    CREATE TABLE mentions (
        "user" TEXT NOT NULL,
        room TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY ("user", room, seq)
    );
    """,
    # 6: topics, private rooms, room roles, invitations, room mutes (docs/rooms.md)
    """
    ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
    ALTER TABLE rooms ADD COLUMN topic_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE rooms ADD COLUMN topic_ts DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE rooms ADD COLUMN private BOOLEAN NOT NULL DEFAULT false;
    ALTER TABLE rooms ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false;
    CREATE TABLE room_users (
        room TEXT NOT NULL,
        "user" TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT '',
        invited_by TEXT NOT NULL DEFAULT '',
        mute_expires DOUBLE PRECISION,
        mute_reason TEXT NOT NULL DEFAULT '',
        mute_by TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (room, "user")
    );
    """,
    # 7: renamed rooms (docs/rooms.md). The counter row of a renamed or deleted
    # room is a tombstone (DEAD_ROOM): a node that has not heard of the change
    # yet and stores a message under the old name fails on the check (its
    # "last + n" is neither a count nor the tombstone), instead of starting a
    # ghost room of that name at seq 1.
    """
    ALTER TABLE rooms ADD COLUMN renamed_to TEXT NOT NULL DEFAULT '';
    ALTER TABLE seqs ADD CONSTRAINT seqs_live CHECK (last >= 0 OR last = -4611686018427387904);
    INSERT INTO seqs (room, last) SELECT name, -4611686018427387904 FROM rooms WHERE deleted
    ON CONFLICT (room) DO UPDATE SET last = EXCLUDED.last;
    """,
]
DEAD_ROOM = -(1 << 62)  # a renamed or deleted room's counter (migration 7)
ROOM_COLUMNS = "name, creator, created, topic, topic_by, topic_ts, private, deleted, renamed_to"
ROOM_USER_COLUMNS = 'room, "user", role, invited_by, mute_expires, mute_reason, mute_by'
# Everything keyed by a room's name that a delete removes and a rename moves
# (files stay on a delete, until they expire).
ROOM_TABLES = ("members", "room_users", "messages", "read_markers", "mentions")


def _room_record(r: asyncpg.Record) -> RoomRecord:
    return RoomRecord(
        r["name"],
        r["created"],
        r["creator"],
        set(),
        r["topic"],
        r["topic_by"],
        r["topic_ts"],
        r["private"],
        r["deleted"],
        r["renamed_to"],
    )


def _room_user(r: asyncpg.Record) -> RoomUser:
    return RoomUser(r["role"], r["invited_by"], r["mute_expires"], r["mute_reason"], r["mute_by"])


SCHEMA_VERSION = len(MIGRATIONS)

FILE_COLUMNS = "id, sha256, name, size, media_type, owner, room, created, expires, expired"
ACCOUNT_COLUMNS = "name, password_hash, role, priority, status, created"

# One statement per batch: count the batch's rows per room, advance each room's
# counter by that many (rooms in name order, so two nodes' batches lock the
# counter rows in the same order and never deadlock), number the rows from the
# returned values in batch order, insert them.
INSERT_BATCH = """
WITH b AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::float8[], $5::int[], $6::text[],
        $7::text[], $8::bigint[], $9::bigint[]
    ) WITH ORDINALITY AS b(room, sender, text, ts, priority, file, kind, ref, reply_to, ord)
), c AS (
    SELECT room, count(*) AS n FROM b GROUP BY room ORDER BY room
), s AS (
    INSERT INTO seqs (room, last) SELECT room, n FROM c
    ON CONFLICT (room) DO UPDATE SET last = seqs.last + EXCLUDED.last
    RETURNING room, last
)
INSERT INTO messages (room, seq, sender, text, ts, priority, file, kind, ref, reply_to)
SELECT b.room, s.last - c.n + row_number() OVER (PARTITION BY b.room ORDER BY b.ord),
       b.sender, b.text, b.ts, b.priority, b.file, b.kind, b.ref, b.reply_to
FROM b JOIN c USING (room) JOIN s USING (room)
RETURNING room, seq
"""

# Newest first, (ts, room, seq) of the message the order and the cursor. The
# row whose text matched (e) is a text message or an edit of one (m); it counts
# while it is m's latest text and m was not deleted or removed. Reactions and
# deletions are in the index too (the generated column covers every row) but
# never match.
SEARCH_SQL = """
SELECT m.room, m.seq, m.sender, e.text, m.ts, m.priority, {file_cols}, m.reply_to
FROM messages e
JOIN messages m ON m.room = e.room
    AND m.seq = CASE WHEN e.kind = 'edit' THEN e.ref ELSE e.seq END
LEFT JOIN files f ON f.id = m.file
WHERE e.search @@ to_tsquery('simple', $1) AND e.kind IN ('text', 'edit')
  AND e.room = ANY($2::text[])
  AND ($3 = '' OR m.sender = $3) AND m.ts >= $4 AND m.ts < $5
  AND (m.ts, m.room, m.seq) < ($6, $7, $8)
  AND NOT EXISTS (
      SELECT 1 FROM messages x WHERE x.room = m.room AND x.ref = m.seq AND x.ref > 0
      AND (x.kind IN ('delete', 'remove') OR (x.kind = 'edit' AND x.seq > e.seq)))
ORDER BY m.ts DESC, m.room DESC, m.seq DESC
LIMIT $9
"""

MAX_BATCH = 2048  # messages per commit
_DB_ERRORS = (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
CONNECT_TIMEOUT = 5.0  # seconds to reach the database before an operation fails
COMMAND_TIMEOUT = 10.0  # seconds a statement may take before it fails


class _Pending:
    """A message waiting for the next group commit."""

    __slots__ = ("file", "on_stored", "rec")

    def __init__(self, rec: StoredMessage, on_stored: OnStored, file: FileRecord | None) -> None:
        self.rec = rec
        self.on_stored = on_stored
        self.file = file


class PostgresStore(Store):
    """The cluster store: every node of a cluster opens the same database."""

    seq_at_append = False

    def __init__(self, dsn: str, pool_size: int = 8) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._pending: list[_Pending] = []
        # Messages appended, and answered (stored or failed): flushed() waits on them.
        self._appended = 0
        self._answered = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        # The group commit's own connection, held from the pool between batches
        # (see _run_writer).
        self._writer_conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._closing = False

    # --- lifecycle -------------------------------------------------------------

    async def _connect(self) -> asyncpg.Pool:
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                # Released connections are not reset with a round trip of
                # statements (RESET ALL, UNLISTEN...): the store keeps no session
                # state, and that round trip per operation was a commit's worth.
                reset=_no_reset,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise RoostError(
                ErrorCode.UNAVAILABLE, f"cannot reach PostgreSQL at {safe_url(self.dsn)}: {exc}"
            ) from exc
        assert pool is not None
        return pool

    async def schema_version(self) -> int:
        """The schema version of the database (0: empty)."""
        pool = self._pool or await self._connect()
        try:
            async with pool.acquire() as conn:
                exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
                if not exists:
                    return 0
                return int(await conn.fetchval("SELECT max(version) FROM schema_version") or 0)
        finally:
            if pool is not self._pool:
                await pool.close()

    async def migrate(self) -> list[int]:
        """Bring the schema up to date; the versions applied now, oldest first."""
        pool = await self._connect()
        applied: list[int] = []
        try:
            async with pool.acquire() as conn, conn.transaction():
                # One migrator at a time, even with several nodes starting at once.
                await conn.execute("SELECT pg_advisory_xact_lock(7878)")
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version"
                    " (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
                )
                have = int(await conn.fetchval("SELECT max(version) FROM schema_version") or 0)
                if have > SCHEMA_VERSION:
                    raise RoostError(
                        ErrorCode.STORAGE,
                        f"the database schema is version {have}, newer than this roost"
                        f" ({SCHEMA_VERSION}); upgrade roost",
                    )
                for version in range(have + 1, SCHEMA_VERSION + 1):
                    await conn.execute(MIGRATIONS[version - 1])
                    await conn.execute(
                        "INSERT INTO schema_version VALUES ($1, extract(epoch from now()))",
                        version,
                    )
                    applied.append(version)
        finally:
            await pool.close()
        return applied

    async def open(self) -> None:
        self._pool = await self._connect()
        version = await self.schema_version()
        if version != SCHEMA_VERSION:
            await self._pool.close()
            self._pool = None
            raise RoostError(
                ErrorCode.STORAGE,
                f"the database schema is version {version}, this roost needs {SCHEMA_VERSION}:"
                " run `roost db migrate` first",
            )
        self._closing = False
        # The writer's connection, warmed now rather than by the first message.
        with contextlib.suppress(RoostError):
            await self._run_writer(_warm)
        self._writer = asyncio.create_task(self._write_loop())

    async def close(self) -> None:
        if self._writer is not None:
            self._closing = True
            self._wake.set()
            await self._writer
            self._writer = None
        await self._release_writer()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None

    async def bulk_import(
        self, tables: dict[str, list[str]], rows: dict[str, list[tuple[Any, ...]]]
    ) -> dict[str, int]:
        """Copy whole tables into an empty database in one transaction; rows per table.

        Refused if the database holds accounts or messages already (an import
        never merges into a store in use). Each room's counter continues from
        its highest imported seq.
        """

        async def op(conn: asyncpg.Connection) -> dict[str, int]:
            async with conn.transaction():
                used = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM messages)"
                )
                if used:
                    raise RoostError(
                        ErrorCode.BAD_REQUEST,
                        "the PostgreSQL database holds accounts or messages already;"
                        " import into a new database (then `roost db migrate` it)",
                    )
                counts: dict[str, int] = {}
                for table, cols in tables.items():
                    await conn.copy_records_to_table(table, records=rows[table], columns=cols)
                    counts[table] = len(rows[table])
                await conn.execute(
                    "INSERT INTO seqs (room, last) SELECT room, max(seq) FROM messages GROUP BY room"
                )
                await conn.execute(
                    "INSERT INTO seqs (room, last) SELECT name, $1 FROM rooms WHERE deleted"
                    " ON CONFLICT (room) DO UPDATE SET last = EXCLUDED.last",
                    DEAD_ROOM,
                )
                await conn.execute(
                    "SELECT setval(pg_get_serial_sequence('audit', 'id'),"
                    " greatest((SELECT max(id) FROM audit), 1))"
                )
                return counts

        return await self._run(op)

    async def health_check(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    # --- running statements ------------------------------------------------------

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection; database failures become RoostError(STORAGE)."""
        if self._pool is None:
            raise RoostError(ErrorCode.STORAGE, "the store is not open")
        try:
            async with self._pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                return await fn(conn)
        except RoostError:
            raise
        except _DB_ERRORS as exc:
            raise _as_store_error(exc) from exc

    async def _run_writer(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Like _run, for the group commit: on a connection it keeps between batches.

        Through _run, each batch took whichever pooled connection was on top
        (the pool is a stack: one that a concurrent read released last), and
        the first batch on each connection paid for preparing INSERT_BATCH
        and introspecting its types (13 to 14 ms in which nothing committed:
        the one-node maximum, docs/benchmarks.md). Kept, and warmed when taken, the statement is
        prepared once; the pool's max_queries does not recycle it either.
        One batch at a time as before, so the seq order is unchanged.
        """
        if self._pool is None:
            raise RoostError(ErrorCode.STORAGE, "the store is not open")
        conn = self._writer_conn
        try:
            if conn is None:
                conn = await self._pool.acquire(timeout=CONNECT_TIMEOUT)
                self._writer_conn = conn
                if fn is not _warm:
                    await _warm(conn)
            return await fn(conn)
        except BaseException as exc:
            # Refused data leaves the connection as it was; anything else (it
            # broke, timed out, was cancelled) and the next batch takes another.
            if not isinstance(exc, asyncpg.PostgresError) or conn is None or conn.is_closed():
                await self._release_writer(terminate=not isinstance(exc, asyncpg.PostgresError))
            if isinstance(exc, RoostError) or not isinstance(exc, _DB_ERRORS):
                raise
            raise _as_store_error(exc) from exc

    async def _release_writer(self, terminate: bool = False) -> None:
        conn, self._writer_conn = self._writer_conn, None
        if conn is None or self._pool is None:
            return
        with contextlib.suppress(Exception):
            if terminate:
                conn.terminate()  # its state is unknown: the pool replaces it
            await self._pool.release(conn, timeout=CONNECT_TIMEOUT)

    async def _execute(self, sql: str, *args: Any) -> str:
        async def op(conn: asyncpg.Connection) -> str:
            return str(await conn.execute(sql, *args))

        return await self._run(op)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def op(conn: asyncpg.Connection) -> list[asyncpg.Record]:
            return list(await conn.fetch(sql, *args))

        return await self._run(op)

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async def op(conn: asyncpg.Connection) -> Any:
            return await conn.fetchval(sql, *args)

        return await self._run(op)

    # --- accounts ------------------------------------------------------------------

    async def get_account(self, name: str) -> Account | None:
        rows = await self._fetch(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1", name)
        return Account(*rows[0]) if rows else None

    async def create_account(self, account: Account) -> bool:
        a = account
        status = await self._execute(
            f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (name) DO NOTHING",
            a.name,
            a.password_hash,
            a.role,
            a.priority,
            a.status,
            a.created,
        )
        return status.endswith(" 1")

    async def update_account(self, name: str, **fields: object) -> None:
        allowed = {"password_hash", "role", "priority", "status"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        cols = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, start=2))
        await self._execute(f"UPDATE accounts SET {cols} WHERE name = $1", name, *fields.values())

    async def list_accounts(self) -> list[Account]:
        rows = await self._fetch(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name")
        return [Account(*r) for r in rows]

    async def delete_account(self, name: str) -> bool:
        async def op(conn: asyncpg.Connection) -> bool:
            async with conn.transaction():
                await conn.execute('DELETE FROM members WHERE "user" = $1', name)
                await conn.execute('DELETE FROM tokens WHERE "user" = $1', name)
                await conn.execute('DELETE FROM last_seen WHERE "user" = $1', name)
                status = await conn.execute("DELETE FROM accounts WHERE name = $1", name)
                return str(status).endswith(" 1")

        return await self._run(op)

    # --- moderation ----------------------------------------------------------------

    async def put_sanction(self, sanction: Sanction) -> None:
        s = sanction
        await self._execute(
            "INSERT INTO sanctions (kind, target, reason, author, created, expires)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, target) DO UPDATE SET"
            " reason = EXCLUDED.reason, author = EXCLUDED.author,"
            " created = EXCLUDED.created, expires = EXCLUDED.expires",
            s.kind,
            s.target,
            s.reason,
            s.author,
            s.created,
            s.expires,
        )

    async def delete_sanction(self, kind: str, target: str) -> bool:
        status = await self._execute(
            "DELETE FROM sanctions WHERE kind = $1 AND target = $2", kind, target
        )
        return status.endswith(" 1")

    async def list_sanctions(self) -> list[Sanction]:
        rows = await self._fetch(
            "SELECT kind, target, reason, author, created, expires FROM sanctions ORDER BY created"
        )
        return [Sanction(*r) for r in rows]

    async def append_audit(self, record: AuditRecord) -> int:
        r = record
        value = await self._fetchval(
            "INSERT INTO audit (ts, actor, action, target, reason, detail)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            r.ts,
            r.actor,
            r.action,
            r.target,
            r.reason,
            r.detail,
        )
        return int(value)

    async def audit_log(self, limit: int, target: str = "", before: int = 0) -> list[AuditRecord]:
        upper = before if before > 0 else (1 << 62)
        if target:
            rows = await self._fetch(
                "SELECT ts, actor, action, target, reason, detail, id FROM audit"
                " WHERE id < $1 AND target = $2 ORDER BY id DESC LIMIT $3",
                upper,
                target,
                limit,
            )
        else:
            rows = await self._fetch(
                "SELECT ts, actor, action, target, reason, detail, id FROM audit"
                " WHERE id < $1 ORDER BY id DESC LIMIT $2",
                upper,
                limit,
            )
        return [AuditRecord(*r) for r in reversed(rows)]

    # --- tokens ------------------------------------------------------------------

    async def save_token(self, token_hash: str, user: str, expires: float) -> None:
        await self._execute(
            'INSERT INTO tokens (token_hash, "user", expires) VALUES ($1, $2, $3)'
            ' ON CONFLICT (token_hash) DO UPDATE SET "user" = EXCLUDED."user",'
            " expires = EXCLUDED.expires",
            token_hash,
            user,
            expires,
        )

    async def token_user(self, token_hash: str, now: float) -> str | None:
        value = await self._fetchval(
            'SELECT "user" FROM tokens WHERE token_hash = $1 AND expires > $2', token_hash, now
        )
        return str(value) if value is not None else None

    async def list_tokens(self, user: str, now: float) -> list[TokenRecord]:
        rows = await self._fetch(
            'SELECT token_hash, "user", expires FROM tokens'
            ' WHERE "user" = $1 AND expires > $2 ORDER BY expires',
            user,
            now,
        )
        return [TokenRecord(*r) for r in rows]

    async def revoke_tokens(self, user: str) -> int:
        status = await self._execute('DELETE FROM tokens WHERE "user" = $1', user)
        return int(str(status).rsplit(" ", 1)[-1])

    async def revoke_token(self, token_hash: str) -> bool:
        status = await self._execute("DELETE FROM tokens WHERE token_hash = $1", token_hash)
        return str(status).endswith(" 1")

    async def save_last_seen(self, user: str, ts: float) -> None:
        await self._execute(
            'INSERT INTO last_seen ("user", ts) VALUES ($1, $2)'
            ' ON CONFLICT ("user") DO UPDATE SET ts = greatest(last_seen.ts, EXCLUDED.ts)',
            user,
            ts,
        )

    async def last_seen(self) -> dict[str, float]:
        rows = await self._fetch('SELECT "user", ts FROM last_seen')
        return {r["user"]: float(r["ts"]) for r in rows}

    # --- rooms -------------------------------------------------------------------

    async def load_rooms(self) -> list[RoomRecord]:
        async def op(conn: asyncpg.Connection) -> list[RoomRecord]:
            rooms = {
                r["name"]: _room_record(r)
                for r in await conn.fetch(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE NOT deleted")
            }
            for r in await conn.fetch('SELECT room, "user" FROM members'):
                if r["room"] in rooms:
                    rooms[r["room"]].members.add(r["user"])
            for r in await conn.fetch(f"SELECT {ROOM_USER_COLUMNS} FROM room_users"):
                if r["room"] in rooms:
                    rooms[r["room"]].people[r["user"]] = _room_user(r)
            return list(rooms.values())

        return await self._run(op)

    async def get_room(self, name: str) -> RoomRecord | None:
        async def op(conn: asyncpg.Connection) -> RoomRecord | None:
            row = await conn.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE name = $1", name)
            if row is None:
                return None
            rec = _room_record(row)
            members = await conn.fetch('SELECT "user" FROM members WHERE room = $1', name)
            rec.members = {r[0] for r in members}
            people = await conn.fetch(
                f"SELECT {ROOM_USER_COLUMNS} FROM room_users WHERE room = $1", name
            )
            rec.people = {r["user"]: _room_user(r) for r in people}
            return rec

        return await self._run(op)

    async def create_room(self, name: str, creator: str, ts: float, private: bool = False) -> bool:
        status = await self._execute(
            "INSERT INTO rooms (name, creator, created, private) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (name) DO NOTHING",
            name,
            creator,
            ts,
            private,
        )
        return status.endswith(" 1")

    async def save_room(self, rec: RoomRecord) -> None:
        await self._execute(
            "UPDATE rooms SET topic = $2, topic_by = $3, topic_ts = $4, private = $5"
            " WHERE name = $1",
            rec.name,
            rec.topic,
            rec.topic_by,
            rec.topic_ts,
            rec.private,
        )

    async def save_room_user(self, room: str, user: str, entry: RoomUser) -> None:
        if entry.is_empty():
            # A removal follows a rename (as remove_member): it leaves no row behind.
            await self._execute(
                f'DELETE FROM room_users WHERE room = {_now("$1")} AND "user" = $2', room, user
            )
            return

        async def op(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await _lock_room_for_people(conn, room)
                await conn.execute(
                    f"INSERT INTO room_users ({ROOM_USER_COLUMNS})"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    ' ON CONFLICT (room, "user") DO UPDATE SET role = $3, invited_by = $4,'
                    " mute_expires = $5, mute_reason = $6, mute_by = $7",
                    room,
                    user,
                    entry.role,
                    entry.invited_by,
                    entry.mute_expires,
                    entry.mute_reason,
                    entry.mute_by,
                )

        await self._run(op)

    async def delete_room(self, name: str) -> RoomPeople:
        async def op(conn: asyncpg.Connection) -> RoomPeople:
            async with conn.transaction():
                # The room's row first: a join of any node (add_member) that holds
                # it commits before, and is among the members deleted below; one
                # that comes after waits for the commit, then fails on the tombstone.
                await _lock_live_room(conn, name)
                await _kill_counter(conn, name)
                members = await conn.fetch(
                    'DELETE FROM members WHERE room = $1 RETURNING "user"', name
                )
                people = await conn.fetch(
                    'DELETE FROM room_users WHERE room = $1 RETURNING "user", invited_by', name
                )
                for table in ROOM_TABLES:
                    if table not in ("members", "room_users"):
                        await conn.execute(f"DELETE FROM {table} WHERE room = $1", name)
                await conn.execute(
                    "UPDATE rooms SET deleted = true, topic = '', topic_by = '', private = false"
                    " WHERE name = $1",
                    name,
                )
            return _room_people(members, people)

        return await self._run(op)

    async def rename_room(self, old: str, new: str) -> RoomPeople:
        async def op(conn: asyncpg.Connection) -> RoomPeople:
            async with conn.transaction():
                # The room's row first: writes of other nodes under its name wait
                # for it (_NOW), then take the new name.
                await _lock_live_room(conn, old)
                # The counter row next: messages of other nodes wait for it, then
                # fail on the tombstone (a message committed before is moved below).
                last = await _kill_counter(conn, old)
                try:
                    await conn.execute(
                        "INSERT INTO rooms (name, creator, created, topic, topic_by, topic_ts,"
                        " private) SELECT $2, creator, created, topic, topic_by, topic_ts,"
                        " private FROM rooms WHERE name = $1",
                        old,
                        new,
                    )
                    await conn.execute("INSERT INTO seqs (room, last) VALUES ($1, $2)", new, last)
                except asyncpg.UniqueViolationError as exc:
                    raise RoostError(ErrorCode.NAME_TAKEN, f"the name {new!r} is taken") from exc
                # Who is moved, read under the room's row lock: a join or invitation
                # of any node that holds the row commits before and is among them;
                # one that comes after waits for the commit, then fails (add_member).
                members = await conn.fetch(
                    'UPDATE members SET room = $2 WHERE room = $1 RETURNING "user"', old, new
                )
                people = await conn.fetch(
                    'UPDATE room_users SET room = $2 WHERE room = $1 RETURNING "user", invited_by',
                    old,
                    new,
                )
                for table in (*ROOM_TABLES, "files"):
                    if table not in ("members", "room_users"):
                        await conn.execute(
                            f"UPDATE {table} SET room = $2 WHERE room = $1", old, new
                        )
                await conn.execute(
                    "UPDATE rooms SET deleted = true, renamed_to = $2, topic = '', topic_by = '',"
                    " private = false WHERE name = $1",
                    old,
                    new,
                )
                await conn.execute(
                    "UPDATE rooms SET renamed_to = $2 WHERE renamed_to = $1", old, new
                )
            return _room_people(members, people)

        return await self._run(op)

    async def flushed(self) -> None:
        # Counted, not "until the writer is idle": under steady traffic it never is.
        target = self._appended
        while self._answered < target:
            await asyncio.sleep(0.002)

    async def room_renames(self) -> dict[str, str]:
        rows = await self._fetch("SELECT name, renamed_to FROM rooms WHERE renamed_to <> ''")
        return {r["name"]: r["renamed_to"] for r in rows}

    async def add_member(self, room: str, user: str) -> None:
        async def op(conn: asyncpg.Connection) -> None:
            async with conn.transaction():
                await _lock_room_for_people(conn, room)
                await conn.execute(
                    'INSERT INTO members (room, "user") VALUES ($1, $2) ON CONFLICT DO NOTHING',
                    room,
                    user,
                )

        await self._run(op)

    async def remove_member(self, room: str, user: str) -> None:
        await self._execute(
            f'DELETE FROM members WHERE room = {_now("$1")} AND "user" = $2', room, user
        )

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
        # The seq comes with the commit (another node may take the next one first).
        rec = StoredMessage(room, 0, sender, text, ts, priority, file, kind, ref, reply_to)
        self._pending.append(_Pending(rec, on_stored, file))
        self._appended += 1
        self._wake.set()
        return rec

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                try:
                    await self._commit_batch(batch)
                finally:
                    self._answered += len(batch)
            if self._closing:
                return

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._run_writer(lambda conn: _insert(conn, batch))
            errors: list[BaseException | None] = [None] * len(batch)
        except Exception as failure:
            # Never lets the writer die: every message is answered.
            exc = failure if isinstance(failure, RoostError) else _as_store_error(failure)
            if len(batch) > 1 and _bad_data(exc):
                # One bad row (say a file id taken) must not sink the rest: one by one.
                errors = []
                for item in batch:
                    try:
                        await self._run_writer(lambda conn, item=item: _insert(conn, [item]))  # type: ignore[misc]
                        errors.append(None)
                    except Exception as one:
                        errors.append(one if isinstance(one, RoostError) else _as_store_error(one))
            else:
                errors = [exc] * len(batch)
        for item, err in zip(batch, errors, strict=True):
            # A callback runs the server's code: one failing must not stop the rest.
            try:
                item.on_stored(err)
            except Exception:
                log.exception("a store callback failed")
        if self.after_stored is not None:
            # One yield first: the bus sends the batch to the other nodes
            # (woken by the callbacks above) before this node's fan-out, so
            # the other nodes do not wait behind it. The fan-out then runs in
            # this same loop turn, as the callbacks scheduled it.
            await asyncio.sleep(0)
            try:
                self.after_stored()
            except Exception:
                log.exception("after_stored failed")

    async def last_seq(self, room: str) -> int:
        value = await self._fetchval("SELECT last FROM seqs WHERE room = $1", room)
        return max(0, int(value or 0))  # a tombstone (DEAD_ROOM) holds nothing

    async def last_seqs(self, rooms: Iterable[str]) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT room, last FROM seqs WHERE room = ANY($1::text[]) AND last >= 0", list(rooms)
        )
        return {r["room"]: int(r["last"]) for r in rows}

    async def all_last_seqs(self) -> dict[str, int]:
        rows = await self._fetch("SELECT room, last FROM seqs WHERE last >= 0")
        return {r["room"]: int(r["last"]) for r in rows}

    async def conversations_of(self, user: str, rooms: set[str]) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT room, last FROM seqs WHERE last >= 0 AND (room = ANY($1::text[])"
            " OR (left(room, 1) = '@' AND $2 = ANY(string_to_array(substr(room, 2), '+'))))",
            list(rooms),
            user,
        )
        out = dict.fromkeys(rooms, 0)
        out.update({r["room"]: int(r["last"]) for r in rows})
        return out

    async def history(self, room: str, after: int, before: int, limit: int) -> list[StoredMessage]:
        upper = before if before > 0 else (1 << 62)
        return await self._messages(
            "m.room = $1 AND m.seq > $2 AND m.seq < $3 ORDER BY m.seq LIMIT $4",
            room,
            after,
            upper,
            limit,
        )

    async def get_message(self, room: str, seq: int) -> StoredMessage | None:
        rows = await self._messages("m.room = $1 AND m.seq = $2", room, seq)
        return rows[0] if rows else None

    async def refs_to(self, room: str, seq: int) -> list[StoredMessage]:
        if seq <= 0:
            return []
        # "m.ref > 0" repeats the partial index's condition, so the planner may use it.
        return await self._messages(
            "m.room = $1 AND m.ref = $2 AND m.ref > 0 ORDER BY m.seq", room, seq
        )

    async def _messages(self, where: str, *args: Any) -> list[StoredMessage]:
        """Messages (with their files) matching ``where``, a condition on ``m``."""
        file_cols = ", ".join(f"f.{c}" for c in FILE_COLUMNS.split(", "))
        rows = await self._fetch(
            "SELECT m.room, m.seq, m.sender, m.text, m.ts, m.priority, m.kind, m.ref,"
            f" m.reply_to, {file_cols} FROM messages m LEFT JOIN files f ON f.id = m.file"
            f" WHERE {where}",
            *args,
        )
        return [
            StoredMessage(
                r[0],
                int(r[1]),
                r[2],
                r[3],
                r[4],
                r[5],
                _file_record(tuple(r)[9:]) if r[9] else None,
                r[6],
                int(r[7]),
                int(r[8]),
            )
            for r in rows
        ]

    # --- read markers and mentions -------------------------------------------------

    async def set_read(self, user: str, room: str, seq: int) -> int:
        value = await self._fetchval(
            f'INSERT INTO read_markers ("user", room, seq) VALUES ($1, {_now("$2")}, $3)'
            ' ON CONFLICT ("user", room) DO UPDATE'
            " SET seq = GREATEST(read_markers.seq, excluded.seq) RETURNING seq",
            user,
            room,
            seq,
        )
        return int(value)

    async def read_markers(self, user: str) -> dict[str, int]:
        rows = await self._fetch('SELECT room, seq FROM read_markers WHERE "user" = $1', user)
        return {r["room"]: int(r["seq"]) for r in rows}

    async def add_mentions(self, room: str, seq: int, users: Iterable[str]) -> None:
        names = list(users)

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                'INSERT INTO mentions ("user", room, seq)'
                f" SELECT u, {_now('$2')}, $3 FROM unnest($1::text[]) AS u ON CONFLICT DO NOTHING",
                names,
                room,
                seq,
            )

        await self._run(op)

    async def mention_counts(self, user: str) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT m.room, COUNT(*) AS n FROM mentions m"
            ' LEFT JOIN read_markers r ON r."user" = m."user" AND r.room = m.room'
            ' WHERE m."user" = $1 AND m.seq > COALESCE(r.seq, 0) GROUP BY m.room',
            user,
        )
        return {r["room"]: int(r["n"]) for r in rows}

    async def mentions(self, user: str, limit: int, before: float = 0.0) -> list[StoredMessage]:
        upper = before if before > 0 else float("inf")
        # With the latest edit's text, and not those deleted or removed since.
        rows = await self._fetch(
            "SELECT g.room, g.seq, g.sender, COALESCE((SELECT e.text FROM messages e"
            " WHERE e.room = g.room AND e.ref = g.seq AND e.ref > 0 AND e.kind = 'edit'"
            " ORDER BY e.seq DESC LIMIT 1), g.text), g.ts, g.priority FROM mentions m"
            " JOIN messages g ON g.room = m.room AND g.seq = m.seq"
            ' WHERE m."user" = $1 AND g.ts < $2 AND NOT EXISTS (SELECT 1 FROM messages x'
            " WHERE x.room = g.room AND x.ref = g.seq AND x.ref > 0"
            " AND x.kind IN ('delete', 'remove'))"
            " ORDER BY g.ts DESC, g.seq DESC LIMIT $3",
            user,
            upper,
            limit,
        )
        return [StoredMessage(r[0], int(r[1]), r[2], r[3], r[4], r[5]) for r in reversed(rows)]

    async def search(self, query: SearchQuery) -> SearchPage:
        cursor = _search_cursor(query.cursor)
        file_cols = ", ".join(f"f.{c}" for c in FILE_COLUMNS.split(", "))
        rows = await self._fetch(
            SEARCH_SQL.format(file_cols=file_cols),
            tsquery(query.terms),
            query.rooms,
            query.sender,
            query.since,
            query.until if query.until else float("inf"),
            *cursor,
            query.limit + 1,
        )
        found = [
            StoredMessage(
                r[0],
                int(r[1]),
                r[2],
                r[3],
                r[4],
                r[5],
                _file_record(tuple(r)[6:16]) if r[6] else None,
                reply_to=int(r[16]),
            )
            for r in rows[: query.limit]
        ]
        nxt = ""
        if len(rows) > query.limit:
            last = found[-1]
            nxt = json.dumps([last.ts, last.room, last.seq])
        return SearchPage(found, nxt)

    # --- files ---------------------------------------------------------------------

    async def get_file(self, file_id: str) -> FileRecord | None:
        rows = await self._fetch(f"SELECT {FILE_COLUMNS} FROM files WHERE id = $1", file_id)
        return _file_record(tuple(rows[0])) if rows else None

    async def file_usage(self, owner: str) -> int:
        value = await self._fetchval(
            "SELECT COALESCE(SUM(size), 0) FROM files WHERE owner = $1 AND NOT expired", owner
        )
        return int(value)

    async def expire_files(self, now: float) -> tuple[list[FileRecord], list[str]]:
        async def op(conn: asyncpg.Connection) -> tuple[list[FileRecord], list[str]]:
            async with conn.transaction():
                rows = await conn.fetch(
                    f"UPDATE files SET expired = true WHERE NOT expired AND expires <= $1"
                    f" RETURNING {FILE_COLUMNS}",
                    now,
                )
                gone = [_file_record(tuple(r)) for r in rows]
                shas = sorted({f.sha256 for f in gone})
                if not shas:
                    return gone, []
                live = await conn.fetch(
                    "SELECT DISTINCT sha256 FROM files WHERE sha256 = ANY($1::text[])"
                    " AND NOT expired",
                    shas,
                )
                still = {r[0] for r in live}
                return gone, [s for s in shas if s not in still]

        return await self._run(op)

    async def live_blobs(self) -> set[str]:
        rows = await self._fetch("SELECT DISTINCT sha256 FROM files WHERE NOT expired")
        return {r[0] for r in rows}


async def _insert(conn: asyncpg.Connection, batch: list[_Pending]) -> None:
    """Store a batch in one transaction and give each record its seq."""
    files = [p.file for p in batch if p.file is not None]
    recs = [p.rec for p in batch]
    args = (
        [r.room for r in recs],
        [r.sender for r in recs],
        [r.text for r in recs],
        [r.ts for r in recs],
        [r.priority for r in recs],
        [r.file.id if r.file is not None else None for r in recs],
        [r.kind for r in recs],
        [r.ref for r in recs],
        [r.reply_to for r in recs],
    )
    if files:
        async with conn.transaction():
            await conn.executemany(
                f"INSERT INTO files ({FILE_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                [_file_row(f) for f in files],
            )
            rows = await conn.fetch(INSERT_BATCH, *args)
    else:
        # One statement in its own (implicit) transaction: one round trip, and
        # the counter rows are unlocked by the commit inside the server. With
        # BEGIN ... COMMIT around it they stayed locked for a round trip more,
        # and for however long this process took to send the COMMIT: the
        # other nodes' commits of the same room waited all that time.
        rows = await conn.fetch(INSERT_BATCH, *args)
    # Within a room the seqs follow batch order: hand them out in that order.
    by_room: dict[str, list[int]] = {}
    for r in rows:
        by_room.setdefault(r["room"], []).append(int(r["seq"]))
    for seqs in by_room.values():
        seqs.sort(reverse=True)
    for rec in recs:
        rec.seq = by_room[rec.room].pop()


async def _warm(conn: asyncpg.Connection) -> None:
    """INSERT_BATCH of no rows: prepares it (and loads its types) on ``conn``."""
    await conn.fetch(INSERT_BATCH, [], [], [], [], [], [], [], [], [])


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Pool reset hook: nothing to undo (see _connect)."""


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
        f.expired,
    )


def _file_record(row: tuple[Any, ...]) -> FileRecord:
    fid, sha, name, size, media_type, owner, room, created, expires, expired = row
    return FileRecord(
        fid, sha, name, int(size), media_type, owner, room, created, expires, bool(expired)
    )


def _search_cursor(cursor: str) -> tuple[float, str, int]:
    """(ts, room, seq) of the last message of the previous page; past the newest if ""."""
    if not cursor:
        return (float("inf"), "", 0)
    try:
        ts, room, seq = json.loads(cursor)
        return (float(ts), str(room), int(seq))
    except (ValueError, TypeError):
        raise RoostError(ErrorCode.BAD_QUERY, "that search cursor is not one of ours") from None


async def _lock_live_room(conn: asyncpg.Connection, room: str) -> None:
    """Lock ``room``'s row until the commit; ``no_such_room`` if it is gone (another
    node renamed or deleted it first)."""
    deleted = await conn.fetchval("SELECT deleted FROM rooms WHERE name = $1 FOR UPDATE", room)
    if deleted is None or deleted:
        raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{room} was renamed or deleted")


def _room_people(members: list[asyncpg.Record], people: list[asyncpg.Record]) -> RoomPeople:
    """From the ``"user"`` rows of members and the ``"user", invited_by`` rows of
    room users that a delete or rename returned."""
    return RoomPeople({r["user"] for r in members}, {r["user"] for r in people if r["invited_by"]})


async def _lock_room_for_people(conn: asyncpg.Connection, room: str) -> None:
    """Share ``room``'s row until the commit, before a member or room-user row
    of it is written: a delete or rename that holds the row is waited for, and
    its outcome read (a read-committed statement that waited on a row lock sees
    the row as committed; one statement with _now() would check against its own
    older snapshot). ``no_such_room`` if the room is deleted, or renamed: the
    delete or rename took its people in its own transaction and told them, so a
    row written after it would belong to someone never told (an invitation into
    nothing, a join of a room under a name it no longer has). A name never made
    passes."""
    row = await conn.fetchrow(
        "SELECT deleted, renamed_to FROM rooms WHERE name = $1 FOR KEY SHARE", room
    )
    if row is not None and row["deleted"]:
        if row["renamed_to"]:
            raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{room} was renamed to #{row['renamed_to']}")
        raise RoostError(ErrorCode.NO_SUCH_ROOM, f"#{room} was deleted")


def _now(param: str) -> str:
    """SQL for the name the conversation ``param`` has now: a renamed room's new
    name, else ``param`` itself (a direct-message key too). A write under a name
    that a rename has locked (_lock_live_room) waits for it, then takes its outcome."""
    return (
        "COALESCE((SELECT CASE WHEN renamed_to <> '' THEN renamed_to ELSE name END"
        f" FROM rooms WHERE name = {param} FOR KEY SHARE), {param})"
    )


async def _kill_counter(conn: asyncpg.Connection, room: str) -> int:
    """Make ``room``'s counter row a tombstone (locked until the commit); its last seq."""
    last = await conn.fetchval("SELECT last FROM seqs WHERE room = $1 FOR UPDATE", room)
    await conn.execute(
        "INSERT INTO seqs (room, last) VALUES ($1, $2)"
        " ON CONFLICT (room) DO UPDATE SET last = EXCLUDED.last",
        room,
        DEAD_ROOM,
    )
    return max(0, int(last or 0))


def _bad_data(exc: RoostError) -> bool:
    """The batch failed on its data (a constraint), not on the database being away."""
    cause = exc.__cause__
    return isinstance(cause, asyncpg.IntegrityConstraintViolationError)


def _as_store_error(exc: BaseException) -> RoostError:
    """A database failure as the error a client sees: its data refused, or the database away."""
    away = (
        asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting, cancelled
        asyncpg.exceptions.PostgresConnectionError,
    )
    if isinstance(exc, asyncpg.CheckViolationError) and exc.constraint_name == "seqs_live":
        err = RoostError(
            ErrorCode.NO_SUCH_ROOM, "the room was renamed or deleted; nothing was stored"
        )
    elif isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, away):
        err = RoostError(ErrorCode.STORAGE, f"storage error: {exc}")
    else:  # the connection broke, was refused or timed out
        err = RoostError(
            ErrorCode.UNAVAILABLE,
            "the server cannot reach its database; nothing was stored, try again in a moment",
        )
    err.__cause__ = exc
    return err
