"""A throwaway PostgreSQL server for tests and benchmarks: `initdb` + `pg_ctl` in a temporary
folder, listening only on a Unix socket in that folder (no TCP port, nothing shared).

    with TemporaryPostgres() as pg:
        url = pg.url("voicebot")    # a fresh, empty database each name

PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user (made by
Debian's `postgresql` package) and its commands run through `runuser`. The binaries are found
in /usr/lib/postgresql/<version>/bin (Debian 12: 15), or on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

PORT = 5432  # names the socket file only: listen_addresses is empty


def bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: `make setup` installs Debian's postgresql")
    return Path(initdb).parent


class TemporaryPostgres:
    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="voicebot-pg-"))
        self.data = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.created: set[str] = set()

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> TemporaryPostgres:
        if self.user:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-c listen_addresses='' -k {self.root} -p {PORT} -c fsync=off"
        options += " -c max_connections=200"
        log = self.root / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, name: str) -> str:
        """A database `name` on the server (created on first use), as a SQLAlchemy URL."""
        if name not in self.created:
            import psycopg

            with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.created.add(name)
        return f"postgresql+psycopg://postgres@/{name}?host={self.root}&port={PORT}"

    def _dsn(self, name: str) -> str:
        return f"dbname={name} user=postgres host={self.root} port={PORT}"

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
