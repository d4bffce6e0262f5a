"""Blocks, mutes and address bans in force, kept in memory in step with the store."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from roost.protocol.durations import format_until
from roost.protocol.errors import ErrorCode, RoostError
from roost.server.audit import AUTO
from roost.store.base import Sanction

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCK, MUTE, BAN = "block", "mute", "ban"


def parse_network(text: str) -> Network:
    """An address or CIDR network as typed by a moderator (host bits are ignored)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"{text!r} is not an IP address or network (e.g. 203.0.113.7 or 203.0.113.0/24)",
        ) from None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        # ::ffff:a.b.c.d/n is how a dual-stack listener shows IPv4 peers; ban the IPv4 form.
        mapped = net.network_address.ipv4_mapped
        return ipaddress.IPv4Network(f"{mapped}/{max(0, net.prefixlen - 96)}", strict=False)
    return net


def parse_address(text: str) -> Address | None:
    """A peer address, with IPv4-mapped IPv6 folded to IPv4; None if it is not an IP."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def covers(net: Network, address: str) -> bool:
    """True if the peer ``address`` lies in ``net``."""
    ip = parse_address(address)
    return ip is not None and ip.version == net.version and ip in net


def show_network(net: Network | str) -> str:
    """A ban target as people write it: a single address without ``/32``."""
    if isinstance(net, str):
        net = parse_network(net)
    return str(net.network_address) if net.num_addresses == 1 else str(net)


class Sanctions:
    """Every sanction in force, with lookups by user and by address."""

    def __init__(self) -> None:
        self.blocks: dict[str, Sanction] = {}
        self.mutes: dict[str, Sanction] = {}
        # Bans by network; the network objects are parsed once, here.
        self.bans: dict[str, tuple[Network, Sanction]] = {}

    def load(self, records: Iterable[Sanction]) -> None:
        for s in records:
            self.put(s)

    def put(self, s: Sanction) -> None:
        if s.kind == BLOCK:
            self.blocks[s.target] = s
        elif s.kind == MUTE:
            self.mutes[s.target] = s
        elif s.kind == BAN:
            self.bans[s.target] = (parse_network(s.target), s)

    def pop(self, kind: str, target: str) -> Sanction | None:
        if kind == BLOCK:
            return self.blocks.pop(target, None)
        if kind == MUTE:
            return self.mutes.pop(target, None)
        entry = self.bans.pop(target, None)
        return entry[1] if entry else None

    def block_of(self, user: str, now: float) -> Sanction | None:
        """The block in force on ``user`` (an expired one counts as lifted already)."""
        return _live(self.blocks.get(user), now)

    def mute_of(self, user: str, now: float) -> Sanction | None:
        return _live(self.mutes.get(user), now)

    def ban_of(self, address: str, now: float) -> Sanction | None:
        """The ban in force that covers ``address``, if any."""
        if not self.bans:
            return None
        for net, s in self.bans.values():
            if covers(net, address) and _live(s, now):
                return s
        return None

    def all(self) -> list[Sanction]:
        out = [*self.blocks.values(), *self.mutes.values(), *(s for _, s in self.bans.values())]
        return sorted(out, key=lambda s: s.created)

    def expiring(self, now: float) -> bool:
        """True if some sanction's time is up (cheap enough for every tick)."""
        return any(
            s.expires and s.expires <= now
            for s in (
                *self.blocks.values(),
                *self.mutes.values(),
                *(b for _, b in self.bans.values()),
            )
        )

    def expired(self, now: float) -> list[Sanction]:
        """Remove and return every sanction whose time is up."""
        gone = [s for s in self.all() if s.expires and s.expires <= now]
        for s in gone:
            self.pop(s.kind, s.target)
        return gone


def terms(s: Sanction) -> str:
    """``by bob until 2025-06-01 12:00:00 UTC: spamming``."""
    who = "automatically" if s.author == AUTO else f"by {s.author}"
    text = f"{who} {format_until(s.expires)}"
    return f"{text}: {s.reason}" if s.reason else text


def blocked_error(user: str, s: Sanction) -> RoostError:
    """The refusal a blocked account gets at login."""
    return RoostError(ErrorCode.BLOCKED, f"{user} is blocked {terms(s)}")


def banned_text(s: Sanction) -> str:
    return f"your address is banned {terms(s)}"


def _live(s: Sanction | None, now: float) -> Sanction | None:
    if s is None or (s.expires and s.expires <= now):
        return None
    return s
