"""Moderation slash commands of the line chat client (mixed into LineChat)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from roost.cli.common import parse_priority
from roost.client.moderation import audit_text, pending_text, result_text, sanction_text
from roost.protocol.durations import split_duration

if TYPE_CHECKING:
    from roost.client import Client

Command = Callable[[list[str]], Awaitable[bool]]


def _split(args: list[str], usage: str, least: int) -> list[str]:
    words = " ".join(args).split()
    if len(words) < least:
        raise _Usage(usage)
    return words


class _Usage(Exception):
    pass


class ModerationCommands:
    """/block, /unblock, /kick, /mute, /unmute, /priority, /blocks, /pending, /admit, ..."""

    client: Client
    out: Callable[[str], None]

    def moderation_commands(self) -> dict[str, Command]:
        table: dict[str, tuple[Callable[[list[str]], Awaitable[None]], str, int]] = {
            "block": (self._block, "/block NAME [DURATION] [REASON]", 1),
            "unblock": (self._unblock, "/unblock NAME", 1),
            "kick": (self._kick, "/kick NAME [REASON]", 1),
            "mute": (self._mute, "/mute NAME [DURATION] [REASON]", 1),
            "unmute": (self._unmute, "/unmute NAME", 1),
            "priority": (self._priority, "/priority NAME LEVEL", 2),
            "blocks": (self._blocks, "/blocks", 0),
            "pending": (self._pending, "/pending", 0),
            "admit": (self._admit, "/admit NAME [LEVEL]", 1),
            "refuse": (self._refuse, "/refuse NAME [REASON]", 1),
            "ban": (self._ban, "/ban ADDRESS [DURATION] [REASON]", 1),
            "unban": (self._unban, "/unban ADDRESS", 1),
            "audit": (self._audit, "/audit [N]", 0),
        }
        return {name: self._wrap(fn, usage, least) for name, (fn, usage, least) in table.items()}

    def _wrap(self, fn: Callable[[list[str]], Awaitable[None]], usage: str, least: int) -> Command:
        async def run(args: list[str]) -> bool:
            try:
                await fn(_split(args, usage, least))
            except _Usage:
                self.out(f"! usage: {usage}")
            return True

        return run

    async def _block(self, w: list[str]) -> None:
        duration, reason = split_duration(w[1:])
        self.out("* " + result_text(await self.client.block(w[0], duration, reason)))

    async def _unblock(self, w: list[str]) -> None:
        self.out("* " + result_text(await self.client.unblock(w[0])))

    async def _kick(self, w: list[str]) -> None:
        self.out("* " + result_text(await self.client.kick(w[0], " ".join(w[1:]))))

    async def _mute(self, w: list[str]) -> None:
        duration, reason = split_duration(w[1:])
        self.out("* " + result_text(await self.client.mute(w[0], duration, reason)))

    async def _unmute(self, w: list[str]) -> None:
        self.out("* " + result_text(await self.client.unmute(w[0])))

    async def _priority(self, w: list[str]) -> None:
        level = parse_priority(w[1])
        assert level is not None
        self.out("* " + result_text(await self.client.set_priority(w[0], level)))

    async def _blocks(self, w: list[str]) -> None:
        found = await self.client.blocks()
        for s in found:
            self.out("* " + sanction_text(s))
        if not found:
            self.out("* no blocks, mutes or bans")

    async def _pending(self, w: list[str]) -> None:
        waiting = await self.client.pending()
        for p in waiting:
            self.out("* " + pending_text(p))
        if not waiting:
            self.out("* nobody waits for admission")

    async def _admit(self, w: list[str]) -> None:
        level = parse_priority(w[1]) if len(w) > 1 else None
        self.out("* " + result_text(await self.client.admit(w[0], level)))

    async def _refuse(self, w: list[str]) -> None:
        self.out("* " + result_text(await self.client.refuse(w[0], " ".join(w[1:]))))

    async def _ban(self, w: list[str]) -> None:
        duration, reason = split_duration(w[1:])
        self.out("* " + result_text(await self.client.ban_address(w[0], duration, reason)))

    async def _unban(self, w: list[str]) -> None:
        self.out("* " + result_text(await self.client.unban_address(w[0])))

    async def _audit(self, w: list[str]) -> None:
        count = int(w[0]) if w and w[0].isdigit() else 20
        for e in await self.client.audit(count):
            self.out("* " + audit_text(e))
