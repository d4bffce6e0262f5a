"""The one place that turns configuration into a store and a bus.

``store = ""`` (the default) is SQLite in the data folder, ``store =
"postgresql://..."`` the cluster store; ``bus = ""`` is the in-process bus,
``bus = "redis://..."`` fan-out through Redis. The server only ever sees the
Store and Bus interfaces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.protocol.errors import ErrorCode, RoostError

if TYPE_CHECKING:
    from roost.bus.base import Bus
    from roost.server.config import ServerConfig
    from roost.store.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def make_store(config: ServerConfig) -> Store:
    """The store named by ``config.store``."""
    url = config.store
    if not url:
        from roost.store.sqlite import SQLiteStore

        return SQLiteStore(config.db_path, config.durability)
    if url.startswith(POSTGRES_SCHEMES):
        try:
            from roost.store.postgres import PostgresStore
        except ImportError as exc:  # the `cluster` extra is not installed
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                f"store = postgresql:// needs asyncpg: pip install 'roost[cluster]' ({exc})",
            ) from exc
        return PostgresStore(url)
    raise RoostError(
        ErrorCode.BAD_REQUEST,
        f"store must be empty (SQLite in the data folder) or a postgresql:// URL, not {url!r}",
    )


def make_bus(config: ServerConfig) -> Bus:
    """The bus named by ``config.bus``."""
    url = config.bus
    if not url:
        from roost.bus.local import LocalBus

        return LocalBus()
    if url.startswith(REDIS_SCHEMES):
        try:
            from roost.bus.redis import RedisBus
        except ImportError as exc:  # the `cluster` extra is not installed
            raise RoostError(
                ErrorCode.BAD_REQUEST,
                f"bus = redis:// needs redis-py: pip install 'roost[cluster]' ({exc})",
            ) from exc
        return RedisBus(url, config.cluster_channel)
    raise RoostError(
        ErrorCode.BAD_REQUEST,
        f"bus must be empty (one process) or a redis:// URL, not {url!r}",
    )


def check_pair(config: ServerConfig, store: Store) -> None:
    """Refuse combinations that cannot keep the promises of docs/cluster.md."""
    if config.bus and not config.store:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            "bus = redis:// joins processes that share one store: set store = postgresql://",
        )
    if not config.ack_after_store and not store.seq_at_append:
        raise RoostError(
            ErrorCode.BAD_REQUEST,
            "ack_after_store = false needs a store that numbers messages before the commit"
            " (SQLite); the PostgreSQL store numbers them in the commit",
        )
