"""Per-port settings of an analog line and the country defaults they start from.

A port's settings are one frozen, validated record (``PortSettings``). The line gateway reads the
gains, echo tail and caller ID type; the card reads the flash timing; the switch reads the
disconnect methods. ``PortSettings(country="CN")`` fills every country-dependent field the caller
left out from ``LINE_COUNTRIES``; ``with_value(key, text)`` is the one way a command line or a web
form changes a field ("callbox line set PORT KEY VALUE"), and ``to_dict``/``from_dict`` the form it
is stored and shown in.

Country figures (each line names its source; "common value" means the figure usually quoted, not
checked against the standard's text, as in firmware/dsp/tone_plans.py):
  [GR506]   Telcordia GR-506-CORE: US ringing 2 s on, 4 s off; a hook flash of 300-1100 ms.
  [GR30]    Telcordia GR-30-CORE: FSK caller ID (Bell 202) in the first silent interval, at
            least 0.5 s after the first ring.
  [SIN351]  BT SIN 351 (UK): ring 0.4 on, 0.2 off, 0.4 on, 2.0 off; timed break recall 100 ms.
  [SIN227]  BT SIN 227 (UK): caller ID (V.23) before the first ring, after a line reversal.
  [ES201970] ETSI ES 201 970: ring 1 s on, 4 s off (the usual choice of the CEPT range); register
            recall by timed break of about 100 ms.
  [EN300659] ETSI EN 300 659-1: V.23 caller ID during ringing, after the first ring.
  [YDN065]  YDN 065 (China): ring 1 s on, 4 s off; [YDN069] FSK (Bell 202 tones) between the
            first and second ring.
"""
from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType
from typing import Any

# Pulse dialling (10 pulses per second, about 60 % break) and the detector's windows. A break in
# PULSE_BREAK_MS is a dial pulse; a flash window must begin above it so the two never overlap.
PULSE_BREAK_SEND_MS = 60.0          # common value for 10 pps
PULSE_MAKE_SEND_MS = 40.0           # common value for 10 pps
PULSE_PAUSE_SEND_MS = 700.0         # between digits, common value
PULSE_BREAK_MS = (20.0, 85.0)       # accepted break: 8-12 pps at 58-70 % break, plus margin
PULSE_DIGIT_END_MS = 150.0          # a make this long ends the digit (makes within one are 30-50 ms)
FLASH_LIMIT_MS = 2000.0             # no flash window reaches past this: longer is a hang-up
GAIN_LIMIT_DB = 24.0                # |rx/tx gain|
ECHO_TAIL_MS = (16, 256)            # echo canceller tail, inclusive


class CallerIdType(enum.Enum):
    NONE = "none"
    BELL202 = "bell202"             # Bell 202 FSK (US, China)
    V23 = "v23"                     # ITU-T V.23 FSK (ETSI, UK)
    DTMF = "dtmf"                   # DTMF caller ID (Denmark, Netherlands, Brazil, India, ...)


class CallerIdTiming(enum.Enum):
    AFTER_FIRST_RING = "after_first_ring"
    BEFORE_RING = "before_ring"


class DisconnectMethod(enum.Enum):
    """How a line tells that the far end hung up."""

    BUSY_TONE = "busy_tone"         # the exchange plays busy (or congestion) tone
    POLARITY = "polarity"           # the line's polarity reverses
    LOOP_CURRENT = "loop_current"   # the loop current drops for a while (calling party control)


@dataclass(frozen=True, slots=True)
class FlashTiming:
    """A hook flash: the break the box sends, and the window of breaks it reads as a flash.

    A break shorter than ``min_ms`` (and longer than a dial pulse) is ignored; one longer than
    ``max_ms`` is a hang-up.
    """

    send_ms: float
    min_ms: float
    max_ms: float

    def __post_init__(self) -> None:
        for name in ("send_ms", "min_ms", "max_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"flash {name} must be a finite number of ms, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not PULSE_BREAK_MS[1] < self.min_ms <= self.send_ms <= self.max_ms <= FLASH_LIMIT_MS:
            raise ValueError(
                f"flash timing must satisfy {PULSE_BREAK_MS[1]:g} (longest dial pulse) < min_ms <= send_ms "
                f"<= max_ms <= {FLASH_LIMIT_MS:g} ms, got min {self.min_ms:g}, send {self.send_ms:g}, "
                f"max {self.max_ms:g}")


@dataclass(frozen=True, slots=True)
class LineCountry:
    """What an analog line does in one country."""

    ring_cadence_ms: tuple[float, ...]      # on, off, on, off, ... repeated
    flash: FlashTiming
    caller_id: CallerIdType
    caller_id_timing: CallerIdTiming
    disconnect: frozenset[DisconnectMethod]


LINE_COUNTRIES = MappingProxyType({
    "US": LineCountry((2000, 4000),                                     # [GR506]
                      FlashTiming(600, 300, 1100),                      # [GR506]
                      CallerIdType.BELL202, CallerIdTiming.AFTER_FIRST_RING,   # [GR30]
                      frozenset({DisconnectMethod.LOOP_CURRENT, DisconnectMethod.BUSY_TONE})),
    "UK": LineCountry((400, 200, 400, 2000),                            # [SIN351]
                      FlashTiming(100, 90, 200),                        # [SIN351], window common value
                      CallerIdType.V23, CallerIdTiming.BEFORE_RING,     # [SIN227]
                      frozenset({DisconnectMethod.LOOP_CURRENT, DisconnectMethod.BUSY_TONE})),
    "EU": LineCountry((1000, 4000),                                     # [ES201970]
                      FlashTiming(100, 90, 200),                        # [ES201970], window common value
                      CallerIdType.V23, CallerIdTiming.AFTER_FIRST_RING,       # [EN300659]
                      frozenset({DisconnectMethod.BUSY_TONE})),
    "CN": LineCountry((1000, 4000),                                     # [YDN065]
                      FlashTiming(100, 90, 200),                        # common value
                      CallerIdType.BELL202, CallerIdTiming.AFTER_FIRST_RING,   # [YDN069]
                      frozenset({DisconnectMethod.BUSY_TONE, DisconnectMethod.POLARITY})),
})


def check_cadence(cadence_ms: tuple[float, ...] | list[float]) -> tuple[float, ...]:
    """``cadence_ms`` as a tuple of floats, checked: on/off pairs, every on > 0, every off >= 0."""
    try:
        cadence = tuple(float(ms) for ms in cadence_ms)
    except (TypeError, ValueError):
        raise ValueError(f"a cadence is a sequence of ms, got {cadence_ms!r}") from None
    if not cadence or len(cadence) % 2 or not all(math.isfinite(ms) and ms >= 0 for ms in cadence):
        raise ValueError(f"a cadence is on/off pairs of finite ms >= 0, got {cadence_ms!r}")
    if not all(on > 0 for on in cadence[::2]):
        raise ValueError(f"every on-duration of a cadence must be > 0, got {cadence_ms!r}")
    return cadence


_COUNTRY_FIELDS = ("flash", "caller_id", "caller_id_timing", "disconnect")


@dataclass(frozen=True, slots=True)
class PortSettings:
    """The settings of one port. Fields left None take the country's default."""

    country: str = "US"
    rx_gain_db: float = 0.0             # applied to audio from the line
    tx_gain_db: float = 0.0             # applied to audio toward the line
    echo_tail_ms: int = 128
    caller_id: CallerIdType | None = None
    caller_id_timing: CallerIdTiming | None = None
    disconnect: frozenset[DisconnectMethod] | None = None
    flash: FlashTiming | None = None

    def __post_init__(self) -> None:
        if self.country not in LINE_COUNTRIES:
            raise ValueError(f"country must be one of {', '.join(LINE_COUNTRIES)}, got {self.country!r}")
        defaults = LINE_COUNTRIES[self.country]
        for name in _COUNTRY_FIELDS:
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(defaults, name))
        for name in ("rx_gain_db", "tx_gain_db"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or abs(value) > GAIN_LIMIT_DB:
                raise ValueError(f"{name} must be a number of dB in ±{GAIN_LIMIT_DB:g}, got {value!r}")
            object.__setattr__(self, name, float(value))
        tail = self.echo_tail_ms
        low, high = ECHO_TAIL_MS
        if isinstance(tail, bool) or not isinstance(tail, int) or not low <= tail <= high:
            raise ValueError(f"echo_tail_ms must be an int in {low}..{high}, got {tail!r}")
        _check_member("caller_id", self.caller_id, CallerIdType)
        _check_member("caller_id_timing", self.caller_id_timing, CallerIdTiming)
        if not isinstance(self.flash, FlashTiming):
            raise ValueError(f"flash must be a FlashTiming, got {self.flash!r}")
        disconnect = self.disconnect
        if not isinstance(disconnect, frozenset | set | tuple | list) or not disconnect:
            raise ValueError("disconnect must name at least one method "
                             f"({', '.join(m.value for m in DisconnectMethod)}), got {disconnect!r}")
        for method in disconnect:
            _check_member("disconnect", method, DisconnectMethod)
        object.__setattr__(self, "disconnect", frozenset(disconnect))

    @property
    def ring_cadence_ms(self) -> tuple[float, ...]:
        return LINE_COUNTRIES[self.country].ring_cadence_ms

    def with_value(self, key: str, text: str) -> PortSettings:
        """A copy with ``key`` set from its text form, as ``callbox line set PORT KEY VALUE`` gives it.

        ``disconnect`` takes a comma-separated list; ``flash`` takes "send,min,max" in ms. Setting
        ``country`` resets the country-dependent fields (flash, caller ID, disconnect) to its defaults.
        """
        if not isinstance(text, str):
            raise ValueError(f"value must be text, got {type(text).__name__}")
        if key == "country":
            return PortSettings(text.strip().upper(), self.rx_gain_db, self.tx_gain_db, self.echo_tail_ms)
        if key not in _PARSERS:
            raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(_PARSERS))}, country")
        return replace(self, **{key: _PARSERS[key](text.strip())})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data = asdict(self)
        data["caller_id"] = self.caller_id.value
        data["caller_id_timing"] = self.caller_id_timing.value
        data["disconnect"] = sorted(m.value for m in self.disconnect)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PortSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        values = dict(data)
        if isinstance(values.get("flash"), dict):
            values["flash"] = FlashTiming(**values["flash"])
        for name, enum_type in (("caller_id", CallerIdType), ("caller_id_timing", CallerIdTiming)):
            if isinstance(values.get(name), str):
                values[name] = _enum_from_text(enum_type, values[name])
        if isinstance(values.get("disconnect"), list | tuple):
            values["disconnect"] = _methods(values["disconnect"])
        return cls(**values)


def _check_member(name: str, value: Any, enum_type: type[enum.Enum]) -> None:
    if not isinstance(value, enum_type):
        raise ValueError(f"{name} must be one of {', '.join(m.value for m in enum_type)}, got {value!r}")


def _enum_from_text(enum_type: type[enum.Enum], text: Any) -> Any:
    try:
        return enum_type(text)
    except ValueError:
        raise ValueError(f"expected one of {', '.join(m.value for m in enum_type)}, got {text!r}") from None


def _methods(names: list[str] | tuple[str, ...]) -> frozenset[DisconnectMethod]:
    return frozenset(_enum_from_text(DisconnectMethod, str(name).strip()) for name in names)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def _flash(text: str) -> FlashTiming:
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(f"flash is 'send,min,max' in ms, got {text!r}")
    return FlashTiming(*(_number(p) for p in parts))


_PARSERS = {
    "rx_gain_db": _number,
    "tx_gain_db": _number,
    "echo_tail_ms": _integer,
    "caller_id": lambda text: _enum_from_text(CallerIdType, text),
    "caller_id_timing": lambda text: _enum_from_text(CallerIdTiming, text),
    "disconnect": lambda text: _methods(text.split(",")),
    "flash": _flash,
}
