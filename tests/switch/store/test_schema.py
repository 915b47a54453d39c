"""Schema versions and migrations: forward, atomic, and never onto a newer database."""
import pytest

from firmware.switch.store.db import StoreError, connect
from firmware.switch.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version


def tables(conn) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_database_gets_the_current_schema(tmp_path):
    conn = connect(tmp_path / "box.db")
    assert migrate(conn) == 0
    assert schema_version(conn) == SCHEMA_VERSION
    assert {"meta", "settings", "extensions", "trunks", "calls", "call_legs"} <= tables(conn)
    assert migrate(conn) == SCHEMA_VERSION  # nothing left to do


def test_a_later_migration_runs_on_an_existing_database_and_keeps_its_data(tmp_path):
    conn = connect(tmp_path / "box.db")
    migrate(conn)
    conn.execute("INSERT INTO blacklist (pattern, position, note) VALUES ('0900!', 0, '')")
    extended = (*MIGRATIONS, "ALTER TABLE blacklist ADD COLUMN added REAL; CREATE TABLE extra (x);")
    assert migrate(conn, extended) == SCHEMA_VERSION
    assert schema_version(conn) == SCHEMA_VERSION + 1
    assert [tuple(row) for row in conn.execute("SELECT pattern, added FROM blacklist")] == [("0900!", None)]


def test_a_failing_migration_changes_nothing(tmp_path):
    conn = connect(tmp_path / "box.db")
    migrate(conn)
    broken = (*MIGRATIONS, "CREATE TABLE half_done (x); ALTER TABLE no_such_table ADD COLUMN y;")
    with pytest.raises(StoreError, match=f"migration to schema version {SCHEMA_VERSION + 1} failed"):
        migrate(conn, broken)
    assert schema_version(conn) == SCHEMA_VERSION
    assert "half_done" not in tables(conn)
    assert not conn.in_transaction


def test_a_database_from_a_newer_firmware_is_refused(tmp_path):
    conn = connect(tmp_path / "box.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this firmware"):
        migrate(conn)
