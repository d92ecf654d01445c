"""Ledger entries that privacy actions write: credits forfeited by an erasure, moved by `/link`."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.repositories import ledger as repo


class PrivacyEntryKind(StrEnum):
    FORFEIT = "forfeit"  # the account was erased: what was left is not kept for anyone
    MERGE_OUT = "merge_out"  # moved to the account this one was linked into
    MERGE_IN = "merge_in"  # moved here from a linked account
    TRIAL_FORFEIT = "trial_forfeit"  # a second trial, not carried over when two accounts are linked


async def move(
    session: AsyncSession,
    account_id: int,
    bucket: credits.Bucket,
    delta: int,
    *,
    kind: PrivacyEntryKind,
    key: str,
    reference: str,
) -> None:
    """One balance change with the entry that explains it; the caller holds the account's lock."""
    if delta == 0:
        return
    if not await repo.change_balance(session, account_id, bucket, delta):
        raise credits.InsufficientCredits(await credits.balance(session, account_id), -delta)
    await repo.add_entry(
        session,
        account_id=account_id,
        bucket=bucket,
        delta=delta,
        kind=kind,
        idempotency_key=key,
        reference=reference,
    )
