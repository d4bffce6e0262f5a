"""IRCv3 chathistory over Roost's history: msgid references are seqs (``room/seq``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roost.protocol.errors import RoostError
from roost.protocol.messages import History, HistoryResult, Message
from roost.protocol.names import check_user, dm_key, dm_parties
from roost.server.gateways.irc.lines import line
from roost.server.gateways.irc.render import (
    ECHO,
    irc_time,
    parse_msgid,
    parse_time,
    render_message,
    room_of,
)

if TYPE_CHECKING:
    from roost.server.gateways.irc.session import IrcSession


def chathistory(s: IrcSession, params: list[str], label: str) -> None:
    if len(params) < 3:
        s.fail("CHATHISTORY", "NEED_MORE_PARAMS", "", "Not enough parameters", label)
        return
    sub = params[0].upper()
    if sub == "TARGETS":
        targets(s, params, label)
        return
    target = params[1]
    key = conversation(s, target)
    if key is None:
        s.fail("CHATHISTORY", "INVALID_TARGET", f"{sub} {target}", "No such conversation", label)
        return
    try:
        limit = max(1, min(int(params[-1]), s.cfg.history_page))
    except ValueError:
        s.fail("CHATHISTORY", "INVALID_PARAMS", sub, "The limit must be a number", label)
        return
    last = s.directory.last_seq(key)
    refs = params[2:-1]
    try:
        seqs = [ref_seq(s, key, r, last) for r in refs]
    except ValueError as exc:
        s.fail("CHATHISTORY", "INVALID_MSGREFTYPE", sub, str(exc), label)
        return
    if sub == "LATEST":
        after = max(0, last - limit) if seqs[0] is None else seqs[0]
        after, before, newest = (max(after, last - limit), 0, True)
    elif sub == "BEFORE" and seqs and seqs[0] is not None:
        before = seqs[0]
        after, newest = max(0, before - 1 - limit), True
    elif sub == "AFTER" and seqs and seqs[0] is not None:
        after, before, newest = seqs[0], 0, False
    elif sub == "AROUND" and seqs and seqs[0] is not None:
        after, before, newest = max(0, seqs[0] - 1 - limit // 2), 0, False
    elif sub == "BETWEEN" and len(seqs) == 2 and None not in seqs:
        lo, hi = sorted(s for s in seqs if s is not None)
        after, before, newest = lo, hi, False
    else:
        s.fail("CHATHISTORY", "INVALID_PARAMS", sub, "Unknown subcommand or reference", label)
        return

    def done(result: Any, error: RoostError | None) -> None:
        if error is not None:
            s.fail("CHATHISTORY", "MESSAGE_ERROR", f"{sub} {target}", error.message, label)
            return
        messages = result.messages if isinstance(result, HistoryResult) else []
        if newest:
            messages = messages[-limit:]
        history_batch(s, target, messages, label)

    s.request(
        History,
        done,
        room=key,
        after=after,
        before=before,
        limit=limit if not newest else s.cfg.history_page,
    )


def ref_seq(s: IrcSession, key: str, ref: str, last: int) -> int | None:
    """A message reference as a seq: ``msgid=room/seq``, ``timestamp=...`` or ``*``."""
    if ref == "*":
        return None
    kind, _, value = ref.partition("=")
    if kind == "msgid":
        parsed = parse_msgid(value)
        if parsed is None or parsed[0] != key:
            raise ValueError(f"{value} is not a message of this conversation")
        return parsed[1]
    if kind == "timestamp":
        raise ValueError("use msgid references (timestamps are not indexed)")
    raise ValueError(f"unknown reference {ref!r}")


def history_batch(s: IrcSession, target: str, messages: list[Message], label: str) -> None:
    batch = "batch" in s.caps
    ref = f"H{next(s._batches)}"
    start = len(s.out)
    if batch:
        tags = {"label": label} if label else None
        s.out.append(line("BATCH", ("+" + ref, "chathistory", target), s.cfg.server, tags))
    for m in messages:
        # History shows one's own messages too, echo-message or not.
        data = render_message(
            m, s.me, s.mask | ECHO, s.cfg.server, {"batch": ref} if batch else None
        )
        s.out.append(data)
    if batch:
        s.out.append(line("BATCH", ("-" + ref,), s.cfg.server))
    elif label:
        s._label_lines(start, label)


def targets(s: IrcSession, params: list[str], label: str) -> None:
    """CHATHISTORY TARGETS from to limit: conversations with a message in between, by time."""
    try:
        bounds = [parse_time(p.removeprefix("timestamp=")) for p in params[1:3]]
        limit = max(1, min(int(params[3]) if len(params) > 3 else 50, s.cfg.history_page))
    except ValueError:
        s.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", "Use timestamp=... references", label)
        return
    lo, hi = sorted(bounds)
    known = set(s.channels) | set(s.last)
    if s.login is not None:
        known |= set(s.login.conversations)
    keys = [k for k in sorted(known) if s.directory.last_seq(k) > 0]
    latest: dict[str, float] = {}
    left = [len(keys)]

    def emit() -> None:
        shown = sorted((ts, key) for key, ts in latest.items() if lo <= ts <= hi)[:limit]
        ref = f"T{next(s._batches)}"
        batch = "batch" in s.caps
        lines = []
        for ts, key in shown:
            parties = dm_parties(key)
            name = (parties[1] if parties[0] == s.me else parties[0]) if parties else "#" + key
            tags = {"batch": ref} if batch else None
            lines.append(line("CHATHISTORY", ("TARGETS", name, irc_time(ts)), s.cfg.server, tags))
        if batch:
            tags = {"label": label} if label else None
            head = line("BATCH", ("+" + ref, "draft/chathistory-targets"), s.cfg.server, tags)
            s.out.extend([head, *lines, line("BATCH", ("-" + ref,), s.cfg.server)])
        else:
            s.wrap(lines, label)

    if not keys:
        emit()
    for key in keys:

        def done(result: Any, error: RoostError | None, key: str = key) -> None:
            if error is None and isinstance(result, HistoryResult) and result.messages:
                latest[key] = result.messages[-1].ts
            left[0] -= 1
            if not left[0]:
                emit()

        last = s.directory.last_seq(key)
        s.request(History, done, room=key, after=max(0, last - 1), limit=1)


def conversation(s: IrcSession, target: str) -> str | None:
    if target.startswith("#"):
        return room_of(target)
    try:
        return dm_key(s.me, check_user(target))
    except RoostError:
        return None
