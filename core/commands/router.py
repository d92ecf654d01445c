"""The core's one entry point: `dispatch(incoming)` for messages and `on_action(press)` for buttons.

Nothing escapes from here: a UserError becomes a translated message, anything else is logged with
a reference id that the user is shown, so no traceback ever reaches a chat.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import AccountView
from core.batching import Batcher
from core.commands import (
    account,
    admin,
    group,
    growth,
    imagine,
    info,
    payments,
    preferences,
    privacy,
    rights,
    support,
)
from core.commands.context import Context, Services
from core.commands.parser import Command, parse, with_typed_options
from core.commands.privacy_gate import guarded, writes_nothing
from core.commands.suggest import closest
from core.db.repositories import asker
from core.db.repositories.asker import Standing
from core.db.types import utcnow
from core.errors import UserError, new_reference
from core.generation import admission
from core.generation.styles import Style
from core.i18n import Translator
from core.messages import ActionPress, ChatRef, Incoming, Reply, UserRef, text
from core.privacy.chats import is_group
from core.privacy.consent import PrivacyState
from core.telemetry import NO_TELEMETRY, Telemetry


@dataclass(frozen=True, slots=True)
class Asker:
    """Who is asking: their account, its privacy state and, for a request that may charge, its standing."""

    account: AccountView
    privacy: PrivacyState
    standing: Standing | None = None


log = logging.getLogger(__name__)

ASKERS_READ_AT_ONCE = 256


def _asker_of(found: asker.Found | None, charges: bool) -> Asker | None:
    if found is None:
        return None
    row, standing = found
    account = AccountView(row.account_id, row.language, row.preferences)
    privacy = PrivacyState(
        row.terms_version, row.policy_version, row.analytics, row.marketing, row.direct_chat, row.erasing
    )
    return Asker(account, privacy, standing if charges else None)


Handler = Callable[[Context, Command], Awaitable[list[Reply]]]

HANDLERS: dict[str, Handler] = {
    "start": info.start,
    "help": info.help_,
    "imagine": imagine.imagine,
    "balance": account.balance,
    "history": account.history,
    "cancel": account.cancel,
    "original": account.original,
    "buy": payments.buy,
    "subscription": payments.subscription,
    "invoices": payments.invoices,
    "paysupport": payments.paysupport,
    "settings": preferences.settings,
    "styles": preferences.styles,
    "language": preferences.language,
    "grant": admin.grant,
    "support": support.support,
    "report": support.report,
    "privacy": privacy.privacy,
    "terms": privacy.terms,
    "accept": privacy.accept,
    "consent": privacy.consent,
    "marketing": privacy.marketing,
    "profile": privacy.profile,
    "export": rights.export,
    "delete": rights.delete,
    "link": rights.link,
    "unlink": rights.unlink,
    "group": group.group,
    "redeem": growth.redeem,
    "invite": growth.invite,
}
# Their text is a message to people, taken as written.
FREE_TEXT = frozenset({"support", "客服", "report", "反馈"})
ALIASES: dict[str, str] = {
    "画": "imagine",
    "生成": "imagine",
    "余额": "balance",
    "历史": "history",
    "取消": "cancel",
    "设置": "settings",
    "风格": "styles",
    "语言": "language",
    "帮助": "help",
    "客服": "support",
    "反馈": "report",
    "原图": "original",
    "购买": "buy",
    "订阅": "subscription",
    "账单": "invoices",
    "lang": "language",
    "mydata": "export",
    "隐私": "privacy",
    "条款": "terms",
    "同意": "accept",
    "导出": "export",
    "删除": "delete",
    "资料": "profile",
    "关联": "link",
    "群组": "group",
    "兑换": "redeem",
    "邀请": "invite",
}


FLAGS: dict[str, dict[str, str]] = {"imagine": imagine.OPTION_ALIASES, "settings": preferences.SETTING_FLAGS}
"""The flags of the commands that take some: any other flag given to them is refused as mistyped."""

READ_ONLY = frozenset({"balance", "history", "help"})  # answered from one read-only unit of work
CHARGES = frozenset({"imagine", "action"})  # read the account's standing with who is asking
NEEDS_CREDITS = frozenset({"insufficient_credits"})  # refusals that end with the way to more credits


class Core:
    def __init__(self, services: Services, telemetry: Telemetry = NO_TELEMETRY) -> None:
        self.services = services
        self.telemetry = telemetry
        self._askers: Batcher[tuple[UserRef, bool], Asker | None] = Batcher(
            self._read_askers, max_size=ASKERS_READ_AT_ONCE
        )

    # What a door may show in its own menus (Discord's option choices), without reaching into services.
    def styles(self) -> list[Style]:
        return self.services.styles.all()

    def models(self) -> tuple[str, ...]:
        return tuple(self.services.generation.models)

    async def media(self, key: str) -> bytes:
        """The bytes of the image or file a reply names, wherever the process that stored it ran."""
        return await self.services.storage.read(key)

    def media_location(self, key: str) -> str:
        """Where a person at this machine finds that image or file (the console prints it)."""
        return self.services.storage.location(key)

    async def dispatch(self, incoming: Incoming) -> list[Reply]:
        # Parsed once, here: its name decides how the request is read.
        parsed = _typed(incoming.command) if incoming.command is not None else _parse(incoming.text)
        name = ALIASES.get(parsed.name, parsed.name) if isinstance(parsed, Command) else None
        self.telemetry.command(incoming.user.platform, _command_label(name, parsed))
        return await self._guard(
            incoming.user,
            incoming.chat,
            lambda ctx: self._command(ctx, incoming.text, parsed),
            incoming,
            reads_only=name in READ_ONLY,
            charges=name in CHARGES,
        )

    async def on_action(self, press: ActionPress) -> list[Reply]:
        self.telemetry.command(press.user.platform, "action")

        async def run(ctx: Context) -> list[Reply]:
            return await guarded(
                ctx,
                "action",
                lambda: imagine.run_action(ctx, press.job_id, press.kind, press.index),
                properties={"action": press.kind.value},
            )

        return await self._guard(press.user, press.chat, run, charges=True)

    async def refuse(self, user: UserRef, chat: ChatRef, error: UserError) -> list[Reply]:
        """Words a refusal that a door decided on itself (an expired button) in the user's language."""

        async def refused(_ctx: Context) -> list[Reply]:
            raise error

        return await self._guard(user, chat, refused)

    async def _asker(self, user: UserRef, *, charges: bool = False) -> Asker:
        """Who is asking: their account, its privacy state and, for a request that may charge, its
        standing. Requests that arrive together are read in one statement. The first contact creates
        the account."""
        known = await self._askers((user, charges))
        if known is not None:
            return known
        account = await self.services.accounts.resolve(user)
        return Asker(account, await self.services.privacy.consents.state(account.id))

    async def _read_askers(self, asking: Sequence[tuple[UserRef, bool]]) -> list[Asker | None]:
        charging = any(charges for _, charges in asking)
        async with self.services.db.read() as session:
            found = await asker.who_ask(
                session,
                {(user.platform, user.user_id) for user, _ in asking},
                standing_since=utcnow() - admission.STRIKE_WINDOW if charging else None,
                strikes_for_cooldown=self.services.generation.safety_strikes,
            )
        return [_asker_of(found.get((user.platform, user.user_id)), charges) for user, charges in asking]

    async def _known_asker(
        self, session: AsyncSession, user: UserRef, *, charges: bool = False
    ) -> Asker | None:
        since = utcnow() - admission.STRIKE_WINDOW if charges else None
        found = await asker.who_asks(
            session,
            user.platform,
            user.user_id,
            standing_since=since,
            strikes_for_cooldown=self.services.generation.safety_strikes,
        )
        return _asker_of(found, charges)

    def _context(
        self,
        user: UserRef,
        chat: ChatRef,
        found: Asker,
        incoming: Incoming | None,
        *,
        reading: AsyncSession | None = None,
    ) -> Context:
        return Context(
            self.services,
            user,
            chat,
            found.account,
            Translator(self.services.language_for(found.account, user)),
            found.privacy,
            incoming.attachments if incoming else (),
            incoming.message_id if incoming else None,
            reading,
            found.standing,
            incoming.shows_buttons if incoming else True,
            incoming.private_chat if incoming else None,
            incoming.group_admin if incoming else None,
            incoming.start_link if incoming else None,
        )

    def _refusal(self, t: Translator, chat: ChatRef, error: UserError) -> Reply:
        message = t(f"error.{error.code}", **error.params)
        if error.code not in NEEDS_CREDITS:
            return text(message, error=True)
        hint, choices = payments.way_to_pay(self.services, t, chat)
        return text(message + "\n" + hint, error=True, choices=choices)

    async def _command(self, ctx: Context, message: str, parsed: Command | UserError | None) -> list[Reply]:
        if (
            parsed is None
            and ctx.services.support.is_staff(ctx.user)
            and not message.lstrip().startswith("/")
        ):
            return await support.staff_message(ctx, message)
        if isinstance(parsed, UserError):
            raise parsed
        if parsed is None:
            raise UserError("not_a_command")
        command = parsed
        name = ALIASES.get(command.name, command.name)
        if name == "action":
            return await guarded(ctx, name, lambda: imagine.typed_action(ctx, command), command=command)
        handler = HANDLERS.get(name)
        if handler is None:
            raise _unknown_command(ctx, command.name)
        return await guarded(ctx, name, lambda: handler(ctx, command), command=command)

    async def _guard(
        self,
        user: UserRef,
        chat: ChatRef,
        run: Callable[[Context], Awaitable[list[Reply]]],
        incoming: Incoming | None = None,
        *,
        reads_only: bool = False,
        charges: bool = False,
    ) -> list[Reply]:
        """Runs a request for `user` in `chat`: a command that only reads (`READ_ONLY`) runs in one
        read-only unit of work with the lookup of who is asking; one that may charge (`CHARGES`) reads
        the account's standing with it. Nothing escapes but replies."""
        t = Translator(self.services.default_language)
        try:
            await self.services.notifier.heard_from(chat)  # they wrote from it: it is reachable again
            private = incoming.private_chat if incoming is not None else None
            if private is not None and private != chat and not is_group(chat):
                await self.services.notifier.heard_from(private)  # the same chat, by another name
            if reads_only:
                async with self.services.db.read() as session:
                    if (known := await self._known_asker(session, user)) is not None:
                        ctx = self._context(user, chat, known, incoming, reading=session)
                        if writes_nothing(ctx):
                            t = ctx.t
                            return await run(ctx)
            ctx = self._context(user, chat, await self._asker(user, charges=charges), incoming)
            t = ctx.t
            return await run(ctx)
        except UserError as error:
            return [self._refusal(t, chat, error)]
        except Exception:
            reference = new_reference()
            log.exception(
                "request from a %s user failed [ref %s]", user.platform, reference, extra={"ref": reference}
            )
            return [text(t("error.internal", ref=reference))]


def _unknown_command(ctx: Context, name: str) -> UserError:
    """The refusal of `/name`, with the command it most likely meant (by name or alias) when one is near."""
    known = [*HANDLERS, "action", *ALIASES]
    if not ctx.services.accounts.is_admin(ctx.user):  # to everyone else, admin commands do not exist
        known.remove("grant")
    meant = closest(name, known)
    if meant is None:
        return UserError("unknown_command", command=f"/{name}")
    return UserError("unknown_command_suggest", command=f"/{name}", suggestion=f"/{meant}")


def _flags_of(name: str) -> dict[str, str] | None:
    return FLAGS.get(ALIASES.get(name, name))


def _typed(command: Command) -> Command | UserError:
    try:
        return with_typed_options(command, flags_of=_flags_of)
    except UserError as error:
        return error


def _command_label(name: str | None, parsed: Command | UserError | None) -> str:
    """The command as the metrics name it: a known command, `text` when the message is none, else
    `other` (never what the user typed)."""
    if name in HANDLERS:
        return name
    return "text" if parsed is None else "other"


def _parse(message: str) -> Command | UserError | None:
    """The message as a command, the refusal of a malformed one, or None when it is no command."""
    try:
        return parse(message, free_text=FREE_TEXT, flags_of=_flags_of)
    except UserError as error:
        return error
