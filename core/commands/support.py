"""`/support`: reach a human. Staff answers (`#<ticket> ...`) are handled by the support desk."""

from __future__ import annotations

from dataclasses import replace

from core.commands.context import Context
from core.commands.parser import Command
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
        if desk.contact_qr_path is not None and desk.contact_qr_path.is_file():
            replies.append(image(desk.contact_qr_path, ctx.t("support.qr")))
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


async def staff_message(ctx: Context, message: str) -> list[Reply]:
    return await ctx.services.support.answer(ctx.user, message)
