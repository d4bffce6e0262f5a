"""Priority levels from the command line, and the outbox settings of `roost serve`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from helpers import unique
from roost.protocol.messages import PRIORITY_LABELS
from roost.protocol.names import check_priority
from test_priority_delivery import FAST


def test_send_priority_by_name_or_number_never_above_own_level(
    server_factory, tmp_path: Path
) -> None:
    boss, member = unique("boss"), unique("member")
    # an administrator sets the level (before the server starts, as a fresh install would)
    made = run_cli(
        "user", "add", boss, "--priority", "high", "--data-dir", str(tmp_path / "data"), "--create"
    )
    assert made.returncode == 0, made.stderr
    srv = server_factory(**FAST)
    s = srv.address
    cases = [  # (sender, --priority, level the message goes out with)
        (boss, "urgent", 1),  # cannot raise above its own level (high)
        (boss, "0", 1),
        (boss, "low", 3),  # may lower it
        (boss, "2", 2),
        (boss, None, 1),  # default: its own level
        (member, "HIGH", 2),  # a member is normal
        (member, "3", 3),
    ]
    for i, (who, level, used) in enumerate(cases):
        args = ["send", "general", f"case {i}", "--user", who, "--server", s, "--register"]
        res = run_cli(*args, *(["--priority", level] if level else []), "--json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["priority"] == used
        asked = check_priority(level) if level else used
        if used > asked:  # the sender is told, in one line, what was used and why
            label, want = PRIORITY_LABELS[used], PRIORITY_LABELS[asked]
            assert res.stderr == (
                f"roost: sent as {label}, not {want}: your account's level is {label}"
                " (an administrator can raise it with `roost admin priority`)\n"
            )
        else:
            assert res.stderr == ""
    out = run_cli("history", "general", "--json", "--user", member, "--server", s)
    assert out.returncode == 0, out.stderr
    got = {e["text"]: e["priority"] for e in map(json.loads, out.stdout.splitlines())}
    assert got == {f"case {i}": want for i, (_, _, want) in enumerate(cases)}


@pytest.mark.parametrize("level", ["extreme", "4", "-1"])
def test_send_rejects_an_unknown_priority(server, level: str) -> None:
    user = unique("user")
    res = run_cli(
        "send",
        "general",
        "hi",
        "--priority",
        level,
        "--user",
        user,
        "--register",
        "--server",
        server.address,
    )
    assert res.returncode == 2
    assert "use urgent, high, normal, low or 0-3" in res.stderr
    # nothing was sent
    out = run_cli(
        "history", "general", "--json", "--user", user, "--register", "--server", server.address
    )
    assert out.returncode == 0 and "hi" not in [
        json.loads(x)["text"] for x in out.stdout.splitlines()
    ]


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("outbox_budget", 1000, "outbox_budget must be at least 65536 bytes"),
        ("stall_timeout", 0, "stall_timeout must be a positive number of seconds"),
    ],
)
def test_serve_rejects_unworkable_outbox_settings(server_factory, key, value, error) -> None:
    with pytest.raises(RuntimeError) as failed:
        server_factory(**{key: value})
    assert error in str(failed.value)
