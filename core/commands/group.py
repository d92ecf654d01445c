"""`/group`: a group chat's shared wallet. Everyone sees its balance and limits; its admins (as the
platform defines them) turn it on or off, set the daily quota per member and the group's daily cap,
and see what each member used today."""

from __future__ import annotations

from core.commands.catalogue import SWITCH
from core.commands.context import Context
from core.commands.parser import Command, whole_number
from core.db.types import utcnow
from core.errors import UserError
from core.groups import LARGEST_LIMIT, WalletView
from core.messages import Reply, text
from core.privacy.chats import is_group

SETTINGS = ("wallet", "quota", "cap")
OFF = "off"


async def group(ctx: Context, command: Command) -> list[Reply]:
    if not is_group(ctx.chat):
        raise UserError("group_only")
    words = [word.casefold() for word in command.words]
    if not words:
        return await _show(ctx)
    if len(words) != 2 or words[0] not in SETTINGS:
        raise UserError("group_usage")
    setting, value = words
    if not await _is_admin(ctx):  # before the value is judged: a member learns only who may
        raise UserError("group_admins_only")
    groups, chat = ctx.services.groups, ctx.chat.serialize()
    if setting == "wallet":
        if value not in SWITCH:
            raise UserError("group_usage")
        await groups.switch(chat, value == "on")
        return [text(ctx.t(f"group.wallet_{value}"))]
    limit = _limit(value)
    if setting == "quota":
        await groups.set_quota(chat, limit)
        key = "group.quota_set" if limit is not None else "group.quota_off"
    else:
        await groups.set_cap(chat, limit)
        key = "group.cap_set" if limit is not None else "group.cap_off"
    return [text(ctx.t(key, images=limit))]


async def _is_admin(ctx: Context) -> bool:
    return ctx.group_admin is not None and await ctx.group_admin()


def _limit(value: str) -> int | None:
    """Images a day, or None for `off`."""
    if value == OFF:
        return None
    limit = whole_number(value, digits=len(str(LARGEST_LIMIT)))
    if limit is None or not 1 <= limit <= LARGEST_LIMIT:
        raise UserError("group_bad_limit", value=value, limit=LARGEST_LIMIT)
    return limit


async def _show(ctx: Context) -> list[Reply]:
    t = ctx.t
    view = await ctx.services.groups.view(
        ctx.chat.serialize(), ctx.account.id, zone=ctx.clock.zone, now=utcnow()
    )
    if view is None:
        return [text(t("group.none"))]
    lines = [
        t("group.status_on" if view.enabled else "group.status_off"),
        t("group.balance", balance=view.balance.total),
        t("group.quota", quota=view.member_quota, used=view.used_by_member)
        if view.member_quota is not None
        else t("group.no_quota"),
        t("group.cap", cap=view.daily_cap, used=view.used_by_group)
        if view.daily_cap is not None
        else t("group.no_cap"),
        t("group.resets", reset=view.resets),
    ]
    shown = [text("\n".join(lines))]
    if await _is_admin(ctx):
        shown.append(text(_members(ctx, view), private=True))
    return shown


def _members(ctx: Context, view: WalletView) -> str:
    """Today's use by member, for the group's admins."""
    if not view.members:
        return ctx.t("group.members_none")
    lines = [ctx.t("group.members_title")]
    lines.extend(ctx.t("group.member_line", member=member, images=images) for member, images in view.members)
    return "\n".join(lines)
