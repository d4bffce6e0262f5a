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


@db.command("import")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The single-process data folder (holding roost.db) to move.",
)
@click.option("--store", default=None, metavar="URL", help="postgresql://USER@HOST/DB")
@click.option(
    "--blob-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The cluster's shared blob folder to copy the files into [default: blob_dir].",
)
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_cmd(
    source: Path,
    store: str | None,
    blob_dir: Path | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Move a SQLite data folder into the PostgreSQL store (a new, migrated database)."""
    try:
        cfg = _config(config_file, store, None)
        if not cfg.store:
            raise RoostError("bad_request", "name the PostgreSQL store: --store postgresql://...")
        blobs = blob_dir or (Path(cfg.blob_dir) if cfg.blob_dir else None)
        counts = run(_import(cfg, source, blobs))
    except RoostError as exc:
        fail(exc.message)
        return
    if as_json:
        emit_json({"from": str(source), "store": _where(cfg), "moved": counts})
        return
    click.echo(f"moved {source} into {_where(cfg)}:")
    for what, n in counts.items():
        click.echo(f"  {what}: {n}")
    if "blobs copied" not in counts:
        click.echo(
            f"  file blobs: left in {source / 'blobs'}; set blob_dir to a folder every node"
            " shares and copy them there (or rerun with --blob-dir)"
        )


async def _import(cfg: ServerConfig, source: Path, blob_dir: Path | None) -> dict[str, int]:
    from roost.store.importer import import_folder
    from roost.store.postgres import PostgresStore

    store = PostgresStore(cfg.store)
    await store.open()
    try:
        return await import_folder(source, store, blob_dir)
    finally:
        await store.close()
