"""SQLite settings shared by the tracker store and the lock store, which several Rasa processes open at once."""

from __future__ import annotations

import sqlite3
import time


def use_wal(connection: sqlite3.Connection, attempts: int = 50) -> None:
    """Put the database in WAL mode unless it is already (the mode is stored in the file).

    Switching to WAL needs the file to itself, and SQLite answers "database is locked" at once, without
    waiting for its busy timeout, when another process opens it in that moment; so try again for a while.
    """
    for attempt in range(attempts):
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.1)
