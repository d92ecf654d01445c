"""Privacy profiles, consent records, one-time codes, analytics events, exports, erasures, broadcasts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import (
    Account,
    AnalyticsEvent,
    Broadcast,
    ConsentRecord,
    DeletionRequest,
    ExportFile,
    Identity,
    PrivacyCode,
    PrivacyProfile,
)
from core.db.statuses import RequestStatus
from core.db.types import utcnow

# --- profiles and consent --------------------------------------------------------------------------


async def profile(session: AsyncSession, account_id: int) -> PrivacyProfile | None:
    return await session.scalar(
        select(PrivacyProfile)
        .where(PrivacyProfile.account_id == account_id)
        .execution_options(populate_existing=True)
    )


async def ensure_profile(session: AsyncSession, account_id: int) -> PrivacyProfile:
    """The account's profile, created empty when missing; the caller holds the account's lock."""
    found = await profile(session, account_id)
    if found is not None:
        return found
    created = PrivacyProfile(
        account_id=account_id, analytics=False, marketing=False, trial_granted=False, keep_history=True
    )
    session.add(created)
    await session.flush()
    return created


async def update_profile(session: AsyncSession, account_id: int, **values: Any) -> None:
    await session.execute(
        update(PrivacyProfile)
        .where(PrivacyProfile.account_id == account_id)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )


async def add_consent(session: AsyncSession, **fields: Any) -> None:
    session.add(ConsentRecord(**fields))
    await session.flush()


async def erasing(session: AsyncSession, account_id: int) -> bool:
    """True while an erasure of the account is recorded but not finished."""
    found = await session.scalar(
        select(DeletionRequest.id).where(
            DeletionRequest.account_id == account_id, DeletionRequest.status == RequestStatus.PENDING
        )
    )
    return found is not None


async def held_accounts(session: AsyncSession) -> set[int]:
    result = await session.scalars(
        select(PrivacyProfile.account_id).where(PrivacyProfile.hold_reason.is_not(None))
    )
    return set(result)


async def merged_accounts(session: AsyncSession, account_id: int) -> list[int]:
    """Accounts joined into this one by `/link`, directly or through others."""
    found: list[int] = []
    frontier = [account_id]
    while frontier:
        result = await session.scalars(
            select(PrivacyProfile.account_id).where(PrivacyProfile.merged_into.in_(frontier))
        )
        frontier = [merged for merged in result if merged not in found and merged != account_id]
        found.extend(frontier)
    return found


# --- one-time codes --------------------------------------------------------------------------------


async def replace_code(
    session: AsyncSession, account_id: int, purpose: str, code_hash: str, expires_at: datetime
) -> None:
    """Stores a new code for the account and purpose; earlier unused ones stop working."""
    await session.execute(
        delete(PrivacyCode).where(
            PrivacyCode.account_id == account_id,
            PrivacyCode.purpose == purpose,
            PrivacyCode.used_at.is_(None),
        )
    )
    session.add(
        PrivacyCode(account_id=account_id, purpose=purpose, code_hash=code_hash, expires_at=expires_at)
    )
    await session.flush()


async def open_code(session: AsyncSession, account_id: int, purpose: str) -> PrivacyCode | None:
    """The account's unused code for `purpose`, expired or not."""
    return await session.scalar(
        select(PrivacyCode)
        .where(
            PrivacyCode.account_id == account_id,
            PrivacyCode.purpose == purpose,
            PrivacyCode.used_at.is_(None),
        )
        .order_by(PrivacyCode.id.desc())
        .limit(1)
    )


async def code_by_hash(
    session: AsyncSession, purpose: str, code_hash: str, now: datetime
) -> PrivacyCode | None:
    return await session.scalar(
        select(PrivacyCode)
        .where(
            PrivacyCode.purpose == purpose,
            PrivacyCode.code_hash == code_hash,
            PrivacyCode.used_at.is_(None),
            PrivacyCode.expires_at > now,
        )
        .order_by(PrivacyCode.id.desc())
        .limit(1)
    )


async def use_code(session: AsyncSession, code_id: int, now: datetime) -> bool:
    """Marks a code used; False when another request used it first or it has expired."""
    result = await session.execute(
        update(PrivacyCode)
        .where(PrivacyCode.id == code_id, PrivacyCode.used_at.is_(None), PrivacyCode.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# --- analytics -------------------------------------------------------------------------------------


async def analytics_enabled(session: AsyncSession, account_id: int) -> bool:
    return bool(
        await session.scalar(select(PrivacyProfile.analytics).where(PrivacyProfile.account_id == account_id))
    )


async def add_event(session: AsyncSession, account_id: int, name: str, properties: dict[str, Any]) -> None:
    session.add(AnalyticsEvent(account_id=account_id, name=name, properties=properties))
    await session.flush()


# --- exports ---------------------------------------------------------------------------------------


async def add_export(session: AsyncSession, **fields: Any) -> None:
    session.add(ExportFile(**fields))
    await session.flush()


async def export_for_download(session: AsyncSession, token_hash: str, now: datetime) -> ExportFile | None:
    """The export behind a download token, claimed for this download; None when unknown, used or expired."""
    found = await session.scalar(select(ExportFile).where(ExportFile.token_hash == token_hash))
    if found is None:
        return None
    claimed = await session.execute(
        update(ExportFile)
        .where(ExportFile.id == found.id, ExportFile.downloaded_at.is_(None), ExportFile.expires_at > now)
        .values(downloaded_at=now)
        .execution_options(synchronize_session=False)
    )
    return found if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


async def expired_exports(session: AsyncSession, now: datetime) -> list[ExportFile]:
    result = await session.scalars(
        select(ExportFile).where((ExportFile.expires_at <= now) | ExportFile.downloaded_at.is_not(None))
    )
    return list(result)


async def delete_exports(session: AsyncSession, export_ids: list[int]) -> None:
    await session.execute(delete(ExportFile).where(ExportFile.id.in_(export_ids)))


# --- erasure requests ------------------------------------------------------------------------------


async def request_deletion(session: AsyncSession, account_id: int, requested_by: str) -> DeletionRequest:
    """Records an erasure once per account; a second request gets the first one back."""
    existing = await deletion_request(session, account_id)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            created = DeletionRequest(
                account_id=account_id, requested_by=requested_by, status=RequestStatus.PENDING
            )
            session.add(created)
    except IntegrityError:  # requested at the same moment by another request
        existing = await deletion_request(session, account_id)
        assert existing is not None
        return existing
    return created


async def deletion_request(session: AsyncSession, account_id: int) -> DeletionRequest | None:
    return await session.scalar(
        select(DeletionRequest)
        .where(DeletionRequest.account_id == account_id)
        .execution_options(populate_existing=True)
    )


async def pending_deletions(session: AsyncSession) -> list[int]:
    result = await session.scalars(
        select(DeletionRequest.account_id)
        .where(DeletionRequest.status == RequestStatus.PENDING)
        .order_by(DeletionRequest.id)
    )
    return list(result)


async def finish_deletion(session: AsyncSession, account_id: int, now: datetime) -> bool:
    result = await session.execute(
        update(DeletionRequest)
        .where(DeletionRequest.account_id == account_id, DeletionRequest.status == RequestStatus.PENDING)
        .values(status=RequestStatus.DONE, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# --- broadcasts ------------------------------------------------------------------------------------


async def add_broadcast(session: AsyncSession, text: str) -> Broadcast:
    broadcast = Broadcast(text=text, status=RequestStatus.PENDING, next_account=0, sent=0)
    session.add(broadcast)
    await session.flush()
    return broadcast


async def pending_broadcast(session: AsyncSession) -> Broadcast | None:
    return await session.scalar(
        select(Broadcast)
        .where(Broadcast.status == RequestStatus.PENDING)
        .order_by(Broadcast.id)
        .limit(1)
        .execution_options(populate_existing=True)
    )


async def marketing_recipients(
    session: AsyncSession, after_account: int, limit: int
) -> list[tuple[int, str, str | None]]:
    """(account, private chat, language) of accounts with marketing on, from `after_account` up."""
    rows = await session.execute(
        select(PrivacyProfile.account_id, PrivacyProfile.direct_chat, Account.language)
        .join(Account, Account.id == PrivacyProfile.account_id)
        .where(
            PrivacyProfile.marketing.is_(True),
            PrivacyProfile.direct_chat.is_not(None),
            PrivacyProfile.account_id >= after_account,
        )
        .order_by(PrivacyProfile.account_id)
        .limit(limit)
    )
    return [(account, chat, language) for account, chat, language in rows.all() if chat]


async def count_marketing(session: AsyncSession) -> int:
    found = await session.scalar(
        select(func.count(PrivacyProfile.account_id)).where(
            PrivacyProfile.marketing.is_(True), PrivacyProfile.direct_chat.is_not(None)
        )
    )
    return int(found or 0)


async def advance_broadcast(session: AsyncSession, broadcast_id: int, next_account: int, sent: int) -> None:
    await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(next_account=next_account, sent=Broadcast.sent + sent)
        .execution_options(synchronize_session=False)
    )


async def finish_broadcast(session: AsyncSession, broadcast_id: int, now: datetime) -> None:
    await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(status=RequestStatus.DONE, finished_at=now)
    )


# --- identities ------------------------------------------------------------------------------------


async def detach_identity(session: AsyncSession, identity_id: int) -> int:
    """Moves one identity to a new, empty account; returns that account's id."""
    account = Account(preferences={})
    session.add(account)
    await session.flush()
    await session.execute(
        update(Identity)
        .where(Identity.id == identity_id)
        .values(account_id=account.id)
        .execution_options(synchronize_session=False)
    )
    return account.id


async def set_deletion_files(session: AsyncSession, request_id: int, files: list[str]) -> None:
    """The file patterns an erasure still has to remove (kept until they are gone)."""
    await session.execute(update(DeletionRequest).where(DeletionRequest.id == request_id).values(files=files))


async def clear_deletion_files(session: AsyncSession, account_id: int) -> None:
    await session.execute(
        update(DeletionRequest).where(DeletionRequest.account_id == account_id).values(files=[])
    )
