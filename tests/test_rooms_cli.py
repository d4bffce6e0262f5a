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
    got = json.loads(joined.stdout)
    assert {k: got[k] for k in ("room", "last_seq", "created", "private", "role")} == {
        "room": room,
        "last_seq": 1,
        "created": False,
        "private": False,
        "role": "",
    }
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


def test_room_commands_topic_private_invite_role_kick_mute_delete(server) -> None:
    s = f"{server.host}:{server.port}"
    room, alice, bob = unique("room"), unique("alice"), unique("bob")
    for name in (alice, bob):
        assert run_cli("rooms", "--user", name, "--register", "--server", s).returncode == 0
    made = run_cli("join", room, "--private", "--json", "--user", alice, "--server", s)
    assert made.returncode == 0, made.stderr
    got = json.loads(made.stdout)
    assert (got["created"], got["private"], got["role"]) == (True, True, "owner")
    topic = run_cli("room", "topic", room, "ship", "it", "--user", alice, "--server", s)
    assert topic.returncode == 0, topic.stderr
    assert f"#{room} (private)" in topic.stdout and "topic: ship it" in topic.stdout
    # bob cannot see or join it until invited.
    hidden = run_cli("room", "info", room, "--user", bob, "--server", s)
    assert hidden.returncode == 1 and "no room named" in hidden.stderr
    refused = run_cli("join", room, "--user", bob, "--server", s)
    assert refused.returncode == 1 and "/invite" in refused.stderr
    inv = run_cli("room", "invite", room, bob, "--json", "--user", alice, "--server", s)
    assert inv.returncode == 0, inv.stderr
    assert json.loads(inv.stdout)["action"] == "invite"
    seen = run_cli("room", "info", room, "--json", "--user", bob, "--server", s)
    assert json.loads(seen.stdout)["invited"] is True
    assert run_cli("join", room, "--user", bob, "--server", s).returncode == 0
    role = run_cli("room", "role", room, bob, "moderator", "--user", alice, "--server", s)
    assert role.returncode == 0 and "as moderator" in role.stdout and f"in #{room}" in role.stdout
    # A room moderator may not change roles (owners only) nor act on the owner.
    up = run_cli("room", "role", room, alice, "member", "--user", bob, "--server", s)
    assert up.returncode == 1 and "owners" in up.stderr
    mute = run_cli(
        "room", "mute", room, bob, "--for", "1h", "-r", "calm", "--json",
        "--user", alice, "--server", s,
    )  # fmt: skip
    assert mute.returncode == 0, mute.stderr
    assert json.loads(mute.stdout)["expires"] > 0
    quiet = run_cli("send", room, "hello", "--user", bob, "--server", s)
    assert quiet.returncode != 0 and "muted in #" in quiet.stderr
    assert run_cli("room", "unmute", room, bob, "--user", alice, "--server", s).returncode == 0
    kick = run_cli("room", "kick", room, bob, "-r", "bye", "--user", alice, "--server", s)
    assert kick.returncode == 0 and f"room_kick: {bob} in #{room}: bye" in kick.stdout
    # Deleting is for server admins; alice owns the room but is not one.
    gone = run_cli("room", "delete", room, "--yes", "--user", alice, "--server", s)
    assert gone.returncode == 1 and "only admins" in gone.stderr
    public = run_cli("room", "public", room, "--json", "--user", alice, "--server", s)
    assert json.loads(public.stdout)["private"] is False


def test_line_chat_room_commands_and_events(server) -> None:
    s = f"{server.host}:{server.port}"
    room, me, other = unique("room"), unique("line"), unique("guest")
    assert run_cli("rooms", "--user", other, "--register", "--server", s).returncode == 0
    script = "\n".join(
        [
            f"/join {room}",
            "/topic",
            "/topic plans for the week",
            "/topic",
            "/private on",
            f"/invite {other}",
            "/roommute",
            f"/roommute {other} 10m noisy",
            "/deleteroom general",
            "/msg nobody-here x",
            "/quit",
        ]
    )
    res = run_cli("chat", "--plain", "--user", me, "--register", "--server", s, input=script + "\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"#{room} has no topic" in out
    assert f"#{room}: plans for the week" in out
    assert f"* #{room} (public) topic: plans for the week (set by {me})" in out
    assert f"#{room} is private (invitation only) now" in out
    assert f"invited {other} into #{room}" in out
    assert "! usage: /roommute NAME [DURATION] [REASON]" in out
    # other is invited, not a member: a mute is refused with the reason.
    assert f"{other} is not in #{room}" in out
    assert "only admins may delete rooms" in out
    listed = run_cli("rooms", "--json", "--user", other, "--server", s)
    info = {json.loads(x)["name"]: json.loads(x) for x in listed.stdout.splitlines()}
    assert info[room]["invited"] and info[room]["private"]
    assert info[room]["topic"] == "plans for the week"
