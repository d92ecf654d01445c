"""`image2bot users show` and the operator actions of `image2bot admin` for scripts: credits, freezes,
strikes, tickets, jobs by error reference, the audit log. The web admin does the same through the
same functions (core.admin, the support desk); every change is audited with `cli:<login>`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.app import default_console_user
from bot.config import Settings
from core import reports
from core.admin import accounts, audit
from core.admin import jobs as admin_jobs
from core.db.session import Database
from core.db.types import utcnow
from core.errors import UserError
from core.i18n import translate
from core.notifier import Notifier
from core.support import SupportDesk

AccountAction = Callable[[Database], Awaitable[int]]
WithDatabase = Callable[[Settings, str, AccountAction], Awaitable[int]]
Handler = Callable[[Settings, argparse.Namespace], Awaitable[int]]
PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def positive_int(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= accounts.MAX_OPERATOR_CREDITS:
        raise argparse.ArgumentTypeError(
            f"a positive whole number of credits, at most {accounts.MAX_OPERATOR_CREDITS}"
        )
    return int(value)


def actor() -> str:
    return f"cli:{default_console_user()}"


def add_users_commands(commands: Any, with_db: WithDatabase) -> None:
    users = commands.add_parser("users", help="look up accounts").add_subparsers(dest="users", required=True)
    show = users.add_parser("show", help="an account's whole picture: why it can or cannot generate")
    show.add_argument("identity", help="e.g. telegram:123 or console:alice, or an account id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_account_handler(with_db, "identity", _users_show))


def add_admin_commands(admin: Any, with_db: WithDatabase) -> None:
    """The account, ticket, job and audit commands of `image2bot admin`."""
    account = _account_command_adder(admin, with_db)
    grant = account("grant", "add one-time credits (an admin ledger entry); audited", _grant)
    grant.add_argument("credits", type=positive_int)
    grant.add_argument("--reason", required=True, help="why; kept in the ledger and the audit log")
    deduct = account("deduct", "take credits back (one-time first), never below zero; audited", _deduct)
    deduct.add_argument("credits", type=positive_int)
    deduct.add_argument("--reason", required=True, help="why; kept in the ledger and the audit log")
    ledger = account("ledger", "an account's ledger entries, oldest first", _ledger)
    ledger.add_argument("--kind", help="only entries of this kind (admin_grant, settle, refund, ...)")
    ledger.add_argument("--json", action="store_true")
    unfreeze = account(
        "unfreeze", "let a frozen account (a lost payment dispute) create images again; audited", _unfreeze
    )
    unfreeze.add_argument("--reason", required=True, help="why; kept in the audit log")
    strikes = admin.add_parser("strikes", help="safety strikes").add_subparsers(dest="strikes", required=True)
    _account_parser(strikes, with_db, "reset", "forget an account's safety strikes (ends a cooldown)", _reset)

    tickets = admin.add_parser("tickets", help="the support inbox, from every platform").add_subparsers(
        dest="tickets", required=True
    )
    listing = tickets.add_parser("list", help="tickets, the one written to last first")
    listing.add_argument("--all", action="store_true", help="closed ones too")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_database_handler(with_db, _tickets_list))
    for name, help_, run in (
        ("show", "a ticket and its thread", _ticket_show),
        ("answer", "answer in the user's chat", _ticket_answer),
        ("close", "close it; the user is told", _ticket_close),
        ("restore", "give back what the reported job charged, once per job; the user is told", _restore),
    ):
        parser = tickets.add_parser(name, help=help_)
        parser.add_argument("ticket", type=int)
        if name == "answer":
            parser.add_argument("text")
        parser.set_defaults(handler=_database_handler(with_db, run))

    job = admin.add_parser("job", help="the job behind an error reference a user quotes")
    job.add_argument("ref")
    job.add_argument("--json", action="store_true")
    job.set_defaults(handler=_database_handler(with_db, _job))
    failures = admin.add_parser("failures", help="failed jobs by cause")
    failures.add_argument("--period", choices=list(PERIODS), default="24h")
    failures.add_argument("--cause", help="list the failed jobs of this cause")
    failures.set_defaults(handler=_database_handler(with_db, _failures))
    log = admin.add_parser("audit", help="the audit log, newest first")
    log.add_argument("--actor")
    log.add_argument("--action")
    log.add_argument("--account", type=int)
    log.add_argument("--limit", type=int, default=audit.PAGE)
    log.add_argument("--json", action="store_true")
    log.set_defaults(handler=_database_handler(with_db, _audit))
    holds = admin.add_parser("holds", help="accounts under a legal hold")
    holds.set_defaults(handler=_database_handler(with_db, _holds))


# --- plumbing -----------------------------------------------------------------------------------------

AccountRun = Callable[[Settings, Database, int, argparse.Namespace], Awaitable[int]]
DatabaseRun = Callable[[Settings, Database, argparse.Namespace], Awaitable[int]]


def _account_command_adder(admin: Any, with_db: WithDatabase) -> Callable[[str, str, AccountRun], Any]:
    def add(name: str, help_: str, run: AccountRun) -> Any:
        return _account_parser(admin, with_db, name, help_, run)

    return add


def _account_parser(parent: Any, with_db: WithDatabase, name: str, help_: str, run: AccountRun) -> Any:
    parser = parent.add_parser(name, help=help_)
    parser.add_argument("who", help="an identity (telegram:123) or an account id")
    parser.set_defaults(handler=_account_handler(with_db, "who", run))
    return parser


def _account_handler(with_db: WithDatabase, argument: str, run: AccountRun) -> Handler:
    async def handler(settings: Settings, args: argparse.Namespace) -> int:
        who = getattr(args, argument)

        async def action(db: Database) -> int:
            return await run(settings, db, await accounts.find_account(db, who), args)

        return await with_db(settings, who, action)

    return handler


def _database_handler(with_db: WithDatabase, run: DatabaseRun) -> Handler:
    async def handler(settings: Settings, args: argparse.Namespace) -> int:
        async def action(db: Database) -> int:
            try:
                return await run(settings, db, args)
            except UserError as error:
                print(
                    translate(settings.bot.default_language, f"error.{error.code}", **error.params),
                    file=sys.stderr,
                )
                return 1

        return await with_db(settings, "", action)

    return handler


def _desk(settings: Settings, db: Database) -> SupportDesk:
    """The desk's operator actions; what they send waits in the outbox for the running bot."""
    return SupportDesk(
        db=db,
        notifier=Notifier(db),
        staff=frozenset(),
        staff_chats=(),
        admins=frozenset(),
        staff_language=settings.bot.default_language,
    )


def _print_json(value: Any) -> int:
    print(json.dumps(value, ensure_ascii=False))
    return 0


# --- accounts -----------------------------------------------------------------------------------------


async def _users_show(_settings: Settings, db: Database, account_id: int, args: argparse.Namespace) -> int:
    report = await accounts.report(db, account_id)
    if args.json:
        return _print_json(report)
    for line in report_lines(report, args.identity):
        print(line)
    return 0


def report_lines(report: dict[str, Any], who: str) -> list[str]:
    """`users show` as text: what can stop the account first, then its money, then its history."""
    balance = report["balance"]
    lines = [
        f"account {report['account_id']}: {', '.join(report['identities'])}",
        f"balance {balance['total']} "
        f"(subscription {balance['subscription']}, one-time {balance['one_time']})",
    ]
    if report["frozen"]:
        lines.append(f"frozen: {report['frozen']} (image2bot admin unfreeze {who} --reason ...)")
    if report["legal_hold"]:
        lines.append(f"legal hold: {report['legal_hold']} (image2bot admin unhold {who})")
    strikes = report["strikes"]
    if strikes["total"]:
        lines.append(
            f"safety strikes: {strikes['last_24h']} in 24 h, {strikes['total']} in all "
            f"(image2bot admin strikes reset {who})"
        )
    if subscription := report["subscription"]:
        ends = " (cancels at period end)" if subscription["cancel_at_period_end"] else ""
        lines.append(
            f"subscription {subscription['plan']}: {subscription['status']}, "
            f"period ends {subscription['current_period_end']}{ends}"
        )
    consents = report["consents"]
    accepted = consents["accepted_at"] or "not yet"
    lines.append(
        f"terms accepted: {accepted}; analytics {_on(consents['analytics'])}, "
        f"marketing {_on(consents['marketing'])}"
    )
    for warning in report["fraud_warnings"]:
        lines.append(f"  early fraud warning {warning['created_at']}: {warning.get('fraud_type')}")
    if report["payments"]:
        lines.append("payments:")
    for payment in report["payments"]:
        amount = f"{payment['amount']} {payment['currency']}" if payment["amount"] is not None else "-"
        lines.append(
            f"  #{payment['id']} {payment['created_at'][:16]} {payment['provider']} {payment['item']} "
            f"{payment['credits']} credits, {amount}: {payment['status']}"
        )
    if report["tickets"]:
        lines.append("tickets:")
    for ticket in report["tickets"]:
        lines.append(f"  #{ticket['id']} {ticket['status']} since {ticket['created_at'][:16]}")
    if report["jobs"]:
        lines.append("jobs:")
    for job in report["jobs"]:
        error = f" {job['error']} ref {job['error_ref']}" if job["error"] else ""
        lines.append(
            f"  job {job['id']}: {job['status']} {job['size']} {job['style']} cost {job['cost']}{error}"
        )
    return lines


def _on(value: bool) -> str:
    return "on" if value else "off"


async def _grant(_settings: Settings, db: Database, account_id: int, args: argparse.Namespace) -> int:
    balance = await accounts.grant(db, account_id, args.credits, reason=args.reason, actor=actor())
    print(f"granted {args.credits} credits to account {account_id}; balance {balance.total}")
    return 0


async def _deduct(_settings: Settings, db: Database, account_id: int, args: argparse.Namespace) -> int:
    try:
        balance = await accounts.deduct(db, account_id, args.credits, reason=args.reason, actor=actor())
    except accounts.InsufficientCredits as short:
        print(f"account {account_id} has only {short.balance.total} credits; nothing taken", file=sys.stderr)
        return 1
    print(f"took {args.credits} credits from account {account_id}; balance {balance.total}")
    return 0


async def _ledger(_settings: Settings, db: Database, account_id: int, args: argparse.Namespace) -> int:
    entries = await accounts.ledger(db, account_id, kind=args.kind)
    if args.json:
        return _print_json(entries)
    for entry in entries:
        note = f"  ({entry['note']})" if entry["note"] else ""
        print(
            f"{entry['created_at']}  {entry['delta']:+6d}  {entry['bucket']:<12} {entry['kind']:<12} "
            f"{entry['reference'] or '':<12}{note}"
        )
    return 0


async def _unfreeze(settings: Settings, db: Database, account_id: int, args: argparse.Namespace) -> int:
    was = await accounts.unfreeze(
        db, account_id, reason=args.reason, actor=actor(), default_language=settings.bot.default_language
    )
    if was is None:
        print(f"account {account_id} is not frozen")
        return 0
    print(f"account {account_id} unfrozen (was: {was})")
    return 0


async def _reset(_settings: Settings, db: Database, account_id: int, _args: argparse.Namespace) -> int:
    removed = await accounts.reset_strikes(db, account_id, actor=actor())
    print(f"account {account_id}: {removed} safety strikes removed")
    return 0


# --- tickets ------------------------------------------------------------------------------------------


async def _tickets_list(settings: Settings, db: Database, args: argparse.Namespace) -> int:
    tickets = await _desk(settings, db).tickets(status=None if args.all else "open")
    if args.json:
        return _print_json(tickets)
    if not tickets:
        print("no open tickets" if not args.all else "no tickets")
    for ticket in tickets:
        print(
            f"#{ticket['id']} {ticket['status']:<6} {ticket['identity']:<24} "
            f"{ticket['last_at'][:16]} {ticket['last_author']}: {ticket['preview']}"
        )
    return 0


async def _ticket_show(settings: Settings, db: Database, args: argparse.Namespace) -> int:
    ticket = await _desk(settings, db).ticket(args.ticket)
    print(
        f"ticket #{ticket['id']} ({ticket['status']}) from {ticket['identity']}, "
        f"account {ticket['account_id']}"
    )
    if (job := ticket["job"]) is not None:
        print(
            f"reports job {job['id']}: {job['status']} {job['tier']} {job['size']} x{job['images']}, "
            f"charged {job['charged']} (subscription {job['subscription']}, one-time {job['one_time']}), "
            f"error ref {job['error_ref'] or '-'}{', credits restored' if job['restored'] else ''}"
        )
    for entry in ticket["thread"]:
        print(f"  {entry['created_at'][:16]} {entry['author']}: {entry['body']}")
    return 0


async def _ticket_answer(settings: Settings, db: Database, args: argparse.Namespace) -> int:
    ticket = await _desk(settings, db).reply(args.ticket, args.text, actor=actor())
    print(f"answer to ticket #{ticket.id} queued for {ticket.chat}; the running bot delivers it")
    return 0


async def _ticket_close(settings: Settings, db: Database, args: argparse.Namespace) -> int:
    closed = await _desk(settings, db).close(args.ticket, actor=actor())
    print(f"ticket #{args.ticket} {'closed; the user will be told' if closed else 'was already closed'}")
    return 0


async def _restore(settings: Settings, db: Database, args: argparse.Namespace) -> int:
    restored = await reports.restore(_desk(settings, db), args.ticket, actor=actor())
    print(
        f"restored {restored.credits} credits of job {restored.job_id} (ticket #{restored.ticket_id}); "
        f"balance {restored.balance}; the user will be told"
    )
    return 0


# --- jobs and the audit log ---------------------------------------------------------------------------


async def _job(_settings: Settings, db: Database, args: argparse.Namespace) -> int:
    job = await admin_jobs.by_reference(db, args.ref)
    if job is None:
        print(f"no job with error reference {args.ref}", file=sys.stderr)
        return 1
    if args.json:
        return _print_json(job)
    print(f"job {job['id']} of account {job['account_id']} ({job['identity']}): {job['status']}")
    print(f"  error {job['error']} (ref {job['error_ref']}), {job['attempts']} attempts")
    print(f"  {job['size']} {job['style']} {job['model']} x{job['n']}, cost {job['cost']}")
    print(f"  created {job['created_at']}, started {job['started_at']}, finished {job['finished_at']}")
    return 0


async def _failures(_settings: Settings, db: Database, args: argparse.Namespace) -> int:
    since = utcnow() - PERIODS[args.period]
    if args.cause:
        for job in await admin_jobs.failures(db, since=since, cause=args.cause):
            print(
                f"job {job['id']} account {job['account_id']} ref {job['error_ref']} {job['created_at'][:16]}"
            )
        return 0
    causes = await admin_jobs.failure_causes(db, since=since)
    if not causes:
        print(f"no failed jobs in the last {args.period}")
    for cause, count in causes.items():
        print(f"{count:6d}  {cause}")
    return 0


async def _audit(_settings: Settings, db: Database, args: argparse.Namespace) -> int:
    entries = await audit.entries(
        db, actor=args.actor, action=args.action, account_id=args.account, limit=args.limit
    )
    if args.json:
        return _print_json(entries)
    for entry in entries:
        account = f" account {entry['account_id']}" if entry["account_id"] is not None else ""
        details = json.dumps(entry["details"], ensure_ascii=False)
        print(f"{entry['created_at'][:19]} {entry['actor']} {entry['action']}{account} {details}")
    return 0


async def _holds(_settings: Settings, db: Database, _args: argparse.Namespace) -> int:
    held = await accounts.legal_holds(db)
    if not held:
        print("no account is under a legal hold")
    for hold in held:
        print(f"account {hold['account_id']}: {hold['reason']}")
    return 0
