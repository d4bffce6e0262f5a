"""`roost mentions`, `roost unread-counts`, `roost mark-read`: unread state from the command line."""

from __future__ import annotations

import click

from roost.cli.client_cmds import format_message
from roost.cli.common import client_options, emit_json, make_client, run_async
from roost.protocol.display import visible
from roost.protocol.names import dm_peer

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")


def _where(key: str, me: str) -> str:
    return visible(f"@{dm_peer(key, me)}" if key.startswith("@") else f"#{key}")


@click.command()
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="At most N.")
@JSON
@client_options
@run_async
async def mentions(
    limit: int, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """List the newest messages that mention you (@name), oldest first."""
    async with make_client(server, user, register, reconnect=False) as client:
        found = await client.mentions(limit)
        me = client.user or ""
    for m in found:
        if as_json:
            emit_json(m)
        else:
            click.echo(format_message(m, me))


@click.command("unread-counts")
@click.option("--all", "show_all", is_flag=True, help="Also conversations with nothing unread.")
@JSON
@client_options
@run_async
async def unread(
    show_all: bool, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Unread messages and mentions per conversation (the same on every device)."""
    async with make_client(server, user, register, reconnect=False) as client:
        counts = await client.unread()
        me = client.user or ""
    for c in counts:
        if not (show_all or c.unread or c.mentions):
            continue
        if as_json:
            emit_json(c)
        else:
            click.echo(f"{_where(c.room, me)}  {c.unread} unread, {c.mentions} mentions")


@click.command("mark-read")
@click.argument("room")
@click.option("--seq", type=int, default=None, help="Up to this seq (default: the last).")
@JSON
@client_options
@run_async
async def mark_read(
    room: str, seq: int | None, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Mark ROOM (or @USER) read, on every device."""
    async with make_client(server, user, register, reconnect=False) as client:
        if seq is None:
            seq = (await client.history_page(room, 0, 0, 1)).last_seq
        info = await client.mark_read(room, seq)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"read up to {info.read}; {info.unread} unread, {info.mentions} mentions")
