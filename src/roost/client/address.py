"""Server addresses as users type them: ``HOST:PORT``, ``HOST``, ``:PORT``, ``[IPv6]:PORT``."""

from __future__ import annotations

from roost.protocol.errors import ErrorCode, RoostError

# The port `roost serve` listens on unless told otherwise (same as the server's default).
DEFAULT_PORT = 7878
DEFAULT_HOST = "127.0.0.1"


def parse_address(value: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Split an address into host and port; raises RoostError(bad_request) when malformed."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{value!r} is not HOST:PORT") from None
    if not 0 < number < 65536:
        raise RoostError(ErrorCode.BAD_REQUEST, f"{value!r}: the port must be 1-65535")
    return host or DEFAULT_HOST, number


def format_address(host: str, port: int) -> str:
    """The inverse of :func:`parse_address` (IPv6 hosts in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
