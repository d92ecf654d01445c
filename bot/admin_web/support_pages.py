"""The support inbox: tickets from every platform, answered, closed or credited from the web; a reported
job's ticket shows the job and its images, and restores its credits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.admin_web.guard import Action, Form, Page, field, secured, see_other
from bot.admin_web.render import Renderer
from core import reports
from core.commands.parser import whole_number
from core.errors import UserError
from core.generation.storage import MissingObject
from core.messages import MediaReader
from core.operators import SignedIn
from core.support import MAX_CREDIT, SupportDesk

STATUSES = ("open", "closed", "all")
ANSWER_MAX_CHARS = 4000  # one chat message on every platform
NOTICES = {
    "answered": "Answer sent: it reaches the user's chat through the outbox.",
    "closed": "Ticket closed.",
    "credited": "Credits granted, and the user told.",
    "restored": "The job's credits were restored, and the user told.",
}
PROBLEMS = {
    "answer": f"Write an answer of at most {ANSWER_MAX_CHARS:,} characters.",
    "amount": f"Give a whole number of credits from 1 to {MAX_CREDIT:,}.",
    "reason": "Give a reason: it is kept in the ledger and the audit log.",
    "closed": "This ticket is closed already.",
    "restore_already": "The job's credits were already restored: at most once per job.",
    "restore_refunded": "The job failed or was cancelled: its credits were refunded then.",
    "restore_not_charged": "The job charged nothing that could be restored.",
    "restore_no_job": "This ticket reports no job.",
}


def ticket_path(ticket_id: int, **query: str) -> str:
    path = f"/admin/tickets/{ticket_id}"
    return f"{path}?{urlencode(query)}" if query else path


class SupportPages:
    def __init__(self, desk: SupportDesk, renderer: Renderer, read: MediaReader) -> None:
        self._desk = desk
        self._renderer = renderer
        self._read = read  # a job's kept image, by its storage key

    def pages(self) -> dict[str, Page]:
        base = "/admin/tickets/{ticket_id:[0-9]+}"
        images = f"{base}/images/{{index:[0-9]+}}"
        return {"/admin/tickets": self.inbox, base: self.ticket, images: self.image}

    def actions(self) -> dict[str, Action]:
        base = "/admin/tickets/{ticket_id:[0-9]+}"
        return {
            f"{base}/answer": self.answer,
            f"{base}/close": self.close,
            f"{base}/credit": self.credit,
            f"{base}/restore": self.restore,
        }

    async def inbox(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        status = request.query.get("status", "open")
        status = status if status in STATUSES else "open"
        tickets = await self._desk.tickets(status=None if status == "all" else status)
        return self._renderer.page(
            "tickets.html", signed_in, section="tickets", tickets=tickets, showing=status, statuses=STATUSES
        )

    async def ticket(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        ticket = await self._existing(request)
        return self._renderer.page(
            "ticket.html",
            signed_in,
            section="tickets",
            ticket=ticket,
            answer_max=ANSWER_MAX_CHARS,
            notice=NOTICES.get(request.query.get("done", "")),
            problem=PROBLEMS.get(request.query.get("problem", "")),
        )

    async def answer(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        ticket = await self._existing(request)
        body = field(form, "body")
        if not body or len(body) > ANSWER_MAX_CHARS:
            return see_other(ticket_path(ticket["id"], problem="answer"))
        await self._desk.reply(ticket["id"], body, actor=signed_in.actor)
        return see_other(ticket_path(ticket["id"], done="answered"))

    async def close(self, request: web.Request, signed_in: SignedIn, _form: Form) -> web.StreamResponse:
        ticket = await self._existing(request)
        closed = await self._desk.close(ticket["id"], actor=signed_in.actor)
        return see_other(
            ticket_path(ticket["id"], **({"done": "closed"} if closed else {"problem": "closed"}))
        )

    async def credit(self, request: web.Request, signed_in: SignedIn, form: Form) -> web.StreamResponse:
        ticket = await self._existing(request)
        amount, reason = field(form, "amount"), field(form, "reason")
        credits = whole_number(amount, digits=7)
        if credits is None or not 0 < credits <= MAX_CREDIT:
            return see_other(ticket_path(ticket["id"], problem="amount"))
        if not reason:
            return see_other(ticket_path(ticket["id"], problem="reason"))
        await self._desk.credit(ticket["id"], credits, reason, actor=signed_in.actor)
        return see_other(ticket_path(ticket["id"], done="credited"))

    async def restore(self, request: web.Request, signed_in: SignedIn, _form: Form) -> web.StreamResponse:
        ticket = await self._existing(request)
        try:
            await reports.restore(self._desk, ticket["id"], actor=signed_in.actor)
        except UserError as refused:
            return see_other(ticket_path(ticket["id"], problem=refused.code))
        return see_other(ticket_path(ticket["id"], done="restored"))

    async def image(self, request: web.Request, _signed_in: SignedIn) -> web.StreamResponse:
        """An image of the job the ticket reports: what the operator reviews."""
        ticket = await self._existing(request)
        index = whole_number(request.match_info["index"], digits=2)
        outputs = ticket["job"]["outputs"] if ticket["job"] else []
        if index is None or not 1 <= index <= len(outputs):
            raise web.HTTPNotFound(text="No such image.")
        try:
            data = await self._read(outputs[index - 1])
        except MissingObject:
            raise web.HTTPNotFound(text="This image is no longer kept.") from None
        return secured(web.Response(body=data, content_type="image/png"))

    async def _existing(self, request: web.Request) -> dict[str, Any]:
        ticket_id = whole_number(request.match_info["ticket_id"])
        try:
            if ticket_id is None:
                raise UserError("support_ticket_not_found")
            return await self._desk.ticket(ticket_id)
        except UserError:
            raise web.HTTPNotFound(text="No such ticket.") from None
