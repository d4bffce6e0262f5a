"""Moderation in the full-screen client, driven by its pilot against a real server."""

from __future__ import annotations

import time
from typing import Any

from textual.widgets import Input

from helpers import PASSWORD, client_for, logged_in, next_event, unique
from modhelpers import add_account, staff
from roost.client import Bye
from roost.tui import RoostApp
from roost.tui.screens.chat import ChatScreen
from roost.tui.screens.confirm import ConfirmScreen
from roost.tui.screens.pending import PendingScreen
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
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await type_line(pilot, "cool off")
            bye = await next_event(again, Bye)
            assert bye.code == "kicked" and "cool off" in bye.reason
            await wait_until(pilot, lambda: shown(f"kick: {bob} (1 connection(s) ended): cool off"))
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


async def pick_member(pilot: Any, screen: ChatScreen, user: str) -> None:
    members = screen.query_one(MemberList)
    await wait_until(pilot, lambda: user in [o.id for o in members.options])
    members.focus()
    members.highlighted = [o.id for o in members.options].index(user)


async def test_block_from_the_member_list_asks_first(server, tmp_path) -> None:
    add_account(server, "root", "admin")
    bob, carol = unique("bob"), unique("carol")
    async with logged_in(server, bob) as bob_client, logged_in(server, carol) as carol_client:
        app = chat_app(server, tmp_path, "root", register=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await pick_member(pilot, screen, carol)
            # Escape in the dialog: nothing is done
            await pilot.press("b")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert f"Block {carol}?" in screen_text(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen)
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen)
            assert await carol_client.ping() >= 0 and carol_client.connected
            assert not any(carol in line for line in infos(screen))

            # a bad duration is said in the dialog, which stays open
            await pick_member(pilot, screen, bob)
            await pilot.press("b")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            dialog = app.screen
            await type_line(pilot, "soon")
            await wait_until(pilot, lambda: "is not a duration" in screen_text(app))
            assert app.screen is dialog and bob_client.connected
            dialog.query_one("#confirm-duration", Input).value = "2h"
            dialog.query_one("#confirm-reason", Input).value = "flooding #general"
            await pilot.click("#confirm-yes")
            bye = await next_event(bob_client, Bye)
            assert bye.code == "blocked" and "flooding #general" in bye.reason
            await wait_until(
                pilot,
                lambda: any(
                    f"block: {bob} until" in t and "flooding #general" in t for t in infos(screen)
                ),
            )
            [sanction] = [s for s in await screen.session.client.blocks() if s.target == bob]
            assert sanction.reason == "flooding #general" and sanction.expires - time.time() > 7000


async def test_pending_admission_screen(server_factory, tmp_path) -> None:
    srv = server_factory(registration="approve")
    add_account(srv, "root", "admin")
    early, late = client_for(srv, "early"), client_for(srv, "late")
    app = chat_app(srv, tmp_path, "root", register=False)
    try:
        assert (await early.start()).status == "pending"
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, PendingScreen))
            pending = app.screen
            assert isinstance(pending, PendingScreen)
            await wait_until(pilot, lambda: "early" in screen_text(app))
            assert "online from 127.0.0.1" in screen_text(app) and "since 2" in screen_text(app)
            # a newcomer arriving meanwhile shows up (a moderation event reloads the list)
            assert (await late.start()).status == "pending"
            await wait_until(pilot, lambda: [p.user for p in pending.users] == ["early", "late"])
            # refuse, then Escape: nothing is done
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "Refuse early?" in screen_text(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is pending)
            assert [p.user for p in await screen.session.client.pending()] == ["early", "late"]
            # A admits the highlighted newcomer at once
            await pilot.press("a")
            admitted = await early.wait_admitted(5)
            assert admitted.status == "active"
            await wait_until(pilot, lambda: [p.user for p in pending.users] == ["late"])
            # P admits at a chosen priority, after the dialog
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await type_line(pilot, "low")
            assert (await late.wait_admitted(5)).status == "active"
            await wait_until(pilot, lambda: "nobody is waiting" in screen_text(app))
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen)
            assert any("admit: late at low priority" in t for t in infos(screen))
    finally:
        await early.close()
        await late.close()


async def test_the_admission_screen_is_for_moderators_only(server, tmp_path) -> None:
    app = chat_app(server, tmp_path, unique("member"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        assert "Pending" not in screen_text(app)
        await pilot.press("f4")
        await pilot.pause(0.2)
        assert app.screen is screen
