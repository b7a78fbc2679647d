"""API tokens and roles: who may call the console's API, and what each role may do.

`voicebot token create --role admin|operator|viewer [--name N]` prints a new token on its last
line. Only its SHA-256 is stored; a client sends `Authorization: Bearer TOKEN`. Roles are
ordered, each may do what the ones below it may:

    viewer    read: flows, campaigns and their progress and exports, calls, recordings, live
              calls, the do-not-call list, workers
    operator  and change campaigns (create, start, pause, resume, cancel) and the do-not-call list
    admin     and upload flows, read the audit trail
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from voicebot.console.database import tokens
from voicebot.errors import VoicebotError

PREFIX = "vb_"


class Role(IntEnum):
    viewer = 0
    operator = 1
    admin = 2


@dataclass(frozen=True)
class Identity:
    """The holder of a valid token."""

    token_id: int
    name: str
    role: Role

    def __str__(self) -> str:
        return f"token {self.token_id} ({self.name}, {self.role.name})"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def role_named(name: str) -> Role:
    try:
        return Role[name]
    except KeyError:
        known = ", ".join(r.name for r in Role)
        raise VoicebotError(f"unknown role {name!r}: use one of {known}") from None


class TokenStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, role: Role, name: str = "", now: datetime | None = None) -> tuple[int, str]:
        """A new token: its id and the token itself (shown once, never stored)."""
        token = PREFIX + secrets.token_urlsafe(32)
        at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        with self.engine.begin() as db:
            row = db.execute(
                tokens.insert().values(
                    name=name or role.name, role=role.name, sha256=digest(token), created_at=at
                )
            )
            key = row.inserted_primary_key
            assert key is not None
            token_id = int(key[0])
        return token_id, token

    def identify(self, token: str) -> Identity | None:
        """Who holds `token`, or None (unknown or revoked)."""
        query = sa.select(tokens.c.id, tokens.c.name, tokens.c.role).where(
            tokens.c.sha256 == digest(token), tokens.c.revoked_at.is_(None)
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        if row is None:
            return None
        return Identity(int(row.id), row.name, Role[row.role])

    def revoke(self, token_id: int, now: datetime | None = None) -> bool:
        at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        with self.engine.begin() as db:
            done = db.execute(
                tokens.update()
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
        return bool(done.rowcount)

    def list(self) -> list[dict[str, object]]:
        query = sa.select(tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.created_at,
                          tokens.c.revoked_at).order_by(tokens.c.id)  # fmt: skip
        with self.engine.connect() as db:
            return [dict(r._mapping) for r in db.execute(query)]
