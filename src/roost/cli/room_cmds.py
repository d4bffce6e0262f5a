"""`roost join`, `roost leave`, `roost rooms`: room membership from the command line."""

from __future__ import annotations

import click

from roost.cli.common import client_options, emit_json, make_client, run_async
from roost.cli.room_admin_cmds import room_text
from roost.protocol.display import visible
from roost.protocol.errors import ErrorCode, RoostError

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")
CREATE = click.option(
    "--create", is_flag=True, help="Create the room if it does not exist (else that is an error)."
)


def no_such_room(exc: RoostError, room: str) -> RoostError:
    """The server's no_such_room, with what to do about it."""
    if exc.code != ErrorCode.NO_SUCH_ROOM:
        return exc
    name = room.lstrip("#").lower()
    return RoostError(
        exc.code,
        f"no room named {name!r}: pass --create to make it (`roost rooms` lists the rooms)",
    )


@click.command()
@click.argument("room")
@CREATE
@click.option(
    "--private", is_flag=True, help="With --create: a new room is private (invitation only)."
)
@JSON
@client_options
@run_async
async def join(
    room: str,
    create: bool,
    private: bool,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Become a member of ROOM (it must exist unless --create)."""
    async with make_client(server, user, register, reconnect=False) as client:
        try:
            result = await client.join(room, create or private, private)
        except RoostError as exc:
            raise no_such_room(exc, room) from None
    if as_json:
        emit_json(result)
    else:
        made = "created and joined" if result.created else "joined"
        kind = " (private)" if result.private else ""
        click.echo(f"{made} #{result.room}{kind} ({result.last_seq} messages so far)")
        if result.topic:
            click.echo(f"topic: {visible(result.topic)}")


@click.command()
@click.argument("room")
@JSON
@client_options
@run_async
async def leave(room: str, as_json: bool, server: str, user: str | None, register: bool) -> None:
    """Stop being a member of ROOM."""
    name = room.lstrip("#").lower()
    async with make_client(server, user, register, reconnect=False) as client:
        await client.leave(name)
    if as_json:
        emit_json({"room": name})
    else:
        click.echo(f"left #{name}")


@click.command()
@JSON
@client_options
@run_async
async def rooms(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """List every room on the server: members, online, and whether you are in it."""
    async with make_client(server, user, register, reconnect=False) as client:
        found = await client.rooms()
    for r in found:
        if as_json:
            emit_json(r)
        else:
            mark = "*" if r.joined else " "
            click.echo(f"{mark} {room_text(r)}")
