"""The store: SQLite (WAL) for the config and the call records; the only module that speaks SQL.

Every method is one transaction: a change is all there or not there, whichever process dies when.
The config carries a version counter, bumped by every change, which a running switch polls to pick
changes up without a restart (``Store.config_version``).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from firmware.switch.model import Config
from firmware.switch.records import CallRecord

from . import calls, config_tables
from .db import StoreError, connect, transaction
from .schema import SCHEMA_VERSION, migrate, schema_version

__all__ = ["SCHEMA_VERSION", "Store", "StoreError"]


class Store:
    """One connection to the database at ``path`` (created and migrated when needed)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._conn = connect(self.path)
        try:
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn)

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok" or the problems it found."""
        return "; ".join(row[0] for row in self._conn.execute("PRAGMA integrity_check"))

    # -- config --------------------------------------------------------------------------------

    def config_version(self) -> int:
        """A counter bumped by every config change; cheap enough to poll every second."""
        return self._meta("config_version")

    def load_config(self) -> Config:
        with transaction(self._conn):  # one consistent snapshot of all the tables
            return config_tables.load_config(self._conn)

    def load_config_versioned(self) -> tuple[int, Config]:
        with transaction(self._conn):
            return self._meta("config_version"), config_tables.load_config(self._conn)

    def update_config(self, change: Callable[[Config], Config]) -> Config:
        """Applies ``change`` to the current config atomically, serialised with other writers.

        ``change`` gets the stored config and returns the new one (or raises, and nothing changes).
        """
        with transaction(self._conn):
            current = config_tables.load_config(self._conn)
            new = change(current)
            if new != current:
                config_tables.save_config(self._conn, new)
                self._conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'config_version'")
            return new

    def replace_config(self, config: Config) -> Config:
        return self.update_config(lambda _: config)

    # -- call records --------------------------------------------------------------------------

    def save_call(self, record: CallRecord) -> None:
        """Writes a call record: open (no end) while the call is up, then once closed, complete."""
        with transaction(self._conn):
            calls.save_call(self._conn, record)

    def close_stale_calls(self) -> list[str]:
        """Closes the records a crash left open as FAILED; the runtime calls it once at start,
        before its first heartbeat. Returns their call ids."""
        with transaction(self._conn):
            return calls.close_stale(self._conn, self.heartbeat())

    def calls(self, *, since: float | None = None, until: float | None = None, open_only: bool = False,
              limit: int | None = None) -> list[CallRecord]:
        with transaction(self._conn):
            return calls.query_calls(self._conn, since=since, until=until, open_only=open_only,
                                     limit=limit)

    def count_calls(self) -> int:
        return self._conn.execute("SELECT count(*) FROM calls").fetchone()[0]

    # -- liveness ------------------------------------------------------------------------------

    def record_heartbeat(self, now: float) -> None:
        """The runtime says it is alive (and its calls up) at ``now``, every few seconds."""
        with transaction(self._conn):
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('heartbeat', ?) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (now,))

    def heartbeat(self) -> float | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'heartbeat'").fetchone()
        return None if row is None else float(row[0])

    def _meta(self, key: str) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])
