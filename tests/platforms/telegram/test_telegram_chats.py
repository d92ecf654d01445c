"""Which Telegram updates the bot answers, where, and for whose credits."""

from __future__ import annotations

from typing import Any

from core.i18n import translate
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME
from tests.platforms.telegram.conftest import ALICE, BOB, GROUP, TRIAL, TelegramBot


async def test_in_a_group_only_what_is_addressed_to_the_bot_is_answered(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    await telegram_bot.say("/imagine a cat", user=BOB, chat=GROUP)  # for whichever bot: not ours
    await telegram_bot.say("/imagine@some_other_bot a cat", user=BOB, chat=GROUP)
    await telegram_bot.say("nice picture", user=BOB, chat=GROUP)
    assert api.of("sendMessage", GROUP) == []

    asked = await telegram_bot.say(f"/imagine@{BOT_USERNAME} a cat", user=BOB, chat=GROUP)

    [ack] = api.of("sendMessage", GROUP)
    assert "queued" in ack.fields["text"]
    assert ack.fields["reply_parameters"]["message_id"] == asked["message_id"]
    await api.wait_for("sendPhoto", chat_id=GROUP)
    assert await telegram_bot.balance(BOB) == TRIAL - 10, "the user who asked pays"
    assert await telegram_bot.harness.app.core.services.accounts.find("telegram", str(ALICE)) is None


async def test_a_mention_or_a_reply_to_the_bot_addresses_it_in_a_group(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    await telegram_bot.say(f"@{BOT_USERNAME} /balance", user=BOB, chat=GROUP)
    bot_message = {
        "message_id": 500,
        "date": 0,
        "chat": {"id": GROUP, "type": "supergroup"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Image 2", "username": BOT_USERNAME},
        "text": "earlier",
    }
    await telegram_bot.say("/history", user=BOB, chat=GROUP, reply_to_message=bot_message)

    privately = [call.fields["text"] for call in api.of("sendMessage", BOB)]
    assert len(privately) == 2
    assert privately[0].startswith("Balance:")
    assert privately[1] == translate("en", "history.empty")
    notes = [call.fields["text"] for call in api.of("sendMessage", GROUP)]
    assert notes == [translate("en", "private.sent")] * 2


async def test_private_answers_are_never_shown_in_the_group_when_the_asker_never_opened_a_private_chat(
    telegram_bot: TelegramBot,
) -> None:
    api = telegram_bot.api
    api.fail_next("sendMessage", 403, "Forbidden: bot can't initiate conversation with a user")
    await telegram_bot.say(f"/balance@{BOT_USERNAME}", user=BOB, chat=GROUP)
    [answer] = api.of("sendMessage", GROUP)
    pointer = translate("en", "notices.needs_private_named", name=f"User{BOB}")
    assert answer.fields["text"] == f"{pointer}\nhttps://t.me/{BOT_USERNAME}?start=notices"


async def test_updates_that_are_not_for_the_bot_are_ignored_without_error(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    before = len(api.calls)
    edited = telegram_bot.message("/balance")
    sticker = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1}
    sticker |= {"is_animated": False, "is_video": False}
    member = {"id": 7, "is_bot": False, "first_name": "N"}
    channel = {**telegram_bot.message("/balance", chat=-100999), "chat": {"id": -100999, "type": "channel"}}
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
    updates: list[dict[str, Any]] = [
        {"edited_message": edited},
        {"channel_post": channel},
        {"message": telegram_bot.message(None, sticker=sticker)},
        {"message": telegram_bot.message(None, chat=GROUP, new_chat_members=[member])},
        {"message": telegram_bot.message(None, chat=GROUP, left_chat_member=member)},
        {"message": telegram_bot.message(None, photo=photo)},  # no command: kept for a later reply
    ]
    for update in updates:
        await telegram_bot.deliver({"update_id": api.next_update_id(), **update})

    assert api.calls[before:] == []


async def test_a_user_who_blocked_the_bot_is_not_written_to_again_until_they_return(
    telegram_bot: TelegramBot,
) -> None:
    api = telegram_bot.api
    api.fail_next("sendPhoto", 403, "Forbidden: bot was blocked by the user")
    await telegram_bot.say("/imagine a cat")
    await api.wait_for("sendPhoto", chat_id=ALICE)
    await telegram_bot.harness.app.notifier.drain()

    await telegram_bot.say("/imagine a dog")  # the answer to a message is still sent...
    await api.wait_for("sendPhoto", 2, chat_id=ALICE)  # ...and writing again made the chat reachable
    assert await telegram_bot.balance() == TRIAL - 20, "a result that could not be delivered is still paid"


async def test_results_for_a_blocked_chat_are_dropped_not_retried(telegram_bot: TelegramBot) -> None:
    api = telegram_bot.api
    harness = telegram_bot.harness
    await telegram_bot.say("/imagine a cat")
    api.fail_next("sendPhoto", 403, "Forbidden: bot was blocked by the user")
    await api.wait_for("sendPhoto", chat_id=ALICE)
    await harness.app.notifier.drain()
    await harness.app.notifier.drain()
    assert len(api.of("sendPhoto", ALICE)) == 1, "no retry after a block"
    later = [call for call in api.of("sendMessage", ALICE) if "queued" not in call.fields["text"]]
    assert later == [], "the rest of that result was given up too"
    await harness.assert_ledger_consistent()
