"""Scriptable commands about an earlier message: edit, delete, react (docs/protocol.md 5)."""

from __future__ import annotations

import click

from roost.cli.common import client_options, emit_json, make_client, run_async
from roost.protocol.messages import SendResult


def _report(result: SendResult, as_json: bool) -> None:
    """The event's seq (or the whole result as JSON), as `roost send` prints."""
    if as_json:
        emit_json(
            {"room": result.room, "seq": result.seq, "ts": result.ts, "priority": result.priority}
        )
    else:
        click.echo(result.seq)


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")


@click.command()
@click.argument("target")
@click.argument("seq", type=int)
@click.argument("text")
@_JSON
@client_options
@run_async
async def edit(
    target: str, seq: int, text: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Replace the text of your message SEQ in a room or @USER (within the edit window).

    Prints the seq of the edit (a new message referring to SEQ).
    """
    async with make_client(server, user, register, reconnect=False) as client:
        result = await client.edit(target, seq, text)
    _report(result, as_json)


@click.command()
@click.argument("target")
@click.argument("seq", type=int)
@click.option("--reason", default="", help="Why (moderators removing another's message; audited).")
@_JSON
@client_options
@run_async
async def delete(
    target: str,
    seq: int,
    reason: str,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Delete your message SEQ (within the edit window); moderators remove any message.

    Prints the seq of the deletion.
    """
    async with make_client(server, user, register, reconnect=False) as client:
        result = await client.delete(target, seq, reason)
    _report(result, as_json)


@click.command()
@click.argument("target")
@click.argument("seq", type=int)
@click.argument("emoji")
@click.option("--remove", is_flag=True, help="Take back your reaction instead.")
@_JSON
@client_options
@run_async
async def react(
    target: str,
    seq: int,
    emoji: str,
    remove: bool,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """React to message SEQ with EMOJI (`:+1:`, `:heart:`, `:tada:`... are converted).

    Prints the seq of the reaction.
    """
    async with make_client(server, user, register, reconnect=False) as client:
        if remove:
            result = await client.unreact(target, seq, emoji)
        else:
            result = await client.react(target, seq, emoji)
    _report(result, as_json)
