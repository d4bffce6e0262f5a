"""The Textual client driven by its pilot against a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from conftest import run_cli
from helpers import PASSWORD, logged_in, next_event, unique
from roost.client import Message
from roost.tui import RoostApp
from roost.tui.config import ClientConfig
from roost.tui.screens.chat import ChatScreen
from roost.tui.screens.help import HelpScreen
from roost.tui.screens.login import LoginScreen
from roost.tui.widgets.composer import Composer
from roost.tui.widgets.lists import ConversationList, MemberList
from roost.tui.widgets.messages import InfoLine, MessageLine
from tui_helpers import screen_text, wait_until

SIZE = (80, 24)


def chat_app(server: Any, tmp_path: Path, user: str, **kwargs: Any) -> RoostApp:
    """An app that logs ``user`` in by itself (registering the account)."""
    kwargs.setdefault("register", True)
    return RoostApp(
        server=server.address,
        user=user,
        password=PASSWORD,
        config_path=tmp_path / "config",
        **kwargs,
    )


async def chat_screen(pilot: Any) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen))
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await wait_until(pilot, lambda: screen.current is not None)
    return screen


def texts(screen: ChatScreen, key: str | None = None) -> list[str]:
    """Message texts in a conversation's view, top to bottom."""
    view = screen.views[key or screen.current or ""]
    return [w.message.text for w in view.query(MessageLine)]


def infos(screen: ChatScreen) -> list[str]:
    return [w.text for w in screen.views[screen.current or ""].query(InfoLine)]


async def type_line(pilot: Any, text: str) -> None:
    """Put ``text`` in the focused input and press Enter.

    Each simulated key costs the pilot tens of milliseconds, so text goes in at once;
    the keys that matter (Enter, Tab, Ctrl+J, Up) are pressed for real.
    """
    focused = pilot.app.focused
    if isinstance(focused, Composer):
        focused.insert(text)
    elif isinstance(focused, Input):
        focused.insert_text_at_cursor(text)
    else:
        await pilot.press(*text)
    await pilot.press("enter")


async def test_login_screen_registers_remembers_and_chats(server, tmp_path) -> None:
    config = tmp_path / "config"
    alice = unique("alice")
    app = RoostApp(server=server.address, config_path=config)
    async with logged_in(server, unique("bob")) as bob:
        await bob.follow("general")
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(app.screen, LoginScreen)
            assert app.screen.query_one("#server", Input).value == server.address
            assert app.focused is app.screen.query_one("#user", Input)
            await type_line(pilot, alice)  # Enter moves on to the password
            await pilot.press(*PASSWORD)
            await pilot.click("#register")
            await pilot.click("#login")
            screen = await chat_screen(pilot)
            assert screen.current == "general"
            assert isinstance(app.focused, Composer)

            await type_line(pilot, "hello from the tui")
            got = await next_event(bob, Message, sender=alice)
            assert got.text == "hello from the tui" and got.room == "general"
            await wait_until(pilot, lambda: "hello from the tui" in texts(screen))

            await bob.send("general", "hi there")
            await wait_until(pilot, lambda: "hi there" in texts(screen))
            assert texts(screen)[-2:] == ["hello from the tui", "hi there"]
            await wait_until(pilot, lambda: "hi there" in screen_text(app))

    remembered = ClientConfig.load(config)
    assert (remembered.server, remembered.user) == (server.address, alice)
    assert PASSWORD not in (config / "client.toml").read_text()

    # Next time the form is filled in from the config file; only the password is asked.
    again = RoostApp(config_path=config)
    async with again.run_test(size=SIZE) as pilot:
        login = again.screen
        assert isinstance(login, LoginScreen)
        assert login.query_one("#server", Input).value == server.address
        assert login.query_one("#user", Input).value == alice
        assert again.focused is login.query_one("#password", Input)
        await type_line(pilot, PASSWORD)
        screen = await chat_screen(pilot)
        assert screen.session.me == alice


async def test_login_errors_are_shown_on_the_form(server, tmp_path) -> None:
    name = unique("carol")
    async with logged_in(server, name):
        pass
    app = RoostApp(server=server.address, user=name, config_path=tmp_path / "c")
    async with app.run_test(size=SIZE) as pilot:
        await type_line(pilot, "wrong password")
        error = app.screen.query_one("#login-error", Static)
        await wait_until(pilot, lambda: "wrong password" in str(error.render()))
        assert "auth_failed" in str(error.render())
        assert isinstance(app.screen, LoginScreen)

        server_input = app.screen.query_one("#server", Input)
        server_input.value = "127.0.0.1:notaport"
        await pilot.click("#login")
        await wait_until(pilot, lambda: "HOST:PORT" in str(error.render()))

        server.stop()
        server_input.value = server.address
        await pilot.click("#login")
        await wait_until(pilot, lambda: "cannot reach" in str(error.render()))
        assert "roost serve" in str(error.render())
    assert not (tmp_path / "c" / "client.toml").exists()


def unread(screen: ChatScreen, key: str) -> int:
    return screen.session.model.conversations[key].unread


def list_text(screen: ChatScreen) -> list[str]:
    """The conversation list as shown, one entry per line."""
    conversations = screen.query_one(ConversationList)
    return [str(o.prompt) for o in conversations.options]


async def test_switch_rooms_with_unread_counts(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    app = chat_app(server, tmp_path, alice)
    async with logged_in(server, bob) as b, app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        await type_line(pilot, "/join dev")
        await wait_until(pilot, lambda: screen.current == "dev")
        await b.follow("dev")
        # Back to general; what arrives in dev and from bob directly counts as unread.
        await pilot.press("ctrl+p")
        assert screen.current == "general"
        for i in range(3):
            await b.send("dev", f"dev news {i}")
        await b.send("@" + alice, "psst")
        dm = screen.session.model.direct_key(bob)
        await wait_until(pilot, lambda: dm in screen.session.model.conversations)
        await wait_until(pilot, lambda: unread(screen, "dev") == 3 and unread(screen, dm) == 1)
        await wait_until(pilot, lambda: any(t.startswith("#dev") for t in list_text(screen)))
        shown = list_text(screen)
        assert shown[0].startswith("#dev") and shown[0].rstrip().endswith("3")
        assert shown[1].startswith("#general") and shown[1].rstrip() == "#general"
        assert shown[2].startswith("@" + bob) and shown[2].rstrip().endswith("1")

        # Opening a conversation shows its messages and clears its count.
        await pilot.press("ctrl+p")
        assert screen.current == "dev"
        await wait_until(pilot, lambda: texts(screen)[-3:] == [f"dev news {i}" for i in range(3)])
        assert unread(screen, "dev") == 0 and list_text(screen)[0].rstrip() == "#dev"
        assert f"{bob} joined #dev" in infos(screen)
        assert [m.user for m in screen.session.model.members["dev"]] == sorted([alice, bob])
        assert str(screen.query_one("#title", Static).content).startswith("#dev")

        # Clicking the direct conversation in the list opens it.
        conversations = screen.query_one(ConversationList)
        conversations.focus()
        conversations.highlighted = 2
        await pilot.press("enter")
        assert screen.current == dm
        await wait_until(pilot, lambda: texts(screen) == ["psst"])
        assert unread(screen, dm) == 0
        assert isinstance(app.focused, Composer)
        await type_line(pilot, "psst back")
        got = await next_event(b, Message, sender=alice)
        assert (got.room, got.text) == (dm, "psst back")


async def test_scrolling_up_loads_older_history(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    total = 130
    async with logged_in(server, bob) as b:
        await b.follow("archive")
        for i in range(1, total + 1):
            await b.send("archive", f"old message {i}")
    app = chat_app(server, tmp_path, alice, room="archive")
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        view = screen.views["archive"]
        await wait_until(pilot, lambda: len(view.shown) >= 50)
        assert texts(screen)[-1] == f"old message {total}"
        assert len(view.shown) < total and 1 not in view.shown
        first_seen = view.shown[0]

        # PageUp from the input line scrolls the view; at the top, older pages load.
        for _ in range(40):
            if view.complete:
                break
            await pilot.press("pageup")
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: view.complete)
        assert view.shown == list(range(1, total + 1))
        assert texts(screen)[0] == "old message 1" and first_seen > 1
        # Loading older pages kept the reader's place instead of jumping to the end.
        assert not view.following and view.scroll_y > 0
        for _ in range(10):
            if view.scroll_y == 0:
                break
            await pilot.press("pageup")
        await wait_until(pilot, lambda: "start of the conversation" in screen_text(app))
        assert "bob" in screen_text(app) and "old message 1 " in screen_text(app)


async def test_slash_commands_and_completion(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    async with logged_in(server, bob) as b:
        await b.follow("random-talk")
        app = chat_app(server, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            composer = screen.query_one(Composer)
            await wait_until(pilot, lambda: "random-talk" in screen.session.model.rooms)

            await pilot.press("/", "j", "o", "tab")
            assert composer.text == "/join "
            await pilot.press("r", "a", "n", "tab")
            assert composer.text == "/join random-talk "
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.current == "random-talk")
            assert composer.text == ""
            await wait_until(pilot, lambda: "joined #random-talk" in infos(screen))

            # Several candidates: the common part, the choices in the hint, then cycling.
            await pilot.press("/", "l", "tab")
            hint = screen.query_one("#hint", Static)
            assert hint.display and str(hint.content) == "/leave  /low"
            assert composer.text == "/leave "
            await pilot.press("tab")
            assert composer.text == "/low "
            await pilot.press("tab")
            assert composer.text == "/leave "
            composer.clear()

            await pilot.press("/", "w", "h", "o", "enter")
            await wait_until(
                pilot, lambda: any(t.startswith("#random-talk: 2 members") for t in infos(screen))
            )
            assert screen.query_one(MemberList).option_count == 2

            # A user name completes in text; /msg opens the direct conversation.
            await pilot.press(*bob[:3], "tab")
            assert composer.text == f"{bob}: "
            composer.clear()
            composer.insert(f"/msg {bob[:3]}")
            await pilot.press("tab")
            await type_line(pilot, "a word")
            dm = screen.session.model.direct_key(bob)
            await wait_until(pilot, lambda: screen.current == dm)
            got = await next_event(b, Message, room=dm)
            assert got.text == "a word"

            await type_line(pilot, "//slash stays")
            got = await next_event(b, Message, room=dm)
            assert got.text == "/slash stays"

            await type_line(pilot, "/nonsense")
            await wait_until(
                pilot, lambda: any("unknown command /nonsense" in t for t in infos(screen))
            )
            await type_line(pilot, "/join")
            await wait_until(pilot, lambda: "usage: /join ROOM" in infos(screen))
            await type_line(pilot, "/leave random-talk")
            await wait_until(pilot, lambda: "random-talk" not in screen.session.model.conversations)
            assert not any(str(t).startswith("#random-talk") for t in list_text(screen))
            # Leaving the room on screen shows another conversation.
            await type_line(pilot, "/join scratch")
            await wait_until(pilot, lambda: screen.current == "scratch")
            await type_line(pilot, "/leave")
            await wait_until(pilot, lambda: screen.current not in (None, "scratch"))
            assert "scratch" not in screen.session.model.conversations
            await wait_until(pilot, lambda: "left #scratch" in infos(screen))
            await type_line(pilot, "/quit")
            await wait_until(pilot, lambda: app.return_code is not None or not app.is_running)


async def test_status_line_follows_a_server_restart(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    async with logged_in(server, bob):
        pass
    app = chat_app(server, tmp_path, alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        status = screen.query_one("#status")
        states: list[str] = []
        screen.session.subscribe(
            lambda u: states.append(u.state) if u.kind == "connection" else None
        )
        assert "● connected" in screen_text(app)

        server.restart()
        await wait_until(pilot, lambda: states[-1:] == ["connected"], timeout=20)
        assert "reconnecting" in states
        assert "reconnected to" in status.detail  # type: ignore[attr-defined]
        assert f"reconnected to {server.address}" in screen_text(app)
        assert any("connection lost; reconnecting" in t for t in infos(screen))

        # The session resumed: messages flow both ways again.
        async with logged_in(server, bob, register=False) as b:
            await b.follow("general")
            await b.send("general", "after the restart")
            await wait_until(pilot, lambda: "after the restart" in texts(screen))
            await type_line(pilot, "still here")
            got = await next_event(b, Message, sender=alice)
            assert got.text == "still here"


async def test_multiline_input_and_recall(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    async with logged_in(server, bob) as b:
        await b.follow("general")
        app = chat_app(server, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            composer = screen.query_one(Composer)
            composer.insert("first line")
            await pilot.press("ctrl+j")
            composer.insert("second line")
            assert composer.text == "first line\nsecond line"
            await pilot.press("enter")
            got = await next_event(b, Message, sender=alice)
            assert got.text == "first line\nsecond line"
            await type_line(pilot, "one more")
            await next_event(b, Message, sender=alice, text="one more")

            composer.insert("draft")
            await pilot.press("up")
            assert composer.text == "one more"
            await pilot.press("up")
            assert composer.text == "first line\nsecond line"
            assert composer.cursor_location[0] == 1
            await pilot.press("up")  # within a recalled text, Up moves between its lines
            assert composer.cursor_location[0] == 0
            assert composer.text == "first line\nsecond line"
            await pilot.press("up")  # nothing older
            assert composer.text == "first line\nsecond line"
            await pilot.press("down", "down")  # to the last line, then to the next entry
            assert composer.text == "one more"
            await pilot.press("down")
            assert composer.text == "draft"
            await wait_until(pilot, lambda: "second line" in screen_text(app))


async def test_urgent_messages_stand_out_and_ring(server, tmp_path) -> None:
    alice, boss = unique("alice"), unique("boss")
    made = run_cli("user", "add", boss, "--priority", "urgent", "--data-dir", str(server.data_dir))
    assert made.returncode == 0, made.stderr
    app = chat_app(server, tmp_path, alice)
    async with logged_in(server, boss, register=False) as b, app.run_test(size=SIZE) as pilot:
        await b.follow("general")
        await b.follow("ops")
        screen = await chat_screen(pilot)
        await b.send("general", "fire drill", 0)
        await wait_until(pilot, lambda: "fire drill" in texts(screen))
        line = [w for w in screen.views["general"].query(MessageLine)][-1]
        assert line.has_class("urgent") and line.message.priority == 0
        assert app.bells == 1
        await wait_until(pilot, lambda: "!! " + boss in screen_text(app))
        await b.send("general", "just chatting", 2)
        await wait_until(pilot, lambda: "just chatting" in texts(screen))
        assert app.bells == 1

        # Elsewhere, an urgent message also pops up and marks the unread count.
        await type_line(pilot, "/join ops")
        await wait_until(pilot, lambda: screen.current == "ops")
        await pilot.press("ctrl+n")  # back to general
        await b.send("ops", "servers down", 0)
        await wait_until(pilot, lambda: app.bells == 2)
        assert screen.session.model.conversations["ops"].urgent == 1
        await wait_until(
            pilot, lambda: any("servers down" in n.message for n in app._notifications)
        )


async def test_urgent_from_a_normal_account_says_it_was_lowered(server, tmp_path) -> None:
    app = chat_app(server, tmp_path, unique("alice"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        await type_line(pilot, "/urgent is anyone there")
        await wait_until(pilot, lambda: "is anyone there" in texts(screen))
        line = [w for w in screen.views["general"].query(MessageLine)][-1]
        assert line.message.priority == 2 and not line.has_class("urgent")
        await wait_until(
            pilot,
            lambda: (
                "sent as normal, not urgent: your account's level is normal" in infos(screen)[-1]
                if infos(screen)
                else False
            ),
        )


async def test_help_on_f1_and_question_mark(server, tmp_path) -> None:
    app = chat_app(server, tmp_path, unique("alice"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Ctrl+J" in text and "complete a /command" in text
        await pilot.press("end")
        await wait_until(pilot, lambda: "/who [ROOM]" in screen_text(app))
        await pilot.press("escape")
        assert app.screen is screen
        # "?" types a question mark in the input; elsewhere it opens the help.
        await pilot.press("?")
        assert screen.query_one(Composer).text == "?"
        screen.query_one(ConversationList).focus()
        await pilot.press("?")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        assert app.screen is screen
        await pilot.press("escape")  # back to the input
        composer = screen.query_one(Composer)
        assert composer.has_focus
        composer.clear()
        await type_line(pilot, "/help")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_member_list_shows_presence_roles_and_acts(server, tmp_path) -> None:
    alice, bob, root = unique("alice"), unique("bob"), unique("root")
    made = run_cli("user", "add", root, "--admin", "--data-dir", str(server.data_dir))
    assert made.returncode == 0, made.stderr
    async with logged_in(server, root, register=False) as r:
        await r.follow("general")
    async with logged_in(server, bob):
        pass
    app = chat_app(server, tmp_path, alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        members = screen.query_one(MemberList)
        await wait_until(pilot, lambda: members.option_count == 3)
        text = screen_text(app)
        assert f"● {alice}" in text and f"○ {bob}" in text and f"○ {root} admin" in text
        assert members.border_title == "Members 1/3"

        async with logged_in(server, bob, register=False):
            await wait_until(pilot, lambda: f"● {bob}" in screen_text(app))
            assert members.border_title == "Members 2/3"
        await wait_until(pilot, lambda: f"○ {bob}" in screen_text(app))

        # A key on the member list acts on the highlighted member: m opens a conversation.
        members.focus()
        members.highlighted = [o.id for o in members.options].index(bob)
        await pilot.press("m")
        dm = screen.session.model.direct_key(bob)
        await wait_until(pilot, lambda: screen.current == dm)
        assert str(screen.query_one("#title", Static).content).startswith("@" + bob)
        # On yourself the action is refused (the bell rings instead).
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        assert screen.current == "general"
        members.focus()
        members.highlighted = [o.id for o in members.options].index(alice)
        await pilot.press("m")
        await pilot.pause()
        assert screen.current == "general"


async def test_room_browser_joins_a_room(server, tmp_path) -> None:
    async with logged_in(server, unique("bob")) as b:
        await b.follow("lounge")
    app = chat_app(server, tmp_path, unique("alice"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        await pilot.press("f2")
        await wait_until(pilot, lambda: "#lounge" in screen_text(app))
        text = screen_text(app)
        assert "✓ #general" in text and "1 members" in text
        await pilot.press("down", "enter")  # general is first, lounge second
        await wait_until(pilot, lambda: screen.current == "lounge")
        assert "lounge" in screen.session.model.conversations
        assert app.screen is screen


async def test_unread_counts_survive_a_restart_of_the_app(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    async with logged_in(server, bob) as b:
        await b.follow("general")
        app = chat_app(server, tmp_path, alice)
        async with app.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            await b.send("general", "seen")
            await wait_until(pilot, lambda: "seen" in texts(screen))
            await pilot.press("ctrl+q")
        assert (tmp_path / "config" / "state.json").exists()
        for text in ("missed 1", "missed 2"):
            await b.send("general", text)
        await b.send("@" + alice, "missed dm")

        again = chat_app(server, tmp_path, alice, register=False, room="@" + bob)
        async with again.run_test(size=SIZE) as pilot:
            screen = await chat_screen(pilot)
            assert unread(screen, "general") == 2
            assert screen.current == screen.session.model.direct_key(bob)
            await wait_until(pilot, lambda: texts(screen) == ["missed dm"])
            assert list_text(screen)[0].rstrip().endswith("2")
            await pilot.press("ctrl+p")
            await wait_until(pilot, lambda: texts(screen)[-3:] == ["seen", "missed 1", "missed 2"])
            assert unread(screen, "general") == 0


async def test_a_new_direct_conversation_from_while_away_counts_as_unread(server, tmp_path) -> None:
    alice, bob = unique("alice"), unique("bob")
    app = chat_app(server, tmp_path, alice)
    async with app.run_test(size=SIZE) as pilot:
        await chat_screen(pilot)
        await pilot.press("ctrl+q")
    async with logged_in(server, bob) as b:
        await b.send("@" + alice, "are you there?")
        await b.send("@" + alice, "ping me when back")
    again = chat_app(server, tmp_path, alice, register=False)
    async with again.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        dm = screen.session.model.direct_key(bob)
        assert screen.current == "general"
        assert unread(screen, dm) == 2
        shown = [line.rstrip() for line in list_text(screen) if f"@{bob}" in line]
        assert shown and shown[0].endswith(" 2"), shown


async def test_a_session_that_ended_says_so(server, tmp_path) -> None:
    app = chat_app(server, tmp_path, unique("alice"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        await screen.session.client.close()  # as when the server ends the session for good
        await wait_until(pilot, lambda: "✖ disconnected" in screen_text(app))
        assert screen.query_one("#status").has_class("-closed")
        await type_line(pilot, "anyone?")
        await wait_until(pilot, lambda: any("session has ended" in t for t in infos(screen)))


async def test_a_bad_start_room_falls_back_to_general(server, tmp_path) -> None:
    app = chat_app(server, tmp_path, unique("alice"), room="no such room!")
    async with app.run_test(size=SIZE) as pilot:
        screen = await chat_screen(pilot)
        assert screen.current == "general"
        await wait_until(
            pilot, lambda: any("invalid room name" in n.message for n in app._notifications)
        )
