"""Reports of delivered results (`/report <job> [reason]`) and the one-step restore of their credits.

A report opens a support ticket linked to the job (one per job), with the reason as its first message,
and forwards the staff a card with the job and its images: the images are what they review. Staff
restore what the job charged into the buckets it came from, once per job (a ledger entry keyed by the
job), from WeCom (`#<ticket> restore`), the command line or the web admin; the user is told, the
thread and the audit log record who did it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.credits import Restore
from core.db.models import Job
from core.db.repositories import jobs as jobs_repo
from core.db.repositories import ledger as ledger_repo
from core.db.repositories import support as repo
from core.db.statuses import ACTIVE_JOBS, JobStatus
from core.errors import UserError
from core.i18n import Translator
from core.i18n.statuses import status_text
from core.messages import ChatRef, Reply, UserRef, image, text
from core.privacy.chats import NoticePointer, remember_pointer

if TYPE_CHECKING:
    from core.support import SupportDesk

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 500
NO_REASON = "(no reason given)"
REFUSALS = {
    Restore.ALREADY: "restore_already",
    Restore.REFUNDED: "restore_refunded",
    Restore.NOT_CHARGED: "restore_not_charged",
}


def restore_key(job_id: int) -> str:
    """The ledger key of a job's restore: at most one per job, whichever desk or ticket asks."""
    return f"job:{job_id}:restore"


@dataclass(frozen=True, slots=True)
class Reported:
    ticket_id: int
    job_id: int
    credits: int  # what the job charged
    existing: bool  # reported before: this is that ticket
    staffed: bool


@dataclass(frozen=True, slots=True)
class Restored:
    ticket_id: int
    job_id: int
    credits: int
    balance: int

    def params(self) -> dict[str, int]:
        return {
            "ticket": self.ticket_id,
            "job": self.job_id,
            "credits": self.credits,
            "balance": self.balance,
        }


async def report(
    desk: SupportDesk,
    *,
    account_id: int,
    user: UserRef,
    chat: ChatRef,
    language: str,
    job_id: int,
    reason: str,
    kept: Callable[[str], Awaitable[bool]],
    answers_to: ChatRef | None = None,
    pointer: NoticePointer | None = None,
) -> Reported:
    """Opens the job's ticket, or finds the one that reports it already. Only the job's owner may
    report it, and only a job that delivered (one that failed or was cancelled charged nothing).
    Answers go to `answers_to` (the user's private chat when they reported in a group), else `chat`."""
    reason = reason.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise UserError("report_usage", limit=MAX_REASON_CHARS)
    async with desk.db.transaction() as session:
        await credits.lock(session, account_id)  # one ticket per job, even when two reports race
        job = await jobs_repo.get(session, job_id)
        if job is None or job.account_id != account_id:  # alike: which job numbers exist stays unknown
            raise UserError("job_not_found", job=job_id)
        if job.status in ACTIVE_JOBS:
            raise UserError("job_not_finished", job=job_id)
        if job.status != JobStatus.SUCCEEDED:
            raise UserError("report_not_delivered", job=job_id)
        existing = await repo.by_job(session, job.id)
        if existing is not None:
            return Reported(existing.id, job.id, job.cost, True, await desk.staffed_in(session))
        ticket = await repo.create(
            session,
            account_id=account_id,
            identity=user.identity,
            chat=(answers_to or chat).serialize(),
            language=language,
            job_id=job.id,
        )
        await remember_pointer(session, pointer)
        entry = await repo.add_message(session, ticket.id, "user", reason or NO_REASON)
        card = await desk.card(session, ticket, user, chat, reason or NO_REASON, appended=False)
        t = Translator(desk.staff_language)
        lines = [card, await _job_line(session, t, job), t("report.card_how", ticket=ticket.id)]
        await desk.forward(
            session,
            [text("\n".join(lines)), *await _images(t, ticket.id, job, kept)],
            key=f"report:{entry.id}",
        )
        staffed = await desk.staffed_in(session)
    desk.notifier.wake()
    log.info("job %s reported as support ticket %s from a %s user", job.id, ticket.id, user.platform)
    return Reported(ticket.id, job.id, job.cost, False, staffed)


async def restore(desk: SupportDesk, ticket_id: int, *, actor: str) -> Restored:
    """Restores the credits of the ticket's job, once per job; UserError says why it cannot."""
    async with desk.db.transaction() as session:
        ticket = await desk.ticket_row(session, ticket_id)
        job = await jobs_repo.get(session, ticket.job_id) if ticket.job_id is not None else None
        if job is None or job.account_id != ticket.account_id:
            raise UserError("restore_no_job", ticket=ticket.id)
        outcome, amount = await credits.restore(
            session, job.hold_id, key=restore_key(job.id), note=f"ticket #{ticket.id}"
        )
        if outcome != Restore.RESTORED:
            raise UserError(REFUSALS[outcome], job=job.id)
        await repo.add_message(session, ticket.id, actor, f"(restored {amount} credits of job #{job.id})")
        await repo.audit(
            session,
            actor=actor,
            action="job_credits_restored",
            account_id=ticket.account_id,
            details={"ticket": ticket.id, "job": job.id, "credits": amount},
        )
        balance = await credits.balance(session, ticket.account_id)
        restored = Restored(ticket.id, job.id, amount, balance.total)
        notice = Translator(ticket.language)("report.restored", **restored.params())
        await desk.tell_user(session, ticket, notice, key=f"support:restore:{job.id}")
    desk.notifier.wake()
    log.info("credits of job %s restored on support ticket %s", job.id, ticket.id)
    return restored


async def job_view(session: AsyncSession, job_id: int | None) -> dict[str, Any] | None:
    """What staff need to review a reported job: its state, what it charged and whether it was restored."""
    job = await jobs_repo.get(session, job_id) if job_id is not None else None
    if job is None:
        return None
    found = await ledger_repo.hold_with_status(session, job.hold_id) if job.hold_id is not None else None
    subscription, one_time = (found[0].subscription_amount, found[0].one_time_amount) if found else (0, 0)
    return {
        "id": job.id,
        "status": job.status,
        "tier": job.tier,
        "size": f"{job.width}x{job.height}",
        "images": len(job.outputs),
        "outputs": list(job.outputs),  # where its images are kept, for a desk that shows them
        "charged": subscription + one_time,
        "subscription": subscription,
        "one_time": one_time,
        "hold": found[1].value if found else None,
        "restored": await credits.restored(session, restore_key(job.id)),
        "error_code": job.error_code,
        "error_ref": job.error_ref,
        "created_at": job.created_at.isoformat(),
    }


async def _job_line(session: AsyncSession, t: Translator, job: Job) -> str:
    view = await job_view(session, job.id)
    assert view is not None
    return t(
        "report.card_job",
        job=job.id,
        status=status_text(t, JobStatus, job.status),
        tier=job.tier,
        width=job.width,
        height=job.height,
        n=len(job.outputs),
        credits=view["charged"],
        subscription=view["subscription"],
        one_time=view["one_time"],
        ref=job.error_ref or "—",
    )


async def _images(
    t: Translator, ticket_id: int, job: Job, kept: Callable[[str], Awaitable[bool]]
) -> list[Reply]:
    """The job's images for the staff chats, those still kept (a few lookups of stored objects)."""
    n = len(job.outputs)
    return [
        image(key, t("report.card_image", job=job.id, index=index, n=n, ticket=ticket_id))
        for index, key in enumerate(job.outputs, start=1)
        if await kept(key)
    ]
