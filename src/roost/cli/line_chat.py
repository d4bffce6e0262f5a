"""`roost chat --plain`: a line client whose incoming messages never garble the typed line."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from roost.cli.client_cmds import format_message, format_saved
from roost.cli.common import make_client, run_async
from roost.cli.line_moderation import ModerationCommands
from roost.client import (
    Admitted,
    Client,
    ConnectionState,
    FileSaved,
    Invited,
    Joined,
    Left,
    Message,
    Moderation,
    Presence,
    RoomChanged,
    RoomDeleted,
    RoomRenamed,
    RoostError,
)
from roost.client.activity import ReadSync, notification, wants_notice
from roost.client.address import format_address
from roost.client.edit_commands import EDIT_COMMANDS, EditCommand
from roost.client.edits import MessageBook
from roost.client.ending import SessionEnded, ending
from roost.client.priority import lowered_note
from roost.client.room_commands import ROOM_COMMANDS, room_event_text
from roost.client.search import search_lines
from roost.protocol.display import visible
from roost.protocol.mentions import mentions_me
from roost.protocol.messages import (
    HIGH,
    LOW,
    PRIORITY_LABELS,
    URGENT,
    Bye,
    Gap,
    LoginResult,
    MemberInfo,
    Notice,
    ReadMarker,
    TypingEvent,
)
from roost.protocol.names import dm_peer
from roost.protocol.sizes import human_size
from roost.tui.config import ReadMarkers

# Missed messages of the room shown on entry (more: /history N).
MISSED_SHOWN = 10

HELP = (
    "commands: /join ROOM, /leave [ROOM], /msg USER TEXT, /who [ROOM], /rooms, "
    "/room ROOM (switch), /history [N], /urgent TEXT, /high TEXT, /low TEXT, "
    "/search WORDS [from:USER] [in:ROOM] [since:DATE] [until:DATE], "
    "/send PATH, /get FILE_ID, /reply SEQ TEXT, /edit SEQ TEXT, /delete SEQ [REASON], "
    "/react SEQ EMOJI, /unreact SEQ EMOJI (SEQ: a number, or last, -1, -2...), "
    "/away [REASON], /back, /mentions, /unread, /quit; "
    "in a room: /topic [TEXT], /invite NAME, /private [on|off], /op NAME, /deop NAME, "
    "/owner NAME, /roomkick NAME [REASON], /roommute NAME [DURATION] [REASON], "
    "/roomunmute NAME, /deleteroom ROOM [REASON] (admins); "
    "anything else goes to the current room. "
    "Moderators: /block NAME [DURATION] [REASON], /unblock NAME, /kick NAME [REASON], "
    "/mute NAME [DURATION] [REASON], /unmute NAME, /priority NAME LEVEL, /blocks, /pending, "
    "/admit NAME [LEVEL], /refuse NAME [REASON], /ban ADDRESS [DURATION] [REASON], "
    "/unban ADDRESS, /audit [N]"
)


class LineChat(ModerationCommands):
    """State of one line-chat session: the client and the current conversation."""

    def __init__(
        self,
        client: Client,
        room: str,
        out: Callable[[str], None],
        downloads: Path | None = None,
        notify: str = "off",
    ) -> None:
        self.client = client
        # How mentions, direct and urgent messages are signalled (ClientConfig.notify).
        self.notify = notify
        # Shown messages become read markers on the server (every device agrees).
        self.read_sync = ReadSync(client)
        self.room = room
        self.out = out
        self.downloads = downloads or Path(".")
        # Highest seq shown per conversation: saved as read markers on the way out.
        self.seen: dict[str, int] = {}
        # Transfers run beside the chat, so typing goes on while files move.
        self.transfers: set[asyncio.Task[None]] = set()
        # What was shown, with edits, deletions and reactions folded in (for /edit -1...).
        self.book = MessageBook()
        self.commands: dict[str, Callable[[list[str]], Awaitable[bool]]] = {
            "join": self.cmd_join,
            "leave": self.cmd_leave,
            "part": self.cmd_leave,
            "msg": self.cmd_msg,
            "who": self.cmd_who,
            "rooms": self.cmd_rooms,
            "room": self.cmd_room,
            "history": self.cmd_history,
            "urgent": self.sender_at(URGENT),
            "high": self.sender_at(HIGH),
            "low": self.sender_at(LOW),
            "send": self.cmd_send,
            "get": self.cmd_get,
            "away": self.cmd_away,
            "back": self.cmd_back,
            "mentions": self.cmd_mentions,
            "unread": self.cmd_unread,
            "help": self.cmd_help,
            "quit": self.cmd_quit,
            "exit": self.cmd_quit,
            **self.moderation_commands(),
            **{c.name: self._edit_command(c) for c in (*EDIT_COMMANDS, *ROOM_COMMANDS)},
        }

    async def handle(self, line: str) -> bool:
        """Run one input line; False when the user wants to quit."""
        line = line.rstrip("\n")
        if not line.strip():
            return True
        try:
            if line.startswith("/") and not line.startswith("//"):
                name, _, rest = line[1:].partition(" ")
                if name.lower() == "send":
                    # A path may contain spaces: take the rest of the line whole.
                    return await self.cmd_send([rest.strip()] if rest.strip() else [])
                if name.lower() == "search":
                    for out in await search_lines(self.client, rest, self.client.user or ""):
                        self.out(out)
                    return True
                name, *args = line[1:].split(" ", 2)
                cmd = self.commands.get(name.lower())
                if cmd is None:
                    self.out(f"! unknown command /{name}; /help lists the commands")
                    return True
                return await cmd([a for a in args])
            await self.client.send(self.room, line.removeprefix("/"))
        except RoostError as exc:
            self.out(f"! {visible(exc.message)}")
        return True

    def _edit_command(self, command: EditCommand) -> Callable[[list[str]], Awaitable[bool]]:
        async def run(args: list[str]) -> bool:
            words = " ".join(args).split()
            if len(words) < command.least:
                self.out(f"! usage: {command.usage}")
                return True
            for line in await command.run(self.client, self.book, self.room, words):
                self.out("* " + line)
            return True

        return run

    async def cmd_join(self, args: list[str]) -> bool:
        if not args:
            self.out("! usage: /join ROOM")
            return True
        key = await self.client.follow(args[0])
        self.room = key
        self.out(f"* joined #{key}; messages now go there")
        return True

    async def cmd_leave(self, args: list[str]) -> bool:
        room = args[0] if args else self.room
        await self.client.leave(room)
        self.out(f"* left #{room.lstrip('#')}")
        if room.lstrip("#") == self.room:
            self.room = "general"
        return True

    async def cmd_msg(self, args: list[str]) -> bool:
        if len(args) < 2:
            self.out("! usage: /msg USER TEXT")
            return True
        await self.client.send("@" + args[0].lstrip("@"), args[1])
        return True

    def sender_at(self, priority: int) -> Callable[[list[str]], Awaitable[bool]]:
        """/urgent TEXT and the like: send at that level, or say why it went out lower."""

        async def send(args: list[str]) -> bool:
            text = " ".join(args)
            if not text:
                self.out(f"! usage: /{PRIORITY_LABELS[priority]} TEXT")
                return True
            note = lowered_note(priority, await self.client.send(self.room, text, priority))
            if note:
                self.out(f"! {note}")
            return True

        return send

    async def cmd_who(self, args: list[str]) -> bool:
        room = args[0] if args else self.room
        members = await self.client.who(room)
        listing = ", ".join(visible(m.user) + _status(m) for m in members)
        self.out(f"* #{room.lstrip('#')}: {listing}")
        return True

    async def cmd_rooms(self, args: list[str]) -> bool:
        for r in await self.client.rooms():
            mark = "*" if r.joined else " "
            self.out(f"{mark} #{visible(r.name)}  {r.members} members, {r.online} online")
        return True

    async def cmd_room(self, args: list[str]) -> bool:
        if args:
            self.room = args[0].lstrip("#")
        self.out(f"* current room: #{self.room}")
        return True

    async def cmd_history(self, args: list[str]) -> bool:
        count = int(args[0]) if args and args[0].isdigit() else 20
        for m in await self.client.latest(self.room, count):
            self.out(self.show(m))
        return True

    async def cmd_send(self, args: list[str]) -> bool:
        if not args:
            self.out("! usage: /send PATH")
            return True
        path = Path(args[0]).expanduser()
        if not path.is_file():
            self.out(f"! no file {str(path)!r}")
            return True
        room = self.room
        self.out(f"* sending {path.name} ({human_size(path.stat().st_size)}) to {room}")

        async def run() -> None:
            result = await self.client.upload(path, room)
            self.out(f"* sent {visible(result.file.name)} as {visible(result.file.id)}")

        self._background(run(), f"sending {path.name}")
        return True

    async def cmd_get(self, args: list[str]) -> bool:
        if not args:
            self.out("! usage: /get FILE_ID")
            return True
        file_id = args[0]
        self.out(f"* fetching {file_id} into {self.downloads}")

        async def run() -> None:
            saved = await self.client.download(file_id, self.downloads)
            self.out(f"* saved {visible(file_id)} to {visible(str(saved))}")

        self._background(run(), f"fetching {file_id}")
        return True

    def _background(self, work: Awaitable[None], what: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except (RoostError, OSError) as exc:
                text = exc.message if isinstance(exc, RoostError) else str(exc)
                self.out(f"! {visible(what)} failed: {visible(text)}")

        task = asyncio.get_running_loop().create_task(guarded())
        self.transfers.add(task)
        task.add_done_callback(self.transfers.discard)

    async def wait_transfers(self) -> None:
        """Wait until every file transfer started here has ended."""
        while self.transfers:
            await asyncio.gather(*self.transfers, return_exceptions=True)

    async def show_missed(self, login: LoginResult, read: dict[str, int], returning: bool) -> None:
        """On entry, as the full-screen client: the last messages of the room, what is unread.

        ``read``: the read markers of this account (shared with the full-screen
        client); ``returning``: it has some, from an earlier session.
        """
        me = self.client.user or ""
        elsewhere = []
        for key, last in sorted(login.conversations.items()):
            # Counted as ChatModel.restore counts them.
            new_since = returning and key.startswith("@") and key not in read
            unread = last - read.get(key, 0 if new_since else last)
            if key != self.room and unread > 0:
                where = f"@{dm_peer(key, me)}" if key.startswith("@") else f"#{key}"
                where = visible(where)
                elsewhere.append(f"{where} {unread}")
        marker = read.get(self.room)
        latest = await self.client.latest(self.room, MISSED_SHOWN)
        last_seq = latest[-1].seq if latest else 0
        if marker is None:
            shown = latest
            if shown:
                self.out(f"* the last messages in #{self.room}:")
        else:
            shown = [m for m in latest if m.seq > marker]
            if shown:
                more = last_seq - marker - len(shown)
                older = f" ({more} older: /history N)" if more > 0 else ""
                self.out(f"* missed in #{self.room}{older}:")
        for m in shown:
            self.out(self.show(m))
        if elsewhere:
            self.out(f"* unread: {', '.join(elsewhere)} (/room NAME, then /history)")

    def read_markers(
        self, login: LoginResult, read: dict[str, int], returning: bool
    ) -> dict[str, int]:
        """The markers to save: what was shown here, over what was saved before."""
        marks = dict(read)
        if not returning:
            # A first login here starts everything read, as the full-screen client does.
            for key, last in login.conversations.items():
                marks.setdefault(key, last)
        for key, seq in self.seen.items():
            marks[key] = max(marks.get(key, 0), seq)
        return marks

    async def cmd_away(self, args: list[str]) -> bool:
        reason = " ".join(args)
        await self.client.set_away(reason)
        self.out(f"* you are away{': ' + visible(reason) if reason else ''} (/back to return)")
        return True

    async def cmd_back(self, args: list[str]) -> bool:
        await self.client.back()
        self.out("* you are back")
        return True

    async def cmd_mentions(self, args: list[str]) -> bool:
        found = await self.client.mentions(20)
        if not found:
            self.out("* no mentions")
        for m in found:
            self.out(format_message(m, self.client.user or ""))
        return True

    async def cmd_unread(self, args: list[str]) -> bool:
        me = self.client.user or ""
        rows = [c for c in await self.client.unread() if c.unread or c.mentions]
        if not rows:
            self.out("* nothing unread")
        for c in rows:
            where = visible(f"@{dm_peer(c.room, me)}" if c.room.startswith("@") else f"#{c.room}")
            self.out(f"* {where}: {c.unread} unread, {c.mentions} mentions")
        return True

    async def cmd_help(self, args: list[str]) -> bool:
        self.out(HELP)
        return True

    async def cmd_quit(self, args: list[str]) -> bool:
        return False

    def show(self, m: Message) -> str:
        """A message as printed; it counts as seen (and read, on the server).

        A message that mentions the user is marked ``>>``; with notifications
        on, a mention, direct or urgent message also rings the terminal.
        """
        me = self.client.user or ""
        self.seen[m.room] = max(self.seen.get(m.room, 0), m.seq)
        self.read_sync.seen(m.room, m.seq)
        self.book.add(m)
        line = format_message(m, me, self.book)
        if m.kind != "text":  # an edit, reaction or removal: no new mention or alarm
            return line
        if m.sender != me and mentions_me(m.text, me):
            line = ">> " + line
        kind = wants_notice(m, me)
        return notification(kind, m, me, self.notify) + line

    def render(self, ev: Any) -> str | None:
        """The line that shows ``ev``, with every text from the network made visible."""
        if isinstance(ev, Message):
            return self.show(ev)
        if isinstance(ev, Presence):
            if ev.away:
                why = f" ({visible(ev.reason)})" if ev.reason else ""
                return f"* {visible(ev.user)} is away{why}"
            return f"* {visible(ev.user)} is {'online' if ev.online else 'offline'}"
        if isinstance(ev, TypingEvent):
            if ev.user == self.client.user or ev.room != self.room:
                return None
            return f"* {visible(ev.user)} is typing"
        if isinstance(ev, ReadMarker):
            return None
        if isinstance(ev, Joined):
            return f"* {visible(ev.user)} joined #{visible(ev.room)}"
        if isinstance(ev, RoomRenamed):
            self.book.rename(ev.room, ev.new)
            if ev.room in self.seen:
                self.seen[ev.new] = self.seen.pop(ev.room)
            if self.room == ev.room:
                self.room = ev.new
            return "* " + visible(room_event_text(ev))
        if isinstance(ev, Left | RoomChanged | Invited | RoomDeleted):
            return "* " + visible(room_event_text(ev))
        if isinstance(ev, Notice):
            return f"* {visible(ev.text)}"
        if isinstance(ev, Moderation):
            return f"* [mod] {visible(ev.entry.text)}"
        if isinstance(ev, Admitted):
            return None  # the server's welcome notice says it
        if isinstance(ev, Bye):
            return f"* disconnected: {visible(ev.reason)}"
        if isinstance(ev, ConnectionState):
            return f"* {ev.state}{': ' + visible(ev.detail) if ev.detail else ''}"
        if isinstance(ev, FileSaved):
            return format_saved(ev)
        if isinstance(ev, Gap):
            return None
        text = getattr(ev, "text", None)
        return f"* {visible(str(text))}" if text else None


def _status(m: MemberInfo) -> str:
    if not m.online:
        return " (offline)"
    if m.away:
        return f" (away: {visible(m.reason)})" if m.reason else " (away)"
    return ""


def run_line_chat(
    server: str,
    user: str | None,
    register: bool,
    room: str,
    downloads: Path | None = None,
    auto_accept: bool = False,
) -> None:
    _line_chat(server, user, register, room, downloads, auto_accept)


@run_async
async def _line_chat(
    server: str,
    user: str | None,
    register: bool,
    room: str,
    downloads: Path | None,
    auto_accept: bool,
) -> None:
    folder = downloads or Path(".")
    client = make_client(server, user, register, auto_accept=folder if auto_accept else None)
    login = await client.start()
    try:
        if client.pending_admission:
            print("* your account waits for a moderator to admit it; please stay", flush=True)
            login = await client.wait_admitted()
            print("* admitted: welcome", flush=True)
        key = await client.follow(room)
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        from roost.tui.config import ClientConfig

        notify = ClientConfig.load().notify if interactive else "off"
        chat = LineChat(client, key, _printer(), folder, notify)
        chat.out(f"* logged in as {client.user}; in #{key}. /help for commands")
        markers = ReadMarkers.load()
        account = f"{login.user}@{format_address(client.host, client.port)}"
        returning = account in markers.accounts or bool(login.read)
        read = markers.get(account)
        # The server's markers are the ones every device shares; take the further of each.
        for k, seq in login.read.items():
            read[k] = max(read.get(k, 0), seq)
        events = asyncio.create_task(_pump(client, chat))
        typing: asyncio.Task[None] | None = None
        try:
            await chat.show_missed(login, read, returning)
            typing = asyncio.create_task(_prompt_loop(chat) if interactive else _stdin_loop(chat))
            # Until the user quits, or the server ends the session (_pump raises SessionEnded).
            await asyncio.wait({events, typing}, return_when=asyncio.FIRST_COMPLETED)
            if events.done() and events.exception() is not None:
                typing.cancel()
                events.result()
            await typing
            await chat.wait_transfers()
        finally:
            events.cancel()
            if events.done() and not events.cancelled():
                # Its SessionEnded may race a request that failed with the same
                # ending (ConnectionLost.bye): that one is reported, this one is not.
                events.exception()
            if typing is not None:
                typing.cancel()
            for task in chat.transfers:
                task.cancel()
            with contextlib.suppress(RoostError, OSError, TimeoutError):
                await asyncio.wait_for(chat.read_sync.flush(), 2.0)
            markers.put(account, chat.read_markers(login, read, returning))
            with contextlib.suppress(OSError):  # a read-only home must not fail the chat
                markers.save()
    finally:
        await client.close()


def _printer() -> Callable[[str], None]:
    def out(text: str) -> None:
        print(text, flush=True)

    return out


async def _pump(client: Client, chat: LineChat) -> None:
    async for ev in client.events():
        bye = ending(ev, outlive_restarts=True)
        if bye is not None:
            raise SessionEnded(bye)  # run_async prints the one line and exits with its status
        text = chat.render(ev)
        if text:
            chat.out(text)


async def _prompt_loop(chat: LineChat) -> None:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.patch_stdout import patch_stdout

    session: PromptSession[str] = PromptSession()
    with patch_stdout(raw=True):
        while True:
            try:
                line = await session.prompt_async(lambda: f"#{chat.room}> ")
            except (EOFError, KeyboardInterrupt):
                return
            if not await chat.handle(line):
                return


async def _stdin_loop(chat: LineChat) -> None:
    lines = _stdin_lines()
    while True:
        line = await lines.get()
        if not line:
            # End of input: give the last messages a moment to be acknowledged and shown.
            await asyncio.sleep(0.2)
            return
        if not await chat.handle(line):
            return


def _stdin_lines() -> asyncio.Queue[str]:
    """Lines of stdin ("" at its end), read by a daemon thread.

    Not the loop's executor: its threads are joined when the loop closes, so a
    session the server ended would wait for the next line of input to exit.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                line = sys.stdin.readline()
            except (OSError, ValueError):
                line = ""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop has closed
                return
            if not line:
                return

    threading.Thread(target=read, name="roost-stdin", daemon=True).start()
    return queue


__all__ = ["LineChat", "click", "run_line_chat"]
