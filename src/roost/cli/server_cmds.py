"""`roost serve` and offline account tools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import click

from roost.cli.common import emit_json, fail, get_password, parse_priority, run
from roost.cli.offline import offline_folder
from roost.protocol.errors import RoostError
from roost.protocol.names import check_user
from roost.server import logs
from roost.server.config import ServerConfig, load_config
from roost.store.lock import DataFolderInUse


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option(
    "--port", type=int, default=None, help="TCP port [default: 7878; 0 picks a free one]."
)
@click.option(
    "--web-port",
    type=int,
    default=None,
    help="Web client's HTTP port [default: 8080; 0 picks a free one].",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data folder [default: ./roost-data].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML config file.",
)
@click.option(
    "--port-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the bound port here once listening.",
)
@click.option(
    "--web-port-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the web client's bound port here once listening.",
)
@click.option(
    "--tls",
    is_flag=True,
    default=None,
    help="Serve TLS: tls_cert/tls_key from the config, else a self-signed certificate"
    " made on first start and kept in the data folder.",
)
@click.option(
    "--store",
    default=None,
    metavar="URL",
    help="postgresql://USER@HOST/DB for cluster mode [default: SQLite in the data folder].",
)
@click.option(
    "--bus",
    default=None,
    metavar="URL",
    help="redis://HOST:PORT/0 for cluster mode [default: this process only].",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def serve(
    host: str | None,
    port: int | None,
    web_port: int | None,
    data_dir: Path | None,
    config_file: Path | None,
    port_file: Path | None,
    web_port_file: Path | None,
    tls: bool | None,
    store: str | None,
    bus: str | None,
    verbose: bool,
) -> None:
    """Run a server on a local data folder.

    It listens on 127.0.0.1 unless --host (or host in the config) says otherwise.
    SIGHUP rereads the config file (as `roost admin reload` does).
    """
    overrides = {
        "host": host,
        "port": port,
        "web_port": web_port,
        "data_dir": data_dir,
        "tls": tls or None,
        "log_level": "debug" if verbose else None,
        "store": store,
        "bus": bus,
    }
    try:
        cfg = load_config(config_file, **overrides)
    except RoostError as exc:
        fail(exc.message, 2)
        return
    logs.setup(cfg.log_format, cfg.log_level)
    try:
        run(_serve(cfg, port_file, web_port_file, lambda: load_config(config_file, **overrides)))
    except DataFolderInUse as exc:
        fail(f"{exc.message}; stop it first, or serve another --data-dir")
    except RoostError as exc:
        fail(exc.message, 2)
    except OSError as exc:
        fail(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        pass


async def _serve(
    cfg: ServerConfig,
    port_file: Path | None,
    web_port_file: Path | None,
    reread: Callable[[], ServerConfig],
) -> None:
    from roost.server.app import Server
    from roost.server.reload import reload

    server = Server(cfg)
    server.load_config = reread
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def on_hangup() -> None:
        # A refused reload is logged by reload(); the server goes on as it was.
        with contextlib.suppress(RoostError):
            reload(server)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    if web_port_file is not None:
        web_port_file.write_text(f"{server.web_port}\n")
    if port_file is not None:
        port_file.write_text(f"{server.port}\n")
    tls = " with TLS" if cfg.tls else ""
    lines = [f"serving on {cfg.host}:{server.port}{tls} (data in {cfg.data_dir})"]
    if server.web is not None:
        scheme = "https" if cfg.tls else "http"
        web_host = cfg.web_host or cfg.host
        lines.append(f"web client on {scheme}://{web_host}:{server.web_port}/")
    for line in lines:
        if cfg.log_format == "json":
            # Standard error carries JSON objects only.
            logging.getLogger("roost.server").info(line, extra=logs.fields("serving"))
        else:
            click.echo(f"roost: {line}", err=True)
    await stop.wait()
    await server.stop()


@click.group()
def user() -> None:
    """Manage accounts in a data folder (of a stopped server, or beside a running one)."""


@user.command("add")
@click.argument("name")
@click.option("--admin", "role", flag_value="admin", help="Make the account an admin.")
@click.option("--moderator", "role", flag_value="moderator", help="Make the account a moderator.")
@click.option("--priority", default=None, help="Priority level: urgent, high, normal, low or 0-3.")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=Path("roost-data"), show_default=True
)
@click.option(
    "--create",
    is_flag=True,
    help="Start a new data folder if DIR holds no Roost database (else that is an error).",
)
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def user_add(
    name: str,
    role: str | None,
    priority: str | None,
    data_dir: Path,
    create: bool,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Create account NAME (password from ROOST_PASSWORD or a prompt)."""
    try:
        cfg = load_config(config_file, data_dir=data_dir)
        name = check_user(name)
        level = parse_priority(priority)
        # Held from before the password prompt: a served folder is refused at once.
        beside = "the account is added beside it, and it takes effect at its first login"
        with offline_folder(cfg, "roost user add", create=create, beside_server=beside):
            password = get_password(name)
            if not password:
                raise RoostError("bad_request", "the password must not be empty")
            run(_user_add(cfg, name, password, role or "member", 2 if level is None else level))
    except RoostError as exc:
        fail(exc.message)
        return
    if as_json:
        emit_json({"user": name, "role": role or "member", "data_dir": str(cfg.data_dir)})
    else:
        click.echo(f"created {role or 'member'} {name} in {cfg.data_dir}")


async def _user_add(cfg: ServerConfig, name: str, password: str, role: str, priority: int) -> None:
    from roost.server.auth import Passwords
    from roost.server.backends import make_store
    from roost.store.base import Account

    store = make_store(cfg)
    await store.open()
    try:
        pw_hash = await Passwords(cfg.argon2_time_cost, cfg.argon2_memory_kib).hash(password)
        account = Account(name, pw_hash, role=role, priority=priority, created=time.time())
        if not await store.create_account(account):
            raise RoostError("name_taken", f"the account {name!r} exists already")
        for room in cfg.default_rooms:
            await store.create_room(room, "", time.time())
            await store.add_member(room, name)
    finally:
        await store.close()
