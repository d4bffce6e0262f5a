"""`roost upload` and `roost download`, with a progress bar on a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from roost.cli.common import client_options, emit_json, make_client, run_async
from roost.client.files import Progress
from roost.protocol.display import visible
from roost.protocol.sizes import human_size


@contextlib.contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Progress | None]:
    """A rich progress bar (bytes, rate, time left) on stderr when it is a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "-t", "target", required=True, help="Room, or @USER for a direct message.")
@click.option("--text", "-m", default="", help="Caption shown with the file.")
@click.option("--name", default=None, help="Name to offer the file under [default: its own].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@client_options
@run_async
async def upload(
    path: Path,
    target: str,
    text: str,
    name: str | None,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Send the file at PATH to a room or @USER; prints its id and SHA-256.

    An interrupted upload continues where it stopped when run again.
    """
    async with make_client(server, user, register) as client:
        with progress_bar(f"upload {path.name}", as_json) as progress:
            result = await client.upload(path, target, name=name, text=text, progress=progress)
    info = result.file
    if as_json:
        emit_json(
            {
                "file": info.id,
                "name": info.name,
                "size": info.size,
                "sha256": info.sha256,
                "media_type": info.media_type,
                "room": result.room,
                "seq": result.seq,
            }
        )
    else:
        click.echo(f"{visible(info.id)} {visible(info.sha256)}")
        click.echo(f"sent {visible(info.name)} ({human_size(info.size)}) to {target}", err=True)


@click.command()
@click.argument("file_id")
@click.option(
    "--output",
    "-o",
    # Kept as text: a Path would drop the trailing separator that marks a folder.
    type=click.Path(),
    default=None,
    help="Where to save [default: the current folder]. A folder when it ends with /, exists"
    " as a folder, or does not exist and has no extension (e.g. ~/Downloads): made if"
    " missing. Otherwise the file name to save as. Never overwrites.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@client_options
@run_async
async def download(
    file_id: str,
    output: str | None,
    as_json: bool,
    server: str,
    user: str | None,
    register: bool,
) -> None:
    """Fetch file FILE_ID (from an offer) and print where it was saved.

    The bytes are checked against the file's SHA-256 before the file gets its
    name; an interrupted download continues from its .part file when run again.
    """
    async with make_client(server, user, register) as client:
        details = await client.file_info(file_id)
        info = details.file
        with progress_bar(f"download {visible(info.name)}", as_json) as progress:
            saved = await client.download(file_id, output, progress=progress)
    if as_json:
        emit_json(
            {
                "file": info.id,
                "path": str(saved),
                "name": info.name,
                "size": info.size,
                "sha256": info.sha256,
                "sender": details.sender,
                "room": details.room,
            }
        )
    else:
        click.echo(str(saved))
