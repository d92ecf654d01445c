"""`image2bot --log-level DEBUG run` with every door on (Telegram by webhook, Discord, WeCom), Stripe
and OpenAI, one `/imagine` through each door, an e-mail given in `/profile` and arriving with a Stripe
checkout: the log holds no token, webhook secret, API key, e-mail address or prompt."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from platforms.telegram.adapter import SECRET_HEADER
from tests.cli import TIMEOUT_S, free_port, serving
from tests.fakes.discord_api import TOKEN as DISCORD_TOKEN
from tests.fakes.discord_api import DiscordDouble, discord_api  # noqa: F401  (a fixture)
from tests.fakes.openai_images import OpenAIImagesDouble
from tests.fakes.stripe_api import StripeAPIDouble, event, sign_webhook
from tests.fakes.stripe_api import stripe_api_fixture as stripe_api  # noqa: F401  (a fixture)
from tests.fakes.telegram_api import TelegramBotAPIDouble
from tests.fakes.wecom_api import WeComAPIDouble
from tests.fakes.wecom_crypto import WeComCallbackCrypto, member_text
from tests.harness import DatabaseTarget
from tests.platforms.console.test_console_e2e import _env
from tests.platforms.discord.conftest import ALICE, webhook
from tests.platforms.telegram.conftest import QUICK_PACE_ENV
from tests.platforms.wecom.conftest import AES_KEY, AGENT_ID, CORP_ID, ZHANGSAN
from tests.platforms.wecom.conftest import SECRET as WECOM_SECRET
from tests.platforms.wecom.conftest import TOKEN as WECOM_TOKEN
from tests.scale.conftest import command, healthy

pytestmark = [pytest.mark.spawns, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]

BOT_TOKEN = "7012345678:AAHk3xZrT9qLmN0pQwErTyUiOpAsDfGhJkL"  # shaped like a real one
TELEGRAM_SECRET = "telegram-webhook-secret-" + secrets.token_hex(4)
STRIPE_SECRET = "whsec_" + secrets.token_hex(12)
OPENAI_KEY = "sk-proj-" + secrets.token_hex(12)
EMAIL = "ann.q.public@mail.example.org"
USER = 5151
PROMPTS = ("a lighthouse of Zqwvx", "a castle of Zqwvx", "a bridge of Zqwvx")


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[TelegramBotAPIDouble]:
    double = TelegramBotAPIDouble(BOT_TOKEN)
    await double.start()
    yield double
    await double.stop()


@pytest_asyncio.fixture
async def wecom() -> AsyncIterator[WeComAPIDouble]:
    double = WeComAPIDouble(CORP_ID, WECOM_SECRET)
    await double.start()
    yield double
    await double.stop()


async def test_debug_logs_of_every_door_hold_no_secret_email_or_prompt(
    database: DatabaseTarget,
    tmp_path: Path,
    telegram: TelegramBotAPIDouble,
    discord_api: DiscordDouble,  # noqa: F811
    wecom: WeComAPIDouble,
    stripe_api: StripeAPIDouble,  # noqa: F811
    openai_double: OpenAIImagesDouble,
) -> None:
    port = free_port()
    env = _env(
        database,
        IMAGE2BOT_WEB__PORT=str(port),
        IMAGE2BOT_WEB__PUBLIC_URL="https://bot.example.com",
        IMAGE2BOT_PRIVACY__REQUIRE_ACCEPTANCE="false",
        IMAGE2BOT_GENERATION__PROVIDER="openai",
        IMAGE2BOT_OPENAI__API_KEY=OPENAI_KEY,
        IMAGE2BOT_OPENAI__BASE_URL=openai_double.base_url,
        IMAGE2BOT_TELEGRAM__ENABLED="true",
        IMAGE2BOT_TELEGRAM__TOKEN=BOT_TOKEN,
        IMAGE2BOT_TELEGRAM__BASE_URL=telegram.base_url,
        IMAGE2BOT_TELEGRAM__MODE="webhook",
        IMAGE2BOT_TELEGRAM__WEBHOOK_SECRET=TELEGRAM_SECRET,
        **QUICK_PACE_ENV,
        IMAGE2BOT_DISCORD__ENABLED="true",
        IMAGE2BOT_DISCORD__TOKEN=DISCORD_TOKEN,
        IMAGE2BOT_DISCORD__API_BASE_URL=discord_api.api,
        IMAGE2BOT_WECOM__ENABLED="true",
        IMAGE2BOT_WECOM__CORP_ID=CORP_ID,
        IMAGE2BOT_WECOM__AGENT_ID=str(AGENT_ID),
        IMAGE2BOT_WECOM__SECRET=WECOM_SECRET,
        IMAGE2BOT_WECOM__TOKEN=WECOM_TOKEN,
        IMAGE2BOT_WECOM__ENCODING_AES_KEY=AES_KEY,
        IMAGE2BOT_WECOM__API_BASE_URL=wecom.base_url,
        IMAGE2BOT_STRIPE__ENABLED="true",
        IMAGE2BOT_STRIPE__API_KEY=stripe_api.api_key,
        IMAGE2BOT_STRIPE__WEBHOOK_SECRET=STRIPE_SECRET,
        IMAGE2BOT_STRIPE__API_BASE=stripe_api.base_url,
    )
    base = f"http://127.0.0.1:{port}"
    async with serving("--log-level", "DEBUG", "run", cwd=tmp_path, env=env) as served:
        await healthy(port)
        async with aiohttp.ClientSession(base, raise_for_status=True) as http, asyncio.timeout(TIMEOUT_S):

            async def on_telegram(update_id: int, text: str) -> None:
                """A Telegram message by webhook; returns once the bot has answered it."""
                answered = len(telegram.of("sendMessage", USER))
                body = json.dumps(command(update_id, USER, text))
                await http.post("/telegram/webhook", data=body, headers={SECRET_HEADER: TELEGRAM_SECRET})
                await telegram.wait_for("sendMessage", answered + 1, chat_id=USER)

            await telegram.wait_for("setWebhook")
            await on_telegram(1, f"/imagine {PROMPTS[0]}")
            await telegram.wait_for("sendPhoto", chat_id=USER)
            await on_telegram(2, f"/profile set email {EMAIL}")
            await on_telegram(3, "/buy starter")
            [checkout] = stripe_api.checkout_sessions.values()
            completed = {**stripe_api.complete_session(checkout["id"]), "customer_details": {"email": EMAIL}}
            payload = json.dumps(event("checkout.session.completed", completed)).encode()
            notices = len(telegram.of("sendMessage", USER))
            await http.post("/stripe/webhook", data=payload, headers=sign_webhook_header(payload))
            await telegram.wait_for("sendMessage", notices + 1, chat_id=USER)  # the credits arrived

            await discord_api.identified.wait()
            asked = discord_api.slash("imagine", {"prompt": PROMPTS[1]}, who=ALICE)
            await discord_api.dispatch("INTERACTION_CREATE", asked)
            await discord_api.wait_for("POST", webhook(asked))

            crypto = WeComCallbackCrypto(WECOM_TOKEN, AES_KEY, CORP_ID)
            xml = member_text(
                CORP_ID, ZHANGSAN, f"/imagine {PROMPTS[2]}", 7_000_000_000_000_000_001, AGENT_ID
            )
            callback = crypto.message(xml)
            await http.post("/wecom/callback", params=callback.query, data=callback.body)
            await wecom.wait_for("message/send", where=lambda call: call.msgtype == "image")

    log = served.log
    assert served.returncode == 0, log[-4000:]
    assert " DEBUG " in log, "the log was at DEBUG"
    assert "Traceback" not in log, log[-4000:]
    leaks = {
        "telegram token": BOT_TOKEN,
        "telegram token id": BOT_TOKEN.split(":")[1],
        "telegram webhook secret": TELEGRAM_SECRET,
        "discord token": DISCORD_TOKEN,
        "wecom secret": WECOM_SECRET,
        "wecom callback token": WECOM_TOKEN,
        "wecom aes key": AES_KEY,
        "stripe key": stripe_api.api_key,
        "stripe webhook secret": STRIPE_SECRET,
        "openai key": OPENAI_KEY,
        "e-mail": EMAIL,
        **{f"prompt {n}": prompt for n, prompt in enumerate(PROMPTS)},
        "prompt word": "Zqwvx",
    }
    assert [name for name, secret in leaks.items() if secret in log] == []


def sign_webhook_header(payload: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign_webhook(payload, STRIPE_SECRET), "Content-Type": "application/json"}
