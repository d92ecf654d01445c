"""The operators' web admin under /admin, served by the bot's web server (roles all and web)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bot.admin_web.accounts_pages import AccountPages
from bot.admin_web.codes_page import CodesPage
from bot.admin_web.guard import Guard, secured
from bot.admin_web.records_pages import RecordPages
from bot.admin_web.render import Renderer
from bot.admin_web.sign_in import SignIn
from bot.admin_web.support_pages import SupportPages
from bot.config import Settings
from bot.forwarded import TrustedProxies
from bot.web import KIB, WebServer
from core.commands.context import Services
from core.operators import Operators

# A form is a few fields; the longest is an answer to a ticket (a chat message: a few thousand characters).
FORM_MAX_BYTES = 64 * KIB
STYLESHEET = Path(__file__).parent / "static" / "admin.css"


def mount(web_server: WebServer, services: Services, settings: Settings) -> None:
    """Adds every admin page and form to the web server (before it starts)."""
    admin = settings.admin
    operators = Operators(
        services.db,
        lifetime=timedelta(hours=admin.session_hours),
        idle=timedelta(minutes=admin.idle_minutes),
    )
    public = settings.web.public_url or ""
    proxies = TrustedProxies(str(network) for network in settings.web.trusted_proxies)
    guard = Guard(operators, proxies, always_secure=public.startswith("https://"))
    renderer = Renderer()
    sign_in = SignIn(guard, renderer, lifetime_s=int(admin.session_hours * 3600))
    accounts = AccountPages(services, renderer)
    support = SupportPages(services.support, renderer, services.storage.read)
    records = RecordPages(services.db, renderer)
    codes = CodesPage(services.codes, renderer)

    stylesheet = STYLESHEET.read_bytes()

    async def css(_request: web.Request) -> web.StreamResponse:
        response = web.Response(body=stylesheet, content_type="text/css", charset="utf-8")
        response.headers["Cache-Control"] = "max-age=3600"
        return secured(response)

    web_server.add_get("/admin/static/admin.css", css)
    web_server.add_get("/admin/sign-in", sign_in.form)
    web_server.add_post("/admin/sign-in", sign_in.submit, max_body=FORM_MAX_BYTES)
    web_server.add_post("/admin/sign-out", guard.action(sign_in.sign_out), max_body=FORM_MAX_BYTES)
    for path, page in accounts.pages().items():
        web_server.add_get(path, guard.page(page))
    for path, action in accounts.actions().items():
        web_server.add_post(path, guard.action(action), max_body=FORM_MAX_BYTES)
    for path, page in support.pages().items():
        web_server.add_get(path, guard.page(page))
    for path, action in support.actions().items():
        web_server.add_post(path, guard.action(action), max_body=FORM_MAX_BYTES)
    for path, page in records.pages().items():
        web_server.add_get(path, guard.page(page))
    for path, page in codes.pages().items():
        web_server.add_get(path, guard.page(page))
    for path, action in codes.actions().items():
        web_server.add_post(path, guard.action(action), max_body=FORM_MAX_BYTES)
