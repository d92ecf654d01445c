"""`/support`: reach a human; `/report`: a result for review. Staff answers (`#<ticket> ...`) are handled
by the support desk."""

from __future__ import annotations

from dataclasses import replace

from core import reports
from core.commands.account import parse_job_id
from core.commands.context import Context
from core.commands.parser import Command
from core.errors import UserError
from core.messages import Reply, image, text

MAX_MESSAGE_CHARS = 4000


async def support(ctx: Context, command: Command) -> list[Reply]:
    desk = ctx.services.support
    if not command.text:
        if await desk.staffed():
            lines = [ctx.t("support.how")]
            if desk.hours:
                lines.append(ctx.t("support.hours", hours=desk.hours))
        else:
            lines = [ctx.t("support.how_by_email", contact=desk.contact)]
        replies = [text("\n".join(lines))]
        if desk.contact_qr is not None and await ctx.services.storage.exists(desk.contact_qr):
            replies.append(image(desk.contact_qr, ctx.t("support.qr")))
        return replies
    message = command.text[:MAX_MESSAGE_CHARS]
    submitted = await desk.submit(
        ctx.account.id,
        ctx.user,
        ctx.chat,
        ctx.language,
        message,
        answers_to=ctx.notices_chat,  # staff answers never land in a group
        pointer=ctx.pointer,
    )
    if not submitted.staffed:
        answer = ctx.t("support.kept_write_by_email", ticket=submitted.ticket_id, contact=desk.contact)
        return [replace(text(answer), private=True)]
    key = "support.appended" if submitted.appended else "support.opened"
    return [replace(text(ctx.t(key, ticket=submitted.ticket_id)), private=True)]


async def report(ctx: Context, command: Command) -> list[Reply]:
    """`/report <job> [reason]`: a delivered result that is unusable, for a person to review."""
    words = command.text.split(maxsplit=1)
    if not words:
        raise UserError("report_usage", limit=reports.MAX_REASON_CHARS)
    job_word, reason = words[0], words[1] if len(words) > 1 else ""
    desk = ctx.services.support
    reported = await reports.report(
        desk,
        account_id=ctx.account.id,
        user=ctx.user,
        chat=ctx.chat,
        language=ctx.language,
        job_id=parse_job_id(job_word),
        reason=reason,
        kept=ctx.services.storage.exists,
        answers_to=ctx.notices_chat,  # staff answers and a restore never land in a group
        pointer=ctx.pointer,
    )
    params = {"job": reported.job_id, "ticket": reported.ticket_id}
    if not reported.staffed:
        answer = ctx.t("report.kept_write_by_email", contact=desk.contact, **params)
    elif reported.existing:
        answer = ctx.t("report.already", **params)
    else:
        answer = ctx.t("report.opened", credits=reported.credits, **params)
    return [replace(text(answer), private=True)]


async def staff_message(ctx: Context, message: str) -> list[Reply]:
    return await ctx.services.support.answer(ctx.user, message)
