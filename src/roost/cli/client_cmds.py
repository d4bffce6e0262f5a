"""Scriptable client commands: send, listen, history, and the line chat client."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from roost.cli.common import client_options, emit_json, make_client, parse_priority, run_async
from roost.cli.room_cmds import no_such_room
from roost.client.edits import MessageBook, describe_event
from roost.client.ending import SessionEnded, ending, ending_line, exit_status
from roost.client.events import FileSaved
from roost.client.priority import lowered_note
from roost.protocol.display import visible
from roost.protocol.errors import RoostError
from roost.protocol.messages import Message
from roost.protocol.sizes import human_size


@click.command()
@click.argument("target")
@click.argument("text")
@click.option(
    "--priority",
    "-p",
    default=None,
    help="urgent, high, normal, low or 0-3 (at most your own level).",
)
@click.option(
    "--reply-to", "reply_to", type=int, default=0, help="The seq of the message this answers."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@client_options
@run_async
async def send(
    target: str,
    text: str,
    priority: str | None,
    reply_to: int,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Send TEXT to a room or to @USER; prints the stored sequence number."""
    level = parse_priority(priority)
    async with make_client(server, user, register, reconnect=False) as client:
        result = await client.send(target, text, level, reply_to=reply_to)
    note = lowered_note(level, result)
    if note:
        click.echo(f"roost: {note}", err=True)
    if as_json:
        emit_json(
            {"room": result.room, "seq": result.seq, "ts": result.ts, "priority": result.priority}
        )
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
@click.option(
    "--auto-accept",
    "accept_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download every file offered by others into this folder.",
)
@click.option(
    "--create", is_flag=True, help="Create a room that does not exist (else that is an error)."
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
    accept_dir: Path | None,
    create: bool,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Print messages arriving in ROOMS (rooms or @users) until --count or --timeout.

    Each room must exist unless --create (a mistyped name is an error, not a
    new room); listening joins it.

    When the server ends the session (a block, a kick, a shutdown), one line
    says who, why and until when, and the exit status tells which: 3 blocked,
    4 kicked, 5 server shutting down, 6 address banned, 7 refused admission
    (with --json the bye is printed as an event first). File offers are messages with a "file" object (id, name, size, sha256,
    media_type); with --auto-accept, each saved file is reported as a
    "file_saved" event and counts towards --count.
    """
    client = make_client(server, user, register, auto_accept=accept_dir)
    async with client:
        for room in rooms:
            try:
                await client.follow(room, after, create=create)
            except RoostError as exc:
                raise no_such_room(exc, room) from None
        wanted = {r.lstrip("#").lower() for r in rooms if not r.startswith("@")}
        peers = {r[1:].lower() for r in rooms if r.startswith("@")}
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for ev in client.events():
                bye = ending(ev)
                if bye is not None:
                    # A block, a kick, a shutdown: say so and exit with its status.
                    if as_json:
                        emit_json(bye)
                    raise SessionEnded(bye)
                if isinstance(ev, Message):
                    if not _matches(ev.room, wanted, peers, client.user or ""):
                        continue
                elif not (all_events or isinstance(ev, FileSaved)):
                    continue
                _print_event(ev, as_json, client.user or "")
                seen += 1
                if count is not None and seen >= count:
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consume(), timeout)


def _is_offer(ev: Any) -> bool:
    """A file offer is a message that carries a file."""
    return isinstance(ev, Message) and ev.file is not None


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
    elif isinstance(ev, FileSaved):
        click.echo(format_saved(ev))
    else:
        click.echo(visible(str(ev)))


def format_message(m: Message, me: str, book: MessageBook | None = None) -> str:
    """One message as a line (continuation lines indented).

    With ``book`` (which has taken ``m`` already), an event shows the
    reaction counts it leads to and a reply a short quote of what it answers.
    """
    from roost.protocol.messages import PRIORITY_LABELS
    from roost.protocol.names import dm_peer

    stamp = datetime.fromtimestamp(m.ts).strftime("%H:%M:%S")
    where = visible(f"@{dm_peer(m.room, me)}" if m.room.startswith("@") else f"#{m.room}")
    mark = "" if m.priority == 2 else f" [{PRIORITY_LABELS.get(m.priority, m.priority)}]"
    head = f"{stamp} {where} <{visible(m.sender)}>{mark}"
    if m.kind != "text":
        # An edit, deletion or reaction: one line saying what it did to which seq.
        return f"{stamp} {where} * " + visible(describe_event(m, book))
    if m.reply_to:
        quote = book.quote(m.room, m.reply_to) if book is not None else f"#{m.reply_to}"
        head += f" (reply to {visible(quote)})"
    if _is_offer(m):
        return f"{head} {format_offer(m)}"
    # Continuation lines indented, so that a message cannot pass for a line of its own.
    return f"{head} " + visible(m.text, newlines=True).replace("\n", "\n    ")


def format_offer(m: Message) -> str:
    """``[file] report.pdf (1.2 MiB, application/pdf) id abc: caption``."""
    f = m.file
    assert f is not None
    caption = "" if m.text == f.name else f": {visible(m.text)}"
    # Names come from the network: no control characters reach the terminal.
    name, media = visible(f.name), visible(f.media_type)
    return f"[file] {name} ({human_size(f.size)}, {media}) id {visible(f.id)}{caption}"


def format_saved(ev: FileSaved) -> str:
    if ev.error:
        return (
            f"* could not save {visible(ev.file.name)} ({visible(ev.file.id)}): {visible(ev.error)}"
        )
    return f"* saved {visible(ev.file.name)} ({human_size(ev.file.size)}) to {visible(ev.path)}"


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
    """Print stored messages of a room or @USER, oldest first.

    Control characters in what others wrote are shown (ESC as ``^[``), never
    sent to the terminal; --json keeps the exact text.
    """
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
@click.option(
    "--downloads",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder that /get saves into (line client).",
)
@click.option(
    "--auto-accept",
    is_flag=True,
    help="Download every file offered by others into --downloads (line client).",
)
@client_options
@click.pass_context
def chat(
    ctx: click.Context,
    room: str,
    plain: bool,
    downloads: Path,
    auto_accept: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Interactive chat: full-screen, or a line client with --plain or without a terminal.

    Without --server or --user, both clients use the server and user of the
    last login in the full-screen client.
    """

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT

    if plain or not (sys.stdin.isatty() and sys.stdout.isatty()):
        from roost.cli.line_chat import run_line_chat
        from roost.tui.config import ClientConfig

        remembered = ClientConfig.load()
        if not given("server") and remembered.server:
            server = remembered.server
        run_line_chat(server, user or remembered.user, register, room, downloads, auto_accept)
        return
    from roost.tui import run_tui

    # Unset options fall back to what the app remembers from the last login.
    bye = run_tui(
        server if given("server") else None,
        user,
        os.environ.get("ROOST_PASSWORD"),
        register,
        room if given("room") else None,
    )
    if bye is not None:
        # After the app has given the terminal back, so the line stays on screen.
        click.echo(ending_line(bye), err=True)
        sys.exit(exit_status(bye.code))
