"""docs/protocol.md, spoken with plain msgpack against a real server.

Nothing of roost.protocol is used here: frames are built and read with the
`msgpack` package as an independent client written from the spec would, so
the spec and the server cannot drift apart unnoticed. Section numbers refer
to docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgpack

from helpers import unique

PASSWORD = "correct horse"
LIMIT_KEYS = {
    "max_frame",
    "max_text",
    "max_file_size",
    "chunk_size",
    "user_quota",
    "max_transfers",
    "history_page",
    "outbox_budget",
    "file_retention",
    "quiet_room_size",
    "typing_interval",
    "max_away_reason",
    "edit_window",
    "max_reactions",
    "max_topic",
    "search_page",
    "search_rate",
    "search_burst",
}


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def pack(obj: Any) -> bytes:
    return frame(msgpack.packb(obj, use_bin_type=True))


class Peer:
    """A client speaking frames of msgpack maps (section 1)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, srv: Any, hello: bool = True) -> tuple[Peer, dict[str, Any]]:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        peer = cls(reader, writer)
        server_hello = await peer.read()
        assert server_hello is not None
        if hello:
            peer.write({"t": "hello", "version": 1, "client": "conformance"})
        return peer, server_hello

    def write(self, obj: Any) -> None:
        self.writer.write(pack(obj))

    def write_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next frame's map, or None at the end of the stream."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(4), timeout)
            (n,) = struct.unpack(">I", head)
            body = await asyncio.wait_for(self.reader.readexactly(n), timeout)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        obj = msgpack.unpackb(body, raw=False)
        assert isinstance(obj, dict) and isinstance(obj.get("t"), str), obj
        return obj

    async def request(self, t: str, **fields: Any) -> dict[str, Any]:
        """Send a request; its reply (ok or error), keeping the events that came first."""
        self.next_id += 1
        rid = self.next_id
        self.write({"t": t, "id": rid, **fields})
        return await self.reply(rid)

    async def reply(self, rid: int) -> dict[str, Any]:
        while True:
            msg = await self.read()
            assert msg is not None, "closed before the reply"
            if msg["t"] in ("ok", "error") and msg.get("id") == rid:
                return msg
            self.events.append(msg)

    async def event(self, t: str) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev["t"] == t:
                return self.events.pop(i)
        while True:
            msg = await self.read()
            assert msg is not None, f"closed before a {t} event"
            if msg["t"] == t:
                return msg
            self.events.append(msg)

    async def login(self, user: str) -> dict[str, Any]:
        reply = await self.request("login", user=user, password=PASSWORD, register=True)
        assert reply["t"] == "ok", reply
        return reply["result"]

    async def ended(self) -> list[dict[str, Any]]:
        """Every frame until the server closes the stream."""
        out = []
        while (msg := await self.read()) is not None:
            out.append(msg)
        return out

    def close(self) -> None:
        self.writer.close()


def is_error(reply: dict[str, Any], code: str, rid: int | None = -1) -> bool:
    ok = reply["t"] == "error" and reply["code"] == code and isinstance(reply["message"], str)
    return ok and (rid == -1 or reply.get("id") == rid)


# --- 2: handshake ------------------------------------------------------------------


async def test_server_hello_sends_every_key(server: Any) -> None:
    peer, hello = await Peer.open(server, hello=False)
    assert hello["t"] == "hello" and hello["version"] == 1
    assert isinstance(hello["server"], str)
    assert hello["registration"] == "open"  # sent even at its default
    assert set(hello["limits"]) == LIMIT_KEYS
    assert hello["limits"]["max_frame"] == 262144
    assert hello["limits"]["user_quota"] == 104857600
    assert hello["limits"]["max_transfers"] == 4
    assert hello["limits"]["outbox_budget"] == 1048576
    peer.close()


async def test_first_message_not_hello_is_refused(server: Any) -> None:
    peer, _ = await Peer.open(server, hello=False)
    peer.write({"t": "ping", "id": 1})
    error, bye = await peer.ended()
    assert is_error(error, "protocol")
    assert bye["t"] == "bye" and bye["code"] == "protocol"


async def test_other_version_is_refused(server: Any) -> None:
    peer, _ = await Peer.open(server, hello=False)
    peer.write({"t": "hello", "version": 2})
    error, bye = await peer.ended()
    assert is_error(error, "version")
    assert bye == {"t": "bye", "code": "version", "reason": bye["reason"]}


async def test_client_max_frame_is_ignored(server: Any) -> None:
    # The field is gone from the spec; an old client that sends it is not refused,
    # and gets frames up to the server's max_frame.
    peer, _ = await Peer.open(server, hello=False)
    peer.write({"t": "hello", "version": 1, "max_frame": 1024})
    await peer.login(unique("old"))
    text = "x" * 4000
    sent = await peer.request("send", to="general", text=text)
    assert sent["t"] == "ok"
    msg = await peer.event("msg")
    assert msg["text"] == text
    peer.close()


# --- 3, 4, 5, 6, 7: the core exchange ---------------------------------------------------


async def test_core_exchange(server: Any) -> None:
    peer, _ = await Peer.open(server)
    # Ping works before a login; other requests need one.
    pong = await peer.request("ping")
    assert pong["t"] == "ok" and isinstance(pong["result"]["ts"], float)
    refused = await peer.request("send", to="general", text="too early")
    assert is_error(refused, "not_logged_in", peer.next_id)

    user = unique("spec")
    session = await peer.login(user)
    assert session["user"] == user and session["role"] == "member"
    assert session["priority"] == 2 and session["status"] == "active"
    assert isinstance(session["token"], str) and session["token"]
    assert "general" in session["rooms"] and "general" in session["conversations"]
    again = await peer.request("login", user=user, password=PASSWORD)
    assert is_error(again, "already_logged_in")

    room = unique("specroom")
    joined = await peer.request("join", room=room)
    assert joined["t"] == "ok"
    assert joined["result"] == {
        "room": room,
        "last_seq": 0,
        "created": True,
        "quiet": False,
        "topic": "",
        "private": False,
        "role": "owner",
    }

    sent = await peer.request("send", to=room, text="hello, spec")
    assert sent["t"] == "ok"
    assert sent["result"]["room"] == room and sent["result"]["seq"] == 1
    msg = await peer.event("msg")
    assert (msg["room"], msg["seq"], msg["sender"], msg["text"]) == (room, 1, user, "hello, spec")
    assert isinstance(msg["ts"], float)
    assert msg.get("priority", 2) == 2 and msg.get("file") is None  # defaults may be omitted

    hist = await peer.request("history", room=room, after=0)
    assert hist["t"] == "ok" and hist["result"]["last_seq"] == 1
    [stored] = hist["result"]["messages"]
    assert stored["text"] == "hello, spec" and stored["seq"] == 1

    who = await peer.request("who", room=room)
    assert who["result"] == [{"user": user, "online": True, "role": "member", "room_role": "owner"}]
    rooms = await peer.request("rooms")
    [mine] = [r for r in rooms["result"] if r["name"] == room]
    assert mine["members"] == 1 and mine["joined"] is True

    assert is_error(await peer.request("send", to=unique("nowhere"), text="x"), "no_such_room")
    assert is_error(await peer.request("history", room="@nobody1+nobody2"), "forbidden")
    assert is_error(await peer.request("history", room=f"@{unique('ghost')}"), "no_such_user")
    assert is_error(await peer.request("send", to=room, text=""), "bad_request")

    left = await peer.request("leave", room=room)
    assert left["t"] == "ok"
    assert is_error(await peer.request("send", to=room, text="gone"), "not_a_member")

    bye = await peer.request("logout")
    assert bye["t"] == "ok"
    rest = await peer.ended()
    assert rest[-1]["t"] == "bye" and rest[-1]["code"] == "logout"


async def test_old_session_token_stays_valid_after_resume(server: Any) -> None:
    peer, _ = await Peer.open(server)
    first = (await peer.login(unique("tok")))["token"]
    peer.close()
    tokens = []
    for _ in range(2):  # the first token, twice: once it has been resumed, still valid
        again, _ = await Peer.open(server)
        reply = await again.request("resume", token=first)
        assert reply["t"] == "ok", reply
        tokens.append(reply["result"]["token"])
        again.close()
    assert len({first, *tokens}) == 3  # each resume issues a new token
    bad, _ = await Peer.open(server)
    assert is_error(await bad.request("resume", token="not a token"), "auth_failed")
    bad.close()


# --- 1: bad frames -----------------------------------------------------------------------


async def test_bad_payloads_get_errors_and_the_connection_stays(server: Any) -> None:
    peer, _ = await Peer.open(server)
    await peer.login(unique("bad"))
    cases = [
        (frame(msgpack.packb([1, 2])), "bad_request", None),  # valid msgpack, not a map
        (frame(msgpack.packb(7)), "bad_request", None),
        (pack({"id": 41, "room": "general"}), "bad_request", 41),  # no "t"
        (pack({"t": "no_such_type", "id": 42}), "bad_request", 42),
        (pack({"t": "send", "id": 43, "to": "general"}), "bad_request", 43),  # no text
        (pack({"t": "send", "id": 44, "to": "general", "text": 5}), "bad_request", 44),
        (frame(b"\xc1"), "protocol", None),  # not msgpack
        # Invalid UTF-8 in a string (0xa2: a 2-byte str): protocol, with the id.
        (
            frame(b"\x84\xa1t\xa4send\xa2id\x2d\xa2to\xa7general\xa4text\xa2\xff\xfe"),
            "protocol",
            45,
        ),
    ]
    for data, code, rid in cases:
        peer.write_raw(data)
        while True:
            msg = await peer.read()
            assert msg is not None, f"closed after {data!r}"
            if msg["t"] == "error":
                break
        assert msg["code"] == code, (data, msg)
        assert msg.get("id") == rid, (data, msg)
    # Nothing was lost and the session goes on.
    assert (await peer.request("ping"))["t"] == "ok"
    peer.close()


async def test_frame_over_the_limit_ends_the_connection(server: Any) -> None:
    peer, hello = await Peer.open(server)
    peer.write_raw(struct.pack(">I", hello["limits"]["max_frame"] + 1))
    error, bye = await peer.ended()
    assert is_error(error, "frame_too_large")
    assert bye["t"] == "bye" and bye["code"] == "frame_too_large"


# --- 10: files -----------------------------------------------------------------------------


async def test_file_edge_cases(server_factory: Any) -> None:
    server = server_factory(user_quota=1000, max_file_size=2000)
    peer, _ = await Peer.open(server)
    await peer.login(unique("filer"))
    # Over both limits: too_large wins (checked first).
    assert is_error(await peer.request("upload", to="general", name="a", size=5000), "too_large")
    assert is_error(
        await peer.request("upload", to="general", name="a", size=1500), "quota_exceeded"
    )
    up = await peer.request("upload", to="general", name="a.txt", size=10)
    assert up["t"] == "ok" and up["result"]["offset"] == 0
    upload = up["result"]["upload"]
    past = await peer.request("put", upload=upload, offset=0, data=b"x" * 11)
    assert is_error(past, "bad_request")
    # The upload is discarded.
    after = await peer.request("put", upload=upload, offset=0, data=b"x" * 10)
    assert is_error(after, "no_such_file")
    assert is_error(
        await peer.request("upload_done", upload=upload, sha256="0" * 64), "no_such_file"
    )
    # Cancelling a download that is not in progress is fine (idempotent).
    cancel = await peer.request("download_cancel", download=12345)
    assert cancel["t"] == "ok" and cancel.get("result") is None
    assert is_error(await peer.request("download_ack", download=12345, offset=0), "no_such_file")
    peer.close()


async def test_section_4_account_requests(server) -> None:
    """change_password, sessions and logout_all as the table in section 4 gives them."""
    name = unique("conf")
    one, _ = await Peer.open(server)
    two, _ = await Peer.open(server)
    try:
        await one.login(name)
        await two.login(name)
        bad = await one.request("change_password", old="nope", new="x")
        assert (bad["t"], bad["code"]) == ("error", "auth_failed")
        empty = await one.request("change_password", old=PASSWORD, new="")
        assert (empty["t"], empty["code"]) == ("error", "bad_request")
        done = await one.request("change_password", old=PASSWORD, new=PASSWORD)
        assert done["t"] == "ok" and done["result"]["action"] == "password"

        listed = (await one.request("sessions"))["result"]
        live = [s for s in listed if s["kind"] == "live"]
        tokens = [s for s in listed if s["kind"] == "token"]
        assert len(live) == 2 and sum(bool(s.get("current")) for s in live) == 1
        assert len(tokens) == 2 and all(len(t["token"]) == 12 and t["expires"] > 0 for t in tokens)

        out = await one.request("logout_all")
        assert out["t"] == "ok" and out["result"]["action"] == "logout_all"
        assert out["result"]["sessions"] == 1
        byes = [m for m in await two.ended() if m["t"] == "bye"]
        assert byes and byes[0]["code"] == "logged_out"
        left = (await one.request("sessions"))["result"]
        assert [s["kind"] for s in left] == ["live"]

        staff_only = await one.request("users")
        assert (staff_only["t"], staff_only["code"]) == ("error", "forbidden")
    finally:
        one.close()
        two.close()
