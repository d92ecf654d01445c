"""`/link` cannot be guessed or shared: 5 wrong codes an hour per identity, codes used once, and one
identity per platform in a wallet (the terms forbid sharing accounts)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from core.db.models import Identity, LinkFailure
from core.db.types import utcnow
from core.messages import ChatRef, Incoming, Reply, UserRef
from core.policy import CreditSettings
from core.privacy.linking import FAILURE_WINDOW, WRONG_CODES
from tests.core.privacy.conftest import GATED
from tests.core.privacy.helpers import accepted, en
from tests.core.privacy.test_erasure import code_from
from tests.core.privacy.test_linking import elsewhere, link_code
from tests.harness import DatabaseTarget, Harness, harness_for

TRIAL = CreditSettings().trial


async def owners(harness: Harness) -> dict[str, int]:
    async with harness.app.db.transaction() as session:
        rows = await session.execute(select(Identity.platform_user_id, Identity.account_id))
        return dict(rows.all())


async def test_after_five_wrong_codes_linking_pauses_for_an_hour_and_says_until_when(gated: Harness) -> None:
    await accepted(gated)
    code = await link_code(gated)
    for wrong in ("ZZZZ9999", "ZZZZ9998", "not-a-code", "x", "ZZZZ9996"):
        [refused] = await elsewhere(gated, f"/link {wrong}")
        assert refused.text == en("error.link_code_invalid")

    [paused] = await elsewhere(gated, f"/link {code}")  # even the right code waits now

    assert paused.text in {en("error.link_paused", wait=wait) for wait in ("59 minutes", "1 hour")}
    assert len(set((await owners(gated)).values())) == 2
    [other] = await gated.say("/link ZZZZ9999")  # another identity has tries of its own
    assert other.text == en("error.link_code_invalid")

    async with gated.app.db.transaction() as session:  # an hour later
        await session.execute(update(LinkFailure).values(at=utcnow() - FAILURE_WINDOW))
    [joined] = await elsewhere(gated, f"/link {code}")
    assert joined.text == en("privacy.link.joined", moved=0, balance=TRIAL)
    await gated.assert_ledger_consistent()


async def test_wrong_codes_are_forgotten_with_the_identity_and_when_they_age(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, privacy=GATED) as bot:
        await accepted(bot, "u7x9k2q")
        await bot.say("/link ZZZZ9999", "u7x9k2q")
        await bot.say("/link ZZZZ9999", "bob")
        [done] = await bot.say(f"/delete {await code_from(bot, 'u7x9k2q')}", "u7x9k2q")
        assert done.text == en("privacy.delete.done")
        assert await failures(bot) == ["test:bob"]
        retention = bot.app.core.services.privacy.retention
        await retention.purge()
        assert await failures(bot) == ["test:bob"]  # it still counts
        await retention.purge(now=utcnow() + FAILURE_WINDOW)
        assert await failures(bot) == []


async def failures(harness: Harness) -> list[str]:
    async with harness.app.db.transaction() as session:
        return list(await session.scalars(select(LinkFailure.identity)))


async def test_a_code_joins_one_identity_once(gated: Harness) -> None:
    await accepted(gated)
    code = await link_code(gated)

    answers = await asyncio.gather(
        elsewhere(gated, f"/link {code}"), third_platform(gated, f"/link {code}"), return_exceptions=True
    )

    texts = sorted(reply.text for replies in answers if isinstance(replies, list) for reply in replies)
    assert texts == sorted([en("privacy.link.joined", moved=0, balance=TRIAL), en("error.link_code_invalid")])
    [again] = await third_platform(gated, f"/link {code}")
    assert again.text == en("error.link_code_invalid")
    await gated.assert_ledger_consistent()


async def third_platform(harness: Harness, message: str) -> list[Reply]:
    incoming = Incoming(UserRef("third", "a-on-wecom"), ChatRef("third", "dm", "chan-third"), message)
    return await harness.app.core.dispatch(incoming)


async def test_a_wallet_links_one_identity_per_platform(gated: Harness) -> None:
    await accepted(gated)
    [joined] = await elsewhere(gated, f"/link {await link_code(gated)}")
    assert joined.text == en("privacy.link.joined", moved=0, balance=TRIAL)
    await elsewhere(gated, "/accept", "b-on-discord")  # someone else, with a trial of their own

    [refused] = await elsewhere(gated, f"/link {await link_code(gated)}", "b-on-discord")

    assert refused.text == en("error.link_platform_taken", platform="other", limit=1)
    assert len(set((await owners(gated)).values())) == 2
    assert (await gated.balance()).total == TRIAL
    await gated.assert_ledger_consistent()


async def test_the_limit_per_platform_is_configurable(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path, privacy={**GATED, "max_identities_per_platform": 2}) as bot:
        await accepted(bot)
        await elsewhere(bot, f"/link {await link_code(bot)}")
        [joined] = await elsewhere(bot, f"/link {await link_code(bot)}", "b-on-discord")
        assert joined.text == en("privacy.link.joined", moved=0, balance=TRIAL)
        [refused] = await elsewhere(bot, f"/link {await link_code(bot)}", "c-on-discord")
        assert refused.text == en("error.link_platform_taken", platform="other", limit=2)


def test_the_limits_are_five_wrong_codes_an_hour() -> None:
    assert WRONG_CODES == 5
    assert timedelta(hours=1) == FAILURE_WINDOW
