"""Client TLS: pin the server's certificate on first use, as ssh does with host keys.

The first connection to a server records the SHA-256 fingerprint of its
certificate in the known-servers file; later connections go ahead silently
when it matches and are refused when it changed, naming both fingerprints.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

from roost.client.stream import ServerStream, open_stream
from roost.protocol.errors import ErrorCode, RoostError
from roost.protocol.tls import cert_fingerprint


def default_known_servers() -> Path:
    """``$ROOST_KNOWN_SERVERS``, else ``~/.config/roost/known_servers`` (XDG_CONFIG_HOME aware)."""
    env = os.environ.get("ROOST_KNOWN_SERVERS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "roost" / "known_servers"


def server_key(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class KnownServers:
    """The known-servers file: one ``HOST:PORT FINGERPRINT`` per line, ``#`` for comments."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, server: str) -> str | None:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return None
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and not parts[0].startswith("#") and parts[0] == server:
                return parts[1]
        return None

    def add(self, server: str, fingerprint: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write(f"{server} {fingerprint}\n")

    def check(self, server: str, der: bytes) -> str | None:
        """Raise if ``server`` presents another certificate than pinned; the new pin, if any."""
        seen = cert_fingerprint(der)
        known = self.lookup(server)
        if known is None:
            self.add(server, seen)
            return seen
        if known != seen:
            raise RoostError(
                ErrorCode.CERT_CHANGED,
                f"the TLS certificate of {server} has changed: pinned {known}, presented {seen};"
                " this may be an attack. If the server really has a new certificate, delete"
                f" the line for {server} from {self.path} (or connect once with --insecure)",
            )
        return None


def client_context() -> ssl.SSLContext:
    """Encryption without CA checks: the pin, not a CA, says who the server is."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def open_tls(
    host: str, port: int, known: KnownServers | None
) -> tuple[ServerStream, str | None]:
    """A TLS connection whose certificate matches its pin (none checked if ``known`` is None).

    Returns the stream and the fingerprint pinned by this call (None if it was known).
    """
    try:
        stream = await open_stream(host, port, ssl=client_context(), server_hostname=host)
    except ssl.SSLError as exc:
        raise RoostError(
            ErrorCode.TLS,
            f"TLS handshake with {server_key(host, port)} failed ({exc.reason or exc});"
            " is the server running with TLS?",
        ) from exc
    pinned = None
    if known is not None:
        obj = stream.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        try:
            if not der:
                raise RoostError(ErrorCode.TLS, "the server presented no certificate")
            pinned = known.check(server_key(host, port), der)
        except RoostError:
            stream.close()
            raise
    return stream, pinned


async def speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` completes a TLS handshake (its certificate unchecked, unpinned).

    Asked by a plain client whose server stays silent: a Roost server without
    TLS sends its hello at once, one with TLS waits for a TLS client hello.
    """
    try:
        stream = await asyncio.wait_for(
            open_stream(host, port, ssl=client_context(), server_hostname=host), timeout
        )
    except (OSError, ssl.SSLError, TimeoutError):
        return False
    stream.close()
    await stream.wait_closed()
    return True
