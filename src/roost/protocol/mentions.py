"""What counts as a mention: one rule for the server (counts) and clients (highlights)."""

from __future__ import annotations

import re

# "@name" where name is a user name (roost.protocol.names), not inside a word
# or an address such as a@b.
MENTION = re.compile(r"(?<![\w@])@([a-z0-9_][a-z0-9_.-]{0,31})", re.IGNORECASE)


def mentions_of(text: str) -> set[str]:
    """User names mentioned as ``@name`` in ``text`` (lower-case, trailing ``.``/``-`` dropped)."""
    if "@" not in text:  # the common case: one scan, no regex
        return set()
    return {m.group(1).lower().rstrip(".-") for m in MENTION.finditer(text)}


def mentions_me(text: str, me: str) -> bool:
    """True if ``text`` mentions ``me`` as ``@me`` or names ``me`` as a whole word."""
    if not me:
        return False
    if me.lower() in mentions_of(text):
        return True
    return re.search(rf"(?<![\w@.-]){re.escape(me)}(?![\w-])", text, re.IGNORECASE) is not None
