"""Fan-out between server processes: in-process by default."""

from roost.bus.base import Bus, Envelope
from roost.bus.local import LocalBus

__all__ = ["Bus", "Envelope", "LocalBus"]
