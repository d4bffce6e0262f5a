"""Server logs in both formats: JSON lines with their fields, and never a password or token."""

from __future__ import annotations

import json

import pytest

from helpers import RawConnection, client_for, logged_in, unique
from modhelpers import staff
from roost.client import RoostError
from roost.protocol.messages import Ok, Resume


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_password_or_token_in_any_log(server_factory, log_format) -> None:
    # Debug level: the most the server ever writes.
    srv = server_factory(log_format=log_format, args=["-v"])
    name, secret = unique("alice"), "s3cret-" + unique("pw")
    async with logged_in(srv, name, password=secret) as alice:
        token = alice.session.token
        await alice.send("general", "hello")
        with pytest.raises(RoostError):
            await client_for(srv, name, "wrong-" + secret, register=False).start()
        # While alice is logged in (her logout would revoke the token).
        raw = await RawConnection.open(srv)
        raw.send(Resume(id=1, token=token))
        assert isinstance(await raw.recv_until(lambda m: getattr(m, "id", None) == 1), Ok)
        raw.close()
    raw = await RawConnection.open(srv)
    raw.send(Resume(id=2, token=token[::-1]))
    assert (await raw.recv_until(lambda m: getattr(m, "id", None) == 2)).code == "auth_failed"
    raw.close()
    boss = await staff(srv)
    try:
        await boss.block(name, 60, "spam")
    finally:
        await boss.close()
    srv.stop()
    log = srv.log()
    assert "login" in log and name in log  # the log did record these events
    for leak in (secret, "wrong-" + secret, token, token[::-1], "$argon2"):
        assert leak not in log, f"{leak!r} appears in the {log_format} log"
    if log_format == "text":
        return
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"ts", "level", "event", "message"} <= r.keys() for r in records)
    assert records[0]["ts"].endswith("Z") and records[0]["level"] in ("info", "debug")
    events = {r["event"] for r in records}
    assert {"serving", "connect", "login", "login_failed", "disconnect", "block"} <= events
    login = next(r for r in records if r["event"] == "login" and r.get("user") == name)
    assert login["address"] == "127.0.0.1"
    failed = [r for r in records if r["event"] == "login_failed"]
    assert {r.get("reason") for r in failed} == {"wrong password or unknown user", "unknown token"}
    block = next(r for r in records if r["event"] == "block")
    assert block["user"] == name and block["reason"] == "spam"
