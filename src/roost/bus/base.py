"""Fan-out between server processes.

The server publishes each stored event once; the bus hands it to every
server process (one, with the local bus), whose handler delivers it to that
process's connections.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class Envelope:
    """One encoded event on its way to many connections.

    ``frame`` is the complete wire frame, encoded once and shared by every
    recipient. ``seq`` is 0 for events outside the message sequence.
    ``klass`` is the outbox class (see roost.server.outbox). An envelope may
    hold several consecutive messages of one room (``first``..``seq``).
    """

    room: str
    seq: int
    klass: int
    frame: bytes | bytearray  # bytearray: built in place (file data), never changed after
    first: int = 0  # first seq held, when more than one


Handler = Callable[[Envelope], None]


@dataclass(slots=True, frozen=True)
class Change:
    """Something other processes cache changed: they re-read it from the store.

    ``topic`` names what (account, room, sanctions, kick), ``key`` which one;
    ``detail`` is a sentence some topics carry (a kick's reason).
    """

    topic: str
    key: str
    detail: str = ""


# Awaited before the envelopes that came after the change are handed over.
ChangeHandler = Callable[[Change], Awaitable[None]]


class Bus(abc.ABC):
    """Publish envelopes to every server process, this one included."""

    # True if an envelope may be lost on its way (a network between processes):
    # the server then checks the store for what it missed (roost.server.ordering).
    lossy: bool = False
    # True if count_recent counts for every process (not just this one).
    shares_counters: bool = False
    # Seconds after its last heartbeat at which a silent process counts as dead
    # (node_alive turns False); 0 with one process.
    node_ttl: float = 0.0

    def __init__(self) -> None:
        # This process's id among the cluster's nodes (node_alive asks about these).
        self.node_id = secrets.token_hex(8)
        self._handler: Handler | None = None
        self._resync: Callable[[], None] | None = None
        self._on_change: ChangeHandler | None = None
        self._presence_lost: Callable[[list[str]], None] | None = None

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_change_handler(self, handler: ChangeHandler) -> None:
        """``handler`` runs for each change another process announced."""
        self._on_change = handler

    def announce(self, change: Change) -> None:  # noqa: B027 - one process: nothing to tell
        """Tell the other processes (not this one: it made the change) to re-read something."""

    # --- presence: which users have sessions on which process ----------------------

    def here(self, user: str, online: bool) -> None:  # noqa: B027 - one process: its own state
        """This process now has sessions of ``user`` (online) or no more of them."""

    async def online_elsewhere(self, user: str) -> bool:
        """True if another process has a session of ``user``."""
        return False

    def online_on_others(self) -> set[str]:
        """Users with a session on another process, as last read (kept fresh by
        the heartbeat; empty with one process). For lists that show who is
        online (``who``, the room list); exact questions use online_elsewhere."""
        return set()

    async def node_alive(self, node: str) -> bool:
        """False only if the process whose ``node_id`` is ``node`` is known to be
        dead (its heartbeat lapsed, or it left); True while it may be alive,
        when this process cannot tell (Redis away), and for this process."""
        return True

    def offline(self, user: str, then: Callable[[], None]) -> None:
        """Call ``then`` if no other process has a session of ``user`` (at once with one)."""
        then()

    def set_presence_lost(self, callback: Callable[[list[str]], None]) -> None:
        """``callback`` gets the users of a process that stopped without telling."""
        self._presence_lost = callback

    def set_resync(self, callback: Callable[[], None]) -> None:
        """``callback`` runs when envelopes may have been lost (say, after a reconnect)."""
        self._resync = callback

    # --- counters shared by every process (rate limits, failed logins, strikes) -----

    async def count_recent(
        self, key: str, window: float, add: bool = True
    ) -> tuple[int, float] | None:
        """A sliding-window counter shared by every process.

        With ``add``, one event is recorded now. Returns how many events of
        ``key`` fell in the last ``window`` seconds and the wall time of the
        oldest of them; None when there is nothing shared (one process, or the
        backend is away): the caller then counts in its own memory.
        """
        return None

    async def take_once(self, key: str, ttl: float) -> bool | None:
        """Claim ``key`` across every process until ``ttl`` seconds pass without a call.

        True for the one caller that claims it first, False for every caller
        after it; each call, won or not, keeps the claim for ``ttl`` more
        seconds, so there is one winner per spell of calls less than ``ttl``
        apart. None when there is nothing shared (one process, or the backend
        is away): the caller then decides on its own.
        """
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the bus backend, if any."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect from the bus backend, if any."""

    async def health_check(self) -> None:  # noqa: B027 - the local bus is always there
        """Raise (any exception, with a message) if the bus backend does not answer."""

    @abc.abstractmethod
    def publish(self, envelope: Envelope) -> None: ...
