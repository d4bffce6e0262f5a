"""One server per data folder (roost.store.lock), and what offline tools do beside it."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from conftest import run_cli
from helpers import unique


def lock_is_free(data_dir: Path) -> bool:
    fd = os.open(data_dir / "roost.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_second_server_on_a_data_folder_refuses_naming_the_first(server) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    assert (server.data_dir / "roost.lock").read_text().split()[0] == str(pid)
    assert not lock_is_free(server.data_dir)
    t0 = time.monotonic()
    second = run_cli("serve", "--port", "0", "--data-dir", str(server.data_dir))
    assert time.monotonic() - t0 < 10
    assert second.returncode == 1
    [line] = second.stderr.splitlines()
    assert f"pid {pid}" in line and "in use by `roost serve`" in line, line
    # The first server goes on undisturbed.
    ok = run_cli("send", "general", "still here", "--user", unique(), "--register",
                 "--server", server.address)  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_lock_is_released_on_exit_and_a_stale_one_is_no_obstacle(server) -> None:
    server.stop()
    assert lock_is_free(server.data_dir)
    assert (server.data_dir / "roost.lock").read_text() == ""
    server.start()
    assert not lock_is_free(server.data_dir)
    server.kill9()  # leaves the file with the dead pid in it
    assert (server.data_dir / "roost.lock").read_text().strip()
    server.start()
    assert server.proc is not None
    pid = (server.data_dir / "roost.lock").read_text().split()[0]
    assert pid == str(server.proc.pid)


def test_user_add_beside_a_running_server_says_so(server) -> None:
    assert server.proc is not None
    name = unique("late")
    res = run_cli("user", "add", name, "--data-dir", str(server.data_dir))
    assert res.returncode == 0, res.stderr
    assert f"pid {server.proc.pid}" in res.stderr and "added beside it" in res.stderr
    sent = run_cli("send", "general", "hi", "--user", name, "--server", server.address)
    assert sent.returncode == 0, sent.stderr


def test_server_refuses_a_folder_an_offline_tool_holds(tmp_path: Path) -> None:
    from roost.store.lock import DataFolderLock

    data = tmp_path / "data"
    data.mkdir()
    with DataFolderLock(data) as lock:
        lock.acquire("roost user add")
        res = run_cli("serve", "--port", "0", "--data-dir", str(data))
    assert res.returncode == 1
    assert f"in use by `roost user add` (pid {os.getpid()})" in res.stderr
    assert len(res.stderr.splitlines()) == 1
