"""What the full-text index costs on the SQLite store's message write path.

The store indexes messages in batches on its database thread (a few times a
second, and before each search), not in the transaction that stores them
(docs/benchmarks.md, "Search"). This appends ``--messages`` messages to a
fresh store, ``--batch`` per loop turn (1: a quiet server, every message its
own commit; 50: a busy room, one commit per turn), with indexing and with
indexing turned off, alternating runs so both see the same machine; then one
search, which indexes whatever is left. Reported per message, median of the
runs: the loop thread's wall time through the store (append, the inline
commit, the callbacks) and its CPU time, the CPU time of the whole process
(the database thread's indexing included), and the database size. Texts
are chat-like: 4-20 words of a 2,000-word vocabulary, fixed seed.

    python bench/search_index.py [--messages 20000] [--batch 1 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from pathlib import Path
from typing import Any

from common import emit, load_average, workdir
from roost.store.base import SearchQuery
from roost.store.search import parse_query
from roost.store.sqlite import SQLiteStore


def _texts(n: int) -> list[str]:
    rng = random.Random(18)
    vocab = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(2000)
    ]
    return [" ".join(rng.choices(vocab, k=rng.randint(4, 20))) for _ in range(n)]


class _Waiter:
    """A future done once ``n`` messages are stored."""

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.left = n

    def stored(self, exc: BaseException | None) -> None:
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)


async def _run(folder: Path, texts: list[str], batch: int, index: bool) -> dict[str, float]:
    store = SQLiteStore(folder / "roost.db")
    await store.open()
    if not index:
        store._index = lambda budget: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    busy = 0.0
    cpu0, thread0 = time.process_time(), time.thread_time()
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        waiter = _Waiter(loop, len(chunk))
        t0 = time.perf_counter()
        for i, text in enumerate(chunk):
            store.append_message(f"room{i % 4}", "ann", text, 2, time.time(), waiter.stored)
        await waiter.done
        busy += time.perf_counter() - t0
    loop_cpu = time.thread_time() - thread0
    terms = parse_query("zzzz")
    await store.search(SearchQuery(terms, ["room0"]))  # indexes what is left
    cpu = time.process_time() - cpu0
    timings: dict[str, float] = {}
    if index:
        # A word of most messages and a word of few, over every conversation.
        common, rare = texts[0].split()[0], texts[-1].split()[-1]
        for label, word in (("search_common_ms", common), ("search_rare_ms", rare)):
            query = SearchQuery(parse_query(word), [f"room{i}" for i in range(4)], limit=50)
            t0 = time.perf_counter()
            for _ in range(5):
                await store.search(query)
            timings[label] = (time.perf_counter() - t0) / 5 * 1e3
    await store.close()
    size = sum(f.stat().st_size for f in folder.iterdir())
    for f in folder.iterdir():
        f.unlink()
    return {
        "loop_us_per_message": busy / len(texts) * 1e6,
        "loop_cpu_us_per_message": loop_cpu / len(texts) * 1e6,
        "process_cpu_us_per_message": cpu / len(texts) * 1e6,
        "db_bytes_per_message": size / len(texts),
        **timings,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    texts = _texts(args.messages)
    results: dict[str, Any] = {"load_before": load_average(), "messages": args.messages}
    with workdir("search") as folder:
        for batch in args.batch:
            runs: dict[str, list[dict[str, float]]] = {"indexed": [], "not_indexed": []}
            for _ in range(args.runs):
                for label, index in (("indexed", True), ("not_indexed", False)):
                    runs[label].append(await _run(folder, texts, batch, index))
            row = {
                label: {k: round(statistics.median(r[k] for r in rs), 2) for k in rs[0]}
                for label, rs in runs.items()
            }
            row["extra_loop_us_per_message"] = round(
                row["indexed"]["loop_us_per_message"] - row["not_indexed"]["loop_us_per_message"],
                1,
            )
            results[f"batch_{batch}"] = row
    emit(results, args.json)


if __name__ == "__main__":
    asyncio.run(main())
