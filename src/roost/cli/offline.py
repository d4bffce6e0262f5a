"""What offline tools (`roost user add` and the like) share: the data folder to themselves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from roost.cli.common import fail
from roost.server.config import ServerConfig
from roost.store.lock import DataFolderInUse, DataFolderLock


@contextmanager
def offline_folder(
    cfg: ServerConfig, holder: str, *, create: bool = False, beside_server: str = ""
) -> Iterator[None]:
    """Hold the data folder of ``cfg`` for ``holder`` (e.g. "roost user add").

    Only for the SQLite store: a shared store (``cfg.store``, a cluster) is
    neither in the folder nor locked by it, so there is nothing to check.

    A folder that holds no Roost database is refused (a mistyped --data-dir
    would otherwise become a new, empty server) unless ``create`` is given.

    A running server holds its folder. A tool whose writes the server is made
    to pick up (an account: the server reads one it does not know from the
    store) passes ``beside_server``, the sentence saying so, and goes on
    without the lock; any other tool exits with one line naming the server,
    since writing beside it would race its sequence numbers and caches.
    """
    if cfg.store:
        yield
        return
    db_path = cfg.db_path
    data_dir = db_path.parent
    if not create and not db_path.is_file():
        fail(
            f"no Roost database in {str(data_dir)!r} ({db_path.name} is missing):"
            " check --data-dir, or pass --create to start a new data folder"
        )
    lock = DataFolderLock(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(holder)
    except DataFolderInUse as exc:
        if not beside_server:
            fail(f"{exc.message}; stop it first (offline tools need the folder to themselves)")
        click.echo(f"roost: {exc.message}: {beside_server}", err=True)
    try:
        yield
    finally:
        lock.release()
