"""One IRC client, sans-I/O: parsed lines in -> IRC lines and server requests out.

The session turns IRC commands into the same requests a native client sends
(``Login``, ``Join``, ``Send``, ``History``, ``Kick``...), so the server's own
handlers and checks decide (rate limits, mutes, blocks, roles); their
replies, and the server's events, come back as IRC lines. It does no I/O:
the listener feeds it lines, replies and events, and takes from it the lines
to write (``out``), the requests to dispatch (``requests``) and, when the
session must end, the reason (``closing``). Registration (CAP, SASL, the
welcome) is in ``registration``, chathistory in ``history``, the admin
commands in ``service``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from irctokens.line import Line

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    Admitted,
    Bye,
    Delete,
    Gap,
    History,
    HistoryResult,
    Invite,
    Invited,
    Join,
    Joined,
    JoinResult,
    KeepAlive,
    Leave,
    Left,
    ListRooms,
    LoginResult,
    MemberInfo,
    Message,
    Moderation,
    Notice,
    Presence,
    React,
    RoomChanged,
    RoomDeleted,
    RoomInfo,
    RoomKick,
    RoomRenamed,
    Send,
    SendResult,
    ServerHello,
    SetAway,
    SetRoom,
    SetRoomRole,
    Typing,
    TypingEvent,
    Unreact,
    Who,
    Wire,
)
from roost.protocol.names import dm_parties
from roost.server.gateways.irc import history, registration, service
from roost.server.gateways.irc.lines import BadLine, line, tags_prefix
from roost.server.gateways.irc.render import (
    REACT_TAG,
    REPLY_TAG,
    SERVICE,
    TYPING_TAG,
    UNREACT_TAG,
    mask_source,
    parse_msgid,
    render_message,
    render_shared,
    room_of,
)

# Codes after which the server ends the session as IRC's KILL does.
KILLS = {"blocked", "kicked", "banned", "refused"}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What a session needs to know about the server (fixed while it runs)."""

    server: str  # the server's IRC name, also the host part of every user's mask
    network: str
    registration: str  # open | closed | approve
    playback: int  # messages replayed per conversation on join (0: none)
    history_page: int
    motd: str = ""
    version: str = "roost"
    created: str = ""


@dataclass(frozen=True, slots=True)
class UserView:
    name: str
    role: str
    online: bool
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomView:
    topic: str
    topic_by: str
    topic_ts: float
    private: bool


class Directory(Protocol):
    """Read-only lookups of the server's state (accounts, rooms, presence)."""

    def user(self, name: str) -> UserView | None: ...
    def room(self, name: str) -> RoomView | None: ...
    def last_seq(self, key: str) -> int: ...
    def away(self, name: str) -> str: ...
    def mark(self, account: str) -> dict[str, int]:
        """Last seq each conversation had when the account's last IRC session ended."""
        ...


OnReply = Callable[[Any, RoostError | None], None]


@dataclass(slots=True)
class IrcSession:
    """The state machine of one IRC connection (registration, CAP, SASL, then chat)."""

    cfg: SessionConfig
    directory: Directory
    out: list[bytes] = field(default_factory=list)
    requests: list[Wire] = field(default_factory=list)
    closing: tuple[str, str] | None = None
    nick: str = "*"
    user_given: bool = False
    password: str = ""
    caps: set[str] = field(default_factory=set)
    mask: int = 0  # render bits of the enabled capabilities (render.CAP_BITS)
    negotiating: bool = False  # CAP LS/REQ seen before registration, CAP END not yet
    sasl: registration.Sasl | None = None
    account: str = ""  # logged in as (SASL, PASS or the register command)
    pending: bool = False  # the account waits for a moderator's admission
    logging_in: bool = False
    registered: bool = False  # the welcome burst was sent
    login: LoginResult | None = None
    channels: set[str] = field(default_factory=set)  # rooms shown as joined
    # (topic, private) of each room as this client was last told: a room_changed
    # event says both, the client hears only what changed (TOPIC, MODE +i/-i).
    settings: dict[str, tuple[str, bool]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # of the line being handled
    last: dict[str, int] = field(default_factory=dict)  # last seq seen per conversation
    labels: dict[tuple[str, int], str] = field(default_factory=dict)  # own echoes owed a label
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _waiting: dict[int, OnReply] = field(default_factory=dict)
    _batches: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # --- output helpers ----------------------------------------------------------------

    @property
    def me(self) -> str:
        return self.account or self.nick

    def numeric(self, code: str, *params: str, label: str = "") -> None:
        self.out.append(
            line(code, (self.me, *params), self.cfg.server, {"label": label} if label else None)
        )

    def notice(self, text: str, source: str = "") -> None:
        src = source or mask_source(SERVICE, self.cfg.server)
        for part in text.split("\n"):
            self.out.append(line("NOTICE", (self.me, part or " "), src))

    def fail(self, command: str, code: str, context: str, text: str, label: str = "") -> None:
        tags = {"label": label} if label else None
        params = (command, code, context, text) if context else (command, code, text)
        self.out.append(line("FAIL", params, self.cfg.server, tags))

    def request(self, msg_type: Callable[..., Wire], then: OnReply, **fields: Any) -> None:
        """Queue a request for the server; ``then(result, error)`` gets its reply."""
        rid = next(self._ids)
        self._waiting[rid] = then
        self.requests.append(msg_type(id=rid, **fields))

    def replied(self, request_id: int | None, result: Any, error: RoostError | None) -> None:
        """The server's reply to one of our requests (or an error with no request: a failure)."""
        then = self._waiting.pop(request_id, None) if request_id is not None else None
        if then is not None:
            then(result, error)
        elif error is not None:
            self.notice(f"error: {error.message}")

    def close(self, code: str, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)

    def error_line(self, reason: str) -> bytes:
        return line("ERROR", (f"Closing Link: {self.cfg.server} ({reason})",))

    # --- input -------------------------------------------------------------------------

    def receive(self, item: Line | BadLine) -> None:
        """One line from the client."""
        if isinstance(item, BadLine):
            if item.numeric == "FAIL":
                self.fail(
                    "*", "INVALID_UTF8" if "UTF-8" in item.text else "BAD_LINE", "", item.text
                )
            else:
                self.numeric(item.numeric, item.text)
            return
        label = item.tags.get("label", "") if item.tags and "labeled-response" in self.caps else ""
        handler = _COMMANDS.get(item.command)
        if handler is None:
            if item.command in service.COMMANDS and self.registered:
                self._service(item.command.lower(), item.params, label)
                return
            if self.registered:
                self.numeric("421", item.command, "Unknown command", label=label)
            else:
                self.numeric("451", "You have not registered")
            return
        early, run = handler
        if not early and not self.registered:
            self.numeric("451", "You have not registered")
            return
        before = len(self.out)
        self.tags = item.tags or {}
        run(self, item.params, label)
        if label and len(self.out) > before:
            self._label_lines(before, label)

    def _label_lines(self, start: int, label: str) -> None:
        """Label the responses written synchronously (labeled-response)."""
        lines = self.out[start:]
        if len(lines) == 1 and b"label=" in lines[0][:200]:
            return
        if len(lines) == 1:
            self.out[start] = _with_tags(lines[0], {"label": label})
            return
        ref = f"L{next(self._batches)}"
        head = line("BATCH", ("+" + ref, "labeled-response"), self.cfg.server, {"label": label})
        body = [_with_tags(x, {"batch": ref}) for x in lines]
        self.out[start:] = [head, *body, line("BATCH", ("-" + ref,), self.cfg.server)]

    def ack(self, label: str) -> None:
        if label:
            self.out.append(line("ACK", (), self.cfg.server, {"label": label}))

    def wrap(self, lines: list[bytes], label: str) -> None:
        """Lines that answer a labelled command asynchronously (after a server reply)."""
        start = len(self.out)
        self.out.extend(lines)
        if label:
            if lines:
                self._label_lines(start, label)
            else:
                self.ack(label)

    # --- channels --------------------------------------------------------------------------

    def _show_join(self, room: str, label: str = "") -> None:
        """Tell the client it is in ``room``: JOIN, names, then the missed messages."""
        if room in self.channels:
            return
        self.channels.add(room)
        start = len(self.out)
        src = mask_source(self.me, self.cfg.server)
        self.out.append(line("JOIN", ("#" + room,), src))
        self.out.extend(self._topic_lines(room))
        if label:
            self._label_lines(start, label)
        self.request(Who, lambda r, e: self._names(room, r, e, ""), room=room)
        if not registration.has_history(self):
            self._playback(room, self.directory.last_seq(room))

    def _topic_lines(self, room: str) -> list[bytes]:
        """332 and 333 (topic, who set it and when), or 331 when the room has none."""
        view = self.directory.room(room)
        if view is not None:
            self.settings[room] = (view.topic, view.private)
        if view is None or not view.topic:
            return [self._line("331", "#" + room, "No topic is set")]
        return [
            self._line("332", "#" + room, view.topic),
            self._line(
                "333", "#" + room, view.topic_by or self.cfg.server, str(int(view.topic_ts))
            ),
        ]

    def _playback(self, key: str, last: int) -> None:
        """What was missed since the account's last IRC session, at most cfg.playback."""
        limit = self.cfg.playback
        if limit <= 0 or last <= 0:
            return
        seen = self.directory.mark(self.account).get(key, 0)
        # Shown live already (this session was in the conversation): not again.
        shown = self.last.get(key, 0)
        after = max(seen, shown, last - limit, 0)
        if after >= last:
            return

        def show(result: Any, error: RoostError | None) -> None:
            # Live messages that came meanwhile are newer than ``last``: the
            # playback is shown whatever self.last says now.
            if error is None and isinstance(result, HistoryResult):
                for m in result.messages:
                    self.deliver_message(m, playback=True)

        self.request(History, show, room=key, after=after, before=last + 1, limit=limit)

    def _names(self, room: str, result: Any, error: RoostError | None, label: str) -> None:
        lines: list[bytes] = []
        if error is None:
            members: list[MemberInfo] = result
            names = [("@" if _is_op(m) else "") + m.user for m in members]
            chunk: list[str] = []
            for name in names:
                chunk.append(name)
                if len(chunk) == 20:
                    lines.append(self._line("353", "=", "#" + room, " ".join(chunk)))
                    chunk = []
            if chunk:
                lines.append(self._line("353", "=", "#" + room, " ".join(chunk)))
        lines.append(self._line("366", "#" + room, "End of /NAMES list."))
        self.wrap(lines, label)

    def _line(self, code: str, *params: str) -> bytes:
        return line(code, (self.me, *params), self.cfg.server)

    def _join(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "JOIN", "Not enough parameters", label=label)
            return
        if params[0] == "0":
            for name in sorted(self.channels):
                self._part_one(name, "", "")
            return
        for target in params[0].split(",")[: registration.MAX_TARGETS]:
            room = room_of(target)
            if room is None:
                self.numeric(
                    "403", target, "No such channel: rooms are #name (a-z 0-9 _ . -)", label=label
                )
                continue

            def done(result: Any, error: RoostError | None, target: str = target) -> None:
                if error is not None:
                    self.wrap([self._line(_err_numeric(error), target, error.message)], label)
                elif isinstance(result, JoinResult):
                    if result.room in self.channels:
                        self.ack(label)
                    else:
                        self._show_join(result.room, label)

            self.request(Join, done, room=room)

    def _part(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "PART", "Not enough parameters", label=label)
            return
        reason = params[1] if len(params) > 1 else ""
        for target in params[0].split(",")[: registration.MAX_TARGETS]:
            room = room_of(target)
            if room is None:
                self.numeric("403", target, "No such channel", label=label)
                continue
            self._part_one(room, reason, label, target)

    def _part_one(self, room: str, reason: str, label: str, shown: str = "") -> None:
        shown = shown or "#" + room

        def done(result: Any, error: RoostError | None) -> None:
            if error is not None:
                code = "442" if error.code == ErrorCode.NOT_A_MEMBER else _err_numeric(error)
                self.wrap([self._line(code, shown, error.message)], label)
            else:
                self.wrap(self._parted(room), label)

        self.request(Leave, done, room=room)

    def _parted(self, room: str) -> list[bytes]:
        if room not in self.channels:
            return []
        self.channels.discard(room)
        return [line("PART", ("#" + room,), mask_source(self.me, self.cfg.server))]

    def _names_cmd(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("366", "*", "End of /NAMES list.", label=label)
            return
        room = room_of(params[0].split(",")[0])
        if room is None:
            self.numeric("366", params[0], "End of /NAMES list.", label=label)
            return
        self.request(Who, lambda r, e: self._names(room, r, e, label), room=room)

    def _who(self, params: list[str], label: str) -> None:
        mask = params[0] if params else "*"
        room = room_of(mask) if mask.startswith("#") else None
        end = self._line("315", mask, "End of WHO list")
        if room is not None:

            def done(result: Any, error: RoostError | None) -> None:
                lines = []
                if error is None:
                    for m in result:
                        op = "moderator" if _is_op(m) else m.role
                        lines.append(self._who_line("#" + room, m.user, m.online, op))
                self.wrap([*lines, end], label)

            self.request(Who, done, room=room)
            return
        lines = []
        view = self.directory.user(mask.lower()) if mask != "*" else None
        if view is not None:
            lines.append(self._who_line("*", view.name, view.online, view.role))
        self.wrap([*lines, end], label)

    def _who_line(self, channel: str, user: str, online: bool, role: str) -> bytes:
        flags = ("H" if online and not self.directory.away(user) else "G") + (
            "@" if role in ("admin", "moderator") and channel != "*" else ""
        )
        return self._line(
            "352", channel, user, self.cfg.server, self.cfg.server, user, flags, f"0 {user}"
        )

    def _whois(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("431", "No nickname given", label=label)
            return
        nick = params[-1].split(",")[0]
        lines: list[bytes] = []
        view = self.directory.user(nick.lower())
        if view is None:
            lines.append(self._line("401", nick, "No such nick"))
        else:
            n = view.name
            lines.append(self._line("311", n, n, self.cfg.server, "*", n))
            if view.rooms:
                lines.append(self._line("319", n, " ".join("#" + r for r in view.rooms)))
            lines.append(self._line("312", n, self.cfg.server, self.cfg.network))
            away = self.directory.away(n)
            if away or not view.online:
                lines.append(self._line("301", n, away or "offline"))
            if view.role in ("admin", "moderator"):
                lines.append(self._line("313", n, f"is a Roost {view.role}"))
            lines.append(self._line("330", n, n, "is logged in as"))
        lines.append(self._line("318", nick, "End of /WHOIS list."))
        self.wrap(lines, label)

    def _list(self, params: list[str], label: str) -> None:
        def done(result: Any, error: RoostError | None) -> None:
            lines = [self._line("321", "Channel", "Users  Name")]
            if error is None:
                rooms: list[RoomInfo] = result
                lines += [self._line("322", "#" + r.name, str(r.members), "") for r in rooms]
            lines.append(self._line("323", "End of /LIST"))
            self.wrap(lines, label)

        self.request(ListRooms, done)

    def _room_reply(self, target: str, label: str, done: list[bytes] | None = None) -> OnReply:
        """The reply to a room request: an error numeric, or the ``done`` lines (none: ACK,
        the event that follows says the rest)."""

        def reply(result: Any, error: RoostError | None) -> None:
            if error is not None:
                self.wrap([self._line(_room_numeric(error), target, error.message)], label)
            else:
                self.wrap(done or [], label)

        return reply

    def _topic(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "TOPIC", "Not enough parameters", label=label)
            return
        room = room_of(params[0])
        if room is None:
            self.numeric("403", params[0], "No such channel", label=label)
        elif len(params) == 1:
            self.out.extend(self._topic_lines(room))
        else:
            # Everyone in the room (this client too) gets TOPIC from the room_changed event.
            self.request(SetRoom, self._room_reply(params[0], label), room=room, topic=params[1])

    def _invite(self, params: list[str], label: str) -> None:
        if len(params) < 2:
            self.numeric("461", "INVITE", "Not enough parameters", label=label)
            return
        nick, channel = params[0], params[1]
        room = room_of(channel)
        if room is None:
            self.numeric("403", channel, "No such channel", label=label)
            return

        def done(result: Any, error: RoostError | None) -> None:
            if error is None:
                self.wrap([self._line("341", nick, channel)], label)
            elif error.code == ErrorCode.NO_SUCH_USER:
                self.wrap([self._line("401", nick, error.message)], label)
            elif error.code == ErrorCode.BAD_REQUEST and "already" in error.message:
                self.wrap([self._line("443", nick, channel, error.message)], label)
            else:
                self.wrap([self._line(_room_numeric(error), channel, error.message)], label)

        self.request(Invite, done, room=room, user=nick.lower())

    def _mode(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "MODE", "Not enough parameters", label=label)
        elif params[0].startswith("#"):
            room = room_of(params[0])
            if room is None:
                self.numeric("403", params[0], "No such channel", label=label)
            elif len(params) == 1:
                view = self.directory.room(room)
                modes = "+int" if view is not None and view.private else "+nt"
                self.numeric("324", params[0], modes, label=label)
            elif params[1] in ("b", "+b"):
                self.numeric("368", params[0], "End of channel ban list", label=label)
            else:
                self._room_modes(room, params[0], params[1], params[2:], label)
        elif params[0].lower() == self.me:
            self.numeric("221", "+i", label=label)
        else:
            self.numeric("502", "Can't change mode for other users", label=label)

    def _room_modes(self, room: str, channel: str, modes: str, args: list[str], label: str) -> None:
        """``+o``/``-o NICK`` (room moderator or plain member) and ``+i``/``-i`` (private)."""
        sign = "+"
        changes: list[tuple[str, str]] = []
        for char in modes:
            if char in "+-":
                sign = char
            elif char == "o" and args:
                changes.append((sign + "o", args.pop(0)))
            elif char == "i":
                changes.append((sign + "i", ""))
            elif char == "o":
                self.numeric("461", "MODE", "Not enough parameters", label=label)
                return
            else:
                self.numeric("472", char, "is not a mode of Roost rooms", label=label)
                return
        if len(changes) != 1:
            self.numeric("461", "MODE", "one change at a time: +o/-o NICK or +i/-i", label=label)
            return
        mode, nick = changes[0]
        if mode[1] == "i":
            want = mode[0] == "+"
            self.request(SetRoom, self._room_reply(channel, label), room=room, private=want)
            return
        # The room hears it as a notice; this client sees the mode change.
        changed = line("MODE", (channel, mode, nick), mask_source(self.me, self.cfg.server))
        role = "moderator" if mode[0] == "+" else "member"
        reply = self._room_reply(channel, label, [changed])
        self.request(SetRoomRole, reply, room=room, user=nick.lower(), role=role)

    def _typing(self, ev: TypingEvent) -> bytes:
        """``+typing=active`` for clients with message-tags (and not about themselves)."""
        if ev.user == self.me or "message-tags" not in self.caps:
            return b""
        parties = dm_parties(ev.room)
        if parties is None:
            if ev.room not in self.channels:
                return b""
            target = "#" + ev.room
        else:
            target = self.me
        src = mask_source(ev.user, self.cfg.server)
        return line("TAGMSG", (target,), src, {TYPING_TAG: "active"})

    def _room_changed(self, ev: RoomChanged) -> list[bytes]:
        """TOPIC and MODE +i/-i lines for what changed, as the client was last told."""
        if ev.room not in self.channels:
            return []
        topic, private = self.settings.get(ev.room, ("", False))
        self.settings[ev.room] = (ev.topic, ev.private)
        src = mask_source(ev.by, self.cfg.server)
        out = []
        if ev.topic != topic:
            out.append(line("TOPIC", ("#" + ev.room, ev.topic), src, trailing=True))
        if ev.private != private:
            out.append(line("MODE", ("#" + ev.room, "+i" if ev.private else "-i"), src))
        return out

    def _renamed(self, ev: RoomRenamed) -> None:
        """draft/channel-rename's RENAME; for clients without it, PART then JOIN."""
        if ev.room not in self.channels:
            return
        if ev.room in self.last:
            self.last[ev.new] = self.last.pop(ev.room)
        if ev.room in self.settings:
            self.settings[ev.new] = self.settings.pop(ev.room)
        self.channels.discard(ev.room)
        why = f"renamed to #{ev.new}" + (f": {ev.reason}" if ev.reason else "")
        if "draft/channel-rename" in self.caps:
            self.channels.add(ev.new)
            args = ("#" + ev.room, "#" + ev.new, ev.reason or why)
            src = mask_source(ev.by, self.cfg.server)
            self.out.append(line("RENAME", args, src, trailing=True))
            return
        src = mask_source(self.me, self.cfg.server)
        self.out.append(line("PART", ("#" + ev.room, why), src, trailing=True))
        self._show_join(ev.new)

    def _put_out(self, room: str, by: str, reason: str) -> list[bytes]:
        """KICK of this client from a channel it shows (a room kick, a deleted room)."""
        if room not in self.channels:
            return []
        self.channels.discard(room)
        self.settings.pop(room, None)
        src = mask_source(by, self.cfg.server)
        return [line("KICK", ("#" + room, self.me, reason or by), src, trailing=True)]

    def _away(self, params: list[str], label: str) -> None:
        """The server's away state, as native clients set it (they see it, and IRC sees theirs)."""
        text = params[0].strip() if params else ""

        def done(result: Any, error: RoostError | None) -> None:
            if error is not None:
                self.wrap([self._line("400", "AWAY", error.message)], label)
            elif text:
                self.wrap([self._line("306", "You have been marked as being away")], label)
            else:
                self.wrap([self._line("305", "You are no longer marked as being away")], label)

        self.request(SetAway, done, away=bool(text), reason=text)

    def _ping(self, params: list[str], label: str) -> None:
        token = params[0] if params else self.cfg.server
        tags = {"label": label} if label else None
        self.out.append(line("PONG", (self.cfg.server, token), self.cfg.server, tags))

    def _tagmsg(self, params: list[str], label: str) -> None:
        """``+draft/react`` / ``+draft/unreact`` with ``+draft/reply``: a reaction to that
        message; ``+typing=active``: typing. Other client-only tags are taken, not relayed."""
        if params and self.tags.get(TYPING_TAG) == "active":
            to = room_of(params[0]) if params[0].startswith("#") else "@" + params[0].lower()
            if to:
                self.request(Typing, lambda r, e: None, to=to)
        emoji = self.tags.get(REACT_TAG) or self.tags.get(UNREACT_TAG)
        ref = self._ref(params[0] if params else "", self.tags.get(REPLY_TAG, ""))
        if not emoji or ref is None:
            self.ack(label)
            return
        kind = React if REACT_TAG in self.tags else Unreact
        self.request(kind, self._room_reply(params[0], label), room=ref[0], seq=ref[1], emoji=emoji)

    def _redact(self, params: list[str], label: str) -> None:
        """draft/message-redaction: REDACT target msgid [:reason] deletes that message."""
        if len(params) < 2:
            self.numeric("461", "REDACT", "Not enough parameters", label=label)
            return
        ref = self._ref(params[0], params[1])
        if ref is None:
            self.fail("REDACT", "UNKNOWN_MSGID", params[0], "no such message here", label)
            return
        reason = params[2] if len(params) > 2 else ""

        def done(result: Any, error: RoostError | None) -> None:
            if error is None:
                self.ack(label)
            else:
                code = "REDACT_FORBIDDEN" if error.code == ErrorCode.FORBIDDEN else "UNKNOWN_MSGID"
                self.fail("REDACT", code, params[0], error.message, label)

        self.request(Delete, done, room=ref[0], seq=ref[1], reason=reason)

    def _ref(self, target: str, value: str) -> tuple[str, int] | None:
        """The (conversation, seq) a msgid names, if it is one of ``target``'s."""
        ref = parse_msgid(value)
        if ref is None or not target:
            return None
        if target.startswith("#"):
            return ref if room_of(target) == ref[0] else None
        parties = dm_parties(ref[0])
        ours = parties is not None and target.lower() in parties and self.me in parties
        return ref if ours else None

    def _ison(self, params: list[str], label: str) -> None:
        names = [n for p in params for n in p.split()]
        online = []
        for n in names:
            view = self.directory.user(n.lower())
            if view is not None and view.online:
                online.append(view.name)
        self.numeric("303", " ".join(online), label=label)

    def _userhost(self, params: list[str], label: str) -> None:
        replies = []
        for n in params[:5]:
            view = self.directory.user(n.lower())
            if view is not None:
                away = "-" if self.directory.away(view.name) or not view.online else "+"
                replies.append(f"{view.name}={away}{view.name}@{self.cfg.server}")
        self.numeric("302", " ".join(replies), label=label)

    def _pong(self, params: list[str], label: str) -> None:
        """Any line is a sign of life; the listener has counted it already."""

    def _quit(self, params: list[str], label: str) -> None:
        reason = params[0] if params else "Client Quit"
        self.close("quit", f"Quit: {reason}")

    # --- messages --------------------------------------------------------------------------

    def _privmsg(self, params: list[str], label: str, notice: bool = False) -> None:
        command = "NOTICE" if notice else "PRIVMSG"
        if not params:
            if not notice:
                self.numeric("411", f"No recipient given ({command})", label=label)
            return
        if len(params) < 2 or not params[1]:
            if not notice:
                self.numeric("412", "No text to send", label=label)
            return
        text = params[1]
        for target in params[0].split(",")[: registration.MAX_TARGETS]:
            if target.lower() == SERVICE.lower():
                words = text.split()
                if words:
                    self._service(words[0].lower(), words[1:], label)
                continue
            if target.startswith("#"):
                room = room_of(target)
                if room is None:
                    if not notice:
                        self.numeric("403", target, "No such channel", label=label)
                    continue
                to = room
            else:
                to = "@" + target.lower()
            self._send(to, target, text, label, notice)

    def _notice_cmd(self, params: list[str], label: str) -> None:
        self._privmsg(params, label, notice=True)

    def _send(self, to: str, shown: str, text: str, label: str, quiet: bool) -> None:
        # CTCP ACTION (/me) reads as "/me ..." for native clients.
        if text.startswith("\x01ACTION ") and text.endswith("\x01"):
            text = "/me " + text[8:-1]
        echo = "echo-message" in self.caps

        reply = self._ref(shown, self.tags.get(REPLY_TAG, ""))

        def done(result: Any, error: RoostError | None) -> None:
            if error is not None:
                if not quiet:
                    self.wrap([self._line(_err_numeric(error, shown), shown, error.message)], label)
                elif label:
                    self.ack(label)
            elif isinstance(result, SendResult):
                if not label:
                    return
                if echo and self.last.get(result.room, 0) < result.seq:
                    self.labels[(result.room, result.seq)] = label  # its echo carries it
                else:
                    self.ack(label)

        self.request(Send, done, to=to, text=text, reply_to=reply[1] if reply else 0)

    def deliver_message(self, m: Message, playback: bool = False) -> None:
        """A message of a conversation this session takes part in (live, gap or playback)."""
        seen = self.last.get(m.room, 0)
        if m.seq <= seen and not playback:
            return  # shown already (live delivery overlapping a refetch)
        self.last[m.room] = max(seen, m.seq)
        extra: dict[str, str] = {}
        label = self.labels.pop((m.room, m.seq), "") if m.sender == self.me else ""
        if label:
            extra["label"] = label
        data = render_message(m, self.me, self.mask, self.cfg.server, extra or None)
        if data:
            if label and data.count(b"\r\n") > 1:
                data = data.split(b"\r\n", 1)[0] + b"\r\n"  # a labelled echo is one line
            self.out.append(data)

    # --- events ------------------------------------------------------------------------------

    def event(self, ev: Any) -> None:
        """An event from the server that depends on this session (the rest: render_shared)."""
        if not self.registered and isinstance(ev, Message | Joined | Left | Presence):
            return  # before the welcome; playback covers the messages
        if isinstance(ev, Presence) and ev.user == self.me:
            return
        if isinstance(ev, Message):
            self.deliver_message(ev)
        elif isinstance(ev, Joined):
            if ev.user == self.me:
                if self.registered:
                    self._show_join(ev.room)
            else:
                self.out.append(render_shared(ev, self.mask, self.cfg.server, self.cfg.server))
        elif isinstance(ev, Left):
            if ev.user == self.me and ev.by:
                self.out.extend(self._put_out(ev.room, ev.by, ev.reason))
            elif ev.user == self.me:
                self.out.extend(self._parted(ev.room))
            else:
                self.out.append(render_shared(ev, self.mask, self.cfg.server, self.cfg.server))
        elif isinstance(ev, Notice):
            if ev.room:
                self.out.append(line("NOTICE", ("#" + ev.room, ev.text), self.cfg.server))
            else:
                self.notice(ev.text)
        elif isinstance(ev, Gap):
            self._refetch(ev.room, ev.after, ev.upto)
        elif isinstance(ev, TypingEvent):
            self.out.append(self._typing(ev))
        elif isinstance(ev, RoomChanged):
            self.out.extend(self._room_changed(ev))
        elif isinstance(ev, Invited):
            src = mask_source(ev.by, self.cfg.server)
            self.out.append(line("INVITE", (self.me, "#" + ev.room), src))
        elif isinstance(ev, RoomDeleted):
            why = f"room deleted: {ev.reason}" if ev.reason else "room deleted"
            self.out.extend(self._put_out(ev.room, ev.by, why))
        elif isinstance(ev, RoomRenamed):
            self._renamed(ev)
        elif isinstance(ev, KeepAlive):
            self.out.append(line("PING", (self.cfg.server,)))
        elif isinstance(ev, Bye):
            if ev.code in KILLS and self.registered:
                self.out.append(line("KILL", (self.me, ev.reason), self.cfg.server))
            self.out.append(self.error_line(ev.reason))
        elif isinstance(ev, Moderation):
            self.notice(f"[moderation] {ev.entry.text or ev.entry.action + ' ' + ev.entry.target}")
        elif isinstance(ev, Admitted):
            self.pending = False
            self.login = ev.session
            self.account = ev.session.user
            registration.try_register(self)
        elif isinstance(ev, ServerHello):
            return
        else:
            self.out.append(render_shared(ev, self.mask, self.cfg.server, self.cfg.server))

    def _refetch(self, key: str, after: int, upto: int) -> None:
        """Live delivery skipped messages after..upto (a slow reader): fetch and show
        them, a page at a time (each page waits for the outbox to have room)."""

        def show(result: Any, error: RoostError | None) -> None:
            if error is not None or not isinstance(result, HistoryResult):
                return
            last = self.last.get(key, 0)
            self.last[key] = after
            for m in result.messages:
                self.deliver_message(m)
            self.last[key] = max(self.last.get(key, 0), last)
            if result.messages and result.messages[-1].seq < upto:
                self._refetch(key, result.messages[-1].seq, upto)

        self.request(
            History, show, room=key, after=after, before=upto + 1, limit=self.cfg.history_page
        )

    # --- moderation ---------------------------------------------------------------------------

    def _kick(self, params: list[str], label: str) -> None:
        """KICK #room nick: a room kick, as IRC users mean it (KILL ends every session)."""
        if len(params) < 2:
            self.numeric("461", "KICK", "Not enough parameters", label=label)
            return
        room = room_of(params[0])
        if room is None:
            self.numeric("403", params[0], "No such channel", label=label)
            return
        reason = params[2] if len(params) > 2 else ""
        nick = params[1].split(",")[0].lower()
        # The KICK line comes to everyone in the room with the left event.
        self.request(
            RoomKick, self._room_reply(params[0], label), room=room, user=nick, reason=reason
        )

    def _kill(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "KILL", "Not enough parameters", label=label)
            return
        self._service("kick", [params[0], *(params[1].split() if len(params) > 1 else [])], label)

    def _service(self, verb: str, words: list[str], label: str) -> None:
        """A Roost admin command, from /msg RoostServ or as a raw line (/QUOTE)."""
        try:
            call = service.parse(verb, words)
        except RoostError as exc:
            self.wrap([self._service_line(exc.message)], label)
            return
        if call is None:
            self.wrap([self._service_line(service.HELP)], label)
            return
        msg_type, fields = call

        def done(result: Any, error: RoostError | None) -> None:
            text = error.message if error is not None else service.describe(verb, result, self.me)
            self.wrap([self._service_line(t) for t in text.split("\n")], label)

        self.request(msg_type, done, **fields)

    def _service_line(self, text: str) -> bytes:
        return line("NOTICE", (self.me, text or " "), mask_source(SERVICE, self.cfg.server))


def _with_tags(data: bytes, tags: dict[str, str]) -> bytes:
    """A rendered line with more tags in front."""
    extra = tags_prefix(tags).encode()
    if data.startswith(b"@"):
        return b"@" + extra[1:-1] + b";" + data[1:]
    return extra + data


def _is_op(m: MemberInfo) -> bool:
    """Shown as a channel operator: server staff, and the room's owners and moderators."""
    return m.role in ("admin", "moderator") or m.room_role in ("owner", "moderator")


def _room_numeric(error: RoostError) -> str:
    """The numeric for a refused room request (TOPIC, KICK, MODE, INVITE)."""
    if error.code == ErrorCode.FORBIDDEN:
        return "482"  # ERR_CHANOPRIVSNEEDED
    if error.code == ErrorCode.NOT_A_MEMBER:
        return "441" if "is not in" in error.message else "442"
    return _err_numeric(error)


def _err_numeric(error: RoostError, target: str = "#") -> str:
    """The numeric an IRC client expects for a Roost error code."""
    code = error.code
    if code == ErrorCode.NO_SUCH_ROOM:
        return "403"
    if code == ErrorCode.NO_SUCH_USER:
        return "401"
    if code == ErrorCode.NOT_A_MEMBER:
        return "404" if target.startswith("#") else "442"
    if code in (ErrorCode.MUTED, ErrorCode.RATE_LIMITED, ErrorCode.BAD_REQUEST):
        return "404"
    if code == ErrorCode.FORBIDDEN:
        return "481"
    if code == ErrorCode.INVALID_NAME:
        return "479"
    return "400"


Runner = Callable[[IrcSession, list[str], str], None]
_COMMANDS: dict[str, tuple[bool, Runner]] = {
    # command: (allowed before registration, handler)
    "CAP": (True, registration.cap),
    "PASS": (True, registration.pass_),
    "NICK": (True, registration.nick),
    "USER": (True, registration.user),
    "AUTHENTICATE": (True, registration.authenticate),
    "REGISTER": (True, registration.register),
    "PING": (True, IrcSession._ping),
    "PONG": (True, IrcSession._pong),
    "QUIT": (True, IrcSession._quit),
    "JOIN": (False, IrcSession._join),
    "PART": (False, IrcSession._part),
    "PRIVMSG": (False, IrcSession._privmsg),
    "NOTICE": (False, IrcSession._notice_cmd),
    "NAMES": (False, IrcSession._names_cmd),
    "WHO": (False, IrcSession._who),
    "WHOIS": (False, IrcSession._whois),
    "LIST": (False, IrcSession._list),
    "TOPIC": (False, IrcSession._topic),
    "MODE": (False, IrcSession._mode),
    "AWAY": (False, IrcSession._away),
    "CHATHISTORY": (False, history.chathistory),
    "KICK": (False, IrcSession._kick),
    "INVITE": (False, IrcSession._invite),
    "KILL": (False, IrcSession._kill),
    "TAGMSG": (False, IrcSession._tagmsg),
    "REDACT": (False, IrcSession._redact),
    "ISON": (False, IrcSession._ison),
    "USERHOST": (False, IrcSession._userhost),
}
