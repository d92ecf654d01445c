"""`/delete`: a confirmation code, then nothing of the person left in the database or the data folder,
while the ledger and the payment records (pseudonymised) still add up."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select, update

from core.db.models import (
    Account,
    AccountQueue,
    AuditEvent,
    Checkout,
    DeletionRequest,
    Identity,
    Job,
    LedgerEntry,
    Payment,
    PrivacyCode,
    StripeEvent,
    Subscription,
)
from core.db.types import utcnow
from core.messages import Attachment, Reply, Stage
from core.privacy.codes import code_hash
from tests.core.privacy.conftest import EITHER_STORE, GATED
from tests.core.privacy.helpers import (
    accepted,
    account_id,
    database_text,
    en,
    files_bytes,
    finished,
    ledger_sum,
    say_in_group,
    stored_objects,
)
from tests.harness import DatabaseTarget, Harness, harness_for

USER = "u7x9k2q"  # a platform user id that appears nowhere else
PROMPT = "a violet heron over Lake Zyxwvu"
EMAIL = "heron.fan@example.org"
CODE = re.compile(r"/delete ([A-Z0-9]{6})\b")


def reference_png() -> Attachment:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, format="PNG")
    data = buffer.getvalue()

    async def fetch() -> bytes:
        return data

    return Attachment("heron.png", fetch, len(data))


async def code_from(harness: Harness, user: str = USER) -> str:
    [explained] = await harness.say("/delete", user)
    match = CODE.search(explained.text)
    assert match is not None, explained.text
    return match.group(1)


async def a_full_life(harness: Harness) -> dict[str, Any]:
    """Everything a user leaves behind: prompts, images, an upload, an export, a ticket, a profile,
    consents, analytics, and purchases with their Stripe event."""
    await accepted(harness, USER)
    await harness.say("/consent analytics on", USER)
    await harness.say("/marketing on", USER)
    await harness.say(f"/profile set email {EMAIL}", USER)
    await harness.say("/profile set name Hera Heronsdottir", USER)
    replies = await harness.say(f"/imagine {PROMPT}", USER, attachments=(reference_png(),))
    assert replies[0].stage == Stage.QUEUED, replies[0].text
    assert replies[0].job is not None
    await harness.chat.wait_final(replies[0].job)
    await harness.say("/support my heron in Lake Zyxwvu looks odd", USER)
    await harness.say("/invite", USER)  # an invitation remembers where to tell its rewards
    await harness.say("/redeem NOT-A-CODE", USER)
    [export] = await harness.say("/export", USER)
    assert export.media is not None
    account = await account_id(harness, USER)
    async with harness.app.db.transaction() as session:
        session.add(
            Payment(
                account_id=account,
                provider="stripe",
                reference="cs_test_h1",
                kind="pack",
                item="starter",
                credits=500,
                amount=999,
                currency="usd",
                status="paid",
                receipt_url=f"https://pay.example/r?email={EMAIL}",
                chat=f"test:private:{USER}",
            )
        )
        session.add(
            Checkout(
                id="cs_test_h1", account_id=account, item="starter", chat=f"test:private:{USER}", url="u"
            )
        )
        session.add(
            Subscription(id="sub_h1", account_id=account, plan="pro", status="active", chat=f"test:{USER}")
        )
        session.add(
            StripeEvent(
                id="evt_h1",
                type="checkout.session.completed",
                payload={"data": {"object": {"id": "cs_test_h1", "customer_details": {"email": EMAIL}}}},
                created=1,
                handled_at=utcnow(),
            )
        )
    job = await harness.job(replies[0].job)
    storage = harness.app.core.services.storage
    return {
        "account": account,
        "output": await storage.read(job.outputs[0]),
        "upload": await storage.read(job.references[0]),
        "export": export.media,
    }


async def test_delete_explains_what_is_erased_and_kept_and_changes_nothing_yet(gated: Harness) -> None:
    await accepted(gated, USER)
    await finished(gated, PROMPT, USER)
    [explained] = await gated.say("/delete", USER)
    code = CODE.search(explained.text)
    assert code is not None
    assert explained.text == en(
        "privacy.delete.explain", identities=f"test:{USER}", balance=30, code=code.group(1)
    )
    assert explained.private
    [[button]] = explained.choices
    assert button.command == f"/delete {code.group(1)}"
    assert PROMPT in await database_text(gated)
    assert (await gated.balance(USER)).total == 30


async def test_a_wrong_or_expired_code_says_so_and_changes_nothing(gated: Harness) -> None:
    await accepted(gated, USER)
    [none] = await gated.say("/delete ABC123", USER)
    assert none.text == en("error.delete_no_code")
    code = await code_from(gated)
    wrong = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"
    [refused] = await gated.say(f"/delete {wrong}", USER)
    assert refused.error
    assert refused.text == en("error.delete_code_wrong")
    async with gated.app.db.transaction() as session:
        await session.execute(update(PrivacyCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    [expired] = await gated.say(f"/delete {code}", USER)
    assert expired.text == en("error.delete_code_expired")
    assert (await gated.balance(USER)).total == 40
    async with gated.app.db.transaction() as session:
        assert (await session.scalars(select(DeletionRequest))).all() == []
        assert len((await session.scalars(select(Identity))).all()) == 1


async def test_delete_is_refused_in_a_group(gated: Harness) -> None:
    await accepted(gated, USER)
    [reply] = await say_in_group(gated, "/delete", USER)
    assert reply.text == en("error.direct_only", command="/delete")


@EITHER_STORE
async def test_after_deletion_nothing_of_the_person_is_left_but_the_ledger_still_adds_up(
    gated: Harness, database: DatabaseTarget, tmp_path: Path
) -> None:
    life = await a_full_life(gated)
    await accepted(gated, "bob")
    await finished(gated, "bob keeps his lighthouse", "bob")
    code = await code_from(gated)

    [done] = await gated.say(f"/delete {code.lower()}", USER)

    assert done.text == en("privacy.delete.done")
    secrets = [PROMPT, "Zyxwvu", EMAIL, USER, "Heronsdottir"]
    text = await database_text(gated)
    for secret in secrets:
        assert secret not in text, secret
    # the data folder (with the SQLite file and its log) and the stored objects, wherever they are
    stored = {**files_bytes(tmp_path), **await stored_objects(gated)}
    for path, content in stored.items():
        for secret in secrets:
            assert secret.encode() not in content, (secret, path)
            assert secret not in str(path)
        assert content not in (life["output"], life["upload"]), path
    assert not await gated.app.storage.exists(life["export"])
    assert not [name for name in stored if "export" in str(name)]
    assert "bob keeps his lighthouse" in text  # other people's data is untouched

    account = life["account"]
    assert await ledger_sum(gated, account) == 0
    async with gated.app.db.transaction() as session:
        kept = await session.get(Account, account)
        assert kept is not None
        assert (kept.balance_one_time, kept.balance_subscription) == (0, 0)
        kinds = (
            await session.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account))
        ).all()
        [payment] = (await session.scalars(select(Payment))).all()
        [checkout] = (await session.scalars(select(Checkout))).all()
        [subscription] = (await session.scalars(select(Subscription))).all()
        audits = (await session.scalars(select(AuditEvent).where(AuditEvent.account_id == account))).all()
        assert await session.scalar(select(Job.id).where(Job.account_id == account)) is None
        served = select(AccountQueue.last_served_at).where(AccountQueue.account_id == account)
        assert await session.scalar(served) is None, "not even when its images were drawn"
    assert sorted(kinds) == ["forfeit", "reserve", "settle", "trial"]
    assert (payment.account_id, payment.amount, payment.chat, payment.receipt_url) == (
        account,
        999,
        None,
        None,
    )
    assert (checkout.account_id, checkout.chat) == (account, None)
    assert (subscription.account_id, subscription.chat) == (account, None)
    assert {audit.action for audit in audits} >= {"export", "erasure_requested", "erasure_completed"}
    assert all(audit.details == {} for audit in audits)
    await gated.assert_ledger_consistent()

    [stranger] = await gated.say("/balance", USER)  # the identity is unknown now: a newcomer
    assert stranger.text.startswith(en("privacy.prompt", terms_version="t1").split("\n")[0])
    assert await account_id(gated, USER) != account


async def test_a_legal_hold_suspends_deletion_and_says_why(gated: Harness) -> None:
    await accepted(gated, USER)
    account = await account_id(gated, USER)
    consents = gated.app.core.services.privacy.consents
    assert await consents.hold(account, "litigation 2026-17", actor="cli:operator")

    [refused] = await gated.say("/delete", USER)
    assert refused.error
    assert refused.text == en("error.deletion_on_hold", contact="support@getimage2.com")

    assert await consents.hold(account, None, actor="cli:operator")
    code = await code_from(gated)
    [done] = await gated.say(f"/delete {code}", USER)
    assert done.text == en("privacy.delete.done")


async def test_unfinished_jobs_are_refunded_before_the_balance_is_forfeited(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, run_workers=False, privacy=GATED) as idle:
        await accepted(idle, USER)
        await idle.imagine("a queued heron --res 2k", USER)
        account = await account_id(idle, USER)
        code = await code_from(idle)
        [done] = await idle.say(f"/delete {code}", USER)
        assert done.text == en("privacy.delete.done")
        assert await ledger_sum(idle, account) == 0
        async with idle.app.db.transaction() as session:
            kinds = (
                await session.scalars(select(LedgerEntry.kind).where(LedgerEntry.account_id == account))
            ).all()
        assert sorted(kinds) == ["forfeit", "refund", "reserve", "trial"]
        await idle.assert_ledger_consistent()


async def test_two_confirmations_at_once_erase_once_and_both_are_told(gated: Harness) -> None:
    await accepted(gated, USER)
    account = await account_id(gated, USER)
    code = await code_from(gated)

    answers = await asyncio.gather(*(gated.say(f"/delete {code}", USER) for _ in range(2)))

    assert [[reply.text for reply in replies] for replies in answers] == [[en("privacy.delete.done")]] * 2
    async with gated.app.db.transaction() as session:
        [request] = (await session.scalars(select(DeletionRequest))).all()
        forfeits = (
            await session.scalars(
                select(LedgerEntry.delta).where(
                    LedgerEntry.account_id == account, LedgerEntry.kind == "forfeit"
                )
            )
        ).all()
    assert (request.account_id, request.status) == (account, "done")
    assert forfeits == [-40]
    assert await ledger_sum(gated, account) == 0
    await gated.assert_ledger_consistent()


async def test_two_deletion_requests_at_once_leave_exactly_one_valid_code(gated: Harness) -> None:
    await accepted(gated, USER)
    answers: list[list[Reply]] = await asyncio.gather(*(gated.say("/delete", USER) for _ in range(2)))
    codes = [CODE.search(replies[0].text).group(1) for replies in answers]  # type: ignore[union-attr]
    account = await account_id(gated, USER)
    async with gated.app.db.transaction() as session:
        [stored] = (await session.scalars(select(PrivacyCode.code_hash))).all()
    [valid] = [code for code in codes if code_hash("delete", code, str(account)) == stored]
    [stale] = [code for code in codes if code != valid]
    [wrong] = await gated.say(f"/delete {stale}", USER)
    assert wrong.text == en("error.delete_code_wrong")
    [done] = await gated.say(f"/delete {valid}", USER)
    assert done.text == en("privacy.delete.done")


async def test_an_interrupted_erasure_finishes_at_the_next_start(
    database: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness_for(database, tmp_path, privacy=GATED) as before:
        await accepted(before, USER)
        job = await finished(before, PROMPT, USER)
        output = (await before.job(job)).outputs[0]
        code = await code_from(before)

        async def crash(_names: list[str]) -> int:
            raise OSError("the machine went down")

        monkeypatch.setattr(before.app.storage, "remove", crash)
        [failed] = await before.say(f"/delete {code}", USER)
        assert failed.text.startswith(en("error.internal", ref="").split("{")[0][:20])
        assert await before.app.storage.exists(output)  # the crash came before the files were removed
        async with before.app.db.transaction() as session:
            [request] = (await session.scalars(select(DeletionRequest))).all()
        assert request.status == "pending"
        monkeypatch.undo()

    async with harness_for(database, tmp_path, privacy=GATED) as after:  # the restart finishes it
        assert not await after.app.storage.exists(output)
        async with after.app.db.transaction() as session:
            [request] = (await session.scalars(select(DeletionRequest))).all()
        assert (request.status, request.files) == ("done", [])
        assert PROMPT not in await database_text(after)
