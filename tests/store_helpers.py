"""Opening each store backend for the tests that run against both."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roost.store.base import FileRecord, Store, StoredMessage

BACKENDS = ["sqlite", "postgres"]


async def open_store(backend: str, tmp_path: Path, dsn: str) -> Store:
    """A fresh, open store of that backend (PostgreSQL: migrated first)."""
    store: Store
    if backend == "sqlite":
        from roost.store.sqlite import SQLiteStore

        store = SQLiteStore(tmp_path / "roost.db")
    else:
        from roost.store.postgres import PostgresStore

        store = PostgresStore(dsn)
        await store.migrate()
    await store.open()
    return store


def append(
    store: Store, room: str, text: str, sender: str = "ann", file: FileRecord | None = None
) -> tuple[StoredMessage, asyncio.Future[StoredMessage]]:
    """append_message with its callback turned into a future of the stored record."""
    fut: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()

    def stored(exc: BaseException | None) -> None:
        if exc is None:
            fut.set_result(rec)
        else:
            fut.set_exception(exc)

    rec = store.append_message(room, sender, text, 2, 1.0, stored, file)
    return rec, fut
