"""One process at a time on a data folder: an OS lock on ``roost.lock`` inside it.

Two servers on one SQLite database both hand out the same sequence numbers
(each keeps the last one in memory), and an offline tool writing beside a
server races it the same way. The lock is ``flock`` on a file in the folder:
the kernel drops it when its process ends, however it ends, so a lock left by
a crashed server is never in the way and needs no clean-up. The file holds the
pid and the command of the holder, only to name them in the refusal; it is
left in place (empty) on release, because unlinking a lock file lets two
late-comers lock two different files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from roost.protocol.errors import RoostError

LOCK_NAME = "roost.lock"


class DataFolderInUse(RoostError):
    """Another process holds the data folder; ``pid`` is 0 when it could not be read."""

    def __init__(self, folder: Path, pid: int, holder: str) -> None:
        who = f"`{holder}` (pid {pid})" if pid else "another process"
        super().__init__("in_use", f"the data folder {str(folder)!r} is in use by {who}")
        self.pid = pid
        self.holder = holder


class DataFolderLock:
    """Held from :meth:`acquire` until :meth:`release` or the end of the process."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, holder: str) -> None:
        """Lock the folder (it must exist) for ``holder``, e.g. "roost serve"; never waits.

        Raises :class:`DataFolderInUse` naming the process that holds it.
        """
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, other = read_holder(fd)
            os.close(fd)
            raise DataFolderInUse(self.folder, pid, other) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> DataFolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(fd: int) -> tuple[int, str]:
    """(pid, command) written by the holder; (0, "") while it is still writing them."""
    text = os.pread(fd, 256, 0).decode(errors="replace").strip()
    pid, _, holder = text.partition(" ")
    return (int(pid), holder) if pid.isdigit() else (0, "")
