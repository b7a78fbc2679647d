"""`voicebot calls list|show`: the call records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_arguments(sub: Any) -> None:
    calls = sub.add_parser("calls", help="call records")
    csub = calls.add_subparsers(dest="calls_command", required=True)
    p = csub.add_parser("list", help="the latest calls")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--outcome", help="only calls with this outcome")
    _database(p)
    p.set_defaults(func=cmd_calls)
    p = csub.add_parser("show", help="one call with its turns")
    p.add_argument("id")
    _database(p)
    p.set_defaults(func=cmd_calls)


def _database(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database",
        "--db",
        dest="db",
        metavar="URL|FILE",
        help="database URL or SQLite file (default: settings database.url)",
    )


def cmd_calls(args: argparse.Namespace) -> int:
    from voicebot.call.records import CallStore, format_call, format_list
    from voicebot.database import database_url, display_url
    from voicebot.settings import load_settings

    target = args.db or load_settings().records_url()
    path = display_url(target)
    if database_url(target).startswith("sqlite") and not Path(path).is_file():
        print(f"no call records yet ({path})", file=sys.stderr)
        return 1 if args.calls_command == "show" else 0
    store = CallStore(target)
    if args.calls_command == "list":
        print(format_list(store.list(limit=args.limit, outcome=args.outcome)))
        return 0
    record = store.get(args.id)
    if record is None:
        print(f"no call {args.id!r} in {path}", file=sys.stderr)
        return 1
    print(format_call(record))
    return 0
