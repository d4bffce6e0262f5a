"""Moderation in the full-screen client: slash commands, member-list keys, events.

The server decides who may do what; these only ask (a member gets the
server's ``forbidden`` as an error line). Moderation events, which only
moderators receive, show as warning lines in the conversation on screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from roost.client import Moderation
from roost.client.chat_commands import MODERATION_COMMANDS, ChatCommand
from roost.client.moderation import result_text
from roost.tui.api import ChatApi
from roost.tui.commands import Command, usage_args
from roost.tui.extensions import EXTENSIONS, MemberAction, ScreenEntry
from roost.tui.screens.confirm import ConfirmScreen
from roost.tui.screens.pending import PendingScreen
from roost.tui.session import ChatSession, Update


def _runner(command: ChatCommand) -> Callable[[ChatApi, list[str]], Awaitable[None]]:
    async def run(ctx: ChatApi, args: list[str]) -> None:
        for line in await command.run(ctx.session.client, " ".join(args).split()):
            ctx.show(line)

    return run


def _staff_on_other(session: ChatSession, user: str) -> bool:
    return _is_staff(session) and user != session.me


def _is_staff(session: ChatSession) -> bool:
    return session.role in ("moderator", "admin")


def _acting(verb: str) -> Callable[[ChatApi, str], Coroutine[Any, Any, None]]:
    """A member-list key: a confirmation dialog first; Escape there does nothing."""

    async def run(api: ChatApi, user: str) -> None:
        timed = verb in ("block", "mute")
        answer = await api.ask(
            ConfirmScreen(f"{verb.capitalize()} {user}?", verb=verb.capitalize(), duration=timed)
        )
        if answer is None:
            return
        client = api.session.client
        if timed:
            result = await getattr(client, verb)(user, answer.duration, answer.reason)
        else:
            result = await client.kick(user, answer.reason)
        api.show(result_text(result))

    return run


def _on_moderation(session: ChatSession, ev: Moderation) -> None:
    session.info(f"[mod] {ev.entry.text}", level="warning")
    # Lets open screens (the admission queue) follow what moderators do.
    session.emit(Update(kind="moderation", event=ev))


def install() -> None:
    for command in MODERATION_COMMANDS:
        EXTENSIONS.commands.add(
            Command(command.name, usage_args(command.usage), command.help, _runner(command))
        )
    for key, verb, what in (
        ("b", "block", "block the member, after a confirmation (moderators)"),
        ("k", "kick", "end the member's sessions, after a confirmation (moderators)"),
        ("u", "mute", "mute the member, after a confirmation (moderators)"),
    ):
        EXTENSIONS.add_member_action(MemberAction(key, verb, what, _acting(verb), _staff_on_other))
    EXTENSIONS.on_session(lambda session: session.on(Moderation, _on_moderation))
    EXTENSIONS.add_screen(
        ScreenEntry(
            "f4",
            "pending",
            "newcomers waiting for admission: admit, refuse, block (moderators)",
            PendingScreen,
            _is_staff,
        )
    )


install()
