"""Rooms in the full-screen client: /topic, /invite, /private, /op... and room events.

The commands are those of every chat client (:mod:`roost.client.room_commands`);
the events (a topic changed, an invitation, a room renamed or deleted, being
put out of a room) show as lines, and a room one can no longer read leaves the list.
"""

from __future__ import annotations

from roost.client import Invited, RoomChanged, RoomDeleted, RoomRenamed
from roost.client.room_commands import ROOM_COMMANDS, room_event_text
from roost.tui.edits import install as install_commands
from roost.tui.extensions import EXTENSIONS
from roost.tui.session import ChatSession, Update


def _on_changed(session: ChatSession, ev: RoomChanged) -> None:
    session.info(room_event_text(ev), key=ev.room)


def _on_invited(session: ChatSession, ev: Invited) -> None:
    session.model.rooms.add(ev.room)  # for completion of /join
    session.info(room_event_text(ev))


def _on_deleted(session: ChatSession, ev: RoomDeleted) -> None:
    session.model.rooms.discard(ev.room)
    session.model.forget(ev.room)
    session.emit(Update("conversations"))
    # Said where the user looks next (the screen has moved on): the room's view is gone.
    session.info(room_event_text(ev))


def _on_renamed(session: ChatSession, ev: RoomRenamed) -> None:
    session.model.rename(ev.room, ev.new)
    session.book.rename(ev.room, ev.new)
    session.emit(Update("conversations"))
    session.info(room_event_text(ev), key=ev.new)


def install() -> None:
    install_commands(ROOM_COMMANDS)

    def handlers(session: ChatSession) -> None:
        session.on(RoomChanged, _on_changed)
        session.on(Invited, _on_invited)
        session.on(RoomDeleted, _on_deleted)
        session.on(RoomRenamed, _on_renamed)

    EXTENSIONS.on_session(handlers)


install()
