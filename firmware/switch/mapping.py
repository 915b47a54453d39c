"""Plain data (dicts, lists, strings, numbers, as TOML or JSON give them) to model objects and back.

``from_mapping`` is lenient only where nothing can be lost: a whole number or a date where a string
is expected (``number = 201``, ``holidays = [2025-12-25]``), an empty string for "none". Everything
else must already have the right type; a mistake is a ``ConfigError`` naming the field's path.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from .model import (
    BlockedNumber,
    Config,
    ConfigError,
    Destination,
    Extension,
    InboundRoute,
    OutboundRoute,
    RingGroup,
    Settings,
    TimeCondition,
    Trunk,
    describe_type,
    field_types,
)

# The lists of a Config and the class of their items, in the order a config file shows them.
CONFIG_LISTS: dict[str, type] = {
    "extensions": Extension,
    "ring_groups": RingGroup,
    "trunks": Trunk,
    "outbound_routes": OutboundRoute,
    "inbound_routes": InboundRoute,
    "time_conditions": TimeCondition,
    "blacklist": BlockedNumber,
}
T = TypeVar("T")


def from_mapping(cls: type[T], data: object, path: str) -> T:
    """An instance of the dataclass ``cls`` from a mapping of its field names."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, f"expected a table of settings, got {data!r}")
    hints = field_types(cls)
    for key in data:
        if key not in hints:
            raise ConfigError(f"{path}.{key}", f"unknown setting (known: {', '.join(hints)})")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(typing.cast(Any, cls)):
        if f.name in data:
            values[f.name] = _coerce(hints[f.name], data[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}.{f.name}", "missing")
    try:
        return cls(**values)
    except ConfigError as error:
        raise error.within(path) from None


def _coerce(hint: object, value: object, path: str) -> object:
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        if value is None or value == "":
            return None
        other = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        return _coerce(other, value, path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if hint is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if hint is str and isinstance(value, dt.date):
        return value.isoformat()
    if hint is Destination and isinstance(value, str):
        try:
            return Destination.parse(value)
        except ConfigError as error:
            raise error.within(path) from None
    if isinstance(hint, type) and issubclass(hint, Enum) and isinstance(value, str):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(path, f"expected {describe_type(hint)}, got {value!r}") from None
    return value  # the dataclass checks the type and names the field


def to_mapping(obj: object) -> dict[str, Any]:
    """The fields of a model dataclass as plain data; fields set to None are left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(typing.cast(Any, obj)):
        value = _plain(getattr(obj, f.name))
        if value is not None:
            out[f.name] = value
    return out


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Destination):
        return str(value)
    if dataclasses.is_dataclass(value):
        return to_mapping(value)
    return value


def config_from_mapping(data: Mapping[str, object]) -> Config:
    """A Config from ``{"settings": {...}, "extensions": [{...}, ...], ...}``."""
    known = ("settings", *CONFIG_LISTS)
    for key in data:
        if key not in known:
            raise ConfigError(key, f"unknown section (known: {', '.join(known)})")
    parts: dict[str, Any] = {"settings": from_mapping(Settings, data.get("settings", {}), "settings")}
    for name, cls in CONFIG_LISTS.items():
        items = data.get(name, [])
        if not isinstance(items, list):
            raise ConfigError(name, f"expected a list of tables ([[{name}]]), got {items!r}")
        parts[name] = tuple(from_mapping(cls, item, f"{name}[{i}]") for i, item in enumerate(items))
    return Config(**parts)


def config_to_mapping(config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": to_mapping(config.settings)}
    for name in CONFIG_LISTS:
        out[name] = [to_mapping(item) for item in getattr(config, name)]
    return out
