"""Persistence behind one interface: SQLite by default."""

from roost.store.base import Account, RoomRecord, Store, StoredMessage

__all__ = ["Account", "RoomRecord", "Store", "StoredMessage"]
