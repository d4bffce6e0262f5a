"""Sidebar lists: conversations with unread counts, and members with presence and roles."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from roost.protocol.messages import MemberInfo
from roost.tui.model import ChatModel
from roost.tui.render import conversation_label, member_label

# Characters for a conversation title and its unread count, inside the sidebar's padding.
LABEL_WIDTH = 21


class ConversationList(OptionList):
    """Rooms, then direct conversations; Enter or a click opens one."""

    @dataclass
    class Chosen(Message):
        key: str

    def show_model(self, model: ChatModel) -> None:
        """Rebuild the list (conversations come and go rarely)."""
        options = [
            Option(conversation_label(conv, LABEL_WIDTH), id=conv.key) for conv in model.ordered()
        ]
        self.set_options(options)
        self.highlight_key(model.current)

    def update_unread(self, model: ChatModel, key: str) -> None:
        conv = model.conversations.get(key)
        if conv is None:
            return
        try:
            self.replace_option_prompt(key, conversation_label(conv, LABEL_WIDTH))
        except OptionDoesNotExist:  # not listed yet: rebuild
            self.show_model(model)

    def highlight_key(self, key: str | None) -> None:
        if key is None:
            return
        try:
            self.highlighted = self.get_option_index(key)
        except OptionDoesNotExist:
            return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Chosen(event.option.id))


class MemberList(OptionList):
    """Members of the conversation on screen; keys from MemberAction entries act on one."""

    @dataclass
    class Action(Message):
        """A key was pressed on a highlighted member."""

        key: str
        user: str

    def __init__(self, **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.action_keys: set[str] = set()

    def show_members(self, members: list[MemberInfo], me: str) -> None:
        keep = self.highlighted_user
        ordered = sorted(members, key=lambda m: (not m.online, m.user))
        self.set_options([Option(member_label(m, me), id=m.user) for m in ordered])
        online = sum(1 for m in members if m.online)
        self.border_title = f"Members {online}/{len(members)}"
        if keep is not None:
            try:
                self.highlighted = self.get_option_index(keep)
            except OptionDoesNotExist:
                self.highlighted = 0 if ordered else None

    @property
    def highlighted_user(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None else None

    def on_key(self, event: events.Key) -> None:
        user = self.highlighted_user
        if event.key in self.action_keys and user is not None:
            event.stop()
            event.prevent_default()
            self.post_message(self.Action(event.key, user))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None and "enter" in self.action_keys:
            self.post_message(self.Action("enter", event.option.id))
