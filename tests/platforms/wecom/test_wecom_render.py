"""The pure parts of the WeCom door: how replies become messages, how short replies and reference
images are read, and how sends to one member are spread over the minute."""

from __future__ import annotations

import pytest

from core.messages import (
    ActionKind,
    Attachment,
    Button,
    Choice,
    Stage,
    actions,
    image,
    progress,
    text,
)
from platforms.wecom import incoming
from platforms.wecom.limits import SlidingWindow
from platforms.wecom.render import (
    CUSTOMER_STAGES,
    ImagePart,
    TextPart,
    parts,
    split_text,
)

BUTTONS = (
    Button(ActionKind.REROLL, "🔁 Reroll"),
    Button(ActionKind.UPSCALE_2K, "⬆️ Upscale 2K 1", 1),
    Button(ActionKind.UPSCALE_2K, "⬆️ Upscale 2K 2", 2),
    Button(ActionKind.VARY, "✨ Vary 2", 2),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_long_text_is_cut_into_parts_of_at_most_2048_bytes_at_line_breaks() -> None:
    paragraph = ("一只猫 a cat 🐱 " * 40).strip()  # 839 bytes: characters of one, three and four bytes
    message = "\n".join([paragraph] * 6)

    assert split_text(message) == ["\n".join([paragraph] * 2)] * 3


def test_a_line_longer_than_the_limit_is_cut_between_characters() -> None:
    pieces = split_text("画" * 1000)
    assert [len(piece.encode()) for piece in pieces] == [2046, 954]
    assert split_text("  \n ") == []


def test_a_results_actions_are_listed_as_short_replies_with_the_image_number_when_needed() -> None:
    [listing] = parts(actions(42, BUTTONS, "Next: reroll, upscale or vary — /action 42 <action>"))
    assert isinstance(listing, TextPart)
    assert listing.content.splitlines() == [
        "🔁 Reroll: reroll 42",
        "⬆️ Upscale 2K 1: up2k 42",
        "⬆️ Upscale 2K 2: up2k 42 2",
        "✨ Vary 2: vary 42 2",
    ]
    assert parts(actions(42, BUTTONS), actions_shown=True) == []


def test_a_result_image_is_followed_by_its_caption_and_actions() -> None:
    path = "outputs/job-42-1.png"
    reply = image(path, "“a cat”", job=42, buttons=BUTTONS[:2])
    assert parts(reply) == [
        ImagePart(path),
        TextPart("“a cat”\n🔁 Reroll: reroll 42\n⬆️ Upscale 2K 1: up2k 42"),
    ]


def test_choices_are_listed_unless_the_text_already_says_what_to_type() -> None:
    cancel = ((Choice("✖️ Cancel", "/cancel 7"),),)
    queued = progress(7, Stage.QUEUED, "Job #7 queued. /cancel 7 to stop it.", choices=cancel)
    started = progress(7, Stage.STARTED, "Job #7: drawing…", choices=cancel)
    menu = text(
        "Settings", choices=((Choice("16:9", "/settings ar 16:9"), Choice("1:1", "/settings ar 1:1")),)
    )

    assert parts(queued) == [TextPart("Job #7 queued. /cancel 7 to stop it.")]
    assert parts(started) == [TextPart("Job #7: drawing…\n✖️ Cancel: /cancel 7")]
    assert parts(menu) == [TextPart("Settings\n16:9: /settings ar 16:9\n1:1: /settings ar 1:1")]


def test_previews_are_skipped_and_customers_hear_only_that_a_job_is_queued() -> None:
    preview = progress(7, Stage.PARTIAL, "Job #7: preview 1", media="previews/job-7-partial-1.png")
    started = progress(7, Stage.STARTED, "Job #7: drawing…")
    assert parts(preview) == []
    assert parts(started, stages=CUSTOMER_STAGES) == []


@pytest.mark.parametrize(
    ("typed", "dispatched"),
    [
        ("reroll 42", "/action 42 reroll"),
        ("UP2K #42", "/action 42 upscale-2k"),
        ("/up4k 42 2", "/action 42 upscale-4k 2"),
        ("vary 42 3", "/action 42 vary 3"),
        ("放大2K 42", "/action 42 upscale-2k"),
        ("变体 42 2", "/action 42 vary 2"),
        ("vary the colours of 42 cats", "vary the colours of 42 cats"),
        ("/imagine reroll 42", "/imagine reroll 42"),
    ],
)
def test_short_replies_are_rewritten_to_the_action_command(typed: str, dispatched: str) -> None:
    assert incoming.for_core(typed, "wecom:zhangsan", incoming.References())[0] == dispatched


def test_recent_images_go_with_the_next_prompt_only() -> None:
    clock = Clock()
    references = incoming.References(window_s=300, clock=clock)
    first, second = (_image(name) for name in ("a.jpg", "b.jpg"))
    references.remember("wecom:zhangsan", first)
    references.remember("wecom:zhangsan", second)

    assert incoming.for_core("/balance", "wecom:zhangsan", references) == ("/balance", ())
    assert incoming.for_core("/imagine a cat", "wecom:lisi", references) == ("/imagine a cat", ())
    assert incoming.for_core("a cat", "wecom:zhangsan", references) == ("/imagine a cat", (first, second))
    assert incoming.for_core("/画 a dog", "wecom:zhangsan", references) == ("/画 a dog", ())

    references.remember("wecom:zhangsan", first)
    clock.now += 301
    assert incoming.for_core("a cat", "wecom:zhangsan", references) == ("a cat", ())


def test_sends_to_one_chat_beyond_30_a_minute_wait_for_a_free_slot() -> None:
    clock = Clock()
    window = SlidingWindow(limit=30, period_s=60, clock=clock)

    assert [window.reserve("zhangsan") for _ in range(30)] == [0.0] * 30
    assert window.reserve("zhangsan") == 60.0
    assert window.reserve("lisi") == 0.0
    clock.now += 30
    assert window.reserve("zhangsan") == 30.0
    clock.now += 31
    assert window.reserve("zhangsan") == 0.0


def _image(name: str) -> Attachment:
    async def fetch() -> bytes:
        return b""

    return Attachment(name, fetch)
