"""`image2bot admin code create|list|disable`: operators' credit codes for `/redeem`.

The web admin's Codes page does the same through the same functions (core.growth.codes); every
change is audited with `cli:<login>`. A code is printed once, when it is created: only its hash is kept.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from bot.admin_cli import actor, positive_int
from bot.config import Settings
from core.db.session import Database
from core.db.types import utcnow
from core.growth.codes import MAX_CODE_CHARS, MAX_USES, MIN_CODE_CHARS, Codes, CodeView, InvalidCode, end_of

WithDatabase = Callable[[Settings, str, Callable[[Database], Awaitable[int]]], Awaitable[int]]


def add_commands(admin: Any, with_db: WithDatabase) -> None:
    parser = admin.add_parser("code", help="credit codes for /redeem")
    code = parser.add_subparsers(dest="code", required=True)
    create = code.add_parser("create", help="a new code; printed once, only its hash is kept; audited")
    create.add_argument("--credits", type=positive_int, required=True, help="credits each redemption adds")
    create.add_argument("--uses", type=uses, required=True, help="how many accounts may redeem it in all")
    create.add_argument("--expires", type=day, help="the last day it works (YYYY-MM-DD, UTC)")
    create.add_argument("--code", type=chosen, help="the code itself (default: drawn at random)")
    create.set_defaults(handler=_handler(with_db, _create))
    listing = code.add_parser("list", help="the codes, newest first: prefix, credits, uses, state")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_handler(with_db, _list))
    disable = code.add_parser("disable", help="end a code now; audited")
    disable.add_argument("id", type=int)
    disable.set_defaults(handler=_handler(with_db, _disable))


def uses(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_USES:
        raise argparse.ArgumentTypeError(f"a positive whole number, at most {MAX_USES}")
    return int(value)


def day(value: str) -> datetime:
    """The end of that day (UTC): a code 'expiring 2027-01-31' works all of that day."""
    try:
        return end_of(date.fromisoformat(value))
    except ValueError:
        raise argparse.ArgumentTypeError("a date like 2027-01-31") from None


def chosen(value: str) -> str:
    if not value.isascii() or not MIN_CODE_CHARS <= sum(char.isalnum() for char in value) <= MAX_CODE_CHARS:
        raise argparse.ArgumentTypeError(f"{MIN_CODE_CHARS} to {MAX_CODE_CHARS} ASCII letters and digits")
    return value


Run = Callable[[Settings, Codes, argparse.Namespace], Awaitable[int]]


def _handler(with_db: WithDatabase, run: Run) -> Callable[[Settings, argparse.Namespace], Awaitable[int]]:
    async def handler(settings: Settings, args: argparse.Namespace) -> int:
        async def action(db: Database) -> int:
            return await run(settings, Codes(db, settings.codes), args)

        return await with_db(settings, "", action)

    return handler


async def _create(_settings: Settings, codes: Codes, args: argparse.Namespace) -> int:
    if args.expires is not None and args.expires <= utcnow():
        print("that day is over already: choose a later --expires")
        return 2
    try:
        plain, view = await codes.create(
            credits_each=args.credits, uses=args.uses, expires_at=args.expires, actor=actor(), code=args.code
        )
    except InvalidCode as refused:
        print(f"not created: {refused}")
        return 1
    print(plain)
    print(f"code {view.id}: {view.credits} credits, {view.uses} uses, {_expiry(view)} (shown only now)")
    return 0


async def _list(_settings: Settings, codes: Codes, args: argparse.Namespace) -> int:
    now = utcnow()
    found = await codes.list()
    if args.json:
        print(json.dumps([view.as_dict(now) for view in found], ensure_ascii=False))
        return 0
    for view in found:
        print(
            f"{view.id:>5}  {view.prefix}…  {view.credits} credits  {view.used}/{view.uses} used  "
            f"{_expiry(view)}  {view.state(now).value}"
        )
    return 0


async def _disable(_settings: Settings, codes: Codes, args: argparse.Namespace) -> int:
    if not await codes.disable(args.id, actor=actor()):
        print(f"no code {args.id}, or it is disabled already")
        return 1
    print(f"code {args.id} disabled")
    return 0


def _expiry(view: CodeView) -> str:
    return f"valid through {view.last_day.isoformat()}" if view.last_day else "no expiry"
