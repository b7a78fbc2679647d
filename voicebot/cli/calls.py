"""`voicebot calls list|show|purge`: the call records, and their retention."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.errors import ConfigError


def add_arguments(sub: Any) -> None:
    calls = sub.add_parser("calls", help="call records")
    csub = calls.add_subparsers(dest="calls_command", required=True)
    p = csub.add_parser("list", help="the latest calls, and what retention keeps")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--outcome", help="only calls with this outcome")
    p.add_argument("--db", help="records file (default: settings call_records)")
    p.set_defaults(func=cmd_calls)
    p = csub.add_parser("show", help="one call with its turns")
    p.add_argument("id")
    p.add_argument("--db", help="records file (default: settings call_records)")
    p.set_defaults(func=cmd_calls)
    p = csub.add_parser(
        "purge", help="delete recordings and words of old calls (settings retention.days)"
    )
    p.add_argument(
        "--older-than", type=int, metavar="DAYS", help="default: settings retention.days"
    )
    p.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    p.add_argument("--db", help="records file (default: settings call_records)")
    p.set_defaults(func=cmd_purge)


def cmd_calls(args: argparse.Namespace) -> int:
    from voicebot.call.records import CallStore, format_call, format_list
    from voicebot.call.retention import retention_status
    from voicebot.settings import load_settings

    settings = load_settings()
    path = Path(args.db) if args.db else settings.call_records
    if not path.is_file():
        print(f"no call records yet ({path})", file=sys.stderr)
        return 1 if args.calls_command == "show" else 0
    store = CallStore(path)
    if args.calls_command == "list":
        print(format_list(store.list(limit=args.limit, outcome=args.outcome)))
        now = datetime.now(UTC)
        print(retention_status(store, settings.retention.days, now).line())
        return 0
    record = store.get(args.id)
    if record is None:
        print(f"no call {args.id!r} in {path}", file=sys.stderr)
        return 1
    print(format_call(record))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from voicebot.call.records import CallStore
    from voicebot.call.retention import purge
    from voicebot.settings import load_settings

    settings = load_settings()
    days = args.older_than if args.older_than is not None else settings.retention.days
    if days < 1:
        where = "--older-than" if args.older_than is not None else "settings retention.days"
        raise ConfigError(f"{where} is {days}: give --older-than DAYS (1 or more) to purge")
    path = Path(args.db) if args.db else settings.call_records
    store = CallStore(path) if path.is_file() else None
    recordings = settings.data_dir / "recordings"
    report = purge(store, recordings, days=days, now=datetime.now(UTC), dry_run=args.dry_run)
    print("\n".join(report.lines()))
    return 0
