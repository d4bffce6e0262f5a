"""Tab completion of commands, room names and user names in the input line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from roost.tui.commands import ArgKind, CommandRegistry, split_command


@dataclass(frozen=True)
class Completion:
    """Replace ``text[start:end]`` with one of ``candidates`` (each ends as it should be typed)."""

    start: int
    end: int
    candidates: tuple[str, ...]

    @property
    def common(self) -> str:
        """The longest prefix every candidate shares."""
        first = min(self.candidates)
        last = max(self.candidates)
        size = 0
        while size < min(len(first), len(last)) and first[size] == last[size]:
            size += 1
        return first[:size]


@dataclass(frozen=True)
class Names:
    """What can be completed: known rooms and users."""

    rooms: Iterable[str]
    users: Iterable[str]


def complete(text: str, registry: CommandRegistry, names: Names) -> Completion | None:
    """Candidates for the word that ends ``text`` (the text before the cursor)."""
    start = max(text.rfind(" "), text.rfind("\n")) + 1
    word = text[start:]
    parts = split_command(text)
    if parts is not None and start == 0:
        return _build(
            start, len(text), "/" + word[1:].lower(), [f"/{n} " for n in registry.names()]
        )
    kind: ArgKind = "text"
    if parts is not None:
        command = registry.get(parts[0])
        if command is None:
            return None
        index = len(text[:start].split()) - 1  # which argument the word is
        if index < len(command.args):
            kind = command.args[index].kind
        elif command.args and command.args[-1].rest:
            kind = "text"
        else:
            return None
    rooms = sorted(set(names.rooms))
    users = sorted(set(names.users))
    if kind == "room":
        options = [r + " " for r in rooms] + [f"#{r} " for r in rooms]
    elif kind == "user":
        options = [u + " " for u in users] + [f"@{u} " for u in users]
    elif kind == "conversation":
        options = [f"#{r} " for r in rooms] + [f"@{u} " for u in users] + [r + " " for r in rooms]
    elif kind == "command":
        options = [n + " " for n in registry.names()]
    else:
        # In message text: @user and #room, or a bare name (addressing someone).
        if word.startswith("#"):
            options = [f"#{r} " for r in rooms]
        elif word.startswith("@"):
            options = [f"@{u} " for u in users]
        else:
            suffix = ": " if start == 0 else " "
            options = [u + suffix for u in users]
    return _build(start, len(text), word, options)


def _build(start: int, end: int, word: str, options: list[str]) -> Completion | None:
    if not word:
        return None
    lower = word.lower()
    found = tuple(dict.fromkeys(o for o in options if o.lower().startswith(lower)))
    return Completion(start, end, found) if found else None
