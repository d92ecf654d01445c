"""/imagine from a WeCom member as they see it: a short acknowledgement, progress as text, then the image
uploaded and sent, its caption and the short replies that act on it."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image

from core.messages import image
from platforms.wecom.render import member_chat
from tests.fakes.gated_provider import GatedProvider, png
from tests.fakes.wecom_api import Call, WeComAPIDouble
from tests.harness import DatabaseTarget
from tests.platforms.wecom.conftest import AGENT_ID, ZHANGSAN, WeComBot, open_wecom_bot


def to_zhangsan(msgtype: str) -> object:
    return lambda call: call.body.get("touser") == ZHANGSAN and call.msgtype == msgtype


def job_of(text: str) -> int:
    match = re.search(r"#(\d+)", text)
    assert match is not None, text
    return int(match[1])


def upload_size(api: WeComAPIDouble, call: Call) -> tuple[int, int]:
    _, _, data = api.uploads[call.media_id]
    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


async def test_imagine_is_acknowledged_at_once_then_the_image_is_uploaded_and_sent(
    database: DatabaseTarget, tmp_path: Path, api: WeComAPIDouble
) -> None:
    provider = GatedProvider()
    async with open_wecom_bot(database, tmp_path, api, provider=provider) as bot:
        answer = await bot.say("/imagine 一只猫 --ar 1:1")
        assert answer.status == 200
        await provider.wait_started(1)  # WeCom had its answer while the image was still being drawn
        assert not api.of("media/upload")
        provider.release(provider.started[0])

        [sent] = await api.wait_for("message/send", where=to_zhangsan("image"))
        [upload] = api.of("media/upload")
        assert upload.query["type"] == "image"
        assert sent.media_id == api.of("media/upload")[0].answer["media_id"]
        assert sent.body["agentid"] == AGENT_ID
        assert upload_size(api, sent) == (1024, 1024)
        caption = (await api.wait_for("message/send", 3, where=to_zhangsan("text")))[-1].content
        await bot.harness.app.notifier.drain()

    texts = [call.content for call in api.of("message/send", where=to_zhangsan("text"))]
    [queued] = [text for text in texts if "queued" in text]
    assert any("drawing" in text for text in texts), "the start of drawing is told"
    job = job_of(queued)
    assert "一只猫" in caption
    for short_reply in (f"reroll {job}", f"up2k {job}", f"up4k {job}", f"vary {job}", f"/original {job} 1"):
        assert short_reply in caption
    assert len(texts) == 3, "no previews, and the actions are not listed a second time"


async def test_a_typed_short_reply_acts_on_the_result(wecom_bot: WeComBot) -> None:
    api = wecom_bot.api
    await wecom_bot.say("/imagine a lighthouse")
    [first] = await api.wait_for("message/send", where=to_zhangsan("image"))
    job = job_of(api.of("message/send", where=to_zhangsan("text"))[0].content)

    await wecom_bot.say(f"UP2K {job}")

    [_, bigger] = await api.wait_for("message/send", 2, where=to_zhangsan("image"))
    assert upload_size(api, first) == (1024, 1024)
    assert upload_size(api, bigger) == (2048, 2048)


async def test_an_image_then_imagine_or_a_plain_prompt_uses_the_image_as_reference(
    wecom_bot: WeComBot,
) -> None:
    api = wecom_bot.api
    jobs = wecom_bot.harness.app.core.services.jobs
    blue = await wecom_bot.send_image(png(64, 48))
    await wecom_bot.say("/画 make it blue")
    red = await wecom_bot.send_image(png(32, 32))
    await wecom_bot.say("make it red")  # an image has no caption in WeCom: the next text is its prompt
    await wecom_bot.say("/imagine no picture this time")
    await wecom_bot.adapter.idle()

    references: dict[str, int] = {}
    for ack in api.of("message/send", where=to_zhangsan("text")):
        if "queued" in ack.content:
            job = await jobs.get(job_of(ack.content))
            assert job is not None
            references[job.prompt] = len(job.references)
    assert references == {"make it blue": 1, "make it red": 1, "no picture this time": 0}
    assert sorted(call.query["media_id"] for call in api.of("media/get")) == sorted([blue, red])


async def test_a_result_over_the_image_limit_goes_as_a_jpeg_and_the_original_as_a_file(
    wecom_bot: WeComBot,
) -> None:
    noisy = Image.frombytes("RGB", (2400, 1600), os.urandom(2400 * 1600 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG", compress_level=0)
    png_bytes = buffer.getvalue()
    assert 10 * 1024 * 1024 < len(png_bytes) <= 20 * 1024 * 1024
    key = await wecom_bot.harness.app.storage.save_output(7, 0, png_bytes)

    await wecom_bot.adapter.send(member_chat(ZHANGSAN), image(key, "“noise”", job=7))

    api = wecom_bot.api
    kinds = [
        (call.query["type"], filename)
        for call in api.of("media/upload")
        for filename, _ in [call.files["media"]]
    ]
    assert kinds == [("image", "job-7-1.jpg"), ("file", "job-7-1.png")]
    [picture, original] = [
        api.uploads[call.media_id] for call in api.of("message/send", where=lambda c: c.msgtype != "text")
    ]
    assert len(picture[2]) <= 10 * 1024 * 1024
    assert original[2] == png_bytes
