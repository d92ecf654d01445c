"""A job's result on its way to a WeCom member, through wechatpy and the durable outbox. A result is
an image and then a text (its caption and actions): uploads and sends refused with 5xx, rate limits
outlasting the client's own retries, "system busy" and calls never answered are all sent again, and
each message arrives exactly once: an image that went out is not sent again for its caption's sake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from core import credits
from core.messages import Incoming, Stage, UserRef
from platforms.wecom.client import RATE_LIMITED
from platforms.wecom.render import member_chat
from tests.fakes.wecom_api import Call, WeComAPIDouble
from tests.faults.helpers import OUTBOX_POLL_S, TRIAL
from tests.harness import DatabaseTarget, Harness, harness_for
from tests.platforms.wecom.conftest import ZHANGSAN, api, wecom_adapter  # noqa: F401

# A platform failing does not depend on the database: these run on SQLite only.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

SYSTEM_BUSY = -1


@pytest_asyncio.fixture
async def bot(
    database: DatabaseTarget,
    tmp_path: Path,
    api: WeComAPIDouble,  # noqa: F811
) -> AsyncIterator[Harness]:
    """The bot with its WeCom door for sending; a request WeCom leaves unanswered fails after 0.3 s."""
    async with harness_for(database, tmp_path) as harness:
        harness.app.notifier.register(wecom_adapter(harness, api, request_timeout_s=0.3))
        harness.app.notifier.poll_interval_s = OUTBOX_POLL_S
        yield harness


def is_image(call: Call) -> bool:
    return call.msgtype == "image"


def is_caption(call: Call) -> bool:
    return call.msgtype == "text" and "a cat" in call.content


async def test_a_result_refused_in_every_way_arrives_once_without_its_image_sent_twice(
    bot: Harness,
    api: WeComAPIDouble,  # noqa: F811
) -> None:
    api.fail_http_next("media/upload", 503)
    api.fail_next("message/send", RATE_LIMITED, RATE_LIMITED, RATE_LIMITED, where=is_image)
    api.fail_http_next("message/send", 502, where=is_image)
    api.stall_next("message/send", where=is_caption)
    api.fail_next("message/send", SYSTEM_BUSY, where=is_caption)

    user = UserRef("wecom", ZHANGSAN)
    [queued] = await bot.app.core.dispatch(Incoming(user, member_chat(ZHANGSAN), "/imagine a cat", (), "m1"))
    assert queued.stage == Stage.QUEUED
    await api.wait_for("message/send", where=is_caption)
    await bot.app.notifier.drain()  # a retry still under way has ended

    assert len(api.of("message/send", where=is_image)) == 1
    assert len(api.of("message/send", where=is_caption)) == 1
    refused = [call for call in api.calls if not call.ok and call.api != "gettoken"]
    assert len(refused) == 1 + 3 + 1 + 1 + 1, [(call.api, call.status, call.answer) for call in refused]
    account = await bot.app.core.services.accounts.find("wecom", ZHANGSAN)
    assert account is not None
    async with bot.app.db.transaction() as session:
        assert (await credits.balance(session, account.id)).total == TRIAL - 10
