"""The SQLite connection settings and the transaction helper."""
import os
import sqlite3
import stat

import pytest

from firmware.switch.store.db import StoreError, connect, transaction


def test_connections_are_wal_fully_synced_with_foreign_keys_and_private(tmp_path):
    path = tmp_path / "box.db"
    conn = connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    conn.close()


def test_a_transaction_commits_together_or_not_at_all(tmp_path):
    conn = connect(tmp_path / "box.db")
    conn.execute("CREATE TABLE t (x INTEGER)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO t VALUES (2)")
    with pytest.raises(sqlite3.IntegrityError), transaction(conn):
        conn.execute("INSERT INTO t VALUES (3)")
        raise sqlite3.IntegrityError("something failed half way")
    assert [row[0] for row in conn.execute("SELECT x FROM t")] == [1, 2]
    assert not conn.in_transaction


def test_a_database_that_cannot_be_opened_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="cannot open"):
        connect(tmp_path / "no-such-dir" / "box.db")
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        connect(tmp_path / "junk.db")
