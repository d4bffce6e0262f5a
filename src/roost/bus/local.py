"""The in-process bus: a single server process delivers its own events."""

from __future__ import annotations

from roost.bus.base import Bus, Envelope


class LocalBus(Bus):
    def publish(self, envelope: Envelope) -> None:
        if self._handler is not None:
            self._handler(envelope)
