"""`/buy` in a group whose wallet is on: the Checkout Session credits the group's wallet, once however
often Stripe reports it, and the buyer is told privately; plans stay personal."""

from __future__ import annotations

from core import credits
from core.i18n import translate
from core.messages import ChatRef, Incoming, Reply, declared
from tests.core.payments.conftest import Shop

GROUP = ChatRef("test", "group", "club")


async def in_group(shop: Shop, message: str, user: str, *, admin: bool = False) -> list[Reply]:
    incoming = Incoming(
        shop.harness.user(user),
        GROUP,
        message,
        private_chat=ChatRef("test", "private", user),
        group_admin=declared(admin),
    )
    return await shop.harness.app.core.dispatch(incoming)


async def test_a_pack_bought_in_the_group_tops_up_its_wallet_once(shop: Shop) -> None:
    await in_group(shop, "/group wallet on", "alice", admin=True)
    [link] = await in_group(shop, "/buy starter", "bob")
    assert link.private
    [session] = [s for s in shop.stripe.checkout_sessions.values() if s["url"] in link.text]
    assert link.text.startswith(
        f"Pay here for Starter: 500 credits, $9.99, for the group's wallet: {session['url']}"
    )

    await shop.deliver("checkout.session.completed", shop.stripe.complete_session(session["id"]), times=3)

    wallet = await shop.harness.app.core.services.groups.wallet_of(GROUP)
    assert wallet is not None
    async with shop.harness.app.db.read() as db:
        assert (await credits.balance(db, wallet)).total == 500
    assert (await shop.balance("bob")).total == 40, "the buyer's own credits are untouched"
    told = translate("en", "group.topped_up", credits=500, balance=500)
    assert [reply.text for reply in shop.harness.chat.sent["bob"] if reply.text.startswith(told)] != []
    assert shop.harness.chat.sent["club"] == []
    await shop.harness.assert_ledger_consistent()


async def test_a_plan_is_not_bought_for_a_group_wallet(shop: Shop) -> None:
    await in_group(shop, "/group wallet on", "alice", admin=True)
    [refusal] = await in_group(shop, "/buy pro", "bob")
    assert refusal.text == translate("en", "error.group_packs_only")
    assert shop.stripe.checkout_sessions == {}
