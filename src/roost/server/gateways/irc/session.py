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
    Gap,
    History,
    HistoryResult,
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
    RoomInfo,
    Send,
    SendResult,
    ServerHello,
    Who,
    Wire,
)
from roost.server.gateways.irc import history, registration, service
from roost.server.gateways.irc.lines import BadLine, line, tags_prefix
from roost.server.gateways.irc.render import (
    SERVICE,
    mask_source,
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


class Directory(Protocol):
    """Read-only lookups of the server's state (accounts, rooms, presence)."""

    def user(self, name: str) -> UserView | None: ...
    def last_seq(self, key: str) -> int: ...
    def away(self, name: str) -> str: ...
    def set_away(self, name: str, text: str) -> None: ...
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
        self.numeric("331", "#" + room, "No topic is set")
        if label:
            self._label_lines(start, label)
        self.request(Who, lambda r, e: self._names(room, r, e, ""), room=room)
        if not registration.has_history(self):
            self._playback(room, self.directory.last_seq(room))

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
            names = [("@" if m.role in ("admin", "moderator") else "") + m.user for m in members]
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
                        lines.append(self._who_line("#" + room, m.user, m.online, m.role))
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

    def _topic(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "TOPIC", "Not enough parameters", label=label)
        elif len(params) == 1:
            self.numeric("331", params[0], "No topic is set", label=label)
        else:
            self.numeric("482", params[0], "Roost rooms keep no topic", label=label)

    def _mode(self, params: list[str], label: str) -> None:
        if not params:
            self.numeric("461", "MODE", "Not enough parameters", label=label)
        elif params[0].startswith("#"):
            if len(params) == 1:
                self.numeric("324", params[0], "+nt", label=label)
            elif params[1] in ("b", "+b"):
                self.numeric("368", params[0], "End of channel ban list", label=label)
            else:
                self.numeric(
                    "482", params[0], "Modes of Roost rooms cannot be changed", label=label
                )
        elif params[0].lower() == self.me:
            self.numeric("221", "+i", label=label)
        else:
            self.numeric("502", "Can't change mode for other users", label=label)

    def _away(self, params: list[str], label: str) -> None:
        text = params[0] if params else ""
        self.directory.set_away(self.me, text)
        if text:
            self.numeric("306", "You have been marked as being away", label=label)
        else:
            self.numeric("305", "You are no longer marked as being away", label=label)

    def _ping(self, params: list[str], label: str) -> None:
        token = params[0] if params else self.cfg.server
        tags = {"label": label} if label else None
        self.out.append(line("PONG", (self.cfg.server, token), self.cfg.server, tags))

    def _tagmsg(self, params: list[str], label: str) -> None:
        """Client-only tags (``+typing``) have no Roost counterpart: taken, not relayed."""
        self.ack(label)

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

        self.request(Send, done, to=to, text=text)

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
            if ev.user == self.me:
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
        if len(params) < 2:
            self.numeric("461", "KICK", "Not enough parameters", label=label)
            return
        reason = params[2] if len(params) > 2 else ""
        self._service("kick", [params[1], *reason.split()], label)

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
    "KILL": (False, IrcSession._kill),
    "TAGMSG": (False, IrcSession._tagmsg),
    "ISON": (False, IrcSession._ison),
    "USERHOST": (False, IrcSession._userhost),
}
