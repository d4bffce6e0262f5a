"""The persistence interface the server talks to, and its records.

The server reaches storage only through :class:`Store`; the SQLite store is
the default and a cluster store plugs in behind the same methods.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit


@dataclass(slots=True)
class Account:
    name: str
    password_hash: str
    role: str = "member"  # admin | moderator | member
    priority: int = 2
    status: str = "active"  # active | pending | disabled | deleted
    created: float = 0.0


@dataclass(slots=True)
class TokenRecord:
    """A stored session token (its digest: the token itself is never stored)."""

    token_hash: str
    user: str
    expires: float


@dataclass(slots=True)
class FileRecord:
    """Metadata of a stored file; its bytes are the blob named by ``sha256``."""

    id: str
    sha256: str
    name: str
    size: int
    media_type: str
    owner: str
    room: str  # conversation key the file was offered in
    created: float
    expires: float
    expired: bool = False


@dataclass(slots=True)
class StoredMessage:
    room: str
    seq: int
    sender: str
    text: str
    ts: float
    priority: int
    file: FileRecord | None = None  # set for a file offer
    # "text" for a message; "edit", "delete", "remove", "react" or "unreact" for
    # an event about the message ``ref`` (docs/protocol.md 5.3)
    kind: str = "text"
    ref: int = 0
    reply_to: int = 0  # a text message answering the message of this seq (0: none)


@dataclass(slots=True)
class Sanction:
    """A block or mute of an account, or a ban of an address or network."""

    kind: str  # block | mute | ban
    target: str  # user name; for bans a network in CIDR form ("10.0.0.7/32")
    reason: str
    author: str
    created: float
    expires: float = 0.0  # 0: until lifted


@dataclass(slots=True)
class AuditRecord:
    """One moderation action: who did what to whom, why and when."""

    ts: float
    actor: str
    action: str
    target: str
    reason: str = ""
    detail: str = ""
    id: int = 0  # assigned by the store


@dataclass(slots=True)
class RoomUser:
    """What one user is in one room besides a member (docs/rooms.md); all-default means nothing."""

    role: str = ""  # "owner" | "moderator" | "" (a plain member)
    invited_by: str = ""  # holds an invitation (into a private room) from this user
    mute_expires: float | None = None  # muted in the room until then (0: until lifted)
    mute_reason: str = ""
    mute_by: str = ""

    def is_empty(self) -> bool:
        return not self.role and not self.invited_by and self.mute_expires is None


@dataclass(slots=True)
class RoomRecord:
    name: str
    created: float
    creator: str
    members: set[str] = field(default_factory=set)
    topic: str = ""
    topic_by: str = ""
    topic_ts: float = 0.0
    private: bool = False
    deleted: bool = False  # deleted by an admin: the name stays taken, nothing else is kept
    renamed_to: str = ""  # renamed by an admin (``deleted`` too): the room's name now
    people: dict[str, RoomUser] = field(default_factory=dict)


@dataclass(slots=True)
class RoomPeople:
    """Who a room's deletion took out of it (``Store.delete_room``), or its
    rename moved (``Store.rename_room``): its members, and those who held an
    invitation into it (a member may be both)."""

    members: set[str] = field(default_factory=set)
    invited: set[str] = field(default_factory=set)


@dataclass(slots=True)
class SearchTerm:
    """One term of a search: a word, or a phrase of several words in order.

    ``words`` are lower case letters and digits only (what both backends'
    tokenizers keep); ``prefix`` makes the last word match as a prefix.
    """

    words: list[str]
    prefix: bool = False


@dataclass(slots=True)
class SearchQuery:
    """A full-text search over the conversations in ``rooms`` (every term must match)."""

    terms: list[SearchTerm]
    rooms: list[str]  # conversation keys the searching user may read
    sender: str = ""  # only messages of this user ("" any)
    since: float = 0.0  # only messages with since <= ts (0: no bound)
    until: float = 0.0  # ... and ts < until (0: no bound)
    limit: int = 50
    cursor: str = ""  # from the previous page's ``next``; "" starts at the newest


@dataclass(slots=True)
class SearchPage:
    """Matching messages, newest first, and the cursor of the next page ("" if none)."""

    messages: list[StoredMessage]
    next: str = ""


# Called once a message is stored (None) or could not be (the error).
OnStored = Callable[[BaseException | None], None]


class Store(abc.ABC):
    """Durable state: accounts, rooms and memberships, messages, tokens, sanctions, audit."""

    # Called on the loop after a batch of ``on_stored`` callbacks has run, so
    # the server can fan out the whole batch at once, in the same loop turn.
    after_stored: Callable[[], None] | None = None
    # Called with the seconds each commit took (run and commit of one batch),
    # from whatever thread committed it: for the commit latency histogram.
    on_commit: Callable[[float], None] | None = None

    # True if append_message numbers a message at once (one process owns the
    # counters, SQLite); False if the number comes with the commit (PostgreSQL,
    # where other nodes take numbers too). Acknowledging before the store
    # (ack_after_store = false) needs the first.
    seq_at_append: bool = True

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the store (its schema must be current, see migrate) and load what it caches."""

    async def migrate(self) -> list[int]:
        """Create or upgrade the schema; the versions applied, oldest first.

        Stores whose schema follows the code by itself (SQLite) have nothing to do.
        """
        return []

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush pending writes and release resources."""

    @abc.abstractmethod
    async def health_check(self) -> None:
        """Raise (any exception, with a message) if the database does not answer a query."""

    # accounts --------------------------------------------------------------
    @abc.abstractmethod
    async def get_account(self, name: str) -> Account | None: ...

    @abc.abstractmethod
    async def create_account(self, account: Account) -> bool:
        """Insert; False if the name exists."""

    @abc.abstractmethod
    async def update_account(self, name: str, **fields: object) -> None: ...

    @abc.abstractmethod
    async def list_accounts(self) -> list[Account]: ...

    @abc.abstractmethod
    async def delete_account(self, name: str) -> bool:
        """Remove an account with its memberships and tokens; False if it did not exist."""

    # moderation ------------------------------------------------------------
    @abc.abstractmethod
    async def put_sanction(self, sanction: Sanction) -> None:
        """Insert or replace the sanction of that kind on that target."""

    @abc.abstractmethod
    async def delete_sanction(self, kind: str, target: str) -> bool: ...

    @abc.abstractmethod
    async def list_sanctions(self) -> list[Sanction]: ...

    @abc.abstractmethod
    async def append_audit(self, record: AuditRecord) -> int:
        """Store one audit record; returns its id (increasing)."""

    @abc.abstractmethod
    async def audit_log(self, limit: int, target: str = "", before: int = 0) -> list[AuditRecord]:
        """The newest ``limit`` records with id < before (0: no bound), oldest first."""

    # session tokens --------------------------------------------------------
    @abc.abstractmethod
    async def save_token(self, token_hash: str, user: str, expires: float) -> None: ...

    @abc.abstractmethod
    async def token_user(self, token_hash: str, now: float) -> str | None: ...

    @abc.abstractmethod
    async def list_tokens(self, user: str, now: float) -> list[TokenRecord]:
        """The unexpired tokens of ``user``, soonest to expire first."""

    @abc.abstractmethod
    async def revoke_tokens(self, user: str) -> int:
        """Delete every token of ``user``; how many there were."""

    @abc.abstractmethod
    async def revoke_token(self, token_hash: str) -> bool:
        """Delete one token; False if there was no such token."""

    @abc.abstractmethod
    async def save_last_seen(self, user: str, ts: float) -> None:
        """Remember when ``user``'s last session ended (the later time wins)."""

    @abc.abstractmethod
    async def last_seen(self) -> dict[str, float]:
        """When each user's last session ended, for the users it is known of."""

    # rooms -----------------------------------------------------------------
    @abc.abstractmethod
    async def load_rooms(self) -> list[RoomRecord]:
        """Every room that is not deleted, with its members and people (the server keeps them in memory)."""

    @abc.abstractmethod
    async def get_room(self, name: str) -> RoomRecord | None:
        """One room with its members and people (also a deleted one); None if there is none."""

    @abc.abstractmethod
    async def create_room(self, name: str, creator: str, ts: float, private: bool = False) -> bool:
        """Make a room (False if the name is taken, also by a deleted room)."""

    @abc.abstractmethod
    async def save_room(self, rec: RoomRecord) -> None:
        """Store a room's topic (with who set it, when) and whether it is private."""

    @abc.abstractmethod
    async def save_room_user(self, room: str, user: str, entry: RoomUser) -> None:
        """Store what ``user`` is in ``room`` (an all-default entry removes it).

        Raises RoostError(no_such_room) if the room is deleted or renamed, also
        by a delete or rename committed while this waited for it: no invitation
        (or role, or mute) is written after the change took the room's people,
        so none belongs to someone never told of it. A removal follows a rename."""

    @abc.abstractmethod
    async def delete_room(self, name: str) -> RoomPeople:
        """Delete a room: members, room roles, invitations, messages, read markers,
        mentions and search entries go; the name stays taken (``deleted``).

        Returns the members and invitees it removed, read in the same
        transaction as the delete: a join that commits first is among them,
        and a later one fails (``add_member``). These are the users to tell.
        Raises ``no_such_room`` if the room is renamed or deleted already."""

    @abc.abstractmethod
    async def rename_room(self, old: str, new: str) -> RoomPeople:
        """Move everything of room ``old`` to the name ``new``, in one transaction:
        settings, members, room people, messages (same seqs), read markers,
        mentions, search entries, files. ``old`` stays taken, as a deleted room
        whose ``renamed_to`` is ``new``; a message, join or invitation stored
        under ``old`` after this fails with ``no_such_room``. Raises
        ``name_taken`` if ``new`` is taken, ``no_such_room`` if ``old`` is
        renamed or deleted already.

        Returns the members and invitees it moved, read in the same transaction
        (as ``delete_room``): a join that commits first is among them, and a
        later one fails. These are the users to tell."""

    @abc.abstractmethod
    async def flushed(self) -> None:
        """Wait until every message appended before the call is stored and answered."""

    @abc.abstractmethod
    async def room_renames(self) -> dict[str, str]:
        """Every renamed room's old name with the name it has now (chains followed)."""

    @abc.abstractmethod
    async def add_member(self, room: str, user: str) -> None:
        """Make ``user`` a member of ``room``.

        Raises RoostError(no_such_room) if the room was deleted or renamed
        ("renamed to #new"), also by a delete or rename committed while this
        waited for it: no member row outlives the room, and none lands under
        its new name for someone the rename did not tell (a node that had not
        heard of the rename yet)."""

    @abc.abstractmethod
    async def remove_member(self, room: str, user: str) -> None: ...

    # messages --------------------------------------------------------------
    @abc.abstractmethod
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
        """Store a message; ``on_stored`` runs once it is stored.

        The returned record's ``seq`` is the conversation's next number: set
        now if :attr:`seq_at_append`, else (0 until then) by the time
        ``on_stored(None)`` runs, taken in the transaction that stores it.

        A callback, not a future: a future's callbacks run one loop turn
        later, and on the path of every message each such turn is latency
        (docs/design-decisions.md). ``on_stored`` runs on the event loop, never
        inside this call, with None or the error. Sequence numbers are
        assigned in call order and callbacks run in the same order, so
        delivery in completion order is delivery in seq order. With ``file``,
        the file's record is stored in the same transaction as the message
        that offers it. ``kind``, ``ref`` and ``reply_to`` are stored as given
        (see :class:`StoredMessage`).
        """

    @abc.abstractmethod
    async def get_message(self, room: str, seq: int) -> StoredMessage | None:
        """One stored message of a conversation (with its file); None if there is none."""

    @abc.abstractmethod
    async def refs_to(self, room: str, seq: int) -> list[StoredMessage]:
        """The messages whose ``ref`` is ``seq`` (edits, deletions, reactions), oldest first."""

    @abc.abstractmethod
    async def last_seq(self, room: str) -> int:
        """The highest seq stored (or, with seq_at_append, assigned) in a conversation."""

    async def last_seqs(self, rooms: Iterable[str]) -> dict[str, int]:
        """Last seq of each of ``rooms`` that has messages."""
        out = {}
        for room in rooms:
            seq = await self.last_seq(room)
            if seq:
                out[room] = seq
        return out

    @abc.abstractmethod
    async def all_last_seqs(self) -> dict[str, int]:
        """Last seq of every conversation that has messages."""

    @abc.abstractmethod
    async def conversations_of(self, user: str, rooms: set[str]) -> dict[str, int]:
        """Last seq of each of ``rooms`` and of each direct conversation of ``user``."""

    @abc.abstractmethod
    async def history(self, room: str, after: int, before: int, limit: int) -> list[StoredMessage]:
        """Messages with after < seq < before (before 0: unbounded), oldest first.

        When more than ``limit`` match, the *oldest* ``limit`` are returned so a
        client can page forward.
        """

    # read markers and mentions (docs/protocol.md 7.6) -------------------------
    @abc.abstractmethod
    async def set_read(self, user: str, room: str, seq: int) -> int:
        """Raise ``user``'s read marker in ``room`` to ``seq`` (never lowers it); the marker now."""

    @abc.abstractmethod
    async def read_markers(self, user: str) -> dict[str, int]:
        """Every read marker of ``user``: conversation key -> last seq read."""

    @abc.abstractmethod
    async def add_mentions(self, room: str, seq: int, users: Iterable[str]) -> None:
        """Record that message ``seq`` of ``room`` mentions each of ``users``.

        Called only for messages that mention someone, so a plain message
        costs the store nothing more.
        """

    @abc.abstractmethod
    async def mention_counts(self, user: str) -> dict[str, int]:
        """Per conversation, the mentions of ``user`` after its read marker (only non-zero)."""

    @abc.abstractmethod
    async def mentions(self, user: str, limit: int, before: float = 0.0) -> list[StoredMessage]:
        """The newest ``limit`` messages mentioning ``user`` (ts order, newest last).

        ``before`` > 0: only messages with a timestamp before it (paging back).
        """

    @abc.abstractmethod
    async def search(self, query: SearchQuery) -> SearchPage:
        """Messages of ``query.rooms`` matching every term, newest first, paged.

        The cursor is the backend's own (opaque to callers); a cursor it cannot
        read raises RoostError(BAD_QUERY).
        """

    # files -------------------------------------------------------------------
    @abc.abstractmethod
    async def get_file(self, file_id: str) -> FileRecord | None:
        """The record of a file, expired or not; None if unknown."""

    @abc.abstractmethod
    async def file_usage(self, owner: str) -> int:
        """Bytes of unexpired files owned by ``owner`` (what counts against the quota)."""

    @abc.abstractmethod
    async def expire_files(self, now: float) -> tuple[list[FileRecord], list[str]]:
        """Mark files past their expiry as expired.

        Returns the records expired now and the SHA-256 of every blob that no
        unexpired file uses any more (the caller deletes those blobs).
        """

    @abc.abstractmethod
    async def live_blobs(self) -> set[str]:
        """SHA-256 of every blob an unexpired file uses."""


def safe_url(url: str) -> str:
    """An engine's URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
