"""First screen: server, user and password, with an option to create the account."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static

from roost.client.address import parse_address
from roost.protocol.errors import RoostError


@dataclass(frozen=True)
class Credentials:
    host: str
    port: int
    server: str  # as typed, remembered in the config file
    user: str
    password: str
    register: bool


# Tries to log in; returns an error sentence, or None once the chat screen is up.
LoginAttempt = Callable[[Credentials], Awaitable[str | None]]


class LoginScreen(Screen[None]):
    """The login and registration form; submits by itself when everything is given."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.quit", "Quit", show=False)]

    DEFAULT_CSS = """
    LoginScreen { align: center middle; }
    #login-box { width: 64; height: auto; border: round $primary; padding: 0 1; }
    #login-box > Horizontal { height: auto; }
    #login-box Label { width: 10; padding-top: 1; }
    #login-box Input { width: 1fr; }
    #login-title { text-style: bold; width: 1fr; content-align: center middle; }
    #login-error { color: $error; height: auto; min-height: 1; }
    #login-buttons { height: auto; align-horizontal: right; }
    """

    def __init__(
        self,
        attempt: LoginAttempt,
        server: str,
        user: str = "",
        password: str = "",
        register: bool = False,
        auto: bool = False,
    ) -> None:
        super().__init__()
        self.attempt = attempt
        self.initial = (server, user, password, register)
        self.auto = auto
        self.busy = False

    def compose(self) -> ComposeResult:
        server, user, password, register = self.initial
        with Vertical(id="login-box"):
            yield Static("Roost — log in or create an account", id="login-title")
            with Horizontal():
                yield Label("Server")
                yield Input(server, id="server", placeholder="host:port, e.g. 127.0.0.1:7878")
            with Horizontal():
                yield Label("User")
                yield Input(user, id="user", placeholder="your name")
            with Horizontal():
                yield Label("Password")
                yield Input(password, id="password", password=True)
            yield Static("", id="login-error")
            with Horizontal(id="login-buttons"):
                yield Checkbox("Create this account", register, id="register")
                yield Button("Log in", id="login", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        empty = next((i for i in self.query(Input) if not i.value), None)
        (empty or self.query_one("#login", Button)).focus()
        if self.auto:
            self.submit()

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        empty = next((i for i in self.query(Input) if not i.value), None)
        if empty is not None and empty is not event.input:
            empty.focus()
        else:
            self.submit()

    @on(Button.Pressed, "#login")
    def pressed(self) -> None:
        self.submit()

    def show_error(self, text: str) -> None:
        self.query_one("#login-error", Static).update(text)

    def submit(self) -> None:
        if self.busy:
            return
        server = self.query_one("#server", Input).value.strip()
        user = self.query_one("#user", Input).value.strip()
        password = self.query_one("#password", Input).value
        register = self.query_one("#register", Checkbox).value
        if not user or not password:
            self.show_error("enter a user name and a password")
            return
        try:
            host, port = parse_address(server or "127.0.0.1")
        except RoostError as exc:
            self.show_error(exc.message)
            self.query_one("#server", Input).focus()
            return
        creds = Credentials(host, port, server, user, password, register)
        self.busy = True
        self.show_error("connecting…")
        self.run_worker(self._attempt(creds), exclusive=True)

    async def _attempt(self, creds: Credentials) -> None:
        try:
            error = await self.attempt(creds)
        finally:
            self.busy = False
        if error is not None:
            self.show_error(error)
            self.query_one("#password", Input).focus()
