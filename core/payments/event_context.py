"""What every Stripe event handler is given: the transaction, the catalogue, the outbox, and what was
looked up at Stripe before the transaction opened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.repositories import accounts as accounts_repo
from core.i18n import Translator
from core.messages import ChatRef, text
from core.notifier import Notifier
from core.payments.catalogue import Catalogue
from core.policy import ReferralSettings
from core.privacy.chats import private_target

PROVIDER = "stripe"


class NotYet(Exception):
    """The event needs something another event brings (it came first): try again later."""


@dataclass(frozen=True, slots=True)
class Lookups:
    """Answers from Stripe's API that an event needs, fetched with no transaction open."""

    payment_intent: str | None = None  # the PaymentIntent behind an invoice, a dispute or a warning


@dataclass
class EventContext:
    session: AsyncSession
    catalogue: Catalogue
    notifier: Notifier
    default_language: str
    support_hint: str  # the catalog key that ends every money message with how to reach a human
    found: Lookups = field(default_factory=Lookups)
    referrals: ReferralSettings = field(default_factory=ReferralSettings)

    async def tell(self, account_id: int, chat: str | None, key: str, dedupe: str, **params: Any) -> None:
        """Queues a message for the account in the chat recorded for its notices (when known): the
        buyer's private chat, never a group."""
        target = await private_target(self.session, account_id, ChatRef.parse(chat)) if chat else None
        if target is None:
            return
        account = await accounts_repo.get(self.session, account_id)
        t = Translator((account.language if account else None) or self.default_language)
        message = t(key, **params) + "\n" + t(self.support_hint)
        await self.notifier.enqueue(self.session, target, [text(message)], key=dedupe)


def time_of(unix: int | None) -> datetime:
    return datetime.fromtimestamp(int(unix or 0), UTC)
