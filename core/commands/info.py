"""`/start` and `/help`."""

from __future__ import annotations

from core import credits
from core.commands import growth
from core.commands.context import Context
from core.commands.parser import Command
from core.growth import referrals
from core.messages import Reply, text


async def start(ctx: Context, command: Command) -> list[Reply]:
    """The welcome; `/start ref-...` (an invitation link opened) records the invitation too."""
    invited = command.words[0] if command.words and referrals.is_invite(command.words[0]) else None
    answer = [await growth.start_invited(ctx, invited)] if invited else []
    async with ctx.services.db.transaction() as session:
        current = await credits.balance(session, ctx.account.id)
    welcome = text(ctx.t("start.welcome", balance=current.total, price=ctx.services.pricing.prices.k1))
    return [welcome, *answer]


async def help_(ctx: Context, _command: Command) -> list[Reply]:
    prices = ctx.services.pricing.prices
    return [text(ctx.t("help.text", k1=prices.k1, k2=prices.k2, k4=prices.k4))]
