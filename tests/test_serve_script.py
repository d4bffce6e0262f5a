"""scripts/serve.sh, as README's set-up runs it: it says what to do next, and that works."""

from __future__ import annotations

import shlex
import signal
import subprocess
import time
from pathlib import Path

from conftest import roost_env, run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_serve_script_prints_the_next_two_steps_and_they_work(tmp_path: Path) -> None:
    assert (ROOT / ".venv" / "bin" / "roost").exists(), "scripts/test.sh makes .venv first"
    data, port_file = tmp_path / "roost-data", tmp_path / "port"
    proc = subprocess.Popen(
        [
            "bash",
            str(ROOT / "scripts" / "serve.sh"),
            "--port",
            "0",
            "--data-dir",
            str(data),
            "--port-file",
            str(port_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=roost_env(ROOST_NO_INSTALL="1"),
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, lines
            time.sleep(0.05)
        port = port_file.read_text().strip()
        steps = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in lines
                 if line.strip().startswith(("1.", "2."))}  # fmt: skip
        assert steps["1. create an admin"] == (
            f".venv/bin/roost user add root --admin --data-dir {data}"
        ), lines
        assert steps["2. open the chat"] == (
            ".venv/bin/roost chat --user root --server 127.0.0.1:PORT (the port it prints below)"
        ), lines
        # Step 1 as printed, beside the running server (from the repository's root).
        admin = subprocess.run(
            shlex.split(steps["1. create an admin"]), cwd=ROOT, capture_output=True, text=True,
            env=roost_env(ROOST_PASSWORD="s3cret"), timeout=60,
        )  # fmt: skip
        assert admin.returncode == 0, admin.stderr
        assert "created admin root" in admin.stdout
        # Step 2's account and server: the line client logs in as root.
        chat = run_cli("chat", "--plain", "--user", "root", "--server", f"127.0.0.1:{port}",
                       input="/quit\n", ROOST_PASSWORD="s3cret")  # fmt: skip
        assert chat.returncode == 0, chat.stderr
        assert "* logged in as root; in #general" in chat.stdout
    finally:
        proc.send_signal(signal.SIGTERM)  # the script exec'd `roost serve`: this is the server
        proc.wait(15)
