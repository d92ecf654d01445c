"""The support desk: users reach a human from any platform; staff answer from WeCom.

`/support <message>` opens a ticket for the account (or adds to its open one) and forwards a card to
the staff chats: who, where, balances, recent jobs and ledger lines, and the message. Staff answer
with `#<ticket> <text>`, `#<ticket> close`, `#<ticket> restore` (a reported job's credits, once) or,
administrators only, `#<ticket> credit <n> <reason>`. Reports of results (`/report`) are in
`core.reports`.
Everything a user must hear goes through the durable outbox, in the transaction that records it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits, reports
from core.bidi import neutralize_bidi
from core.db.models import SupportTicket
from core.db.repositories import jobs as jobs_repo
from core.db.repositories import support as repo
from core.db.session import Database
from core.db.types import utcnow
from core.errors import UserError
from core.i18n import Translator
from core.i18n.local_time import Clock, zone_of
from core.messages import ChatRef, Reply, UserRef, text
from core.notifier import Notifier
from core.privacy.chats import NoticePointer, private_target, remember_pointer

log = logging.getLogger(__name__)

CONTACT_QR = "support/contact-qr.png"  # the `[support] contact_qr_path` image, in storage

CARD_JOBS = 5
CARD_LEDGER_LINES = 5
INBOX_LIMIT = 100
PREVIEW_CHARS = 120
MAX_CREDIT = 100_000
STAFF_COMMAND = re.compile(r"^#(\d{1,9})(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Submitted:
    ticket_id: int
    appended: bool
    staffed: bool  # someone will read it: a staff chat or the web admin's operators


@dataclass
class SupportDesk:
    db: Database
    notifier: Notifier
    staff: frozenset[str]  # identities of the members of staff (`wecom:<userid>`)
    staff_chats: tuple[ChatRef, ...]  # where tickets are forwarded
    admins: frozenset[str]
    staff_language: str
    contact_qr: str | None = None  # storage key of the contact QR image (`bot/app.py` stores it)
    hours: str = ""
    contact: str = ""  # the support e-mail of the Privacy Policy: where help is when no desk is staffed
    web_desk: bool = False  # the web admin's support inbox is on (staffed once an operator exists)

    def is_staff(self, user: UserRef) -> bool:
        return user.identity in self.staff

    async def staffed(self) -> bool:
        """Whether anyone reads tickets: staff chats in WeCom, or operators of the web admin."""
        if self.staff_chats:
            return True
        if not self.web_desk:
            return False
        async with self.db.read() as session:
            return await repo.has_operators(session)

    async def submit(
        self,
        account_id: int,
        user: UserRef,
        chat: ChatRef,
        language: str,
        message: str,
        *,
        answers_to: ChatRef | None = None,
        pointer: NoticePointer | None = None,
    ) -> Submitted:
        """Opens a ticket (or adds to the open one) and forwards the message to the staff. Answers go
        to `answers_to` (the user's private chat when they wrote in a group), else to `chat`."""
        answers = (answers_to or chat).serialize()
        async with self.db.transaction() as session:
            await credits.lock(session, account_id)  # one open ticket per account, even when racing
            ticket = await repo.open_ticket(session, account_id)
            appended = ticket is not None
            if ticket is None:
                ticket = await repo.create(
                    session,
                    account_id=account_id,
                    identity=user.identity,
                    chat=answers,
                    language=language,
                )
            else:
                ticket.chat = answers  # where they can be reached now
            await remember_pointer(session, pointer)
            entry = await repo.add_message(session, ticket.id, "user", message)
            card = await self.card(session, ticket, user, chat, message, appended=appended)
            await self.forward(session, [text(card)], key=f"support:{entry.id}")
            staffed = await self.staffed_in(session)
        self.notifier.wake()
        if not staffed:
            log.warning("support ticket %s stored, but no support desk is staffed", ticket.id)
        log.info(
            "support ticket %s %s from a %s user",
            ticket.id,
            "updated" if appended else "opened",
            user.platform,
        )
        return Submitted(ticket.id, appended, staffed)

    async def forward(self, session: AsyncSession, replies: list[Reply], *, key: str) -> None:
        """Sends `replies` to every staff chat through the outbox, in the caller's transaction."""
        for staff_chat in self.staff_chats:
            await self.notifier.enqueue(session, staff_chat, replies, key=f"{key}:{staff_chat.serialize()}")

    async def staffed_in(self, session: AsyncSession) -> bool:
        return bool(self.staff_chats) or (self.web_desk and await repo.has_operators(session))

    async def answer(self, staff: UserRef, message: str) -> list[Reply]:
        """A staff message: `#<ticket> <text>`, `#<ticket> close`, `#<ticket> restore`,
        `#<ticket> credit <n> <reason>`."""
        t = Translator(self.staff_language)
        match = STAFF_COMMAND.match(message.strip())
        if match is None:
            raise UserError("support_staff_usage")
        ticket_id, rest = int(match.group(1)), (match.group(2) or "").strip()
        if not rest:
            raise UserError("support_staff_usage")
        words = rest.split(maxsplit=3)
        if words[0].lower() == "close" and len(words) == 1:
            return [text(await self._close(staff, ticket_id, t))]
        if words[0].lower() == "restore" and len(words) == 1:
            restored = await reports.restore(self, ticket_id, actor=staff.identity)
            return [text(t("report.staff_restored", **restored.params()))]
        if words[0].lower() == "credit":
            return [text(await self._credit(staff, ticket_id, words[1:], t))]
        return [text(await self._reply(staff, ticket_id, rest, t))]

    async def _reply(self, staff: UserRef, ticket_id: int, body: str, t: Translator) -> str:
        ticket = await self.reply(ticket_id, body, actor=staff.identity)
        return t("support.staff.sent", ticket=ticket_id, who=neutralize_bidi(ticket.identity))

    async def _close(self, staff: UserRef, ticket_id: int, t: Translator) -> str:
        if not await self.close(ticket_id, actor=staff.identity):
            return t("support.staff.already_closed", ticket=ticket_id)
        return t("support.staff.closed", ticket=ticket_id)

    async def _credit(self, staff: UserRef, ticket_id: int, words: Sequence[str], t: Translator) -> str:
        if staff.identity not in self.admins:
            raise UserError("support_credit_not_admin")
        amount = int(words[0]) if words and words[0].isdigit() else 0
        reason = " ".join(words[1:]).strip()
        balance = await self.credit(ticket_id, amount, reason, actor=staff.identity)
        return t("support.staff.credited", ticket=ticket_id, credits=amount, balance=balance.total)

    # --- the same actions for operators (web admin, command line), and the inbox --------------------

    async def tickets(
        self, *, status: str | None = repo.OPEN, limit: int = INBOX_LIMIT
    ) -> list[dict[str, Any]]:
        """The inbox: tickets (open ones by default), the one written to last first, from every platform."""
        async with self.db.transaction() as session:
            rows = await repo.inbox(session, status=status, limit=limit)
        return [
            {
                **_ticket_fields(ticket),
                "last_at": last.created_at.isoformat(),
                "last_author": last.author,
                "preview": neutralize_bidi(last.body[:PREVIEW_CHARS]),
            }
            for ticket, last in rows
        ]

    async def ticket(self, ticket_id: int) -> dict[str, Any]:
        """A ticket with its whole thread and the job it reports; UserError when there is no such ticket."""
        async with self.db.transaction() as session:
            ticket = await self.ticket_row(session, ticket_id)
            thread = await repo.thread(session, ticket.id)
            job = await reports.job_view(session, ticket.job_id)
        last = thread[-1] if thread else None
        return {
            **_ticket_fields(ticket),
            "chat": ticket.chat,
            "language": ticket.language,
            "job": job,
            "last_at": (last.created_at if last else ticket.created_at).isoformat(),
            "last_author": last.author if last else None,
            "thread": [
                {
                    "author": entry.author,
                    "body": neutralize_bidi(entry.body),
                    "created_at": entry.created_at.isoformat(),
                }
                for entry in thread
            ],
        }

    async def reply(self, ticket_id: int, body: str, *, actor: str) -> SupportTicket:
        """Sends `body` to the user's chat (through the outbox) and adds it to the thread."""
        body = body.strip()
        if not body:
            raise UserError("support_staff_usage")
        async with self.db.transaction() as session:
            ticket = await self.ticket_row(session, ticket_id)
            entry = await repo.add_message(session, ticket.id, actor, body)
            user_t = Translator(ticket.language)
            notice = user_t("support.replied", ticket=ticket.id, text=body)
            await self.tell_user(session, ticket, notice, key=f"support:reply:{entry.id}")
            await repo.audit(
                session,
                actor=actor,
                action="ticket_answered",
                account_id=ticket.account_id,
                details={"ticket": ticket.id},
            )
        self.notifier.wake()
        return ticket

    async def close(self, ticket_id: int, *, actor: str) -> bool:
        """Closes the ticket and tells the user; False when it was closed already."""
        async with self.db.transaction() as session:
            ticket = await self.ticket_row(session, ticket_id)
            if not await repo.close(session, ticket.id, utcnow()):
                return False
            await repo.add_message(session, ticket.id, actor, "(closed)")
            notice = Translator(ticket.language)("support.closed", ticket=ticket.id)
            await self.tell_user(session, ticket, notice, key=f"support:close:{ticket.id}")
            await repo.audit(
                session,
                actor=actor,
                action="ticket_closed",
                account_id=ticket.account_id,
                details={"ticket": ticket.id},
            )
        self.notifier.wake()
        return True

    async def credit(self, ticket_id: int, amount: int, reason: str, *, actor: str) -> credits.Balance:
        """One-time credits on a ticket, with the reason told to the user; audited."""
        reason = reason.strip()
        if not 0 < amount <= MAX_CREDIT or not reason:
            raise UserError("support_credit_usage", limit=MAX_CREDIT)
        async with self.db.transaction() as session:
            ticket = await self.ticket_row(session, ticket_id)
            await credits.lock(session, ticket.account_id)
            await credits.grant(
                session,
                ticket.account_id,
                amount,
                kind=credits.EntryKind.ADMIN_GRANT,
                key=f"support:credit:{uuid.uuid4()}",
                reference=f"ticket:{ticket.id}",
                note=reason,
            )
            await repo.audit(
                session,
                actor=actor,
                action="support_credit",
                account_id=ticket.account_id,
                details={"ticket": ticket.id, "credits": amount, "reason": reason},
            )
            await repo.add_message(session, ticket.id, actor, f"(credit {amount}: {reason})")
            balance = await credits.balance(session, ticket.account_id)
            notice = Translator(ticket.language)(
                "support.credited", ticket=ticket.id, credits=amount, reason=reason, balance=balance.total
            )
            await self.tell_user(session, ticket, notice, key=f"support:credit:{ticket.id}:{uuid.uuid4()}")
        self.notifier.wake()
        return balance

    async def ticket_row(self, session: AsyncSession, ticket_id: int) -> SupportTicket:
        ticket = await repo.get(session, ticket_id)
        if ticket is None:
            raise UserError("support_ticket_not_found", ticket=ticket_id)
        return ticket

    async def tell_user(self, session: AsyncSession, ticket: SupportTicket, notice: str, *, key: str) -> None:
        """Staff words reach the user without bidi controls, as the user's reach the staff; in their
        private chat, never in a group."""
        target = await private_target(session, ticket.account_id, ChatRef.parse(ticket.chat))
        if target is None:
            log.warning(
                "support ticket %s: no private chat to answer in; the answer is kept in the ticket", ticket.id
            )
            return
        await self.notifier.enqueue(session, target, [text(neutralize_bidi(notice))], key=key)

    async def card(
        self,
        session: AsyncSession,
        ticket: SupportTicket,
        user: UserRef,
        chat: ChatRef,
        message: str,
        *,
        appended: bool,
    ) -> str:
        """What the staff see: enough to answer without asking who, where and what happened; what the
        user wrote comes without bidi controls, so the card reads as it is."""
        t = Translator(self.staff_language)
        clock = Clock(self.staff_language, zone_of({}, self.staff_language))
        balance = await credits.balance(session, ticket.account_id)
        jobs = await jobs_repo.recent(session, ticket.account_id, CARD_JOBS)
        entries = await credits.recent_entries(session, ticket.account_id, CARD_LEDGER_LINES)
        lines = [
            t("support.card.title_more" if appended else "support.card.title", ticket=ticket.id),
            t(
                "support.card.who",
                identity=user.identity,
                platform=user.platform,
                chat=chat.serialize(),
                language=ticket.language,
                account=ticket.account_id,
            ),
            t(
                "support.card.balance",
                total=balance.total,
                subscription=balance.subscription,
                one_time=balance.one_time,
            ),
            t("support.card.jobs"),
            *(
                f"  #{job.id} {job.status}{f' ({job.error_code})' if job.error_code else ''} "
                f"{job.width}x{job.height} {job.cost}"
                for job in jobs
            ),
            t("support.card.ledger", zone=clock.zone_label()),
            *(
                f"  {entry.delta:+d} {entry.kind} {entry.bucket} {clock.moment(entry.created_at)}"
                for entry in entries
            ),
            t("support.card.message"),
            message,
            t("support.card.how", ticket=ticket.id),
        ]
        return neutralize_bidi("\n".join(lines))


def _ticket_fields(ticket: SupportTicket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "account_id": ticket.account_id,
        "identity": ticket.identity,
        "platform": ticket.identity.partition(":")[0],
        "status": ticket.status,
        "job_id": ticket.job_id,
        "created_at": ticket.created_at.isoformat(),
        "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
    }
