"""How messages, member entries and conversation entries look (rich Text, no widgets)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import datetime

from rich.table import Table
from rich.text import Text

from roost.client.edits import Shown
from roost.protocol.display import visible
from roost.protocol.mentions import mentions_me
from roost.protocol.messages import HIGH, LOW, URGENT, MemberInfo, Message
from roost.protocol.sizes import human_size
from roost.tui.model import Conversation

TimeFormat = Callable[[float], str]

# Sender colours: readable on dark and light themes, picked by a stable hash of the name.
SENDER_COLOURS = (
    "dark_cyan",
    "green3",
    "orange3",
    "medium_purple",
    "deep_sky_blue1",
    "gold3",
    "hot_pink3",
    "spring_green3",
)
PRIORITY_MARKS = {URGENT: ("!! ", "bold white on red"), HIGH: ("! ", "bold yellow")}


def local_time(ts: float) -> str:
    """``14:05`` for today, ``03-01 14:05`` for an older day (local time)."""
    when = datetime.fromtimestamp(ts)
    if when.date() == datetime.fromtimestamp(time.time()).date():
        return when.strftime("%H:%M")
    return when.strftime("%m-%d %H:%M")


def sender_colour(name: str) -> str:
    digest = hashlib.blake2s(name.encode(), digest_size=2).digest()
    return SENDER_COLOURS[int.from_bytes(digest, "big") % len(SENDER_COLOURS)]


def message_text(
    m: Message, me: str, fmt: TimeFormat = local_time, shown: Shown | None = None, quote: str = ""
) -> Table:
    """``14:05 alice  hello``, with the priority mark and the urgent text in red.

    ``shown``: the message with its edits, removal and reactions folded in
    (roost.client.edits); ``quote``: a short quote of what a reply answers.
    A grid, so that wrapped and multi-line text stays right of the sender.
    """
    head = Text(no_wrap=True)
    head.append(fmt(m.ts), style="dim")
    head.append(" ")
    mark = PRIORITY_MARKS.get(m.priority)
    if mark is not None:
        head.append(mark[0], style=mark[1])
    name_style = f"bold {sender_colour(m.sender)}"
    if m.sender == me:
        name_style += " underline"
    head.append(visible(m.sender), style=name_style)
    # Whatever a peer sent is shown, never obeyed (roost.protocol.display).
    raw = shown.text if shown is not None else m.text
    text = visible(raw, newlines=True)
    body = Text(text, style={URGENT: "bold red", LOW: "dim"}.get(m.priority, ""))
    if m.sender != me and mentions_me(raw, me):
        highlight_mentions(body, me)
    if shown is not None and shown.edited:
        body.append(" (edited)", style="dim")
    if m.file is not None:
        f = m.file
        body = Text(f"[file] {visible(f.name)}", style="bold")
        body.append(
            f" ({human_size(f.size)}, {visible(f.media_type)}) /get {visible(f.id)}", style="dim"
        )
        if m.text != f.name:
            body.append(f"  {text}")
    if shown is not None and shown.removed:
        body = Text(visible(shown.label()), style="dim italic")
    if quote:
        body = Text.assemble((visible(quote) + "\n", "dim italic"), body)
    if shown is not None and shown.reactions and not shown.removed:
        body.append("\n" + visible(shown.reactions_text()), style="bold")
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    grid.add_row(head, body)
    return grid


def highlight_mentions(body: Text, me: str) -> None:
    """Mark ``@me`` and ``me`` (as a word) in a message body: a mention of the user."""
    pattern = rf"(?<![\w.-])@?{re.escape(me)}(?![\w-])"
    body.highlight_regex(re.compile(pattern, re.IGNORECASE), style="bold black on yellow")


def info_text(text: str, level: str = "info") -> Text:
    style = {"error": "bold red", "warning": "yellow"}.get(level, "dim italic")
    return Text("* " + visible(text, newlines=True), style=style)


def conversation_label(conv: Conversation, width: int) -> Text:
    """``#general        3``: the title, and the unread count at the right edge."""
    count = "" if not conv.unread else (str(conv.unread) if conv.unread < 1000 else "999+")
    if conv.mentions:
        count = f"@{conv.mentions if conv.mentions < 100 else '99+'} {count}"
    room = width - len(count) - (1 if count else 0)
    title = conv.title if len(conv.title) <= room else conv.title[: max(1, room - 1)] + "…"
    out = Text(title, style="bold" if conv.unread else "")
    if count:
        out.append(" " * (width - len(title) - len(count)))
        urgent = conv.urgent or conv.mentions
        out.append(count, style="bold white on red" if urgent else "bold black on yellow")
    return out


def member_label(info: MemberInfo, me: str) -> Text:
    """``● alice admin``: presence dot, name, role unless plain member."""
    out = Text("● " if info.online else "○ ", style="green" if info.online else "grey50")
    user_style = "bold" if info.user == me else ("" if info.online else "grey50")
    out.append(visible(info.user), style=user_style)
    if info.role != "member":
        out.append(f" {visible(info.role)}", style="magenta")
    if info.online and info.away:
        out.append(" away", style="yellow")
    return out
