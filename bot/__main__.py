"""`image2bot` (also `python -m bot`): run the bot, chat in the console, migrate, look after accounts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path

from bot import admin_cli, codes_cli, log_redaction, operator_cli, privacy_cli, providers_cli
from bot.app import App, ConsoleOptions, Role, build, console_door_enabled, default_console_user
from bot.config import ConfigError, Settings, load_settings
from bot.log_json import JsonFormatter
from core.admin import accounts
from core.db import migrate
from core.db.session import Database
from core.payments.stars import UnknownCharge

log = logging.getLogger("image2bot")

LOG_FILE = Path("logs") / "image2bot.log"  # under data_dir
LOG_FILE_MAX_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 3  # image2bot.log.1 .. .3: at most 20 MB in all


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    log_file = _configure_logging(args, settings)
    try:
        return asyncio.run(args.handler(settings, args))
    except KeyboardInterrupt:
        return 130
    except Exception:
        if log_file is None:
            raise
        log.exception("image2bot stopped on an error")  # in the file: never a traceback in the chat
        print(f"image2bot stopped on an error; see {log_file}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="image2bot", description=__doc__)
    parser.add_argument(
        "--config", help="config file (default: $IMAGE2BOT_CONFIG, else ./config.toml if present)"
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help="DEBUG, INFO, WARNING (default: INFO; WARNING for a console chat on a pipe)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start every enabled platform, the web server and the workers")
    run.add_argument(
        "--role",
        choices=[role.value for role in Role],
        default=Role.ALL.value,
        help="all (default): everything in one process; gateway: chat platforms; worker: generations; "
        "web: webhooks. Any number of processes can share one PostgreSQL database.",
    )
    run.set_defaults(handler=_run)

    console = commands.add_parser(
        "console", help="the same application, with a console chat in the foreground"
    )
    console.add_argument("--user", default=None, help="chat as console:USER (default: the OS user)")
    console.add_argument("--json", action="store_true", help="print one JSON object per reply")
    console.set_defaults(handler=_console)

    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(handler=_migrate)

    admin_cli.add_users_commands(commands, _with_account_db)
    admin_parser = commands.add_parser("admin", help="operator actions").add_subparsers(
        dest="admin", required=True
    )
    admin_cli.add_admin_commands(admin_parser, _with_account_db)
    privacy_cli.add_commands(admin_parser, _with_account_db)
    operator_cli.add_commands(admin_parser)
    providers_cli.add_commands(admin_parser)
    codes_cli.add_commands(admin_parser, _with_account_db)
    refund = admin_parser.add_parser(
        "refund-stars", help="return a Telegram Stars payment to the buyer and take its credits back"
    )
    refund.add_argument("charge_id", help="the payment's telegram_payment_charge_id (see admin ledger)")
    refund.set_defaults(handler=_admin_refund_stars)
    return parser


def _configure_logging(args: argparse.Namespace, settings: Settings) -> Path | None:
    """--log-level, else `[logging] level`, else INFO. While a console chat is in the foreground of a
    terminal, logs go to a file under data_dir (its path printed once), so that no warning or traceback
    lands between the replies; a console chat reading a pipe keeps stderr, at WARNING by default.
    Returns the log file, if any."""
    chatting = args.command == "console" or (
        args.command == "run" and Role(args.role).doors and console_door_enabled(settings)
    )
    log_file = settings.storage.data_dir / LOG_FILE if chatting and sys.stdin.isatty() else None
    default = settings.logging.level or ("WARNING" if chatting and log_file is None else "INFO")
    configure_logging(
        args.log_level or default,
        log_redaction.configured_secrets(settings),
        json_lines=settings.logging.format == "json",
        file=log_file,
    )
    if log_file is not None:
        print(f"logs: {log_file}", file=sys.stderr)
    return log_file


# Libraries that log SQL with its parameters, request bodies or request URLs (prompts, keys, and the
# bot token that Telegram puts in its URLs) at INFO or DEBUG: they only ever log warnings.
PAYLOAD_LOGGERS = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "openai",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "stripe",
    "telegram",  # every Bot API call with its parameters (texts, captions) and every update received
    "discord",  # request bodies and whole gateway events: prompts and interaction tokens
    "urllib3",  # wechatpy's requests: URLs carry WeCom's access token, and gettoken the corp secret
    "wechatpy",  # request arguments and answers
    "aiohttp",  # the web server's and the HTTP clients' internals, requests included
)


def configure_logging(
    level: str, secrets: Iterable[str] = (), *, json_lines: bool = False, file: Path | None = None
) -> None:
    """Logs to stderr, or to `file` (rotated by size), at `level`, as text or one JSON object a line,
    masking `secrets`, keys, tokens and e-mail addresses in every record (bot.log_redaction); the
    payload-logging libraries never go below WARNING. With a file, Python's warnings go there too."""
    handler: logging.Handler
    if file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            file, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    logging.basicConfig(
        level=level.upper(),
        handlers=[handler],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if json_lines:
        handler.setFormatter(JsonFormatter())
    logging.captureWarnings(file is not None)
    log_redaction.install(secrets)
    floor = max(logging.getLogger().level, logging.WARNING)
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(floor)


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    return await _serve(build(settings, role=Role(args.role)))


async def _console(settings: Settings, args: argparse.Namespace) -> int:
    user = args.user or settings.console.user or default_console_user()
    return await _serve(build(settings, ConsoleOptions(user=user, json_output=args.json, foreground=True)))


async def _serve(app: App) -> int:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, app.stop)
    await app.run()
    return 0


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = settings.open_database()
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()
    print("database is up to date")
    return 0


async def _admin_refund_stars(settings: Settings, args: argparse.Namespace) -> int:
    """Telegram returns the Stars first; only then are the credits taken back (never below zero)."""
    import telegram  # only this command talks to Telegram directly

    if settings.telegram.token is None:
        print("set telegram.token: Telegram returns the Stars", file=sys.stderr)
        return 2
    app = build(settings, ConsoleOptions(user="operator"))
    try:
        await app.prepare()
        stars = app.core.services.stars
        try:
            buyer = await stars.buyer(args.charge_id)
        except UnknownCharge:
            print(f"no Telegram Stars payment with charge id {args.charge_id}", file=sys.stderr)
            return 1
        bot = telegram.Bot(
            settings.telegram.token.get_secret_value(),
            base_url=settings.telegram.base_url,
            base_file_url=settings.telegram.file_url,
        )
        try:
            async with bot:
                await bot.refund_star_payment(buyer, args.charge_id)
        except telegram.error.TelegramError as error:
            print(f"Telegram refused the refund: {error.message}", file=sys.stderr)
            return 1
        taken = await stars.reclaim(args.charge_id)
        print(f"refunded charge {args.charge_id}; {taken} credits taken back")
        return 0
    finally:
        await app.close()


async def _with_account_db(settings: Settings, who: str, action: Callable[[Database], Awaitable[int]]) -> int:
    db = settings.open_database()
    try:
        if await migrate.pending(db.engine):
            await migrate.upgrade(db.engine)
        return await action(db)
    except accounts.UnknownIdentity:
        print(f"unknown account or identity: {who}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()


if __name__ == "__main__":
    sys.exit(main())
