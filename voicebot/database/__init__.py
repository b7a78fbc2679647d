"""The database: one URL for campaigns, contacts, attempts, the do-not-call list and call records.

`sqlite:///var/voicebot.db` (the default: a file, relative to the working directory, created on
first use) or `postgresql://user:password@host/dbname` (psycopg 3; `postgresql+psycopg://` is the
same). A plain path is taken as a SQLite file. Every `Database` runs the shipped Alembic
migrations (`voicebot/database/migrations/versions/`) up to the newest when it opens, so a file
written by an older version is upgraded in place, never replaced.

    db = Database("sqlite:///var/voicebot.db")
    with db.transaction():                     # SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN
        row = db.execute("SELECT ... WHERE id = ?", (7,)).fetchone()
        row["name"], row[0]                    # by column name or position
        with db.transaction(): ...             # nested: a SAVEPOINT of the outer one

Statements use `?` placeholders on both backends (they become SQLAlchemy bind parameters).
Outside `transaction()` each `execute` is its own short transaction.
"""

from voicebot.database.engine import Database, Record, Rows, database_url, display_url

__all__ = ["Database", "Record", "Rows", "database_url", "display_url"]
