"""Signing in and out. The sign-in form is protected from cross-site posts by a random value that is
both in a cookie and in the form (no session exists yet to hold a CSRF token)."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from bot.admin_web.guard import (
    SESSION_COOKIE,
    Form,
    Guard,
    field,
    local_path,
    read_form,
    secured,
    see_other,
    unsupported_form,
)
from bot.admin_web.render import Renderer
from core.operators import SignedIn, SignInRefused

FORM_COOKIE = "image2bot_admin_form"
REFUSALS = {
    "invalid": (401, "Wrong name, password or code."),
    "throttled": (429, "Too many failed attempts: wait a minute, then try again."),
}


class SignIn:
    def __init__(self, guard: Guard, renderer: Renderer, *, lifetime_s: int) -> None:
        self._guard = guard
        self._renderer = renderer
        self._lifetime_s = lifetime_s

    async def form(self, request: web.Request) -> web.StreamResponse:
        target = local_path(request.query.get("next"))
        if await self._guard.signed_in(request) is not None:
            return see_other(target)
        return self._form(request, target)

    async def submit(self, request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        if form is None:
            return unsupported_form()
        expected = request.cookies.get(FORM_COOKIE, "")
        given = form.get("csrf")
        if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
            return secured(web.Response(status=403, text="This form has expired: reload the page."))
        target = local_path(field(form, "next"))
        name = field(form, "name")
        try:
            new = await self._guard.operators.sign_in(
                name, _raw(form, "password"), field(form, "code"), address=self._guard.proxies.client(request)
            )
        except SignInRefused as refused:
            status, problem = REFUSALS[refused.reason]
            return self._form(request, target, status=status, problem=problem, name=name)
        response = see_other(target)
        response.set_cookie(
            SESSION_COOKIE,
            new.token,
            path="/admin",
            max_age=self._lifetime_s,
            httponly=True,
            samesite="Lax",
            secure=self._guard.secure(request),
        )
        response.del_cookie(FORM_COOKIE, path="/admin/sign-in")
        return response

    async def sign_out(self, request: web.Request, _signed_in: SignedIn, _form: Form) -> web.StreamResponse:
        await self._guard.operators.sign_out(request.cookies[SESSION_COOKIE])
        response = see_other("/admin/sign-in")
        response.del_cookie(SESSION_COOKIE, path="/admin")
        return response

    def _form(
        self,
        request: web.Request,
        target: str,
        *,
        status: int = 200,
        problem: str | None = None,
        name: str = "",
    ) -> web.StreamResponse:
        token = secrets.token_urlsafe(24)
        response = self._renderer.page(
            "sign_in.html", None, status=status, csrf=token, next=target, problem=problem, name=name
        )
        response.set_cookie(
            FORM_COOKIE,
            token,
            path="/admin/sign-in",
            httponly=True,
            samesite="Strict",
            secure=self._guard.secure(request),
        )
        return secured(response)


def _raw(form: Form, name: str) -> str:
    """A password as typed: spaces count."""
    value = form.get(name)
    return value if isinstance(value, str) else ""
