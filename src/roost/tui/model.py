"""What the chat client knows, independent of any widget: conversations, members, presence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from roost.protocol.display import visible
from roost.protocol.mentions import mentions_me
from roost.protocol.messages import URGENT, MemberInfo, Message
from roost.protocol.names import dm_key, dm_peer


@dataclass
class Conversation:
    """A room or a direct conversation, with the part of its history loaded so far."""

    key: str  # room name, or "@a+b" for a direct conversation
    me: str
    last_seq: int = 0  # highest seq known to exist on the server
    messages: dict[int, Message] = field(default_factory=dict)
    unread: int = 0
    urgent: int = 0  # how many of the unread are urgent
    mentions: int = 0  # how many of the unread mention the user
    read_seq: int = 0  # highest seq the user has seen
    loaded: bool = False  # the latest page has been fetched
    complete: bool = False  # nothing older than what is loaded remains

    @property
    def is_direct(self) -> bool:
        return self.key.startswith("@")

    @property
    def peer(self) -> str | None:
        """The other user of a direct conversation."""
        return dm_peer(self.key, self.me) if self.is_direct else None

    @property
    def title(self) -> str:
        """``#room`` or ``@peer``, safe to show (roost.protocol.display)."""
        return visible(f"@{self.peer}" if self.is_direct else f"#{self.key}")

    @property
    def oldest(self) -> int | None:
        return min(self.messages) if self.messages else None

    def add(self, messages: Iterable[Message]) -> list[Message]:
        """Store messages; returns those that were new, by seq."""
        new = []
        for m in messages:
            if m.seq not in self.messages:
                self.messages[m.seq] = m
                new.append(m)
            self.last_seq = max(self.last_seq, m.seq)
        new.sort(key=lambda m: m.seq)
        if self.messages and min(self.messages) <= 1:
            self.complete = True
        return new

    def mark_read(self) -> bool:
        """Everything up to last_seq is seen; True when the unread count changed."""
        changed = self.unread != 0 or self.urgent != 0 or self.mentions != 0
        self.unread = self.urgent = self.mentions = 0
        self.read_seq = max(self.read_seq, self.last_seq)
        return changed


@dataclass
class ChatModel:
    """All conversations of one session, the current one, members and presence."""

    me: str
    conversations: dict[str, Conversation] = field(default_factory=dict)
    current: str | None = None
    members: dict[str, list[MemberInfo]] = field(default_factory=dict)  # room -> members
    online: dict[str, bool] = field(default_factory=dict)  # user -> online, as last heard
    away: dict[str, str] = field(default_factory=dict)  # user -> reason, for those away
    rooms: set[str] = field(default_factory=set)  # every room known on the server
    users: set[str] = field(default_factory=set)  # every user name seen, for completion

    def ensure(self, key: str) -> Conversation:
        conv = self.conversations.get(key)
        if conv is None:
            conv = self.conversations[key] = Conversation(key, self.me)
            if conv.is_direct and conv.peer:
                self.users.add(conv.peer)
            else:
                self.rooms.add(key)
        return conv

    def restore(
        self, last_seqs: dict[str, int], read: dict[str, int], returning: bool = False
    ) -> None:
        """Conversations from a login result, with unread counts from saved read markers.

        ``returning``: this account has read markers from an earlier session, so
        a direct conversation without one began while it was away: all of it
        is unread. Otherwise (a first login here) a conversation never seen
        before starts read, and so does a room: no flood of old "unread".
        """
        for key, last in last_seqs.items():
            conv = self.ensure(key)
            conv.last_seq = max(conv.last_seq, last)
            new_since = returning and conv.is_direct and key not in read
            conv.read_seq = read.get(key, 0 if new_since else last)
            conv.unread = max(0, conv.last_seq - conv.read_seq)

    def restore_server(self, read: dict[str, int], mentions: dict[str, int]) -> None:
        """Counts kept on the server (the same on every device) over the local ones."""
        for key, seq in read.items():
            conv = self.conversations.get(key)
            if conv is not None and seq > conv.read_seq:
                conv.read_seq = seq
                conv.unread = max(0, conv.last_seq - seq)
        for key, count in mentions.items():
            conv = self.conversations.get(key)
            if conv is not None:
                conv.mentions = min(count, conv.unread) if conv.unread else 0

    def read_elsewhere(self, key: str, seq: int) -> Conversation | None:
        """Another device read ``key`` up to ``seq``; None if nothing changed here."""
        conv = self.conversations.get(key)
        if conv is None or seq <= conv.read_seq:
            return None
        conv.read_seq = seq
        conv.unread = max(0, conv.last_seq - seq)
        if not conv.unread:
            conv.urgent = conv.mentions = 0
        return conv

    def ordered(self) -> list[Conversation]:
        """Rooms by name, then direct conversations by peer."""
        return sorted(self.conversations.values(), key=lambda c: (c.is_direct, c.title))

    def receive(self, m: Message) -> tuple[Conversation, bool]:
        """A live message; returns its conversation and whether it was new."""
        conv = self.ensure(m.room)
        new = bool(conv.add([m]))
        self.users.add(m.sender)
        if new and m.seq > conv.read_seq:
            if m.room == self.current or m.sender == self.me:
                conv.read_seq = m.seq
            elif m.kind != "text":
                pass  # an edit or a reaction is not news of its own (nor a mention)
            else:
                conv.unread += 1
                if m.priority == URGENT:
                    conv.urgent += 1
                if mentions_me(m.text, self.me):
                    conv.mentions += 1
        return conv, new

    def select(self, key: str) -> Conversation:
        conv = self.ensure(key)
        self.current = key
        conv.mark_read()
        return conv

    def rename(self, old: str, new: str) -> None:
        """Room ``old`` is called ``new`` now, with the same history and seqs."""
        conv = self.conversations.pop(old, None)
        if conv is not None:
            conv.key = new
            conv.messages = {
                seq: msgspec.structs.replace(m, room=new) for seq, m in conv.messages.items()
            }
            there = self.conversations.get(new)
            if there is not None:  # messages under the new name came first
                conv.add(there.messages.values())
            self.conversations[new] = conv
        if old in self.members:
            self.members[new] = self.members.pop(old)
        self.rooms.discard(old)
        self.rooms.add(new)
        if self.current == old:
            self.current = new

    def forget(self, key: str) -> None:
        self.conversations.pop(key, None)
        self.members.pop(key, None)
        if self.current == key:
            self.current = None

    def set_members(self, room: str, members: list[MemberInfo]) -> None:
        self.members[room] = members
        for info in members:
            self.online[info.user] = info.online
            if info.away:
                self.away[info.user] = info.reason
            else:
                self.away.pop(info.user, None)
            self.users.add(info.user)

    def set_online(
        self, user: str, online: bool, away: bool = False, reason: str = ""
    ) -> list[str]:
        """Presence changed; returns the rooms whose member list shows that user."""
        self.online[user] = online
        if online and away:
            self.away[user] = reason
        else:
            self.away.pop(user, None)
        self.users.add(user)
        touched = []
        for room, members in self.members.items():
            for i, info in enumerate(members):
                if info.user == user:
                    members[i] = MemberInfo(
                        user=user, online=online, role=info.role, away=away, reason=reason
                    )
                    touched.append(room)
        return touched

    def members_of(self, key: str) -> list[MemberInfo]:
        """Members of a room, or the two parties of a direct conversation."""
        conv = self.conversations.get(key)
        if conv is not None and conv.is_direct:
            peer = conv.peer or ""
            return [
                MemberInfo(user=self.me, online=True, role="member"),
                MemberInfo(user=peer, online=self.online.get(peer, False), role="member"),
            ]
        return list(self.members.get(key, []))

    def direct_key(self, user: str) -> str:
        return dm_key(self.me, user)

    def read_markers(self) -> dict[str, int]:
        return {k: c.read_seq for k, c in self.conversations.items() if c.read_seq}
