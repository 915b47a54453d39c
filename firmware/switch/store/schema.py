"""The schema and its migrations.

The schema version is SQLite's ``user_version``. ``MIGRATIONS[i]`` takes a database from version
``i`` to ``i + 1``; each runs in its own transaction together with the version bump, so a failed
migration leaves the database as it was. A database newer than this firmware is refused, never
written to.

Config tables mirror the model's dataclasses: one row per item with its ``position`` in the list
(route order matters), and for each list field a child table ``<table>_<field>`` of
``(owner, position, value)``.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .db import StoreError

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('config_version', 0);

CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sip_port INTEGER NOT NULL,
    bind_address TEXT NOT NULL,
    max_outbound_calls INTEGER NOT NULL,
    ring_timeout INTEGER NOT NULL,
    pickup_code TEXT NOT NULL,
    directed_pickup_prefix TEXT NOT NULL
);
CREATE TABLE settings_emergency_numbers (
    owner INTEGER NOT NULL REFERENCES settings (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, position));

CREATE TABLE extensions (
    number TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    password TEXT NOT NULL,
    international INTEGER NOT NULL,
    max_outbound INTEGER NOT NULL,
    dnd INTEGER NOT NULL,
    forward_always TEXT,
    forward_busy TEXT,
    forward_no_answer TEXT,
    no_answer_timeout INTEGER NOT NULL
);

CREATE TABLE ring_groups (
    number TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    strategy TEXT NOT NULL CHECK (strategy IN ('ring_all', 'hunt')),
    timeout INTEGER NOT NULL
);
CREATE TABLE ring_groups_members (
    owner TEXT NOT NULL REFERENCES ring_groups (number) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    value TEXT NOT NULL REFERENCES extensions (number),
    PRIMARY KEY (owner, position));

CREATE TABLE trunks (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    username TEXT,
    password TEXT,
    register INTEGER NOT NULL,
    priority INTEGER NOT NULL
);
CREATE TABLE trunks_dids (
    owner TEXT NOT NULL REFERENCES trunks (name) ON DELETE CASCADE,
    position INTEGER NOT NULL, value TEXT NOT NULL UNIQUE, PRIMARY KEY (owner, position));

CREATE TABLE outbound_routes (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    strip INTEGER NOT NULL,
    prepend TEXT NOT NULL
);
CREATE TABLE outbound_routes_patterns (
    owner TEXT NOT NULL REFERENCES outbound_routes (name) ON DELETE CASCADE,
    position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, position));
CREATE TABLE outbound_routes_trunks (
    owner TEXT NOT NULL REFERENCES outbound_routes (name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    value TEXT NOT NULL REFERENCES trunks (name),
    PRIMARY KEY (owner, position));

CREATE TABLE time_conditions (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    timezone TEXT NOT NULL
);
CREATE TABLE time_conditions_hours (
    owner TEXT NOT NULL REFERENCES time_conditions (name) ON DELETE CASCADE,
    position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, position));
CREATE TABLE time_conditions_holidays (
    owner TEXT NOT NULL REFERENCES time_conditions (name) ON DELETE CASCADE,
    position INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, position));

CREATE TABLE inbound_routes (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    destination TEXT NOT NULL,
    trunk TEXT REFERENCES trunks (name),
    did TEXT,
    caller_id TEXT,
    time_condition TEXT REFERENCES time_conditions (name),
    closed_destination TEXT
);

CREATE TABLE blacklist (
    pattern TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    note TEXT NOT NULL
);

CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('internal', 'inbound', 'outbound')),
    trunk TEXT,
    started REAL NOT NULL,
    answered REAL,
    ended REAL,
    billsec INTEGER,
    disposition TEXT CHECK (disposition IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED')),
    -- a closed row is complete: end, disposition and billsec come together
    CHECK ((ended IS NULL) = (disposition IS NULL) AND (ended IS NULL) = (billsec IS NULL))
);
CREATE INDEX calls_by_start ON calls (started);
CREATE INDEX calls_open ON calls (id) WHERE ended IS NULL;
CREATE TABLE call_legs (
    call INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    leg TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('extension', 'trunk')),
    endpoint TEXT NOT NULL,
    number TEXT NOT NULL,
    started REAL NOT NULL,
    answered REAL,
    ended REAL,
    disposition TEXT CHECK (disposition IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED')),
    PRIMARY KEY (call, position)
);
"""

MIGRATIONS: tuple[str, ...] = (_V1,)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Brings the database to ``len(migrations)``; returns the version it had before."""
    before = schema_version(conn)
    if before > len(migrations):
        raise StoreError(f"the database has schema version {before}, newer than this firmware's "
                         f"{len(migrations)}: update the firmware or use another --data directory")
    for version in range(before + 1, len(migrations) + 1):
        try:
            # executescript commits anything pending first, so the transaction is part of the script
            conn.executescript(f"BEGIN IMMEDIATE;\n{migrations[version - 1]};\n"
                               f"PRAGMA user_version = {version};\nCOMMIT;")
        except sqlite3.Error as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"migration to schema version {version} failed: {error}") from None
    return before
