"""TLS with certificates pinned on first use, against a real server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from conftest import roost_env, run_cli
from helpers import client_for, logged_in, next_event, unique
from roost.client import Message, RoostError
from roost.server.tls import fingerprint_of, generate_self_signed


async def test_pinned_certificate_connects_silently_and_a_swapped_one_is_refused(
    server_factory, tmp_path
) -> None:
    srv = server_factory(tls=True)
    known = tmp_path / "known_servers"
    fingerprint = fingerprint_of(srv.data_dir / "tls" / "cert.pem")
    async with logged_in(srv, tls=True, known_servers=known) as first:
        assert first.pinned == fingerprint
        sent = await first.send("general", "over tls")
        assert (await next_event(first, Message, text="over tls")).seq == sent.seq
    assert known.read_text() == f"{srv.host}:{srv.port} {fingerprint}\n"
    async with logged_in(srv, tls=True, known_servers=known) as again:
        assert again.pinned is None  # known already: nothing new to say
        assert (await again.send("general", "still fine")).seq == sent.seq + 1
    # the server gets another certificate (a new one is made at start)
    srv.stop()
    shutil.rmtree(srv.data_dir / "tls")
    srv.start()
    swapped = fingerprint_of(srv.data_dir / "tls" / "cert.pem")
    assert swapped != fingerprint
    refused = client_for(srv, unique(), tls=True, known_servers=known, reconnect=False)
    with pytest.raises(RoostError) as err:
        await refused.start()
    assert err.value.code == "cert_changed"
    assert fingerprint in err.value.message and swapped in err.value.message
    assert str(known) in err.value.message
    assert known.read_text().count("\n") == 1  # the pin is not replaced silently
    # --insecure skips the check, only when asked
    async with logged_in(srv, tls=True, insecure=True, known_servers=known) as brave:
        assert brave.session is not None and brave.pinned is None
    # a plain client gets a clear hint instead of hanging
    plain = client_for(srv, unique(), reconnect=False, connect_timeout=1.0)
    with pytest.raises(RoostError) as err:
        await plain.start()
    assert "TLS" in err.value.message


def test_operator_certificate_and_the_cli(server_factory, tmp_path) -> None:
    cert, key = tmp_path / "op-cert.pem", tmp_path / "op-key.pem"
    generate_self_signed(cert, key, "ops.example", "127.0.0.1")
    srv = server_factory(tls=True, tls_cert=str(cert), tls_key=str(key))
    assert not (srv.data_dir / "tls").exists()  # the operator's pair is used as given
    known = tmp_path / "known"
    env = {"ROOST_KNOWN_SERVERS": str(known)}
    args = ("send", "general", "hi", "--user", unique(), "--register", "--server", srv.address)
    first = run_cli(*args, "--tls", "--json", **env)
    assert first.returncode == 0, first.stderr
    assert f"pinned its certificate {fingerprint_of(cert)}" in first.stderr
    second = run_cli(*args, "--tls", **env)
    assert second.returncode == 0 and second.stderr == ""
    known.write_text(f"{srv.host}:{srv.port} SHA256:00:11\n")
    changed = run_cli(*args, "--tls", **env)
    assert changed.returncode == 1 and "has changed" in changed.stderr
    assert "SHA256:00:11" in changed.stderr and fingerprint_of(cert) in changed.stderr
    assert run_cli(*args, "--tls", "--insecure", **env).returncode == 0


def test_serve_tls_flag_and_tls_client_against_plain_server(server, tmp_path) -> None:
    data = tmp_path / "flagged"
    port_file = tmp_path / "flagged.port"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "roost", "serve", "--tls", "--port", "0", "--web-port", "0"),
            *("--data-dir", str(data), "--port-file", str(port_file)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=roost_env(),
    )
    try:
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        assert (data / "tls" / "cert.pem").exists() and (
            data / "tls" / "key.pem"
        ).stat().st_mode & 0o077 == 0
        address = f"127.0.0.1:{port_file.read_text().strip()}"
        env = {"ROOST_KNOWN_SERVERS": str(tmp_path / "known")}
        ok = run_cli(
            "send",
            "general",
            "x",
            "--user",
            "u1",
            "--register",
            "--server",
            address,
            "--tls",
            **env,
        )
        assert ok.returncode == 0, ok.stderr
    finally:
        proc.terminate()
        proc.wait(10)
    assert "with TLS" in (proc.stderr.read() if proc.stderr else "")
    # a TLS client against a plain server fails with a clear error
    res = run_cli(
        "send",
        "general",
        "x",
        "--user",
        "u2",
        "--register",
        "--server",
        server.address,
        "--tls",
        **env,
    )
    assert res.returncode == 1 and "TLS handshake" in res.stderr


def test_plain_client_against_a_tls_server_is_told_at_once(server_factory, tmp_path) -> None:
    srv = server_factory(tls=True, handshake_timeout=10.0)
    env = {"ROOST_KNOWN_SERVERS": str(tmp_path / "known")}
    t0 = time.monotonic()
    res = run_cli(
        "send", "general", "x", "--user", unique(), "--register", "--server", srv.address, **env
    )
    took = time.monotonic() - t0
    assert res.returncode == 1
    [line] = res.stderr.splitlines()
    assert f"the server at {srv.address} speaks TLS: connect with --tls" in line, line
    assert took < 6, took  # before: the server's 10 s handshake timeout
    assert not (tmp_path / "known").exists()  # the question pins nothing


async def test_a_silent_server_that_is_not_tls_still_times_out_with_the_hint() -> None:
    import asyncio

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing, answers nothing, until the client goes
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = client_for(
        type("Srv", (), {"host": "127.0.0.1", "port": port})(), unique(), connect_timeout=1.5
    )
    try:
        with pytest.raises(RoostError) as exc:
            await client.start()
        assert exc.value.code == "timeout"
        assert "connect with TLS: --tls" in exc.value.message
    finally:
        await client.close()
        listener.close()
        await listener.wait_closed()


async def test_tls_hello_on_a_plain_server_is_a_mistake_not_abuse(server_factory, tmp_path) -> None:
    """A --tls client (or a plain client's TLS question to a slow plain server) is
    told the server speaks no TLS and earns no strike: before, a few of them got
    the address banned by the automatic protection."""
    from helpers import RawConnection
    from roost.protocol.messages import Bye

    srv = server_factory(abuse_warn=1, abuse_mute=2, abuse_block=3, abuse_interval=0.0)
    raw = await RawConnection.open(srv, hello=False)
    raw.send_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32))
    bye = await raw.recv_until(lambda m: isinstance(m, Bye))
    assert bye.code == "tls" and bye.reason == "this server does not speak TLS: connect without it"
    raw.writer.close()
    for _ in range(4):
        client = client_for(srv, unique(), tls=True, known_servers=tmp_path / "known")
        with pytest.raises(RoostError) as exc:
            await client.start()
        assert exc.value.code == "tls" and "TLS handshake" in exc.value.message
        await client.close()
    async with logged_in(srv) as plain:  # the address is not banned
        assert (await plain.send("general", "still welcome")).seq >= 1
