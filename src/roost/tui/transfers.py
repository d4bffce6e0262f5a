"""The uploads and downloads of a session, as the transfers screen (F3) shows them.

The SDK reports progress through a callback; each transfer's callback also
carries the user's cancel: once asked, it raises ``TransferCancelled``, which
makes the SDK stop for good (``upload_cancel`` / ``download_cancel`` to the
server, the ``.part`` file deleted). No widget code here.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from typing import TypeVar

from roost.client import RoostError, TransferCancelled
from roost.client.files import Progress
from roost.protocol.sizes import human_size
from roost.tui.session import ChatSession, Update

T = TypeVar("T")
STATES = ("running", "done", "failed", "cancelled")
# Rate and time left are shown only after this long: the first instants say little.
MIN_ELAPSED = 0.2


@dataclass
class Transfer:
    id: int
    kind: str  # "upload" | "download"
    name: str
    total: int
    started: float
    done: int = 0
    base: int | None = None  # bytes already there at the first report (a resume)
    state: str = "running"
    detail: str = ""  # where it was saved, the file id sent, or the error
    ended: float | None = None
    cancel_requested: bool = False

    def rate(self, now: float) -> float:
        """Bytes per second moved by this run (not counting what a resume found)."""
        elapsed = (self.ended if self.ended is not None else now) - self.started
        moved = self.done - (self.base or 0)
        # Once finished, the average over the whole run, however short.
        enough = elapsed > 0 if self.ended is not None else elapsed >= MIN_ELAPSED
        return moved / elapsed if enough and moved > 0 else 0.0

    def time_left(self, now: float) -> float | None:
        rate = self.rate(now)
        if self.state != "running" or rate <= 0:
            return None
        return (self.total - self.done) / rate

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


class Transfers:
    """Every transfer started in one session, oldest first."""

    def __init__(self, session: ChatSession, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.clock = clock
        self.items: list[Transfer] = []
        self._ids = count(1)

    def start(self, kind: str, name: str, total: int) -> Transfer:
        t = Transfer(next(self._ids), kind, name, total, self.clock())
        self.items.append(t)
        self._changed()
        return t

    def get(self, transfer_id: int) -> Transfer | None:
        return next((t for t in self.items if t.id == transfer_id), None)

    def cancel(self, transfer_id: int) -> bool:
        """Ask a running transfer to stop; it does at its next progress report."""
        t = self.get(transfer_id)
        if t is None or t.state != "running":
            return False
        t.cancel_requested = True
        self._changed()
        return True

    def progress(self, t: Transfer) -> Progress:
        def report(done: int, total: int) -> None:
            if t.cancel_requested:
                raise TransferCancelled(f"{t.name}: cancelled")
            if t.base is None:
                t.base = done
            t.done, t.total = done, total
            self._changed()

        return report

    async def track(self, t: Transfer, run: Callable[[Progress], Awaitable[T]]) -> T | None:
        """Run a transfer with ``t``'s progress; None when the user cancelled it.

        Other errors mark it failed and are raised again (the screen shows them).
        """
        try:
            result = await run(self.progress(t))
        except TransferCancelled:
            t.state = "cancelled"
            return None
        except RoostError as exc:
            t.state, t.detail = "failed", exc.message
            raise
        except OSError as exc:
            t.state, t.detail = "failed", str(exc)
            raise
        except BaseException:  # the app is closing: the task is cancelled
            t.state = "cancelled"
            raise
        else:
            t.state = "done"
            t.done = t.total
            return result
        finally:
            t.ended = self.clock()
            self._changed()

    def _changed(self) -> None:
        self.session.emit(Update(kind="transfers"))


_REGISTRIES: weakref.WeakKeyDictionary[ChatSession, Transfers] = weakref.WeakKeyDictionary()


def transfers_of(session: ChatSession) -> Transfers:
    """The session's transfers (created on first use)."""
    found = _REGISTRIES.get(session)
    if found is None:
        found = _REGISTRIES[session] = Transfers(session)
    return found


# --- how a transfer reads ----------------------------------------------------------------


def bar(fraction: float, width: int = 20) -> str:
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)


def duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


def figures(t: Transfer, now: float) -> str:
    """``1.0 MiB / 4.0 MiB  2.0 MiB/s  0:02 left`` (rate and time while it runs)."""
    out = f"{human_size(t.done)} / {human_size(t.total)}"
    rate = t.rate(now)
    if rate > 0:
        out += f"  {human_size(int(rate))}/s"
    left = t.time_left(now)
    if left is not None:
        out += f"  {duration(left)} left"
    return out
