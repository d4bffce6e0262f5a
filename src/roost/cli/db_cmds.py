"""`roost db`: the schema of the store (migrations) and moving data between stores."""

from __future__ import annotations

from pathlib import Path

import click

from roost.cli.common import emit_json, fail, run
from roost.protocol.errors import RoostError
from roost.server.config import ServerConfig, load_config


@click.group()
def db() -> None:
    """The server's database: create or upgrade its schema, import a data folder."""


def _config(config_file: Path | None, store: str | None, data_dir: Path | None) -> ServerConfig:
    return load_config(config_file, store=store, data_dir=data_dir)


@db.command("migrate")
@click.option("--store", default=None, metavar="URL", help="postgresql://USER@HOST/DB")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def migrate(
    store: str | None, data_dir: Path | None, config_file: Path | None, as_json: bool
) -> None:
    """Create or upgrade the schema of the configured store (run before `roost serve`)."""
    try:
        cfg = _config(config_file, store, data_dir)
        applied = run(_migrate(cfg))
    except RoostError as exc:
        fail(exc.message)
        return
    if as_json:
        emit_json({"store": _where(cfg), "applied": applied})
    elif applied:
        click.echo(f"applied schema versions {', '.join(map(str, applied))} to {_where(cfg)}")
    else:
        click.echo(f"the schema of {_where(cfg)} is up to date")


def _where(cfg: ServerConfig) -> str:
    """The store's location without a password."""
    from roost.store.base import safe_url

    return safe_url(cfg.store) if cfg.store else str(cfg.db_path)


async def _migrate(cfg: ServerConfig) -> list[int]:
    from roost.server.backends import make_store

    return await make_store(cfg).migrate()
