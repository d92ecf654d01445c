"""`/imagine` and the actions under a result (reroll, upscale, vary)."""

from __future__ import annotations

from dataclasses import replace

from core.commands.account import parse_job_id
from core.commands.context import Context
from core.commands.parser import Command, shows_something, unknown_flag, whole_number
from core.commands.suggest import closest
from core.db.repositories import asker
from core.db.repositories.asker import Standing
from core.db.statuses import JobStatus
from core.db.types import utcnow
from core.errors import UserError
from core.generation import admission, replies
from core.generation.jobs import ImagineSpec
from core.generation.sizes import AspectRatio, Tier, parse_tier
from core.generation.styles import StyleBook
from core.groups import WalletCharge
from core.i18n import LANGUAGES, translate
from core.messages import ActionKind, Attachment, Reply
from core.privacy.chats import is_group

OPTION_ALIASES = {
    "ar": "ar",
    "aspect": "ar",
    "style": "style",
    "res": "res",
    "resolution": "res",
    "model": "model",
    "n": "n",
    "count": "n",
}
LARGEST_JOB_ID = 2**31 - 1  # a PostgreSQL integer: a button may name any number, the database may not
UPSCALE_TARGETS = {ActionKind.UPSCALE_2K: Tier.K2, ActionKind.UPSCALE_4K: Tier.K4}
UPSCALE_INSTRUCTION = (
    "Recreate the attached image at a higher resolution. Keep the composition, subject, colors and style "
    "exactly the same and add only fine detail. The image shows: {prompt}"
)
VARY_INSTRUCTION = (
    "Create a variation of the attached image: keep its subject, palette and style, change the composition "
    "and details. The image shows: {prompt}"
)
INSTRUCTIONS = {
    ActionKind.UPSCALE_2K: UPSCALE_INSTRUCTION,
    ActionKind.UPSCALE_4K: UPSCALE_INSTRUCTION,
    ActionKind.VARY: VARY_INSTRUCTION,
}


async def imagine(ctx: Context, command: Command) -> list[Reply]:
    options = _options(command.flags)
    defaults = ctx.account.preferences
    generation = ctx.services.generation
    n_text = options.get("n", "1")
    n = whole_number(n_text, digits=3)
    if n is None:
        raise UserError("bad_count", value=n_text, limit=generation.max_images_per_request)
    spec = ImagineSpec(
        prompt=command.text,
        ratio=AspectRatio.parse(options.get("ar") or defaults.get("ar") or "1:1"),
        tier=parse_tier(options.get("res") or defaults.get("res") or Tier.K1.value),
        style=style_name(ctx.services.styles, options["style"])
        if "style" in options
        else defaults.get("style") or "none",
        model=options.get("model") or defaults.get("model") or generation.model,
        n=n,
    )
    if not shows_something(spec.prompt):  # an invisible prompt would be charged for a random picture
        raise UserError("empty_prompt")
    _check_declared(ctx, ctx.attachments)
    request_key = f"{ctx.chat.serialize()}:{ctx.message_id}" if ctx.message_id else None
    return await _submit(ctx, spec, request_key, ctx.attachments)


async def typed_action(ctx: Context, command: Command) -> list[Reply]:
    """`/action <job> <action> [image]`: buttons for doors without buttons. The action is its value
    (`upscale-2k`) or its button's label in any language (`重绘`, `放大 2K`)."""
    words = command.words
    kind = _action_named(" ".join(words[1:3])) if len(words) > 2 else None  # a label of two words
    rest = words[3:] if kind is not None else words[2:]
    kind = kind or (_action_named(words[1]) if len(words) > 1 else None)
    index = whole_number(rest[0], digits=3) if len(rest) == 1 else 1
    if kind is None or len(rest) > 1 or index is None:
        raise UserError("action_usage")
    return await run_action(ctx, parse_job_id(words[0]), kind, index)


async def run_action(ctx: Context, job_id: int, kind: ActionKind, index: int) -> list[Reply]:
    parent = await ctx.services.jobs.get(job_id) if 0 < job_id <= LARGEST_JOB_ID else None
    if parent is None or parent.account_id != ctx.account.id:  # alike: job numbers stay unknown
        raise UserError("job_not_found", job=job_id)
    if parent.erased_at is not None:  # nothing left to draw from: refused before anything is charged
        raise UserError("job_erased", job=job_id)
    base = ImagineSpec(
        prompt=parent.prompt,
        ratio=AspectRatio.parse(parent.ratio),
        tier=Tier(parent.tier),
        style=parent.style,
        model=parent.model,
        n=parent.n,
        references=tuple(parent.references),
        parent_id=parent.id,
        action=parent.action,
        instruction=INSTRUCTIONS.get(ActionKind(parent.action)) if parent.action else None,
    )
    if kind == ActionKind.REROLL:
        return await _submit(ctx, base)
    if parent.status != JobStatus.SUCCEEDED or not parent.outputs:
        raise UserError("job_not_finished", job=job_id)
    if not 1 <= index <= len(parent.outputs):
        raise UserError("bad_image_index", job=job_id, count=len(parent.outputs))
    tier = UPSCALE_TARGETS.get(kind, base.tier)
    if kind in UPSCALE_TARGETS:
        if tier.budget <= base.tier.budget:
            raise UserError("already_at_resolution", job=job_id, res=base.tier.value.upper())
        width, height = ctx.services.jobs.size(parent.model, tier, base.ratio)
        if width * height <= parent.width * parent.height:
            raise UserError(
                "upscale_unavailable", model=parent.model, width=parent.width, height=parent.height
            )
    spec = replace(
        base,
        tier=tier,
        n=1,
        references=(parent.outputs[index - 1],),
        action=kind.value,
        instruction=INSTRUCTIONS[kind],
    )
    return await _submit(ctx, spec)


async def _submit(
    ctx: Context, spec: ImagineSpec, request_key: str | None = None, attachments: tuple[Attachment, ...] = ()
) -> list[Reply]:
    payments, jobs = ctx.services.payments, ctx.services.jobs
    if ctx.services.content_rules.blocks(spec.prompt, ctx.chat):  # never says which rule matched
        raise UserError("content_blocked")
    standing = ctx.standing if _still_current(ctx) else await _standing(ctx)
    refused = admission.refusal(
        standing,
        tier=spec.tier,
        allowed=payments.max_tier(standing.bought_pack, standing.plan),
        unlocking=lambda tier: ", ".join(f"/buy {item.id}" for item in payments.unlocking(tier)) or "—",
        now=utcnow(),
    )
    if refused is not None:
        raise refused
    wallet, standing = await _group_wallet(ctx, spec, standing)
    if attachments:  # what the standing refuses is refused before references are downloaded and decoded
        jobs.check(spec, standing, group=wallet is not None)
        spec = replace(spec, references=await _store_references(ctx, attachments))
    submitted = await jobs.submit(
        ctx.account, ctx.user, ctx.chat, ctx.language, spec, standing, request_key=request_key, wallet=wallet
    )
    return [replies.queued(ctx.t, submitted.job_id, submitted.position, submitted.cost, submitted.balance)]


async def _group_wallet(
    ctx: Context, spec: ImagineSpec, standing: Standing
) -> tuple[WalletCharge | None, Standing]:
    """In a group whose wallet is on: the wallet that pays, and the standing with its balance instead
    of the member's; its quota and cap are refused here first (the write decides again, atomically)."""
    if not is_group(ctx.chat):
        return None, standing
    found = await ctx.services.groups.charge(
        ctx.chat.serialize(), ctx.account.id, zone=ctx.clock.zone, now=utcnow()
    )
    if found is None:
        return None, standing
    wallet, balance, by_member, by_group = found
    if refused := admission.over_group_limits(
        wallet, used_by_member=by_member, used_by_group=by_group, images=spec.n
    ):
        raise refused
    return wallet, replace(
        standing, balance_subscription=balance.subscription, balance_one_time=balance.one_time
    )


def _still_current(ctx: Context) -> bool:
    """Whether the standing read with the asker still holds: it was read, and the privacy gate did
    not accept the terms on the user's behalf since (implied acceptance may grant the trial)."""
    return ctx.standing is not None and ctx.privacy.accepted(ctx.services.privacy.settings)


async def _standing(ctx: Context) -> Standing:
    """The account's standing, read again: for a request whose asker was read without it (the first
    contact), or before the privacy gate wrote."""
    async with ctx.services.db.read() as session:
        found = await asker.who_asks(
            session,
            ctx.user.platform,
            ctx.user.user_id,
            standing_since=utcnow() - admission.STRIKE_WINDOW,
            strikes_for_cooldown=ctx.services.generation.safety_strikes,
        )
    standing = found[1] if found is not None else None
    assert standing is not None, "the asker's account exists"
    return standing


def style_name(styles: StyleBook, word: str) -> str:
    """The name of the style `word` means (by name or label, in any language), else the refusal with
    the name or label it most likely meant."""
    style = styles.find(word)
    if style is not None:
        return style.name
    listed = ", ".join(styles.names())
    meant = closest(word, styles.words())
    if meant is None:
        raise UserError("unknown_style", value=word, styles=listed)
    raise UserError("unknown_style_suggest", value=word, suggestion=meant, styles=listed)


def _options(flags: dict[str, str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in flags.items():
        canonical = OPTION_ALIASES.get(name)
        if canonical is None:
            raise unknown_flag(name, OPTION_ALIASES)
        options[canonical] = value
    return options


def _action_named(word: str) -> ActionKind | None:
    wanted = _folded(word)
    for kind in ActionKind:
        key = f"action.{kind.value.replace('-', '_')}"  # the label of its button
        labels = (translate(language, key) for language in LANGUAGES)
        if wanted and (wanted == _folded(kind.value) or any(wanted == _folded(label) for label in labels)):
            return kind
    return None


def _folded(word: str) -> str:
    """The word without case, spaces, dashes or emoji: `⬆️ Upscale 2K` is `upscale2k`."""
    return "".join(char for char in word.casefold() if char.isalnum())


def _check_declared(ctx: Context, attachments: tuple[Attachment, ...]) -> None:
    """Refuses what the attachments' metadata tells, before anything is downloaded."""
    generation = ctx.services.generation
    if len(attachments) > generation.max_reference_images:
        raise UserError("too_many_references", limit=generation.max_reference_images)
    for attachment in attachments:
        if attachment.size is not None and attachment.size > generation.max_reference_bytes:
            raise _too_large(ctx, attachment.name)


async def _store_references(ctx: Context, attachments: tuple[Attachment, ...]) -> tuple[str, ...]:
    """Downloads each reference and checks its header, then decodes (reduced) and stores them all:
    nothing is decoded for a request one of its references would refuse."""
    references = ctx.services.jobs.references
    files: list[tuple[str, bytes]] = []
    for attachment in attachments:
        data = await _download(ctx, attachment)
        await references.check(data, attachment.name)
        files.append((attachment.name, data))
    stored: list[str] = []
    while files:  # each download is let go once stored
        name, data = files.pop(0)
        stored.append(await references.store(data, name))
    return tuple(stored)


async def _download(ctx: Context, attachment: Attachment) -> bytes:
    try:
        data = await attachment.fetch()
    except UserError:
        raise
    except Exception:
        raise UserError("reference_unreadable", name=attachment.name) from None
    if len(data) > ctx.services.generation.max_reference_bytes:
        raise _too_large(ctx, attachment.name)
    return data


def _too_large(ctx: Context, name: str) -> UserError:
    limit_mb = ctx.services.generation.max_reference_bytes // (1024 * 1024)
    return UserError("reference_too_large", name=name, limit=limit_mb)
