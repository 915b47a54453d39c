"""The config tables: a whole Config in, a whole Config out.

A change replaces every config row inside one transaction (the caller's): the config is small
(hundreds of rows), replacing is obviously right where diffing would need care, and readers see
either the old config or the new one. Foreign keys are deferred to the commit so the order of the
deletes and inserts does not matter. Values are checked by the model on the way in and again on
the way out, so a hand-edited database cannot smuggle in a config the model would refuse.
"""
from __future__ import annotations

import dataclasses
import sqlite3
import typing
from enum import Enum
from typing import Any

from firmware.switch.mapping import CONFIG_LISTS, from_mapping
from firmware.switch.model import CONFIG_KEYS, Config, Destination, Settings, field_types

SETTINGS_ROW = 1  # the settings table has a single row


def _list_fields(cls: type) -> list[str]:
    return [name for name, hint in field_types(cls).items() if typing.get_origin(hint) is tuple]


def _column_value(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Destination):
        return str(value)
    return value


def _insert(conn: sqlite3.Connection, table: str, item: object, position: int | None) -> None:
    cls = type(item)
    lists = _list_fields(cls)
    row: dict[str, object] = {f.name: _column_value(getattr(item, f.name))
                              for f in dataclasses.fields(typing.cast(Any, item)) if f.name not in lists}
    if position is None:
        row["id"] = owner = SETTINGS_ROW
    else:
        row["position"] = position
        owner = row[CONFIG_KEYS[table]]
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
    for name in lists:
        conn.executemany(f"INSERT INTO {table}_{name} (owner, position, value) VALUES (?, ?, ?)",
                         [(owner, i, value) for i, value in enumerate(getattr(item, name))])


def save_config(conn: sqlite3.Connection, config: Config) -> None:
    """Replaces the stored config; call inside a transaction."""
    conn.execute("PRAGMA defer_foreign_keys = ON")
    for table in (*CONFIG_LISTS, "settings"):
        conn.execute(f"DELETE FROM {table}")  # the child tables follow by ON DELETE CASCADE
    _insert(conn, "settings", config.settings, None)
    for table in CONFIG_LISTS:
        for position, item in enumerate(getattr(config, table)):
            _insert(conn, table, item, position)


def _read(conn: sqlite3.Connection, table: str, cls: type, key: str) -> list[dict[str, object]]:
    hints = field_types(cls)
    items: list[dict[str, object]] = []
    by_owner: dict[object, dict[str, object]] = {}
    order = "" if table == "settings" else " ORDER BY position"
    for row in conn.execute(f"SELECT * FROM {table}{order}"):
        item = {name: (bool(row[name]) if hints[name] is bool else row[name])
                for name in hints if name in row.keys()}
        items.append(item)
        by_owner[row[key]] = item
    for name in _list_fields(cls):
        for item in items:
            item[name] = []
        for row in conn.execute(f"SELECT owner, value FROM {table}_{name} ORDER BY owner, position"):
            typing.cast(list, by_owner[row["owner"]][name]).append(row["value"])
    return items


def load_config(conn: sqlite3.Connection) -> Config:
    settings_rows = _read(conn, "settings", Settings, "id")
    parts: dict[str, Any] = {
        "settings": from_mapping(Settings, settings_rows[0], "settings") if settings_rows else Settings()}
    for table, cls in CONFIG_LISTS.items():
        rows = _read(conn, table, cls, CONFIG_KEYS[table])
        parts[table] = tuple(from_mapping(cls, row, f"{table}[{i}]") for i, row in enumerate(rows))
    return Config(**parts)
