"""The scriptable commands, run as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import roost_env, run_cli
from helpers import unique


def test_send_listen_history_json(server) -> None:
    alice, bob = unique("alice"), unique("bob")
    s = server.address
    out = run_cli(
        "send", "general", "hi from cli", "--user", alice, "--register", "--server", s, "--json"
    )
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["room"] == "general" and first["seq"] >= 1

    listen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roost",
            "listen",
            "general",
            "--count",
            "3",
            "--timeout",
            "20",
            "--after",
            str(first["seq"] - 1),
            "--json",
            "--user",
            bob,
            "--register",
            "--server",
            s,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=roost_env(),
    )
    time.sleep(1.0)
    for text in ("second", "third"):
        res = run_cli("send", "general", text, "--user", alice, "--server", s)
        assert res.returncode == 0 and res.stdout.strip().isdigit(), res.stderr
    stdout, stderr = listen.communicate(timeout=30)
    assert listen.returncode == 0, stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    assert [e["text"] for e in events] == ["hi from cli", "second", "third"]
    for e in events:
        assert {"type", "room", "seq", "sender", "text", "ts", "priority"} <= set(e)
        assert e["type"] == "message" and e["room"] == "general" and e["priority"] == 2
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)

    hist = run_cli("history", "general", "--json", "--user", alice, "--server", s)
    assert hist.returncode == 0, hist.stderr
    texts = [json.loads(line)["text"] for line in hist.stdout.splitlines()]
    assert texts[-3:] == ["hi from cli", "second", "third"]
    last = run_cli("history", "general", "--json", "--limit", "1", "--user", alice, "--server", s)
    assert [json.loads(x)["text"] for x in last.stdout.splitlines()] == ["third"]


def test_direct_message_from_cli(server) -> None:
    a, b = unique(), unique()
    s = server.address
    assert (
        run_cli("send", "general", "hello", "--user", b, "--register", "--server", s).returncode
        == 0
    )
    res = run_cli("send", "@" + b, "private", "--user", a, "--register", "--server", s, "--json")
    assert res.returncode == 0, res.stderr
    hist = run_cli("history", "@" + a, "--json", "--user", b, "--server", s)
    msgs = [json.loads(x) for x in hist.stdout.splitlines()]
    assert [(m["sender"], m["text"]) for m in msgs] == [(a, "private")]


def test_failures_print_one_line_and_exit_nonzero(server) -> None:
    s = server.address
    name = unique()
    assert (
        run_cli("send", "general", "x", "--user", name, "--register", "--server", s).returncode == 0
    )
    wrong = run_cli("send", "general", "x", "--user", name, "--server", s, ROOST_PASSWORD="nope")
    assert wrong.returncode != 0
    assert wrong.stderr.strip().count("\n") == 0 and "wrong password" in wrong.stderr
    unknown = run_cli("send", "no-room", "x", "--user", name, "--server", s)
    assert unknown.returncode != 0 and "no room" in unknown.stderr
    down = run_cli("send", "general", "x", "--user", name, "--server", "127.0.0.1:1")
    assert down.returncode == 1 and "cannot reach the server at 127.0.0.1:1:" in down.stderr
    nouser = run_cli("send", "general", "x", "--server", s, ROOST_USER="")
    assert nouser.returncode != 0 and "--user" in nouser.stderr
    badprio = run_cli("send", "general", "x", "--user", name, "--server", s, "--priority", "huge")
    assert badprio.returncode != 0 and "urgent" in badprio.stderr


def test_user_add_offline_and_closed_registration(server_factory, tmp_path) -> None:
    data = tmp_path / "closed"
    res = run_cli(
        "user", "add", "root", "--admin", "--data-dir", str(data), "--create",
        ROOST_PASSWORD="s3cret",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    dup = run_cli("user", "add", "root", "--data-dir", str(data), ROOST_PASSWORD="s3cret")
    assert dup.returncode != 0 and "exists" in dup.stderr
    srv = server_factory("closed", registration="closed")
    ok = run_cli(
        "send",
        "general",
        "admin here",
        "--user",
        "root",
        "--server",
        srv.address,
        ROOST_PASSWORD="s3cret",
    )
    assert ok.returncode == 0, ok.stderr
    refused = run_cli(
        "send", "general", "x", "--user", unique(), "--register", "--server", srv.address
    )
    assert refused.returncode != 0 and "registration is closed" in refused.stderr


def test_usage_errors_are_one_line_pointing_to_help() -> None:
    cases = {
        ("send",): ("Missing argument 'TARGET'", "roost send --help"),
        ("sned", "general", "x"): ("No such command 'sned'. Did you mean 'send'?", "roost --help"),
        ("send", "general", "x", "--bogus"): ("No such option '--bogus'", "roost send --help"),
        ("send", "general", "x", "--priority", "huge", "--user", "u"): (
            "'huge': use urgent, high, normal, low or 0-3",
            "roost send --help",
        ),
        ("user", "add"): ("Missing argument 'NAME'", "roost user add --help"),
        ("admin", "mute", "x", "--for", "soon", "--user", "u"): (
            "not a duration",
            "roost admin mute --help",
        ),
    }
    for args, (text, pointer) in cases.items():
        res = run_cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        [line] = res.stderr.splitlines()
        assert line.startswith("roost: error: ") and text in line, line
        assert line.endswith(f"(see `{pointer}`)"), line
    # A group without its command still shows its help (and exits 2).
    bare = run_cli("user")
    assert bare.returncode == 2 and "Commands:" in bare.stdout + bare.stderr


def test_bad_config_is_reported(tmp_path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_option = 1\n")
    res = run_cli(
        "serve",
        "--config",
        str(cfg),
        "--port",
        "0",
        "--web-port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert res.returncode == 2 and "no_such_option" in res.stderr


def test_line_chat_reads_commands_from_a_pipe(server) -> None:
    name, other = unique(), unique()
    s = server.address
    assert (
        run_cli(
            "send", "general", "earlier", "--user", other, "--register", "--server", s
        ).returncode
        == 0
    )
    script = (
        "\n".join(
            [
                "hello from the line client",
                "/join pipe-room",
                "in the pipe room",
                "/who",
                "/rooms",
                f"/msg {other} a private word",
                "/nonsense",
                "/urgent wake up",
                "/quit",
            ]
        )
        + "\n"
    )
    res = run_cli("chat", "--plain", "--user", name, "--register", "--server", s, input=script)
    assert res.returncode == 0, res.stderr
    assert "unknown command /nonsense" in res.stdout
    assert f"#pipe-room: {name}" in res.stdout
    assert "#general" in res.stdout
    hist = run_cli("history", "pipe-room", "--json", "--user", name, "--server", s)
    assert [json.loads(x)["text"] for x in hist.stdout.splitlines()] == [
        "in the pipe room",
        "wake up",
    ]
    assert json.loads(hist.stdout.splitlines()[-1])["priority"] == 2
    assert "! sent as normal, not urgent: your account's level is normal" in res.stdout
    dm = run_cli("history", "@" + name, "--json", "--user", other, "--server", s)
    assert [json.loads(x)["text"] for x in dm.stdout.splitlines()] == ["a private word"]
    gen = run_cli("history", "general", "--json", "--user", name, "--server", s)
    assert "hello from the line client" in [json.loads(x)["text"] for x in gen.stdout.splitlines()]


def test_line_chat_uses_what_the_full_screen_client_remembers_and_shows_missed(
    server, tmp_path
) -> None:
    from roost.tui.config import ClientConfig

    alice, bob = unique("alice"), unique("bob")
    s = server.address
    for name in (alice, bob):
        made = run_cli("send", "general", "hi", "--user", name, "--register", "--server", s)
        assert made.returncode == 0, made.stderr
    cfg = tmp_path / "cfg"
    ClientConfig(server=s, user=alice, path=cfg / "client.toml").save()
    env = {"ROOST_CONFIG_DIR": str(cfg), "ROOST_USER": ""}

    def line_chat(script: str) -> list[str]:
        res = run_cli("chat", "--plain", input=script, **env)  # no --server, no --user
        assert res.returncode == 0, res.stderr
        return res.stdout.splitlines()

    first = line_chat("/nonsense\n/quit\n")
    assert f"* logged in as {alice}; in #general. /help for commands" in first
    assert "! unknown command /nonsense; /help lists the commands" in first
    assert not [line for line in first if "/block" in line]  # not the whole list
    assert "* the last messages in #general:" in first

    for i in range(1, 13):
        assert run_cli("send", "general", f"m{i}", "--user", bob, "--server", s).returncode == 0
    assert run_cli("send", "@" + alice, "psst", "--user", bob, "--server", s).returncode == 0
    second = line_chat("/quit\n")
    at = second.index("* missed in #general (2 older: /history N):")
    messages = [line for line in second[at + 1 :] if " #general <" in line]
    shown = [line.split(">", 1)[1].strip() for line in messages[:10]]
    assert shown == [f"m{i}" for i in range(3, 13)]
    assert f"* unread: @{bob} 1 (/room NAME, then /history)" in second
    # What was shown counts as read (markers shared with the full-screen client);
    # the direct message, never shown, is still unread, until it is.
    third = line_chat(f"/room @{bob}\n/history\n/quit\n")
    assert not [line for line in third if "missed" in line], third
    assert f"* unread: @{bob} 1 (/room NAME, then /history)" in third
    assert [line for line in third if line.endswith(f"@{bob} <{bob}> psst")]
    fourth = line_chat("/quit\n")
    assert not [line for line in fourth if "missed" in line or "unread" in line], fourth


def test_user_added_while_the_server_runs_is_in_general(server) -> None:
    res = run_cli(
        "user", "add", "latecomer", "--data-dir", str(server.data_dir), ROOST_PASSWORD="pw1"
    )
    assert res.returncode == 0, res.stderr
    sent = run_cli(
        "send",
        "general",
        "made it",
        "--user",
        "latecomer",
        "--server",
        server.address,
        ROOST_PASSWORD="pw1",
    )
    assert sent.returncode == 0, sent.stderr
