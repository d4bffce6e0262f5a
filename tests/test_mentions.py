"""Mentions against a real server: counted per conversation, listed, cleared by reading."""

from __future__ import annotations

import json

from conftest import run_cli
from helpers import PASSWORD, client_for, unique
from roost.protocol.mentions import mentions_me, mentions_of


def test_mention_rule() -> None:
    assert mentions_of("hi @Bob and @carol.") == {"bob", "carol"}
    assert mentions_of("mail me at bob@example.org") == set()
    assert mentions_of("no at sign") == set()
    assert mentions_me("ping @bob", "bob") and mentions_me("bob: look", "bob")
    assert not mentions_me("bobby is here", "bob")


async def test_mentions_counted_listed_and_cleared(any_server) -> None:
    me, other, room = unique("mm"), unique("mo"), unique("room")
    reader = client_for(any_server, me, reconnect=False)
    await reader.start()
    talker = client_for(any_server, other, reconnect=False)
    await talker.start()
    outsider = client_for(any_server, unique("out"), reconnect=False)
    await outsider.start()
    try:
        await reader.join(room)
        await talker.join(room)
        await outsider.join(unique("elsewhere"))
        await talker.send(room, "nothing for you")
        first = await talker.send(room, f"@{me} look at this")
        await talker.send(room, f"hey @{me.upper()}, and @{other} and @nobody")
        # a mention of someone outside the conversation is not recorded for them
        await talker.send(room, f"@{outsider.user} cannot read this")
        await talker.send(room, "last")
        counts = {u.room: u for u in await reader.unread()}
        assert (counts[room].mentions, counts[room].unread) == (2, 5)
        listed = await reader.mentions()
        assert [m.seq for m in listed] == [first.seq, first.seq + 1]
        assert await outsider.mentions() == []
        assert await talker.mentions() == []  # one's own @name is no mention
        info = await reader.mark_read(room, first.seq)
        assert info.mentions == 1
        await reader.mark_read(room, first.seq + 1)
        counts = {u.room: u for u in await reader.unread()}
        assert counts[room].mentions == 0
        # the list keeps them (a mentions view), counts only what is unread
        assert len(await reader.mentions()) == 2
        # it shows the latest edit, and a deleted message no longer
        await talker.edit(room, first.seq, f"@{me} look at this, edited")
        listed = {m.seq: m.text for m in await reader.mentions()}
        assert listed == {
            first.seq: f"@{me} look at this, edited",
            first.seq + 1: listed[first.seq + 1],
        }
        await talker.delete(room, first.seq)
        assert [m.seq for m in await reader.mentions()] == [first.seq + 1]
    finally:
        for c in (reader, talker, outsider):
            await c.close()


async def test_mentions_in_login_result_and_cli(server) -> None:
    me, other = unique("lm"), unique("lo")
    reader = client_for(server, me, reconnect=False)
    await reader.start()
    await reader.close()
    talker = client_for(server, other, reconnect=False)
    await talker.start()
    try:
        await talker.send("general", f"@{me} urgent-ish")
    finally:
        await talker.close()
    again = client_for(server, me, register=False, reconnect=False)
    session = await again.start()
    await again.close()
    assert session.mentions == {"general": 1}
    addr = f"{server.host}:{server.port}"
    out = run_cli("mentions", "--server", addr, "--user", me, "--json", ROOST_PASSWORD=PASSWORD)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == [f"@{me} urgent-ish"]
    out = run_cli(
        "unread-counts", "--server", addr, "--user", me, "--json", ROOST_PASSWORD=PASSWORD
    )
    assert out.returncode == 0, out.stderr
    rows = {r["room"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows["general"]["mentions"] == 1


async def test_a_page_of_mentions_skips_rooms_left_and_is_full(server) -> None:
    me, other = unique("pm"), unique("po")
    kept, left = unique("kept"), unique("left")
    reader = client_for(server, me, reconnect=False)
    talker = client_for(server, other, reconnect=False)
    await reader.start()
    await talker.start()
    try:
        for room in (kept, left):
            await reader.join(room)
            await talker.join(room)
        for i in range(4):
            await talker.send(kept, f"@{me} kept {i}")
        for i in range(12):  # newer than those of the kept room, in a room left after
            await talker.send(left, f"@{me} left {i}")
        await reader.leave(left)
        page = await reader.mentions(limit=3)
        assert [m.text for m in page] == [f"@{me} kept {i}" for i in (1, 2, 3)]
        older = await reader.mentions(limit=3, before=page[0].ts)
        assert [m.text for m in older] == [f"@{me} kept 0"]
    finally:
        await reader.close()
        await talker.close()
