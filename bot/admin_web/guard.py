"""Who may see an admin page, and what every admin answer carries.

A page handler gets the signed-in operator; an anonymous request is sent to the sign-in page with the
path it asked for. A form handler also gets the posted form, and only when its CSRF token is the
session's (else 403). Every answer carries headers that forbid framing, sniffing, inline scripts and
caching (the pages show personal data).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from bot.forwarded import TrustedProxies
from core.operators import Operators, SignedIn

SESSION_COOKIE = "image2bot_admin"
SIGN_IN_PATH = "/admin/sign-in"
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Form = MultiDictProxy[str | bytes | web.FileField]
Page = Callable[[web.Request, SignedIn], Awaitable[web.StreamResponse]]
Action = Callable[[web.Request, SignedIn, Form], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def local_path(target: str | None, default: str = "/admin") -> str:
    """`target` when it is a path of the admin on this server, else `default`: a sign-in link can
    never send the browser elsewhere."""
    if not target or "\\" in target or not target.startswith("/admin") or target.startswith("//"):
        return default
    return target


def see_other(location: str) -> web.Response:
    return secured(web.Response(status=303, headers={"Location": location}))


def secured(response: web.StreamResponse) -> web.StreamResponse:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def read_form(request: web.Request) -> Form | None:
    """A posted form, or None when it is not a plain (urlencoded) one: the admin's forms upload nothing,
    and a multipart body would have aiohttp spool its files to disk."""
    if request.content_type != "application/x-www-form-urlencoded":
        return None
    return await request.post()


def unsupported_form() -> web.StreamResponse:
    return secured(web.Response(status=415, text="Forms are posted as application/x-www-form-urlencoded."))


def field(form: Form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class Guard:
    def __init__(self, operators: Operators, proxies: TrustedProxies, *, always_secure: bool) -> None:
        self.operators = operators
        self.proxies = proxies
        self._always_secure = always_secure

    def secure(self, request: web.Request) -> bool:
        """Cookies are marked Secure when the browser came over https (itself or to a trusted proxy), or
        the public address is https."""
        return self._always_secure or self.proxies.https(request)

    async def signed_in(self, request: web.Request) -> SignedIn | None:
        token = request.cookies.get(SESSION_COOKIE)
        return await self.operators.session(token) if token else None

    def page(self, handler: Page) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            signed_in = await self.signed_in(request)
            if signed_in is None:
                return see_other(f"{SIGN_IN_PATH}?next={quote(request.path_qs, safe='/')}")
            return await _answer(handler(request, signed_in))

        return guarded

    def action(self, handler: Action) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            signed_in = await self.signed_in(request)
            if signed_in is None:
                return see_other(SIGN_IN_PATH)
            form = await read_form(request)
            if form is None:
                return unsupported_form()
            token = form.get("csrf")
            if not isinstance(token, str) or not hmac.compare_digest(token, signed_in.csrf_token):
                return secured(web.Response(status=403, text="This form has expired: reload the page."))
            return await _answer(handler(request, signed_in, form))

        return guarded


async def _answer(answering: Awaitable[web.StreamResponse]) -> web.StreamResponse:
    """The handler's answer, or the HTTP error it raised (404 for an unknown account), with our headers."""
    try:
        return secured(await answering)
    except web.HTTPException as error:
        for name, value in HEADERS.items():
            error.headers.setdefault(name, value)
        raise
