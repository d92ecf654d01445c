"""One wallet across platforms: `/link` joins an identity from another platform to the account, with
ledger entries that keep every sum exact; `/unlink` starts that identity over; one trial per person."""

from __future__ import annotations

import re

from sqlalchemy import select

from core import credits
from core.db.models import Identity
from core.i18n import LANGUAGES, catalog
from core.messages import ChatRef, Incoming, Reply, UserRef
from core.privacy.ledger import PrivacyEntryKind
from tests.core.privacy.helpers import accepted, account_id, en, finished, ledger_sum, say_in_group
from tests.harness import Harness

CODE = re.compile(r"/link ([A-Z0-9]{8})\b")


async def elsewhere(harness: Harness, message: str, user: str = "a-on-discord") -> list[Reply]:
    """A message from the same person on another platform."""
    incoming = Incoming(UserRef("other", user), ChatRef("other", "dm", f"chan-{user}"), message)
    return await harness.app.core.dispatch(incoming)


async def link_code(harness: Harness, user: str = "alice") -> str:
    [reply] = await harness.say("/link", user)
    match = CODE.search(reply.text)
    assert match is not None, reply.text
    assert reply.private
    return match.group(1)


async def balance_elsewhere(harness: Harness, user: str = "a-on-discord") -> int:
    account = await harness.app.core.services.accounts.find("other", user)
    assert account is not None
    async with harness.app.db.transaction() as session:
        return (await credits.balance(session, account.id)).total


async def test_a_new_identity_joins_the_wallet_and_sees_its_history(gated: Harness) -> None:
    await accepted(gated)
    job = await finished(gated, "a shared heron")
    code = await link_code(gated)

    [joined] = await elsewhere(gated, f"/link {code.lower()}")  # no terms to accept: the person did

    assert joined.text == en("privacy.link.joined", moved=0, balance=30)
    [history] = await elsewhere(gated, "/history")
    assert f"#{job}" in history.text
    assert await balance_elsewhere(gated) == (await gated.balance()).total == 30
    alice = await account_id(gated)
    async with gated.app.db.transaction() as session:
        owners = (await session.scalars(select(Identity.account_id))).all()
    assert owners == [alice, alice]
    [again] = await elsewhere(gated, f"/link {code}")
    assert again.text == en("error.link_code_invalid")
    await gated.assert_ledger_consistent()


async def test_joining_moves_the_balance_exactly_and_never_keeps_a_second_trial(gated: Harness) -> None:
    await accepted(gated)
    await finished(gated, "alice spends ten")
    await elsewhere(gated, "/accept")  # the other identity got a trial of its own: 40
    other = await gated.app.core.services.accounts.find("other", "a-on-discord")
    assert other is not None
    async with gated.app.db.transaction() as session:
        await credits.grant(session, other.id, 100, kind=credits.EntryKind.ADMIN_GRANT, key="bought-100")
    code = await link_code(gated)

    [joined] = await elsewhere(gated, f"/link {code}")

    # 140 on the other account: its 40 trial credits stay behind, the 100 bought ones move over
    assert joined.text == "\n".join(
        [en("privacy.link.joined", moved=100, balance=130), en("privacy.link.forfeited", credits=40)]
    )
    assert (await gated.balance()).total == 130
    [balance] = await gated.say("/balance")
    assert f"+100  {en('ledger.merge_in')}" in balance.text
    assert await ledger_sum(gated, other.id) == 0
    assert await ledger_sum(gated, await account_id(gated)) == 130
    await gated.assert_ledger_consistent()


async def test_unlink_starts_the_identity_over_with_an_empty_account_and_no_new_trial(gated: Harness) -> None:
    await accepted(gated)
    code = await link_code(gated)
    await elsewhere(gated, f"/link {code}")

    [unlinked] = await elsewhere(gated, "/unlink")

    assert unlinked.text == en("privacy.link.unlinked")
    assert await balance_elsewhere(gated) == 0
    [refused] = await elsewhere(gated, "/imagine a cat")  # accepted before: no terms prompt, no trial
    assert refused.text.startswith(en("error.insufficient_credits", balance=0, cost=10))
    assert (await gated.balance()).total == 40
    [only] = await gated.say("/unlink")
    assert only.text == en("error.unlink_only_identity")
    await gated.assert_ledger_consistent()


async def test_bad_codes_and_groups_are_refused(gated: Harness) -> None:
    await accepted(gated)
    code = await link_code(gated)
    [mistyped] = await elsewhere(gated, "/link ZZZZ9999")
    assert mistyped.text == en("error.link_code_invalid")
    [same] = await gated.say(f"/link {code}")
    assert same.text == en("error.link_same_account")
    [group] = await say_in_group(gated, "/link")
    assert group.text == en("error.direct_only", command="/link")


def test_every_ledger_entry_privacy_writes_has_a_name_in_both_languages() -> None:
    for language in LANGUAGES:
        assert {f"ledger.{kind.value}" for kind in PrivacyEntryKind} <= set(catalog(language))
