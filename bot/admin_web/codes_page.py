"""Credit codes for `/redeem`, from the web: listed with their uses and state, created (the code is
shown on the answer to the form, once: only its hash is kept) and disabled; each change audited with
the operator's name, as `image2bot admin code` does from the command line."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from bot.admin_web.guard import Action, Form, Page, field, see_other
from bot.admin_web.render import Renderer
from core.admin.accounts import MAX_OPERATOR_CREDITS
from core.commands.parser import whole_number
from core.db.types import utcnow
from core.growth.codes import MAX_CODE_CHARS, MAX_USES, MIN_CODE_CHARS, Codes, InvalidCode, end_of
from core.operators import SignedIn

NOTICES = {"disabled": "Code disabled: it credits no one from now on."}
PROBLEMS = {
    "credits": f"Give a whole number of credits from 1 to {MAX_OPERATOR_CREDITS:,}.",
    "uses": f"Give a whole number of uses from 1 to {MAX_USES:,}.",
    "expires": "Give the last day the code works as YYYY-MM-DD, today or later, or leave it empty.",
    "code": f"A chosen code has {MIN_CODE_CHARS} to {MAX_CODE_CHARS} letters and digits, and is not taken.",
    "disable": "No such code, or it is disabled already.",
}


class CodesPage:
    def __init__(self, codes: Codes, renderer: Renderer) -> None:
        self._codes = codes
        self._renderer = renderer

    def pages(self) -> dict[str, Page]:
        return {"/admin/codes": self.listing}

    def actions(self) -> dict[str, Action]:
        return {"/admin/codes/create": self.create, "/admin/codes/{code_id:[0-9]+}/disable": self.disable}

    async def listing(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        return await self._page(
            signed_in,
            notice=NOTICES.get(request.query.get("done", "")),
            problem=PROBLEMS.get(request.query.get("problem", "")),
        )

    async def create(self, _request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        credits = whole_number(field(form, "credits"), digits=7)
        uses = whole_number(field(form, "uses"), digits=7)
        chosen = field(form, "code") or None
        if credits is None or not 0 < credits <= MAX_OPERATOR_CREDITS:
            return see_other("/admin/codes?problem=credits")
        if uses is None or not 0 < uses <= MAX_USES:
            return see_other("/admin/codes?problem=uses")
        try:
            expires = end_of(date.fromisoformat(field(form, "expires"))) if field(form, "expires") else None
        except ValueError:
            return see_other("/admin/codes?problem=expires")
        if expires is not None and expires <= utcnow():
            return see_other("/admin/codes?problem=expires")
        if chosen is not None and not chosen.isascii():
            return see_other("/admin/codes?problem=code")
        try:
            plain, view = await self._codes.create(
                credits_each=credits,
                uses=uses,
                expires_at=expires,
                actor=signed_in.actor,
                code=chosen,
            )
        except InvalidCode:
            return see_other("/admin/codes?problem=code")
        # Shown in the answer to the form, never again: no page can be reloaded to read it later.
        return await self._page(signed_in, created=plain, created_id=view.id)

    async def disable(self, request: web.Request, signed_in: SignedIn, _form: Form) -> web.StreamResponse:
        code_id = whole_number(request.match_info["code_id"])
        if code_id is None or not await self._codes.disable(code_id, actor=signed_in.actor):
            return see_other("/admin/codes?problem=disable")
        return see_other("/admin/codes?done=disabled")

    async def _page(self, signed_in: SignedIn, **context: object) -> web.Response:
        now = utcnow()
        rows = [view.as_dict(now) for view in await self._codes.list()]
        context.setdefault("created", None)
        context.setdefault("created_id", None)
        return self._renderer.page("codes.html", signed_in, section="codes", codes=rows, **context)
