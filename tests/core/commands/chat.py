"""What the command tests share: short ways to read the catalog and to talk to the bot."""

from __future__ import annotations

from core.i18n import translate
from core.messages import Reply, ReplyType
from tests.harness import Harness

COMMANDS = ("imagine", "balance", "history", "cancel", "settings", "styles", "language", "action")
DEFAULT_STYLES = ("photo", "anime", "cinema", "illustration", "3d", "watercolor", "pixel", "none")
KNOWN_FLAGS = "--ar --style --res --model --n"
MODELS = "gpt-image-2, gpt-image-1.5, gpt-image-1"


def en(key: str, **params: object) -> str:
    return translate("en", key, **params)


def zh(key: str, **params: object) -> str:
    return translate("zh-CN", key, **params)


def error(key: str, language: str = "en", **params: object) -> str:
    return translate(language, f"error.{key}", **params)


async def answer(harness: Harness, message: str, user: str = "alice", locale: str | None = None) -> Reply:
    """The one reply a command gets."""
    replies = await harness.say(message, user, locale=locale)
    assert len(replies) == 1, [reply.text for reply in replies]
    return replies[0]


async def says(harness: Harness, message: str, user: str = "alice", locale: str | None = None) -> str:
    return (await answer(harness, message, user, locale)).text


async def finished_job(harness: Harness, prompt: str, user: str = "alice") -> int:
    job = await harness.imagine(prompt, user)
    final = await harness.chat.wait_final(job)
    assert final.type == ReplyType.ACTIONS, final.text
    return job
