"""`image2bot admin operator add|list|disable`: the people who may sign in to the web admin."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app import default_console_user
from bot.config import Settings
from core.db import migrate
from core.operators import OperatorError, Operators


def add_commands(admin: Any) -> None:
    """Adds `operator add|list|disable` to `image2bot admin`."""
    operator = admin.add_parser("operator", help="who may sign in to the web admin (/admin)")
    commands = operator.add_subparsers(dest="operator", required=True)
    add = commands.add_parser("add", help="create an operator; asks for the password twice")
    add.add_argument("name")
    add.add_argument("--totp", action="store_true", help="also ask for a code from an authenticator app")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    add.set_defaults(handler=_add)
    commands.add_parser("list", help="every operator, with its second factor and state").set_defaults(
        handler=_list
    )
    disable = commands.add_parser("disable", help="refuse an operator's sign-ins and end its sessions")
    disable.add_argument("name")
    disable.set_defaults(handler=_disable)


def _actor() -> str:
    return f"cli:{default_console_user()}"


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("the two passwords differ", file=sys.stderr)
        return None
    return first


async def _add(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    if password is None:
        return 1

    async def add(operators: Operators) -> int:
        new = await operators.add(args.name, password, totp=args.totp, actor=_actor())
        print(f"operator {new.name} added; sign in at /admin on the web server")
        if new.totp_secret is not None:
            print("add this to an authenticator app now (it is not shown again):")
            print(f"  secret: {new.totp_secret}")
            print(f"  {new.totp_uri}")
        return 0

    return await _with_operators(settings, add)


async def _list(settings: Settings, _args: argparse.Namespace) -> int:
    async def show(operators: Operators) -> int:
        for operator in await operators.roster():
            factor = "password + code" if operator.two_factor else "password"
            state = f"disabled {operator.disabled_at:%Y-%m-%d}" if operator.disabled_at else "active"
            print(f"{operator.name:<24} {factor:<16} {state:<20} added {operator.created_at:%Y-%m-%d}")
        return 0

    return await _with_operators(settings, show)


async def _disable(settings: Settings, args: argparse.Namespace) -> int:
    async def disable(operators: Operators) -> int:
        changed = await operators.disable(args.name, actor=_actor())
        print(f"operator {args.name} {'disabled and signed out' if changed else 'was disabled already'}")
        return 0

    return await _with_operators(settings, disable)


async def _with_operators(settings: Settings, action: Callable[[Operators], Awaitable[int]]) -> int:
    db = settings.open_database()
    try:
        if await migrate.pending(db.engine):
            await migrate.upgrade(db.engine)
        return await action(Operators(db))
    except OperatorError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        await db.dispose()
