"""Scriptable client commands: send, listen, history, and the line chat client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import datetime
from typing import Any

import click

from roost.cli.common import client_options, emit_json, make_client, parse_priority, run_async
from roost.protocol.messages import Message


@click.command()
@click.argument("target")
@click.argument("text")
@click.option(
    "--priority",
    "-p",
    default=None,
    help="urgent, high, normal, low or 0-3 (at most your own level).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@client_options
@run_async
async def send(
    target: str,
    text: str,
    priority: str | None,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Send TEXT to a room or to @USER; prints the stored sequence number."""
    level = parse_priority(priority)
    async with make_client(server, user, register, reconnect=False) as client:
        result = await client.send(target, text, level)
    if as_json:
        emit_json({"room": result.room, "seq": result.seq, "ts": result.ts})
    else:
        click.echo(result.seq)


@click.command()
@click.argument("rooms", nargs=-1, required=True)
@click.option("--count", "-n", type=int, default=None, help="Exit after N events.")
@click.option("--timeout", "-t", type=float, default=None, help="Exit after S seconds.")
@click.option(
    "--after", type=int, default=None, help="Replay stored messages with seq > AFTER first."
)
@click.option(
    "--all", "all_events", is_flag=True, help="Also print presence and join/leave events."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@client_options
@run_async
async def listen(
    rooms: tuple[str, ...],
    count: int | None,
    timeout: float | None,
    after: int | None,
    all_events: bool,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Print messages arriving in ROOMS (rooms or @users) until --count or --timeout."""
    client = make_client(server, user, register)
    async with client:
        for room in rooms:
            await client.follow(room, after)
        wanted = {r.lstrip("#").lower() for r in rooms if not r.startswith("@")}
        peers = {r[1:].lower() for r in rooms if r.startswith("@")}
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for ev in client.events():
                if isinstance(ev, Message):
                    if not _matches(ev.room, wanted, peers, client.user or ""):
                        continue
                elif not (all_events or _is_offer(ev)):
                    continue
                _print_event(ev, as_json, client.user or "")
                seen += 1
                if count is not None and seen >= count:
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consume(), timeout)


def _is_offer(ev: Any) -> bool:
    return type(ev).__name__ == "FileOffer"


def _matches(room: str, wanted: set[str], peers: set[str], me: str) -> bool:
    if room in wanted:
        return True
    if room.startswith("@"):
        from roost.protocol.names import dm_peer

        return dm_peer(room, me) in peers
    return False


def _print_event(ev: Any, as_json: bool, me: str) -> None:
    if as_json:
        emit_json(ev)
    elif isinstance(ev, Message):
        click.echo(format_message(ev, me))
    else:
        click.echo(str(ev))


def format_message(m: Message, me: str) -> str:
    from roost.protocol.messages import PRIORITY_LABELS
    from roost.protocol.names import dm_peer

    stamp = datetime.fromtimestamp(m.ts).strftime("%H:%M:%S")
    where = f"@{dm_peer(m.room, me)}" if m.room.startswith("@") else f"#{m.room}"
    mark = "" if m.priority == 2 else f" [{PRIORITY_LABELS.get(m.priority, m.priority)}]"
    return f"{stamp} {where} <{m.sender}>{mark} {m.text}"


@click.command()
@click.argument("target")
@click.option("--after", type=int, default=0, help="Only messages with seq > AFTER.")
@click.option(
    "--limit", "-n", type=int, default=None, help="At most N messages (the last N without --after)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@client_options
@run_async
async def history(
    target: str,
    after: int,
    limit: int | None,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Print stored messages of a room or @USER, oldest first."""
    async with make_client(server, user, register, reconnect=False) as client:
        if limit is not None and not after:
            messages = await client.latest(target, limit)
        else:
            messages = [m async for m in client.history(target, after=after, limit=limit)]
        for m in messages:
            _print_event(m, as_json, client.user or "")


@click.command()
@click.option("--room", "-r", default="general", show_default=True, help="Room to start in.")
@click.option("--plain", is_flag=True, help="Line client (no full-screen interface).")
@client_options
@click.pass_context
def chat(
    ctx: click.Context, room: str, plain: bool, server: str, user: str | None, register: bool
) -> None:
    """Interactive chat: full-screen, or a line client with --plain or without a terminal."""
    if plain or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from roost.cli.line_chat import run_line_chat

        run_line_chat(server, user, register, room)
        return
    from roost.tui import run_tui

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT

    # Unset options fall back to what the app remembers from the last login.
    run_tui(
        server if given("server") else None,
        user,
        os.environ.get("ROOST_PASSWORD"),
        register,
        room if given("room") else None,
    )
