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
from roost.tui.commands import Arg, ArgKind, Command
from roost.tui.extensions import EXTENSIONS, MemberAction
from roost.tui.session import ChatSession


def _args(usage: str) -> tuple[Arg, ...]:
    """Completion hints from a usage line: NAME completes users; the rest is text."""
    words = usage.split()[1:]
    out: list[Arg] = []
    for i, word in enumerate(words):
        optional = word.startswith("[")
        name = word.strip("[]")
        kind: ArgKind = "user" if name == "NAME" else "text"
        last = i == len(words) - 1
        out.append(Arg(name, kind, optional=optional, rest=last and name == "REASON"))
    return tuple(out)


def _runner(command: ChatCommand) -> Callable[[ChatApi, list[str]], Awaitable[None]]:
    async def run(ctx: ChatApi, args: list[str]) -> None:
        for line in await command.run(ctx.session.client, " ".join(args).split()):
            ctx.show(line)

    return run


def _staff_on_other(session: ChatSession, user: str) -> bool:
    return session.role in ("moderator", "admin") and user != session.me


def _acting(verb: str) -> Callable[[ChatApi, str], Coroutine[Any, Any, None]]:
    async def run(api: ChatApi, user: str) -> None:
        api.show(result_text(await getattr(api.session.client, verb)(user)))

    return run


def _on_moderation(session: ChatSession, ev: Moderation) -> None:
    session.info(f"[mod] {ev.entry.text}", level="warning")


def install() -> None:
    for command in MODERATION_COMMANDS:
        EXTENSIONS.commands.add(
            Command(command.name, _args(command.usage), command.help, _runner(command))
        )
    for key, verb, what in (
        ("b", "block", "block the member until unblocked (moderators)"),
        ("k", "kick", "end the member's sessions (moderators)"),
        ("u", "mute", "mute the member until unmuted (moderators)"),
    ):
        EXTENSIONS.add_member_action(MemberAction(key, verb, what, _acting(verb), _staff_on_other))
    EXTENSIONS.on_session(lambda session: session.on(Moderation, _on_moderation))


install()
