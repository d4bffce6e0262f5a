"""`roost upload`, `roost download`, offers in `roost listen`, and /send, /get in `roost chat`."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from conftest import roost_env, run_cli
from files_helpers import MiB, make_file, sha256
from helpers import unique


def test_upload_and_download_with_json(server, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    s = server.address
    data = make_file(tmp_path / "report.pdf", 300_000)
    up = run_cli(
        "upload", str(tmp_path / "report.pdf"), "--to", "general", "--json",
        "--user", alice, "--register", "--server", s,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    [line] = up.stdout.splitlines()  # one JSON object, no progress output
    sent = json.loads(line)
    assert sent["sha256"] == sha256(data) and sent["size"] == len(data)
    assert sent["name"] == "report.pdf" and sent["media_type"] == "application/pdf"
    assert sent["room"] == "general" and sent["seq"] >= 1
    assert up.stderr == ""

    out = tmp_path / "out"
    out.mkdir()
    for expected in ("report.pdf", "report (1).pdf"):
        down = run_cli(
            "download", sent["file"], "-o", str(out), "--json",
            "--user", bob, "--register", "--server", s,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        got = json.loads(down.stdout)
        assert got["path"] == str(out / expected) and got["sender"] == alice
        assert Path(got["path"]).read_bytes() == data

    plain = run_cli(
        "upload", str(tmp_path / "report.pdf"), "--to", "@" + bob, "--user", alice, "--server", s
    )
    assert plain.returncode == 0, plain.stderr
    file_id, digest = plain.stdout.split()
    assert digest == sha256(data) and len(file_id) == 12
    saved = run_cli(
        "download", file_id, "-o", str(tmp_path / "x.pdf"), "--user", bob, "--server", s
    )
    assert saved.stdout.strip() == str(tmp_path / "x.pdf")


def test_download_into_a_folder_that_does_not_exist_yet(server, tmp_path: Path) -> None:
    """README's `-o ~/Downloads` and `-o newdir/` make the folder and save inside it."""
    alice, bob = unique("alice"), unique("bob")
    s = server.address
    data = make_file(tmp_path / "notes.txt", 5000)
    up = run_cli(
        "upload", str(tmp_path / "notes.txt"), "--to", "general", "--json",
        "--user", alice, "--register", "--server", s,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    file_id = json.loads(up.stdout)["file"]
    home = tmp_path / "home"
    home.mkdir()
    wanted = {
        "~/Downloads": home / "Downloads" / "notes.txt",
        str(tmp_path / "newdir") + "/": tmp_path / "newdir" / "notes.txt",
        str(tmp_path / "deep" / "er.d") + "/": tmp_path / "deep" / "er.d" / "notes.txt",
        str(tmp_path / "named" / "copy.txt"): tmp_path / "named" / "copy.txt",
    }
    for given, expected in wanted.items():
        down = run_cli(
            "download", file_id, "-o", given, "--user", bob, "--register", "--server", s,
            HOME=str(home),
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        assert down.stdout.strip() == str(expected)
        assert expected.read_bytes() == data
    # A path ending in / that is a file is refused in one line, and nothing is lost.
    clash = run_cli("download", file_id, "-o", str(tmp_path / "notes.txt") + "/",
                    "--user", bob, "--server", s)  # fmt: skip
    assert clash.returncode == 1 and len(clash.stderr.splitlines()) == 1, clash.stderr
    assert "cannot make the folder" in clash.stderr
    assert (tmp_path / "notes.txt").read_bytes() == data
    helptext = run_cli("download", "--help").stdout
    assert "does not exist and has no extension" in " ".join(helptext.split())


def test_refusals_are_one_clear_line(server_factory, tmp_path: Path) -> None:
    srv = server_factory(max_file_size=MiB)
    make_file(tmp_path / "big.iso", MiB + MiB // 10)
    res = run_cli(
        "upload", str(tmp_path / "big.iso"), "--to", "general",
        "--user", unique(), "--register", "--server", srv.address,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr == "roost: error: big.iso: 1.1 MiB exceeds the 1.0 MiB limit (too_large)\n"
    missing = run_cli(
        "download", "nosuchfile00", "--user", unique(), "--register", "--server", srv.address
    )
    assert missing.returncode == 1
    assert missing.stderr == "roost: error: no file with id 'nosuchfile00' (no_such_file)\n"


def test_listen_prints_offers_and_auto_accepts(server, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    s = server.address
    inbox = tmp_path / "inbox"
    data = make_file(tmp_path / "song.mp3", 50_000)
    assert (
        run_cli("send", "general", "hi", "--user", bob, "--register", "--server", s).returncode == 0
    )
    listen = subprocess.Popen(
        [
            sys.executable, "-m", "roost", "listen", "general", "--json", "--count", "2",
            "--timeout", "30", "--auto-accept", str(inbox), "--user", bob, "--server", s,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=roost_env(),
    )  # fmt: skip
    time.sleep(1.0)
    up = run_cli(
        "upload", str(tmp_path / "song.mp3"), "--to", "general", "-m", "listen to this",
        "--json", "--user", alice, "--register", "--server", s,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    stdout, stderr = listen.communicate(timeout=40)
    assert listen.returncode == 0, stderr
    offer, saved = (json.loads(x) for x in stdout.splitlines())
    assert offer["type"] == "message" and offer["text"] == "listen to this"
    assert offer["file"]["id"] == json.loads(up.stdout)["file"]
    assert offer["file"]["name"] == "song.mp3" and offer["file"]["size"] == len(data)
    assert saved["type"] == "file_saved" and saved["error"] == ""
    assert Path(saved["path"]) == inbox / "song.mp3" and Path(saved["path"]).read_bytes() == data


def test_line_chat_send_and_get(server, tmp_path: Path) -> None:
    alice, bob = unique("alice"), unique("bob")
    s = server.address
    data = make_file(tmp_path / "my notes.txt", 20_000)
    sent = run_cli(
        "chat", "--plain", "--user", alice, "--register", "--server", s,
        input=f"/send {tmp_path / 'my notes.txt'}\n",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    line = next(x for x in sent.stdout.splitlines() if x.startswith("* sent "))
    file_id = line.rsplit(" ", 1)[1]
    assert line == f"* sent my notes.txt as {file_id}"
    offer = next(x for x in sent.stdout.splitlines() if "[file]" in x)
    assert f"[file] my notes.txt (19.5 KiB, text/plain) id {file_id}" in offer

    downloads = tmp_path / "dl"
    downloads.mkdir()
    got = run_cli(
        "chat", "--plain", "--downloads", str(downloads), "--user", bob, "--register",
        "--server", s, input=f"/get {file_id}\n/get nosuchfile00\n",
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert f"* saved {file_id} to {downloads / 'my notes.txt'}" in got.stdout
    assert "! fetching nosuchfile00 failed: no file with id 'nosuchfile00'" in got.stdout
    assert (downloads / "my notes.txt").read_bytes() == data


def test_progress_bar_on_a_terminal(server, tmp_path: Path) -> None:
    make_file(tmp_path / "big.bin", 4 * MiB)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "roost", "upload", str(tmp_path / "big.bin"), "--to", "general",
            "--user", unique(), "--register", "--server", server.address,
        ],
        stdout=subprocess.PIPE, stderr=terminal, env=roost_env(COLUMNS="100"),
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    proc.wait(30)
    os.close(controller)
    assert proc.returncode == 0
    text = shown.decode(errors="replace")
    assert "upload big.bin" in text and "MiB" in text
    assert "sent big.bin (4.0 MiB) to general" in text
