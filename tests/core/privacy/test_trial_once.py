"""One free trial per platform identity, ever: not again after `/delete`, not by way of `/link` and
`/unlink`, across restarts; the identities are kept only as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from sqlalchemy import delete, select

from core.db.models import PlatformState, TrialGrant
from core.policy import CreditSettings
from core.privacy.identities import STATE_KEY
from tests.core.privacy.conftest import GATED
from tests.core.privacy.helpers import accepted, database_text, en
from tests.core.privacy.test_erasure import code_from
from tests.core.privacy.test_linking import elsewhere, link_code
from tests.harness import DatabaseTarget, Harness, harness_for

TRIAL = CreditSettings().trial
ACCEPTED = en("privacy.accept.done", terms_version="t1", policy_version="p1")


async def erase(harness: Harness, user: str = "alice") -> None:
    [done] = await harness.say(f"/delete {await code_from(harness, user)}", user)
    assert done.text == en("privacy.delete.done")


async def test_delete_then_accept_gives_no_second_trial_and_says_why(gated: Harness) -> None:
    [first] = await gated.say("/accept")
    assert first.text == "\n".join([ACCEPTED, en("privacy.accept.trial", credits=TRIAL)])
    await erase(gated)

    [again] = await gated.say("/accept")

    assert again.text == "\n".join([ACCEPTED, en("privacy.accept.no_trial")])
    assert (await gated.balance()).total == 0
    [refused] = await gated.say("/imagine a second free fox")
    assert refused.text.startswith(en("error.insufficient_credits", cost=10, balance=0))
    [bob] = await gated.say("/accept", "bob")  # a newcomer still gets one
    assert bob.text.endswith(en("privacy.accept.trial", credits=TRIAL))
    await gated.assert_ledger_consistent()


async def test_the_generated_secret_outlives_a_restart(database: DatabaseTarget, tmp_path: Path) -> None:
    async with harness_for(database, tmp_path, privacy=GATED) as before:
        await accepted(before)
        await erase(before)
    async with harness_for(database, tmp_path, privacy=GATED) as after:
        [again] = await after.say("/accept")
        assert again.text.endswith(en("privacy.accept.no_trial"))
        async with after.app.db.transaction() as session:
            kept = await session.get(PlatformState, STATE_KEY)
        assert kept is not None
        assert (await after.balance()).total == 0
        await after.assert_ledger_consistent()


async def test_identities_are_kept_as_hashes_keyed_with_the_configured_secret(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    secret = "a-server-secret-of-the-operator"
    async with harness_for(database, tmp_path, privacy={**GATED, "identity_hash_secret": secret}) as bot:
        await accepted(bot, "u7x9k2q")
        await erase(bot, "u7x9k2q")
        async with bot.app.db.transaction() as session:
            kept = (await session.scalars(select(TrialGrant.identity_hash))).all()
            generated = await session.get(PlatformState, STATE_KEY)
        assert kept == [hmac.new(secret.encode(), b"test:u7x9k2q", hashlib.sha256).hexdigest()]
        assert generated is None
        assert "u7x9k2q" not in await database_text(bot)


async def test_linking_and_unlinking_is_no_way_to_a_second_trial(gated: Harness) -> None:
    await accepted(gated)
    code = await link_code(gated)
    await elsewhere(gated, f"/link {code}")  # an identity that never had a trial joins alice's wallet
    await elsewhere(gated, "/unlink")
    [explained] = await elsewhere(gated, "/delete")
    [code] = [button.command.split()[1] for row in explained.choices for button in row]
    await elsewhere(gated, f"/delete {code}")

    [again] = await elsewhere(gated, "/accept")

    assert again.text == "\n".join([ACCEPTED, en("privacy.accept.no_trial")])
    assert (await gated.balance()).total == TRIAL
    await gated.assert_ledger_consistent()


async def test_an_account_whose_trial_predates_the_hashes_is_remembered_when_erased(gated: Harness) -> None:
    await accepted(gated)
    async with gated.app.db.transaction() as session:  # as granted by an earlier version of the bot
        await session.execute(delete(TrialGrant))
    await erase(gated)

    [again] = await gated.say("/accept")

    assert again.text.endswith(en("privacy.accept.no_trial"))
    await gated.assert_ledger_consistent()
