"""Around every command: the terms must be accepted first, and consenting users' use is counted.

Until an account has accepted the current terms and privacy policy it can only read about them,
accept them, choose a language, reach support and link to an account that has. The analytics event
is written after the command, only while the account consents, with nothing but its shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.commands import growth
from core.commands.context import Context
from core.commands.imagine import OPTION_ALIASES
from core.commands.parser import Command
from core.errors import UserError
from core.generation.sizes import AspectRatio, parse_tier
from core.messages import Choice, Reply, text
from core.privacy.analytics import Value
from core.privacy.chats import is_group
from core.privacy.consent import Source

OPEN_BEFORE_ACCEPTANCE = frozenset(
    {"start", "help", "privacy", "terms", "language", "accept", "support", "link"}
)


def writes_nothing(ctx: Context) -> bool:
    """Whether `guarded` lets a command through without writing anything itself: the terms are
    accepted, there is no command to count for analytics and the direct chat is the one on record.
    Only then may a command that only reads run inside one read-only unit of work."""
    state = ctx.privacy
    direct = None if is_group(ctx.chat) else ctx.chat.serialize()
    return (
        state.accepted(ctx.services.privacy.settings)
        and not state.analytics
        and direct in (None, state.direct_chat)
    )


async def guarded(
    ctx: Context,
    name: str,
    run: Callable[[], Awaitable[list[Reply]]],
    *,
    command: Command | None = None,
    properties: dict[str, Value] | None = None,
) -> list[Reply]:
    privacy = ctx.services.privacy
    state = ctx.privacy
    direct = None if is_group(ctx.chat) else ctx.chat.serialize()
    if state.erasing:
        raise UserError("erasure_in_progress")
    if not state.accepted(privacy.settings):
        if not privacy.settings.require_acceptance:
            await privacy.consents.accept(
                ctx.account.id, ctx.user.platform, direct_chat=direct, source=Source.IMPLIED
            )
        elif name == "start" or name not in OPEN_BEFORE_ACCEPTANCE:
            prompt = terms_prompt(ctx, renewed=state.ever_accepted, first=name == "start")
            return [prompt, *growth.invitation_waiting(ctx, command)]
    elif direct is not None and direct != state.direct_chat:
        await privacy.consents.note_direct_chat(ctx.account.id, direct)
    if not state.analytics:
        return await run()
    event = {
        "command": name,
        "platform": ctx.user.platform,
        **_shape(ctx, name, command),
        **(properties or {}),
    }
    try:
        replies = await run()
    except UserError:
        await privacy.analytics.record(ctx.account.id, "command", {**event, "success": False})
        raise
    await privacy.analytics.record(ctx.account.id, "command", {**event, "success": True})
    return replies


def terms_prompt(ctx: Context, *, renewed: bool, first: bool) -> Reply:
    """What a command gets before the terms are accepted: the welcome with the links on first contact
    (or `/start`), what changed when they are new versions, else a one-line reminder."""
    settings = ctx.services.privacy.settings
    if renewed or first or ctx.account.created:
        message = ctx.t(
            "privacy.prompt_changed" if renewed else "privacy.prompt",
            terms_version=settings.terms_version,
            terms_url=settings.terms_url,
            policy_version=settings.policy_version,
            policy_url=settings.policy_url,
            min_age=settings.min_age,
            how=how_to_accept(ctx),
        )
    else:
        message = ctx.t("privacy.reminder", how=how_to_accept(ctx))
    return accept_choice(ctx, message)


def accept_prompt(ctx: Context) -> Reply:
    """How to accept, for a text that has just shown the terms."""
    return accept_choice(
        ctx,
        ctx.t("privacy.terms_accept", min_age=ctx.services.privacy.settings.min_age, how=how_to_accept(ctx)),
    )


def how_to_accept(ctx: Context) -> str:
    """Press the button, or type: doors without buttons are only told to type."""
    return ctx.t("privacy.how_button" if ctx.shows_buttons else "privacy.how_typed")


def accept_choice(ctx: Context, message: str) -> Reply:
    button = Choice(ctx.t("privacy.accept_button", min_age=ctx.services.privacy.settings.min_age), "/accept")
    return text(message, choices=((button,),))


def _shape(ctx: Context, name: str, command: Command | None) -> dict[str, Value]:
    """The size an /imagine asked for: tier and ratio, only when they are valid values."""
    if name != "imagine" or command is None:
        return {}
    chosen = {**ctx.account.preferences, **{OPTION_ALIASES.get(k, k): v for k, v in command.flags.items()}}
    shape: dict[str, Value] = {}
    try:
        shape["tier"] = parse_tier(chosen.get("res") or "1k").value
        shape["ratio"] = str(AspectRatio.parse(chosen.get("ar") or "1:1"))
    except UserError:
        pass
    return shape
