"""Search against a real server: what a user may read, filters, pages, errors, rate, CLI."""

from __future__ import annotations

import json
import time

import pytest

from conftest import run_cli
from helpers import PASSWORD, client_for, logged_in, unique
from roost.client import RoostError
from roost.client.search import parse_when
from roost.tui.widgets.composer import Composer


async def test_search_finds_only_what_the_user_may_read(any_server) -> None:
    ann, bob, cy = unique("ann"), unique("bob"), unique("cy")
    room, other = unique("team"), unique("hidden")
    async with (
        logged_in(any_server, ann) as a,
        logged_in(any_server, bob) as b,
        logged_in(any_server, cy) as c,
    ):
        await a.join(room)
        await b.join(room)
        await c.join(other)
        await a.send(room, "the release is Friday")
        await b.send(room, "Release notes are drafted")
        await b.send(f"@{ann}", "release plan, just between us")
        await c.send(other, "release secret of another room")
        await c.send(f"@{bob}", "release gossip for bob only")

        found = [m.text async for m in a.search("release")]
        assert found == [
            "release plan, just between us",
            "Release notes are drafted",
            "the release is Friday",
        ]
        assert [m.text async for m in a.search("release", sender=bob)] == [
            "release plan, just between us",
            "Release notes are drafted",
        ]
        assert [m.text async for m in a.search("release", room=room)] == [
            "Release notes are drafted",
            "the release is Friday",
        ]
        assert [m.text async for m in a.search("release", room=f"@{bob}")] == [
            "release plan, just between us"
        ]
        assert [m.text async for m in c.search("release")] == [
            "release gossip for bob only",
            "release secret of another room",
        ]
        # Asking for a room one is not in is refused, not answered empty.
        with pytest.raises(RoostError) as err:
            await a.search_page("release", room=other)
        assert err.value.code == "not_a_member"
        with pytest.raises(RoostError) as err:
            await a.search_page("release", room=f"@{bob}+{cy}")
        assert err.value.code == "forbidden"
        # After leaving, that room's history is no longer searched.
        await b.leave(room)
        assert [m.text async for m in b.search("release")] == [
            "release gossip for bob only",
            "release plan, just between us",
        ]
        hit = (await a.search_page('"release is"')).messages[0]
        assert (hit.room, hit.seq, hit.sender) == (room, 1, ann)


async def test_pages_newest_first_and_dates(server) -> None:
    async with logged_in(server) as me:
        room = unique("pages")
        await me.join(room)
        sent = [await me.send(room, f"ticket {i} opened") for i in range(7)]
        first = await me.search_page("ticket", room=room, limit=3)
        assert [m.seq for m in first.messages] == [7, 6, 5] and first.next
        second = await me.search_page("ticket", room=room, limit=3, cursor=first.next)
        assert [m.seq for m in second.messages] == [4, 3, 2] and second.next
        third = await me.search_page("ticket", room=room, limit=3, cursor=second.next)
        assert [m.seq for m in third.messages] == [1] and third.next == ""
        assert [m.seq async for m in me.search("tick*", room=room, limit=5)] == [7, 6, 5, 4, 3]
        # since is inclusive, until exclusive.
        window = [
            m.seq async for m in me.search("opened", room=room, since=sent[2].ts, until=sent[5].ts)
        ]
        assert window == [5, 4, 3]


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({"query": '"unclosed phrase'}, "bad_query", "unclosed quote"),
        ({"query": "*** ???"}, "bad_query", "no word"),
        ({"query": "x" * 1000}, "bad_query", "at most"),
        ({"query": "ok", "cursor": "garbage"}, "bad_query", "cursor"),
        ({"query": "ok", "since": 20.0, "until": 10.0}, "bad_query", "before until"),
        ({"query": "ok", "since": -1.0}, "bad_query", "negative"),
        ({"query": "ok", "sender": "Not A Name!"}, "invalid_name", "invalid user name"),
        ({"query": "ok", "room": "nosuchroom"}, "no_such_room", "nosuchroom"),
    ],
)
async def test_bad_searches_get_clear_errors(server, kwargs, code, words) -> None:
    async with logged_in(server) as me:
        query = kwargs.pop("query")
        with pytest.raises(RoostError) as err:
            await me.search_page(query, **kwargs)
        assert err.value.code == code and words in err.value.message


async def test_engine_operators_are_plain_words(any_server) -> None:
    # What FTS5 or tsquery would read as syntax (and fail on) is searched as words.
    async with logged_in(any_server) as me:
        room = unique("ops")
        await me.join(room)
        await me.send(room, "use AND or NOT, near the col: value")
        for query in ["AND OR NOT", "NEAR(", "col:", "-not", "a & b | !c", "(near"]:
            page = await me.search_page(query, room=room)
            assert isinstance(page.messages, list)
        assert len((await me.search_page("NEAR( col:", room=room)).messages) == 1


async def test_search_is_rate_limited_and_announced(server_factory) -> None:
    srv = server_factory(search_rate=0.01, search_burst=2, search_page=4)
    async with logged_in(srv) as me:
        assert me.limits is not None
        assert (me.limits.search_rate, me.limits.search_burst, me.limits.search_page) == (
            0.01,
            2,
            4,
        )
        room = unique("rate")
        await me.join(room)
        for i in range(6):
            await me.send(room, f"limit {i}")
        page = await me.search_page("limit", limit=100)
        assert len(page.messages) == 4  # held to search_page
        await me.search_page("limit")
        with pytest.raises(RoostError) as err:
            await me.search_page("limit")
        assert err.value.code == "rate_limited"
        # A malformed query is refused before the bucket: it costs no search.
        with pytest.raises(RoostError) as err:
            await me.search_page('"')
        assert err.value.code == "bad_query"
        # The bucket is the account's: another session of it is limited too.
        other = client_for(srv, me.user or "", register=False, reconnect=False)
        await other.start()
        try:
            with pytest.raises(RoostError) as err:
                await other.search_page("limit")
            assert err.value.code == "rate_limited"
        finally:
            await other.close()


async def test_cli_search_json_and_text(server) -> None:
    name, room = unique("cli"), unique("clir")
    async with logged_in(server, name) as me:
        await me.join(room)
        await me.send(room, "deploy went well")
        await me.send(room, "deployment number two")
        await me.send(room, "nothing to see")
    s = server.address
    done = run_cli("search", "deploy*", "--room", room, "--json", "--user", name, "--server", s)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["type"], r["text"], r["seq"]) for r in rows] == [
        ("message", "deployment number two", 2),
        ("message", "deploy went well", 1),
    ]
    today = time.strftime("%Y-%m-%d")
    done = run_cli(
        "search", "deploy", "--from", name, "--since", today, "--until", today, "--limit", "5",
        "--user", name, "--server", s,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "deploy went well" in done.stdout
    assert today in done.stdout and f"#{room}" in done.stdout
    bad = run_cli("search", "x", "--since", "yesterday-ish", "--user", name, "--server", s)
    assert bad.returncode == 2 and "is not a time" in bad.stderr
    bad = run_cli("search", '"oops', "--user", name, "--server", s)
    assert bad.returncode == 1 and "unclosed quote" in bad.stderr


def test_parse_when() -> None:
    now = 1_800_000_000.0
    assert parse_when("2h", now) == now - 7200
    day = parse_when("2026-12-01", now)
    assert parse_when("2026-12-01", now, end=True) == day + 86400
    assert parse_when("2026-12-01T00:00", now) == day
    with pytest.raises(RoostError):
        parse_when("soon", now)


def test_line_chat_search(server) -> None:
    name, room = unique("line"), unique("liner")
    script = "\n".join(
        [
            f"/join {room}",
            "a needle in the haystack",
            "/search needle",
            f"/search needle in:{room} from:{name} since:1h",
            "/search needle from:nobody",
            "/search from:nobody",
            '/search "open',
            "/quit",
        ]
    )
    res = run_cli(
        "chat", "--plain", "--user", name, "--register", "--server", server.address,
        input=script + "\n",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    hits = [x for x in out.splitlines() if x.startswith("  ") and "> a needle" in x]
    assert len(hits) == 2
    assert all(x.endswith(f"#{room} <{name}> a needle in the haystack") for x in hits)
    assert "* 1 newest matching 'needle':" in out
    assert "* no messages match 'needle'" in out
    assert "! usage: /search WORDS" in out
    assert "! unclosed quote" in out


async def test_tui_search_results_view(server, tmp_path) -> None:
    from roost.tui import RoostApp
    from roost.tui.screens.chat import ChatScreen
    from roost.tui.screens.search import SearchScreen
    from tui_helpers import screen_text, wait_until

    alice, bob = unique("alice"), unique("bob")
    async with logged_in(server, alice):
        pass
    async with logged_in(server, bob) as b:
        await b.follow("general")
        await b.send("general", "the haystack hides a needle")
        await b.send(f"@{alice}", "psst, unrelated")
        app = RoostApp(
            server=server.address,
            user=alice,
            password=PASSWORD,
            register=False,
            config_path=tmp_path / "config",
            room=f"@{bob}",
        )
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
            chat = app.screen
            assert isinstance(chat, ChatScreen)
            await wait_until(pilot, lambda: chat.current is not None)
            assert chat.current != "general"
            chat.query_one(Composer).insert("/search needle from:" + bob)
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
            await wait_until(pilot, lambda: "1 messages" in screen_text(app))
            text = screen_text(app)
            assert f"#general <{bob}> the haystack hides a needle" in text
            view = app.screen
            assert isinstance(view, SearchScreen)
            assert [m.text for m in view.hits] == ["the haystack hides a needle"]
            await pilot.press("enter")
            await wait_until(pilot, lambda: chat.current == "general")
            assert app.screen is chat
            # A bad query shows its error in the view.
            chat.query_one(Composer).insert('/search "needle')
            await pilot.press("enter")
            await wait_until(pilot, lambda: "unclosed quote" in screen_text(app))
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is chat)


async def test_search_in_plain_msgpack(server) -> None:
    # docs/protocol.md, section 5 "Search", as a client in another language speaks it.
    from test_conformance import Peer, is_error

    peer, _ = await Peer.open(server)
    try:
        me = unique("raw")
        await peer.login(me)
        reply = await peer.request("send", to="general", text="wire level search")
        assert reply["t"] == "ok"
        reply = await peer.request("search", query="wire", room="general", limit=1)
        assert reply["t"] == "ok", reply
        hits = reply["result"]["messages"]
        assert [(h["t"], h["text"], h["sender"]) for h in hits] == [
            ("msg", "wire level search", me)
        ]
        assert reply["result"].get("next", "") == ""
        assert is_error(await peer.request("search", query='"wire'), "bad_query")
        # A field of the wrong type is a bad request, and the connection goes on.
        assert is_error(await peer.request("search", query=5), "bad_request")
        assert (await peer.request("ping"))["t"] == "ok"
    finally:
        peer.close()


async def test_a_page_too_big_for_a_frame_is_cut_and_goes_on(server_factory) -> None:
    # 5 messages of 3,000 characters do not fit in one 16 KiB frame: the page
    # is cut, and its cursor continues after the last message sent.
    srv = server_factory(max_frame=16384, chunk_size=4096, max_text=4000)
    async with logged_in(srv) as me:
        room = unique("big")
        await me.join(room)
        for i in range(5):
            await me.send(room, f"bulky{i} " + "filler " * 430)
        first = await me.search_page("filler", room=room, limit=5)
        assert 1 <= len(first.messages) < 5 and first.next
        seqs = [m.seq for m in first.messages]
        cursor = first.next
        for _ in range(5):
            page = await me.search_page("filler", room=room, limit=5, cursor=cursor)
            seqs += [m.seq for m in page.messages]
            cursor = page.next
            if not cursor:
                break
        assert seqs == [5, 4, 3, 2, 1]


async def test_search_on_one_node_finds_what_another_stored(cluster) -> None:
    a, b = cluster(2)
    room = unique("clu")
    async with logged_in(a, unique("ann")) as ann:
        await ann.join(room)
        await ann.send(room, "stored through node zero")
        async with client_for(b, ann.user or "", register=False, reconnect=False) as again:
            hits = [m.text async for m in again.search("node zero")]
            assert hits == ["stored through node zero"]


async def test_irc_search_through_roostserv(server_factory) -> None:
    from irc_helpers import IrcLines, irc_server

    srv = irc_server(server_factory)
    nick = unique("ircs")
    irc = await IrcLines.open(srv)
    await irc.register(nick)
    try:
        async with logged_in(srv) as other:
            await other.follow("general")
            await other.send("general", "pancakes on friday")
            await other.send(f"@{nick}", "pancakes, privately")
            irc.send("PRIVMSG RoostServ :search pancakes")
            assert "the 2 newest" in await irc.until(r"RoostServ.* NOTICE .*search: ")
            dm = await irc.until(r"NOTICE .*privately")
            assert f"@{other.user} <{other.user}> pancakes, privately" in dm
            assert "#general" in await irc.until(r"NOTICE .*on friday")
            irc.send(f"SEARCH pancakes in:#general from:{other.user}")  # /QUOTE SEARCH ...
            assert "the 1 newest" in await irc.until(r"NOTICE .*search: ")
            irc.send('PRIVMSG RoostServ :search "pancakes')
            await irc.until(r"RoostServ.* NOTICE .*unclosed quote")
            irc.send("PRIVMSG RoostServ :search nothingmatches")
            await irc.until(r"RoostServ.* NOTICE .*search: no messages match")
    finally:
        await irc.close()


async def test_search_follows_edits_and_deletions(any_server) -> None:
    async with logged_in(any_server) as me:
        room = unique("ed")
        await me.join(room)
        kept = await me.send(room, "first draft of the plan")
        gone = await me.send(room, "a draft to delete")
        await me.edit(room, kept.seq, "final version of the plan")
        await me.delete(room, gone.seq)
        await me.react(room, kept.seq, "draft")
        assert [m.text async for m in me.search("draft", room=room)] == []
        hits = [m async for m in me.search("plan", room=room)]
        assert [(m.seq, m.text, m.kind) for m in hits] == [
            (kept.seq, "final version of the plan", "text")
        ]
