"""Edit and delete of messages, and replies, against a real server (docs/protocol.md 5.3)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from helpers import logged_in, next_event, unique
from modhelpers import staff
from roost.client import Message, RoostError
from roost.client.edits import MessageBook


async def event_of(client, kind: str) -> Message:
    """The next message event of that kind (next_event's own first argument is "kind")."""

    async def find() -> Message:
        async for ev in client.events():
            if isinstance(ev, Message) and ev.kind == kind:
                return ev
        raise AssertionError("event stream ended")

    return await asyncio.wait_for(find(), 5.0)


async def history_of(client, room: str) -> list[Message]:
    return [m async for m in client.history(room)]


async def test_author_edits_and_everyone_sees_it_live_and_in_history(any_server) -> None:
    room = unique("r")
    async with logged_in(any_server) as ann, logged_in(any_server) as bob:
        await ann.follow(room)
        await bob.follow(room)
        sent = await ann.send(room, "helo wrold")
        res = await ann.edit(room, sent.seq, "hello world")
        assert res.seq == sent.seq + 1  # an edit is a new message: seqs stay gapless
        ev = await event_of(bob, "edit")
        assert (ev.ref, ev.text, ev.sender) == (sent.seq, "hello world", ann.user)
        msgs = await history_of(bob, room)
        assert [(m.kind, m.ref, m.text) for m in msgs] == [
            ("text", 0, "helo wrold"),
            ("edit", sent.seq, "hello world"),
        ]
        book = MessageBook()
        for m in msgs:
            book.add(m)
        shown = book.get(room, sent.seq)
        assert shown is not None and shown.label() == "hello world (edited)"


async def test_edit_refusals_each_with_its_code(server) -> None:
    room = unique("r")
    async with logged_in(server) as ann, logged_in(server) as bob, logged_in(server) as eve:
        await ann.join(room)
        await bob.join(room)
        sent = await ann.send(room, "mine")
        with pytest.raises(RoostError) as err:
            await bob.edit(room, sent.seq, "not yours")
        assert err.value.code == "forbidden"
        with pytest.raises(RoostError) as err:
            await ann.edit(room, sent.seq + 50, "nothing there")
        assert err.value.code == "no_such_message"
        with pytest.raises(RoostError) as err:
            await ann.edit(room, 0, "no seq")
        assert err.value.code == "bad_request"
        with pytest.raises(RoostError) as err:
            await ann.edit(room, sent.seq, "")
        assert err.value.code == "bad_request"
        edited = await ann.edit(room, sent.seq, "mine, edited")
        with pytest.raises(RoostError) as err:  # an edit is not itself editable
            await ann.edit(room, edited.seq, "again")
        assert err.value.code == "not_editable"
        with pytest.raises(RoostError) as err:
            await eve.edit(room, sent.seq, "outsider")
        assert err.value.code == "not_a_member"
        with pytest.raises(RoostError) as err:
            await eve.delete(room, sent.seq)
        assert err.value.code == "not_a_member"


async def test_edit_window_is_announced_and_enforced(server_factory) -> None:
    srv = server_factory(edit_window=0.5)
    room = unique("r")
    async with logged_in(srv) as ann:
        assert ann.limits is not None and ann.limits.edit_window == 0.5
        assert ann.limits.max_reactions == 20
        await ann.join(room)
        sent = await ann.send(room, "quick")
        await ann.edit(room, sent.seq, "quick edit")  # within the window
        await asyncio.sleep(0.8)
        with pytest.raises(RoostError) as err:
            await ann.edit(room, sent.seq, "too late")
        assert err.value.code == "not_editable"
        with pytest.raises(RoostError) as err:
            await ann.delete(room, sent.seq)
        assert err.value.code == "not_editable"


async def test_author_deletes_then_the_message_is_gone(any_server) -> None:
    room = unique("r")
    async with logged_in(any_server) as ann, logged_in(any_server) as bob:
        await ann.join(room)
        await bob.follow(room)
        sent = await ann.send(room, "oops")
        await ann.delete(room, sent.seq)
        ev = await event_of(bob, "delete")
        assert (ev.ref, ev.sender) == (sent.seq, ann.user)
        for attempt in (ann.edit(room, sent.seq, "back"), ann.delete(room, sent.seq)):
            with pytest.raises(RoostError) as err:
                await attempt
            assert err.value.code == "no_such_message"
            assert "deleted" in err.value.message
        book = MessageBook()
        for m in await history_of(bob, room):
            book.add(m)
        shown = book.get(room, sent.seq)
        assert shown is not None and shown.label() == "(deleted)"


async def test_moderator_removes_any_message_with_an_audited_reason(server) -> None:
    room = unique("r")
    boss = await staff(server, "mod1", "moderator")
    try:
        async with logged_in(server) as ann, logged_in(server) as bob:
            await ann.join(room)
            await bob.follow(room)
            await boss.join(room)
            sent = await ann.send(room, "spam spam")
            with pytest.raises(RoostError) as err:
                await bob.delete(room, sent.seq, "i do not like it")
            assert err.value.code == "forbidden"
            await boss.delete(room, sent.seq, "spam")
            ev = await event_of(bob, "remove")
            assert (ev.ref, ev.sender, ev.text) == (sent.seq, "mod1", "spam")
            entries = await boss.audit(10, target=ann.user)
            assert [(e.actor, e.action, e.reason) for e in entries] == [("mod1", "remove", "spam")]
            assert f"message {sent.seq} in {room}" in entries[0].text
            book = MessageBook()
            for m in await history_of(bob, room):
                book.add(m)
            shown = book.get(room, sent.seq)
            assert shown is not None and shown.label() == "(removed by a moderator: spam)"
    finally:
        await boss.close()


async def test_edits_work_in_direct_conversations(server) -> None:
    async with logged_in(server) as ann, logged_in(server) as bob:
        sent = await ann.send(f"@{bob.user}", "psst")
        await ann.edit(sent.room, sent.seq, "psst!")
        msgs = await history_of(bob, f"@{ann.user}")
        assert [(m.kind, m.text) for m in msgs] == [("text", "psst"), ("edit", "psst!")]
        with pytest.raises(RoostError) as err:
            await bob.edit(sent.room, sent.seq, "mine now")
        assert err.value.code == "forbidden"


async def test_reply_refers_to_a_seq_and_is_replayed(any_server) -> None:
    room = unique("r")
    async with logged_in(any_server) as ann, logged_in(any_server) as bob:
        await ann.join(room)
        await bob.follow(room)
        first = await ann.send(room, "who wants lunch? the new place on the corner")
        answer = await bob.send(room, "me!", reply_to=first.seq)
        ev = await next_event(bob, Message, seq=answer.seq)
        assert ev.reply_to == first.seq and ev.kind == "text"
        book = MessageBook()
        msgs = await history_of(ann, room)
        for m in msgs:
            book.add(m)
        assert msgs[-1].reply_to == first.seq
        assert (
            book.quote(room, first.seq, width=20) == f"\u21aa {ann.user}: who wants lunch? th\u2026"
        )
        with pytest.raises(RoostError) as err:
            await bob.send(room, "to nothing", reply_to=first.seq + 100)
        assert err.value.code == "no_such_message"
        edit = await ann.edit(room, first.seq, "who wants lunch?")
        with pytest.raises(RoostError) as err:
            await bob.send(room, "to an edit", reply_to=edit.seq)
        assert err.value.code == "not_editable"


def test_sqlite_store_adds_the_new_columns_to_an_old_database(tmp_path: Path) -> None:
    from roost.store.sqlite import SQLiteStore

    db = tmp_path / "roost.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL,"
        " text TEXT NOT NULL, ts REAL NOT NULL, priority INTEGER NOT NULL, file TEXT,"
        " PRIMARY KEY (room, seq)) WITHOUT ROWID"
    )
    conn.execute("INSERT INTO messages VALUES ('r', 1, 'ann', 'old', 1.0, 2, NULL)")
    conn.commit()
    conn.close()

    async def check() -> None:
        store = SQLiteStore(db)
        await store.open()
        try:
            old = await store.get_message("r", 1)
            assert old is not None and (old.kind, old.ref, old.reply_to) == ("text", 0, 0)
        finally:
            await store.close()

    asyncio.run(check())


def test_cli_send_reply_edit_react_delete_with_json(server) -> None:
    import json

    from conftest import run_cli

    me = unique("cli")
    s = server.address

    def roost(*args: str) -> dict:
        res = run_cli(*args, "--user", me, "--register", "--server", s, "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    first = roost("send", "general", "first words")
    reply = roost("send", "general", "an answer", "--reply-to", str(first["seq"]))
    edit = roost("edit", "general", str(first["seq"]), "first words, edited")
    react = roost("react", "general", str(first["seq"]), ":tada:")
    unreact = roost("react", "general", str(first["seq"]), ":tada:", "--remove")
    gone = roost("delete", "general", str(reply["seq"]))
    seqs = [first["seq"], reply["seq"], edit["seq"], react["seq"], unreact["seq"], gone["seq"]]
    assert seqs == list(range(first["seq"], first["seq"] + 6))
    hist = run_cli(
        "history",
        "general",
        "--after",
        str(first["seq"] - 1),
        "--user",
        me,
        "--server",
        s,
        "--json",
    )
    rows = [json.loads(line) for line in hist.stdout.splitlines()]
    assert [(r["kind"], r["ref"], r["reply_to"]) for r in rows] == [
        ("text", 0, 0),
        ("text", 0, first["seq"]),
        ("edit", first["seq"], 0),
        ("react", first["seq"], 0),
        ("unreact", first["seq"], 0),
        ("delete", reply["seq"], 0),
    ]
    assert rows[3]["text"] == "\U0001f389"
    plain = run_cli("history", "general", "--after", str(first["seq"]), "--user", me, "--server", s)
    lines = plain.stdout.splitlines()
    assert f"(reply to #{first['seq']})" in lines[0]
    assert lines[1].endswith(f"edited #{first['seq']}: first words, edited (edited)")
    late = run_cli("edit", "general", "9999", "x", "--user", me, "--server", s)
    assert late.returncode == 1 and "no_such_message" in late.stderr


def test_line_chat_edit_react_reply_delete_commands(server) -> None:
    import json

    from conftest import run_cli

    me = unique("line")
    s = server.address
    script = "\n".join(
        [
            "/join line-room",
            "the first message",
            "/history 5",  # shown messages are what -1, -2 ... count
            "/edit -1 the first message, edited",
            "/react -1 :+1:",
            "/reply last an answer",
            "/delete 99999",
            "/edit",
            "/quit",
        ]
    )
    res = run_cli("chat", "--plain", "--user", me, "--register", "--server", s, input=script + "\n")
    assert res.returncode == 0, res.stderr
    assert "there is no message 99999 in line-room" in res.stdout
    assert "! usage: /edit SEQ TEXT" in res.stdout
    hist = run_cli("history", "line-room", "--json", "--user", me, "--server", s)
    rows = [json.loads(x) for x in hist.stdout.splitlines()]
    first = rows[0]["seq"]
    assert f"* edited #{first}" in res.stdout
    assert [(r["kind"], r["ref"], r["reply_to"], r["text"]) for r in rows] == [
        ("text", 0, 0, "the first message"),
        ("edit", first, 0, "the first message, edited"),
        ("react", first, 0, "\U0001f44d"),
        ("text", 0, first, "an answer"),
    ]
