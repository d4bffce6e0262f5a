"""`roost admin ...` and the line chat's moderation commands, run as a user would."""

from __future__ import annotations

import asyncio
import json
import sys
import time

from conftest import roost_env, run_cli
from helpers import client_for, unique
from modhelpers import add_account, staff


def admin_cli(srv, *args: str, user: str = "boss"):
    return run_cli("admin", *args, "--user", user, "--server", srv.address)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_admin_commands_print_json_and_refusals_exit_nonzero(server) -> None:
    add_account(server, "boss", "admin")
    m = unique("member")
    s = server.address
    assert (
        run_cli("send", "general", "hi", "--user", m, "--register", "--server", s).returncode == 0
    )

    res = admin_cli(server, "block", m, "--for", "1h", "--reason", "spam links", "--json")
    assert res.returncode == 0, res.stderr
    [blocked] = lines(res.stdout)
    assert blocked["action"] == "block" and blocked["target"] == m
    assert blocked["reason"] == "spam links"
    assert 3500 < blocked["expires"] - time.time() <= 3600
    refused = run_cli("send", "general", "let me", "--user", m, "--server", s)
    assert refused.returncode != 0
    assert "blocked" in refused.stderr and "spam links" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    [entry] = lines(admin_cli(server, "blocks", "--json").stdout)
    assert (entry["kind"], entry["target"], entry["author"]) == ("block", m, "boss")
    text = admin_cli(server, "blocks").stdout
    assert m in text and "spam links" in text and "until 2" in text
    assert admin_cli(server, "unblock", m).returncode == 0
    assert run_cli("send", "general", "back", "--user", m, "--server", s).returncode == 0

    [prio] = lines(admin_cli(server, "priority", m, "high", "--json").stdout)
    assert prio["priority"] == 1
    assert lines(admin_cli(server, "priority", m, "3", "--json").stdout)[0]["priority"] == 3
    muted = admin_cli(server, "mute", m, "--for", "10m", "--reason", "shh")
    assert muted.returncode == 0 and "mute" in muted.stdout and "shh" in muted.stdout
    assert admin_cli(server, "unmute", m).returncode == 0
    [ban] = lines(admin_cli(server, "ban-address", "192.0.2.0/24", "--json").stdout)
    assert ban["target"] == "192.0.2.0/24" and ban["expires"] == 0
    assert admin_cli(server, "unban-address", "192.0.2.0/24").returncode == 0
    assert admin_cli(server, "pending", "--json").stdout == ""
    [role] = lines(admin_cli(server, "role", m, "moderator", "--json").stdout)
    assert role["role"] == "moderator"

    # refusals: one line naming the reason, status 1
    for args, words in (
        (("kick", m), "not connected"),
        (("unblock", m), "not blocked"),
        (("block", "no-such-user"), "no user"),
        (("block", "boss"), "yourself"),
        (("unban-address", "192.0.2.0/24"), "not banned"),
    ):
        res = admin_cli(server, *args)
        assert res.returncode == 1, (args, res.stdout)
        assert words in res.stderr and res.stderr.strip().count("\n") == 0
    # bad input is a usage error
    bad = admin_cli(server, "block", m, "--for", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    bad = admin_cli(server, "priority", m, "huge")
    assert bad.returncode == 2 and "urgent" in bad.stderr

    audit = lines(admin_cli(server, "audit", "--json").stdout)
    assert [(e["actor"], e["action"]) for e in audit] == [
        ("boss", "block"),
        ("boss", "unblock"),
        ("boss", "priority"),
        ("boss", "priority"),
        ("boss", "mute"),
        ("boss", "unmute"),
        ("boss", "ban"),
        ("boss", "unban"),
        ("boss", "role"),
    ]
    assert audit[0]["reason"] == "spam links" and audit[0]["target"] == m
    text = admin_cli(server, "audit", "--limit", "1", "--about", m).stdout
    assert text.count("\n") == 1 and "boss set the role of" in text


def test_members_are_refused_every_admin_command(server) -> None:
    add_account(server, "boss", "admin")
    m = unique("member")
    assert run_cli("send", "general", "hi", "--user", m, "--register", "--server", server.address)
    for args in (
        ("block", "boss"),
        ("unblock", "boss"),
        ("kick", "boss"),
        ("mute", "boss"),
        ("unmute", "boss"),
        ("priority", "boss", "low"),
        ("role", "boss", "member"),
        ("ban-address", "10.0.0.0/8"),
        ("unban-address", "10.0.0.0/8"),
        ("blocks",),
        ("pending",),
        ("admit", "boss"),
        ("refuse", "boss"),
        ("audit",),
    ):
        res = admin_cli(server, *args, "--json", user=m)
        assert res.returncode == 1, args
        assert "forbidden" in res.stderr and res.stdout == "", args
    assert lines(admin_cli(server, "audit", "--json").stdout) == []


async def test_admit_from_the_cli(server_factory) -> None:
    srv = server_factory(registration="approve")
    add_account(srv, "boss", "moderator")
    newbie = client_for(srv, "newbie")
    await newbie.start()
    try:
        res = await asyncio.to_thread(admin_cli, srv, "pending", "--json")
        [waiting] = lines(res.stdout)
        assert waiting["user"] == "newbie" and waiting["online"] is True
        res = await asyncio.to_thread(admin_cli, srv, "admit", "newbie", "--priority", "low")
        assert res.returncode == 0 and "admit: newbie at low priority" in res.stdout
        session = await newbie.wait_admitted(10)
        assert session.priority == 3 and "general" in session.rooms
        res = await asyncio.to_thread(admin_cli, srv, "admit", "newbie")
        assert res.returncode == 1 and "not waiting" in res.stderr
    finally:
        await newbie.close()


def test_line_chat_moderation_commands(server) -> None:
    add_account(server, "boss", "admin")
    m = unique("member")
    s = server.address
    assert (
        run_cli("send", "general", "hi", "--user", m, "--register", "--server", s).returncode == 0
    )
    script = "\n".join(
        [
            f"/block {m} 10m posting spam",
            "/blocks",
            f"/unblock {m}",
            f"/mute {m} rude words",
            f"/priority {m} urgent",
            f"/priority {m} sky-high",
            "/pending",
            f"/kick {m}",
            "/block",
            "/audit 3",
            "/quit",
        ]
    )
    res = run_cli("chat", "--plain", "--user", "boss", "--server", s, input=script + "\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"* block: {m} until 2" in out and "posting spam" in out
    assert f"block {m}" in out  # the /blocks listing
    assert f"* unblock: {m}" in out
    assert f"* mute: {m} until lifted: rude words" in out
    assert f"* priority: {m} at urgent priority" in out
    assert "! 'sky-high': use urgent, high, normal, low or 0-3" in out
    assert "* nobody waits for admission" in out
    assert f"! {m} is not connected" in out
    assert "! usage: /block NAME [DURATION] [REASON]" in out
    assert "boss set the priority of" in out  # from /audit
    muted = run_cli("send", "general", "x", "--user", m, "--server", s)
    assert muted.returncode == 1 and "rude words" in muted.stderr


async def test_a_newcomer_in_line_chat_waits_then_chats(server_factory) -> None:
    srv = server_factory(registration="approve")
    boss = await staff(srv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "roost", "chat", "--plain", "--user", "hopeful"),
            *("--register", "--server", srv.address),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=roost_env(),
        )
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"waits for a moderator" in first
        await boss.admit("hopeful")
        out, err = await asyncio.wait_for(proc.communicate(b"hello after waiting\n/quit\n"), 30)
        assert proc.returncode == 0, err
        assert b"admitted" in out
        assert [m.text for m in await boss.latest("general", 1)] == ["hello after waiting"]
    finally:
        await boss.close()
