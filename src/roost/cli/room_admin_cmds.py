"""`roost room ...`: a room's topic and privacy, invitations, room roles, room kicks and mutes.

Who may do what is the server's decision (docs/rooms.md); a refusal prints
the reason and exits with status 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import click

from roost.cli.admin import call, for_option, json_option, reason_option, show
from roost.cli.common import client_options, emit_json, fail, run_async
from roost.client import Client, RoomInfo
from roost.protocol.display import visible


@click.group()
def room() -> None:
    """Settings and moderation of one room: topic, private, invite, role, kick, mute, delete."""


def room_text(info: RoomInfo) -> str:
    """``#plans (private)  4 members, 2 online, you: owner -- topic: release on Friday``."""
    text = f"#{visible(info.name)}" + (" (private)" if info.private else "")
    text += f"  {info.members} members, {info.online} online"
    if info.role:
        text += f", you: {visible(info.role)}"
    elif info.invited:
        text += ", you are invited"
    if info.topic:
        text += f" -- topic: {visible(info.topic)}"
    return text


def _show_room(info: RoomInfo, as_json: bool) -> None:
    if as_json:
        emit_json(info)
    else:
        click.echo(room_text(info))


async def _run(
    server: str, user: str | None, register: bool, fn: Callable[[Client], Awaitable[Any]]
) -> Any:
    return await call(server, user, register, fn)


@room.command("info")
@click.argument("name", metavar="ROOM")
@json_option
@client_options
@run_async
async def info(name: str, as_json: bool, server: str, user: str | None, register: bool) -> None:
    """Show ROOM: privacy, members, your room role, topic."""
    key = name.lstrip("#").lower()
    rooms = await _run(server, user, register, lambda c: c.rooms())
    found = next((r for r in rooms if r.name == key), None)
    if found is None:
        fail(f"no room named {key!r} (`roost rooms` lists the rooms you may see)")
    else:
        _show_room(found, as_json)


@room.command("topic")
@click.argument("name", metavar="ROOM")
@click.argument("text", nargs=-1)
@click.option("--clear", is_flag=True, help="Remove the topic.")
@json_option
@client_options
@run_async
async def topic(
    name: str,
    text: tuple[str, ...],
    clear: bool,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Set the topic of ROOM to TEXT (room moderators and owners)."""
    words = " ".join(text).strip()
    if not words and not clear:
        fail("give the topic, or --clear to remove it (`roost room info ROOM` shows it)")
    _show_room(await _run(server, user, register, lambda c: c.set_topic(name, words)), as_json)


def _privacy(command: str, private: bool, doc: str) -> None:
    @room.command(command, help=doc)
    @click.argument("name", metavar="ROOM")
    @json_option
    @client_options
    @run_async
    async def run(name: str, as_json: bool, server: str, user: str | None, register: bool) -> None:
        _show_room(
            await _run(server, user, register, lambda c: c.set_private(name, private)), as_json
        )


_privacy("private", True, "Make ROOM private: unlisted, joined by invitation (owners).")
_privacy("public", False, "Make ROOM public again: listed, open to everyone (owners).")


@room.command("invite")
@click.argument("name", metavar="ROOM")
@click.argument("target", metavar="USER")
@json_option
@client_options
@run_async
async def invite(
    name: str, target: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Invite USER into ROOM (a private room: its moderators and owners)."""
    show(await _run(server, user, register, lambda c: c.invite(name, target)), as_json)


@room.command("role")
@click.argument("name", metavar="ROOM")
@click.argument("target", metavar="USER")
@click.argument("role", type=click.Choice(["owner", "moderator", "member"]))
@json_option
@client_options
@run_async
async def role(
    name: str, target: str, role: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Make a member of ROOM its owner, a moderator of it, or a plain member (owners)."""
    show(await _run(server, user, register, lambda c: c.set_room_role(name, target, role)), as_json)


@room.command("kick")
@click.argument("name", metavar="ROOM")
@click.argument("target", metavar="USER")
@reason_option
@json_option
@client_options
@run_async
async def kick(
    name: str,
    target: str,
    reason: str,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Put USER out of ROOM (their invitation too)."""
    show(await _run(server, user, register, lambda c: c.room_kick(name, target, reason)), as_json)


@room.command("mute")
@click.argument("name", metavar="ROOM")
@click.argument("target", metavar="USER")
@for_option
@reason_option
@json_option
@client_options
@run_async
async def mute(
    name: str,
    target: str,
    duration: float,
    reason: str,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Stop USER posting in ROOM (other rooms and private messages stay open)."""
    show(
        await _run(server, user, register, lambda c: c.room_mute(name, target, duration, reason)),
        as_json,
    )


@room.command("unmute")
@click.argument("name", metavar="ROOM")
@click.argument("target", metavar="USER")
@json_option
@client_options
@run_async
async def unmute(
    name: str, target: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Let USER post in ROOM again."""
    show(await _run(server, user, register, lambda c: c.room_unmute(name, target)), as_json)


@room.command("delete")
@click.argument("name", metavar="ROOM")
@reason_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@client_options
@run_async
async def delete(
    name: str, reason: str, yes: bool, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Delete ROOM and its whole history (server admins); the name is not given out again."""
    if not yes:
        click.confirm(f"delete #{name.lstrip('#')} and all its messages for good?", abort=True)
    show(await _run(server, user, register, lambda c: c.delete_room(name, reason)), as_json)


@room.command("rename")
@click.argument("name", metavar="ROOM")
@click.argument("new", metavar="NEW")
@reason_option
@json_option
@client_options
@run_async
async def rename(
    name: str, new: str, reason: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Give ROOM the name NEW (server admins): history, seqs, members and settings
    go with it; the old name is not given out again."""
    show(await _run(server, user, register, lambda c: c.rename_room(name, new, reason)), as_json)
