"""Codes and invitations through Discord's slash commands: /invite answers the asker alone with the
code an invitee types, /redeem takes a credit code or that invitation."""

from __future__ import annotations

import re

from core.i18n import translate
from core.policy import ReferralSettings
from tests.platforms.discord.conftest import ALICE, BOB, DiscordBot, answered

EPHEMERAL = 64


async def test_an_invitation_and_a_code_through_slash_commands(bot: DiscordBot) -> None:
    api = bot.api
    invited = await answered(api, bot.deliver(api.slash("invite", {}, who=ALICE)))
    assert invited["flags"] & EPHEMERAL, "an invitation is the asker's alone"
    found = re.search(r"ref-[A-Z0-9]{8}", invited["content"])
    assert found is not None, invited["content"]
    assert "https://" not in invited["content"]  # Discord has no link that starts a chat with a code

    accepted = await answered(api, bot.deliver(api.slash("redeem", {"code": found.group(0)}, who=BOB)))
    assert accepted["content"] == translate(
        "en", "invite.accepted", credits=ReferralSettings().invitee_credits
    )

    code, _ = await bot.harness.app.core.services.codes.create(credits_each=15, uses=1, actor="cli:test")
    before = await bot.balance(BOB)
    redeemed = await answered(api, bot.deliver(api.slash("redeem", {"code": code}, who=BOB)))
    assert redeemed["content"] == translate("en", "redeem.done", credits=15, balance=before + 15)
    used_up = await answered(api, bot.deliver(api.slash("redeem", {"code": code}, who=ALICE)))
    assert used_up["content"] == translate("en", "error.redeem_used_up")
