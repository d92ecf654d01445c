"""`image2bot admin hold|unhold|export|delete|broadcast`: privacy requests fulfilled by the operator.

These run beside the bot, on the same database and data folder. Every one is written to the audit log
(who, what, when; no content). A broadcast is only recorded here: the running bot sends it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any

from bot.app import default_console_user
from bot.config import Settings
from bot.storage import build_storage
from core.accounts import Accounts
from core.admin import audit
from core.admin.accounts import find_account
from core.db import migrate
from core.db.session import Database
from core.notifier import Notifier
from core.privacy.erase import OnLegalHold
from core.privacy.service import Privacy

AccountAction = Callable[[Database], Awaitable[int]]
WithAccount = Callable[[Settings, str, AccountAction], Awaitable[int]]
AccountRun = Callable[[Privacy, Database, int, argparse.Namespace], Awaitable[int]]


class _NoWorker:
    """The command line has no worker pool: jobs are stopped by the bot that runs them."""

    def wake(self) -> None:
        return None

    def abort(self, job_id: int) -> None:
        return None


def add_commands(admin: Any, with_account: WithAccount) -> None:
    """Adds the privacy commands to `image2bot admin`."""

    def account_command(name: str, help_: str, run: AccountRun) -> Any:
        parser = admin.add_parser(name, help=help_)
        parser.add_argument("identity", help="an identity (telegram:123) or an account id")

        async def handler(settings: Settings, args: argparse.Namespace) -> int:
            async def action(db: Database) -> int:
                return await run(_privacy(settings, db), db, await find_account(db, args.identity), args)

            return await with_account(settings, args.identity, action)

        parser.set_defaults(handler=handler)
        return parser

    hold = account_command("hold", "place a legal hold: no erasure, no retention purge", _hold)
    hold.add_argument(
        "--reason", default="legal hold", help="kept for operators; users are told only that a hold applies"
    )
    account_command("unhold", "lift a legal hold", _unhold)
    export = account_command(
        "export", "write an account's data export (a ZIP) for a request received elsewhere", _export
    )
    export.add_argument(
        "--out", type=Path, default=Path("."), help="folder to write the ZIP to (default: the current one)"
    )
    delete = account_command("delete", "erase an account's personal data for good", _delete)
    delete.add_argument("--yes", action="store_true", required=True, help="confirm: this cannot be undone")
    for request in (export, delete):
        request.add_argument(
            "--verified-by",
            required=True,
            help="how the requester was shown to be the account holder (kept in the audit log)",
        )
    broadcast = admin.add_parser("broadcast", help="a message to every account with marketing on")
    broadcast.add_argument("--text", required=True)
    broadcast.set_defaults(handler=_broadcast)


def _privacy(settings: Settings, db: Database) -> Privacy:
    accounts = Accounts(db, trial_credits=settings.credits.trial, admins=settings.bot.admins)
    return Privacy.build(
        settings.privacy,
        db=db,
        accounts=accounts,
        storage=build_storage(settings.storage),
        notifier=Notifier(db),
        worker=_NoWorker(),
        default_language=settings.bot.default_language,
    )


def _actor() -> str:
    return f"cli:{default_console_user()}"


async def _hold(privacy: Privacy, _db: Database, account_id: int, args: argparse.Namespace) -> int:
    changed = await privacy.consents.hold(account_id, args.reason, actor=_actor())
    state = "is now" if changed else "already was"
    print(f"account {account_id} {state} under a legal hold: no erasure, no retention purge")
    return 0


async def _unhold(privacy: Privacy, _db: Database, account_id: int, _args: argparse.Namespace) -> int:
    changed = await privacy.consents.hold(account_id, None, actor=_actor())
    print(f"account {account_id}: legal hold {'lifted' if changed else 'was not in place'}")
    return 0


async def _export(privacy: Privacy, db: Database, account_id: int, args: argparse.Namespace) -> int:
    key = await privacy.exports.for_operator(account_id, _actor())
    await _verified(db, account_id, "export", args.verified_by)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / PurePosixPath(key).name
    await asyncio.to_thread(path.write_bytes, await privacy.exports.read(key))
    print(f"export of account {account_id}: {path}")
    return 0


async def _delete(privacy: Privacy, db: Database, account_id: int, args: argparse.Namespace) -> int:
    try:
        await privacy.eraser.erase_now(account_id, _actor())
    except OnLegalHold:
        print(f"account {account_id} is under a legal hold: lift it first (image2bot admin unhold)")
        return 1
    # Written after the erasure, which empties the details of the account's earlier audit entries.
    await _verified(db, account_id, "erasure", args.verified_by)
    print(f"account {account_id} erased: ledger and payment records kept without identity")
    return 0


async def _verified(db: Database, account_id: int, request: str, verified_by: str) -> None:
    """How the requester of an export or an erasure received by e-mail was verified, for the record."""
    await audit.record(
        db,
        actor=_actor(),
        action="request_verified",
        account_id=account_id,
        details={"request": request, "verified_by": verified_by},
    )


async def _broadcast(settings: Settings, args: argparse.Namespace) -> int:
    db = settings.open_database()
    try:
        if await migrate.pending(db.engine):
            await migrate.upgrade(db.engine)
        broadcast_id, recipients = await _privacy(settings, db).broadcasts.queue(args.text, actor=_actor())
    finally:
        await db.dispose()
    print(f"broadcast {broadcast_id} queued for {recipients} accounts with marketing on; the bot sends it")
    return 0
