"""`roost search`: full-text search of the history the user may read."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import click

from roost.cli.client_cmds import format_message
from roost.cli.common import client_options, emit_json, make_client, run_async
from roost.client.search import parse_when
from roost.protocol.errors import RoostError
from roost.protocol.messages import Message


def _when(end: bool) -> Callable[[click.Context, click.Parameter, str | None], float]:
    """Option callback: a --since or --until value as a Unix time (absent: 0)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
        if value is None:
            return 0.0
        try:
            return parse_when(value, time.time(), end)
        except RoostError as exc:
            raise click.BadParameter(exc.message) from None

    return callback


def format_hit(m: Message, me: str) -> str:
    """A search result as a line: the date before the message line of `roost history`."""
    return datetime.fromtimestamp(m.ts).strftime("%Y-%m-%d ") + format_message(m, me)


@click.command()
@click.argument("query")
@click.option("--room", "-r", default="", help="Only this room or @USER conversation.")
@click.option("--from", "sender", default="", help="Only messages USER sent.", metavar="USER")
@click.option(
    "--since",
    callback=_when(False),
    help="Only messages from then on: a date (2026-12-01), date and time, or 2h / 7d ago.",
)
@click.option(
    "--until", callback=_when(True), help="Only messages before then (a date: to its end)."
)
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="At most N."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@client_options
@run_async
async def search(
    query: str,
    room: str,
    sender: str,
    since: float,
    until: float,
    limit: int,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Search the messages you may read, newest first.

    QUERY is words and "quoted phrases", all of which must occur (case does
    not matter); a word ending in * matches as a prefix (deploy*). Only the
    rooms you are in and your direct conversations are searched.
    """
    async with make_client(server, user, register, reconnect=False) as client:
        hits = client.search(query, room=room, sender=sender, since=since, until=until, limit=limit)
        async for m in hits:
            if as_json:
                emit_json(m)
            else:
                click.echo(format_hit(m, client.user or ""))
