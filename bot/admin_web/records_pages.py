"""The overview, jobs (by error reference, failures by cause) and the audit log: what happened, read-only."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.admin_web.guard import Page
from bot.admin_web.overview_page import overview_context
from bot.admin_web.render import Renderer
from core.admin import audit
from core.admin import jobs as admin_jobs
from core.commands.parser import whole_number
from core.db.session import Database
from core.db.types import utcnow
from core.operators import SignedIn

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
FAILURE_ROWS = 100
AUDIT_ROWS = 100


class RecordPages:
    def __init__(self, db: Database, renderer: Renderer) -> None:
        self._db = db
        self._renderer = renderer

    def pages(self) -> dict[str, Page]:
        return {"/admin": self.overview, "/admin/jobs": self.jobs, "/admin/audit": self.audit}

    async def overview(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        context = await overview_context(self._db, request.query.get("period"))
        return self._renderer.page("overview.html", signed_in, section="overview", **context)

    async def jobs(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        reference = request.query.get("ref", "").strip()
        period = request.query.get("period", "24h")
        period = period if period in PERIODS else "24h"
        cause = request.query.get("cause", "").strip()
        since = utcnow() - PERIODS[period]
        found = await admin_jobs.by_reference(self._db, reference) if reference else None
        causes = await admin_jobs.failure_causes(self._db, since=since)
        failures = await admin_jobs.failures(self._db, since=since, cause=cause or None, limit=FAILURE_ROWS)
        return self._renderer.page(
            "jobs.html",
            signed_in,
            section="jobs",
            reference=reference,
            found=found,
            period=period,
            periods=list(PERIODS),
            cause=cause,
            causes=sorted(causes.items(), key=lambda item: (-item[1], item[0])),
            failures=failures,
        )

    async def audit(self, request: web.Request, signed_in: SignedIn) -> web.StreamResponse:
        actor = request.query.get("actor", "").strip()
        action = request.query.get("action", "").strip()
        account = request.query.get("account", "").strip()
        before = request.query.get("before", "").strip()
        entries = await audit.entries(
            self._db,
            actor=actor or None,
            action=action or None,
            account_id=whole_number(account),
            before_id=whole_number(before),
            limit=AUDIT_ROWS,
        )
        older = None
        if len(entries) == AUDIT_ROWS:
            query = {"actor": actor, "action": action, "account": account, "before": str(entries[-1]["id"])}
            older = "/admin/audit?" + urlencode({key: value for key, value in query.items() if value})
        return self._renderer.page(
            "audit.html",
            signed_in,
            section="audit",
            entries=entries,
            actions=await audit.actions(self._db),
            actor=actor,
            action=action,
            account=account,
            older=older,
        )
