"""Text from the network made safe to show on a terminal: controls shown, never obeyed.

Every client that prints what a peer sent (message text, names, file names,
reasons, notices) passes it through :func:`visible` first. A terminal obeys
escape sequences wherever they come from: ``ESC ] 0;... BEL`` retitles the
window, OSC 52 writes the clipboard, OSC 8 makes a fake link, CSI moves the
cursor over earlier lines. Shown as ``^[`` they are harmless and still
readable; ``--json`` output keeps the exact text.

Pure functions, no I/O (sans-I/O like the rest of roost.protocol).
"""

from __future__ import annotations

import re

# Characters that reorder what follows (the "gpj.exe" trick) or that a
# terminal takes as a line break of its own.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SEPARATORS = "\u2028\u2029\u0085"
# C0 controls and DEL, C1 controls (0x9b is a one-byte CSI on some terminals),
# bidi controls, line and paragraph separators, lone surrogates.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}\ud800-\udfff]")


def _shown(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # caret notation, as `cat -v`: ESC is ^[
    if code == 0x7F:
        return "^?"
    return f"<U+{code:04X}>"


def visible(text: str, newlines: bool = False) -> str:
    """``text`` with every control character shown as visible text instead.

    C0 controls appear in caret notation (``ESC`` as ``^[``, ``BEL`` as
    ``^G``, ``CR`` as ``^M``), others as ``<U+202E>``. With ``newlines``
    (message bodies), line feeds and tabs are kept as they are; without
    (names, reasons, one-line fields) they are shown too.
    """
    if newlines:
        return "\n".join(
            "\t".join(_UNSAFE.sub(_shown, part) for part in line.split("\t"))
            for line in text.split("\n")
        )
    return _UNSAFE.sub(_shown, text)
