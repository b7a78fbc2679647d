"""Shared fixtures: a real PostgreSQL server for the database tests (one per test session)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from voicebot.testing.postgres import TemporaryPostgres

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
