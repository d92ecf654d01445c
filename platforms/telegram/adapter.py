"""The Telegram door (python-telegram-bot 22): updates in, replies out, the process owned by us.

Started by hand (initialize, start, then polling or our own webhook route), never `run_polling`.
Only messages and button presses are asked for; edits, channel posts, joins and other service
messages never reach a handler. Every button press is answered so the client's spinner stops.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from telegram import BotCommand, CallbackQuery, Message, Update, User
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)
from telegram.request import HTTPXRequest

from core.bounded_json import bounded_json
from core.commands.catalogue import MENU
from core.commands.router import Core
from core.errors import ChatUnreachable, RetryLater, UserError
from core.i18n import normalize_language, translate
from core.messages import ActionPress, ChatRef, Event, Incoming, Reply, ReplyType, text
from core.payments.stars import RenewalSwitch, StarsPurchases
from core.send_budget import SendBudget
from core.status_boards import SharedBoards
from platforms.base import Capabilities
from platforms.telegram import incoming, render
from platforms.telegram.callbacks import CallbackSigner, JobPress, StarsPress
from platforms.telegram.media import DOCUMENT_MAX_BYTES
from platforms.telegram.pacing import TokenPace
from platforms.telegram.sending import EDIT_INTERVAL_S, TelegramSender
from platforms.telegram.stars import StarsCounter

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.PRE_CHECKOUT_QUERY]
MENU_LANGUAGES = {"en": None, "zh-CN": "zh"}  # catalog language -> Telegram's language_code (None: default)
ALBUM_WAIT_S = 1.0  # an album arrives as one message per photo: wait for the rest before using it
START_RETRY_S = (1, 2, 5, 10, 30, 60)
ALERT_CHARS = 200
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
START_PAYLOAD = "notices"  # `/start notices`: someone opened the private chat from a group's pointer


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: str


class TelegramAdapter:
    name = "telegram"
    capabilities = Capabilities(
        edit_messages=True,
        buttons=True,
        max_upload_bytes=DOCUMENT_MAX_BYTES,
        max_text_chars=render.TEXT_CHARS,
    )

    def __init__(
        self,
        core: Core,
        *,
        token: str,
        budget: SendBudget,
        base_url: str = "https://api.telegram.org/bot",
        base_file_url: str = "https://api.telegram.org/file/bot",
        webhook: Webhook | None = None,
        edit_interval_s: float = EDIT_INTERVAL_S,
        album_wait_s: float = ALBUM_WAIT_S,
        default_language: str = "en",
        stars: StarsPurchases | None = None,
        ssl_context: ssl.SSLContext | None = None,
        shared_boards: SharedBoards | None = None,
    ) -> None:
        """`budget`: the token's send budget, shared by every process that speaks for it.
        `shared_boards`: the chats' status messages, where other processes speak for it too.
        `ssl_context`: one the process shares (else each HTTP client builds its own)."""
        self._core = core
        self._default_language = default_language
        self._webhook = webhook
        self._album_wait_s = album_wait_s
        pace = TokenPace(budget)
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(base_url)
            .base_file_url(base_file_url)
            .rate_limiter(pace)
            .concurrent_updates(True)
            .request(_calls_request(ssl_context))
            .get_updates_request(
                # Two, where PTB's default is one: at shutdown PTB confirms the last updates with one
                # more getUpdates, which must not wait for the cancelled long poll's connection.
                HTTPXRequest(connection_pool_size=2, httpx_kwargs=_verify(ssl_context))
            )
        )
        if webhook is not None:
            builder = builder.updater(None)
        self.application: Application = builder.build()  # type: ignore[type-arg]
        self._signer = CallbackSigner(token)
        self._sender = TelegramSender(
            self.application.bot,
            self._signer,
            core.media,
            pace,
            edit_interval_s=edit_interval_s,
            shared_boards=shared_boards,
        )
        self._albums = incoming.Albums()
        self._stars = StarsCounter(self.application.bot, self._signer, stars) if stars else None
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        if self._stars is not None:
            self.application.add_handler(PreCheckoutQueryHandler(self._on_precheck))
            self.application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, self._on_paid))
            refunded = filters.StatusUpdate.REFUNDED_PAYMENT
            self.application.add_handler(MessageHandler(refunded, self._on_refunded))
        self.application.add_handler(
            MessageHandler(filters.UpdateType.MESSAGE & ~filters.IS_AUTOMATIC_FORWARD, self._on_message)
        )
        self.application.add_handler(CallbackQueryHandler(self._on_press))
        self.application.add_error_handler(self._on_error)

    @property
    def stars_renewals(self) -> RenewalSwitch | None:
        """What stops a Stars subscription's renewal through this door's bot, when it sells in Stars."""
        return self._stars

    # --- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connects (with retries while Telegram is unreachable) and publishes the command menu."""
        for attempt, delay in enumerate((*START_RETRY_S, None), start=1):
            try:
                await self.application.initialize()
                break
            except InvalidToken:
                raise
            except NetworkError as error:
                if delay is None:
                    raise
                log.warning(
                    "telegram: cannot connect yet (%s); attempt %d, retrying", type(error).__name__, attempt
                )
                await asyncio.sleep(delay)
        await self._publish_menu()
        self._ready.set()

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and not self._stopped.is_set()

    async def start(self) -> None:
        await self.open()
        await self.application.start()
        try:
            if self._webhook is None:
                assert self.application.updater is not None
                await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
                log.info("telegram: polling for updates as @%s", self.application.bot.username)
            else:
                await self.application.bot.set_webhook(
                    self._webhook.url, allowed_updates=ALLOWED_UPDATES, secret_token=self._webhook.secret
                )
                log.info("telegram: receiving updates by webhook as @%s", self.application.bot.username)
            await self._stopped.wait()
        finally:
            if self.application.updater is not None and self.application.updater.running:
                await self.application.updater.stop()
            await self.application.stop()
            await self.close()

    async def stop(self) -> None:
        self._stopped.set()

    async def close(self) -> None:
        await self._sender.close()
        await self.application.shutdown()

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """Telegram's POST: checked against the secret, queued, answered at once."""
        expected = self._webhook.secret if self._webhook else ""
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=403)
        try:
            update = Update.de_json(bounded_json(await request.read()), self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):  # BadJson is a ValueError
            return web.Response(status=400)  # not an update, whatever else it is
        if not isinstance(update, Update):
            return web.Response(status=400)
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    # --- outgoing ----------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        if not self._ready.is_set():
            raise RetryLater(1.0)  # still connecting: the outbox waits and sends again
        if reply.event == Event.PRIVATE_WAITING:
            reply = replace(reply, text=self._with_start_link(reply.text))
        await self._sender.send(chat, reply)

    def _with_start_link(self, pointer: str) -> str:
        """A pointer to the private chat with the link that opens it: Telegram shows a Start button
        there, and pressing it writes to the bot, which delivers what waits."""
        username = self.application.bot.username
        return f"{pointer}\nhttps://t.me/{username}?start={START_PAYLOAD}" if username else pointer

    async def settled(self) -> None:
        """Waits until every answer handed to the chats' lanes has been sent."""
        await self._sender.idle()

    async def _answer(
        self, chat: ChatRef, replies: list[Reply], *, asker: User, reply_to: int | None
    ) -> None:
        """Hands the answers to the chat's lane: the update is done once they are queued, and they
        leave at Telegram's pace."""
        pointed = False
        for reply in replies:
            if not reply.private or chat.kind == ChatType.PRIVATE:
                self._sender.post(chat, reply, reply_to=reply_to)
                continue
            # What only the asker may see (a balance, a payment link) never shows in a group: it goes
            # to their private chat, and the group reads that it went, or, once, how to get it.
            language = normalize_language(asker.language_code) or self._default_language
            if await self._sent_privately(asker.id, reply):
                note = translate(language, "private.sent")
            elif pointed:
                continue
            else:
                name = asker.first_name
                key = "notices.needs_private_named" if name else "notices.needs_private"
                note = self._with_start_link(translate(language, key, name=name))
                pointed = True
            self._sender.post(chat, text(note), reply_to=reply_to)

    async def _sent_privately(self, user_id: int, reply: Reply) -> bool:
        """Balances and history go to the asker's private chat, when they have one with the bot."""
        try:
            await self._sender.send(render.chat_ref(user_id, ChatType.PRIVATE), reply)
        except (ChatUnreachable, TelegramError):
            return False
        return True

    # --- incoming ----------------------------------------------------------------------------------

    def _group_admin(self, chat_id: int, kind: str, user_id: int) -> Callable[[], Awaitable[bool]] | None:
        """Whether the sender administers the group (its creator or an administrator), asked of
        Telegram only when the core needs to know; None in a private chat."""
        if kind == ChatType.PRIVATE:
            return None

        async def ask() -> bool:
            try:
                member = await self.application.bot.get_chat_member(chat_id, user_id)
            except TelegramError as error:
                log.warning("telegram: a group admin check failed: %s", type(error).__name__)
                return False
            return member.status in ADMIN_STATUSES

        return ask

    async def _on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        self._albums.remember(message)
        bot = self.application.bot
        said = incoming.text_for_core(message, bot.username, bot.id)
        if not said:
            return  # not for us, or a photo without a command (kept for a later reply)
        if message.media_group_id is not None:
            await asyncio.sleep(self._album_wait_s)
        photos = incoming.references(message, self._albums)
        chat = render.chat_ref(message.chat.id, message.chat.type)
        request = Incoming(
            incoming.user_ref(message.from_user),
            chat,
            said,
            tuple(incoming.attachment(photo, self._download) for photo in photos),
            str(message.message_id),
            private_chat=_private_chat(message.from_user),
            group_admin=self._group_admin(message.chat.id, message.chat.type, message.from_user.id),
            start_link=f"https://t.me/{bot.username}?start={{payload}}" if bot.username else None,
        )
        replies = await self._core.dispatch(request)
        reply_to = message.message_id if chat.kind != ChatType.PRIVATE else None
        await self._answer(chat, replies, asker=message.from_user, reply_to=reply_to)
        if self._stars is not None:
            await self._stars.follow(message, replies)

    async def _on_press(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        answered = False
        try:
            answered = await self._press(query)
        finally:
            if not answered:
                await query.answer()

    async def _press(self, query: CallbackQuery) -> bool:
        """Runs a press; True when it already answered the query itself (with an alert)."""
        user = incoming.user_ref(query.from_user)
        message = query.message if isinstance(query.message, Message) else None
        chat = (
            render.chat_ref(message.chat.id, message.chat.type)
            if message is not None
            else render.chat_ref(query.from_user.id, ChatType.PRIVATE)
        )
        press = self._signer.read(query.data or "")
        if isinstance(press, StarsPress):
            target = int(chat.chat_id)
            if self._stars is not None and await self._stars.invoice(target, query.from_user, press.pack_id):
                await query.answer()
                return True
            press = None
        if press is None:
            replies = await self._core.refuse(user, chat, UserError("button_expired"))
        elif isinstance(press, JobPress):
            replies = await self._core.on_action(
                ActionPress(user, chat, press.job_id, press.kind, press.index)
            )
        else:
            admin = self._group_admin(int(chat.chat_id), chat.kind, query.from_user.id)
            replies = await self._core.dispatch(
                Incoming(
                    user, chat, press.command, private_chat=_private_chat(query.from_user), group_admin=admin
                )
            )
        refusal = next((reply for reply in replies if reply.error), None)
        if refusal is not None:
            await query.answer(render.caption(refusal.text)[:ALERT_CHARS], show_alert=True)
            return True
        await query.answer()
        if message is not None and _is_menu_update(replies) and chat.kind == ChatType.PRIVATE:
            await self._replace_menu(message, replies[0])
            return True
        reply_to = message.message_id if message is not None and chat.kind != ChatType.PRIVATE else None
        await self._answer(chat, replies, asker=query.from_user, reply_to=reply_to)
        return True

    async def _on_precheck(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.pre_checkout_query is not None and self._stars is not None:
            await self._stars.precheck(update.pre_checkout_query)

    async def _on_paid(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None and self._stars is not None:
            await self._stars.paid(update.message)

    async def _on_refunded(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None and self._stars is not None:
            await self._stars.refunded(update.message)

    async def _replace_menu(self, message: Message, reply: Reply) -> None:
        """A press on a menu (settings, language) updates that menu in place instead of adding one."""
        await message.edit_text(
            render.split_text(reply.text)[0], reply_markup=render.keyboard(reply, self._signer)
        )

    async def _download(self, file_id: str) -> bytes:
        file = await self.application.bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())

    async def _publish_menu(self) -> None:
        for language, code in MENU_LANGUAGES.items():
            commands = [BotCommand(name, translate(language, f"menu.{name}")) for name in MENU]
            await self.application.bot.set_my_commands(commands, language_code=code)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: an update could not be handled", exc_info=context.error)


def _calls_request(ssl_context: ssl.SSLContext | None) -> HTTPXRequest:
    """The client for Bot API calls, as the builder makes it from `.read_timeout(30)`,
    `.write_timeout(30)` and `.media_write_timeout(120)`."""
    return HTTPXRequest(
        connection_pool_size=256,
        read_timeout=30,
        write_timeout=30,
        media_write_timeout=120,
        httpx_kwargs=_verify(ssl_context),
    )


def _verify(ssl_context: ssl.SSLContext | None) -> dict[str, Any] | None:
    return {"verify": ssl_context} if ssl_context is not None else None


def _private_chat(user: User) -> ChatRef:
    """A user's private chat with the bot has the user's id (it exists once they opened it)."""
    return render.chat_ref(user.id, ChatType.PRIVATE)


def _is_menu_update(replies: list[Reply]) -> bool:
    return len(replies) == 1 and replies[0].type == ReplyType.TEXT and bool(replies[0].choices)
