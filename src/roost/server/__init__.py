"""The asyncio server."""

from roost.server.app import Server
from roost.server.config import ServerConfig, load_config

__all__ = ["Server", "ServerConfig", "load_config"]
