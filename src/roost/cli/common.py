"""What every client command shares: server address, credentials, output, errors."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
import msgspec

from roost.protocol.errors import RoostError
from roost.protocol.messages import PRIORITY_NAMES
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
    text = str(value).strip().lower()
    if text in PRIORITY_NAMES:
        return PRIORITY_NAMES[text]
    if text.isdigit() and 0 <= int(text) <= 3:
        return int(text)
    raise click.BadParameter(f"{value!r}: use urgent, high, normal, low or 0-3")


def client_options(fn: F) -> F:
    """--server, --user, --register for commands that talk to a server."""
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
    host, port = parse_server(server)
    return Client(host, port, user, get_password(user), register=register, **kwargs)


def run_async(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async command; turn known failures into one line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(fn(*args, **kwargs))
        except RoostError as exc:
            fail(f"{exc.message} ({exc.code})")
        except (ConnectionRefusedError, OSError) as exc:
            fail(f"cannot reach the server: {exc.strerror or exc}; is `roost serve` running?")
        except TimeoutError:
            fail("the server did not answer in time")
        except KeyboardInterrupt:
            sys.exit(130)

    return wrapper


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
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    return msgspec.to_builtins(obj)


EVENT_TYPES = {"msg": "message"}
