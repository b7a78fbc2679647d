"""Shared fixtures: a real PostgreSQL server for the database tests (one per test session).

Tests start `voicebot serve` without the console unless they ask for it with --http-port:
its default port (8080) would be shared by every test and every developer on the machine."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from voicebot.testing.postgres import TemporaryPostgres

os.environ.setdefault("VOICEBOT_HTTP__PORT", "0")
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres]:
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty database on each backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'voicebot.db'}"
    server = request.getfixturevalue("postgres")
    return str(server.url(f"test{next(_names)}"))
