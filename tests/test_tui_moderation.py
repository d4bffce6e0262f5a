"""Moderation in the full-screen client, driven by its pilot against a real server."""

from __future__ import annotations

from helpers import PASSWORD, client_for, logged_in, next_event, unique
from modhelpers import add_account, staff
from roost.client import Bye
from roost.tui import RoostApp
from roost.tui.screens.chat import ChatScreen
from roost.tui.widgets.lists import MemberList
from test_tui import SIZE, chat_app, chat_screen, infos, type_line
from tui_helpers import screen_text, wait_until


async def test_moderator_commands_keys_and_events(server, tmp_path) -> None:
    add_account(server, "root", "admin")
    bob, carol = unique("bob"), unique("carol")
    async with logged_in(server, carol):
        pass
    bob_client = client_for(server, bob)
    await bob_client.start()
    app = chat_app(server, tmp_path, "root", register=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)

        def shown(part: str) -> bool:
            return any(part in line for line in infos(screen))

        await type_line(pilot, f"/block {bob} 10m spamming links")
        bye = await next_event(bob_client, Bye)
        assert bye.code == "blocked" and "spamming links" in bye.reason
        await wait_until(pilot, lambda: shown(f"block: {bob} until 2"))
        await wait_until(pilot, lambda: shown(f"[mod] root blocked {bob} (for 10m"))
        await type_line(pilot, "/blocks")
        await wait_until(pilot, lambda: shown("by root: spamming links"))
        await type_line(pilot, f"/unblock {bob}")
        await wait_until(pilot, lambda: shown(f"unblock: {bob}"))
        await type_line(pilot, "/priority carol sky-high")
        await wait_until(pilot, lambda: shown("use urgent, high, normal, low or 0-3"))
        await type_line(pilot, f"/mute {carol} rude")
        await wait_until(pilot, lambda: shown(f"mute: {carol} until lifted: rude"))

        # k on the member list kicks the highlighted member
        async with logged_in(server, bob, register=False) as again:
            members = screen.query_one(MemberList)
            await wait_until(pilot, lambda: bob in [o.id for o in members.options])
            members.focus()
            members.highlighted = [o.id for o in members.options].index(bob)
            await pilot.press("k")
            bye = await next_event(again, Bye)
            assert bye.code == "kicked"
            await wait_until(pilot, lambda: shown(f"kick: {bob} (1 connection(s) ended)"))
            # not on yourself: refused on the spot (the bell rings), nothing is sent
            members.highlighted = [o.id for o in members.options].index("root")
            await pilot.press("k")
            await pilot.pause(0.3)
            assert not shown("kick: root") and not shown("yourself")
            assert screen.session.client.connected


async def test_members_are_refused_in_the_tui(server, tmp_path) -> None:
    add_account(server, "root", "admin")
    app = chat_app(server, tmp_path, unique("member"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        await type_line(pilot, "/block root")
        await wait_until(pilot, lambda: any("only moderators" in t for t in infos(screen)))
        await type_line(pilot, "/audit")
        await wait_until(pilot, lambda: sum("only moderators" in t for t in infos(screen)) == 2)


async def test_a_newcomer_waits_on_the_login_screen_until_admitted(
    server_factory, tmp_path
) -> None:
    srv = server_factory(registration="approve")
    boss = await staff(srv)
    try:
        app = RoostApp(
            server=srv.address,
            user="hopeful",
            password=PASSWORD,
            register=True,
            config_path=tmp_path / "config",
        )
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "waits for a moderator" in screen_text(app))
            assert not isinstance(app.screen, ChatScreen)
            await boss.admit("hopeful")
            screen = await chat_screen(pilot)
            assert screen.session.login.status == "active"
            assert "general" in screen.session.model.conversations
    finally:
        await boss.close()
