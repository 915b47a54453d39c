"""The config tables: whole configs in and out, the schema mirrors the model."""
import dataclasses
import sqlite3
import typing

import pytest

from firmware.switch.mapping import CONFIG_LISTS
from firmware.switch.model import Config, ConfigError, Settings, field_types
from firmware.switch.store.config_tables import load_config, save_config
from firmware.switch.store.db import connect, transaction
from firmware.switch.store.schema import migrate
from tests.switch.core.harness import office_config


@pytest.fixture
def conn(tmp_path):
    conn = connect(tmp_path / "box.db")
    migrate(conn)
    yield conn
    conn.close()


def test_an_empty_database_holds_the_default_config(conn):
    assert load_config(conn) == Config()


def test_a_config_is_stored_and_read_back_whole(conn):
    config = office_config()
    with transaction(conn):
        save_config(conn, config)
    assert load_config(conn) == config
    smaller = dataclasses.replace(config, inbound_routes=(), ring_groups=config.ring_groups[:1])
    with transaction(conn):
        save_config(conn, smaller)
    assert load_config(conn) == smaller
    assert conn.execute("SELECT count(*) FROM ring_groups_members").fetchone()[0] == 3


def test_every_model_field_has_a_column(conn):
    for table, cls in {"settings": Settings, **CONFIG_LISTS}.items():
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, hint in field_types(cls).items():
            if typing.get_origin(hint) is tuple:
                assert conn.execute(f"PRAGMA table_info({table}_{name})").fetchall(), f"{table}_{name}"
            else:
                assert name in columns, f"{table}.{name}"


def test_a_hand_edited_database_cannot_smuggle_in_an_invalid_config(conn):
    with transaction(conn):
        save_config(conn, office_config())
    conn.execute("UPDATE extensions SET password = 'weak' WHERE number = '203'")
    with pytest.raises(ConfigError) as caught:
        load_config(conn)
    assert caught.value.field == "extensions[2].password"


def test_foreign_keys_hold_even_for_raw_sql(conn):
    with transaction(conn):
        save_config(conn, office_config())
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM trunks WHERE name = 'p1'")  # the outbound route uses it
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO ring_groups_members (owner, position, value) VALUES ('600', 9, '999')")
