"""The box's configuration: frozen dataclasses that check themselves.

A ``Config`` is valid by construction: every dataclass checks its own fields in ``__post_init__``
(types first, then values) and ``Config`` checks the references between them (a route's trunks
exist, an inbound route's extension exists, no extension shadows an emergency number ...). Any
change is a new object (``dataclasses.replace``), so it is checked again. A mistake is a
``ConfigError`` that names the field as a path (``extensions[2].password``); a config read from a
file also gets the line (``configfile`` adds it).

Times are whole seconds; numbers people dial are strings (``"0301234"`` keeps its leading zero).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import secrets
import string
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .patterns import compile_pattern

GENERATED_PASSWORD_BYTES = 18  # 144 random bits, 24 URL-safe characters
MIN_PASSWORD_LENGTH = 10  # characters, for extension passwords a person chooses
MAX_FORWARD_TIMEOUT = 600  # s
MIN_RING_TIMEOUT = 5  # s

_EXTENSION_NUMBER = re.compile(r"[0-9]{2,8}")
_DIAL_STRING = re.compile(r"\+?[0-9*#]{1,32}")
_DID = re.compile(r"\+?[0-9]{2,20}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_DISPLAY_NAME = re.compile(r'[^\x00-\x1f\x7f"\\]{0,64}')
# Printable ASCII without space, quotes and backslash: safe inside generated Kamailio and SIP text.
_SECRET = re.compile(r"[!#-&(-\[\]-~]{1,64}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_FEATURE_CODE = re.compile(r"\*[0-9*#]{0,5}")
_HOURS = re.compile(r"(?P<days>[a-z,-]+)\s+(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)")
_HOLIDAY = re.compile(r"(?:(?P<year>\d{4})-)?(?P<month>\d\d)-(?P<day>\d\d)")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


# Each list of a Config and the field that identifies its items.
CONFIG_KEYS = {
    "extensions": "number",
    "ring_groups": "number",
    "trunks": "name",
    "outbound_routes": "name",
    "inbound_routes": "name",
    "time_conditions": "name",
    "blacklist": "pattern",
}


class ConfigError(ValueError):
    """A configuration mistake: ``field`` is a path such as ``trunks[1].port``; ``line`` is set
    when the configuration came from a file."""

    def __init__(self, field: str, message: str, line: int | None = None):
        self.field = field
        self.message = message
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"

    def within(self, prefix: str) -> ConfigError:
        """The same error seen from the enclosing object (``number`` -> ``extensions[2].number``)."""
        joined = f"{prefix}.{self.field}" if self.field and not self.field.startswith("[") else (
            f"{prefix}{self.field}")
        return ConfigError(joined, self.message, self.line)

    def at_line(self, line: int | None) -> ConfigError:
        return ConfigError(self.field, self.message, line)


def generate_password(avoid: str = "") -> str:
    """A strong SIP password from the OS's CSPRNG (not containing ``avoid``, e.g. the extension)."""
    while True:
        password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        if password_weakness(password) is None and (not avoid or avoid not in password):
            return password


def password_weakness(password: str) -> str | None:
    """Why ``password`` is too weak for an extension, or None when it is strong enough."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    used = sum(any(c in cls for c in password) for cls in classes) + any(
        not c.isalnum() for c in password)
    if used < 2:
        return "must mix at least two of: lower case, upper case, digits, symbols"
    return None


def _check(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ConfigError(field, message)


def _check_identifier(value: str, field: str) -> None:
    _check(_IDENTIFIER.fullmatch(value) is not None, field,
           f"{value!r} must be 1-32 letters, digits, '_', '.' or '-', starting with a letter or digit")


def _check_pattern(value: str, field: str) -> None:
    try:
        compile_pattern(value)
    except ValueError as error:
        raise ConfigError(field, str(error)) from None


def _check_range(value: int, low: int, high: int, field: str, unit: str = "") -> None:
    _check(low <= value <= high, field, f"{value} is outside {low}..{high}{unit}")


@cache
def field_types(cls: type) -> dict[str, object]:
    """The resolved annotation of every dataclass field of ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def accepts(hint: object, value: object) -> bool:
    """True when ``value`` is of the annotated type (bool is not an int here)."""
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        return any(accepts(arg, value) for arg in typing.get_args(hint))
    if origin is tuple:
        return isinstance(value, tuple) and all(accepts(typing.get_args(hint)[0], v) for v in value)
    return isinstance(value, typing.cast(type, hint))


def describe_type(hint: object) -> str:
    names = {str: "a string", int: "a whole number", bool: "true or false", type(None): "nothing"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        return " or ".join(describe_type(arg) for arg in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {describe_type(typing.get_args(hint)[0]).removeprefix('a ')}s"
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    return getattr(hint, "__name__", str(hint))


class _Checked:
    """Checks the field types, then the values (``_validate``), whenever an instance is made."""

    def __post_init__(self) -> None:
        for name, hint in field_types(type(self)).items():
            value = getattr(self, name)
            if not accepts(hint, value):
                raise ConfigError(name, f"expected {describe_type(hint)}, got {value!r}")
        self._validate()

    def _validate(self) -> None:
        """Value checks of the subclass."""


class DestinationKind(StrEnum):
    EXTENSION = "extension"
    RING_GROUP = "ring_group"
    HANGUP = "hangup"


@dataclass(frozen=True)
class Destination:
    """Where an inbound call goes, written ``extension:201``, ``ring_group:600`` or ``hangup``."""

    kind: DestinationKind
    target: str = ""

    def __post_init__(self) -> None:
        _check(isinstance(self.kind, DestinationKind), "", f"{self.kind!r} is not a DestinationKind")
        if self.kind is DestinationKind.HANGUP:
            _check(self.target == "", "", "'hangup' takes no target")
        else:
            _check(_EXTENSION_NUMBER.fullmatch(self.target) is not None, "",
                   f"{self.kind.value} needs a number, e.g. '{self.kind.value}:201'")

    @classmethod
    def parse(cls, text: str) -> Destination:
        kind, _, target = text.partition(":")
        if kind not in {k.value for k in DestinationKind}:
            kinds = ", ".join(k.value for k in DestinationKind)
            raise ConfigError("", f"{text!r} is not a destination (kinds: {kinds})")
        return cls(DestinationKind(kind), target)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.target}" if self.target else self.kind.value


@dataclass(frozen=True)
class Settings(_Checked):
    sip_port: int = 5060
    bind_address: str = "127.0.0.1"
    max_outbound_calls: int = 8  # concurrent calls out through trunks, the whole box
    ring_timeout: int = 45  # s before an unanswered call ends NO ANSWER
    emergency_numbers: tuple[str, ...] = ("110", "112", "119", "120", "911")
    pickup_code: str = "*8"  # picks up any ringing extension
    directed_pickup_prefix: str = "**"  # followed by the ringing extension's number

    def _validate(self) -> None:
        _check_range(self.sip_port, 1, 65535, "sip_port")
        try:
            ipaddress.ip_address(self.bind_address)
        except ValueError:
            raise ConfigError("bind_address", f"{self.bind_address!r} is not an IP address") from None
        _check_range(self.max_outbound_calls, 0, 10_000, "max_outbound_calls")
        _check_range(self.ring_timeout, MIN_RING_TIMEOUT, MAX_FORWARD_TIMEOUT, "ring_timeout", " s")
        for i, number in enumerate(self.emergency_numbers):
            _check(re.fullmatch(r"[0-9]{2,6}", number) is not None, f"emergency_numbers[{i}]",
                   f"{number!r} must be 2-6 digits")
        for name in ("pickup_code", "directed_pickup_prefix"):
            _check(_FEATURE_CODE.fullmatch(getattr(self, name)) is not None, name,
                   "must start with '*' and have at most 6 characters of 0-9 * #")


@dataclass(frozen=True)
class Extension(_Checked):
    number: str
    name: str = ""
    password: str = field(default="", repr=False)  # "" (or absent): a strong one is generated
    international: bool = False  # may dial 00... and +...
    max_outbound: int = 2  # concurrent calls out through trunks; emergency calls always pass
    dnd: bool = False
    forward_always: str | None = None
    forward_busy: str | None = None  # also when the phone cannot be reached
    forward_no_answer: str | None = None
    no_answer_timeout: int = 20  # s of ringing before forward_no_answer

    def __post_init__(self) -> None:
        if self.password == "":
            avoid = self.number if isinstance(self.number, str) else ""
            object.__setattr__(self, "password", generate_password(avoid))  # frozen: only here
        super().__post_init__()

    def _validate(self) -> None:
        _check(_EXTENSION_NUMBER.fullmatch(self.number) is not None, "number",
               f"{self.number!r} must be 2-8 digits")
        _check(_DISPLAY_NAME.fullmatch(self.name) is not None, "name",
               "at most 64 characters, no quotes, backslashes or control characters")
        _check(_SECRET.fullmatch(self.password) is not None, "password",
               "printable ASCII without spaces, quotes or backslashes, at most 64 characters")
        weakness = password_weakness(self.password)
        _check(weakness is None, "password", weakness or "")
        _check(self.number not in self.password, "password", "must not contain the extension number")
        _check_range(self.max_outbound, 0, 1000, "max_outbound")
        _check_range(self.no_answer_timeout, MIN_RING_TIMEOUT, MAX_FORWARD_TIMEOUT, "no_answer_timeout",
                     " s")
        for name in ("forward_always", "forward_busy", "forward_no_answer"):
            target = getattr(self, name)
            if target is not None:
                _check(_DIAL_STRING.fullmatch(target) is not None, name, f"{target!r} is not a number")
                _check(target != self.number, name, "an extension cannot forward to itself")


@dataclass(frozen=True)
class Trunk(_Checked):
    name: str
    host: str
    port: int = 5060
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    register: bool = False  # register at the provider (needs username and password)
    dids: tuple[str, ...] = ()  # numbers the provider delivers on this trunk
    priority: int = 0  # failover order (lowest first) for routes that name no trunks

    def _validate(self) -> None:
        _check_identifier(self.name, "name")
        _check(_is_host(self.host), "host", f"{self.host!r} is not a host name or IP address")
        _check_range(self.port, 1, 65535, "port")
        for name in ("username", "password"):
            value = getattr(self, name)
            if value is not None:
                _check(_SECRET.fullmatch(value) is not None, name,
                       "printable ASCII without spaces, quotes or backslashes, at most 64 characters")
        if self.register:
            _check(self.username is not None and self.password is not None, "register",
                   "registration needs a username and a password")
        for i, did in enumerate(self.dids):
            _check(_DID.fullmatch(did) is not None, f"dids[{i}]", f"{did!r} must be 2-20 digits")
        _check(len(set(self.dids)) == len(self.dids), "dids", "a number is listed twice")
        _check_range(self.priority, 0, 1000, "priority")


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.split(".")
        return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


@dataclass(frozen=True)
class OutboundRoute(_Checked):
    """Numbers matching one of ``patterns`` go out: first ``strip`` digits removed, then ``prepend``
    added, through ``trunks`` in failover order (all trunks by priority when empty)."""

    name: str
    patterns: tuple[str, ...]
    strip: int = 0
    prepend: str = ""
    trunks: tuple[str, ...] = ()

    def _validate(self) -> None:
        _check_identifier(self.name, "name")
        _check(len(self.patterns) > 0, "patterns", "at least one pattern is needed")
        for i, pattern in enumerate(self.patterns):
            _check_pattern(pattern, f"patterns[{i}]")
        _check_range(self.strip, 0, 20, "strip")
        _check(re.fullmatch(r"\+?[0-9*#]{0,20}", self.prepend) is not None, "prepend",
               f"{self.prepend!r} must be digits, optionally after '+'")
        _check(len(set(self.trunks)) == len(self.trunks), "trunks", "a trunk is listed twice")


@dataclass(frozen=True)
class InboundRoute(_Checked):
    """Calls from ``trunk`` to a DID matching ``did`` from a caller matching ``caller_id`` (each
    optional) go to ``destination``; with a ``time_condition``, to ``closed_destination`` when closed."""

    name: str
    destination: Destination
    trunk: str | None = None
    did: str | None = None
    caller_id: str | None = None
    time_condition: str | None = None
    closed_destination: Destination | None = None

    def _validate(self) -> None:
        _check_identifier(self.name, "name")
        for name in ("did", "caller_id"):
            if getattr(self, name) is not None:
                _check_pattern(getattr(self, name), name)
        _check((self.time_condition is None) == (self.closed_destination is None), "closed_destination",
               "a time condition needs a closed_destination, and only then is one used")


@dataclass(frozen=True)
class WeeklyHours:
    """One line of opening hours: on ``days`` (0 = Monday) from ``start`` to ``end`` minutes."""

    days: frozenset[int]
    start: int  # minutes after midnight, inclusive
    end: int  # minutes after midnight, exclusive


def parse_hours(spec: str) -> WeeklyHours:
    """``"mon-fri 08:00-18:00"``, ``"sat,sun 10:00-12:00"``; ranges of days may wrap (``fri-mon``)."""
    found = _HOURS.fullmatch(spec.strip().lower())
    if not found:
        raise ValueError(f"{spec!r} is not like 'mon-fri 08:00-18:00'")
    days: set[int] = set()
    for part in found["days"].split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"{part!r}: days are {', '.join(WEEKDAYS)}")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update(d % 7 for d in range(a, b + 1 if b >= a else b + 8))
    start, end = _minutes(found["start"]), _minutes(found["end"])
    if not start < end:
        raise ValueError(f"{spec!r}: the end must be after the start (split overnight hours in two)")
    return WeeklyHours(frozenset(days), start, end)


def _minutes(text: str) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes >= 60 or hours * 60 + minutes > MINUTES_PER_DAY:
        raise ValueError(f"{text} is not a time of day")
    return hours * 60 + minutes


def parse_holiday(text: str) -> tuple[int | None, int, int]:
    """``"2025-12-25"`` (that day) or ``"12-25"`` (every year) as (year or None, month, day)."""
    found = _HOLIDAY.fullmatch(text.strip())
    if not found:
        raise ValueError(f"{text!r} is not a date like 2025-12-25 or 12-25")
    year = int(found["year"]) if found["year"] else None
    month, day = int(found["month"]), int(found["day"])
    try:
        dt.date(year or 2000, month, day)  # 2000 is a leap year: 02-29 recurs
    except ValueError:
        raise ValueError(f"{text!r} is not a date") from None
    return year, month, day


@dataclass(frozen=True)
class TimeCondition(_Checked):
    """Opening hours: open during any of ``hours`` (local time in ``timezone``), except on
    ``holidays``."""

    name: str
    timezone: str = "UTC"
    hours: tuple[str, ...] = ()
    holidays: tuple[str, ...] = ()

    def _validate(self) -> None:
        _check_identifier(self.name, "name")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("timezone", f"unknown time zone {self.timezone!r}") from None
        for name, parse in (("hours", parse_hours), ("holidays", parse_holiday)):
            for i, text in enumerate(getattr(self, name)):
                try:
                    parse(text)
                except ValueError as error:
                    raise ConfigError(f"{name}[{i}]", str(error)) from None


class RingStrategy(StrEnum):
    RING_ALL = "ring_all"  # all members at once, the first to answer wins
    HUNT = "hunt"  # one member after the other, in order


@dataclass(frozen=True)
class RingGroup(_Checked):
    number: str
    members: tuple[str, ...]
    name: str = ""
    strategy: RingStrategy = RingStrategy.RING_ALL
    timeout: int = 20  # s: the whole group for ring_all, each member for hunt

    def _validate(self) -> None:
        _check(_EXTENSION_NUMBER.fullmatch(self.number) is not None, "number",
               f"{self.number!r} must be 2-8 digits")
        _check(_DISPLAY_NAME.fullmatch(self.name) is not None, "name",
               "at most 64 characters, no quotes, backslashes or control characters")
        _check(len(self.members) > 0, "members", "a ring group needs at least one member")
        _check(len(set(self.members)) == len(self.members), "members", "a member is listed twice")
        _check_range(self.timeout, MIN_RING_TIMEOUT, MAX_FORWARD_TIMEOUT, "timeout", " s")


@dataclass(frozen=True)
class BlockedNumber(_Checked):
    """Inbound callers whose caller ID matches ``pattern`` are refused."""

    pattern: str
    note: str = ""

    def _validate(self) -> None:
        _check_pattern(self.pattern, "pattern")
        _check(_DISPLAY_NAME.fullmatch(self.note) is not None, "note",
               "at most 64 characters, no quotes, backslashes or control characters")


@dataclass(frozen=True)
class Config(_Checked):
    settings: Settings = field(default_factory=Settings)
    extensions: tuple[Extension, ...] = ()
    trunks: tuple[Trunk, ...] = ()
    outbound_routes: tuple[OutboundRoute, ...] = ()
    inbound_routes: tuple[InboundRoute, ...] = ()
    time_conditions: tuple[TimeCondition, ...] = ()
    ring_groups: tuple[RingGroup, ...] = ()
    blacklist: tuple[BlockedNumber, ...] = ()

    @cached_property
    def extension_by_number(self) -> dict[str, Extension]:
        return {e.number: e for e in self.extensions}

    @cached_property
    def ring_group_by_number(self) -> dict[str, RingGroup]:
        return {g.number: g for g in self.ring_groups}

    @cached_property
    def trunk_by_name(self) -> dict[str, Trunk]:
        return {t.name: t for t in self.trunks}

    @cached_property
    def time_condition_by_name(self) -> dict[str, TimeCondition]:
        return {t.name: t for t in self.time_conditions}

    def _validate(self) -> None:
        for name, key in CONFIG_KEYS.items():
            seen: set[str] = set()
            for i, item in enumerate(getattr(self, name)):
                value = getattr(item, key)
                _check(value not in seen, f"{name}[{i}].{key}", f"{value!r} is defined twice")
                seen.add(value)
        self._validate_numbers()
        self._validate_references()

    def _validate_numbers(self) -> None:
        emergency = set(self.settings.emergency_numbers)
        for i, ext in enumerate(self.extensions):
            _check(ext.number not in emergency, f"extensions[{i}].number",
                   f"{ext.number} is an emergency number")
        for i, group in enumerate(self.ring_groups):
            _check(group.number not in emergency, f"ring_groups[{i}].number",
                   f"{group.number} is an emergency number")
            _check(group.number not in self.extension_by_number, f"ring_groups[{i}].number",
                   f"{group.number} is already an extension")
        owner: dict[str, str] = {}
        for i, trunk in enumerate(self.trunks):
            for j, did in enumerate(trunk.dids):
                _check(did not in owner, f"trunks[{i}].dids[{j}]", f"{did} is also a DID of {owner.get(did)}")
                owner[did] = trunk.name

    def _validate_references(self) -> None:
        for i, route in enumerate(self.outbound_routes):
            for j, trunk in enumerate(route.trunks):
                _check(trunk in self.trunk_by_name, f"outbound_routes[{i}].trunks[{j}]",
                       f"unknown trunk {trunk!r}")
        for i, route in enumerate(self.inbound_routes):
            where = f"inbound_routes[{i}]"
            _check(route.trunk is None or route.trunk in self.trunk_by_name, f"{where}.trunk",
                   f"unknown trunk {route.trunk!r}")
            _check(route.time_condition is None or route.time_condition in self.time_condition_by_name,
                   f"{where}.time_condition", f"unknown time condition {route.time_condition!r}")
            for name in ("destination", "closed_destination"):
                destination = getattr(route, name)
                if destination is not None:
                    _check(self.has_destination(destination), f"{where}.{name}",
                           f"unknown {destination.kind.value} {destination.target!r}")
        for i, group in enumerate(self.ring_groups):
            for j, member in enumerate(group.members):
                _check(member in self.extension_by_number, f"ring_groups[{i}].members[{j}]",
                       f"unknown extension {member!r}")

    def has_destination(self, destination: Destination) -> bool:
        if destination.kind is DestinationKind.EXTENSION:
            return destination.target in self.extension_by_number
        if destination.kind is DestinationKind.RING_GROUP:
            return destination.target in self.ring_group_by_number
        return True
