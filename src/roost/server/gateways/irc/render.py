"""Server events as IRC lines, encoded once per message and per kind of receiver.

A room's message goes to many IRC sessions; all of them with the same
capabilities get the same bytes, so the lines of an envelope are built once
per capability set (``Rendered.shared``) and handed to each. Only what
depends on the receiver (its own messages, direct messages, events about
itself) is rendered per session.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from roost.bus.base import Envelope
from roost.protocol.errors import RoostError
from roost.protocol.frames import HEADER_SIZE
from roost.protocol.messages import (
    PRIORITY_LABELS,
    URGENT,
    Joined,
    Left,
    Message,
    Notice,
    Presence,
    ServerMessage,
)
from roost.protocol.names import check_room, dm_parties
from roost.server.gateways.irc.lines import MAX_BODY, line, split_text

# Capabilities that change how an event is rendered (bits of a session's mask).
TIME, TAGS, ACCOUNT, ECHO, AWAY, REDACT = 1, 2, 4, 8, 16, 32
CAP_BITS = {
    "server-time": TIME,
    "message-tags": TAGS,
    "account-tag": ACCOUNT,
    "echo-message": ECHO,
    "away-notify": AWAY,
    "draft/message-redaction": REDACT,
}
# Client tags of IRCv3 drafts (reply, react) and Roost's own for an edit's target.
REPLY_TAG, REACT_TAG, UNREACT_TAG = "+draft/reply", "+draft/react", "+draft/unreact"
EDIT_TAG = "roost/edit"
TYPING_TAG = "+typing"
SERVICE = "RoostServ"  # the service nick: notices of the server, admin commands
PRIORITY_TAG = "roost/priority"
FILE_TAG = "roost/file"

_decoder = msgspec.msgpack.Decoder(ServerMessage)


def decode_frames(data: bytes | bytearray) -> list[Any]:
    """The messages of an envelope (one frame, or several of one room joined)."""
    out: list[Any] = []
    view = memoryview(data)
    pos, end = 0, len(data)
    while pos + HEADER_SIZE <= end:
        size = int.from_bytes(view[pos : pos + HEADER_SIZE], "big")
        start = pos + HEADER_SIZE
        out.append(_decoder.decode(view[start : start + size]))
        pos = start + size
    return out


def irc_time(ts: float) -> str:
    """server-time's format: UTC, milliseconds, Z."""
    ms = int(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{ms:03d}Z"


def parse_time(text: str) -> float:
    """A server-time timestamp (``2026-12-02T15:04:05.123Z``) as seconds; ``*`` is 0."""
    if text == "*":
        return 0.0
    try:
        whole, _, rest = text.rstrip("Z").partition(".")
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
        return seconds + (float("0." + rest) if rest.isdigit() else 0.0)
    except ValueError:
        raise ValueError(f"{text!r} is not a timestamp") from None


def msgid(room: str, seq: int) -> str:
    """A message's IRC id: its conversation and seq (``general/42``, ``@ann+bob/7``)."""
    return f"{room}/{seq}"


def parse_msgid(value: str) -> tuple[str, int] | None:
    room, _, seq = value.rpartition("/")
    if not room or not seq.isdigit():
        return None
    return room, int(seq)


def mask_source(nick: str, host: str) -> str:
    return f"{nick}!{nick}@{host}"


def message_text(m: Message) -> str:
    """The text IRC users read: a file offer says what it is and how to fetch it."""
    if m.file is None:
        return m.text
    f = m.file
    offer = f"[file] {f.name} ({f.size} bytes, sha256 {f.sha256}) - fetch it with: roost download {f.id}"
    return offer if not m.text or m.text == f.name else f"{offer}\n{m.text}"


def render_message(
    m: Message, me: str, mask: int, host: str, extra: dict[str, str] | None = None
) -> bytes:
    """The lines of one message as ``me`` sees them (b'' when it is not shown)."""
    own = m.sender == me
    if own and not mask & ECHO:
        return b""
    parties = dm_parties(m.room)
    if parties is not None:
        target = (parties[1] if parties[0] == me else parties[0]) if own else me
    else:
        target = "#" + m.room
    # Urgent messages come as NOTICEs, which IRC clients show apart (docs/irc.md).
    command = "NOTICE" if m.priority == URGENT else "PRIVMSG"
    source = mask_source(m.sender, host)
    tags = _message_tags(m, mask)
    if m.kind != "text":
        return _render_event(m, target, source, mask, tags, extra)
    if mask & TAGS:
        if m.priority != 2:
            tags[PRIORITY_TAG] = PRIORITY_LABELS.get(m.priority, str(m.priority))
        if m.file is not None:
            tags[FILE_TAG] = m.file.id
        if m.reply_to:
            tags[REPLY_TAG] = msgid(m.room, m.reply_to)
    if extra:
        tags.update(extra)
    return _text_lines(command, target, message_text(m), source, tags)


def _text_lines(command: str, target: str, text: str, source: str, tags: dict[str, str]) -> bytes:
    """PRIVMSG or NOTICE lines of ``text``; the msgid tag on the first line only."""
    # Room for the text in a 512-byte line: ":source COMMAND target :text\r\n".
    room = MAX_BODY - len(source.encode()) - len(command) - len(target.encode()) - 7
    parts = split_text(text, max(room, 16))
    out = [line(command, (target, parts[0]), source, tags, trailing=True)]
    if len(parts) > 1:
        rest = {k: v for k, v in tags.items() if k != "msgid"}
        out += [line(command, (target, p), source, rest, trailing=True) for p in parts[1:]]
    return b"".join(out)


def _message_tags(m: Message, mask: int) -> dict[str, str]:
    """The tags every message line carries, as the receiver's capabilities ask."""
    tags: dict[str, str] = {}
    if mask & TIME:
        tags["time"] = irc_time(m.ts)
    if mask & ACCOUNT:
        tags["account"] = m.sender
    if mask & TAGS:
        tags["msgid"] = msgid(m.room, m.seq)
    return tags


def _render_event(
    m: Message,
    target: str,
    source: str,
    mask: int,
    tags: dict[str, str],
    extra: dict[str, str] | None,
) -> bytes:
    """An edit, deletion, removal or reaction (docs/protocol.md 5.3) as IRC has it.

    With message-tags a reaction is a TAGMSG with ``+draft/react`` (or
    ``+draft/unreact``) and ``+draft/reply`` naming the message; with
    draft/message-redaction a deletion is REDACT. Clients without them get a
    NOTICE that says what happened; an edit is the new text, marked.
    """
    ref = msgid(m.room, m.ref)
    if extra:
        tags.update(extra)
    if m.kind in ("react", "unreact") and mask & TAGS:
        tags[REACT_TAG if m.kind == "react" else UNREACT_TAG] = m.text
        tags[REPLY_TAG] = ref
        return line("TAGMSG", (target,), source, tags)
    if m.kind in ("delete", "remove") and mask & REDACT:
        params = (target, ref, m.text) if m.kind == "remove" and m.text else (target, ref)
        return line("REDACT", params, source, tags)
    if m.kind == "edit":
        if mask & TAGS:
            tags[EDIT_TAG] = ref
        return _text_lines("PRIVMSG", target, "(edited) " + m.text, source, tags)
    text = {
        "delete": "(deleted a message)",
        "remove": "(removed a message" + (f": {m.text})" if m.text else ")"),
        "react": f"(reacted {m.text})",
        "unreact": f"(took back {m.text})",
    }.get(m.kind, f"({m.kind})")
    return _text_lines("NOTICE", target, text, source, tags)


def render_shared(ev: Any, mask: int, host: str, server: str) -> bytes:
    """An event that reads the same for every receiver that is not in it."""
    if isinstance(ev, Message):
        return render_message(ev, "", mask, host)
    if isinstance(ev, Joined):
        return line("JOIN", ("#" + ev.room,), mask_source(ev.user, host))
    if isinstance(ev, Left):
        if ev.by:  # put out by a room moderator
            src = mask_source(ev.by, host)
            return line("KICK", ("#" + ev.room, ev.user, ev.reason or ev.by), src, trailing=True)
        return line("PART", ("#" + ev.room,), mask_source(ev.user, host))
    if isinstance(ev, Presence):
        if not mask & AWAY:
            return b""
        src = mask_source(ev.user, host)
        if not ev.online:
            return line("AWAY", ("offline",), src, trailing=True)
        if ev.away:
            return line("AWAY", (ev.reason or "away",), src, trailing=True)
        return line("AWAY", (), src)
    if isinstance(ev, Notice) and ev.room:
        return line("NOTICE", ("#" + ev.room, ev.text), server)
    return b""


def _is_shared(ev: Any) -> bool:
    return isinstance(ev, Message | Joined | Left | Presence) or (
        isinstance(ev, Notice) and bool(ev.room)
    )


@dataclass(slots=True)
class Rendered:
    """An envelope decoded once, with its lines per capability mask."""

    events: list[Any]
    # names the envelope's events are about (senders, joiners): for those, per session
    people: set[str] = field(default_factory=set)
    personal: bool = False  # some event depends on who reads it (a DM, a notice, a bye)
    shared: dict[int, bytes] = field(default_factory=dict)

    def lines(self, mask: int, host: str, server: str) -> bytes:
        data = self.shared.get(mask)
        if data is None:
            data = self.shared[mask] = b"".join(
                render_shared(ev, mask, host, server) for ev in self.events
            )
        return data


class Renderer:
    """Remembers the last envelope rendered: a fan-out hands one envelope to every
    session of a room in turn, so one entry is enough for one encoding per mask."""

    __slots__ = ("_env", "_rendered", "host", "server")

    def __init__(self, host: str, server: str) -> None:
        self.host = host
        self.server = server
        self._env: Envelope | None = None
        self._rendered: Rendered | None = None

    def rendered(self, env: Envelope) -> Rendered:
        if env is self._env and self._rendered is not None:
            return self._rendered
        events = decode_frames(env.frame)
        r = Rendered(events)
        for ev in events:
            if isinstance(ev, Message):
                r.people.add(ev.sender)
                if dm_parties(ev.room) is not None:
                    r.personal = True
            elif isinstance(ev, Joined | Left | Presence):
                r.people.add(ev.user)
            elif not _is_shared(ev):
                r.personal = True
        self._env, self._rendered = env, r
        return r


def room_of(target: str) -> str | None:
    """The room of a channel name (``#general`` -> ``general``), None if it is not one."""
    if not target.startswith("#"):
        return None
    try:
        return check_room(target[1:])
    except RoostError:
        return None
