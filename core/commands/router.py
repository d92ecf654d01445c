"""The core's one entry point: `dispatch(incoming)` for messages and `on_action(press)` for buttons.

Nothing escapes from here: a UserError becomes a translated message, anything else is logged with
a reference id that the user is shown, so no traceback ever reaches a chat.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import AccountView
from core.commands import account, admin, imagine, info, payments, preferences, privacy, rights, support
from core.commands.context import Context, Services
from core.commands.parser import Command, parse, whole_number
from core.commands.privacy_gate import guarded, writes_nothing
from core.errors import UserError, new_reference
from core.i18n import Translator
from core.messages import ActionKind, ActionPress, ChatRef, Incoming, Reply, UserRef, text
from core.privacy.consent import PrivacyState

log = logging.getLogger(__name__)

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
}
FREE_TEXT = frozenset({"support", "客服"})  # their text is a message to people, taken as written
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
}


MENU = (
    "imagine",
    "balance",
    "buy",
    "history",
    "settings",
    "styles",
    "language",
    "cancel",
    "support",
    "privacy",
    "help",
)
"""The commands a platform lists in its command menu; descriptions are `menu.<name>` in the catalogs."""
READ_ONLY = frozenset({"balance", "history", "help"})  # answered from one read-only unit of work
NEEDS_CREDITS = frozenset({"insufficient_credits"})  # refusals that end with the way to more credits


class Core:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def dispatch(self, incoming: Incoming) -> list[Reply]:
        return await self._guard(
            incoming.user,
            incoming.chat,
            lambda ctx: self._command(ctx, incoming.text),
            incoming,
            reads_only=_reads_only(incoming.text),
        )

    async def on_action(self, press: ActionPress) -> list[Reply]:
        async def run(ctx: Context) -> list[Reply]:
            return await guarded(
                ctx,
                "action",
                lambda: imagine.run_action(ctx, press.job_id, press.kind, press.index),
                properties={"action": press.kind.value},
            )

        return await self._guard(press.user, press.chat, run)

    async def refuse(self, user: UserRef, chat: ChatRef, error: UserError) -> list[Reply]:
        """Words a refusal that a door decided on itself (an expired button) in the user's language."""

        async def refused(_ctx: Context) -> list[Reply]:
            raise error

        return await self._guard(user, chat, refused)

    async def _asker(self, user: UserRef) -> tuple[AccountView, PrivacyState]:
        """Who is asking, from one read: their account and its privacy state. The first contact
        creates the account."""
        async with self.services.db.read() as session:
            known = await self._known_asker(session, user)
        if known is not None:
            return known
        account = await self.services.accounts.resolve(user)
        return account, await self.services.privacy.consents.state(account.id)

    async def _known_asker(
        self, session: AsyncSession, user: UserRef
    ) -> tuple[AccountView, PrivacyState] | None:
        account = await self.services.accounts.lookup(session, user)
        if account is None:
            return None
        return account, await self.services.privacy.consents.state_in(session, account.id)

    def _context(
        self,
        user: UserRef,
        chat: ChatRef,
        asker: tuple[AccountView, PrivacyState],
        incoming: Incoming | None,
        *,
        reading: AsyncSession | None = None,
    ) -> Context:
        account, privacy = asker
        return Context(
            self.services,
            user,
            chat,
            account,
            Translator(self.services.language_for(account, user)),
            privacy,
            incoming.attachments if incoming else (),
            incoming.message_id if incoming else None,
            reading,
        )

    def _refusal(self, t: Translator, chat: ChatRef, error: UserError) -> Reply:
        message = t(f"error.{error.code}", **error.params)
        if error.code not in NEEDS_CREDITS:
            return text(message, error=True)
        hint, choices = payments.way_to_pay(self.services, t, chat)
        return text(message + "\n" + hint, error=True, choices=choices)

    async def _command(self, ctx: Context, message: str) -> list[Reply]:
        if ctx.services.support.is_staff(ctx.user) and not message.lstrip().startswith("/"):
            return await support.staff_message(ctx, message)
        command = parse(message, free_text=FREE_TEXT)
        if command is None:
            raise UserError("not_a_command")
        name = ALIASES.get(command.name, command.name)
        if name == "action":
            return await guarded(ctx, name, lambda: self._typed_action(ctx, command), command=command)
        handler = HANDLERS.get(name)
        if handler is None:
            raise UserError("unknown_command", command=f"/{command.name}")
        return await guarded(ctx, name, lambda: handler(ctx, command), command=command)

    async def _typed_action(self, ctx: Context, command: Command) -> list[Reply]:
        """`/action <job> reroll|upscale-2k|upscale-4k|vary [image]`: buttons for doors without buttons."""
        words = command.words
        kinds = {kind.value: kind for kind in ActionKind}
        index = whole_number(words[2], digits=3) if len(words) == 3 else 1
        if len(words) not in (2, 3) or words[1].lower() not in kinds or index is None:
            raise UserError("action_usage")
        job_id = account.parse_job_id(words[0])
        return await imagine.run_action(ctx, job_id, kinds[words[1].lower()], index)

    async def _guard(
        self,
        user: UserRef,
        chat: ChatRef,
        run: Callable[[Context], Awaitable[list[Reply]]],
        incoming: Incoming | None = None,
        *,
        reads_only: bool = False,
    ) -> list[Reply]:
        """Runs a request for `user` in `chat`: a command that only reads (`READ_ONLY`) runs in one
        read-only unit of work with the lookup of who is asking; nothing escapes but replies."""
        t = Translator(self.services.default_language)
        try:
            await self.services.notifier.heard_from(chat)  # they wrote from it: it is reachable again
            if reads_only:
                async with self.services.db.read() as session:
                    if (known := await self._known_asker(session, user)) is not None:
                        ctx = self._context(user, chat, known, incoming, reading=session)
                        if writes_nothing(ctx):
                            t = ctx.t
                            return await run(ctx)
            ctx = self._context(user, chat, await self._asker(user), incoming)
            t = ctx.t
            return await run(ctx)
        except UserError as error:
            return [self._refusal(t, chat, error)]
        except Exception:
            reference = new_reference()
            log.exception("request from a %s user failed [ref %s]", user.platform, reference)
            return [text(t("error.internal", ref=reference))]


def _reads_only(message: str) -> bool:
    """Whether the message asks for a command in READ_ONLY (anything unparsable is not)."""
    try:
        command = parse(message, free_text=FREE_TEXT)
    except UserError:
        return False
    return command is not None and ALIASES.get(command.name, command.name) in READ_ONLY
