"""Accounts against a real server: password, sessions, and admins managing accounts."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import roost_env, run_cli
from helpers import PASSWORD, client_for, next_event, unique
from modhelpers import Recorder, add_account, staff
from roost.client import Bye, RoostError


async def one_audit(server, name: str) -> list:
    boss = await staff(server)
    try:
        return await boss.audit(20, target=name)
    finally:
        await boss.close()


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


async def test_change_password_checks_the_old_one_and_takes_effect(server) -> None:
    name = unique("pw")
    me = client_for(server, name, reconnect=False)
    await me.start()
    try:
        with pytest.raises(RoostError) as err:
            await me.change_password("wrong", "new-secret")
        assert err.value.code == "auth_failed"
        with pytest.raises(RoostError) as err:
            await me.change_password(PASSWORD, "")
        assert err.value.code == "bad_request"
        res = await me.change_password(PASSWORD, "new-secret")
        assert (res.action, res.target) == ("password", name)
    finally:
        await me.close()
    old = client_for(server, name, PASSWORD, register=False, reconnect=False)
    with pytest.raises(RoostError) as err:
        await old.start()
    assert err.value.code == "auth_failed"
    new = client_for(server, name, "new-secret", register=False, reconnect=False)
    await new.start()
    await new.close()


async def test_sessions_listed_and_logout_everywhere(server) -> None:
    name = unique("multi")
    one = client_for(server, name, reconnect=False)
    await one.start()
    two = client_for(server, name, register=False, reconnect=False)
    await two.start()
    try:
        listed = await one.sessions()
        live = [s for s in listed if s.kind == "live"]
        tokens = [s for s in listed if s.kind == "token"]
        assert len(live) == 2 and [s.current for s in live].count(True) == 1
        assert all(s.address == "127.0.0.1" for s in live)
        assert len(tokens) == 2 and all(s.expires > s.since > 0 for s in tokens)
        token = two.token
        assert token
        res = await one.logout_all()
        assert res.sessions == 1
        bye = await next_event(two, Bye)
        assert bye.code == "logged_out"
        # this session stays; the stored tokens are gone, so a resume fails
        assert [s.kind for s in await one.sessions()] == ["live"]
        own = [e for e in await one_audit(server, name) if e.action == "logout_all"]
        assert own and own[0].text.startswith(f"{name} logged out everywhere")
        stale = client_for(server, name, None, token=token, register=False, reconnect=False)
        with pytest.raises(RoostError) as err:
            await stale.start()
        assert err.value.code == "auth_failed"
    finally:
        await one.close()
        await two.close()


async def test_admin_disables_enables_resets_and_lists(server) -> None:
    boss = await staff(server)
    name = unique("acct")
    victim = client_for(server, name, reconnect=True)
    await victim.start()
    member = client_for(server, unique("plain"), reconnect=False)
    await member.start()
    try:
        with pytest.raises(RoostError) as err:
            await member.users()
        assert err.value.code == "forbidden"
        with pytest.raises(RoostError) as err:
            await member.disable(name)
        assert err.value.code == "forbidden"
        with pytest.raises(RoostError) as err:
            await boss.disable("nosuchuser")
        assert err.value.code == "no_such_user"

        users = {u.user: u for u in await boss.users()}
        assert users[name].online and users[name].status == "active"
        assert users["boss"].role == "admin" and users[name].priority == 2

        res = await boss.disable(name, reason="compromised")
        assert res.sessions == 1
        bye = await next_event(victim, Bye)
        assert bye.code == "disabled" and "compromised" in bye.reason
        again = client_for(server, name, register=False, reconnect=False)
        with pytest.raises(RoostError) as err:
            await again.start()
        assert err.value.code == "disabled"
        with pytest.raises(RoostError) as err:
            await boss.disable(name)
        assert err.value.code == "bad_request"
        listed = {u.user: u for u in await boss.users()}
        assert listed[name].status == "disabled" and not listed[name].online
        # Its tokens were revoked, but when its session ended is stored.
        assert listed[name].created < listed[name].last_seen <= time.time()

        await boss.enable(name)
        await boss.reset_password(name, "from-admin")
        back = client_for(server, name, "from-admin", register=False, reconnect=False)
        await back.start()
        res = await boss.reset_password(name, "second")
        assert res.sessions == 1
        assert (await next_event(back, Bye)).code == "logged_out"
        await back.close()

        audit = [(e.action, e.target) for e in await boss.audit(20, target=name)]
        assert ("disable", name) in audit and ("enable", name) in audit
        assert ("reset_password", name) in audit
        [entry] = [e for e in await boss.audit(20, target=name) if e.action == "disable"]
        assert entry.text.startswith(f"boss disabled {name}") and "compromised" in entry.text
    finally:
        await victim.close()
        await member.close()
        await boss.close()


async def test_deleted_account_keeps_its_messages_and_its_name(server) -> None:
    boss = await staff(server)
    name = unique("gone")
    victim = client_for(server, name, reconnect=False)
    await victim.start()
    sent = await victim.send("general", "remember me")
    try:
        res = await boss.delete_account(name, reason="left")
        assert res.sessions == 1
        assert (await next_event(victim, Bye)).code == "deleted"
        page = await boss.history_page("general", after=sent.seq - 1)
        assert any(m.sender == name and m.text == "remember me" for m in page.messages)
        for register in (False, True):
            again = client_for(server, name, register=register, reconnect=False)
            with pytest.raises(RoostError) as err:
                await again.start()
            assert err.value.code in ("auth_failed", "name_taken")
        listed = {u.user: u for u in await boss.users()}
        assert listed[name].status == "deleted"
        with pytest.raises(RoostError) as err:
            await boss.enable(name)
        assert err.value.code == "bad_request"
    finally:
        await victim.close()
        await boss.close()


def test_cli_passwd_sessions_and_admin_users(server) -> None:
    add_account(server, "boss", "admin")
    s = server.address
    m = unique("cli")
    assert (
        run_cli("send", "general", "hi", "--user", m, "--register", "--server", s).returncode == 0
    )
    [row] = [
        u
        for u in lines(run_cli("admin", "users", "--json", "--user", "boss", "--server", s).stdout)
        if u["user"] == m
    ]
    assert (row["role"], row["status"], row["priority"]) == ("member", "active", 2)
    assert row["last_seen"] > 0 and not row["online"]
    text = run_cli("admin", "users", "--user", "boss", "--server", s).stdout
    assert m in text and "last seen" in text

    res = run_cli("passwd", "--json", "--user", m, "--server", s, ROOST_NEW_PASSWORD="cli-new")
    assert res.returncode == 0, res.stderr
    assert lines(res.stdout)[0]["action"] == "password"
    res = run_cli("sessions", "--json", "--user", m, "--server", s, ROOST_PASSWORD="cli-new")
    assert res.returncode == 0, res.stderr
    kinds = [x["kind"] for x in lines(res.stdout)]
    # The earlier commands logged out, which revoked their tokens: only this one's is left.
    assert kinds.count("live") == 1 and kinds.count("token") == 1
    res = run_cli("sessions", "--logout-all", "--user", m, "--server", s, ROOST_PASSWORD="cli-new")
    assert res.returncode == 0 and "logout_all" in res.stdout

    def adm(*args: str, **env: str):
        return run_cli("admin", *args, "--user", "boss", "--server", s, **env)

    res = adm("reset-password", m, "--json", ROOST_NEW_PASSWORD="reset")
    assert res.returncode == 0, res.stderr
    assert lines(res.stdout)[0]["action"] == "reset_password"
    assert adm("disable", m, "--reason", "spam", "--json").returncode == 0
    refused = run_cli("send", "general", "x", "--user", m, "--server", s, ROOST_PASSWORD="reset")
    assert refused.returncode != 0 and "disabled" in refused.stderr
    assert adm("enable", m).returncode == 0
    assert (
        run_cli(
            "send", "general", "x", "--user", m, "--server", s, ROOST_PASSWORD="reset"
        ).returncode
        == 0
    )
    assert adm("delete", m, "--json").returncode == 0
    assert adm("enable", m).returncode == 1


async def test_cluster_disable_and_logout_all_reach_the_other_node(cluster) -> None:
    a, b = cluster(2)
    boss = await staff(a, "boss")
    name = unique("far")
    try:
        here = client_for(a, name, reconnect=False)
        await here.start()
        there = client_for(b, name, register=False, reconnect=False)
        await there.start()
        seen = Recorder(there)
        await here.logout_all()
        bye = await seen.wait(lambda e: isinstance(e, Bye), 2.0)
        assert bye.code == "kicked" and "logged out everywhere" in bye.reason
        await there.close()

        other = client_for(b, name, register=False, reconnect=False)
        await other.start()
        seen = Recorder(other)
        res = await boss.disable(name, reason="stolen")
        assert res.sessions == 1  # the one on node a
        bye = await seen.wait(lambda e: isinstance(e, Bye), 2.0)
        assert bye.code == "disabled"
        await other.close()
        # the state is in the shared store: node b refuses the login too
        again = client_for(b, name, register=False, reconnect=False)
        with pytest.raises(RoostError) as err:
            await again.start()
        assert err.value.code == "disabled"
        await here.close()
    finally:
        await boss.close()


async def test_bad_account_requests_get_clear_errors_and_change_nothing(server) -> None:
    boss = await staff(server)
    mod = await staff(server, "mod", "moderator")
    name = unique("safe")
    target = client_for(server, name, reconnect=False)
    await target.start()
    try:
        cases = [
            (boss.disable("boss"), "bad_request"),
            (boss.delete_account("boss"), "bad_request"),
            (boss.reset_password(name, ""), "bad_request"),
            (boss.reset_password(name, "x" * 2000), "bad_request"),
            (boss.disable(name, reason="r" * 600), "bad_request"),
            (boss.enable(name), "bad_request"),
            (mod.reset_password(name, "pw"), "forbidden"),
            (mod.delete_account(name), "forbidden"),
            (mod.users(), "forbidden"),
            (boss.delete_account("Not A Name!"), "invalid_name"),
        ]
        for call, code in cases:
            with pytest.raises(RoostError) as err:
                await call
            assert err.value.code == code, (code, err.value)
        # nothing changed: the target is still active, online, with its password
        users = {u.user: u for u in await boss.users()}
        assert users[name].status == "active" and users[name].online
        assert (await target.send("general", "still here")).seq >= 1
        again = client_for(server, name, register=False, reconnect=False)
        await again.start()
        await again.close()
    finally:
        await target.close()
        await mod.close()
        await boss.close()


def test_listen_of_a_disabled_account_exits_8_with_the_reason(server) -> None:
    add_account(server, "boss", "admin")
    m = unique("listener")
    s = server.address
    assert (
        run_cli("send", "general", "hi", "--user", m, "--register", "--server", s).returncode == 0
    )
    listen = subprocess.Popen(
        [sys.executable, "-m", "roost", "listen", "general", "--timeout", "30",
         "--user", m, "--server", s],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=roost_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            out = run_cli("admin", "users", "--json", "--user", "boss", "--server", s).stdout
            if any(u["user"] == m and u["online"] for u in lines(out)):
                break
            time.sleep(0.2)
        res = run_cli("admin", "disable", m, "-r", "compromised", "--user", "boss", "--server", s)
        assert res.returncode == 0, res.stderr
        _, stderr = listen.communicate(timeout=20)
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.communicate()
    assert listen.returncode == 8, stderr
    assert "disabled" in stderr and "compromised" in stderr


async def test_guessing_the_old_password_is_held_to_the_login_limits(server_factory) -> None:
    srv = server_factory(login_fail_account=2, login_fail_address=50)
    me = client_for(srv, unique("guess"), reconnect=False)
    await me.start()
    try:
        for _ in range(2):
            with pytest.raises(RoostError) as err:
                await me.change_password("wrong", "new")
            assert err.value.code == "auth_failed"
        with pytest.raises(RoostError) as err:
            await me.change_password(PASSWORD, "new")  # even the right one, for now
        assert err.value.code == "rate_limited"
    finally:
        await me.close()


async def test_logout_revokes_the_sessions_tokens(server) -> None:
    """After `logout` neither the token the session got nor the one it resumed
    with opens a session; the account's other tokens still do."""
    name = unique("bye")
    first = client_for(server, name, reconnect=False)
    await first.start()
    kept = client_for(server, name, register=False, reconnect=False)
    await kept.start()
    old, other = first.token, kept.token
    assert old and other
    await first.close()  # the SDK's close logs out: old is revoked
    stale = client_for(server, name, None, token=old, register=False, reconnect=False)
    with pytest.raises(RoostError) as err:
        await stale.start()
    assert err.value.code == "auth_failed"
    # A session opened by resume: its own token and the one it came with both end.
    resumed = client_for(server, name, None, token=other, register=False, reconnect=False)
    await resumed.start()
    issued = resumed.token
    assert issued and issued != other
    await resumed.close()
    await kept.close()
    for token in (other, issued):
        again = client_for(server, name, None, token=token, register=False, reconnect=False)
        with pytest.raises(RoostError) as err:
            await again.start()
        assert err.value.code == "auth_failed"
    # A password login still works, of course.
    fresh = client_for(server, name, register=False, reconnect=False)
    await fresh.start()
    await fresh.close()
