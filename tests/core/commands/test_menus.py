"""Menus of command shortcuts, refusals and private replies, as a user sees them.

A door with buttons shows each `Choice` of a reply; a press sends the choice's command as the
presser, so pressing is tested here by dispatching that command from the reply. Runs on SQLite and
PostgreSQL through the real core; messages are compared with the catalog text.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from core.errors import UserError
from core.generation import styles
from core.generation.providers.base import OnPartial, RenderRequest, RenderResult, TransientProviderError
from core.i18n import translate
from core.messages import (
    ActionKind,
    Attachment,
    Button,
    ChatRef,
    Choice,
    Menu,
    Reply,
    ReplyType,
    Stage,
    file,
    image,
    progress,
    text,
)
from tests.core.commands.chat import answer, en, error, says, zh
from tests.fakes.gated_provider import GatedProvider, png
from tests.harness import DatabaseTarget, Harness, harness_for

TELEGRAM_BUTTON_DATA_BYTES = 64
TICK = "✓ "


def choices_of(reply: Reply) -> list[Choice]:
    return [choice for row in reply.choices for choice in row]


def ticked(reply: Reply) -> list[str]:
    return [choice.label for choice in choices_of(reply) if choice.label.startswith(TICK)]


def labelled(reply: Reply, label: str) -> Choice:
    """The choice shown as `label`, ticked or not."""
    [found] = [choice for choice in choices_of(reply) if choice.label.removeprefix(TICK) == label]
    return found


async def press(harness: Harness, choice: Choice, user: str = "alice", locale: str | None = None) -> Reply:
    """What a door does when `user` presses the button of `choice`: sends its command as them."""
    return await answer(harness, choice.command, user, locale)


def cancel_menu(job: int, language: str = "en") -> Menu:
    return ((Choice(translate(language, "action.cancel"), f"/cancel {job}"),),)


def original_menu(job: int, index: int) -> Menu:
    return ((Choice(en("action.original"), f"/original {job} {index}"),),)


# --- the replies survive the outbox ---------------------------------------------------------------


def test_choices_flags_files_and_image_buttons_survive_the_round_trip_through_json() -> None:
    menu = ((Choice("✓ 1:1", "/settings ar 1:1"), Choice("3:2", "/settings ar 3:2")), (Choice("↩️", "/r"),))
    output = "outputs/job-3-1.png"
    originals = [
        text("pick one", choices=menu),
        text("no", error=True),
        text("your balance", private=True, choices=((Choice("💳", "/buy"),),)),
        file(output, "the original", job=3),
        file(output),
        image(output, "caption", job=3, buttons=(Button(ActionKind.VARY, "✨ Vary", 1),)),
        replace(image(output, "caption", job=3), choices=((Choice("📄", "/original 3 1"),),)),
        progress(3, Stage.QUEUED, "queued", choices=((Choice("✖️ Cancel", "/cancel 3"),),)),
    ]
    stored = [json.loads(json.dumps(reply.to_json())) for reply in originals]
    assert [Reply.from_json(data) for data in stored] == originals


def test_a_reply_queued_before_menus_existed_still_reads_as_a_plain_reply() -> None:
    old = Reply.from_json({"type": "text", "text": "paid", "final": True})
    assert old == text("paid", final=True)
    assert (old.choices, old.error, old.private) == ((), False, False)


def test_an_image_queued_when_replies_held_file_paths_reads_as_its_storage_key() -> None:
    old = Reply.from_json(
        {"type": "image", "text": "a cat", "path": "/srv/bot/data/outputs/job-7-1.png", "job": 7}
    )
    assert old == image("outputs/job-7-1.png", "a cat", job=7)


# --- /settings and /language menus ---------------------------------------------------------------


def current(ar: str = "1:1", style: str = "none", res: str = "1k") -> str:
    """`/settings` for these defaults: the style shown by its label."""
    label = styles.StyleBook(list(styles.DEFAULT_STYLES)).label_of(style, "en")
    defaults = en("settings.current", ar=ar, style=label, res=res, model="gpt-image-2")
    return defaults + "\n" + en("local_time.setting_default", zone="UTC")


async def test_the_settings_menu_ticks_the_current_values_and_a_press_saves_one(idle: Harness) -> None:
    shown = await answer(idle, "/settings")
    assert shown.text == current()
    assert ticked(shown) == [f"{TICK}1:1", f"{TICK}1K"]
    for choice in choices_of(shown):
        assert len(choice.command.encode()) <= TELEGRAM_BUTTON_DATA_BYTES, choice

    saved = en("settings.saved")
    reply = await press(idle, labelled(shown, "16:9"))
    assert reply.text == f"{saved}\n{current(ar='16:9')}"
    assert ticked(reply) == [f"{TICK}16:9", f"{TICK}1K"]
    reply = await press(idle, labelled(reply, "2K"))
    reply = await press(idle, labelled(reply, "Anime"))
    assert reply.text == f"{saved}\n{current(ar='16:9', style='anime', res='2k')}"
    assert ticked(reply) == [f"{TICK}16:9", f"{TICK}2K", f"{TICK}Anime"]

    shown = await answer(idle, "/settings")
    assert shown.text == current(ar="16:9", style="anime", res="2k")
    assert ticked(shown) == [f"{TICK}16:9", f"{TICK}2K", f"{TICK}Anime"]
    job = await idle.job(await idle.imagine("a fox in the snow"))
    assert (job.ratio, job.style, job.tier, job.cost) == ("16:9", "anime", "2k", 20)

    reply = await press(idle, labelled(shown, en("action.reset")))
    assert reply.text == en("settings.reset")
    assert ticked(reply) == [f"{TICK}1:1", f"{TICK}1K"]
    assert await says(idle, "/settings") == current()

    every = choices_of(reply)
    assert len(every) > 10
    for choice in every:  # each button works, and shows its own value ticked afterwards
        pressed = await press(idle, choice)
        assert not pressed.error, (choice, pressed.text)
        if choice.command != "/settings reset":
            assert TICK + choice.label.removeprefix(TICK) in ticked(pressed), choice


async def test_the_language_menu_ticks_the_current_language_and_a_press_switches(idle: Harness) -> None:
    shown = await answer(idle, "/language")
    assert shown.choices == (
        (Choice(f"{TICK}English", "/language en"), Choice("简体中文", "/language zh-CN")),
    )

    reply = await press(idle, labelled(shown, "简体中文"))
    assert reply.text == zh("language.set", language="简体中文")
    shown = await answer(idle, "/language")
    options = "en (English), zh-CN (简体中文)"
    assert shown.text == zh("language.current", language="简体中文", options=options)
    assert ticked(shown) == [f"{TICK}简体中文"]
    settings = await answer(idle, "/settings")
    assert labelled(settings, zh("action.reset")).command == "/settings reset"
    assert labelled(settings, "动漫").command == "/settings style anime"

    reply = await press(idle, labelled(shown, "English"))
    assert reply.text == en("language.set", language="English")
    assert ticked(await answer(idle, "/language")) == [f"{TICK}English"]

    li = await answer(idle, "/language", "li", locale="zh-Hans")  # no choice yet: the platform's locale
    assert ticked(li) == [f"{TICK}简体中文"]


# --- /balance, /buy, /history: private; refusals marked -----------------------------------------


async def test_without_payments_balance_and_buy_say_where_help_is_privately(idle: Harness) -> None:
    contact = idle.app.core.services.privacy.settings.contact
    unavailable = en("buy.unavailable") + " " + en("credits.help", contact=contact)
    balance = await answer(idle, "/balance")
    assert balance.private
    assert not balance.error
    assert balance.text.splitlines()[-1] == unavailable
    assert balance.choices == (), "no Buy button where nothing can be bought"

    bought = await answer(idle, "/buy")
    assert bought.text == unavailable
    assert bought.private
    assert not bought.error
    assert await says(idle, "/购买") == bought.text
    assert (await idle.balance()).total == 40

    chinese = await answer(idle, "/balance", "li", locale="zh-Hans")
    assert chinese.choices == ()
    assert (await answer(idle, "/buy", "li", locale="zh-Hans")).text == (
        zh("buy.unavailable") + " " + zh("credits.help", contact=contact)
    )

    assert (await answer(idle, "/history")).private
    await idle.imagine("a lighthouse")
    history = await answer(idle, "/history")
    assert history.text.startswith(en("history.title"))
    assert history.private


async def test_refusals_are_marked_as_errors_and_answers_are_not(idle: Harness) -> None:
    refused = {
        "draw me a cat": error("not_a_command"),
        "/imagine a cat --ar 16-9": error("bad_ratio", value="16-9"),
        "/cancel 999": error("job_not_found", job=999),
        "/settings colour red": error("unknown_setting", name="colour"),
        "/original": error("original_usage"),
    }
    for message, expected in refused.items():
        reply = await answer(idle, message)
        assert (reply.text, reply.error) == (expected, True), message
    for message in ("/help", "/settings", "/language", "/balance", "/styles"):
        assert not (await answer(idle, message)).error, message


async def test_a_refusal_decided_by_a_door_is_worded_in_the_users_language(idle: Harness) -> None:
    core = idle.app.core
    alice, alices_chat = idle.user("alice"), ChatRef("test", "private", "alice")
    [expired] = await core.refuse(alice, alices_chat, UserError("button_expired"))
    assert (expired.text, expired.error) == (error("button_expired"), True)

    too_large = UserError("reference_download_too_large", name="huge.png", size=25, limit=20)
    [reply] = await core.refuse(alice, alices_chat, too_large)
    assert reply.text == error("reference_download_too_large", name="huge.png", size=25, limit=20)
    assert "huge.png" in reply.text

    await idle.say("/language zh-CN")
    [expired] = await core.refuse(alice, alices_chat, UserError("button_expired"))
    assert (expired.text, expired.error) == (error("button_expired", "zh-CN"), True)
    [reply] = await core.refuse(idle.user("li", "zh-Hans"), ChatRef("test", "private", "li"), too_large)
    assert reply.text == error("reference_download_too_large", "zh-CN", name="huge.png", size=25, limit=20)


async def test_an_attachment_the_door_will_not_download_is_refused_with_the_doors_reason(
    idle: Harness,
) -> None:
    async def too_large() -> bytes:
        raise UserError("reference_download_too_large", name="huge.png", size=25, limit=20)

    async def broken() -> bytes:
        raise ConnectionError("the platform dropped the download")

    replies = await idle.say("/imagine make it dreamy", attachments=(Attachment("huge.png", too_large),))
    assert [(reply.text, reply.error) for reply in replies] == [
        (error("reference_download_too_large", name="huge.png", size=25, limit=20), True)
    ]
    replies = await idle.say("/imagine make it dreamy", attachments=(Attachment("lost.png", broken),))
    assert [reply.text for reply in replies] == [error("reference_unreadable", name="lost.png")]
    assert (await idle.balance()).total == 40
    assert await says(idle, "/history") == en("history.empty")
    await idle.assert_ledger_consistent()


# --- Cancel under a job's progress ---------------------------------------------------------------


async def test_cancel_under_a_jobs_progress_stops_it_when_its_owner_presses(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    async with harness_for(database, tmp_path, provider=provider) as harness:
        [queued] = await harness.say("/imagine slow painting")
        assert queued.job is not None
        job = queued.job
        assert queued.choices == cancel_menu(job)
        await provider.wait_started(1)  # the started notice is delivered before the drawing begins
        started = harness.chat.for_job(job)[0]
        assert started.stage == Stage.STARTED
        assert started.choices == cancel_menu(job)

        refused = await press(harness, started.choices[0][0], "bob")
        assert (refused.text, refused.error) == (error("job_not_found", job=job), True)
        assert (await harness.job(job)).status == "running"

        cancelled = await press(harness, started.choices[0][0])
        assert cancelled.text == en("cancel.done", job=job, credits=10, balance=40)
        assert (await harness.job(job)).status == "cancelled"
        assert (await harness.balance()).total == 40

        [chinese] = await harness.say("/画 一只猫", "li", locale="zh-Hans")
        assert chinese.job is not None
        assert chinese.choices == cancel_menu(chinese.job, "zh-CN")
        cancelled = await press(harness, chinese.choices[0][0], "li", "zh-Hans")
        assert cancelled.text == zh("cancel.done", job=chinese.job, credits=10, balance=40)
        assert (await harness.job(chinese.job)).status == "cancelled"
        await harness.assert_ledger_consistent()
        provider.release("slow painting")
        provider.release("一只猫")


@dataclass
class BusyOnceProvider:
    """Fails the first render with a temporary error, then draws."""

    name: str = "busy-once"
    renders: int = 0
    prompts: list[str] = field(default_factory=list)

    async def check_prompt(self, prompt: str, safety_identifier: str) -> bool:
        return True

    async def render(self, request: RenderRequest, on_partial: OnPartial) -> RenderResult:
        self.renders += 1
        if self.renders == 1:
            raise TransientProviderError("the service is busy")
        await on_partial(0, png(16, 16))
        return RenderResult(images=tuple(png(request.width, request.height) for _ in range(request.n)))

    async def close(self) -> None:
        return None


async def test_every_progress_notice_offers_cancel_even_when_retrying(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    async with harness_for(database, tmp_path, provider=BusyOnceProvider()) as harness:
        job = await harness.imagine("a lantern")
        final = await harness.chat.wait_final(job)
        assert final.type == ReplyType.ACTIONS
        replies = harness.chat.for_job(job)
        [retrying] = [reply for reply in replies if reply.text == en("job.retrying", job=job)]
        assert retrying.choices == cancel_menu(job)
        shown = [reply for reply in replies if reply.type == ReplyType.PROGRESS]
        assert [reply.stage for reply in shown] == [Stage.STARTED, Stage.QUEUED, Stage.STARTED, Stage.PARTIAL]
        assert all(reply.choices == cancel_menu(job) for reply in shown)
        assert (await harness.balance()).total == 30


# --- results: actions on the image, and the original file ---------------------------------------


async def test_a_single_image_carries_its_actions_and_a_button_for_the_original_file(
    harness: Harness,
) -> None:
    job = await harness.imagine("a red fox in snow")
    final = await harness.chat.wait_final(job)
    replies = harness.chat.for_job(job)
    results = [reply for reply in replies if reply.type != ReplyType.PROGRESS]
    assert [reply.type for reply in results] == [ReplyType.IMAGE, ReplyType.ACTIONS]
    picture, actions = results
    assert actions is final
    assert not picture.final
    assert picture.buttons == actions.buttons
    assert {button.kind for button in picture.buttons} == set(ActionKind)
    report = Choice(en("report.button"), f"/report {job}")  # anyone may press it: only the owner reports
    assert picture.choices == ((*original_menu(job, 1)[0], report),)
    assert picture.media is not None

    original = await press(harness, picture.choices[0][0])
    assert original.type == ReplyType.FILE
    assert original.text == en("original.caption", job=job, index=1)
    assert original.media == picture.media
    assert not original.error
    with Image.open(io.BytesIO(await harness.app.storage.read(original.media))) as png_file:
        assert (png_file.format, png_file.size) == ("PNG", (1024, 1024))

    stranger = await press(harness, picture.choices[0][0], "bob")
    not_found = error("job_not_found", job=job)  # as if it did not exist: job numbers stay unknown
    assert (stranger.type, stranger.text, stranger.error) == (ReplyType.TEXT, not_found, True)
    assert (await harness.balance()).total == 30
    await harness.assert_ledger_consistent()


async def test_each_image_of_a_result_offers_its_own_original_file(harness: Harness) -> None:
    job = await harness.imagine("tiny robots --n 2")
    final = await harness.chat.wait_final(job)
    results = [reply for reply in harness.chat.for_job(job) if reply.type != ReplyType.PROGRESS]
    assert [reply.type for reply in results] == [ReplyType.IMAGE, ReplyType.IMAGE, ReplyType.ACTIONS]
    assert results[-1] is final
    first, second = results[0], results[1]
    assert [first.choices, second.choices] == [original_menu(job, 1), original_menu(job, 2)]
    assert {button.index for button in final.buttons} == {1, 2}

    original = await press(harness, second.choices[0][0])
    assert original.type == ReplyType.FILE
    assert original.text == en("original.caption", job=job, index=2)
    assert original.media == second.media != first.media
    assert (await press(harness, first.choices[0][0])).media == first.media


# --- /original refusals --------------------------------------------------------------------------


async def test_original_refuses_what_it_cannot_or_may_not_give(
    database: DatabaseTarget, tmp_path: Path
) -> None:
    provider = GatedProvider()
    provider.release("done")
    async with harness_for(database, tmp_path, provider=provider) as harness:
        done = await harness.imagine("done")
        await harness.chat.wait_final(done)
        held = await harness.imagine("held")
        refusals = {
            "/original": error("original_usage"),
            f"/original {done} 1 2": error("original_usage"),
            f"/original {done} x": error("original_usage"),
            f"/original {done} -1": error("original_usage"),
            "/original abc": error("bad_job_id", value="abc"),
            "/original 999": error("job_not_found", job=999),
            f"/original {done} 2": error("bad_image_index", job=done, count=1),
            f"/original {done} 0": error("bad_image_index", job=done, count=1),
            f"/original {held}": error("job_not_finished", job=held),
        }
        for message, expected in refusals.items():
            reply = await answer(harness, message)
            assert (reply.type, reply.text, reply.error) == (ReplyType.TEXT, expected, True), message
        assert await says(harness, f"/original {done}", "bob") == error("job_not_found", job=done)

        delivered = await answer(harness, f"/原图 #{done}")
        assert delivered.type == ReplyType.FILE
        assert delivered.media is not None
        await harness.app.storage.remove([delivered.media])  # the output was cleaned up since
        assert await says(harness, f"/original {done}") == error("output_gone", job=done)

        provider.release("held")
        await harness.chat.wait_final(held)  # the ledger is checked once nothing is in flight
        assert (await harness.balance()).total == 20
        await harness.assert_ledger_consistent()
