"""`roost chat --plain`: a line client whose incoming messages never garble the typed line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from roost.cli.client_cmds import format_message
from roost.cli.common import make_client, run_async
from roost.cli.line_moderation import ModerationCommands
from roost.client import (
    Admitted,
    Client,
    ConnectionState,
    Joined,
    Left,
    Message,
    Moderation,
    Presence,
    RoostError,
)
from roost.protocol.messages import Bye, Gap, Notice

HELP = (
    "commands: /join ROOM, /leave [ROOM], /msg USER TEXT, /who [ROOM], /rooms, "
    "/room ROOM (switch), /history [N], /quit; anything else goes to the current room. "
    "Moderators: /block NAME [DURATION] [REASON], /unblock NAME, /kick NAME [REASON], "
    "/mute NAME [DURATION] [REASON], /unmute NAME, /priority NAME LEVEL, /blocks, /pending, "
    "/admit NAME [LEVEL], /refuse NAME [REASON], /ban ADDRESS [DURATION] [REASON], "
    "/unban ADDRESS, /audit [N]"
)


class LineChat(ModerationCommands):
    """State of one line-chat session: the client and the current conversation."""

    def __init__(self, client: Client, room: str, out: Callable[[str], None]) -> None:
        self.client = client
        self.room = room
        self.out = out
        self.commands: dict[str, Callable[[list[str]], Awaitable[bool]]] = {
            "join": self.cmd_join,
            "leave": self.cmd_leave,
            "part": self.cmd_leave,
            "msg": self.cmd_msg,
            "who": self.cmd_who,
            "rooms": self.cmd_rooms,
            "room": self.cmd_room,
            "history": self.cmd_history,
            "help": self.cmd_help,
            "quit": self.cmd_quit,
            "exit": self.cmd_quit,
            **self.moderation_commands(),
        }

    async def handle(self, line: str) -> bool:
        """Run one input line; False when the user wants to quit."""
        line = line.rstrip("\n")
        if not line.strip():
            return True
        try:
            if line.startswith("/") and not line.startswith("//"):
                name, *args = line[1:].split(" ", 2)
                cmd = self.commands.get(name.lower())
                if cmd is None:
                    self.out(f"! unknown command /{name}; {HELP}")
                    return True
                return await cmd([a for a in args])
            await self.client.send(self.room, line.removeprefix("/"))
        except RoostError as exc:
            self.out(f"! {exc.message}")
        return True

    async def cmd_join(self, args: list[str]) -> bool:
        if not args:
            self.out("! usage: /join ROOM")
            return True
        key = await self.client.follow(args[0])
        self.room = key
        self.out(f"* joined #{key}; messages now go there")
        return True

    async def cmd_leave(self, args: list[str]) -> bool:
        room = args[0] if args else self.room
        await self.client.leave(room)
        self.out(f"* left #{room.lstrip('#')}")
        if room.lstrip("#") == self.room:
            self.room = "general"
        return True

    async def cmd_msg(self, args: list[str]) -> bool:
        if len(args) < 2:
            self.out("! usage: /msg USER TEXT")
            return True
        await self.client.send("@" + args[0].lstrip("@"), args[1])
        return True

    async def cmd_who(self, args: list[str]) -> bool:
        room = args[0] if args else self.room
        members = await self.client.who(room)
        listing = ", ".join(f"{m.user}{'' if m.online else ' (away)'}" for m in members)
        self.out(f"* #{room.lstrip('#')}: {listing}")
        return True

    async def cmd_rooms(self, args: list[str]) -> bool:
        for r in await self.client.rooms():
            mark = "*" if r.joined else " "
            self.out(f"{mark} #{r.name}  {r.members} members, {r.online} online")
        return True

    async def cmd_room(self, args: list[str]) -> bool:
        if args:
            self.room = args[0].lstrip("#")
        self.out(f"* current room: #{self.room}")
        return True

    async def cmd_history(self, args: list[str]) -> bool:
        count = int(args[0]) if args and args[0].isdigit() else 20
        for m in await self.client.latest(self.room, count):
            self.out(format_message(m, self.client.user or ""))
        return True

    async def cmd_help(self, args: list[str]) -> bool:
        self.out(HELP)
        return True

    async def cmd_quit(self, args: list[str]) -> bool:
        return False

    def render(self, ev: Any) -> str | None:
        me = self.client.user or ""
        if isinstance(ev, Message):
            return format_message(ev, me)
        if isinstance(ev, Presence):
            return f"* {ev.user} is {'online' if ev.online else 'offline'}"
        if isinstance(ev, Joined):
            return f"* {ev.user} joined #{ev.room}"
        if isinstance(ev, Left):
            return f"* {ev.user} left #{ev.room}"
        if isinstance(ev, Notice):
            return f"* {ev.text}"
        if isinstance(ev, Moderation):
            return f"* [mod] {ev.entry.text}"
        if isinstance(ev, Admitted):
            return None  # the server's welcome notice says it
        if isinstance(ev, Bye):
            return f"* disconnected: {ev.reason}"
        if isinstance(ev, ConnectionState):
            return f"* {ev.state}{': ' + ev.detail if ev.detail else ''}"
        if isinstance(ev, Gap):
            return None
        text = getattr(ev, "text", None)
        return f"* {text}" if text else None


def run_line_chat(server: str, user: str | None, register: bool, room: str) -> None:
    _line_chat(server, user, register, room)


@run_async
async def _line_chat(server: str, user: str | None, register: bool, room: str) -> None:
    client = make_client(server, user, register)
    async with client:
        if client.pending_admission:
            print("* your account waits for a moderator to admit it; please stay", flush=True)
            await client.wait_admitted()
            print("* admitted: welcome", flush=True)
        key = await client.follow(room)
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        chat = LineChat(client, key, _printer())
        chat.out(f"* logged in as {client.user}; in #{key}. /help for commands")
        events = asyncio.create_task(_pump(client, chat))
        try:
            if interactive:
                await _prompt_loop(chat)
            else:
                await _stdin_loop(chat)
        finally:
            events.cancel()


def _printer() -> Callable[[str], None]:
    def out(text: str) -> None:
        print(text, flush=True)

    return out


async def _pump(client: Client, chat: LineChat) -> None:
    async for ev in client.events():
        text = chat.render(ev)
        if text:
            chat.out(text)


async def _prompt_loop(chat: LineChat) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.patch_stdout import patch_stdout

    session: PromptSession[str] = PromptSession()
    with patch_stdout(raw=True):
        while True:
            try:
                line = await session.prompt_async(lambda: f"#{chat.room}> ")
            except (EOFError, KeyboardInterrupt):
                return
            if not await chat.handle(line):
                return


async def _stdin_loop(chat: LineChat) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            # End of input: give the last messages a moment to be acknowledged and shown.
            await asyncio.sleep(0.2)
            return
        if not await chat.handle(line):
            return


__all__ = ["LineChat", "click", "run_line_chat"]
