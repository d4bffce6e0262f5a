"""/edit, /delete, /react, /unreact and /reply in the full-screen client.

The commands are the ones every chat client shares
(:mod:`roost.client.edit_commands`), run on the conversation on screen with
the session's :class:`~roost.client.edits.MessageBook`, so ``last`` and
``-2`` mean what the user sees. What they change comes back from the server
as events, which the message view folds into the message they are about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from roost.client.edit_commands import EDIT_COMMANDS, EditCommand
from roost.protocol.errors import ErrorCode, RoostError
from roost.tui.api import ChatApi
from roost.tui.commands import Command, usage_args
from roost.tui.extensions import EXTENSIONS


def runner(command: EditCommand) -> Callable[[ChatApi, list[str]], Awaitable[None]]:
    """Run a shared conversation command on the conversation on screen."""

    async def run(ctx: ChatApi, args: list[str]) -> None:
        if ctx.current is None:
            raise RoostError(ErrorCode.BAD_REQUEST, "no conversation open; /join a room first")
        words = " ".join(args).split()
        session = ctx.session
        for line in await command.run(session.client, session.book, ctx.current, words):
            ctx.show(line)

    return run


def install(commands: Iterable[EditCommand]) -> None:
    """Register shared conversation commands as slash commands of the full-screen client."""
    for command in commands:
        EXTENSIONS.commands.add(
            Command(command.name, usage_args(command.usage), command.help, runner(command))
        )


install(EDIT_COMMANDS)
