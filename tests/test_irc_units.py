"""The IRC translator alone, with plain lines: parsing, registration, CAP, SASL, rendering."""

from __future__ import annotations

import base64

from roost.bus.base import Envelope
from roost.protocol.codec import encode
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.messages import (
    Bye,
    FileInfo,
    History,
    HistoryResult,
    Join,
    Login,
    LoginResult,
    Message,
    Send,
    SendResult,
)
from roost.server.gateways.irc.lines import BadLine, LineReader, line, split_text
from roost.server.gateways.irc.render import Renderer, render_message
from roost.server.gateways.irc.session import IrcSession, RoomView, SessionConfig, UserView


class Directory:
    """The session's view of the server, as plain data."""

    def __init__(self) -> None:
        self.users: dict[str, UserView] = {}
        self.seqs: dict[str, int] = {}
        self.aways: dict[str, str] = {}
        self.rooms: dict[str, RoomView] = {}

    def user(self, name: str) -> UserView | None:
        return self.users.get(name)

    def room(self, name: str) -> RoomView | None:
        return self.rooms.get(name)

    def last_seq(self, key: str) -> int:
        return self.seqs.get(key, 0)

    def away(self, name: str) -> str:
        return self.aways.get(name, "")

    def mark(self, account: str) -> dict[str, int]:
        return {}


def session(registration: str = "open", playback: int = 0) -> IrcSession:
    config = SessionConfig(
        server="irc.test",
        network="test",
        registration=registration,
        playback=playback,
        history_page=100,
    )
    return IrcSession(config, Directory())


def feed(s: IrcSession, *texts: str) -> list[str]:
    reader = LineReader()
    for item in reader.feed("".join(t + "\r\n" for t in texts).encode()):
        s.receive(item)
    out = [x.decode().rstrip("\r\n") for x in b"".join(s.out).split(b"\r\n") if x]
    s.out.clear()
    return out


def login_ok(s: IrcSession, user: str, rooms: list[str] | None = None) -> list[str]:
    req = s.requests.pop()
    assert isinstance(req, Login)
    s.replied(
        req.id,
        LoginResult(user=user, role="member", priority=2, token="t", rooms=rooms or []),
        None,
    )
    out = [x.decode().rstrip("\r\n") for x in b"".join(s.out).split(b"\r\n") if x]
    s.out.clear()
    return out


def test_line_reader_splits_and_bounds_lines() -> None:
    reader = LineReader()
    assert reader.feed(b"PING a\r\nPI") and reader.feed(b"NG b\n")[0].params == ["b"]
    too_long = reader.feed(b"PRIVMSG #x :" + b"y" * 600 + b"\r\n")
    assert isinstance(too_long[0], BadLine) and too_long[0].numeric == "417"
    endless = reader.feed(b"z" * 10_000)
    assert isinstance(endless[0], BadLine)
    assert reader.feed(b"more of it\r\nPING c\r\n")[0].params == ["c"]  # the rest is dropped
    assert isinstance(reader.feed(b"PRIVMSG #x :\xff\r\n")[0], BadLine)
    assert reader.feed(b"\r\n\r\n") == []


def test_line_serialises_trailing_and_tags() -> None:
    assert line("PRIVMSG", ("#a", "hi there"), "n!n@h") == b":n!n@h PRIVMSG #a :hi there\r\n"
    assert line("PING", ("x",)) == b"PING x\r\n"
    assert line("X", (":colon",)) == b"X ::colon\r\n"
    assert line("X", (), None, {"a": "b c;d", "e": ""}) == b"@a=b\\sc\\:d;e X\r\n"


def test_split_text_keeps_utf8_and_lines() -> None:
    parts = split_text("é" * 300 + "\nsecond", 100)
    assert all(len(p.encode()) <= 100 for p in parts) and parts[-1] == "second"
    assert "".join(parts[:-1]) == "é" * 300


def test_registration_with_pass_sends_login_then_welcome() -> None:
    s = session()
    assert feed(s, "PASS :secret", "NICK Ann", "USER ann 0 * :Ann") == []
    assert s.requests[0] == Login(id=1, user="ann", password="secret", register=True)
    out = login_ok(s, "ann", ["general"])
    codes = [x.split()[1] for x in out]
    assert codes[:5] == ["001", "002", "003", "004", "005"] and "376" in codes
    assert ":ann!ann@irc.test JOIN #general" in out


def test_closed_registration_does_not_register() -> None:
    s = session(registration="closed")
    feed(s, "PASS :x", "NICK bob", "USER bob 0 * :Bob")
    assert isinstance(s.requests[0], Login) and s.requests[0].register is False


def test_no_password_is_refused_with_464() -> None:
    s = session()
    out = feed(s, "NICK bob", "USER bob 0 * :Bob")
    assert out[0].split()[1] == "464" and s.closing is not None


def test_wrong_password_and_name_taken() -> None:
    s = session()
    feed(s, "PASS :x", "NICK bob", "USER bob 0 * :Bob")
    req = s.requests.pop()
    s.replied(req.id, None, RoostError(ErrorCode.AUTH_FAILED, "unknown user or wrong password"))
    assert b" 464 bob " in b"".join(s.out) and s.closing == (
        "auth_failed",
        "unknown user or wrong password",
    )


def test_cap_negotiation_holds_registration_until_end() -> None:
    s = session()
    ls = feed(s, "CAP LS 302", "NICK ann", "USER ann 0 * :Ann")
    assert "sasl=PLAIN" in ls[0] and "draft/chathistory" in ls[0]
    assert feed(s, "CAP REQ :server-time echo-message bogus") == [
        ":irc.test CAP ann NAK :server-time echo-message bogus"
    ]
    assert feed(s, "CAP REQ :server-time echo-message") == [
        ":irc.test CAP ann ACK :server-time echo-message"
    ]
    assert s.requests == []  # still negotiating
    out = feed(s, "CAP END")
    assert out[0].split()[1] == "464"  # no credentials


def test_sasl_plain() -> None:
    s = session()
    feed(s, "CAP LS 302", "NICK ann", "USER ann 0 * :Ann", "CAP REQ :sasl")
    assert feed(s, "AUTHENTICATE PLAIN") == ["AUTHENTICATE +"]
    blob = base64.b64encode(b"\0ann\0pw").decode()
    feed(s, f"AUTHENTICATE {blob}")
    assert s.requests[0] == Login(id=1, user="ann", password="pw")
    out = login_ok(s, "ann")
    assert [x.split()[1] for x in out] == ["900", "903"]
    out = feed(s, "CAP END")
    assert out[0].split()[1] == "001"


def test_sasl_malformed_and_other_mechanism() -> None:
    s = session()
    feed(s, "NICK ann", "CAP LS 302")
    assert feed(s, "AUTHENTICATE EXTERNAL")[-1].split()[1] == "904"
    feed(s, "AUTHENTICATE PLAIN")
    assert feed(s, "AUTHENTICATE !!!notbase64")[-1].split()[1] == "904"


def test_commands_become_requests_and_replies_become_lines() -> None:
    s = session()
    feed(s, "PASS :x", "NICK ann", "USER ann 0 * :Ann")
    login_ok(s, "ann")
    feed(s, "JOIN #Dev", "PRIVMSG #dev :hello", "PRIVMSG bob :psst")
    join, send_room, send_dm = s.requests
    assert join == Join(id=2, room="dev")
    assert send_room == Send(id=3, to="dev", text="hello")
    assert send_dm == Send(id=4, to="@bob", text="psst")
    s.requests.clear()
    s.replied(send_room.id, None, RoostError(ErrorCode.NOT_A_MEMBER, "join it first"))
    assert b" 404 ann #dev :join it first" in b"".join(s.out)
    s.out.clear()
    assert feed(s, "NOPE")[0] == ":irc.test 421 ann NOPE :Unknown command"


def test_labeled_response_ack_for_a_message_without_echo() -> None:
    s = session()
    feed(
        s,
        "CAP LS 302",
        "CAP REQ :labeled-response",
        "CAP END",
        "PASS :x",
        "NICK ann",
        "USER a 0 * :A",
    )
    login_ok(s, "ann")
    feed(s, "@label=abc PRIVMSG #general :hi")
    req = s.requests.pop()
    s.replied(req.id, SendResult(room="general", seq=5, ts=0.0), None)
    assert b"".join(s.out) == b"@label=abc :irc.test ACK\r\n"


def test_messages_render_with_tags_urgent_as_notice_and_files() -> None:
    m = Message(room="general", seq=7, sender="bob", text="hi", ts=0.5, priority=0)
    out = render_message(m, "ann", 1 | 2 | 4, "irc.test")
    assert out == (
        b"@time=1970-01-01T00:00:00.500Z;account=bob;msgid=general/7;roost/priority=urgent "
        b":bob!bob@irc.test NOTICE #general :hi\r\n"
    )
    assert render_message(m, "bob", 0, "irc.test") == b""  # own message, no echo-message
    f = FileInfo(id="F1", name="a.txt", size=3, sha256="ab" * 32)
    offer = Message(room="@ann+bob", seq=1, sender="bob", text="a.txt", ts=0, file=f)
    text = render_message(offer, "ann", 0, "irc.test").decode()
    assert text.startswith(":bob!bob@irc.test PRIVMSG ann :[file] a.txt (3 bytes, sha256 abab")
    assert "roost download F1" in text


def test_renderer_encodes_an_envelope_once_per_mask() -> None:
    r = Renderer("irc.test", "irc.test")
    env = Envelope(
        "general", 3, 3, encode(Message(room="general", seq=3, sender="bob", text="x", ts=0))
    )
    first = r.rendered(env)
    assert r.rendered(env) is first
    a = first.lines(0, "irc.test", "irc.test")
    assert first.lines(0, "irc.test", "irc.test") is a and list(first.shared) == [0]


def test_bye_becomes_kill_and_error() -> None:
    s = session()
    feed(s, "PASS :x", "NICK ann", "USER ann 0 * :Ann")
    login_ok(s, "ann")
    s.event(Bye(code="blocked", reason="you are blocked for 2h"))
    out = b"".join(s.out).decode()
    assert ":irc.test KILL ann :you are blocked for 2h" in out
    assert "ERROR :Closing Link: irc.test (you are blocked for 2h)" in out


def test_playback_is_shown_even_when_a_live_message_comes_first() -> None:
    s = session(playback=3)
    assert isinstance(s.directory, Directory)
    s.directory.seqs["general"] = 5
    feed(s, "PASS :x", "NICK ann", "USER ann 0 * :Ann")
    login_ok(s, "ann", ["general"])
    history = [r for r in s.requests if isinstance(r, History)]
    assert [(h.room, h.after, h.before) for h in history] == [("general", 2, 6)]
    s.event(Message(room="general", seq=6, sender="bob", text="live", ts=0))
    old = [Message(room="general", seq=n, sender="bob", text=f"old {n}", ts=0) for n in (3, 4, 5)]
    s.replied(history[0].id, HistoryResult(room="general", messages=old, last_seq=6), None)
    texts = [x.split(" :", 1)[1] for x in b"".join(s.out).decode().split("\r\n") if "PRIVMSG" in x]
    assert texts == ["live", "old 3", "old 4", "old 5"]
    s.out.clear()
    s.event(Message(room="general", seq=5, sender="bob", text="old 5", ts=0))
    assert s.out == []  # not twice
