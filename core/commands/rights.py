"""`/export` (`/mydata`), `/delete`, `/link`, `/unlink`: taking your data, erasing it, one wallet.

Each works only in a private chat: they hand out personal data or codes that act on the account.
"""

from __future__ import annotations

from dataclasses import replace

from core import credits
from core.commands.context import Context
from core.commands.parser import Command
from core.commands.privacy import direct_only
from core.db.repositories import accounts as accounts_repo
from core.errors import UserError
from core.messages import Choice, Reply, file, text
from core.privacy.erase import Confirmation, OnLegalHold

MB = 1024 * 1024


async def export(ctx: Context, _command: Command) -> list[Reply]:
    direct_only(ctx, "export")
    await ctx.services.notifier.send(ctx.chat, [text(ctx.t("privacy.export.building"), private=True)])
    result = await ctx.services.privacy.exports.for_user(ctx.account.id, ctx.chat.platform)
    if result.link is not None:
        size = max(1, round(result.size / MB))
        return [text(ctx.t("privacy.export.link", size=size, url=result.link), private=True)]
    if len(result.parts) == 1:
        return [
            replace(file(result.parts[0], ctx.t("privacy.export.caption", files=result.files)), private=True)
        ]
    return [
        replace(file(part, ctx.t("privacy.export.part", part=index, parts=len(result.parts))), private=True)
        for index, part in enumerate(result.parts, start=1)
    ]


async def delete(ctx: Context, command: Command) -> list[Reply]:
    """`/delete` explains and gives a code; `/delete <code>` erases."""
    direct_only(ctx, "delete")
    privacy = ctx.services.privacy
    words = command.words
    if len(words) > 1:
        raise UserError("delete_usage")
    try:
        if not words:
            return [await _explain(ctx, await privacy.eraser.new_code(ctx.account.id))]
        outcome = await privacy.eraser.confirm(ctx.account.id, words[0])
    except OnLegalHold:
        raise UserError("deletion_on_hold", contact=privacy.settings.contact) from None
    if outcome is Confirmation.WRONG:
        raise UserError("delete_code_wrong")
    if outcome is Confirmation.EXPIRED:
        raise UserError("delete_code_expired")
    if outcome is Confirmation.NO_CODE:
        raise UserError("delete_no_code")
    return [text(ctx.t("privacy.delete.done"), private=True)]


async def _explain(ctx: Context, code: str) -> Reply:
    async with ctx.services.db.transaction() as session:
        balance = await credits.balance(session, ctx.account.id)
        identities = await accounts_repo.identities(session, ctx.account.id)
    message = ctx.t(
        "privacy.delete.explain",
        identities=", ".join(f"{i.platform}:{i.platform_user_id}" for i in identities),
        balance=balance.total,
        code=code,
    )
    button = Choice(ctx.t("privacy.delete.button", code=code), f"/delete {code}")
    return text(message, private=True, choices=((button,),))


async def link(ctx: Context, command: Command) -> list[Reply]:
    """`/link` gives a code; `/link <code>` on another platform joins that identity to this account."""
    direct_only(ctx, "link")
    linker = ctx.services.privacy.linker
    words = command.words
    if not words:
        code = await linker.new_code(ctx.account.id)
        return [text(ctx.t("privacy.link.code", code=code), private=True)]
    if len(words) != 1:
        raise UserError("link_usage")
    joined = await linker.join(ctx.account.id, ctx.user, words[0])
    lines = [ctx.t("privacy.link.joined", moved=joined.moved, balance=joined.balance)]
    if joined.forfeited:
        lines.append(ctx.t("privacy.link.forfeited", credits=joined.forfeited))
    return [text("\n".join(lines), private=True)]


async def unlink(ctx: Context, _command: Command) -> list[Reply]:
    direct_only(ctx, "unlink")
    await ctx.services.privacy.linker.unlink(ctx.account.id, ctx.user)
    return [text(ctx.t("privacy.link.unlinked"), private=True)]
