"""The sans-I/O codec on plain bytes: property tests and edge cases."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.protocol.codec import BadFrame, client_decoder, encode, server_decoder
from roost.protocol.errors import ErrorCode, ProtocolError
from roost.protocol.frames import FrameDecoder, encode_frame, frame_header
from roost.protocol.messages import History, Join, Login, Message, Ping, Send

texts = st.text(max_size=200)
names = st.from_regex(r"[a-z0-9_][a-z0-9_.-]{0,31}", fullmatch=True)
requests = st.one_of(
    st.builds(
        Send, id=st.integers(0, 2**31), to=names, text=texts, priority=st.none() | st.integers(0, 3)
    ),
    st.builds(Join, id=st.integers(0, 2**31), room=names),
    st.builds(Login, id=st.integers(0, 2**31), user=names, password=texts, register=st.booleans()),
    st.builds(History, id=st.integers(0, 2**31), room=names, after=st.integers(0, 10**6)),
    st.builds(Ping, id=st.integers(0, 2**31)),
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(requests, min_size=1, max_size=20), st.lists(st.integers(0, 10**6), max_size=30))
def test_any_split_decodes_to_the_same_messages(msgs: list, cuts: list[int]) -> None:
    stream = b"".join(encode(m) for m in msgs)
    dec = server_decoder()
    out = []
    for piece in split(stream, cuts):
        out.extend(dec.feed(piece))
    assert out == msgs
    assert dec.buffered == 0


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 10**4), max_size=10))
def test_arbitrary_bytes_give_protocol_errors_only(data: bytes, cuts: list[int]) -> None:
    dec = server_decoder(max_frame=4096)
    try:
        for piece in split(data, cuts):
            for item in dec.feed(piece):
                if isinstance(item, BadFrame):
                    assert isinstance(item.error, ProtocolError)
    except ProtocolError as exc:
        assert exc.code == ErrorCode.FRAME_TOO_LARGE


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_payloads_in_valid_frames_never_crash(payload: bytes) -> None:
    for dec in (server_decoder(), client_decoder()):
        for item in dec.feed(encode_frame(payload)):
            assert isinstance(item, BadFrame | msgspec.Struct)


def test_oversized_frame_refused_from_header_alone() -> None:
    dec = FrameDecoder(max_frame=1000)
    with pytest.raises(ProtocolError) as err:
        dec.split(frame_header(1001))
    assert err.value.code == ErrorCode.FRAME_TOO_LARGE
    # a frame exactly at the limit is fine
    ok = FrameDecoder(max_frame=1000)
    assert ok.split(frame_header(1000) + b"x" * 1000) == [b"x" * 1000]


def test_what_came_whole_before_an_oversized_frame_is_handed_over_with_the_error() -> None:
    first = Message(room="general", seq=1, sender="a", text="one", ts=1.0)
    second = Message(room="general", seq=2, sender="a", text="two", ts=1.0)
    data = encode(first) + encode(second) + frame_header(5000)
    # In one read, and with the first frame cut across two reads.
    for cut in (0, 3):
        dec = client_decoder(max_frame=4096)
        got = dec.feed(data[:cut]) if cut else []
        with pytest.raises(ProtocolError) as err:
            dec.feed(data[cut:])
        assert err.value.code == ErrorCode.FRAME_TOO_LARGE
        assert [*got, *err.value.before] == [first, second]


def test_header_split_byte_by_byte() -> None:
    msg = Message(room="general", seq=7, sender="a", text="héllo", ts=1.5, priority=0)
    data = encode(msg)
    dec = client_decoder()
    out = []
    for i in range(len(data)):
        out.extend(dec.feed(data[i : i + 1]))
    assert out == [msg]


def test_bad_frame_keeps_request_id_and_stream_continues() -> None:
    bad = msgspec.msgpack.encode({"t": "send", "id": 42, "to": 5})
    good = Ping(id=43)
    dec = server_decoder()
    out = dec.feed(encode_frame(bad) + encode(good))
    assert isinstance(out[0], BadFrame) and out[0].request_id == 42
    assert out[0].error.code == ErrorCode.BAD_REQUEST
    assert out[1] == good
