"""Accounts: search, the whole picture of one account, and what an operator may do to it."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from bot.admin_web.guard import Action, Form, Page, field, see_other
from bot.admin_web.render import Renderer
from core.admin import accounts
from core.admin.accounts import MAX_OPERATOR_CREDITS as MAX_CREDITS
from core.commands.context import Services
from core.commands.parser import whole_number
from core.credits import Bucket, EntryKind
from core.operators import SignedIn
from core.privacy.erase import OnLegalHold

LEDGER_ROWS = 200
NOTICES = {
    "granted": "Credits granted.",
    "deducted": "Credits deducted.",
    "unfrozen": "The freeze is lifted: the account may create images again.",
    "not-frozen": "The account was not frozen.",
    "strikes": "Safety strikes reset.",
    "held": "Legal hold placed: no erasure, no retention purge.",
    "unheld": "Legal hold lifted.",
    "erased": "The account's personal data is erased; ledger and payment records are kept without identity.",
}
PROBLEMS = {
    "amount": f"Give a whole number of credits from 1 to {MAX_CREDITS:,}.",
    "reason": "Give a reason: it is kept in the ledger and the audit log.",
    "insufficient": "The account has fewer credits than that.",
    "on-hold": "The account is under a legal hold: lift it before erasing.",
    "confirm": "Type the account's number to confirm the erasure.",
}


def account_path(account_id: int, **query: str) -> str:
    path = f"/admin/accounts/{account_id}"
    return f"{path}?{urlencode(query)}" if query else path


class AccountPages:
    def __init__(self, services: Services, renderer: Renderer) -> None:
        self._db = services.db
        self._privacy = services.privacy
        self._default_language = services.default_language
        self._renderer = renderer

    def pages(self) -> dict[str, Page]:
        return {
            "/admin/accounts": self.search,
            "/admin/accounts/{account_id:[0-9]+}": self.account,
            "/admin/accounts/{account_id:[0-9]+}/erase": self.confirm_erase,
        }

    def actions(self) -> dict[str, Action]:
        base = "/admin/accounts/{account_id:[0-9]+}"
        return {
            f"{base}/grant": self.grant,
            f"{base}/deduct": self.deduct,
            f"{base}/unfreeze": self.unfreeze,
            f"{base}/strikes": self.reset_strikes,
            f"{base}/hold": self.hold,
            f"{base}/export": self.export,
            f"{base}/erase": self.erase,
        }

    async def search(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        query = request.query.get("q", "").strip()
        found = await accounts.search(self._db, query) if query else []
        return self._renderer.page(
            "accounts.html",
            signed_in,
            section="accounts",
            query=query,
            found=found,
            notice=NOTICES.get(request.query.get("done", "")),
        )

    async def account(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        account_id = await self._existing(request)
        kind = request.query.get("kind", "")
        bucket = request.query.get("bucket", "")
        report = await accounts.report(self._db, account_id)
        ledger = await accounts.ledger(
            self._db, account_id, kind=kind or None, bucket=bucket or None, limit=LEDGER_ROWS
        )
        return self._renderer.page(
            "account.html",
            signed_in,
            section="accounts",
            report=report,
            ledger=list(reversed(ledger)),
            ledger_rows=LEDGER_ROWS,
            kinds=[entry.value for entry in EntryKind],
            buckets=[entry.value for entry in Bucket],
            kind=kind,
            bucket=bucket,
            notice=NOTICES.get(request.query.get("done", "")),
            problem=PROBLEMS.get(request.query.get("problem", "")),
        )

    async def confirm_erase(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        account_id = await self._existing(request)
        report = await accounts.report(self._db, account_id)
        return self._renderer.page(
            "erase.html",
            signed_in,
            section="accounts",
            report=report,
            problem=PROBLEMS.get(request.query.get("problem", "")),
        )

    async def grant(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        return await self._move(request, signed_in, form, deduct=False)

    async def deduct(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        return await self._move(request, signed_in, form, deduct=True)

    async def unfreeze(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        account_id = await self._existing(request)
        reason = field(form, "reason")
        if not reason:
            return see_other(account_path(account_id, problem="reason"))
        was = await accounts.unfreeze(
            self._db,
            account_id,
            reason=reason,
            actor=signed_in.actor,
            default_language=self._default_language,
        )
        return see_other(account_path(account_id, done="unfrozen" if was else "not-frozen"))

    async def reset_strikes(
        self, request: web.Request, signed_in: SignedIn, _form: Form
    ) -> web.StreamResponse:
        account_id = await self._existing(request)
        await accounts.reset_strikes(self._db, account_id, actor=signed_in.actor)
        return see_other(account_path(account_id, done="strikes"))

    async def hold(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        account_id = await self._existing(request)
        if field(form, "hold") == "on":
            reason = field(form, "reason")
            if not reason:
                return see_other(account_path(account_id, problem="reason"))
            await self._privacy.consents.hold(account_id, reason, actor=signed_in.actor)
            return see_other(account_path(account_id, done="held"))
        await self._privacy.consents.hold(account_id, None, actor=signed_in.actor)
        return see_other(account_path(account_id, done="unheld"))

    async def export(self, request: web.Request, signed_in: SignedIn, _form: Form) -> web.StreamResponse:
        account_id = await self._existing(request)
        key = await self._privacy.exports.for_operator(account_id, signed_in.actor)
        headers = {"Content-Disposition": f'attachment; filename="image2bot-export-{account_id}.zip"'}
        body = await self._privacy.exports.read(key)
        return web.Response(body=body, content_type="application/zip", headers=headers)

    async def erase(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        account_id = await self._existing(request)
        if field(form, "confirm") != str(account_id):
            return see_other(f"{account_path(account_id)}/erase?problem=confirm")
        try:
            await self._privacy.eraser.erase_now(account_id, signed_in.actor)
        except OnLegalHold:
            return see_other(account_path(account_id, problem="on-hold"))
        return see_other("/admin/accounts?done=erased")

    async def _move(
        self, request: web.Request, signed_in: SignedIn, form: Form, *, deduct: bool
    ) -> web.Response:
        account_id = await self._existing(request)
        amount, reason = field(form, "amount"), field(form, "reason")
        credits = whole_number(amount, digits=7)
        if credits is None or not 0 < credits <= MAX_CREDITS:
            return see_other(account_path(account_id, problem="amount"))
        if not reason:
            return see_other(account_path(account_id, problem="reason"))
        if deduct:
            try:
                await accounts.deduct(self._db, account_id, credits, reason=reason, actor=signed_in.actor)
            except accounts.InsufficientCredits:
                return see_other(account_path(account_id, problem="insufficient"))
            return see_other(account_path(account_id, done="deducted"))
        await accounts.grant(self._db, account_id, credits, reason=reason, actor=signed_in.actor)
        return see_other(account_path(account_id, done="granted"))

    async def _existing(self, request: web.Request) -> int:
        try:
            return await accounts.find_account(self._db, request.match_info["account_id"])
        except accounts.UnknownIdentity:
            raise web.HTTPNotFound(text="No such account.") from None
