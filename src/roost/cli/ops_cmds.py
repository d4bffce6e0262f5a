"""`roost backup` and `roost restore`: a data folder copied while its server runs, and put back."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from roost.cli.common import emit_json, fail
from roost.protocol.errors import RoostError
from roost.protocol.sizes import human_size
from roost.store.backup import BackupInfo
from roost.store.lock import DataFolderInUse

DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("roost-data"),
    show_default=True,
    help="The server's data folder.",
)
JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _summary(info: BackupInfo) -> str:
    return (
        f"{info.messages} messages, {info.accounts} accounts, {info.files} files"
        f" ({info.blobs} blobs, {human_size(info.blob_bytes)})"
    )


@click.command()
@click.argument("dest", type=click.Path(path_type=Path))
@DATA_DIR
@JSON
def backup(dest: Path, data_dir: Path, as_json: bool) -> None:
    """Copy the data folder into the new folder DEST, while the server runs.

    The database is copied as of one moment (SQLite's online backup), then the
    files' blobs; the server goes on serving. Put it back with `roost restore`.
    """
    from roost.store.backup import backup as make_backup

    try:
        info = make_backup(data_dir, dest)
    except RoostError as exc:
        fail(exc.message)
        return
    except OSError as exc:
        fail(f"cannot write the backup to {str(dest)!r}: {exc.strerror or exc}")
        return
    if as_json:
        emit_json({"backup": str(dest), **asdict(info)})
        return
    click.echo(f"backed up {data_dir} to {dest}: {_summary(info)}")
    if info.missing_blobs:
        click.echo(
            f"warning: {len(info.missing_blobs)} blobs named by stored files were not found",
            err=True,
        )


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@DATA_DIR
@click.option(
    "--force", is_flag=True, help="Restore into a folder with data, moving its content aside."
)
@JSON
def restore(source: Path, data_dir: Path, force: bool, as_json: bool) -> None:
    """Put the backup SOURCE (made by `roost backup`) in place as the data folder.

    The server must be stopped. A folder with data in it is refused unless
    --force, which moves its content to DATA_DIR.before-restore-TIME first.
    """
    from roost.store.backup import restore as put_back

    try:
        info = put_back(source, data_dir, force)
    except DataFolderInUse as exc:
        fail(f"{exc.message}; stop the server before restoring")
        return
    except RoostError as exc:
        fail(exc.message)
        return
    except OSError as exc:
        fail(f"cannot restore into {str(data_dir)!r}: {exc.strerror or exc}")
        return
    if as_json:
        emit_json({"restored": str(data_dir), **asdict(info)})
        return
    click.echo(f"restored {source} into {data_dir}: {_summary(info)}")
