"""`voicebot token create|list|revoke`: API tokens of the console (`voicebot serve`).

    token create --role admin|operator|viewer [--name N]   the new token on the last line
    token list                                            id, name, role, created, revoked
    token revoke ID

Only a token's SHA-256 is stored, in the campaign database (`--db`, default: settings
`campaign.database`); each change is written to the audit trail as made by `cli`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("token", help="API tokens of the console")
    tsub = p.add_subparsers(dest="token_command", required=True)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", help="database (default: settings campaign.database)")
    c = tsub.add_parser("create", parents=[db], help="a new token (printed once)")
    c.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    c.add_argument("--name", default="", help="who or what holds it (default: the role)")
    c.set_defaults(func=cmd_token)
    c = tsub.add_parser("list", parents=[db], help="every token (never the token itself)")
    c.set_defaults(func=cmd_token)
    c = tsub.add_parser("revoke", parents=[db], help="refuse a token from now on")
    c.add_argument("id", type=int)
    c.set_defaults(func=cmd_token)


def cmd_token(args: argparse.Namespace) -> int:
    from voicebot.console.audit import AuditTrail
    from voicebot.console.database import databases, open_engine
    from voicebot.console.tokens import TokenStore, role_named
    from voicebot.settings import load_settings

    engine = open_engine(args.db or databases(load_settings())[0])
    store, audit = TokenStore(engine), AuditTrail(engine)
    if args.token_command == "create":
        token_id, token = store.create(role_named(args.role), args.name)
        audit.record("cli", "token.create", str(token_id), {"role": args.role, "name": args.name})
        holder = args.name or args.role
        print(f"token {token_id} ({holder}, {args.role}) created; it is shown once:")
        print(token)
        return 0
    if args.token_command == "list":
        for t in store.list():
            revoked = f"  revoked {t['revoked_at']}" if t["revoked_at"] else ""
            print(f"{t['id']:>4}  {t['role']:<9} {t['name']:<24} {t['created_at']}{revoked}")
        return 0
    if not store.revoke(args.id):
        print(f"error: no active token {args.id}")
        return 1
    audit.record("cli", "token.revoke", str(args.id))
    print(f"token {args.id} revoked")
    return 0
