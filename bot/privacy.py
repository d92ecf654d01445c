"""Wiring of the privacy services: the doors' upload limits and pace, the one-time download route."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web

from bot.config import Settings
from bot.web import WebServer
from core.accounts import Accounts
from core.db.session import Database
from core.generation.jobs import WorkerControl
from core.generation.storage import Storage
from core.notifier import Notifier
from core.privacy.service import Privacy
from platforms.base import Capabilities

log = logging.getLogger(__name__)

DOWNLOAD_PATH = "/privacy/export"
# Messages per second a broadcast may send through each door: below Telegram's 30/s for bots,
# Discord's per-route limits for new DMs, WeCom's application message quota.
BROADCAST_RATES = {"telegram": 25.0, "discord": 4.0, "wecom": 5.0, "wecom-kf": 5.0, "console": 50.0}


def build_privacy(
    settings: Settings,
    *,
    db: Database,
    accounts: Accounts,
    storage: Storage,
    notifier: Notifier,
    worker: WorkerControl,
) -> Privacy:
    privacy = Privacy.build(
        settings.privacy,
        db=db,
        accounts=accounts,
        storage=storage,
        notifier=notifier,
        worker=worker,
        default_language=settings.bot.default_language,
    )
    privacy.broadcasts.rates.update(BROADCAST_RATES)
    return privacy


class Door(Protocol):
    name: str
    capabilities: Capabilities


def connect_doors(privacy: Privacy, settings: Settings, doors: Sequence[Door], web: WebServer | None) -> None:
    """Exports as large as each door can send; beyond that a one-time link, when the web app is public."""
    privacy.exports.upload_limits.update({door.name: door.capabilities.max_upload_bytes for door in doors})
    if web is not None and settings.web.public_url:
        privacy.exports.download_base = settings.web.public_url.rstrip("/") + DOWNLOAD_PATH
        web.add_get(DOWNLOAD_PATH + "/{token}", export_download(privacy))


def export_download(privacy: Privacy) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """GET of a one-time export link: the ZIP once, within 24 hours; 404 for anything else."""

    async def download(request: web.Request) -> web.StreamResponse:
        data = await privacy.exports.claim_download(request.match_info["token"])
        if data is None:
            return web.Response(status=404, text="This download link is unknown, used or expired.")
        headers = {
            "Content-Disposition": 'attachment; filename="image2bot-export.zip"',
            "Cache-Control": "no-store",
        }
        return web.Response(body=data, content_type="application/zip", headers=headers)

    return download
