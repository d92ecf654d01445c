"""Accounts as the service leaves them once their owners accepted the terms, written in bulk.

Going through the service would take minutes for 100,000 accounts; these inserts write the same
rows (account with its trial credits, identity, trial ledger entry, privacy profile) in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select

from core.db.models import Account, Identity, LedgerEntry, PrivacyProfile
from core.db.session import Database
from core.db.types import utcnow
from core.privacy.settings import PrivacySettings

BATCH = 20_000


async def seed_accounts(
    db: Database, user_ids: Sequence[int], *, platform: str, trial: int, privacy: PrivacySettings
) -> None:
    """One account per platform user id, in private chat with the bot, holding `trial` credits."""
    now = utcnow()
    async with db.transaction() as session:
        first = int(await session.scalar(select(func.coalesce(func.max(Account.id), 0))) or 0) + 1
    for start in range(0, len(user_ids), BATCH):
        batch = list(enumerate(user_ids[start : start + BATCH], start=first + start))
        async with db.transaction() as session:
            await session.execute(
                insert(Account.__table__),
                [
                    {
                        "id": account,
                        "created_at": now,
                        "preferences": {},
                        "balance_subscription": 0,
                        "balance_one_time": trial,
                    }
                    for account, _ in batch
                ],
            )
            await session.execute(
                insert(Identity.__table__),
                [
                    {
                        "account_id": account,
                        "platform": platform,
                        "platform_user_id": str(user),
                        "created_at": now,
                    }
                    for account, user in batch
                ],
            )
            await session.execute(
                insert(LedgerEntry.__table__),
                [
                    {
                        "account_id": account,
                        "bucket": "one_time",
                        "delta": trial,
                        "kind": "trial",
                        "idempotency_key": f"trial:{account}",
                        "created_at": now,
                    }
                    for account, _ in batch
                ],
            )
            await session.execute(
                insert(PrivacyProfile.__table__),
                [
                    {
                        "account_id": account,
                        "terms_version": privacy.terms_version,
                        "policy_version": privacy.policy_version,
                        "accepted_at": now,
                        "analytics": False,
                        "marketing": False,
                        "trial_granted": True,
                        "direct_chat": f"{platform}:private:{user}",
                        "updated_at": now,
                    }
                    for account, user in batch
                ],
            )
