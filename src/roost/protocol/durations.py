"""Durations as people type them (``90s``, ``10m``, ``1h30m``, ``2d``) and as they read them."""

from __future__ import annotations

import re
import time

from roost.protocol.errors import ErrorCode, RoostError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
FOREVER = ("", "0", "forever", "never", "permanent")
# Longer than any sensible sanction, short enough to stay a finite timestamp.
MAX_DURATION = 100 * 365 * 86400.0


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with an optional unit s/m/h/d/w, or several (``1h30m``).

    A bare number is seconds. ``0``, ``forever`` and the empty string mean 0 (until lifted).
    """
    norm = text.strip().lower().replace(" ", "")
    if norm in FOREVER:
        return 0.0
    pos = 0
    total = 0.0
    for match in _PART.finditer(norm):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2) or "s"]
        pos = match.end()
    if pos != len(norm) or not norm:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            f"{text!r} is not a duration: use e.g. 90s, 10m, 2h, 1d, 1w, 1h30m or 'forever'",
        )
    return min(total, MAX_DURATION)


def is_duration(text: str) -> bool:
    """True if ``text`` parses as a duration (used to tell a duration from a reason)."""
    try:
        parse_duration(text)
    except RoostError:
        return False
    return bool(text.strip())


def split_duration(words: list[str]) -> tuple[float, str]:
    """``[DURATION] [REASON...]`` as typed in a chat command: a first word that
    reads as a duration is one; the rest is the reason."""
    if words and is_duration(words[0]):
        return parse_duration(words[0]), " ".join(words[1:])
    return 0.0, " ".join(words)


def format_duration(seconds: float) -> str:
    """``1h30m``, ``45s``, ``2d``; ``forever`` for 0."""
    if seconds <= 0:
        return "forever"
    rest = round(seconds)
    if rest == 0:
        return f"{seconds:.1f}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


def format_until(expires: float) -> str:
    """``until 2025-06-01 12:00:00 UTC``, or ``until lifted`` for 0."""
    if expires <= 0:
        return "until lifted"
    return "until " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires))
