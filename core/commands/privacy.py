"""`/privacy`, `/terms`, `/accept`, `/consent`, `/marketing`, `/profile`: knowing, agreeing, correcting."""

from __future__ import annotations

import re

from core.commands.context import Context
from core.commands.parser import Command
from core.commands.preferences import LANGUAGE_NAMES, LANGUAGE_WORDS
from core.commands.privacy_gate import accept_prompt
from core.db.repositories import accounts as accounts_repo
from core.errors import UserError
from core.i18n import LANGUAGES, Translator, normalize_language
from core.messages import Choice, Menu, Reply, text
from core.privacy.chats import is_group
from core.privacy.consent import Choice as Consent

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")
MAX_EMAIL = 254
MAX_NAME = 100
SWITCH = {"on": True, "off": False}
# what a switch may be typed as: the words of its buttons in every language
SWITCH_WORDS = {**SWITCH, "开启": True, "关闭": False, "开": True, "关": False}
KEEP_WORDS = frozenset({"keep", "保留"})


def direct_only(ctx: Context, name: str) -> None:
    """Personal data is not shown, and codes are not given, where other people read along."""
    if is_group(ctx.chat):
        raise UserError("direct_only", command=f"/{name}")


async def privacy(ctx: Context, command: Command) -> list[Reply]:
    """`/privacy` explains; `/privacy keep on|off` keeps history or has it erased after a while."""
    words = [word.lower() for word in command.words]
    if words:
        if len(words) != 2 or words[0] not in KEEP_WORDS or words[1] not in SWITCH_WORDS:
            raise UserError("privacy_usage")
        return [await _keep(ctx, SWITCH_WORDS[words[1]])]
    settings = ctx.services.privacy.settings
    retention = settings.retention

    def kept(days: int) -> str:
        return ctx.t("privacy.days", days=days) if days else ctx.t("privacy.forever")

    message = ctx.t(
        "privacy.info",
        policy_version=settings.policy_version,
        policy_url=settings.policy_url,
        outputs=kept(retention.outputs_days),
        uploads=kept(retention.uploads_days),
        failed=kept(retention.failed_job_details_days),
        support=kept(retention.support_days),
        contact=settings.contact,
    )
    keeps = await ctx.services.privacy.consents.keeps_history(ctx.account.id)
    message += "\n" + ctx.t(f"privacy.keep.state_{'on' if keeps else 'off'}", hours=retention.unkept_hours)
    return [text(message, private=True, choices=(*_rights_menu(ctx), *_keep_menu(ctx, keeps)))]


async def _keep(ctx: Context, keep: bool) -> Reply:
    consents = ctx.services.privacy.consents
    hours = consents.settings.retention.unkept_hours
    changed = await consents.set_keep_history(ctx.account.id, keep, ctx.user.platform)
    word = "on" if keep else "off"
    message = ctx.t(f"privacy.keep.{word}" if changed else f"privacy.keep.state_{word}", hours=hours)
    if not changed:
        message = ctx.t("privacy.consent.unchanged") + "\n" + message
    return text(message, private=True, choices=_keep_menu(ctx, keep))


def _keep_menu(ctx: Context, current: bool) -> Menu:
    """Keeping history on or off, the current choice ticked."""
    return _switch_menu(ctx, current, "privacy.keep.button", "/privacy keep")


def _switch_menu(ctx: Context, current: bool, label: str, command: str) -> Menu:
    """The two positions of a switch (`<label>_on`, `<command> on`), the current one ticked."""
    return (
        tuple(
            Choice(("✓ " if value == current else "") + ctx.t(f"{label}_{word}"), f"{command} {word}")
            for word, value in SWITCH.items()
        ),
    )


def _rights_menu(ctx: Context) -> Menu:
    """The rights as buttons, for doors where commands with arguments are hard to type."""

    def button(name: str) -> Choice:
        return Choice(ctx.t(f"privacy.button.{name}"), f"/{name}")

    return (
        (button("export"), button("profile")),
        (button("consent"), button("link")),
        (button("delete"),),
    )


async def terms(ctx: Context, _command: Command) -> list[Reply]:
    settings = ctx.services.privacy.settings
    state = await ctx.services.privacy.consents.state(ctx.account.id)
    summary = ctx.t(
        "privacy.terms",
        terms_version=settings.terms_version,
        terms_url=settings.terms_url,
        policy_version=settings.policy_version,
        policy_url=settings.policy_url,
        refunds=ctx.t("buy.refunds"),
    )
    if not state.accepted(settings):
        return [text(summary), accept_prompt(ctx)]  # the summary has the links
    profile = await ctx.services.privacy.consents.profile(ctx.account.id)
    when = profile.accepted_at if profile and profile.accepted_at else None
    clock = ctx.clock
    status = ctx.t("privacy.accepted_on", date=clock.moment(when), zone=clock.zone_label()) if when else ""
    return [text("\n".join(line for line in (summary, status) if line))]


async def accept(ctx: Context, _command: Command) -> list[Reply]:
    settings = ctx.services.privacy.settings
    direct = None if is_group(ctx.chat) else ctx.chat.serialize()
    accepted = await ctx.services.privacy.consents.accept(
        ctx.account.id, ctx.user.platform, direct_chat=direct
    )
    if not accepted.changed:
        return [text(ctx.t("privacy.accept.already"))]
    lines = [
        ctx.t(
            "privacy.accept.done",
            terms_version=settings.terms_version,
            policy_version=settings.policy_version,
        ),
        _trial_line(ctx, accepted.trial, refused=accepted.trial_refused),
    ]
    return [text("\n".join(lines))]


def _trial_line(ctx: Context, credits: int, *, refused: bool) -> str:
    if credits:
        return ctx.t("privacy.accept.trial", credits=credits)
    return ctx.t("privacy.accept.no_trial" if refused else "privacy.accept.ready")


async def consent(ctx: Context, command: Command) -> list[Reply]:
    """`/consent` shows the choices; `/consent analytics|marketing on|off` changes one."""
    words = [word.lower() for word in command.words]
    if not words:
        return [await _choices(ctx)]
    kinds = {choice.value: choice for choice in Consent}
    if len(words) != 2 or words[0] not in kinds or words[1] not in SWITCH_WORDS:
        raise UserError("consent_usage")
    return [await _set(ctx, kinds[words[0]], SWITCH_WORDS[words[1]])]


async def marketing(ctx: Context, command: Command) -> list[Reply]:
    """`/marketing on|off`."""
    words = [word.lower() for word in command.words]
    if not words:
        return [await _choices(ctx)]
    if len(words) != 1 or words[0] not in SWITCH_WORDS:
        raise UserError("marketing_usage")
    return [await _set(ctx, Consent.MARKETING, SWITCH_WORDS[words[0]])]


async def _set(ctx: Context, choice: Consent, granted: bool) -> Reply:
    changed = await ctx.services.privacy.consents.set_choice(
        ctx.account.id, choice, granted, ctx.user.platform
    )
    key = (
        f"privacy.consent.{choice.value}_{'on' if granted else 'off'}"
        if changed
        else "privacy.consent.unchanged"
    )
    return text(ctx.t(key), private=True, choices=_consent_menu(ctx, choice, granted))


async def _choices(ctx: Context) -> Reply:
    state = await ctx.services.privacy.consents.state(ctx.account.id)

    def word(on: bool) -> str:
        return ctx.t("privacy.consent.on" if on else "privacy.consent.off")

    message = ctx.t(
        "privacy.consent.status", analytics=word(state.analytics), marketing=word(state.marketing)
    )
    menu = (
        _consent_menu(ctx, Consent.ANALYTICS, state.analytics)[0],
        _consent_menu(ctx, Consent.MARKETING, state.marketing)[0],
    )
    return text(message, private=True, choices=menu)


def _consent_menu(ctx: Context, choice: Consent, current: bool) -> Menu:
    """The two positions of one choice, the current one ticked."""
    return _switch_menu(ctx, current, f"privacy.consent.button_{choice.value}", f"/consent {choice.value}")


async def profile(ctx: Context, command: Command) -> list[Reply]:
    """`/profile` shows; `/profile set name|email|language <value>`, `/profile clear name|email` correct."""
    direct_only(ctx, "profile")
    words = command.words
    if words:
        action, field = [*words, ""][:2]
        value = " ".join(words[2:]).strip()
        action, field = action.lower(), field.lower()
        if action == "set" and field in ("name", "email", "language") and value:
            await _correct(ctx, field, value)
        elif action == "clear" and field in ("name", "email") and len(words) == 2:
            await ctx.services.privacy.consents.correct(ctx.account.id, field, None)
        else:
            raise UserError("profile_usage")
    return [await _profile(ctx, saved=bool(words))]


async def _correct(ctx: Context, field: str, value: str) -> None:
    if field == "email":
        if len(value) > MAX_EMAIL or not EMAIL.match(value):
            raise UserError("bad_email")
        await ctx.services.privacy.consents.correct(ctx.account.id, "email", value)
    elif field == "name":
        if len(value) > MAX_NAME or not value.isprintable():
            raise UserError("name_too_long", limit=MAX_NAME)
        await ctx.services.privacy.consents.correct(ctx.account.id, "name", value)
    else:
        chosen = LANGUAGE_WORDS.get(value.lower()) or normalize_language(value)
        if chosen is None or chosen not in LANGUAGES:
            raise UserError("unknown_language", value=value, options=", ".join(LANGUAGES))
        await ctx.services.accounts.set_language(ctx.account.id, chosen)


async def _profile(ctx: Context, *, saved: bool) -> Reply:
    found = await ctx.services.privacy.consents.profile(ctx.account.id)
    async with ctx.services.db.transaction() as session:
        account = await accounts_repo.get(session, ctx.account.id)
        identities = await accounts_repo.identities(session, ctx.account.id)
    language = (account.language if account else None) or ctx.language
    t = Translator(language)
    unset = t("privacy.profile.unset")
    keeps = found is None or found.keep_history
    hours = ctx.services.privacy.settings.retention.unkept_hours
    message = t(
        "privacy.profile.show",
        name=(found.name if found else None) or unset,
        email=(found.email if found else None) or unset,
        language=LANGUAGE_NAMES.get(language, language),
        identities=", ".join(f"{i.platform}:{i.platform_user_id}" for i in identities),
        history=t(f"privacy.keep.profile_{'on' if keeps else 'off'}", hours=hours),
    )
    return text((t("privacy.profile.saved") + "\n" if saved else "") + message, private=True)
