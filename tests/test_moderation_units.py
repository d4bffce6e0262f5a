"""The pure parts of moderation: durations, networks, sanctions, token buckets, pins."""

from __future__ import annotations

import pytest

from roost.client.tls import KnownServers, server_key
from roost.protocol.durations import format_duration, is_duration, parse_duration
from roost.protocol.errors import RoostError
from roost.protocol.tls import cert_fingerprint
from roost.server.config import ServerConfig
from roost.server.protection import TokenBucket
from roost.server.sanctions import Sanctions, parse_network, show_network
from roost.store.base import Sanction


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800),
     ("1h30m", 5400), ("1.5h", 5400), (" 2 h ", 7200), ("forever", 0), ("0", 0), ("", 0)],
)  # fmt: skip
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "10x", "h", "-5m", "1h-2m", "m10"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(RoostError) as err:
        parse_duration(text)
    assert err.value.code == "bad_request" and "10m" in err.value.message
    assert not is_duration(text)


def test_durations_read_back() -> None:
    assert [format_duration(s) for s in (0, 45, 90, 3600, 5400, 86400 + 7200)] == [
        "forever",
        "45s",
        "1m30s",
        "1h",
        "1h30m",
        "1d2h",
    ]


def test_networks_and_ipv4_mapped_addresses() -> None:
    assert str(parse_network("10.1.2.3/8")) == "10.0.0.0/8"
    assert show_network(parse_network("10.1.2.3")) == "10.1.2.3"
    assert str(parse_network("::ffff:10.0.0.0/104")) == "10.0.0.0/8"
    with pytest.raises(RoostError):
        parse_network("10.0.0.300")
    s = Sanctions()
    s.put(Sanction("ban", "10.0.0.0/8", "r", "boss", 0.0))
    s.put(Sanction("ban", "2001:db8::/32", "r", "boss", 0.0, expires=100.0))
    assert s.ban_of("10.200.1.1", 50.0) is not None
    assert s.ban_of("::ffff:10.200.1.1", 50.0) is not None  # a dual-stack peer
    assert s.ban_of("11.0.0.1", 50.0) is None
    assert s.ban_of("2001:db8::5", 50.0) is not None
    assert s.ban_of("2001:db8::5", 150.0) is None  # expired
    assert [x.target for x in s.expired(150.0)] == ["2001:db8::/32"]
    assert s.ban_of("not an address", 50.0) is None


def test_sanctions_expire_by_time() -> None:
    s = Sanctions()
    s.put(Sanction("block", "alice", "", "boss", 0.0, expires=10.0))
    s.put(Sanction("mute", "bob", "", "boss", 0.0))
    assert s.block_of("alice", 5.0) is not None and s.block_of("alice", 10.0) is None
    assert s.expiring(10.0) and not s.expiring(5.0)
    assert [x.target for x in s.expired(10.0)] == ["alice"]
    assert s.mute_of("bob", 1e12) is not None  # until lifted
    assert s.pop("mute", "bob") is not None and s.mute_of("bob", 0.0) is None


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=5, now=0.0)
    assert [bucket.take(1, 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert not bucket.take(1, 0.4)
    assert bucket.take(1, 0.5)  # one token back after half a second
    assert not bucket.take(10, 100.0)  # more than the burst never fits
    assert bucket.full(100.0)


def test_known_servers_pin_once_and_refuse_changes(tmp_path) -> None:
    known = KnownServers(tmp_path / "sub" / "known")
    a, b = b"certificate a", b"certificate b"
    key = server_key("::1", 7878)
    assert key == "[::1]:7878"
    assert known.check(key, a) == cert_fingerprint(a)  # first use: pinned
    assert known.check(key, a) is None  # known: silent
    assert known.check("127.0.0.1:7878", b) == cert_fingerprint(b)  # another server
    with pytest.raises(RoostError) as err:
        known.check(key, b)
    assert err.value.code == "cert_changed"
    assert cert_fingerprint(a) in err.value.message and cert_fingerprint(b) in err.value.message
    assert cert_fingerprint(a).startswith("SHA256:") and len(cert_fingerprint(a)) == 7 + 95


def test_config_checks_protection_settings() -> None:
    ServerConfig().validate()
    with pytest.raises(RoostError):
        ServerConfig(abuse_warn=5, abuse_mute=3).validate()
    with pytest.raises(RoostError):
        ServerConfig(bytes_burst=1000).validate()
    with pytest.raises(RoostError):
        ServerConfig(tls_cert="cert.pem").validate()
    ServerConfig(msg_rate=0, bytes_burst=0, abuse_mute=0).validate()
