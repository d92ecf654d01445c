"""The bot's one aiohttp web app. Platforms and payments mount their webhooks on it, /healthz (alive)
is its own; `bot.ops` adds /readyz and /metrics.

Everything a stranger can send is bounded before a handler sees it:
- each webhook has a body limit sized to what its sender really posts: a declared length over it is
  refused (413) before a byte is read, a chunked body is cut off (413) once it passes the limit;
- a request's head must arrive within `header_timeout_s` of the connection opening (or of its previous
  answer), and its body within `body_timeout_s` of the head (else 408 and the connection is closed);
- at most `max_connections` are open at once; beyond that a new connection gets 503 and is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

KIB = 1024
MIB = 1024 * KIB
# Body limits, each with ample headroom over the largest genuine delivery:
# WeCom's callback is an envelope around one encrypted message (base64: a third more than the message).
# Events are under 1 KB and members' texts a few KB; WeCom documents no limit on what a member types, so
# room is left for a pasted text of 100 KB (answered "too long" rather than refused unheard).
WECOM_CALLBACK_MAX_BYTES = 256 * KIB
# A Telegram update is a few KB: a message of 4,096 characters with its entities, the message it replies
# to, a keyboard; files come as ids, never inline.
TELEGRAM_UPDATE_MAX_BYTES = 1 * MIB
# A Stripe event carries one object (a Checkout Session, an invoice with its first lines): tens of KB.
STRIPE_EVENT_MAX_BYTES = 1 * MIB
DEFAULT_MAX_BYTES = 1 * MIB  # a route that says nothing: aiohttp's own default

MAX_CONNECTIONS = 512
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 10.0
# After a refusal the rest of the body is read and dropped for this long at most, so that the client
# gets to read the answer instead of a connection reset.
LINGER_S = 2.0
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class WebServer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        max_connections: int = MAX_CONNECTIONS,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._header_timeout_s = header_timeout_s
        self._body_timeout_s = body_timeout_s
        self.app = web.Application()
        self.app.router.add_get("/healthz", _alive)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._arriving = 0  # connections accepted whose handler has not registered with the server yet
        self._full = False

    def add_post(self, path: str, handler: Handler, *, max_body: int = DEFAULT_MAX_BYTES) -> None:
        """Mounts a webhook; only before `start`. The handler gets the request with its body read
        (at most `max_body` bytes, within the body timeout)."""
        self.app.router.add_post(path, self._bounded(handler, max_body))

    def add_get(self, path: str, handler: Handler) -> None:
        """Mounts a page (a one-time download, a health check); only before `start`."""
        self.app.router.add_get(path, handler)

    async def start(self) -> None:
        # aiohttp closes a connection that has not sent a whole request head when its keep-alive timer
        # fires: the timer starts when the connection opens and again after each answer.
        self._runner = web.AppRunner(
            self.app, access_log=None, keepalive_timeout=self._header_timeout_s, lingering_time=LINGER_S
        )
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(self._accept, self._host, self._port)
        log.info("web server listening on %s:%s", self._host, self.port)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        if self._listener is None or not self._listener.sockets:
            return self._port
        return int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _accept(self) -> asyncio.BaseProtocol:
        """A new connection: served while fewer than `max_connections` are open, else refused."""
        assert self._runner is not None  # set up before the listener opens; the listener closes first
        server = self._runner.server
        assert server is not None
        if len(server.connections) + self._arriving >= self._max_connections:
            if not self._full:
                log.warning("web: %d connections open; refusing more until some close", self._max_connections)
            self._full = True
            return _Busy()
        self._full = False
        self._arriving += 1
        # Counted here until the handler's connection_made registers it with the server: the loop runs
        # that right after `_arrived`, both being scheduled as this connection is set up.
        asyncio.get_running_loop().call_soon(self._arrived)
        return server()

    def _arrived(self) -> None:
        self._arriving -= 1

    def _bounded(self, handler: Handler, max_body: int) -> Handler:
        async def bounded(request: web.Request) -> web.StreamResponse:
            if request.content_length is not None and request.content_length > max_body:
                raise web.HTTPRequestEntityTooLarge(max_size=max_body, actual_size=request.content_length)
            capped = request.clone(client_max_size=max_body + 1)  # aiohttp refuses a body that reaches it
            try:
                async with asyncio.timeout(self._body_timeout_s):
                    await capped.read()  # raises HTTPRequestEntityTooLarge past the limit
            except TimeoutError:
                log.info("web: a request body took over %.0f s; connection closed", self._body_timeout_s)
                timed_out = web.Response(status=408)
                timed_out.force_close()
                return timed_out
            return await handler(capped)

        return bounded


async def _alive(_request: web.Request) -> web.Response:
    """Liveness: the process answers. Cheap and independent of the database (see /readyz)."""
    return web.json_response({"status": "ok"})


class _Busy(asyncio.Protocol):
    """A connection over the cap: told so and closed, without a handler or a parser."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(BUSY)
        transport.close()
