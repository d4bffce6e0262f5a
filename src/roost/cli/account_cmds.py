"""`roost passwd` and `roost sessions`: one's own account on a running server."""

from __future__ import annotations

import os
import sys

import click

from roost.cli.common import client_options, emit_json, make_client, run_async
from roost.client.accounts import session_text
from roost.client.moderation import result_text
from roost.protocol.errors import RoostError


def new_password(prompt: str) -> str:
    """ROOST_NEW_PASSWORD, or asked twice when a terminal is attached."""
    password = os.environ.get("ROOST_NEW_PASSWORD")
    if password is not None:
        return password
    if sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))
    raise RoostError(
        "bad_request", "no new password: set ROOST_NEW_PASSWORD or run from a terminal"
    )


@click.command("passwd")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@client_options
@run_async
async def passwd(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """Change your password: the current one logs in (ROOST_PASSWORD or asked),
    the new one is ROOST_NEW_PASSWORD or asked."""
    async with make_client(server, user, register, reconnect=False) as client:
        new = new_password("new password")
        result = await client.change_password(client.password or "", new)
    if as_json:
        emit_json(result)
    else:
        click.echo("password changed")


@click.command("sessions")
@click.option("--logout-all", is_flag=True, help="Revoke every token and end your other sessions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")
@client_options
@run_async
async def sessions(
    logout_all: bool, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """List your live sessions and stored session tokens (or log out everywhere)."""
    async with make_client(server, user, register, reconnect=False) as client:
        if logout_all:
            result = await client.logout_all()
            if as_json:
                emit_json(result)
            else:
                click.echo(result_text(result))
            return
        for s in await client.sessions():
            if as_json:
                emit_json(s)
            else:
                click.echo(session_text(s))
