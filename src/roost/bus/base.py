"""Fan-out between server processes.

The server publishes each stored event once; the bus hands it to every
server process (one, with the local bus), whose handler delivers it to that
process's connections.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
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


class Bus(abc.ABC):
    """Publish envelopes to every server process, this one included."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the bus backend, if any."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect from the bus backend, if any."""

    async def health_check(self) -> None:  # noqa: B027 - the local bus is always there
        """Raise (any exception, with a message) if the bus backend does not answer."""

    @abc.abstractmethod
    def publish(self, envelope: Envelope) -> None: ...
