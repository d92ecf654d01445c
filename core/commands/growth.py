"""`/redeem CODE` and `/invite`: credit codes, and invitations rewarded after a first purchase."""

from __future__ import annotations

from core.commands.context import Context
from core.commands.parser import Command
from core.errors import UserError
from core.growth import referrals
from core.growth.codes import Outcome, Paused
from core.messages import Reply, text

MAX_CODE_WORDS = 8
REFUSALS = {
    Outcome.UNKNOWN: "redeem_unknown",
    Outcome.ALREADY: "redeem_already",
    Outcome.USED_UP: "redeem_used_up",
}


async def redeem(ctx: Context, command: Command) -> list[Reply]:
    """`/redeem CODE`: an operator's credit code, or an invitation (`ref-...`)."""
    if not 0 < len(command.words) <= MAX_CODE_WORDS:
        raise UserError("redeem_usage")
    word = "".join(command.words)  # `ABCD EFGH` or `abcd - efgh`: spaces and dashes do not count
    if referrals.is_invite(word):
        return await _accept(ctx, word)
    try:
        redeemed = await ctx.services.codes.redeem(ctx.account.id, word)
    except Paused as paused:
        raise _paused(ctx, paused) from None
    if redeemed.outcome == Outcome.EXPIRED:
        if redeemed.expired_at is None:
            raise UserError("redeem_disabled")
        raise UserError("redeem_expired", day=ctx.clock.day(redeemed.expired_at))
    if redeemed.outcome != Outcome.REDEEMED:
        raise UserError(REFUSALS[redeemed.outcome])
    message = ctx.t("redeem.done", credits=redeemed.credits, balance=redeemed.balance)
    return [text(message, private=True)]


def _paused(ctx: Context, paused: Paused) -> UserError:
    """The same answer whether the code exists or not."""
    return UserError("redeem_paused", at=ctx.clock.moment(paused.until))


async def _accept(ctx: Context, word: str) -> list[Reply]:
    try:
        await ctx.services.referrals.accept(ctx.account.id, word)
    except Paused as paused:
        raise _paused(ctx, paused) from None
    settings = ctx.services.referrals.settings
    return [text(ctx.t("invite.accepted", credits=settings.invitee_credits), private=True)]


async def start_invited(ctx: Context, word: str) -> Reply:
    """`/start ref-...` (a Telegram invitation link, or typed): the invitation's answer, or its
    refusal as a line under the welcome rather than in place of it."""
    try:
        [accepted] = await _accept(ctx, word)
    except UserError as refused:
        return text(ctx.t(f"error.{refused.code}", **refused.params), error=True)
    return accepted


def invitation_waiting(ctx: Context, command: Command | None) -> list[Reply]:
    """`/start ref-...` (an invitation link opened) before the terms are accepted: nothing is
    recorded yet, so the invitee is told how to accept the invitation once they have."""
    word = command.words[0] if command is not None and command.words else ""
    if command is None or command.name != "start" or not referrals.is_invite(word):
        return []
    return [text(ctx.t("invite.after_terms", code=word))]


async def invite(ctx: Context, _command: Command) -> list[Reply]:
    """`/invite`: the account's invitation, as a link where the door has one, and how many bought."""
    invitation = await ctx.services.referrals.invite(ctx.account.id, ctx.notices_chat)
    settings = ctx.services.referrals.settings
    lines = [
        ctx.t(
            "invite.text",
            inviter=settings.inviter_credits,
            invitee=settings.invitee_credits,
            code=invitation.code,
        )
    ]
    if ctx.start_link:
        lines.append(ctx.t("invite.link", link=ctx.start_link.replace("{payload}", invitation.code)))
    lines.append(ctx.t("invite.count", invited=invitation.invited, bought=invitation.bought))
    return [text("\n".join(lines), private=True)]
