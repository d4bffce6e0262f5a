"""The web client: an HTTP page and a WebSocket that carries the native protocol (docs/web.md)."""

from roost.server.gateways.web.gateway import WebGateway

__all__ = ["WebGateway"]
