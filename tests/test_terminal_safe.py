"""Text from the network reaches a terminal with its control characters shown, never obeyed.

An OSC sequence (``ESC ] 0;... BEL`` retitles the window) sent as a message
must come out of `roost history`, `roost listen`, the line chat and the
full-screen client as visible ``^[]0;...^G``; `--json` keeps the exact text.
"""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conftest import run_cli
from helpers import logged_in, unique
from modhelpers import add_account
from roost.protocol.display import visible
from roost.protocol.messages import Message
from roost.tui.render import message_text
from test_session_end import Command, wait_listening
from test_tui_cli import Terminal

OSC = "\x1b]0;pwned\x07"
EVIL = f"look {OSC}here \x1b[2J\x1b[H\u202etxt.exe\rfake\x9b31m"
SHOWN = "look ^[]0;pwned^Ghere ^[[2J^[[H<U+202E>txt.exe^Mfake<U+009B>31m"
# Bytes a terminal would act on: ESC, BEL, CR, C1 CSI (as UTF-8), the bidi override.
RAW = [b"\x1b]0;pwned", b"\x07", b"\x1b[2J", b"\r", "\x9b".encode(), "\u202e".encode()]


def test_visible_shows_controls() -> None:
    assert visible(EVIL) == SHOWN
    assert visible("two\nlines\tand a tab") == "two^Jlines^Iand a tab"
    assert visible("two\nlines\tand a tab", newlines=True) == "two\nlines\tand a tab"
    assert visible("héllo 👋 日本") == "héllo 👋 日本"  # printable text untouched


@given(st.text())
def test_visible_leaves_no_control_character(text: str) -> None:
    for newlines in (False, True):
        out = visible(text, newlines)
        allowed = "\n\t" if newlines else ""
        for ch in out:
            assert ch in allowed or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F), repr(out)
            assert ch not in "\u202e\u2066\u2028\u2029"


async def test_history_and_listen_show_an_osc_sequence_json_keeps_it(server: Any) -> None:
    name = unique("sender")
    async with logged_in(server, name) as client:
        await client.send("general", EVIL)
    res = run_cli("history", "general", "--user", name, "--server", server.address)
    assert res.returncode == 0, res.stderr
    assert SHOWN in res.stdout
    for raw in RAW:
        assert raw.decode() not in res.stdout
    res = run_cli("history", "general", "--json", "--user", name, "--server", server.address)
    [msg] = [json.loads(line) for line in res.stdout.splitlines()]
    assert msg["text"] == EVIL  # exact


def test_listen_shows_the_text_and_a_reason_visibly(server: Any) -> None:
    add_account(server, "boss", "admin")
    m = unique("listener")
    run_cli("send", "general", "hi", "--user", m, "--register", "--server", server.address)
    cmd = Command("listen", "general", "--user", m, "--server", server.address)
    poster = unique("poster")
    wait_listening(server, cmd, poster)
    res = run_cli("send", "general", EVIL, "--user", poster, "--server", server.address)
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 10
    while SHOWN.encode() not in cmd.out and time.monotonic() < deadline:
        cmd.read(0.1)
    # A moderator's reason reaches the terminal the same way (OSC 52 writes the clipboard).
    res = run_cli(
        "admin", "kick", m, "--reason", "bye \x1b]52;c;cm0gLXJm\x07", "--user", "boss",
        "--server", server.address,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    status, out, err = cmd.wait()
    assert status == 4, err
    assert SHOWN in out
    assert "bye ^[]52;c;cm0gLXJm^G" in err
    for raw in RAW:
        assert raw.decode() not in out
    assert "\x1b" not in err and "\x07" not in err


def test_line_chat_shows_an_osc_sequence(server: Any) -> None:
    m = unique("chatter")
    cmd = Command("chat", "--plain", "--user", m, "--register", "--server", server.address)
    poster = unique("poster")
    wait_listening(server, cmd, poster)
    res = run_cli("send", "general", EVIL, "--user", poster, "--server", server.address)
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 10
    while SHOWN.encode() not in cmd.out and time.monotonic() < deadline:
        cmd.read(0.1)
    assert cmd.proc.stdin is not None
    cmd.proc.stdin.write(b"/quit\n")
    cmd.proc.stdin.flush()
    status, out, err = cmd.wait()
    assert status == 0, err
    assert SHOWN in out
    for raw in RAW:
        assert raw.decode() not in out


def test_full_screen_client_shows_an_osc_sequence(server: Any, tmp_path) -> None:
    m = unique("viewer")
    term = Terminal(
        "--server", server.address, "--user", m, "--register", ROOST_CONFIG_DIR=str(tmp_path)
    )
    try:
        term.wait_for("#general")
        term.wait_for("connected")
        poster = unique("poster")
        res = run_cli(
            "send", "general", f"title {OSC} done", "--user", poster, "--register",
            "--server", server.address,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        term.wait_for("title ^[]0;pwned^G done")
        assert b"\x1b]0;pwned" not in term.seen
        term.send(b"\x11")  # ctrl+q
    finally:
        assert term.close() == 0, term.text()[-2000:]


def test_message_rendering_keeps_lines_but_shows_escapes() -> None:
    m = Message(room="general", seq=1, sender="eve", text=f"one\n{OSC}two", ts=time.time())
    from io import StringIO

    from rich.console import Console

    console = Console(file=StringIO(), width=80, color_system=None)
    console.print(message_text(m, "me"))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "^[]0;pwned^Gtwo" in out and "one" in out
    assert "\x1b" not in out and "\x07" not in out


def test_cli_lines_indent_the_continuation_of_a_message() -> None:
    # A line feed is kept, but cannot start what looks like a message of its own.
    from roost.cli.client_cmds import format_message

    m = Message(room="general", seq=1, sender="eve", text=f"a\n12:00 #general <boss> {OSC}", ts=0.0)
    line = format_message(m, "me")
    assert line.endswith("<eve> a\n    12:00 #general <boss> ^[]0;pwned^G")
