"""`/start` and `/help`."""

from __future__ import annotations

from core import credits
from core.commands.context import Context
from core.commands.parser import Command
from core.messages import Reply, text


async def start(ctx: Context, _command: Command) -> list[Reply]:
    async with ctx.services.db.transaction() as session:
        current = await credits.balance(session, ctx.account.id)
    return [text(ctx.t("start.welcome", balance=current.total, price=ctx.services.pricing.prices.k1))]


async def help_(ctx: Context, _command: Command) -> list[Reply]:
    prices = ctx.services.pricing.prices
    return [text(ctx.t("help.text", k1=prices.k1, k2=prices.k2, k4=prices.k4))]
