"""What a job tells its chat: queued, started, previews, the result with its actions, or why it failed."""

from __future__ import annotations

from dataclasses import replace

from core.bidi import neutralize_bidi
from core.credits import Balance
from core.db.models import Job
from core.generation.sizes import Tier
from core.generation.styles import StyleBook
from core.i18n import Translator
from core.messages import ActionKind, Button, Choice, Menu, Reply, Stage, actions, image, progress, text

CAPTION_PROMPT_CHARS = 200


def queued(t: Translator, job_id: int, position: int, cost: int, balance: Balance) -> Reply:
    return progress(
        job_id,
        Stage.QUEUED,
        t("job.queued", job=job_id, position=position, cost=cost, balance=balance.total),
        choices=cancel_choice(t, job_id),
    )


def started(t: Translator, job: Job) -> Reply:
    return progress(
        job.id,
        Stage.STARTED,
        t("job.started", job=job.id, width=job.width, height=job.height),
        choices=cancel_choice(t, job.id),
    )


def partial(t: Translator, job: Job, index: int, media: str) -> Reply:
    return progress(
        job.id,
        Stage.PARTIAL,
        t("job.partial", job=job.id, step=index + 1),
        media=media,
        choices=cancel_choice(t, job.id),
    )


def retrying(t: Translator, job: Job) -> Reply:
    return progress(job.id, Stage.QUEUED, t("job.retrying", job=job.id), choices=cancel_choice(t, job.id))


def cancel_choice(t: Translator, job_id: int) -> Menu:
    return ((Choice(t("action.cancel"), f"/cancel {job_id}"),),)


def original_choice(t: Translator, job_id: int, index: int) -> Menu:
    return ((Choice(t("action.original"), f"/original {job_id} {index}"),),)


def report_choice(t: Translator, job_id: int) -> Menu:
    """Report the result for review: whoever presses it reports it, so only its owner gets a ticket."""
    return ((Choice(t("report.button"), f"/report {job_id}"),),)


def result(t: Translator, job: Job, keys: list[str], balance: Balance, styles: StyleBook) -> list[Reply]:
    style = styles.get(job.style)
    caption = t(
        "job.caption" if len(keys) == 1 else "job.caption_set",  # the cost is the set's, not each image's
        n=len(keys),
        prompt=_shorten(job.prompt),
        width=job.width,
        height=job.height,
        style=style.label(t.language) if style else job.style,
        cost=job.cost,
        balance=balance.total,
        job=job.id,
    )
    if len(keys) == 1:  # the actions go on the image itself where the door can attach them
        single = image(
            keys[0], caption, job=job.id, buttons=buttons(t, job, 1), resend_note=_resend_note(t, job, 1)
        )
        choices = ((*original_choice(t, job.id, 1)[0], *report_choice(t, job.id)[0]),)
        replies = [replace(single, choices=choices)]
    else:
        replies = [
            replace(
                image(
                    key,
                    f"{caption}\n{t('job.image_index', index=i + 1, n=len(keys))}",
                    job=job.id,
                    resend_note=_resend_note(t, job, i + 1),
                ),
                choices=original_choice(t, job.id, i + 1),
            )
            for i, key in enumerate(keys)
        ]
    hint = actions(job.id, buttons(t, job, len(keys)), t("job.actions_hint", job=job.id))
    replies.append(replace(hint, choices=report_choice(t, job.id)) if len(keys) > 1 else hint)
    return replies


def buttons(t: Translator, job: Job, images: int) -> tuple[Button, ...]:
    """Reroll once; upscale (to tiers above this one) and vary for each image."""
    tier = Tier(job.tier)
    row: list[Button] = [Button(ActionKind.REROLL, t("action.reroll"))]
    for index in range(1, images + 1):
        suffix = f" {index}" if images > 1 else ""
        if tier == Tier.K1:
            row.append(Button(ActionKind.UPSCALE_2K, t("action.upscale_2k") + suffix, index))
        if tier != Tier.K4:
            row.append(Button(ActionKind.UPSCALE_4K, t("action.upscale_4k") + suffix, index))
        row.append(Button(ActionKind.VARY, t("action.vary") + suffix, index))
    return tuple(row)


def failed(t: Translator, job: Job, code: str, *, refunded: int, reference: str | None = None) -> Reply:
    return text(
        t(f"job.failed.{code}", job=job.id, credits=refunded, ref=reference or ""), job=job.id, final=True
    )


def _resend_note(t: Translator, job: Job, index: int) -> str:
    return t("job.maybe_delivered", job=job.id, index=index)


def _shorten(prompt: str) -> str:
    """The prompt for a caption: one line, short, and without bidi controls (captions are seen in groups
    and forwarded)."""
    prompt = " ".join(neutralize_bidi(prompt).split())
    return prompt if len(prompt) <= CAPTION_PROMPT_CHARS else prompt[: CAPTION_PROMPT_CHARS - 1] + "…"
