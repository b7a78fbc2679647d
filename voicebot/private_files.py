"""Files that hold call data — records databases, recordings, caches of what calls said — are
readable by their owner only: files 0600, the directories voicebot creates for them 0700,
whatever the process's umask.

    directory = private_dir(data_dir / "recordings")   # created 0700 (each missing level)
    with private_file(directory / "c1.wav") as f:      # created (or truncated) 0600
        f.write(data)
    private_sqlite(path)                                # before sqlite3.connect(path)

SQLite creates a database's `-wal`, `-shm` and `-journal` files with the database file's own
permissions, so a database file created 0600 keeps its siblings 0600; `private_sqlite` also
takes an existing database (and its siblings) to 0600, for files written before this rule.
Directories that already exist are left as they are (`/tmp`, a mounted volume).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_SIBLINGS = ("-wal", "-shm", "-journal")


def private_dir(path: str | os.PathLike[str]) -> Path:
    """`path` as a directory; every level of it that is missing is created 0700."""
    path = Path(path)
    missing = []
    at = path
    while not at.exists():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another worker made it meanwhile
            continue
        os.chmod(level, DIR_MODE)  # mkdir's mode is cut by the umask
    return path


def private_file(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened to write bytes, created or truncated, 0600 (its directory: `private_dir`)."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def private_sqlite(path: str | os.PathLike[str]) -> None:
    """Make `path` (a SQLite database, maybe not there yet) and its siblings 0600 before it is
    opened; ":memory:" and "" are left alone."""
    if str(path) in ("", ":memory:"):
        return
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        _tighten(lambda: os.fchmod(fd, FILE_MODE))
    finally:
        os.close(fd)
    for suffix in SQLITE_SIBLINGS:
        sibling = path.with_name(path.name + suffix)
        _tighten(lambda: os.chmod(sibling, FILE_MODE))  # noqa: B023 (called at once)


def _tighten(chmod: Callable[[], None]) -> None:
    """chmod, where this process may: a file of another user (read by `voicebot calls` run by
    an operator) stays as its owner made it; a sibling SQLite has not made yet is skipped."""
    try:
        chmod()
    except (FileNotFoundError, PermissionError):
        pass
