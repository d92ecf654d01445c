"""One wallet across platforms: `/link` joins another identity to this account, `/unlink` detaches one.

Joining moves the other account's balance over with paired ledger entries (out there, in here), so
both accounts' entries still sum to their balances; its history (jobs, tickets, payments, consents)
follows the person. The joined account stays behind empty, marked `merged_into`. A second trial is not
carried over: when both accounts had one, the joining account's unspent trial credits are forfeited,
and every identity of a wallet that had a trial is remembered as having had one (core.privacy.identities),
so unlinking and erasing one does not bring a new trial.

One wallet is one person (the terms forbid sharing accounts): it links at most
`[privacy] max_identities_per_platform` identities of each platform. Codes are single use, and an
identity may type 5 wrong codes an hour; then linking pauses for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core import credits
from core.db.repositories import abuse, erasure
from core.db.repositories import accounts as accounts_repo
from core.db.repositories import jobs as jobs_repo
from core.db.repositories import ledger as ledger_repo
from core.db.repositories import privacy as repo
from core.db.repositories.support import audit
from core.db.session import Database
from core.db.statuses import ACTIVE_JOBS
from core.db.types import utcnow
from core.errors import UserError
from core.messages import UserRef
from core.privacy import codes
from core.privacy.consent import KEEP_HISTORY, Source
from core.privacy.identities import IdentityHasher, account_identities
from core.privacy.ledger import PrivacyEntryKind, move

PURPOSE = "link"
WRONG_CODES = 5  # per identity and FAILURE_WINDOW: enough for typos, far too few to guess a code
FAILURE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Joined:
    balance: int
    moved: int  # credits brought over from the joining account
    forfeited: int  # its unspent second trial


class Linker:
    def __init__(self, db: Database, identities: IdentityHasher, *, max_per_platform: int) -> None:
        self._db = db
        self._identities = identities
        self._max_per_platform = max_per_platform

    async def new_code(self, account_id: int) -> str:
        code = codes.new_code(codes.LINK_CODE_LENGTH)
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)
            digest = codes.code_hash(PURPOSE, code)
            await repo.replace_code(session, account_id, PURPOSE, digest, utcnow() + codes.CODE_LIFETIME)
        return code

    async def join(self, account_id: int, user: UserRef, typed: str) -> Joined:
        """Joins the asking identity's account (`account_id`) into the account that made the code."""
        code = codes.normalized(typed)
        digest = codes.code_hash(PURPOSE, code) if code else None
        now = utcnow()
        if not await self._known_code(account_id, user.identity, digest):
            raise UserError("link_code_invalid")
        assert digest is not None  # a known code has one
        key = await self._identities.key()
        async with self._db.transaction() as session:
            found = await repo.code_by_hash(session, PURPOSE, digest, now)
            if found is None:  # used or expired since it was checked
                raise UserError("link_code_invalid")
            target, source = found.account_id, account_id
            if target == source:
                raise UserError("link_same_account")
            for locked in sorted((target, source)):  # one order for everyone: no deadlock
                await credits.lock(session, locked)
            await self._check(session, target, source)
            if not await repo.use_code(session, found.id, now):
                raise UserError("link_code_invalid")
            forfeited, moved = await self._move_credits(session, source, target, found.id)
            had_trial = await self._merge_profiles(session, source, target)
            await erasure.move_account_rows(session, source, target)
            if had_trial:
                await abuse.record_trial(session, key.hashes(await account_identities(session, target)))
            await audit(session, actor="user", action="identity_linked", account_id=target, details={})
            await audit(session, actor="user", action="account_joined", account_id=source, details={})
            balance = await credits.balance(session, target)
        return Joined(balance=balance.total, moved=moved, forfeited=forfeited)

    async def _known_code(self, account_id: int, identity: str, digest: str | None) -> bool:
        """Whether a valid code has this hash; a wrong one is counted against the identity, which is
        refused once it has typed WRONG_CODES wrong ones within FAILURE_WINDOW."""
        now = utcnow()
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)  # the account's attempts one at a time
            failures = await abuse.link_failures_since(session, identity, now - FAILURE_WINDOW)
            if len(failures) >= WRONG_CODES:
                raise UserError("link_paused", wait=failures[-WRONG_CODES] + FAILURE_WINDOW - now)
            if digest is not None and await repo.code_by_hash(session, PURPOSE, digest, now) is not None:
                return True
            await abuse.add_link_failure(session, identity, now)
        return False

    async def unlink(self, account_id: int, user: UserRef) -> None:
        """Detaches the asking identity: it starts over with a fresh, empty account."""
        async with self._db.transaction() as session:
            await credits.lock(session, account_id)
            identities = await accounts_repo.identities(session, account_id)
            if len(identities) < 2:
                raise UserError("unlink_only_identity")
            mine = next(
                i for i in identities if (i.platform, i.platform_user_id) == (user.platform, user.user_id)
            )
            fresh = await repo.detach_identity(session, mine.id)
            old = await repo.profile(session, account_id)
            await repo.ensure_profile(session, fresh)
            await repo.update_profile(session, fresh, trial_granted=True)  # the person had their trial
            if old is not None and old.accepted_at is not None:
                await repo.update_profile(
                    session,
                    fresh,
                    terms_version=old.terms_version,
                    policy_version=old.policy_version,
                    accepted_at=utcnow(),
                )
                await repo.add_consent(
                    session,
                    account_id=fresh,
                    kind="terms",
                    granted=True,
                    terms_version=old.terms_version,
                    policy_version=old.policy_version,
                    platform=user.platform,
                    source=Source.CARRIED.value,
                )
            if old is not None and not old.keep_history:  # a restriction follows the person
                await repo.update_profile(session, fresh, keep_history=False)
                await repo.add_consent(
                    session,
                    account_id=fresh,
                    kind=KEEP_HISTORY,
                    granted=False,
                    policy_version=old.policy_version,
                    platform=user.platform,
                    source=Source.CARRIED.value,
                )
            await audit(session, actor="user", action="identity_unlinked", account_id=account_id, details={})
            await audit(session, actor="user", action="identity_unlinked", account_id=fresh, details={})

    async def _check(self, session: AsyncSession, target: int, source: int) -> None:
        for account_id in (target, source):
            found = await repo.profile(session, account_id)
            if found is not None and found.hold_reason:
                raise UserError("link_on_hold")
            if await repo.erasing(session, account_id) or (found is not None and found.merged_into):
                raise UserError("link_code_invalid")
        if await jobs_repo.count_for_account(session, source, ACTIVE_JOBS):
            raise UserError("link_busy")
        platforms: Counter[str] = Counter()
        for account_id in (target, source):
            platforms.update(i.platform for i in await accounts_repo.identities(session, account_id))
        if crowded := sorted(name for name, count in platforms.items() if count > self._max_per_platform):
            raise UserError("link_platform_taken", platform=crowded[0], limit=self._max_per_platform)

    async def _move_credits(
        self, session: AsyncSession, source: int, target: int, code_id: int
    ) -> tuple[int, int]:
        forfeited = 0
        trials = [
            entry.delta for entry in await ledger_repo.entries(session, source) if entry.kind == "trial"
        ]
        if trials and await ledger_repo.entry_exists(session, f"trial:{target}"):
            forfeited = min(sum(trials), (await credits.balance(session, source)).one_time)
            await move(
                session,
                source,
                credits.Bucket.ONE_TIME,
                -forfeited,
                kind=PrivacyEntryKind.TRIAL_FORFEIT,
                key=f"link:{code_id}:trial",
                reference=f"account:{target}",
            )
        left = await credits.balance(session, source)
        for bucket, amount in (
            (credits.Bucket.SUBSCRIPTION, left.subscription),
            (credits.Bucket.ONE_TIME, left.one_time),
        ):
            await move(
                session,
                source,
                bucket,
                -amount,
                kind=PrivacyEntryKind.MERGE_OUT,
                key=f"link:{code_id}:out:{bucket}",
                reference=f"account:{target}",
            )
            await move(
                session,
                target,
                bucket,
                amount,
                kind=PrivacyEntryKind.MERGE_IN,
                key=f"link:{code_id}:in:{bucket}",
                reference=f"account:{source}",
            )
        return forfeited, left.total

    async def _merge_profiles(self, session: AsyncSession, source: int, target: int) -> bool:
        """The account that made the code keeps its choices; what it lacks comes from the other one.
        Whether the joined wallet had a trial."""
        theirs = await repo.ensure_profile(session, source)
        ours = await repo.ensure_profile(session, target)
        had_trial = ours.trial_granted or theirs.trial_granted
        values: dict[str, object] = {"trial_granted": had_trial}
        if ours.accepted_at is None and theirs.accepted_at is not None:
            values |= {
                "terms_version": theirs.terms_version,
                "policy_version": theirs.policy_version,
                "accepted_at": theirs.accepted_at,
            }
        for field in ("name", "email"):
            if getattr(ours, field) is None and getattr(theirs, field) is not None:
                values[field] = getattr(theirs, field)
        await repo.update_profile(session, target, **values)
        await repo.update_profile(
            session,
            source,
            merged_into=target,
            name=None,
            email=None,
            direct_chat=None,
            analytics=False,
            marketing=False,
            hold_reason=None,
        )
        mine = await accounts_repo.get(session, target)
        other = await accounts_repo.get(session, source)
        assert mine is not None
        assert other is not None
        if mine.language is None and other.language is not None:
            await accounts_repo.set_language(session, target, other.language)
        if not mine.preferences and other.preferences:
            await accounts_repo.set_preferences(session, target, dict(other.preferences))
        return had_trial
