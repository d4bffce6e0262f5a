"""File names that come from the network, made safe to show and to save.

Pure functions, no I/O: the caller decides where a name goes and checks for
existing files. A name from a peer never becomes a path by itself: it is
reduced to one harmless path component first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# Longest name in bytes (UTF-8) on common file systems (ext4, APFS, NTFS in UTF-16 units).
MAX_NAME_BYTES = 255
FALLBACK = "file"
# Room kept below MAX_NAME_BYTES for " (123)" and a ".<id>.part" suffix while downloading.
_SUFFIX_ROOM = 40

# Names Windows reserves for devices, with or without an extension ("nul.txt" too).
_RESERVED = re.compile(
    r"(con|prn|aux|nul|conin\$|conout\$|clock\$|(com|lpt)[0-9¹²³])(\..*)?", re.IGNORECASE
)
# Characters that are not allowed in a file name on Windows, or that separate paths anywhere.
_FORBIDDEN = frozenset('<>:"/\\|?*')


def clean_name(name: str) -> str:
    """The last path component of ``name``, without invisible or control characters.

    For display: what the server announces in offers. Path separators of
    either platform count, so ``../../etc/passwd`` becomes ``passwd``.
    """
    # Drop everything up to the last separator of either platform.
    cleaned = printable(re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1])
    if cleaned in ("", ".", ".."):
        return FALLBACK
    return _truncate(cleaned, MAX_NAME_BYTES)


def printable(text: str) -> str:
    """``text`` without controls, NUL, bidi overrides (which disguise "gpj.exe"),
    surrogates or line breaks, its runs of white space made single spaces:
    safe to print on a terminal."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            continue
        out.append(" " if cat == "Zs" else ch)
    return " ".join("".join(out).split())


def safe_filename(name: str) -> str:
    """A name that is safe to create inside a chosen folder on any platform.

    Beyond :func:`clean_name`: characters Windows forbids become ``_``,
    leading dots (hidden files, ``..``) and trailing dots and spaces go,
    device names (``CON``, ``nul.txt``, ``COM1``) get a ``_`` prefix, and
    the result leaves room for a numbered or ``.part`` suffix.
    """
    name = clean_name(name)
    name = "".join("_" if ch in _FORBIDDEN else ch for ch in name)
    name = name.lstrip(". ").rstrip(". ")
    if not name:
        return FALLBACK
    if _RESERVED.fullmatch(name) or _RESERVED.fullmatch(name.split(".")[0]):
        name = "_" + name
    return _truncate(name, MAX_NAME_BYTES - _SUFFIX_ROOM)


def numbered(name: str) -> Iterator[str]:
    """``name``, then ``stem (1).ext``, ``stem (2).ext``, ... for not overwriting."""
    yield name
    stem, ext = split_ext(name)
    n = 1
    while True:
        yield f"{stem} ({n}){ext}"
        n += 1


def split_ext(name: str) -> tuple[str, str]:
    """``("report", ".pdf")``; a leading dot or an over-long "extension" is not one."""
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > 16:
        return name, ""
    return name[:dot], name[dot:]


def _truncate(name: str, limit: int) -> str:
    """Cut to ``limit`` UTF-8 bytes, keeping the extension and whole characters."""
    if len(name.encode()) <= limit:
        return name
    stem, ext = split_ext(name)
    room = limit - len(ext.encode())
    cut = stem.encode()[:room].decode("utf-8", "ignore")
    return cut.rstrip(". ") + ext if cut.strip() else FALLBACK + ext
