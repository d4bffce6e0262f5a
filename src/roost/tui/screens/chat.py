"""The chat screen: sidebar panels, the message view, the input line and the status line."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

import roost.tui.features  # noqa: F401 - registers the built-in panels, actions and screens
from roost.client import ConnectionLost
from roost.client.activity import notification, wants_notice
from roost.client.ending import exit_status
from roost.protocol.display import visible
from roost.protocol.errors import RoostError
from roost.protocol.messages import Message
from roost.tui.commands import run_command, split_command
from roost.tui.completion import Completion, Names, complete
from roost.tui.extensions import EXTENSIONS, ScreenEntry
from roost.tui.model import Conversation
from roost.tui.render import TimeFormat, local_time
from roost.tui.screens.help import HelpScreen
from roost.tui.session import ChatSession, Update
from roost.tui.widgets.composer import Composer
from roost.tui.widgets.lists import ConversationList, MemberList
from roost.tui.widgets.messages import MessageView
from roost.tui.widgets.status import StatusLine

T = TypeVar("T")


class ChatScreen(Screen[None]):
    """Everything after login. Implements roost.tui.api.ChatApi for commands and extensions."""

    AUTO_FOCUS = "#composer"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n,alt+down", "next_conversation(1)", "Next"),
        Binding("ctrl+p,alt+up", "next_conversation(-1)", "Prev"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("escape", "focus_input", "Input", show=False),
    ]

    def __init__(
        self,
        session: ChatSession,
        *,
        room: str | None = None,
        time_format: TimeFormat = local_time,
        server_label: str | None = None,
        on_bell: Callable[[], None] | None = None,
        notify_mode: str = "bell",
        idle_away: float = 0.0,
    ) -> None:
        super().__init__()
        # How mentions, direct and urgent messages are signalled (ClientConfig.notify),
        # and the seconds without a key press after which the user is marked away.
        self.notify_mode = notify_mode
        self.idle_away = idle_away
        self._last_key = time.monotonic()
        self.typing: dict[str, dict[str, float]] = {}  # key -> user -> when last heard
        self._hint_typing = False  # the hint line shows who types, not completions
        self.session = session
        self.start_room = room
        self.time_format = time_format
        self.server_label = server_label or session.address
        self.on_bell = on_bell
        self.views: dict[str, MessageView] = {}
        self._view_ids = 0
        self._started = False  # the first conversation has been opened
        self._unsubscribe: Callable[[], None] | None = None
        self._handlers: dict[str, Callable[[Update], None]] = {
            "messages": self._on_messages,
            "changed": self._on_changed,
            "conversations": self._on_conversations,
            "unread": self._on_unread,
            "members": self._on_members,
            "members-stale": self._on_members_stale,
            "connection": self._on_connection,
            "info": self._on_info,
            "ended": self._on_ended,
            "typing": self._on_typing,
        }
        for entry in self._screens():
            self._bindings.bind(entry.key, f"open_screen('{entry.key}')", entry.name.capitalize())

    # --- ChatApi -------------------------------------------------------------------------

    @property
    def current(self) -> str | None:
        return self.session.model.current

    def show(self, text: str, level: str = "info") -> None:
        key = self.current
        if key is None or key not in self.views:
            self.notify(
                visible(text, newlines=True),
                severity="error" if level == "error" else "information",
                markup=False,
            )
            return
        self.views[key].add_info(text, level)

    def switch_to(self, key: str) -> None:
        conv = self.session.select(key)
        view = self._view(conv)
        for other in self.views.values():
            other.display = other is view
        self.query_one("#title", Static).update(self._title(conv))
        self.query_one(StatusLine).where = conv.title
        self.query_one(ConversationList).highlight_key(key)
        self._show_members(key)
        if not conv.loaded:
            self.background(self._load_latest(conv, view))
        self.background(self.session.refresh_members(key))

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        self.run_worker(self._guard(coro), group="actions")

    async def ask(self, screen: Screen[T]) -> T:
        return await self.app.push_screen_wait(screen)

    def show_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def quit(self) -> None:
        self.app.exit()

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                for panel in EXTENSIONS.panels:
                    yield panel.factory(self.session)
            with Vertical(id="main"):
                yield Static("", id="title")
                yield Container(id="views")
                yield Static("", id="hint")
                yield Composer(
                    self._complete,
                    id="composer",
                    placeholder="message, or /help — Enter sends, Ctrl+J new line",
                )
        yield StatusLine(f"{self.session.me}@{self.server_label}", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(MemberList).action_keys = {a.key for a in EXTENSIONS.member_actions}
        self.query_one(StatusLine).detail = "connected"
        self._unsubscribe = self.session.subscribe(self._on_session_update)
        EXTENSIONS.install(self.session)
        self.query_one(ConversationList).show_model(self.session.model)
        self.run_worker(self.session.run(), group="events", exit_on_error=False)
        self.background(self._start())
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    async def _start(self) -> None:
        """Open the first conversation: the asked-for room, else general, else the first."""
        key = await self._start_room() if self.start_room else None
        model = self.session.model
        if key is None and "general" in model.conversations:
            key = "general"
        elif key is None and model.conversations:
            key = model.ordered()[0].key
        self._started = True
        if key is None:
            self.notify("you are in no room yet: /join NAME or F2 to browse rooms")
        else:
            self.switch_to(key)
        # Known rooms for completion, without waiting for the user to ask.
        await self.session.rooms()

    async def _start_room(self) -> str | None:
        target = self.start_room or ""
        try:
            if target.startswith("@"):
                return await self.session.open_direct(target)
            return await self.session.join(target)
        except RoostError as exc:
            self.notify(f"cannot open {target}: {exc.message}", severity="error", timeout=10)
            return None

    def _view(self, conv: Conversation) -> MessageView:
        view = self.views.get(conv.key)
        if view is None:
            self._view_ids += 1
            view = MessageView(
                conv.key,
                self.session.me,
                self.time_format,
                self.session.book,
                id=f"view-{self._view_ids}",
            )
            self.views[conv.key] = view
            self.query_one("#views", Container).mount(view)
            # Live messages that came before the view did.
            view.add_messages(list(conv.messages.values()))
        return view

    def _title(self, conv: Conversation) -> str:
        if conv.is_direct:
            return f"{conv.title} — direct conversation"
        members = self.session.model.members.get(conv.key)
        if members is None:
            return conv.title
        online = sum(1 for m in members if m.online)
        return f"{conv.title} — {len(members)} members, {online} online"

    def _show_members(self, key: str) -> None:
        if key == self.current:
            self.query_one(MemberList).show_members(
                self.session.model.members_of(key), self.session.me
            )
            conv = self.session.model.conversations.get(key)
            if conv is not None:
                self.query_one("#title", Static).update(self._title(conv))

    async def _load_latest(self, conv: Conversation, view: MessageView) -> None:
        await self.session.load_latest(conv.key)
        view.add_messages(list(conv.messages.values()))
        if conv.complete:
            view.set_complete()

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a user action; its failure becomes a red line instead of a crash."""
        try:
            await coro
        except ConnectionLost as exc:
            if self.session.connection == "closed":
                self.show("not done: the session has ended; start roost chat again", "error")
            else:
                self.show(f"not done: {exc.message}; it reconnects by itself, try again", "error")
        except RoostError as exc:
            self.show(exc.message, "error")
        except TimeoutError:
            self.show("the server did not answer in time", "error")

    # --- session updates --------------------------------------------------------------------

    def _on_session_update(self, update: Update) -> None:
        handler = self._handlers.get(update.kind)
        if handler is not None:
            handler(update)

    def _on_messages(self, update: Update) -> None:
        key = update.key or ""
        view = self.views.get(key)
        if view is not None:
            view.add_messages(update.messages)
        if not update.older:
            self._alert(key, update.messages)

    def _on_changed(self, update: Update) -> None:
        view = self.views.get(update.key or "")
        if view is not None:
            for m in update.messages:
                view.refresh_message(m.seq)

    def _alert(self, key: str, messages: tuple[Message, ...]) -> None:
        """Urgent and direct messages and mentions from others ring the bell (or send an
        OSC 9 notification, as configured); elsewhere they also pop up."""
        me = self.session.me
        for m in messages:
            kind = wants_notice(m, me) if m.kind == "text" else ""
            if not kind:
                continue
            # A direct message in the conversation on screen needs no alarm.
            if kind == "dm" and key == self.current:
                continue
            self._signal(kind, m)
            if key != self.current:
                where = self.session.model.ensure(key).title
                self.notify(
                    visible(f"{m.sender} in {where}: {m.text}", newlines=True),
                    title={"urgent": "Urgent", "dm": "Direct message"}.get(kind, "Mention"),
                    severity="error" if kind == "urgent" else "information",
                    markup=False,
                )

    def _signal(self, kind: str, m: Message) -> None:
        mode = self.notify_mode
        if mode in ("bell", "both") and self.on_bell is not None:
            self.on_bell()
        if mode in ("osc9", "both") and not self.app.is_headless:
            escape = notification(kind, m, self.session.me, "osc9")
            driver = getattr(self.app, "_driver", None)
            if escape and driver is not None:
                driver.write(escape)

    def _on_typing(self, update: Update) -> None:
        if update.key is None:
            return
        self.typing.setdefault(update.key, {})[update.text] = time.monotonic()
        self._show_typing()

    def _show_typing(self) -> None:
        """``alice is typing`` under the messages of the conversation on screen."""
        limits = self.session.client.limits
        keep = (limits.typing_interval if limits is not None else 3.0) + 2.0
        now = time.monotonic()
        for heard in self.typing.values():
            for user in [u for u, t in heard.items() if now - t > keep]:
                del heard[user]
        users = sorted(self.typing.get(self.current or "", {}))
        hint = self.query_one("#hint", Static)
        if hint.display and not self._hint_typing:
            return  # completion candidates are on show
        text = ""
        if users:
            names = ", ".join(visible(u) for u in users[:3])
            text = f"{names} {'is' if len(users) == 1 else 'are'} typing…"
        hint.update(text)
        hint.display = bool(text)
        self._hint_typing = bool(text)

    def _tick(self) -> None:
        self._show_typing()
        idle = time.monotonic() - self._last_key
        idle_now = self.idle_away and idle > self.idle_away
        if idle_now and not self.session.auto_away and self.session.connection == "connected":
            self.session.auto_away = True
            self.background(self.session.set_away("idle", auto=True))

    def on_key(self, event: Any) -> None:
        self._active()

    def _active(self) -> None:
        self._last_key = time.monotonic()
        if self.session.auto_away:
            self.session.auto_away = False
            self.background(self.session.back())

    @on(TextArea.Changed, "#composer")
    def composing(self, event: TextArea.Changed) -> None:
        self._active()
        text = event.text_area.text
        if self.current is not None and text.strip() and split_command(text) is None:
            self.background(self.session.typing(self.current))

    def _on_conversations(self, update: Update) -> None:
        self.query_one(ConversationList).show_model(self.session.model)
        for key in [k for k in self.views if k not in self.session.model.conversations]:
            self.views.pop(key).remove()
        if self.current is not None and self.current not in self.views and self._started:
            # The conversation on screen was renamed: its view, under the new name.
            self.switch_to(self.current)
        elif self.current is None and self._started:
            # The conversation on screen was left: show another one.
            ordered = self.session.model.ordered()
            if ordered:
                self.switch_to(ordered[0].key)
            else:
                self.query_one("#title", Static).update("no conversation: /join a room")

    def _on_unread(self, update: Update) -> None:
        if update.key is not None:
            self.query_one(ConversationList).update_unread(self.session.model, update.key)

    def _on_members(self, update: Update) -> None:
        if update.key is not None:
            self._show_members(update.key)

    def _on_members_stale(self, update: Update) -> None:
        if update.key is not None and update.key == self.current:
            self.background(self.session.refresh_members(update.key))

    def _on_connection(self, update: Update) -> None:
        status = self.query_one(StatusLine)
        status.state = update.state
        status.detail = update.text
        if update.state == "connected" and self.current is not None:
            # Presence may have changed while away; the client refills missed messages itself.
            self.background(self.session.refresh_members(self.current))
        if self.current is not None and self.current in self.views:
            self.views[self.current].add_info(update.text, _LEVELS.get(update.state, "info"))

    def _on_ended(self, update: Update) -> None:
        """The server ended the session for good: leave the app with the bye as its result
        (``roost chat`` prints the line and exits with the bye's status)."""
        bye = update.event
        self.app.exit(result=bye, return_code=exit_status(bye.code))

    def _on_info(self, update: Update) -> None:
        key = update.key
        if key is not None and key in self.views:
            self.views[key].add_info(update.text, update.level)
        elif key is None or key == self.current:
            self.show(update.text, update.level)

    # --- user input --------------------------------------------------------------------------

    def _complete(self, before: str) -> Completion | None:
        model = self.session.model
        names = Names(rooms=model.rooms, users=model.users - {self.session.me})
        return complete(before, EXTENSIONS.commands, names)

    @on(Composer.Submitted)
    def submitted(self, event: Composer.Submitted) -> None:
        text = event.text
        if split_command(text) is not None:
            self.background(run_command(self, text, EXTENSIONS.commands))
            return
        if self.current is None:
            self.show("no conversation open: /join a room first", "error")
            return
        body = text[1:] if text.startswith("//") else text
        self.background(self.session.send(self.current, body))

    @on(Composer.Candidates)
    def candidates(self, event: Composer.Candidates) -> None:
        hint = self.query_one("#hint", Static)
        self._hint_typing = False
        hint.update("  ".join(c.strip() for c in event.candidates))
        hint.display = bool(event.candidates)

    @on(Composer.PageRequest)
    def page(self, event: Composer.PageRequest) -> None:
        view = self.views.get(self.current or "")
        if view is not None:
            if event.direction < 0:
                view.scroll_page_up(animate=False)
            else:
                view.scroll_page_down(animate=False)

    @on(ConversationList.Chosen)
    def chosen(self, event: ConversationList.Chosen) -> None:
        self.switch_to(event.key)
        self.query_one(Composer).focus()

    @on(MemberList.Action)
    def member_action(self, event: MemberList.Action) -> None:
        action = EXTENSIONS.member_action(event.key)
        if action is None or not action.available(self.session, event.user):
            self.app.bell()
            return
        self.background(action.run(self, event.user))

    @on(MessageView.NeedOlder)
    def need_older(self, event: MessageView.NeedOlder) -> None:
        view = event.view
        self.run_worker(self._load_older(view), group="history")

    async def _load_older(self, view: MessageView) -> None:
        try:
            await self.session.load_older(view.key)
        except (RoostError, TimeoutError):
            pass  # scrolling to the top again retries
        finally:
            view.loading_older = False
        conv = self.session.model.conversations.get(view.key)
        if conv is not None and conv.complete:
            view.set_complete()
        else:
            view.call_after_refresh(view.check_older)

    # --- key actions -------------------------------------------------------------------------

    def action_next_conversation(self, step: int) -> None:
        ordered = [c.key for c in self.session.model.ordered()]
        if not ordered:
            return
        index = ordered.index(self.current) if self.current in ordered else -step
        self.switch_to(ordered[(index + step) % len(ordered)])

    def action_help(self) -> None:
        self.show_help()

    def action_focus_input(self) -> None:
        self.query_one(Composer).focus()

    def _screens(self) -> list[ScreenEntry]:
        return [e for e in EXTENSIONS.screens if e.available(self.session)]

    def action_open_screen(self, key: str) -> None:
        entry = next((e for e in self._screens() if e.key == key), None)
        if entry is not None:
            self.app.push_screen(entry.open(self))


_LEVELS = {"reconnecting": "warning", "closed": "error", "connected": "info"}
