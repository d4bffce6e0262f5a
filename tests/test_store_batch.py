"""Group commit: message rows of one batch go in together, and one bad row sinks no other."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from roost.protocol.errors import ErrorCode, RoostError
from roost.store.sqlite import SQLiteStore


def _append(store: SQLiteStore, text: str) -> tuple[int, asyncio.Future[None]]:
    """append_message with its on_stored callback turned into a future."""
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def stored(exc: BaseException | None) -> None:
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)

    rec = store.append_message("r", "ann", text, 2, 1.0, stored)
    return rec.seq, fut


async def test_a_failing_row_in_a_batch_fails_alone(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "roost.db")
    await store.open()
    try:
        for text in ("one", "two", "three"):
            _, stored = _append(store, text)
            await stored
        # Hold the database thread so the next three rows queue up as one batch.
        release = threading.Event()

        def hold(conn: sqlite3.Connection) -> None:
            release.wait(10)

        held = store._submit(hold)
        store._seq["r"] = 3
        _, ok1 = _append(store, "four")
        store._seq["r"] = 1  # the next row repeats seq 2: a primary key conflict
        _, bad = _append(store, "again")
        store._seq["r"] = 4
        _, ok2 = _append(store, "five")
        release.set()
        await held
        await ok1
        await ok2
        with pytest.raises(RoostError) as err:
            await bad
        assert err.value.code == ErrorCode.STORAGE
        rows = await store.history("r", 0, 0, 10)
        assert [(m.seq, m.text) for m in rows] == [
            (1, "one"),
            (2, "two"),
            (3, "three"),
            (4, "four"),
            (5, "five"),
        ]
    finally:
        await store.close()


async def test_messages_resolve_in_seq_order_whichever_thread_commits(tmp_path: Path) -> None:
    """Small batches may commit on the loop thread, large or mixed ones on the
    database thread; either way acknowledgements follow seq order."""
    store = SQLiteStore(tmp_path / "roost.db")
    await store.open()
    rng = random.Random(7)
    order: list[int] = []
    pending = []
    try:
        for _ in range(300):
            if rng.random() < 0.3:
                # Keeps the database thread busy for a moment.
                pending.append(store._submit(lambda conn: time.sleep(0.001)))
            for _ in range(rng.choice([1, 1, 2, 5, 20, 150])):
                seq, stored = _append(store, "hi")
                stored.add_done_callback(lambda f, seq=seq: order.append(seq))
                pending.append(stored)
            if rng.random() < 0.5:
                await asyncio.sleep(0)
        await asyncio.gather(*pending)
        await asyncio.sleep(0)
        assert len(order) == await store.last_seq("r")
        assert order == sorted(order)
    finally:
        await store.close()


async def test_a_failing_callback_does_not_stop_the_rest_of_its_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "roost.db")
    batches: list[int] = []
    store.after_stored = lambda: batches.append(1)
    await store.open()
    try:
        told: list[int] = []

        def broken(exc: BaseException | None) -> None:
            raise RuntimeError("a bug in the caller")

        store.append_message("r", "ann", "one", 2, 1.0, broken)
        rest = [_append(store, text) for text in ("two", "three")]
        for seq, fut in rest:
            fut.add_done_callback(lambda f, seq=seq: told.append(seq))
        await asyncio.gather(*(fut for _, fut in rest))
        await asyncio.sleep(0)
        assert told == [2, 3]
        assert batches, "after_stored did not run"
        assert [m.seq for m in await store.history("r", 0, 0, 10)] == [1, 2, 3]
    finally:
        await store.close()


async def test_fsync_durability_stores_and_closes_cleanly(tmp_path: Path) -> None:
    crashed: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: crashed.append(args.exc_value)
    try:
        store = SQLiteStore(tmp_path / "roost.db", durability="fsync")
        await store.open()
        results = [_append(store, text) for text in ("a", "b", "c")]
        await asyncio.gather(*(fut for _, fut in results))
        await store.close()
        assert crashed == [], f"the database thread died: {crashed}"
        again = SQLiteStore(tmp_path / "roost.db", durability="fsync")
        await again.open()
        try:
            assert [m.text for m in await again.history("r", 0, 0, 10)] == ["a", "b", "c"]
        finally:
            await again.close()
        assert crashed == []
    finally:
        threading.excepthook = previous
