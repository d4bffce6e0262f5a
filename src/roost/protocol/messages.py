"""Every message on the wire, as msgspec structs (encoded as MessagePack maps).

Each message carries its type in the field ``t``. Requests (client to server)
carry a client-chosen ``id``; the server answers each with exactly one ``ok``
or ``error`` bearing the same id. Events (server to client) carry no id.
docs/protocol.md is the specification; keep the two in step.
"""

from __future__ import annotations

from typing import Any

import msgspec

PROTOCOL_VERSION = 1

# Priority levels of messages and accounts. Lower is more important.
URGENT, HIGH, NORMAL, LOW = 0, 1, 2, 3
PRIORITY_NAMES = {"urgent": URGENT, "high": HIGH, "normal": NORMAL, "low": LOW}
PRIORITY_LABELS = {v: k for k, v in PRIORITY_NAMES.items()}


class Wire(msgspec.Struct, tag_field="t", omit_defaults=True):
    """Base of all wire messages."""


# --- handshake ---------------------------------------------------------------


class Limits(msgspec.Struct, omit_defaults=False):
    """Limits the server enforces, announced in its hello (all sizes in bytes).

    Every key is always sent (a client need not know the defaults); the
    defaults here are for decoding a hello of an earlier server.
    """

    max_frame: int
    max_text: int = 16 * 1024
    max_file_size: int = 10 * 1024 * 1024
    chunk_size: int = 64 * 1024
    user_quota: int = 100 * 1024 * 1024
    max_transfers: int = 4
    history_page: int = 500
    outbox_budget: int = 1024 * 1024
    file_retention: float = 30 * 86400.0  # seconds a stored file is kept
    quiet_room_size: int = 500  # members above which a room announces no joins (0: none)
    edit_window: float = 900.0  # seconds an author may edit or delete a message (0: any time)
    max_reactions: int = 20  # distinct reactions (emoji) one message may carry
    search_page: int = 100  # most results of one search request
    search_rate: float = 0.5  # searches per second an account may make, sustained (0: no limit)
    search_burst: int = 10  # ... and in a burst
    typing_interval: float = 3.0  # seconds: at most one typing event per user and conversation
    max_away_reason: int = 200  # characters of an away reason
    max_topic: int = 500  # characters of a room topic


class ServerHello(Wire, tag="hello", omit_defaults=False):
    """First frame the server sends on every connection (every key always sent)."""

    version: int
    server: str
    limits: Limits
    registration: str = "open"  # open | closed | approve


class ClientHello(Wire, tag="hello"):
    """First frame a client sends, after reading the server's hello."""

    version: int
    client: str = ""
    # No max_frame: the server's limit holds both ways (docs/protocol.md 2); a
    # max_frame key from an earlier client is ignored, as unknown keys are.


# --- requests (client -> server) --------------------------------------------


class Login(Wire, tag="login"):
    id: int
    user: str
    password: str
    register: bool = False


class Resume(Wire, tag="resume"):
    """Log in with a session token from an earlier login (no password hashing)."""

    id: int
    token: str


class Send(Wire, tag="send"):
    id: int
    to: str  # room name, or "@user" for a direct message
    text: str
    priority: int | None = None  # None: the sender's own level
    reply_to: int = 0  # seq of the message (same conversation) this answers; 0: none


class Edit(Wire, tag="edit"):
    """Replace the text of one's own message ``seq`` in ``room`` (within the edit window)."""

    id: int
    room: str  # room name, "@user" or a conversation key
    seq: int
    text: str


class Delete(Wire, tag="delete"):
    """Delete one's own message (within the edit window), or, as a moderator, anyone's."""

    id: int
    room: str
    seq: int
    reason: str = ""  # recorded in the audit log when a moderator removes another's message


class React(Wire, tag="react"):
    """Add a reaction (an emoji) to message ``seq``."""

    id: int
    room: str
    seq: int
    emoji: str


class Unreact(Wire, tag="unreact"):
    """Take back one's own reaction ``emoji`` from message ``seq``."""

    id: int
    room: str
    seq: int
    emoji: str


class Join(Wire, tag="join"):
    id: int
    room: str
    # False: refuse a room that does not exist (no_such_room) instead of creating it.
    create: bool = True
    # A room this join creates is private: not listed, joined by invitation only.
    private: bool = False


class Leave(Wire, tag="leave"):
    id: int
    room: str


class ListRooms(Wire, tag="rooms"):
    id: int


class Who(Wire, tag="who"):
    id: int
    room: str


# --- room settings and room-level moderation (docs/rooms.md) -------------------


class SetRoom(Wire, tag="set_room"):
    """Change a room's topic and/or whether it is private (room moderators, owners, staff)."""

    id: int
    room: str
    topic: str | None = None  # None: unchanged; "": no topic
    private: bool | None = None  # None: unchanged (private: room owners and staff only)


class Invite(Wire, tag="invite"):
    """Invite ``user`` into ``room`` (a private room: its moderators and owners only)."""

    id: int
    room: str
    user: str


class SetRoomRole(Wire, tag="room_role"):
    """Make a member of ``room`` its owner, a moderator of it, or a plain member."""

    id: int
    room: str
    user: str
    role: str  # "owner" | "moderator" | "member"


class RoomKick(Wire, tag="room_kick"):
    """Put ``user`` out of ``room`` (their invitation too; a public room they may join again)."""

    id: int
    room: str
    user: str
    reason: str = ""


class RoomMute(Wire, tag="room_mute"):
    """Stop ``user`` posting in ``room`` for ``duration`` seconds (0: until lifted)."""

    id: int
    room: str
    user: str
    duration: float = 0.0
    reason: str = ""


class RoomUnmute(Wire, tag="room_unmute"):
    id: int
    room: str
    user: str


class DeleteRoom(Wire, tag="delete_room"):
    """Delete ``room`` and its history (admins); its name is not given out again."""

    id: int
    room: str
    reason: str = ""


class RenameRoom(Wire, tag="rename_room"):
    """Give ``room`` the name ``new`` (admins): history, seqs and settings go with it;
    the old name is not given out again."""

    id: int
    room: str
    new: str
    reason: str = ""


class History(Wire, tag="history"):
    id: int
    room: str  # room name, "@user", or a conversation key from an event
    after: int = 0  # return messages with seq > after ...
    before: int = 0  # ... and seq < before (0: no upper bound)
    limit: int = 100


# --- file transfer (docs/files.md) -------------------------------------------


class Search(Wire, tag="search"):
    """Full-text search of the conversations the user may read (docs/protocol.md, section 5, "Search")."""

    id: int
    query: str  # words and "quoted phrases", all must occur; word* matches a prefix
    room: str = ""  # one room, "@user" or conversation key; "" every conversation of yours
    sender: str = ""  # only messages of this user
    since: float = 0.0  # only messages with ts >= since (0: no bound)
    until: float = 0.0  # ... and ts < until (0: no bound)
    limit: int = 50  # at most this many (and at most the search_page limit)
    cursor: str = ""  # the previous page's next, for the next (older) page


class Upload(Wire, tag="upload"):
    """Announce a file for ``to``; limits are checked before any data moves.

    ``resume`` names an earlier upload of this account to continue; without
    it, a detached partial upload of the same name and size to the same
    conversation is continued. ``sha256`` (optional here, required at the
    end) lets a file whose bytes the server already holds complete at once.
    """

    id: int
    to: str
    name: str
    size: int
    media_type: str = ""
    text: str = ""  # caption; the file name when empty
    sha256: str = ""
    resume: str = ""


class Put(Wire, tag="put"):
    """``data`` of an upload at ``offset`` (the bytes received so far); result: the new offset."""

    id: int
    upload: str
    offset: int
    data: memoryview  # decoded without a copy; any bytes-like object encodes


class UploadDone(Wire, tag="upload_done"):
    """All bytes sent: check SHA-256, store the blob, post the offer."""

    id: int
    upload: str
    sha256: str


class UploadCancel(Wire, tag="upload_cancel"):
    id: int
    upload: str


class FileQuery(Wire, tag="file_info"):
    id: int
    file: str


class Download(Wire, tag="download"):
    """Stream a file from ``offset`` as ``data`` events; the reply comes after the last byte.

    ``window`` > 0: the server keeps at most that many bytes sent beyond the
    offset last acknowledged with ``download_ack`` (0: no limit, pacing only).
    """

    id: int
    file: str
    offset: int = 0
    window: int = 0


class DownloadAck(Wire, tag="download_ack"):
    """The client has consumed download ``download`` (its request id) up to file ``offset``."""

    id: int
    download: int
    offset: int


class DownloadCancel(Wire, tag="download_cancel"):
    """Stop the download started by request ``download`` (its request id)."""

    id: int
    download: int


class Ping(Wire, tag="ping"):
    id: int


class Logout(Wire, tag="logout"):
    id: int


class Pong(Wire, tag="pong"):
    """Answer to the server's keepalive ``ping`` event; not a request (no id, no reply)."""

    ts: float = 0.0


# --- moderation requests (docs/moderation.md) -----------------------------------
# Durations are seconds; 0 means "until lifted".


class Block(Wire, tag="block"):
    id: int
    user: str
    duration: float = 0.0
    reason: str = ""


class Unblock(Wire, tag="unblock"):
    id: int
    user: str


class Kick(Wire, tag="kick"):
    id: int
    user: str
    reason: str = ""


class Mute(Wire, tag="mute"):
    id: int
    user: str
    duration: float = 0.0
    reason: str = ""


class Unmute(Wire, tag="unmute"):
    id: int
    user: str


class SetPriority(Wire, tag="set_priority"):
    id: int
    user: str
    level: int


class SetRole(Wire, tag="set_role"):
    id: int
    user: str
    role: str  # admin | moderator | member


class BanAddress(Wire, tag="ban"):
    id: int
    address: str  # one address or a CIDR network
    duration: float = 0.0
    reason: str = ""


class UnbanAddress(Wire, tag="unban"):
    id: int
    address: str


class ListBlocks(Wire, tag="blocks"):
    id: int


class ListPending(Wire, tag="pending"):
    id: int


class Admit(Wire, tag="admit"):
    id: int
    user: str
    priority: int | None = None  # None: the default level


class Refuse(Wire, tag="refuse"):
    id: int
    user: str
    reason: str = ""


class Audit(Wire, tag="audit"):
    id: int
    limit: int = 100
    target: str = ""  # only entries about this user or address
    before: int = 0  # only entries with id < before (0: the newest)


class Reload(Wire, tag="reload"):
    """Reread the server's config file (admins only); replies with a ReloadResult."""

    id: int


class Stats(Wire, tag="stats"):
    """The server's metrics (moderators and admins); replies with a list of StatSample."""

    id: int


# --- account requests (docs/accounts.md) ----------------------------------------


class ChangePassword(Wire, tag="change_password"):
    """Change one's own password; the old one must be given."""

    id: int
    old: str
    new: str


class ResetPassword(Wire, tag="reset_password"):
    """Admins: set another account's password; its tokens are revoked, its sessions end."""

    id: int
    user: str
    password: str


class ListUsers(Wire, tag="users"):
    """Admins: every account with its role, priority, status and when last seen."""

    id: int


class DisableAccount(Wire, tag="disable"):
    id: int
    user: str
    reason: str = ""


class EnableAccount(Wire, tag="enable"):
    id: int
    user: str


class DeleteAccount(Wire, tag="delete_account"):
    id: int
    user: str
    reason: str = ""


class ListSessions(Wire, tag="sessions"):
    """One's own live sessions and stored session tokens."""

    id: int


class LogoutAll(Wire, tag="logout_all"):
    """Revoke every session token of one's account and end its other live sessions."""

    id: int


# --- read markers, mentions, presence, typing (docs/protocol.md 7.6-7.9) -------


class MarkRead(Wire, tag="read"):
    """Everything in ``room`` up to ``seq`` has been read (the marker never goes back)."""

    id: int
    room: str  # room name, "@user" or a conversation key
    seq: int


class Unread(Wire, tag="unread"):
    """Unread and mention counts of every conversation of the user; replies with UnreadInfo list."""

    id: int


class Mentions(Wire, tag="mentions"):
    """The newest messages that mention the user (@name); replies with a list of Message."""

    id: int
    limit: int = 50
    before: float = 0.0  # only messages older than this timestamp (0: the newest)


class SetAway(Wire, tag="away"):
    """Mark oneself away (``away`` true, with an optional reason) or back (false)."""

    id: int
    away: bool = True
    reason: str = ""


class Typing(Wire, tag="typing"):
    """The user is typing in ``to``; relayed to its online members, never stored."""

    id: int
    to: str


# --- replies -----------------------------------------------------------------


class Ok(Wire, tag="ok"):
    id: int
    result: Any = None


class Error(Wire, tag="error"):
    code: str
    message: str
    id: int | None = None


# --- events (server -> client) ------------------------------------------------


class FileInfo(msgspec.Struct):
    """A stored file, as offered in a message."""

    id: str
    name: str  # cleaned for display by the server; still sanitize before saving
    size: int
    sha256: str  # hex
    media_type: str = "application/octet-stream"


class Message(Wire, tag="msg"):
    """A chat message in a room or a direct conversation (room ``@a+b``).

    A message with ``file`` is a file offer; its text is the caption. A
    ``kind`` other than "text" is an event about the earlier message ``ref``
    (docs/protocol.md 5.3): "edit" (text: the new text), "delete" (by its
    author), "remove" (by a moderator; text: the reason), "react" and
    "unreact" (text: the emoji). ``reply_to``: the seq a text message answers.
    """

    room: str
    seq: int
    sender: str
    text: str
    ts: float
    priority: int = NORMAL
    file: FileInfo | None = None
    kind: str = "text"
    ref: int = 0
    reply_to: int = 0


class FileData(Wire, tag="data"):
    """Bytes of the download started by request ``id``, in order, BULK class."""

    id: int
    offset: int
    data: memoryview


class Presence(Wire, tag="presence"):
    user: str
    online: bool
    # Sent only when true (omit-defaults): earlier clients see the frames they knew.
    away: bool = False
    reason: str = ""  # why away, when given


class ReadMarker(Wire, tag="read"):
    """One of the user's sessions read ``room`` up to ``seq``: to the user's other sessions."""

    room: str
    seq: int
    unread: int = 0
    mentions: int = 0


class TypingEvent(Wire, tag="typing"):
    """``user`` is typing in ``room``; shown for a few seconds (Limits.typing_interval)."""

    room: str
    user: str


class Joined(Wire, tag="joined"):
    room: str
    user: str


class Left(Wire, tag="left"):
    room: str
    user: str
    by: str = ""  # set when a room moderator put the user out (room_kick)
    reason: str = ""


class RoomChanged(Wire, tag="room_changed"):
    """A room's topic or privacy changed (to its members); ``by`` who changed it."""

    room: str
    topic: str
    private: bool
    by: str


class Invited(Wire, tag="invited"):
    """To the invited user's sessions: ``by`` invites them into ``room``."""

    room: str
    by: str
    private: bool = False
    topic: str = ""


class RoomDeleted(Wire, tag="room_deleted"):
    """To the members of a room an admin deleted: it and its history are gone."""

    room: str
    by: str
    reason: str = ""


class RoomRenamed(Wire, tag="room_renamed"):
    """To the members of a room an admin renamed: ``room`` is called ``new`` now,
    with the same history and seqs (a client moves its state of ``room`` there)."""

    room: str
    new: str
    by: str
    reason: str = ""


class Gap(Wire, tag="gap"):
    """Live delivery skipped messages after..upto of a room; fetch them from history."""

    room: str
    after: int
    upto: int


class Notice(Wire, tag="notice"):
    text: str
    room: str = ""


class Bye(Wire, tag="bye"):
    """Last frame before the server closes the connection."""

    code: str
    reason: str


class KeepAlive(Wire, tag="ping"):
    """The server checks that a silent connection is alive; answer with ``pong``."""

    ts: float = 0.0


class Moderation(Wire, tag="moderation"):
    """A moderation action or a registration waiting for admission; sent to moderators online."""

    entry: AuditEntry


# --- results carried in Ok.result ------------------------------------------


class LoginResult(msgspec.Struct):
    user: str
    role: str
    priority: int
    token: str
    rooms: list[str]
    # last seq of every conversation the user takes part in (rooms and direct)
    conversations: dict[str, int] = {}
    # read marker of each conversation that has one (docs/protocol.md 7.6)
    read: dict[str, int] = {}
    # mentions of the user after the read marker, per conversation that has any
    mentions: dict[str, int] = {}
    # old name -> name now, of each room of the user's that was renamed (a client
    # that was away during a rename moves its state, then catches up)
    renamed: dict[str, str] = {}
    # "pending": the account waits for admission (no token, no rooms yet); an
    # ``admitted`` event with the full session follows when a moderator admits it.
    status: str = "active"


class Admitted(Wire, tag="admitted"):
    """The waiting account was admitted: this connection is now a normal session."""

    session: LoginResult


class SendResult(msgspec.Struct):
    room: str
    seq: int
    ts: float
    # The level the message went out with: the one asked for, or the sender's
    # own level when a higher one was asked (None from a server that does not say).
    priority: int | None = None


class RoomInfo(msgspec.Struct):
    name: str
    members: int
    online: int
    joined: bool
    quiet: bool = False  # too big to announce joins, leaves and presence
    topic: str = ""
    private: bool = False
    invited: bool = False  # the asking user holds an invitation into it
    role: str = ""  # the asking user's room role: "owner", "moderator" or ""


class MemberInfo(msgspec.Struct, omit_defaults=True):
    user: str
    online: bool
    role: str
    away: bool = False
    reason: str = ""
    room_role: str = ""  # "owner" or "moderator" of this room; empty for a plain member
    muted: bool = False  # muted in this room


class UnreadInfo(msgspec.Struct):
    """Counts of one conversation, the same on every device of the user."""

    room: str
    last_seq: int
    read: int  # the user's read marker (0: nothing read)
    unread: int  # messages after the read marker
    mentions: int  # messages mentioning the user after the read marker


class HistoryResult(msgspec.Struct):
    room: str
    messages: list[Message]
    last_seq: int  # highest seq stored in the conversation


class SearchResult(msgspec.Struct):
    messages: list[Message]  # newest first
    next: str = ""  # cursor of the next (older) page; "" if there is none


class JoinResult(msgspec.Struct):
    room: str
    last_seq: int
    created: bool = False
    quiet: bool = False  # too big to announce joins, leaves and presence
    topic: str = ""
    private: bool = False
    role: str = ""  # the joiner's room role ("owner" for the creator)


class UploadResult(msgspec.Struct):
    upload: str
    offset: int  # send from here; equal to the size when nothing is left to send
    prefix_sha256: str = ""  # SHA-256 of the bytes before offset, to check a resume


class FileResult(msgspec.Struct):
    """Result of upload_done: the stored file and the offer message."""

    file: FileInfo
    room: str
    seq: int
    ts: float


class FileDetails(msgspec.Struct):
    """Result of file_info (and of download, after its last byte)."""

    file: FileInfo
    sender: str
    room: str
    created: float
    expires: float


class SanctionInfo(msgspec.Struct):
    """A block (account), mute (account) or ban (address or network)."""

    kind: str  # block | mute | ban
    target: str  # user name, or address/network for bans
    reason: str
    author: str
    created: float
    expires: float = 0.0  # 0: until lifted


class ModResult(msgspec.Struct):
    """Result of a moderation action."""

    action: str
    target: str
    reason: str = ""
    expires: float = 0.0
    sessions: int = 0  # sessions the action ended
    priority: int | None = None
    role: str = ""
    room: str = ""  # room-level actions: the room


class PendingUser(msgspec.Struct):
    user: str
    since: float
    online: bool
    address: str = ""


class AuditEntry(msgspec.Struct):
    """One line of the audit log: who did what to whom, why and when."""

    id: int
    ts: float
    actor: str  # a user name, or "(auto)" for automatic protection
    action: str
    target: str
    reason: str = ""
    detail: str = ""
    text: str = ""  # the whole entry as one sentence, for display


class ReloadResult(msgspec.Struct):
    changed: list[str]  # settings now in force with their new values
    restart_needed: list[str]  # settings that differ in the file but apply at the next start


class StatSample(msgspec.Struct):
    """One sample of one metric, as in the Prometheus text format (docs/operations.md)."""

    name: str
    labels: dict[str, str]
    value: float


class UserInfo(msgspec.Struct):
    """One account, as an admin lists it."""

    user: str
    role: str
    priority: int
    status: str  # active | pending | disabled | deleted
    created: float
    online: bool
    last_seen: float = 0.0  # now if online; else the last login (0: never or tokens expired)


class SessionInfo(msgspec.Struct):
    """A live session (``kind`` "live") or a stored session token ("token")."""

    kind: str
    since: float = 0.0  # login time
    expires: float = 0.0  # tokens: when it stops being accepted
    address: str = ""  # live sessions: the client's address
    current: bool = False  # the session that asked
    token: str = ""  # tokens: the first characters of the token's digest, to tell them apart


ClientMessage = (
    ClientHello
    | Login
    | Resume
    | Send
    | Edit
    | Delete
    | React
    | Unreact
    | Join
    | Leave
    | ListRooms
    | Who
    | SetRoom
    | Invite
    | SetRoomRole
    | RoomKick
    | RoomMute
    | RoomUnmute
    | DeleteRoom
    | RenameRoom
    | History
    | Search
    | Ping
    | Logout
    | Pong
    | Block
    | Unblock
    | Kick
    | Mute
    | Unmute
    | SetPriority
    | SetRole
    | BanAddress
    | UnbanAddress
    | ListBlocks
    | ListPending
    | Admit
    | Refuse
    | Audit
    | Reload
    | Stats
    | Upload
    | Put
    | UploadDone
    | UploadCancel
    | FileQuery
    | Download
    | DownloadCancel
    | DownloadAck
    | ChangePassword
    | ResetPassword
    | ListUsers
    | DisableAccount
    | EnableAccount
    | DeleteAccount
    | ListSessions
    | LogoutAll
    | MarkRead
    | Unread
    | Mentions
    | SetAway
    | Typing
)
ServerMessage = (
    ServerHello
    | Ok
    | Error
    | Message
    | Presence
    | Joined
    | Left
    | RoomChanged
    | Invited
    | RoomDeleted
    | RoomRenamed
    | Gap
    | Notice
    | Bye
    | KeepAlive
    | Moderation
    | Admitted
    | FileData
    | ReadMarker
    | TypingEvent
)
