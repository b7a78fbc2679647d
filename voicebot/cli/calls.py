"""`voicebot calls list|show|purge`: the call records, and their retention."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.errors import ConfigError, VoicebotError

if TYPE_CHECKING:
    from voicebot.call.records import CallStore


def add_arguments(sub: Any) -> None:
    calls = sub.add_parser("calls", help="call records")
    csub = calls.add_subparsers(dest="calls_command", required=True)
    p = csub.add_parser("list", help="the latest calls, and what retention keeps")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--outcome", help="only calls with this outcome")
    database_argument(p)
    p.set_defaults(func=cmd_calls)
    p = csub.add_parser("show", help="one call with its turns")
    p.add_argument("id")
    database_argument(p)
    p.set_defaults(func=cmd_calls)
    p = csub.add_parser(
        "purge", help="delete recordings and words of old calls (settings retention.days)"
    )
    p.add_argument(
        "--older-than", type=int, metavar="DAYS", help="default: settings retention.days"
    )
    p.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    database_argument(p)
    p.set_defaults(func=cmd_purge)


def database_argument(p: argparse.ArgumentParser) -> None:
    """`--database URL|FILE` (`--db`): where the call records are."""
    p.add_argument(
        "--database",
        "--db",
        dest="db",
        metavar="URL|FILE",
        help="database URL or SQLite file (default: settings database.url)",
    )


def open_records(db: str | None, *, must_exist: bool) -> CallStore:
    """The call records of `--database` (else the settings'); a SQLite file that must exist."""
    from voicebot.call.records import CallStore
    from voicebot.database import database_url, display_url
    from voicebot.settings import load_settings

    target = db or load_settings().records_url()
    shown = display_url(target)
    if must_exist and database_url(target).startswith("sqlite") and not Path(shown).is_file():
        raise VoicebotError(f"no call records yet ({shown})")
    return CallStore(target)


def cmd_calls(args: argparse.Namespace) -> int:
    from voicebot.call.records import format_call, format_list
    from voicebot.call.retention import retention_status
    from voicebot.settings import load_settings

    settings = load_settings()
    try:
        store = open_records(args.db, must_exist=True)
    except VoicebotError as e:
        print(e, file=sys.stderr)
        return 1 if args.calls_command == "show" else 0
    if args.calls_command == "list":
        print(format_list(store.list(limit=args.limit, outcome=args.outcome)))
        now = datetime.now(UTC)
        print(retention_status(store, settings.retention.days, now).line())
        return 0
    record = store.get(args.id)
    if record is None:
        print(f"no call {args.id!r} in {store.shown}", file=sys.stderr)
        return 1
    print(format_call(record))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from voicebot.call.retention import purge
    from voicebot.settings import load_settings

    settings = load_settings()
    days = args.older_than if args.older_than is not None else settings.retention.days
    if days < 1:
        where = "--older-than" if args.older_than is not None else "settings retention.days"
        raise ConfigError(f"{where} is {days}: give --older-than DAYS (1 or more) to purge")
    try:
        store: CallStore | None = open_records(args.db, must_exist=True)
    except VoicebotError:
        store = None  # no records yet: only recordings left without a call
    recordings = settings.data_dir / "recordings"
    report = purge(store, recordings, days=days, now=datetime.now(UTC), dry_run=args.dry_run)
    print("\n".join(report.lines()))
    return 0
