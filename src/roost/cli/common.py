"""What every client command shares: server address, credentials, output, errors."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click
import msgspec

from roost.client.ending import SessionEnded, ending, ending_line, exit_status
from roost.protocol.display import visible
from roost.protocol.durations import parse_duration
from roost.protocol.errors import RoostError
from roost.protocol.messages import Bye
from roost.protocol.names import check_priority
from roost.server.config import DEFAULT_PORT

F = TypeVar("F", bound=Callable[..., Any])


def parse_server(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``:PORT`` or ``[IPv6]:PORT``."""
    from roost.client.address import parse_address

    try:
        return parse_address(value, DEFAULT_PORT)
    except RoostError as exc:
        raise click.BadParameter(exc.message) from None


def parse_priority(value: str | int | None) -> int | None:
    """A priority level by name (urgent, high, normal, low) or number (0-3)."""
    if value is None:
        return None
    try:
        return check_priority(value)
    except RoostError as exc:
        raise click.BadParameter(exc.message) from None


def duration_value(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    """Option callback: 90s, 10m, 2h, 7d, 1h30m or forever, as seconds (None: 0, until lifted)."""
    if value is None:
        return 0.0
    try:
        return parse_duration(value)
    except RoostError as exc:
        raise click.BadParameter(exc.message) from None


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"roost.{param.name}"] = value
    return value


def client_options(fn: F) -> F:
    """--server, --user, --register, --tls, --insecure for commands that talk to a server.

    --tls and --insecure reach make_client through the click context rather
    than as parameters, so that every command keeps its signature.
    """
    fn = click.option(
        "--insecure",
        is_flag=True,
        expose_value=False,
        callback=_remember,
        help="With --tls: do not check the server's certificate against its pin.",
    )(fn)
    fn = click.option(
        "--tls",
        is_flag=True,
        envvar="ROOST_TLS",
        expose_value=False,
        callback=_remember,
        help="Connect with TLS; the server's certificate is pinned on first use (env ROOST_TLS).",
    )(fn)
    fn = click.option(
        "--register", is_flag=True, help="Create the account first if it does not exist."
    )(fn)
    fn = click.option("--user", "-u", envvar="ROOST_USER", help="Account name (env ROOST_USER).")(
        fn
    )
    fn = click.option(
        "--server",
        "-s",
        envvar="ROOST_SERVER",
        default=f"127.0.0.1:{DEFAULT_PORT}",
        show_default=True,
        help="Server address HOST:PORT (env ROOST_SERVER).",
    )(fn)
    return fn


def get_password(user: str) -> str:
    """ROOST_PASSWORD, or a prompt when a terminal is attached."""
    password = os.environ.get("ROOST_PASSWORD")
    if password is not None:
        return password
    if sys.stdin.isatty():
        return str(click.prompt(f"password for {user}", hide_input=True))
    raise RoostError("bad_request", "no password: set ROOST_PASSWORD or run from a terminal")


def make_client(server: str, user: str | None, register: bool, **kwargs: Any) -> Any:
    from roost.client import Client

    if not user:
        raise RoostError("bad_request", "no user: pass --user NAME or set ROOST_USER")
    from roost.client.address import format_address

    host, port = parse_server(server)
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    meta["roost.address"] = format_address(host, port)  # for "cannot reach the server at ..."
    kwargs.setdefault("tls", bool(meta.get("roost.tls")))
    kwargs.setdefault("insecure", bool(meta.get("roost.insecure")))
    kwargs.setdefault("on_pin", _tell_pinned)
    return Client(host, port, user, get_password(user), register=register, **kwargs)


def _tell_pinned(server: str, fingerprint: str) -> None:
    click.echo(
        f"roost: first connection to {server}: pinned its certificate {fingerprint}", err=True
    )


def run_async(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async command; turn known failures into one line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(fn(*args, **kwargs))
        except SessionEnded as exc:
            _ended(exc.bye)
        except RoostError as exc:
            # Loaded by now if it was raised (kept out of the CLI's start-up imports).
            from roost.client.connection import ConnectionLost

            bye = ending(exc.bye) if isinstance(exc, ConnectionLost) else None
            if bye is not None:
                # A request was in flight when the server ended the session (a
                # block, a kick): that ending is what happened, not a lost connection.
                _ended(bye)
            # A login refused for a block or a ban exits as a session ended by one would.
            fail(f"{visible(exc.message)} ({visible(exc.code)})", exit_status(exc.code))
        except (ConnectionRefusedError, OSError) as exc:
            ctx = click.get_current_context(silent=True)
            address = ctx.meta.get("roost.address", "") if ctx is not None else ""
            where = f" at {address}" if address else ""
            fail(
                f"cannot reach the server{where}: {exc.strerror or exc}; is `roost serve` running?"
            )
        except TimeoutError:
            fail("the server did not answer in time")
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper


def _ended(bye: Bye) -> NoReturn:
    """Say who ended the session and why, and exit with that ending's status."""
    click.echo(ending_line(bye), err=True)
    sys.exit(exit_status(bye.code))


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run with uvloop where available."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def fail(message: str, status: int = 1) -> None:
    click.echo(f"roost: error: {message}", err=True)
    sys.exit(status)


def emit_json(obj: Any) -> None:
    """One JSON object per line, flushed (for pipes)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, msgspec.Struct):
        # asdict keeps fields equal to their defaults (the wire omits them).
        data = msgspec.to_builtins(msgspec.structs.asdict(obj))
        tag = type(obj).__struct_config__.tag
        if isinstance(data, dict) and isinstance(tag, str):
            data = {"type": EVENT_TYPES.get(tag, tag), **data}
        return data
    # Dataclasses too (their fields may hold structs, which dataclasses.asdict leaves as is).
    return msgspec.to_builtins(obj)


EVENT_TYPES = {"msg": "message"}
