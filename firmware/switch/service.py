"""The one API for everything outside the switch core: the CLI, the web admin, the hil-tests and
the runtime all go through ``Service`` (after mopidy's core: frontends get the service, never the
store or the core's internals).

Every change is validated as a whole config (``Config`` checks its own references) and written in
one transaction; a mistake raises ``ConfigError`` and changes nothing.

Changes while the box runs: every change bumps the store's config version, in whatever process it
is made. The runtime holds a ``ConfigWatcher`` and polls it (a one-row read, cheap every second);
a new config becomes ``ConfigChanged`` for the switch core (new calls follow it, calls in progress
finish under the old one) and a regenerated Kamailio config. Listeners added with ``subscribe``
are also called at once for changes made through this same Service object.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.switch import configfile
from firmware.switch.model import (
    BlockedNumber,
    Config,
    ConfigError,
    Destination,
    Extension,
    InboundRoute,
    OutboundRoute,
    RingGroup,
    TimeCondition,
    Trunk,
)
from firmware.switch.records import CallRecord
from firmware.switch.store import Store

DB_FILE = "callbox.db"
DATA_DIR_MODE = 0o700  # the database holds SIP passwords
HEARTBEAT_FRESH = 15.0  # s: a runtime that wrote a heartbeat this recently is taken as running

ConfigListener = Callable[[int, Config], None]


class NotFoundError(ConfigError):
    """The extension, trunk, route ... to change or remove does not exist."""


@dataclass(frozen=True)
class Status:
    data_dir: str
    schema_version: int
    config_version: int
    extensions: int
    trunks: int
    outbound_routes: int
    inbound_routes: int
    ring_groups: int
    calls_up: int  # call records still open
    calls_recorded: int
    runtime_running: bool
    heartbeat_age: float | None  # s since the runtime's last heartbeat, None if it never ran

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ConfigWatcher:
    """For the runtime: ``poll()`` returns the config when it changed since the last poll (the first
    poll always returns it), else None."""

    def __init__(self, store: Store):
        self._store = store
        self._version: int | None = None

    def poll(self) -> Config | None:
        if self._store.config_version() == self._version:
            return None
        self._version, config = self._store.load_config_versioned()
        return config


class Service:
    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
        self._store = Store(self.data_dir / DB_FILE)
        self._listeners: list[ConfigListener] = []

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the whole config ----------------------------------------------------------------------

    def config(self) -> Config:
        return self._store.load_config()

    def config_version(self) -> int:
        return self._store.config_version()

    def watch(self) -> ConfigWatcher:
        return ConfigWatcher(self._store)

    def subscribe(self, listener: ConfigListener) -> None:
        """``listener(version, config)`` after every change made through this object."""
        self._listeners.append(listener)

    def replace_config(self, config: Config) -> Config:
        return self._change(lambda _: config)

    def export_config(self, path: Path | str) -> None:
        configfile.write(path, self.config())

    def export_text(self) -> str:
        return configfile.dumps(self.config())

    def import_config(self, path: Path | str) -> Config:
        """Replaces the whole config with the file's, all or nothing."""
        return self.replace_config(configfile.read(path))

    def import_text(self, text: str) -> Config:
        return self.replace_config(configfile.loads(text))

    def _change(self, change: Callable[[Config], Config]) -> Config:
        before = self._store.config_version()
        config = self._store.update_config(change)
        version = self._store.config_version()
        if version != before:
            for listener in self._listeners:
                listener(version, config)
        return config

    def _remove(self, kind: str, key: str, change: Callable[[Config], Config]) -> None:
        try:
            self._change(change)
        except NotFoundError:
            raise
        except ConfigError as error:
            raise ConfigError(error.field, f"{error.message} ({kind} {key} is still used there)") from None

    # -- extensions ----------------------------------------------------------------------------

    def extensions(self) -> tuple[Extension, ...]:
        return self.config().extensions

    def add_extension(self, number: str, *, password: str | None = None, **options: Any) -> Extension:
        """Adds an extension; without ``password`` (or with "") a strong one is generated: read it
        from the returned Extension."""
        extension = Extension(number, password=password or "", **options)

        def add(config: Config) -> Config:
            if number in config.extension_by_number:
                raise ConfigError("number", f"extension {number} already exists")
            return dataclasses.replace(config, extensions=(*config.extensions, extension))

        self._change(add)
        return extension

    def update_extension(self, number: str, **changes: Any) -> Extension:
        """Changes some fields; ``password=""`` generates a new strong password."""

        def update(config: Config) -> Config:
            old = _find(config.extension_by_number, number, "extension")
            new = dataclasses.replace(old, **changes)
            return dataclasses.replace(config, extensions=tuple(
                new if e.number == number else e for e in config.extensions))

        return self._change(update).extension_by_number[number]

    def remove_extension(self, number: str) -> None:
        def remove(config: Config) -> Config:
            _find(config.extension_by_number, number, "extension")
            return dataclasses.replace(config, extensions=tuple(
                e for e in config.extensions if e.number != number))

        self._remove("extension", number, remove)

    # -- trunks, routes, ring groups, time conditions, blacklist -------------------------------

    def trunks(self) -> tuple[Trunk, ...]:
        return self.config().trunks

    def add_trunk(self, name: str, host: str, **options: Any) -> Trunk:
        return self._add("trunks", Trunk(name, host, **options), "name", "trunk")

    def remove_trunk(self, name: str) -> None:
        self._remove("trunk", name, lambda config: _without(config, "trunks", "name", name, "trunk"))

    def outbound_routes(self) -> tuple[OutboundRoute, ...]:
        return self.config().outbound_routes

    def add_outbound_route(self, name: str, patterns: tuple[str, ...], **options: Any) -> OutboundRoute:
        """Appends a route; routes are tried in order."""
        return self._add("outbound_routes", OutboundRoute(name, tuple(patterns), **options), "name", "route")

    def inbound_routes(self) -> tuple[InboundRoute, ...]:
        return self.config().inbound_routes

    def add_inbound_route(self, name: str, destination: Destination | str, **options: Any) -> InboundRoute:
        if isinstance(destination, str):
            destination = _destination(destination, "destination")
        closed = options.get("closed_destination")
        if isinstance(closed, str):
            options["closed_destination"] = _destination(closed, "closed_destination")
        return self._add("inbound_routes", InboundRoute(name, destination, **options), "name", "route")

    def remove_route(self, direction: str, name: str) -> None:
        if direction not in ("outbound", "inbound"):
            raise ConfigError("direction", f"{direction!r}: routes are 'outbound' or 'inbound'")
        kind, table = f"{direction} route", f"{direction}_routes"
        self._remove(kind, name, lambda config: _without(config, table, "name", name, kind))

    def ring_groups(self) -> tuple[RingGroup, ...]:
        return self.config().ring_groups

    def add_ring_group(self, number: str, members: tuple[str, ...], **options: Any) -> RingGroup:
        return self._add("ring_groups", RingGroup(number, tuple(members), **options), "number", "ring group")

    def remove_ring_group(self, number: str) -> None:
        self._remove("ring group", number,
                     lambda config: _without(config, "ring_groups", "number", number, "ring group"))

    def add_time_condition(self, name: str, **options: Any) -> TimeCondition:
        return self._add("time_conditions", TimeCondition(name, **options), "name", "time condition")

    def remove_time_condition(self, name: str) -> None:
        self._remove("time condition", name,
                     lambda config: _without(config, "time_conditions", "name", name, "time condition"))

    def block_number(self, pattern: str, note: str = "") -> BlockedNumber:
        return self._add("blacklist", BlockedNumber(pattern, note), "pattern", "blocked number")

    def unblock_number(self, pattern: str) -> None:
        self._change(lambda config: _without(config, "blacklist", "pattern", pattern, "blocked number"))

    def _add(self, table: str, item: Any, key: str, kind: str) -> Any:
        def add(config: Config) -> Config:
            value = getattr(item, key)
            if any(getattr(existing, key) == value for existing in getattr(config, table)):
                raise ConfigError(key, f"{kind} {value} already exists")
            return dataclasses.replace(config, **{table: (*getattr(config, table), item)})

        self._change(add)
        return item

    # -- call records, status, and the runtime's side ------------------------------------------

    def call_records(self, *, since: float | None = None, until: float | None = None,
                     limit: int | None = None) -> list[CallRecord]:
        return self._store.calls(since=since, until=until, limit=limit)

    def record_call(self, record: CallRecord) -> None:
        """The runtime persists a ``WriteCdr`` command's record."""
        self._store.save_call(record)

    def close_stale_calls(self) -> list[str]:
        """The runtime, at start, before its first heartbeat: closes the records a crash left open."""
        return self._store.close_stale_calls()

    def heartbeat(self, now: float) -> None:
        self._store.record_heartbeat(now)

    def status(self, now: float | None = None) -> Status:
        config = self.config()
        beat = self._store.heartbeat()
        age = None if beat is None else (time.time() if now is None else now) - beat
        return Status(
            data_dir=str(self.data_dir), schema_version=self._store.schema_version,
            config_version=self._store.config_version(), extensions=len(config.extensions),
            trunks=len(config.trunks), outbound_routes=len(config.outbound_routes),
            inbound_routes=len(config.inbound_routes), ring_groups=len(config.ring_groups),
            calls_up=len(self._store.calls(open_only=True)), calls_recorded=self._store.count_calls(),
            runtime_running=age is not None and age < HEARTBEAT_FRESH, heartbeat_age=age)


def _find(items: dict[str, Any], key: str, kind: str) -> Any:
    if key not in items:
        raise NotFoundError("", f"there is no {kind} {key}")
    return items[key]


def _without(config: Config, table: str, key: str, value: str, kind: str) -> Config:
    items = getattr(config, table)
    kept = tuple(item for item in items if getattr(item, key) != value)
    if len(kept) == len(items):
        raise NotFoundError("", f"there is no {kind} {value}")
    return dataclasses.replace(config, **{table: kept})


def _destination(text: str, field: str) -> Destination:
    try:
        return Destination.parse(text)
    except ConfigError as error:
        raise error.within(field) from None
