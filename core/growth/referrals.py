"""Personal invitations: `/invite` gives an account its code (and, where the door can, a link that
starts a chat with it); an invitee enters it once, and after the invitee's first purchase (never at
sign-up, so it cannot be farmed) each side receives the configured credits, once.

The reward runs inside the transaction that credits the purchase (a Stripe event, a Stars payment):
the referral row moves from pending to rewarded by one conditional UPDATE, so a payment delivered
twice, or a second purchase, pays nothing more. The referral remembers that purchase: refunded in
full or lost in a dispute, what is left of both rewards is taken back and the referral is revoked
for good, so buying, collecting and refunding farms nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.models import Payment
from core.db.repositories import accounts as accounts_repo
from core.db.repositories import growth as repo
from core.db.repositories import ledger as ledger_repo
from core.db.repositories import payments as payments_repo
from core.db.session import Database
from core.db.types import utcnow
from core.errors import UserError
from core.growth import codes
from core.i18n import Translator
from core.messages import ChatRef, text
from core.notifier import enqueue
from core.policy import CodeSettings, ReferralSettings
from core.privacy.chats import private_target

PREFIX = "ref-"
CODE_CHARS = 8
NEW_CODE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Invitation:
    code: str  # as typed: ref-XXXXXXXX
    invited: int
    bought: int


def is_invite(word: str) -> bool:
    return word.lower().startswith(PREFIX)


def _token(word: str) -> str:
    return codes.normalize(word[len(PREFIX) :]) if is_invite(word) else ""


class Referrals:
    def __init__(self, db: Database, settings: ReferralSettings, code_settings: CodeSettings) -> None:
        self.db = db
        self.settings = settings
        self.code_settings = code_settings

    async def invite(self, account_id: int, chat: ChatRef) -> Invitation:
        """The account's code, made on first use; `chat` is where its rewards will be announced."""
        if not self.settings.enabled:
            raise UserError("invite_off")
        for _ in range(NEW_CODE_ATTEMPTS):
            try:
                async with self.db.transaction() as session:
                    invite = await repo.invite_code_of(session, account_id)
                    if invite is None:
                        token = "".join(secrets.choice(codes.ALPHABET) for _ in range(CODE_CHARS))
                        invite = await repo.add_invite_code(session, account_id, token, chat.serialize())
                    invited, bought = await repo.invitee_counts(session, account_id)
                    return Invitation(PREFIX + invite.code, invited, bought)
            except IntegrityError:  # the same token drawn twice, or a concurrent /invite: draw again
                continue
        raise RuntimeError("no free invitation code after several draws")

    async def accept(self, account_id: int, word: str) -> str:
        """Records that `word`'s owner invited this account; returns the code as typed. Refuses a
        code that is unknown or the account's own, an account invited before or that bought
        already; unknown codes count toward the pause on /redeem."""
        if not self.settings.enabled:
            raise UserError("invite_off")
        now = utcnow()
        async with self.db.transaction() as session:
            await credits.lock(session, account_id)
            until = await codes.paused_until(session, account_id, self.code_settings, now)
            if until is not None:
                raise codes.Paused(until)
            inviter = await repo.inviter_by_code(session, _token(word))
            if inviter is None:
                await codes.record_failure(session, account_id, now)
                refused: UserError | None = UserError("redeem_unknown")
            elif (refused := await _refusal(session, account_id, inviter.account_id)) is None:
                await repo.add_referral(session, invitee_id=account_id, inviter_id=inviter.account_id)
        if refused is not None:
            raise refused
        return PREFIX + _token(word)


async def _refusal(session: AsyncSession, invitee_id: int, inviter_id: int) -> UserError | None:
    if inviter_id == invitee_id:  # one's own code, from this identity or one linked to it
        return UserError("invite_own")
    if await repo.referral_of(session, invitee_id) is not None:
        return UserError("invite_already")
    if await repo.has_bought(session, invitee_id):
        return UserError("invite_customer")
    circle = await repo.referral_of(session, inviter_id)
    if circle is not None and circle.inviter_id == invitee_id:
        return UserError("invite_own")  # they invited each other: one account rewarding itself
    return None


async def reward_first_purchase(
    session: AsyncSession,
    account_id: int,
    payment: Payment,
    chat: str | None,
    settings: ReferralSettings,
    default_language: str,
) -> None:
    """After a purchase is credited, in its transaction: if the account was invited and this is its
    first purchase, gives both sides their credits and tells each privately."""
    inviter_id = await repo.mark_rewarded(session, account_id, payment.id, utcnow())
    if inviter_id is None:  # no invitation, or rewarded already
        return
    if await payments_repo.surviving_account(session, inviter_id) == account_id:
        return  # the inviter's identity was linked into the invitee's account since: one person
    invite = await repo.invite_code_of(session, inviter_id)
    rewards = (
        (account_id, settings.invitee_credits, "invitee", chat),
        (inviter_id, settings.inviter_credits, "inviter", invite.chat if invite else None),
    )
    for who, amount, side, told in rewards:
        if amount <= 0:
            continue
        await credits.grant(
            session,
            who,
            amount,
            kind=credits.EntryKind.REFERRAL,
            key=f"referral:{account_id}:{side}",
            reference=f"referral:{account_id}",
        )
        await _tell(session, who, told, f"referral.rewarded_{side}", amount, default_language, account_id)


async def rewarded_accounts(session: AsyncSession, payment: Payment) -> tuple[int, ...]:
    """The invitee and inviter this payment rewarded, to lock with its buyer before a refund."""
    referral = await repo.rewarded_by(session, payment.id)
    return (referral.invitee_id, referral.inviter_id) if referral else ()


async def take_back_rewards(session: AsyncSession, payment: Payment, default_language: str) -> None:
    """After `payment` was refunded in full or lost in a dispute, in that transaction (its accounts
    locked, `rewarded_accounts`): if it paid an invitation's rewards, takes back what is left of each,
    never below zero, records what was spent as the referral's shortfall, revokes the referral so it
    never pays again, and tells each side privately. A refund delivered twice takes back once."""
    referral = await repo.rewarded_by(session, payment.id)
    if referral is None or not await repo.revoke(session, referral.id):
        return
    invitee_id = referral.invitee_id
    invite = await repo.invite_code_of(session, referral.inviter_id)
    sides = (
        (invitee_id, "invitee", await payments_repo.chat_of(session, payment)),
        (referral.inviter_id, "inviter", invite.chat if invite else None),
    )
    for who, side, told in sides:
        granted = await ledger_repo.entry_delta(session, f"referral:{invitee_id}:{side}")
        if not granted:  # nothing was given to this side (no credits set, or one person)
            continue
        taken = await credits.take_back(
            session,
            who,
            granted,
            key=f"referral:{invitee_id}:{side}:revoked",
            reference=f"referral:{invitee_id}",
        )
        if taken is None:
            continue
        await repo.add_shortfall(session, referral.id, granted - taken)
        await _tell(session, who, told, f"referral.revoked_{side}", taken, default_language, invitee_id)


async def _tell(
    session: AsyncSession,
    account_id: int,
    chat: str | None,
    key: str,
    amount: int,
    default_language: str,
    invitee_id: int,
) -> None:
    target = await private_target(session, account_id, ChatRef.parse(chat)) if chat else None
    if target is None:
        return
    account = await accounts_repo.get(session, account_id)
    t = Translator((account.language if account else None) or default_language)
    balance = await credits.balance(session, account_id)
    message = t(key, credits=amount, balance=balance.total)
    await enqueue(session, target, [text(message)], key=f"{key}:{invitee_id}")
