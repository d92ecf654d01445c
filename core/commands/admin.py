"""Commands for the identities listed in `[bot] admins`; to everyone else they do not exist."""

from __future__ import annotations

from core.admin import accounts as admin
from core.commands.context import Context
from core.commands.parser import Command, whole_number
from core.errors import UserError
from core.messages import Reply, text


async def grant(ctx: Context, command: Command) -> list[Reply]:
    """`/grant <identity|account> <credits> <reason>`: one-time credits, as an admin ledger entry."""
    if not ctx.services.accounts.is_admin(ctx.user):
        raise UserError("unknown_command", command="/grant")
    words = command.words
    amount = whole_number(
        words[1], digits=6
    )  # within one operator action's limit if len(words) >= 3 else None
    if amount is None or amount == 0:
        raise UserError("grant_usage")
    who, reason = words[0], " ".join(words[2:])
    try:
        account_id = await admin.find_account(ctx.services.db, who)
    except admin.UnknownIdentity:
        raise UserError("unknown_identity", who=who) from None
    balance = await admin.grant(ctx.services.db, account_id, amount, reason=reason, actor=ctx.user.identity)
    return [text(ctx.t("admin.granted", credits=amount, who=who, balance=balance.total))]
