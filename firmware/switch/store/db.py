"""The SQLite connection: WAL journal, FULL sync, foreign keys, and explicit transactions.

WAL lets the CLI and the web admin read while the switch writes; ``synchronous=FULL`` makes every
commit durable once it returns (a power cut loses no committed call record); transactions are begun
explicitly (``isolation_level=None``), ``BEGIN IMMEDIATE`` for writes, so a read-modify-write of the
config by two processes is serialised instead of failing half way.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT = 10.0  # s a writer waits for another one before giving up
DB_FILE_MODE = 0o600  # the database holds SIP passwords


class StoreError(RuntimeError):
    """The database cannot be used (unreadable, from a newer firmware, locked for too long ...)."""


def connect(path: Path) -> sqlite3.Connection:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, DB_FILE_MODE)
        os.close(fd)
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
        conn.row_factory = sqlite3.Row
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except (OSError, sqlite3.Error) as error:
        raise StoreError(f"cannot open the database {path}: {error}") from None
    if mode != "wal":
        conn.close()
        raise StoreError(f"{path}: the file system does not support SQLite's WAL journal")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write: everything inside commits together or not at all."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise StoreError(f"the database is busy: {error}") from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
