"""Byte counts for people: "11.0 MiB exceeds the 10.0 MiB limit"."""

from __future__ import annotations

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def human_size(n: int) -> str:
    """``512 bytes``, ``1.5 KiB``, ``10.0 MiB`` (binary units, one decimal)."""
    if n < 1024:
        return f"{n} byte" if n == 1 else f"{n} bytes"
    value = float(n)
    for unit in _UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def compare_sizes(size: int, limit: int) -> tuple[str, str]:
    """Both sizes for a message, exact in bytes when rounding would make them look equal."""
    a, b = human_size(size), human_size(limit)
    if a == b and size != limit:
        return f"{size:,} bytes", f"{limit:,}-byte"
    return a, b
