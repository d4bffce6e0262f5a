"""The Textual application: the login screen, then the chat screen."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from roost.client.address import DEFAULT_HOST, DEFAULT_PORT, format_address
from roost.protocol.errors import RoostError
from roost.protocol.messages import Bye
from roost.tui.config import ClientConfig, ReadMarkers, config_dir
from roost.tui.render import TimeFormat, local_time
from roost.tui.screens.chat import ChatScreen
from roost.tui.screens.help import HelpScreen
from roost.tui.screens.login import Credentials, LoginScreen
from roost.tui.session import ChatSession


class RoostApp(App[Bye | None]):
    """``roost chat``: log in (or register), then chat.

    With a server, user and password all given it logs in at once; otherwise the
    login screen asks, prefilled with the server and user remembered from the
    last successful login (``client.toml`` in the config directory).

    The app's result is the ``bye`` that ended the session when the server
    ended it (a block, a kick, a shutdown), else None.
    """

    TITLE = "Roost"
    CSS_PATH = "roost.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        *,
        server: str | None = None,
        user: str | None = None,
        password: str | None = None,
        register: bool = False,
        room: str | None = None,
        config_path: Path | None = None,
        time_format: TimeFormat = local_time,
        server_label: str | None = None,
    ) -> None:
        super().__init__()
        self.config_path = config_path or config_dir()
        self.config = ClientConfig.load(self.config_path)
        self.server = server or self.config.server or format_address(DEFAULT_HOST, DEFAULT_PORT)
        self.user = user or self.config.user or ""
        self.password = password or ""
        self.register = register
        self.room = room
        self.time_format = time_format
        self.server_label = server_label
        self.session: ChatSession | None = None
        self.bells = 0  # how many times the bell rang (the terminal may not make a sound)

    def on_mount(self) -> None:
        auto = bool(self.user and self.password)
        self.push_screen(
            LoginScreen(
                self.attempt_login, self.server, self.user, self.password, self.register, auto
            )
        )

    async def attempt_login(self, creds: Credentials) -> str | None:
        """Log in and show the chat; returns an error sentence when that fails."""
        try:
            session = await ChatSession.open(
                creds.host,
                creds.port,
                creds.user,
                creds.password,
                register=creds.register,
                markers=ReadMarkers.load(self.config_path),
                on_pending=self._waiting_for_admission,
            )
        except RoostError as exc:
            return f"{exc.message} ({exc.code})"
        except TimeoutError:
            return f"{creds.server or creds.host} did not answer in time"
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return f"cannot reach {format_address(creds.host, creds.port)}: {reason}; is `roost serve` running?"
        self.session = session
        self.config.server = creds.server or format_address(creds.host, creds.port)
        self.config.user = session.me
        try:
            self.config.save()
        except OSError as exc:
            self.notify(f"cannot save {self.config.path}: {exc}", severity="warning")
        # Not awaited: this runs in a worker of the login screen, which the switch removes.
        self.switch_screen(
            ChatScreen(
                session,
                room=self.room,
                time_format=self.time_format,
                server_label=self.server_label,
                on_bell=self.ring,
                notify_mode=self.config.notify,
                idle_away=self.config.idle_away,
            )
        )
        return None

    def _waiting_for_admission(self) -> None:
        if isinstance(self.screen, LoginScreen):
            self.screen.show_error("your account waits for a moderator to admit it; please stay")

    def ring(self) -> None:
        self.bells += 1
        self.bell()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.close_session()
        self.exit()

    async def close_session(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def on_unmount(self) -> None:
        await self.close_session()


def run_tui(
    server: str | None,
    user: str | None,
    password: str | None,
    register: bool,
    room: str | None,
) -> Bye | None:
    """Run the full-screen client until the user quits.

    Returns the ``bye`` with which the server ended the session, if it did.
    """
    app = RoostApp(server=server, user=user, password=password, register=register, room=room)
    return app.run()
