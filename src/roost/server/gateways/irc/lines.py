"""IRC lines: bytes in -> parsed lines out, lines in -> bytes out. Sans-I/O.

Parsing is irctokens' (tags, escapes, the trailing parameter); this module
adds what a server must enforce on its input: line length (512 bytes, and
8191 more for tags, IRCv3 message-tags), UTF-8, and a bounded buffer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from irctokens.line import Line, tokenise

MAX_BODY = 512  # bytes of a line without its tags, CR LF included (RFC 1459)
MAX_TAGS = 8191  # bytes of the tags part, with its '@' and the space after it (message-tags)
MAX_LINE = MAX_BODY + MAX_TAGS


class BadLine:
    """A line that cannot be taken: why, and which numeric (or FAIL) says so."""

    __slots__ = ("numeric", "text")

    def __init__(self, numeric: str, text: str) -> None:
        self.numeric = numeric
        self.text = text

    def __repr__(self) -> str:
        return f"BadLine({self.numeric!r}, {self.text!r})"


ERR_INPUTTOOLONG = "417"


class LineReader:
    """Splits a byte stream into lines; never holds more than one maximal line."""

    __slots__ = ("_buf", "_skipping")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False  # inside a line that was too long: drop up to its end

    def feed(self, data: bytes) -> list[Line | BadLine]:
        """Lines completed by ``data``, in order (a bad one as a BadLine in its place)."""
        out: list[Line | BadLine] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            raw = bytes(buf[start:end])
            start = end + 1
            if self._skipping:
                self._skipping = False
                continue
            item = parse(raw)
            if item is not None:
                out.append(item)
        del buf[:start]
        if len(buf) > MAX_LINE:
            if not self._skipping:
                out.append(BadLine(ERR_INPUTTOOLONG, "Input line was too long"))
            self._skipping = True
            buf.clear()
        return out


def parse(raw: bytes) -> Line | BadLine | None:
    """One line without its LF; None for an empty line (ignored, as servers do)."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if not raw.strip():
        return None
    body = raw
    if raw.startswith(b"@"):
        space = raw.find(b" ")
        if space < 0 or space + 1 > MAX_TAGS:
            return BadLine(ERR_INPUTTOOLONG, "Input line was too long")
        body = raw[space + 1 :].lstrip(b" ")
    if len(body) + 2 > MAX_BODY:
        return BadLine(ERR_INPUTTOOLONG, "Input line was too long")
    if b"\0" in raw:
        return BadLine("FAIL", "line holds a NUL byte")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine("FAIL", "line is not valid UTF-8")
    try:
        line = tokenise(text)
    except ValueError as exc:
        return BadLine("FAIL", f"malformed line: {exc}")
    line.command = line.command.upper()
    return line


_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})


def escape_tag(value: str) -> str:
    return value.translate(_ESCAPES)


def tags_prefix(tags: Mapping[str, str]) -> str:
    """``@a=b;c `` for the tags given (empty values without '='), or '' for none."""
    if not tags:
        return ""
    parts = [k if v == "" else f"{k}={escape_tag(v)}" for k, v in tags.items()]
    return "@" + ";".join(parts) + " "


def line(
    command: str,
    params: Sequence[str] = (),
    source: str | None = None,
    tags: Mapping[str, str] | None = None,
    trailing: bool = False,
) -> bytes:
    """One line, CR LF included. The last parameter is trailing (``:last``) when it
    must be, or when ``trailing`` asks (message texts, as clients expect them)."""
    out = tags_prefix(tags) if tags else ""
    if source:
        out += ":" + source + " "
    out += command
    if params:
        *middle, last = params
        for p in middle:
            out += " " + p
        if trailing or not last or " " in last or last.startswith(":"):
            out += " :" + last
        else:
            out += " " + last
    return out.encode("utf-8", "replace") + b"\r\n"


def split_text(text: str, room: int) -> list[str]:
    """``text`` as IRC message bodies: one per line of text, each at most ``room`` bytes.

    Cuts fall between UTF-8 characters. Empty lines become a single space,
    so that a message's line count is kept.
    """
    out: list[str] = []
    for part in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        data = part.encode("utf-8")
        if not data:
            out.append(" ")
            continue
        while len(data) > room:
            cut = room
            while cut > 0 and (data[cut] & 0xC0) == 0x80:
                cut -= 1
            out.append(data[:cut].decode("utf-8"))
            data = data[cut:]
        out.append(data.decode("utf-8"))
    return out
