"""Reloading the configuration of a running `roost serve`: SIGHUP and `roost admin reload`."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest

from conftest import run_cli, toml_value
from helpers import RawConnection, client_for, logged_in, unique
from modhelpers import add_account
from opshelpers import free_port, scrape, value
from roost.client import RoostError
from roost.server.tls import fingerprint_of, generate_self_signed


def write_config(srv, **settings) -> None:
    """Replace the server's config file (the one `roost serve --config` was given)."""
    cfg = {**srv.config, **settings}
    path = srv.data_dir.parent / f"{srv.data_dir.name}.toml"
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in cfg.items()))


async def wait_for_log(srv, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = srv.log()
        if text in log:
            return log
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log:\n{srv.log()[-3000:]}")


async def test_sighup_changes_limits_and_rate_limits_under_traffic(server_factory) -> None:
    port = free_port()
    srv = server_factory(metrics_port=port, max_text=1000)
    room = unique("room")
    async with logged_in(srv) as a, logged_in(srv) as b, logged_in(srv) as c:
        for cl in (a, b, c):
            await cl.join(room)
        logins = value(await asyncio.to_thread(scrape, port), "roost_logins_total", transport="tcp")
        await a.send(room, "x" * 900)  # fits the limit in force
        stop = asyncio.Event()
        acked: list[int] = []

        async def traffic() -> None:
            # b sends all along, paced under the new rate limit, through the reload.
            while not stop.is_set():
                acked.append((await b.send(room, f"steady {len(acked)}")).seq)
                await asyncio.sleep(0.3)

        sender = asyncio.create_task(traffic())
        await asyncio.sleep(0.5)
        write_config(srv, max_text=500, msg_rate=5.0, msg_burst=5, max_frame=131072)
        srv.proc.send_signal(signal.SIGHUP)
        log = await wait_for_log(srv, "reloaded the configuration")
        line = next(ln for ln in log.splitlines() if "reloaded the configuration" in ln)
        assert "max_text" in line and "msg_rate" in line and "msg_burst" in line
        assert "needs a restart:" in line and "max_frame" in line.split("needs a restart:")[1]
        # The new text limit applies to the sessions that were there before.
        with pytest.raises(RoostError) as err:
            await a.send(room, "x" * 900)
        assert err.value.code == "bad_request" and "limit of 500" in err.value.message
        # The new rate limit too: a burst past 5 messages is refused.
        codes = []
        for i in range(12):
            try:
                await c.send(room, f"burst {i}")
                codes.append("ok")
            except RoostError as exc:
                codes.append(str(exc.code))
        assert codes[:5] == ["ok"] * 5 and "rate_limited" in codes
        await asyncio.sleep(1.0)
        stop.set()
        await sender
        # No connection was dropped: the same three sessions, no new login, no gap in b's acks.
        after = await asyncio.to_thread(scrape, port)
        assert value(after, "roost_logins_total", transport="tcp") == logins
        assert value(after, "roost_sessions", transport="tcp") == 3
        assert value(after, "roost_config_reloads_total", outcome="applied") == 1
        assert len(acked) >= 5 and acked == sorted(acked)
    # A new connection is told the new limits in its hello (max_frame needs a restart).
    raw = await RawConnection.open(srv)
    assert raw.server_hello.limits.max_text == 500
    assert raw.server_hello.limits.max_frame == 262144
    raw.writer.close()


async def test_admin_reload_refuses_a_broken_config_and_keeps_the_old_one(server_factory) -> None:
    srv = server_factory(registration="open")
    add_account(srv, "boss", "admin")
    m = unique("m")
    async with logged_in(srv, m) as member:
        write_config(srv, registration="closed", max_text=300)
        res = await asyncio.to_thread(
            run_cli, "admin", "reload", "--json", "--user", "boss", "--server", srv.address
        )
        assert res.returncode == 0, res.stderr
        result = json.loads(res.stdout)
        assert set(result["changed"]) == {"registration", "max_text"}
        assert result["restart_needed"] == []
        # Registration is closed now.
        with pytest.raises(RoostError) as err:
            async with logged_in(srv, unique("late")):
                pass
        assert err.value.code == "registration_closed"

        # A file with an error: refused, with the reason; the config in force stays.
        path = srv.data_dir.parent / f"{srv.data_dir.name}.toml"
        for broken, why in (
            ("max_text = 300\nregistration = \n", "not valid TOML"),
            ("max_text = 'long'\n", "max_text must be an integer"),
            ("max_txt = 10\n", "unknown config keys"),
            ("registration = 'sometimes'\n", "registration must be"),
        ):
            path.write_text(broken)
            res = await asyncio.to_thread(
                run_cli, "admin", "reload", "--user", "boss", "--server", srv.address
            )
            assert res.returncode == 1
            assert "reload refused" in res.stderr and why in res.stderr, res.stderr
        # SIGHUP with a broken file: logged, and the server goes on.
        srv.proc.send_signal(signal.SIGHUP)
        await wait_for_log(srv, "reload refused, the configuration in force stays")
        with pytest.raises(RoostError) as err:
            await member.send("general", "y" * 301)
        assert "limit of 300" in err.value.message
        await member.send("general", "still here")
        # Members may not reload.
        res = await asyncio.to_thread(
            run_cli, "admin", "reload", "--user", m, "--server", srv.address
        )
        assert res.returncode == 1 and "only admins may reload" in res.stderr
    assert srv.proc.poll() is None


async def test_reload_keeps_command_line_options(server_factory) -> None:
    """--port given on the command line wins over the file, before and after a reload."""
    srv = server_factory(args=["-v"])
    add_account(srv, "boss", "admin")
    write_config(srv, port=1, log_level="warning")
    admin = client_for(srv, "boss", register=False)
    await admin.start()
    try:
        result = await admin.reload_config()
    finally:
        await admin.close()
    # -v (debug) and --port stay as given; the file's port 1 is not applied.
    assert result.changed == [] and result.restart_needed == []


async def test_admin_stats_shows_the_metrics_figures(server_factory) -> None:
    port = free_port()
    srv = server_factory(metrics_port=port)
    add_account(srv, "boss", "admin")
    async with logged_in(srv) as a:
        for i in range(7):
            await a.send("general", f"counted {i}")
        res = await asyncio.to_thread(
            run_cli, "admin", "stats", "--json", "--user", "boss", "--server", srv.address
        )
        assert res.returncode == 0, res.stderr
        samples = {
            (s["name"], tuple(sorted(s["labels"].items()))): s["value"]
            for s in map(json.loads, res.stdout.splitlines())
        }
        scraped = await asyncio.to_thread(scrape, port)
        for name, labels in (
            ("roost_messages_stored_total", {"priority": "normal"}),
            ("roost_logins_total", {"transport": "tcp"}),
            ("roost_registrations_total", {}),
        ):
            key = (name, tuple(sorted(labels.items())))
            assert samples[key] == scraped[key], name
        assert samples["roost_messages_stored_total", (("priority", "normal"),)] == 7
        # The admin's own session is there while it asks (gone by the scrape).
        assert samples["roost_sessions", (("transport", "tcp"),)] == 2
        assert ("roost_store_commit_seconds_count", ()) in samples
        text = await asyncio.to_thread(
            run_cli, "admin", "stats", "--user", "boss", "--server", srv.address
        )
        assert 'roost_messages_stored_total{priority="normal"} 7' in text.stdout.splitlines()
        # Members may not read them.
        res = await asyncio.to_thread(
            run_cli, "admin", "stats", "--user", a.user, "--server", srv.address
        )
        assert res.returncode == 1 and "forbidden" in res.stderr


async def served_certificate(srv, known) -> str:
    """The fingerprint a new TLS client pins (with a known-servers file of its own)."""
    client = client_for(srv, unique(), tls=True, known_servers=known)
    await client.start()
    try:
        assert client.pinned is not None
        return client.pinned
    finally:
        await client.close()


async def test_reload_serves_a_renewed_certificate_and_a_new_log_level(
    server_factory, tmp_path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key, "roost", "127.0.0.1")
    first = fingerprint_of(cert)
    port = free_port()
    srv = server_factory(tls=True, tls_cert=str(cert), tls_key=str(key), metrics_port=port)
    known = tmp_path / "known_servers"
    async with logged_in(srv, tls=True, known_servers=known) as old:
        assert old.pinned == first
        # The renewal writes new files under the same names, then signals the server.
        generate_self_signed(cert, key, "roost", "127.0.0.1")
        renewed = fingerprint_of(cert)
        assert renewed != first
        write_config(srv, log_level="warning")
        srv.proc.send_signal(signal.SIGHUP)
        await wait_for_log(srv, "reloaded the configuration: log_level")
        # New connections get the new certificate ...
        assert await served_certificate(srv, tmp_path / "other") == renewed
        # ... while the session that was there goes on over its connection.
        await old.send("general", "still on the old handshake")
        metrics = await asyncio.to_thread(scrape, port)
        assert value(metrics, "roost_sessions", transport="tls") == 1
        assert value(metrics, "roost_logins_total", transport="tls") == 2
    # At level warning the server no longer logs connections.
    size = len(srv.log())
    async with logged_in(srv, tls=True, insecure=True, known_servers=known):
        pass
    assert "connect " not in srv.log()[size:]

    # A certificate that does not load is refused; the one in force stays.
    cert.write_text("not a certificate")
    srv.proc.send_signal(signal.SIGHUP)
    await wait_for_log(srv, "reload refused")
    assert await served_certificate(srv, tmp_path / "third") == renewed
