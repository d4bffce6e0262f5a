"""`roost join`, `roost leave`, `roost rooms`, and `roost listen` on a room that does not exist."""

from __future__ import annotations

import json

from conftest import run_cli
from helpers import unique


def rooms_json(server, who: str) -> dict[str, dict]:
    res = run_cli("rooms", "--json", "--user", who, "--server", server.address)
    assert res.returncode == 0, res.stderr
    return {r["name"]: r for r in map(json.loads, res.stdout.splitlines())}


def test_listen_refuses_a_room_that_does_not_exist_unless_asked(server) -> None:
    alice = unique("alice")
    s = server.address
    missing = unique("typo")
    res = run_cli("listen", missing, "-t", "1", "--user", alice, "--register", "--server", s)
    assert res.returncode == 1
    [line] = res.stderr.splitlines()
    assert f"no room named {missing!r}: pass --create to make it" in line, line
    assert missing not in rooms_json(server, alice)
    made = run_cli("listen", missing, "--create", "-t", "1", "--user", alice, "--server", s)
    assert made.returncode == 0, made.stderr
    assert rooms_json(server, alice)[missing]["joined"] is True
    # It exists now: listening to it needs no --create (and general never did).
    for room in (missing, "general"):
        again = run_cli("listen", room, "-t", "1", "--user", unique(), "--register", "--server", s)
        assert again.returncode == 0, again.stderr


def test_join_leave_rooms_commands(server) -> None:
    alice, bob = unique("alice"), unique("bob")
    s = server.address
    room = unique("dev")
    for name in (alice, bob):
        assert run_cli("rooms", "--user", name, "--register", "--server", s).returncode == 0
    refused = run_cli("join", room, "--user", alice, "--server", s)
    assert refused.returncode == 1 and "pass --create to make it" in refused.stderr
    made = run_cli("join", room, "--create", "--user", alice, "--server", s)
    assert made.returncode == 0, made.stderr
    assert made.stdout == f"created and joined #{room} (0 messages so far)\n"
    sent = run_cli("send", room, "first", "--user", alice, "--server", s)
    assert sent.returncode == 0, sent.stderr
    # bob cannot send before joining; the error says to join, and now he can.
    early = run_cli("send", room, "hi", "--user", bob, "--server", s)
    assert early.returncode == 1 and "join it first" in early.stderr
    joined = run_cli("join", "#" + room.upper(), "--json", "--user", bob, "--server", s)
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout) == {"room": room, "last_seq": 1, "created": False}
    assert run_cli("send", room, "hi", "--user", bob, "--server", s).returncode == 0

    listing = run_cli("rooms", "--user", bob, "--server", s)
    assert listing.returncode == 0, listing.stderr
    assert f"* #{room}  2 members, 1 online" in listing.stdout.splitlines()  # bob himself
    info = rooms_json(server, bob)[room]
    assert {k: info[k] for k in ("name", "members", "online", "joined")} == {
        "name": room,
        "members": 2,
        "online": 1,
        "joined": True,
    }

    left = run_cli("leave", room, "--user", bob, "--server", s)
    assert left.returncode == 0 and left.stdout == f"left #{room}\n", left.stderr
    assert rooms_json(server, bob)[room]["joined"] is False
    again = run_cli("leave", room, "--json", "--user", bob, "--server", s)
    assert again.returncode == 1
    assert len(again.stderr.splitlines()) == 1 and "you are not in room" in again.stderr
    gone = run_cli("leave", unique("nosuch"), "--user", bob, "--server", s)
    assert gone.returncode == 1 and "no room named" in gone.stderr
