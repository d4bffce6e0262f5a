"""Slash commands: a registry that the input line, completion and help all read.

Extensions add commands with ``COMMANDS.add(Command(...))``; each command names
the kind of each argument so completion offers the right names.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import HIGH, LOW, URGENT
from roost.tui.api import ChatApi

# What an argument names, for completion: a room, a user, a room or @user, a command, or text.
ArgKind = Literal["room", "user", "conversation", "command", "text"]


@dataclass(frozen=True)
class Arg:
    name: str
    kind: ArgKind
    optional: bool = False
    rest: bool = False  # takes the rest of the line (only the last argument)


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[Arg, ...]
    help: str
    run: Callable[[ChatApi, list[str]], Awaitable[None]]
    aliases: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for a in self.args:
            parts.append(f"[{a.name}]" if a.optional else a.name)
        return " ".join(parts)

    def parse(self, text: str) -> list[str]:
        """Split the argument text; raises RoostError(bad_request) with the usage."""
        text = text.strip()
        if self.args and self.args[-1].rest:
            values = text.split(None, len(self.args) - 1) if text else []
        else:
            values = text.split()
        required = sum(1 for a in self.args if not a.optional)
        if len(values) < required or len(values) > len(self.args):
            raise RoostError(ErrorCode.BAD_REQUEST, f"usage: {self.usage}")
        return values


class CommandRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, Command] = {}
        self._commands: list[Command] = []

    def add(self, command: Command) -> Command:
        """Register a command (a later command with the same name replaces it)."""
        for name in (command.name, *command.aliases):
            old = self._by_name.get(name)
            if old is not None and old in self._commands:
                self._commands.remove(old)
            self._by_name[name] = command
        self._commands.append(command)
        return command

    def get(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def names(self) -> list[str]:
        """Every name a command answers to, aliases included, sorted."""
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[Command]:
        return iter(sorted(self._commands, key=lambda c: c.name))


# Words of a usage line that name something completion can offer; the rest is text.
_USAGE_KINDS: dict[str, ArgKind] = {"NAME": "user", "USER": "user", "ROOM": "room"}


def usage_args(usage: str) -> tuple[Arg, ...]:
    """The arguments of a usage line such as ``/edit SEQ TEXT`` or ``/kick NAME [REASON]``.

    ``[X]`` is optional; a last TEXT or REASON takes the rest of the line.
    """
    words = usage.split()[1:]
    out: list[Arg] = []
    for i, word in enumerate(words):
        name = word.strip("[]")
        last = i == len(words) - 1
        out.append(
            Arg(
                name,
                _USAGE_KINDS.get(name, "text"),
                optional=word.startswith("["),
                rest=last and name in ("TEXT", "REASON"),
            )
        )
    return tuple(out)


def split_command(line: str) -> tuple[str, str] | None:
    """``("join", "room")`` for ``/join room``; None for plain text (``//x`` sends ``/x``)."""
    if not line.startswith("/") or line.startswith("//"):
        return None
    name, _, rest = line[1:].partition(" ")
    return name.lower(), rest


async def run_command(ctx: ChatApi, line: str, registry: CommandRegistry) -> None:
    """Run one slash command line; errors are raised as RoostError for the caller to show."""
    parts = split_command(line)
    assert parts is not None
    name, rest = parts
    command = registry.get(name)
    if command is None:
        raise RoostError(ErrorCode.BAD_REQUEST, f"unknown command /{name}; /help lists them")
    await command.run(ctx, command.parse(rest))


# --- the built-in commands -------------------------------------------------------------


def _need_current(ctx: ChatApi) -> str:
    if ctx.current is None:
        raise RoostError(ErrorCode.BAD_REQUEST, "no conversation open; /join a room first")
    return ctx.current


async def cmd_join(ctx: ChatApi, args: list[str]) -> None:
    key = await ctx.session.join(args[0])
    ctx.switch_to(key)
    ctx.show(f"joined #{key}")


async def cmd_leave(ctx: ChatApi, args: list[str]) -> None:
    room = args[0] if args else _need_current(ctx)
    if room.startswith("@"):
        raise RoostError(ErrorCode.BAD_REQUEST, "direct conversations cannot be left")
    key = await ctx.session.leave(room)
    ctx.show(f"left #{key}")


async def cmd_msg(ctx: ChatApi, args: list[str]) -> None:
    key = await ctx.session.open_direct(args[0])
    if len(args) > 1:
        await ctx.session.send(key, args[1])
    ctx.switch_to(key)


async def cmd_go(ctx: ChatApi, args: list[str]) -> None:
    target = args[0]
    if target.startswith("@"):
        ctx.switch_to(await ctx.session.open_direct(target))
        return
    key = target.removeprefix("#").lower()
    if key not in ctx.session.model.conversations:
        raise RoostError(ErrorCode.NOT_A_MEMBER, f"you are not in #{key}; /join {key} first")
    ctx.switch_to(key)


async def cmd_who(ctx: ChatApi, args: list[str]) -> None:
    key = args[0].removeprefix("#").lower() if args else _need_current(ctx)
    if key.startswith("@"):
        members = ctx.session.model.members_of(key)
    else:
        members = await ctx.session.client.who(key)
        ctx.session.model.set_members(key, members)
    online = [m for m in members if m.online]
    listing = ", ".join(
        m.user
        + ("" if m.role == "member" else f" ({m.role})")
        + ("" if m.online else " [offline]")
        + (f" [away{': ' + m.reason if m.reason else ''}]" if m.online and m.away else "")
        for m in members
    )
    title = ctx.session.model.ensure(key).title if key in ctx.session.model.conversations else key
    ctx.show(f"{title}: {len(members)} members, {len(online)} online: {listing}")


async def cmd_rooms(ctx: ChatApi, args: list[str]) -> None:
    infos = await ctx.session.rooms()
    if not infos:
        ctx.show("no rooms yet; /join NAME creates one")
    for r in infos:
        mark = "*" if r.joined else " "
        ctx.show(f"{mark} #{r.name}  {r.members} members, {r.online} online")


def _send_with(priority: int) -> Callable[[ChatApi, list[str]], Awaitable[None]]:
    async def run(ctx: ChatApi, args: list[str]) -> None:
        await ctx.session.send(_need_current(ctx), args[0], priority)

    return run


async def cmd_ping(ctx: ChatApi, args: list[str]) -> None:
    seconds = await ctx.session.client.ping()
    ctx.show(f"pong from {ctx.session.address} in {seconds * 1000:.1f} ms")


async def cmd_away(ctx: ChatApi, args: list[str]) -> None:
    reason = args[0] if args else ""
    await ctx.session.set_away(reason)
    ctx.show(f"you are away{': ' + reason if reason else ''}; /back when you return")


async def cmd_back(ctx: ChatApi, args: list[str]) -> None:
    await ctx.session.back()
    ctx.show("you are back")


async def cmd_mentions(ctx: ChatApi, args: list[str]) -> None:
    """The mentions view: the newest messages that mention you, where and when."""
    found = await ctx.session.client.mentions(30)
    if not found:
        ctx.show("no one has mentioned you yet")
    model = ctx.session.model
    for m in found:
        where = model.ensure(m.room).title if m.room in model.conversations else m.room
        stamp = time.strftime("%m-%d %H:%M", time.localtime(m.ts))
        ctx.show(f"{stamp} {where} <{m.sender}> {m.text}")


async def cmd_unread(ctx: ChatApi, args: list[str]) -> None:
    rows = [c for c in await ctx.session.client.unread() if c.unread or c.mentions]
    if not rows:
        ctx.show("nothing unread")
    model = ctx.session.model
    for c in rows:
        where = model.ensure(c.room).title if c.room in model.conversations else c.room
        ctx.show(f"{where}: {c.unread} unread, {c.mentions} mentions")


async def cmd_help(ctx: ChatApi, args: list[str]) -> None:
    ctx.show_help()


async def cmd_quit(ctx: ChatApi, args: list[str]) -> None:
    ctx.quit()


COMMANDS = CommandRegistry()
for _command in (
    Command("join", (Arg("ROOM", "room"),), "join a room (created if new) and show it", cmd_join),
    Command(
        "leave",
        (Arg("ROOM", "room", optional=True),),
        "leave a room (the current one by default)",
        cmd_leave,
        aliases=("part",),
    ),
    Command(
        "msg",
        (Arg("USER", "user"), Arg("TEXT", "text", optional=True, rest=True)),
        "open a direct conversation with USER, sending TEXT if given",
        cmd_msg,
        aliases=("query",),
    ),
    Command(
        "go",
        (Arg("ROOM|@USER", "conversation"),),
        "switch to a room you are in or a direct conversation",
        cmd_go,
        aliases=("switch",),
    ),
    Command(
        "who",
        (Arg("ROOM", "room", optional=True),),
        "list the members of a room, with presence and roles",
        cmd_who,
    ),
    Command("rooms", (), "list every room on the server", cmd_rooms),
    Command(
        "urgent",
        (Arg("TEXT", "text", rest=True),),
        "send TEXT as urgent (if your level allows)",
        _send_with(URGENT),
    ),
    Command(
        "high", (Arg("TEXT", "text", rest=True),), "send TEXT with high priority", _send_with(HIGH)
    ),
    Command(
        "low", (Arg("TEXT", "text", rest=True),), "send TEXT with low priority", _send_with(LOW)
    ),
    Command("ping", (), "measure the round trip to the server", cmd_ping),
    Command(
        "away",
        (Arg("REASON", "text", optional=True, rest=True),),
        "mark yourself away (shown in who), with an optional reason",
        cmd_away,
    ),
    Command("back", (), "you are no longer away", cmd_back),
    Command("mentions", (), "list the messages that mention you (@name)", cmd_mentions),
    Command("unread", (), "unread messages and mentions per conversation", cmd_unread),
    Command("help", (), "show keys and commands", cmd_help, aliases=("?",)),
    Command("quit", (), "log out and leave the app", cmd_quit, aliases=("exit",)),
):
    COMMANDS.add(_command)
