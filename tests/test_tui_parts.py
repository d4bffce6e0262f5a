"""The client's parts without a screen: config files, completion, command parsing."""

from __future__ import annotations

import pytest

from roost.client.address import parse_address
from roost.protocol.errors import RoostError
from roost.tui.commands import COMMANDS, split_command
from roost.tui.completion import Names, complete
from roost.tui.config import ClientConfig, ReadMarkers

NAMES = Names(rooms={"general", "games", "dev"}, users={"bob", "bea", "carol"})


def test_config_round_trip_and_damaged_files(tmp_path) -> None:
    cfg = ClientConfig(server='odd "host":1', user="al\\ice", path=tmp_path / "client.toml")
    cfg.save()
    again = ClientConfig.load(tmp_path)
    assert (again.server, again.user) == ('odd "host":1', "al\\ice")

    (tmp_path / "client.toml").write_text("server = [not toml")
    assert ClientConfig.load(tmp_path).server is None
    (tmp_path / "client.toml").write_text("server = 5\nuser = 'u'\n")
    broken = ClientConfig.load(tmp_path)
    assert (broken.server, broken.user) == (None, "u")
    assert ClientConfig.load(tmp_path / "missing").user is None


def test_config_dir_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ROOST_CONFIG_DIR", str(tmp_path / "cfg"))
    ClientConfig(server="h:1", user="u", path=ClientConfig.load().path).save()
    assert (tmp_path / "cfg" / "client.toml").exists()


def test_read_markers_survive_damage_and_stay_bounded(tmp_path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert ReadMarkers.load(tmp_path).accounts == {}
    (tmp_path / "state.json").write_text('{"read": {"a@h:1": {"general": "x", "dev": 4}}}')
    assert ReadMarkers.load(tmp_path).get("a@h:1") == {"dev": 4}

    markers = ReadMarkers(tmp_path / "state.json")
    for i in range(30):
        markers.put(f"user{i}@h:1", {f"room{j}": j for j in range(600)})
    markers.save()
    loaded = ReadMarkers.load(tmp_path)
    assert len(loaded.accounts) == 20 and "user29@h:1" in loaded.accounts
    assert len(loaded.get("user29@h:1")) == 500 and loaded.get("user29@h:1")["room599"] == 599


def test_completion_of_commands_rooms_and_users() -> None:
    def candidates(text: str) -> tuple[str, ...] | None:
        found = complete(text, COMMANDS, NAMES)
        return None if found is None else found.candidates

    assert candidates("/jo") == ("/join ",)
    assert candidates("/q") == ("/query ", "/quit ")
    assert candidates("/join g") == ("games ", "general ")
    assert candidates("/join #ge") == ("#general ",)
    assert candidates("/msg b") == ("bea ", "bob ")
    assert candidates("/go @c") == ("@carol ",)
    assert candidates("/go #d") == ("#dev ",)
    assert candidates("ca") == ("carol: ",)
    assert candidates("hi ca") == ("carol ",)
    assert candidates("see #ga") == ("#games ",)
    assert candidates("ping @bo") == ("@bob ",)
    assert candidates("/msg bob some te") is None  # free text after the user
    assert candidates("/rooms x") is None  # /rooms takes no argument
    assert candidates("/nosuch x") is None
    assert candidates("") is None
    found = complete("/msg b", COMMANDS, NAMES)
    assert found is not None and (found.start, found.end, found.common) == (5, 6, "b")


def test_command_lines_and_usage_errors() -> None:
    assert split_command("/join dev") == ("join", "dev")
    assert split_command("//not a command") is None
    assert split_command("plain") is None
    msg = COMMANDS.get("msg")
    assert msg is not None
    assert msg.parse("bob hello there  friend") == ["bob", "hello there  friend"]
    assert msg.parse("bob") == ["bob"]
    with pytest.raises(RoostError) as err:
        msg.parse("")
    assert err.value.message == "usage: /msg USER [TEXT]"
    join = COMMANDS.get("join")
    assert join is not None
    with pytest.raises(RoostError):
        join.parse("two rooms")
    assert COMMANDS.get("part") is COMMANDS.get("leave")


def test_server_addresses() -> None:
    assert parse_address("example.org") == ("example.org", 7878)
    assert parse_address(":9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    for bad in ("host:port", "host:0", "host:70000"):
        with pytest.raises(RoostError) as err:
            parse_address(bad)
        assert err.value.code == "bad_request"
