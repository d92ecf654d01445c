"""Bidi controls a user typed do not reach anyone else: not the captions a group sees, not the support
cards staff read, not the answers staff send back."""

from __future__ import annotations

from core.bidi import BIDI_CONTROLS, neutralize_bidi
from core.messages import ChatRef, Incoming, ReplyType
from tests.core.test_support_desk import Desk, desk  # noqa: F401  (a fixture)
from tests.harness import Harness

# U+202E turns the rest around: "cat … exe.gpj" reads as "cat … jpg.exe"
SPOOFED = "a cat \u202egpj.exe\u202c and \u2066isolated\u2069 \u202aembedded\u202c"
CLEAN = "a cat gpj.exe and isolated embedded"


def test_every_embedding_override_and_isolate_control_is_removed_and_nothing_else() -> None:
    assert {f"{ord(c):04X}" for c in BIDI_CONTROLS} == {
        *(f"{code:04X}" for code in range(0x202A, 0x202F)),
        *(f"{code:04X}" for code in range(0x2066, 0x206A)),
    }
    assert neutralize_bidi(SPOOFED) == CLEAN
    assert neutralize_bidi("שלום, مرحبا, 你好 \u200f") == "שלום, مرحبا, 你好 \u200f"


async def test_a_result_caption_in_a_group_carries_no_bidi_controls(harness: Harness) -> None:
    group = ChatRef("test", "group", "g-1")
    [queued] = await harness.app.core.dispatch(Incoming(harness.user(), group, f"/imagine {SPOOFED}"))
    assert queued.job is not None
    await harness.chat.wait_final(queued.job)

    [picture] = [reply for reply in harness.chat.sent["g-1"] if reply.type == ReplyType.IMAGE]
    assert CLEAN in picture.text
    assert not BIDI_CONTROLS & set(picture.text)


async def test_support_cards_and_staff_answers_carry_no_bidi_controls(desk: Desk) -> None:  # noqa: F811
    await desk.harness.say(f"/support {SPOOFED}")
    await desk.staff_says("#1 about \u202etxt.exe\u202c: fixed")
    await desk.delivered()

    [card] = desk.cards()
    assert CLEAN in card
    assert not BIDI_CONTROLS & set(card)
    answer = desk.user_saw()[-1]
    assert "about txt.exe: fixed" in answer
    assert not BIDI_CONTROLS & set(answer)
