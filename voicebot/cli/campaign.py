"""`voicebot campaign ...` commands.

    campaign create --flow FILE --contacts FILE.csv [--name N] [--region US] [--window 08:00-21:00]
                    [--weekday sat=10:00-14:00] [--max-concurrent N] [--cps X] [--max-attempts N]
                    [--daily-cap N] [--retry busy=10x2] [--no-retry machine] [--dnc FILE] [--strict]
    campaign start|pause|resume|cancel NAME
    campaign reconcile NAME [--lease ID]        a dead dialer's calls closed as `unknown`
    campaign status [NAME] [--watch]            progress bar, counts by disposition, next wake-up
    campaign export NAME [--format csv|json] [--out FILE]
    campaign dnc add NUMBER... [--reason R] | remove NUMBER | import FILE | list

Every command takes `--database URL` (or `--db FILE`, a SQLite file; default: settings
`database.url`). Defaults of the pacing
options come from settings `campaign:` (see `config.CampaignSettings`). `create` checks the
flow's `contact.*` names against the CSV's columns and reports every rejected row as
``file.csv:LINE: reason`` before it stores anything; with `--strict` any rejected row stops it.
Exit codes as `voicebot`: 0 success, 1 wrong input or state, 2 usage/internal error.
`campaign run` (the SIP dialing loop over `loop.CampaignLoop`) is registered beside these by
the dialer's module.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from voicebot.campaign import CampaignError
from voicebot.campaign.config import CampaignSettings
from voicebot.campaign.ledger import Ledger

_OPTIONS = {  # option dest -> CampaignSettings field
    "region": "region",
    "window": "window",
    "max_concurrent": "max_concurrent",
    "cps": "cps",
    "max_attempts": "max_attempts",
    "daily_cap": "daily_cap",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _defaults() -> CampaignSettings:
    """Settings `campaign:` once the service settings carry it; else the built-in defaults."""
    from voicebot.settings import load_settings

    found = getattr(load_settings(), "campaign", None)
    return found if isinstance(found, CampaignSettings) else CampaignSettings()


def _ledger(args: argparse.Namespace, settings: CampaignSettings | None = None) -> Ledger:
    from voicebot.settings import load_settings

    settings = settings or _defaults()
    target = args.db or settings.database or load_settings().database.url
    return Ledger(target, settings.region)


def _settings(args: argparse.Namespace) -> CampaignSettings:
    base = _defaults().model_dump()
    for dest, name in _OPTIONS.items():
        if getattr(args, dest, None) is not None:
            base[name] = getattr(args, dest)
    for item in args.weekday:
        day, _, window = item.partition("=")
        base["weekdays"][day] = window
    retries = base["retries"]
    for item in args.retry:
        outcome, _, spec = item.partition("=")
        minutes, _, factor = spec.partition("x")
        retries[outcome] = {"retry": True, "backoff_minutes": minutes, "factor": factor or 1}
    for outcome in args.no_retry:
        retries.setdefault(outcome, {})["retry"] = False
    try:
        return CampaignSettings.model_validate(base)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise CampaignError("bad campaign options:\n  " + "\n  ".join(lines)) from None


# -- commands ------------------------------------------------------------------------------
def run_create(args: argparse.Namespace) -> int:
    from voicebot.campaign.contacts import check_columns, flow_fields, read_contacts
    from voicebot.flow.loader import load_flow
    from voicebot.settings import load_settings

    settings = _settings(args)
    if args.dnc:
        settings = settings.model_copy(update={"dnc_file": Path(args.dnc)})
    service = load_settings()  # the outbound policy and the file limits
    loaded = load_flow(args.flow, service.limits.flow())
    imported = read_contacts(
        args.contacts,
        region=settings.region,
        required=flow_fields(loaded),
        numbers=service.outbound.policy(),
        max_bytes=service.limits.csv_bytes,
    )
    check_columns(loaded, imported.columns, imported.file)
    for message in imported.messages():
        print(message, file=sys.stderr)
    if args.strict and imported.rejected:
        print(f"{imported.file}: {len(imported.rejected)} row(s) rejected: nothing created")
        return 1
    ledger = _ledger(args, settings)
    now = _now()
    if settings.dnc_file is not None:
        loaded_dnc = ledger.dnc.load_file(settings.dnc_file, now=now)
        for message in loaded_dnc.problems:
            print(message, file=sys.stderr)
    name = args.name or Path(args.contacts).stem
    campaign = ledger.create(
        name, flow=str(Path(args.flow).resolve()), imported=imported, settings=settings, now=now
    )
    dnc = ledger.db.execute(
        "SELECT COUNT(*) FROM contacts WHERE campaign_id = ? AND disposition = 'dnc'",
        (campaign.id,),
    ).fetchone()[0]
    print(
        f"campaign {name} created: {len(imported.accepted)} contact(s) "
        f"({dnc} on the do-not-call list), {len(imported.rejected)} row(s) rejected "
        f"of {imported.rows}; start it with: voicebot campaign start {name}"
    )
    return 0


def run_dial(args: argparse.Namespace) -> int:
    """`campaign run NAME`: place the calls (SIP) until the campaign is done or SIGTERM."""
    from voicebot.campaign.dialer import run_until_signalled
    from voicebot.cli.serve import service_config

    return run_until_signalled(args.name, _ledger(args), service_config(args))


def run_transition(args: argparse.Namespace) -> int:
    campaign = _ledger(args).transition(args.name, args.action, _now())
    print(f"campaign {campaign.name}: {campaign.state}")
    return 0


def run_reconcile(args: argparse.Namespace) -> int:
    """Close as `unknown` the calls of dialers whose lease expired (or of `--lease ID`)."""
    ledger = _ledger(args)
    ids = ledger.reconcile(_now(), args.name, lease=args.lease)
    print(f"campaign {args.name}: {len(ids)} attempt(s) reconciled as unknown")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from voicebot.campaign.results import render, summary

    ledger = _ledger(args)
    console = Console()
    if not args.name:
        for c in ledger.campaigns():
            console.print(f"{c.name:<24} {c.state:<10} {Path(c.flow).name}", highlight=False)
        return 0
    campaign = ledger.campaign(args.name)
    now = _now()
    view = render(summary(ledger, campaign, now), now)
    if not args.watch:
        console.print(view, highlight=False)
        return 0
    with Live(view, console=console, auto_refresh=False) as live:
        while campaign.state not in ("finished", "cancelled"):
            time.sleep(args.interval)
            now, campaign = _now(), ledger.campaign(args.name)
            live.update(render(summary(ledger, campaign, now), now), refresh=True)
    console.line()
    return 0


def run_export(args: argparse.Namespace) -> int:
    from voicebot.campaign.results import export_csv, export_json, results

    ledger = _ledger(args)
    campaign = ledger.campaign(args.name)
    rows = results(ledger, campaign)
    fmt = args.format or ("json" if args.out and args.out.endswith(".json") else "csv")
    text = export_json(campaign, rows) if fmt == "json" else export_csv(rows, campaign.columns)
    if args.out:
        from voicebot.private_files import private_file

        with private_file(args.out) as f:  # numbers and answers: 0600
            f.write(text.encode("utf-8"))
        print(f"{len(rows)} row(s) written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_dnc(args: argparse.Namespace) -> int:
    ledger = _ledger(args)
    now = _now()
    if args.dnc_command == "list":
        for e in ledger.dnc.entries():
            print(f"{e.number:<16} {e.added_at[:19]}  {e.source:<20} {e.reason}")
        return 0
    if args.dnc_command == "import":
        result = ledger.dnc.load_file(args.file, now=now, reason=args.reason)
        for message in result.problems:
            print(message, file=sys.stderr)
        print(f"{result.added} added, {result.already} already listed")
        return 1 if result.problems else 0
    failed = False
    for number in args.numbers:
        try:
            if args.dnc_command == "add":
                done = ledger.dnc.add(number, args.reason, now=now)
            else:
                done = ledger.dnc.remove(number)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed = True
            continue
        verb = {"add": "added", "remove": "removed"}[args.dnc_command]
        print(f"{number}: {verb if done else 'unchanged'}")
    return 1 if failed else 0


# -- parser ---------------------------------------------------------------------------------
def add_arguments(subparsers: Any) -> None:
    """Register `campaign ...` on the `voicebot` parser's subcommands."""
    parser = subparsers.add_parser("campaign", help="outbound campaigns from a contacts CSV")
    _commands(parser)


def _commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="campaign_command", required=True)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--database",
        "--db",
        dest="db",
        metavar="URL|FILE",
        help="database URL or SQLite file (default: settings database.url)",
    )

    p = sub.add_parser("create", parents=[db], help="import contacts and create a campaign")
    p.add_argument("--flow", required=True, metavar="FILE", help="the outbound flow")
    p.add_argument("--contacts", required=True, metavar="FILE.csv", help="a `phone` column")
    p.add_argument("--name", help="campaign name (default: the CSV's file name)")
    p.add_argument("--region", help="region of numbers without + (default: settings)")
    p.add_argument("--window", help="local calling window, e.g. 08:00-21:00")
    p.add_argument("--weekday", action="append", default=[], metavar="DAY=WINDOW|off")
    p.add_argument("--max-concurrent", type=int, metavar="N")
    p.add_argument("--cps", type=float, metavar="X", help="new calls per second at most")
    p.add_argument("--max-attempts", type=int, metavar="N")
    p.add_argument("--daily-cap", type=int, metavar="N", help="attempts per number per day")
    p.add_argument("--retry", action="append", default=[], metavar="OUTCOME=MIN[xFACTOR]")
    p.add_argument("--no-retry", action="append", default=[], metavar="OUTCOME")
    p.add_argument("--dnc", metavar="FILE", help="do-not-call numbers to add first")
    p.add_argument("--strict", action="store_true", help="create nothing if a row is rejected")
    p.set_defaults(func=run_create)

    for action, text in (
        ("start", "start dialing"),
        ("pause", "stop placing new calls (calls in flight finish)"),
        ("resume", "continue a paused campaign"),
        ("cancel", "end the campaign; waiting contacts become `cancelled`"),
    ):
        p = sub.add_parser(action, parents=[db], help=text)
        p.add_argument("name")
        p.set_defaults(func=run_transition, action=action)

    p = sub.add_parser("run", parents=[db], help="place the calls of a started campaign (SIP)")
    p.add_argument("name")
    p.add_argument("--port", type=int, default=0, help="local SIP port (default: any free)")
    p.add_argument("--host", help="address to bind (default: settings sip.host)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--clock", help="tests: the ISO time flows see as each call starts")
    p.add_argument("--flow", help=argparse.SUPPRESS)  # the campaign's flow is used
    p.set_defaults(func=run_dial, service=True)

    p = sub.add_parser("reconcile", parents=[db], help="close a dead dialer's calls as unknown")
    p.add_argument("name")
    p.add_argument("--lease", type=int, metavar="ID", help="this lease's, even if not expired")
    p.set_defaults(func=run_reconcile)

    p = sub.add_parser("status", parents=[db], help="progress of a campaign (or list them)")
    p.add_argument("name", nargs="?")
    p.add_argument("--watch", action="store_true", help="refresh until the campaign ends")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    p.set_defaults(func=run_status)

    p = sub.add_parser("export", parents=[db], help="results per contact as CSV or JSON")
    p.add_argument("name")
    p.add_argument("--format", choices=["csv", "json"])
    p.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(func=run_export)

    dnc = sub.add_parser("dnc", help="the do-not-call list")
    dsub = dnc.add_subparsers(dest="dnc_command", required=True)
    p = dsub.add_parser("add", parents=[db], help="add numbers")
    p.add_argument("numbers", nargs="+", metavar="NUMBER")
    p.add_argument("--reason", default="added by an operator")
    p.set_defaults(func=run_dnc)
    p = dsub.add_parser("remove", parents=[db], help="remove numbers")
    p.add_argument("numbers", nargs="+", metavar="NUMBER")
    p.set_defaults(func=run_dnc)
    p = dsub.add_parser("import", parents=[db], help="add a file of numbers (one a line)")
    p.add_argument("file")
    p.add_argument("--reason", default="")
    p.set_defaults(func=run_dnc)
    p = dsub.add_parser("list", parents=[db], help="every listed number")
    p.set_defaults(func=run_dnc)
