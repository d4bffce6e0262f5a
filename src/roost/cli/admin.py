"""`roost admin ...`: moderation against a running server, as a moderator or admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from roost.cli.account_cmds import new_password
from roost.cli.common import (
    client_options,
    duration_value,
    emit_json,
    make_client,
    parse_priority,
    run_async,
)
from roost.client import Client, ModResult
from roost.client.accounts import user_text
from roost.client.moderation import audit_text, pending_text, result_text, sanction_text

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def admin() -> None:
    """Moderate a running server (needs a moderator or admin account).

    Refused actions print the reason and exit with status 1.
    """


def json_option(fn: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (one object per line)."
    )(fn)


def for_option(fn: F) -> F:
    return click.option(
        "--for",
        "duration",
        default=None,
        callback=duration_value,
        help="How long: 90s, 30m, 2h, 7d, 1h30m (default: until lifted).",
    )(fn)


def reason_option(fn: F) -> F:
    return click.option(
        "--reason", "-r", default="", help="Why (shown to them and in the audit log)."
    )(fn)


async def call(
    server: str, user: str | None, register: bool, fn: Callable[[Client], Awaitable[T]]
) -> T:
    """Log in, run one request, log out."""
    async with make_client(server, user, register, reconnect=False) as client:
        return await fn(client)


def show(result: ModResult, as_json: bool) -> None:
    if as_json:
        emit_json(result)
    else:
        click.echo(result_text(result))


def emit_all(items: list[Any], as_json: bool, line: Callable[[Any], str]) -> None:
    for item in items:
        if as_json:
            emit_json(item)
        else:
            click.echo(line(item))


def _sanction(name: str, method: str, what: str, doc: str) -> None:
    """`roost admin NAME TARGET [--for DURATION] [--reason TEXT]`."""

    @admin.command(name, help=doc)
    @click.argument("target", metavar=what)
    @for_option
    @reason_option
    @json_option
    @client_options
    @run_async
    async def command(
        target: str,
        duration: float,
        reason: str,
        as_json: bool,
        server: str,
        user: str | None,
        register: bool,
    ) -> None:
        result = await call(
            server, user, register, lambda c: getattr(c, method)(target, duration, reason)
        )
        show(result, as_json)


def _with_reason(name: str, method: str, doc: str) -> None:
    """`roost admin NAME USER [--reason TEXT]`."""

    @admin.command(name, help=doc)
    @click.argument("target", metavar="NAME")
    @reason_option
    @json_option
    @client_options
    @run_async
    async def command(
        target: str, reason: str, as_json: bool, server: str, user: str | None, register: bool
    ) -> None:
        show(
            await call(server, user, register, lambda c: getattr(c, method)(target, reason)),
            as_json,
        )


def _undo(name: str, method: str, what: str, doc: str) -> None:
    """`roost admin NAME TARGET`: lift a sanction."""

    @admin.command(name, help=doc)
    @click.argument("target", metavar=what)
    @json_option
    @client_options
    @run_async
    async def command(
        target: str, as_json: bool, server: str, user: str | None, register: bool
    ) -> None:
        show(await call(server, user, register, lambda c: getattr(c, method)(target)), as_json)


_sanction(
    "block",
    "block",
    "NAME",
    "Block account NAME: its sessions end now and it cannot log in until unblocked.",
)
_sanction("mute", "mute", "NAME", "Stop NAME from sending messages (they still read).")
_sanction(
    "ban-address",
    "ban_address",
    "ADDRESS",
    "Ban ADDRESS (one IP or a CIDR network such as 203.0.113.0/24): it cannot connect.",
)
_undo("unblock", "unblock", "NAME", "Lift the block of account NAME.")
_undo("unmute", "unmute", "NAME", "Let NAME send messages again.")
_undo(
    "unban-address",
    "unban_address",
    "ADDRESS",
    "Lift the ban of ADDRESS (the network as banned, or any address in it).",
)
_with_reason("kick", "kick", "End every session of NAME now (they may log in again).")
_with_reason("refuse", "refuse", "Refuse the waiting newcomer NAME: the account is removed.")
_with_reason(
    "disable",
    "disable",
    "Disable account NAME (admins): its sessions end and it cannot log in until enabled.",
)
_with_reason(
    "delete",
    "delete_account",
    "Delete account NAME (admins): its messages stay under its name, which is not reused.",
)
_undo("enable", "enable", "NAME", "Enable the disabled account NAME again (admins).")


@admin.command("users")
@json_option
@client_options
@run_async
async def users(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """List accounts with role, priority, status and when last seen (admins)."""
    emit_all(await call(server, user, register, lambda c: c.users()), as_json, user_text)


@admin.command("reset-password")
@click.argument("name")
@json_option
@client_options
@run_async
async def reset_password(
    name: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Set NAME's password (admins): ROOST_NEW_PASSWORD, or asked for.

    NAME's session tokens are revoked and their sessions end.
    """
    password = new_password(f"new password for {name}")
    show(await call(server, user, register, lambda c: c.reset_password(name, password)), as_json)


@admin.command("priority")
@click.argument("name")
@click.argument("level")
@json_option
@client_options
@run_async
async def priority(
    name: str, level: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Set NAME's priority LEVEL: urgent, high, normal, low or 0-3 (admins only)."""
    value = parse_priority(level)
    assert value is not None
    show(await call(server, user, register, lambda c: c.set_priority(name, value)), as_json)


@admin.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "moderator", "member"]))
@json_option
@client_options
@run_async
async def role(
    name: str, role: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Make NAME an admin, moderator or member (admins only)."""
    show(await call(server, user, register, lambda c: c.set_role(name, role)), as_json)


@admin.command("blocks")
@json_option
@client_options
@run_async
async def blocks(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """List blocks, mutes and address bans in force."""
    emit_all(await call(server, user, register, lambda c: c.blocks()), as_json, sanction_text)


@admin.command("pending")
@json_option
@client_options
@run_async
async def pending(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """List newcomers waiting for admission."""
    emit_all(await call(server, user, register, lambda c: c.pending()), as_json, pending_text)


@admin.command("admit")
@click.argument("name")
@click.option("--priority", "-p", "level", default=None, help="Admit at this priority level.")
@json_option
@client_options
@run_async
async def admit(
    name: str, level: str | None, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Admit the waiting newcomer NAME."""
    value = parse_priority(level)
    show(await call(server, user, register, lambda c: c.admit(name, value)), as_json)


@admin.command("audit")
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="Newest N entries.")
@click.option("--about", default="", help="Only entries about this user or address.")
@json_option
@client_options
@run_async
async def audit(
    limit: int, about: str, as_json: bool, server: str, user: str | None, register: bool
) -> None:
    """Show the audit log (who did what to whom, why, when), oldest first."""
    emit_all(
        await call(server, user, register, lambda c: c.audit(limit, about)), as_json, audit_text
    )


@admin.command("reload")
@json_option
@client_options
@run_async
async def reload(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """Make the server reread its config file (admins only; as SIGHUP does).

    Settings that can change live take effect without dropping anyone; those
    that need a restart are listed. A config with an error is refused and the
    one in force stays (exit status 1).
    """
    result = await call(server, user, register, lambda c: c.reload_config())
    if as_json:
        emit_json(result)
        return
    click.echo("changed: " + (", ".join(result.changed) or "nothing"))
    if result.restart_needed:
        click.echo("needs a restart: " + ", ".join(result.restart_needed))


@admin.command("stats")
@json_option
@client_options
@run_async
async def stats(as_json: bool, server: str, user: str | None, register: bool) -> None:
    """Print the server's metrics, the figures /metrics serves (moderators and admins)."""
    samples = await call(server, user, register, lambda c: c.stats())
    if as_json:
        emit_all(samples, True, str)
        return
    for s in samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        value = int(s.value) if s.value.is_integer() else s.value
        click.echo(f"{s.name}{{{labels}}} {value}" if labels else f"{s.name} {value}")
