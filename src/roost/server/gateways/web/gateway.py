"""The web gateway: aiohttp serves the page, the cookie exchange and the WebSocket."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from roost.protocol.errors import ErrorCode, ProtocolError
from roost.protocol.frames import HEADER_SIZE
from roost.server.gateways.web.session import Tickets, WebConnection
from roost.server.gateways.web.transport import WebSocketTransport
from roost.server.tls import server_context

if TYPE_CHECKING:
    from roost.server.app import Server

log = logging.getLogger("roost.web")

COOKIE = "roost_session"
STATIC = Path(str(resources.files("roost.server.gateways.web") / "static"))
# Scripts, styles, images and connections from this origin only; no inline code,
# no frames, no plugins, no forms posting elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class WebGateway:
    """HTTP and WebSocket listener of one server (``web_host``:``web_port``)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.config = server.config
        self.tickets = Tickets()
        self.port = 0
        self.sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/", self.index)
        app.router.add_post("/session", self.make_session)
        app.router.add_delete("/session", self.end_session)
        app.router.add_get("/ws", self.websocket)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_response_prepare.append(self._headers)
        self.app = app

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        tls = server_context(self.config) if self.config.tls else None
        site = web.TCPSite(
            self._runner,
            self.config.web_host or self.config.host,
            self.config.web_port,
            ssl_context=tls,
            reuse_address=True,
        )
        await site.start()
        self.port = site.port  # the bound one, when web_port is 0
        scheme = "https" if tls else "http"
        log.info(
            "web client on %s://%s:%d/", scheme, self.config.web_host or self.config.host, self.port
        )

    async def stop(self) -> None:
        """Close the listener; the server has already closed every session."""
        if self._runner is not None:
            await self._runner.cleanup()

    # --- HTTP ----------------------------------------------------------------------

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if response.status == 101:
            return  # a WebSocket's upgrade has no document to protect; its headers stay in memory
        response.headers.update(SECURITY_HEADERS)
        if request.path == "/" or request.path == "/session":
            response.headers["Cache-Control"] = "no-store"

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    def origin_ok(self, request: web.Request) -> bool:
        """Same origin as the page (or one listed in ``web_origins``).

        Browsers always send Origin on a WebSocket and on a POST; a request
        without it comes from a program, which holds no victim's cookie.
        """
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        if origin in self.config.web_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host

    def _secure(self, request: web.Request) -> bool:
        if self.config.web_forwarded:
            return request.headers.get("X-Forwarded-Proto", "") == "https"
        return request.secure

    async def make_session(self, request: web.Request) -> web.Response:
        """Exchange a ticket from a login result for the HttpOnly session cookie."""
        if not self.origin_ok(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        ticket = (await request.text()).strip()
        token = self.tickets.redeem(ticket)
        if token is None:
            raise web.HTTPUnauthorized(text="unknown or expired ticket; log in again")
        response = web.Response(status=204)
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.config.token_ttl),
            path="/",
            httponly=True,
            secure=self._secure(request),
            samesite="Strict",
        )
        return response

    async def end_session(self, request: web.Request) -> web.Response:
        if not self.origin_ok(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        response = web.Response(status=204)
        response.del_cookie(COOKIE, path="/")
        return response

    # --- WebSocket -----------------------------------------------------------------

    def _peername(self, request: web.Request) -> tuple[str, int] | None:
        if self.config.web_forwarded:
            forwarded = request.headers.get("X-Forwarded-For", "")
            # The proxy appends the address it saw: the last entry is the one to trust.
            last = forwarded.rsplit(",", 1)[-1].strip()
            if last:
                return (last, 0)
        return None

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_ok(request):
            log.info("refused WebSocket from origin %s", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        # One message holds whole frames: room for one of the largest and its header.
        ws = web.WebSocketResponse(
            max_msg_size=self.config.max_frame + HEADER_SIZE, compress=False, autoping=True
        )
        await ws.prepare(request)
        raw = request.transport
        if raw is None:
            return ws
        transport = WebSocketTransport(ws, raw, self._peername(request))
        conn = WebConnection(self.server, self.tickets, request.cookies.get(COOKIE))
        transport.conn = conn
        self.sockets.add(ws)
        try:
            conn.connection_made(transport)  # type: ignore[arg-type]
            await self._receive(ws, transport, conn)
        finally:
            self.sockets.discard(ws)
            conn.connection_lost(None)
        return ws

    async def _receive(
        self, ws: web.WebSocketResponse, transport: WebSocketTransport, conn: WebConnection
    ) -> None:
        decoder = conn.decoder
        while not transport.closed:
            if transport.reading_paused is not None:
                await transport.reading_paused
            if transport.closed:
                break
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                conn.data_received(msg.data)
                if decoder.buffered and not conn.closing:
                    conn.fail(ProtocolError("a WebSocket message must hold whole frames"))
            elif msg.type == WSMsgType.TEXT:
                conn.fail(
                    ProtocolError("text messages are not part of the protocol; send binary frames")
                )
            elif msg.type == WSMsgType.ERROR:
                # aiohttp has refused the message (over max_msg_size, or broken
                # framing) and is closing: the abuse still counts.
                exc = msg.data
                too_big = getattr(exc, "code", None) == 1009
                err = ProtocolError(
                    f"WebSocket message over {self.config.max_frame + HEADER_SIZE} bytes"
                    if too_big
                    else f"broken WebSocket stream: {exc}",
                    ErrorCode.FRAME_TOO_LARGE if too_big else ErrorCode.PROTOCOL,
                )
                self.server.on_bad_frame(conn, err)
                break
            else:  # CLOSE, CLOSING, CLOSED
                break
