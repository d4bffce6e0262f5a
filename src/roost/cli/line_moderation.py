"""Moderation slash commands of the line chat client (mixed into LineChat)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from roost.client.chat_commands import MODERATION_COMMANDS, ChatCommand

if TYPE_CHECKING:
    from roost.client import Client

Command = Callable[[list[str]], Awaitable[bool]]


class ModerationCommands:
    """/block, /unblock, /kick, /mute, ... (roost.client.chat_commands)."""

    client: Client
    out: Callable[[str], None]

    def moderation_commands(self) -> dict[str, Command]:
        return {c.name: self._wrap(c) for c in MODERATION_COMMANDS}

    def _wrap(self, command: ChatCommand) -> Command:
        async def run(args: list[str]) -> bool:
            words = " ".join(args).split()
            if len(words) < command.least:
                self.out(f"! usage: {command.usage}")
                return True
            for line in await command.run(self.client, words):
                self.out("* " + line)
            return True

        return run
