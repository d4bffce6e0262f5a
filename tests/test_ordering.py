"""Each conversation's messages delivered once and in seq order, holes filled from the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roost.bus.base import Envelope
from roost.server.ordering import HOLE_WAIT, Ordering
from roost.store.sqlite import SQLiteStore
from store_helpers import append


def _env(seq: int) -> Envelope:
    return Envelope("r", seq, 2, f"bus {seq}".encode())


async def test_holes_are_filled_from_the_store_and_repeats_dropped(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "roost.db")
    await store.open()
    try:
        got: list[tuple[int, bytes]] = []
        order = Ordering(store, lambda e: got.append((e.seq, bytes(e.frame))), lambda: ["r"])
        await order.start(check=False)
        for i in range(5):
            await append(store, "r", f"stored {i + 1}")[1]
        order.delivered["r"] = 0
        order.accept(_env(1))
        order.accept(_env(4))  # 2 and 3 went missing on the bus
        order.accept(_env(1))  # and 1 came twice
        assert [s for s, _ in got] == [1]
        await asyncio.sleep(HOLE_WAIT)
        for _ in range(250):  # the read from the store, on a busy machine
            if len(got) >= 4:
                break
            await asyncio.sleep(0.02)
        assert [s for s, _ in got] == [1, 2, 3, 4]
        assert got[1][1] != b"bus 2" and b"stored 2" in got[1][1]  # read from the store
        assert got[3][1] == b"bus 4"  # the held one, as the bus brought it
        order.accept(_env(3))
        order.accept(_env(5))
        assert [s for s, _ in got] == [1, 2, 3, 4, 5]
    finally:
        await order.stop()
        await store.close()


async def test_a_hole_filled_by_the_bus_in_time_needs_no_read(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "roost.db")
    await store.open()
    try:
        got: list[bytes] = []
        order = Ordering(store, lambda e: got.append(bytes(e.frame)), lambda: [])
        await order.start(check=False)
        order.accept(_env(2))
        order.accept(_env(3))
        order.accept(_env(1))  # late, within the wait
        assert got == [b"bus 1", b"bus 2", b"bus 3"]
        await asyncio.sleep(HOLE_WAIT * 2)
        assert got == [b"bus 1", b"bus 2", b"bus 3"]
    finally:
        await order.stop()
        await store.close()


async def test_the_periodic_check_finds_what_the_bus_never_brought(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "roost.db")
    await store.open()
    try:
        got: list[int] = []
        order = Ordering(store, lambda e: got.append(e.seq), lambda: ["r"])
        await order.start(check=False)
        for i in range(3):
            await append(store, "r", f"m{i}")[1]
        order.delivered["r"] = 0  # this node heard none of them
        order.catch_up()
        for _ in range(50):
            if got == [1, 2, 3]:
                break
            await asyncio.sleep(0.02)
        assert got == [1, 2, 3]
    finally:
        await order.stop()
        await store.close()
