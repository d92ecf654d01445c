"""`/balance`, `/history`, `/original`, `/cancel`: what the user has, did and wants stopped."""

from __future__ import annotations

from core import credits
from core.commands import payments
from core.commands.context import Context
from core.commands.parser import Command, whole_number
from core.db.models import Job, LedgerEntry
from core.db.statuses import JobStatus
from core.errors import UserError
from core.i18n.statuses import status_text
from core.messages import Reply, file, text

RECENT_LEDGER_LINES = 5
HISTORY_JOBS = 10
HISTORY_PROMPT_CHARS = 60
STATUS_ICONS = {
    JobStatus.QUEUED: "⏳",
    JobStatus.RUNNING: "🎨",
    JobStatus.SUCCEEDED: "✅",
    JobStatus.FAILED: "⚠️",
    JobStatus.CANCELLED: "✖️",
}


async def balance(ctx: Context, _command: Command) -> list[Reply]:
    async with ctx.read() as session:
        current = await credits.balance(session, ctx.account.id)
        recent = await credits.recent_entries(session, ctx.account.id, RECENT_LEDGER_LINES)
    t = ctx.t
    prices = ctx.services.pricing.prices
    lines = [
        t("balance.total", total=current.total),
        t("balance.subscription", amount=current.subscription),
        t("balance.one_time", amount=current.one_time),
        t("balance.prices", k1=prices.k1, k2=prices.k2, k4=prices.k4),
    ]
    if recent:
        lines.append(t("balance.recent"))
        lines.extend(_ledger_line(ctx, entry) for entry in recent)
        lines.append(ctx.t("local_time.zone_note", zone=ctx.clock.zone_label()))
    hint, choices = payments.way_to_pay(ctx.services, t, ctx.chat)
    lines.append(hint)
    return [text("\n".join(lines), private=True, choices=choices)]


def _ledger_line(ctx: Context, entry: LedgerEntry) -> str:
    what = ctx.t(f"ledger.{entry.kind}")
    if entry.reference and entry.reference.startswith("job:"):
        what = f"{what} #{entry.reference.removeprefix('job:')}"
    bucket = ctx.t(f"ledger.bucket.{entry.bucket}")
    return f"  {entry.delta:+d}  {what} · {bucket} · {ctx.clock.moment(entry.created_at)}"


async def history(ctx: Context, _command: Command) -> list[Reply]:
    async with ctx.read() as session:
        jobs = await ctx.services.jobs.recent(session, ctx.account.id, HISTORY_JOBS)
    if not jobs:
        return [text(ctx.t("history.empty"), private=True)]
    lines = [
        ctx.t("history.title"),
        *(_job_line(ctx, job) for job in jobs),
        ctx.t("local_time.zone_note", zone=ctx.clock.zone_label()),
    ]
    return [text("\n".join(lines), private=True)]


async def original(ctx: Context, command: Command) -> list[Reply]:
    """`/original <job> [image]`: the full-quality file of one of your results."""
    words = command.words
    index = whole_number(words[1], digits=3) if len(words) == 2 else 1
    if len(words) not in (1, 2) or index is None:
        raise UserError("original_usage")
    job_id = parse_job_id(words[0])
    job = await ctx.services.jobs.get(job_id)
    if job is None or job.account_id != ctx.account.id:  # alike: which job numbers exist stays unknown
        raise UserError("job_not_found", job=job_id)
    if job.erased_at is not None:
        raise UserError("job_erased", job=job_id)
    if job.status != JobStatus.SUCCEEDED or not job.outputs:
        raise UserError("job_not_finished", job=job_id)
    if not 1 <= index <= len(job.outputs):
        raise UserError("bad_image_index", job=job_id, count=len(job.outputs))
    key = job.outputs[index - 1]
    if not await ctx.services.storage.exists(key):
        raise UserError("output_gone", job=job_id)
    return [file(key, ctx.t("original.caption", job=job_id, index=index), job=job_id)]


def _job_line(ctx: Context, job: Job) -> str:
    prompt = " ".join(job.prompt.split())
    if len(prompt) > HISTORY_PROMPT_CHARS:
        prompt = prompt[: HISTORY_PROMPT_CHARS - 1] + "…"
    status = status_text(ctx.t, JobStatus, job.status)
    return ctx.t(
        "history.line_erased" if job.erased_at else "history.line",
        icon=STATUS_ICONS.get(job.status, "•"),
        job=job.id,
        status=status,
        width=job.width,
        height=job.height,
        style=ctx.services.styles.label_of(job.style, ctx.language),
        prompt=prompt,
        when=ctx.clock.moment(job.created_at),
    )


async def cancel(ctx: Context, command: Command) -> list[Reply]:
    job_id = parse_job_id(command.words[0]) if command.words else None
    cancelled = await ctx.services.jobs.cancel(ctx.account.id, job_id)
    message = ctx.t(
        "cancel.done", job=cancelled.job_id, credits=cancelled.refunded, balance=cancelled.balance.total
    )
    return [text(message, job=cancelled.job_id, final=True)]


def parse_job_id(word: str) -> int:
    job_id = whole_number(word.removeprefix("#"))
    if job_id is None:
        raise UserError("bad_job_id", value=word)
    return job_id
