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


def test_offline_tool_refuses_a_folder_without_a_database(tmp_path: Path) -> None:
    typo = tmp_path / "roost-dat"
    res = run_cli("user", "add", "root", "--admin", "--data-dir", str(typo))
    assert res.returncode == 1
    [line] = res.stderr.splitlines()
    assert "no Roost database in" in line and "--create" in line, line
    assert not typo.exists()
    # An existing folder without a database is refused too, and left as it was.
    (tmp_path / "empty").mkdir()
    res = run_cli("user", "add", "root", "--data-dir", str(tmp_path / "empty"))
    assert res.returncode == 1 and "no Roost database" in res.stderr
    assert list((tmp_path / "empty").iterdir()) == []
    made = run_cli("user", "add", "root", "--admin", "--data-dir", str(typo), "--create")
    assert made.returncode == 0, made.stderr
    assert (typo / "roost.db").is_file()
    again = run_cli("user", "add", "other", "--data-dir", str(typo))
    assert again.returncode == 0, again.stderr


def test_readme_tour_user_add_on_the_folder_a_server_made(server_factory) -> None:
    """README: `roost user add root --admin --data-dir roost-data` after scripts/serve.sh."""
    srv = server_factory("roost-data")
    srv.stop()
    res = run_cli("user", "add", "root", "--admin", "--data-dir", str(srv.data_dir))
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_restore_into_a_served_folder_is_refused_naming_the_server(server, tmp_path) -> None:
    assert server.proc is not None
    dest = tmp_path / "copy"
    made = run_cli("backup", str(dest), "--data-dir", str(server.data_dir))
    assert made.returncode == 0, made.stderr
    res = run_cli("restore", str(dest), "--data-dir", str(server.data_dir), "--force")
    assert res.returncode == 1
    [line] = res.stderr.splitlines()
    assert (
        f"in use by `roost serve` (pid {server.proc.pid}); stop the server before restoring" in line
    ), line
    assert not list(tmp_path.glob("*.before-restore-*"))
