"""What a command handler is given: the services, who is asking, where, and in which language."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.accounts import Accounts, AccountView
from core.db.repositories.asker import Standing
from core.db.session import Database
from core.generation.content_rules import ContentRules
from core.generation.jobs import JobService
from core.generation.storage import Storage
from core.generation.styles import StyleBook
from core.groups import GroupWallets
from core.growth.codes import Codes
from core.growth.referrals import Referrals
from core.i18n import Translator, normalize_language
from core.i18n.local_time import Clock, zone_of
from core.messages import Attachment, ChatRef, UserRef
from core.notifier import Notifier
from core.payments.service import Payments
from core.payments.stars import StarsPurchases
from core.policy import CreditSettings, GenerationSettings
from core.privacy.chats import NoticePointer, notices_chat
from core.privacy.consent import PrivacyState
from core.privacy.service import Privacy
from core.support import SupportDesk


@dataclass(frozen=True, slots=True)
class Services:
    db: Database
    accounts: Accounts
    jobs: JobService
    storage: Storage
    styles: StyleBook
    generation: GenerationSettings
    pricing: CreditSettings
    default_language: str
    notifier: Notifier
    support: SupportDesk
    payments: Payments
    stars: StarsPurchases
    privacy: Privacy
    groups: GroupWallets
    codes: Codes
    referrals: Referrals
    content_rules: ContentRules

    def language_for(self, account: AccountView, user: UserRef) -> str:
        """The account's choice, else the platform's locale, else the configured default."""
        return account.language or normalize_language(user.locale) or self.default_language


@dataclass(frozen=True, slots=True)
class Context:
    services: Services
    user: UserRef
    chat: ChatRef
    account: AccountView
    t: Translator
    privacy: PrivacyState
    attachments: tuple[Attachment, ...] = ()
    message_id: str | None = None  # the platform's id of the message being answered
    reading: AsyncSession | None = None  # the request's read-only unit of work, for commands that only read
    standing: Standing | None = None  # read with who is asking, for a request that may charge
    shows_buttons: bool = True  # whether the door shows choices as buttons, else texts say what to type
    private_chat: ChatRef | None = None  # how the door reaches the asker privately, when it can
    group_admin: Callable[[], Awaitable[bool]] | None = None  # whether the asker administers the group
    start_link: str | None = None  # the door's link that starts a chat with a payload ("{payload}")

    @property
    def notices_chat(self) -> ChatRef:
        """Where later notices about the asker's own affairs go: never a group when avoidable."""
        return notices_chat(self.chat, self.private_chat)

    @property
    def pointer(self) -> NoticePointer | None:
        """What a group is told when the asker's private chat refuses the bot; None outside groups."""
        target = self.notices_chat
        if target == self.chat:
            return None
        return NoticePointer(target, self.chat, self.account.id, self.language, self.user.display_name)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """The request's read-only unit of work when it runs in one, else a read of its own."""
        if self.reading is not None:
            yield self.reading
            return
        async with self.services.db.read() as session:
            yield session

    @property
    def language(self) -> str:
        return self.t.language

    @property
    def clock(self) -> Clock:
        """How this user reads dates and times: their language, their zone."""
        return Clock(self.language, zone_of(self.account.preferences, self.language))
