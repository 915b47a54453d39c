"""The one driver interface for analog line cards: what the line gateway sees of any card.

In the spirit of Asterisk's ``sig_analog`` callback struct, the signalling logic above reaches the
hardware only through this contract, and each card (the simulated one, the ALSA one) fills it in:

* A ``LineCard`` has ``ports`` and one clock. ``card.tick(to_line)`` is one 20 ms frame: it takes a
  frame of int16 samples at 8 kHz for each port (a port left out sends silence) and returns a
  ``CardFrame``: a frame from each port and the signalling events of that frame. Audio is moved
  per card, not per port, because a multi-channel PCM moves all its channels in one period; and a
  tick is the only thing that advances time, so the simulated card is sans-IO (no threads, no
  clock) and the ALSA card's tick blocks on the card's own sample clock.
* A ``Port`` is FXO (it faces an exchange: the box goes off-hook, flashes, pulse-dials, and reads
  ring, polarity and loop current) or FXS (it faces a phone: the box rings it, sends caller ID and
  message waiting, and reads its hook). Controls take effect from the next tick. A control that
  belongs to the other kind raises ``WrongPortKind``; a control on a port whose card is gone is
  ignored, since there is no hardware to act on (its events told the switch already).
* Events are frozen records naming the port; ``CardRemoved`` / ``CardRestored`` come once per port
  when its card goes away or comes back (the switch ends the port's call as FAILED and raises an
  alarm on the first, returns the port to service on the second).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from firmware.dsp.levels import FRAME_SAMPLES

if TYPE_CHECKING:
    from .settings import CallerIdTiming, PortSettings


class PortKind(enum.Enum):
    FXO = "FXO"     # foreign exchange office: the port is the "phone" of an exchange line
    FXS = "FXS"     # foreign exchange station: the port is the "exchange" of an analog phone


class WrongPortKind(ValueError):
    """A control for one kind of port was given to the other (ring an FXO port, ...)."""


# ------------------------------------------------------------------ events
@dataclass(frozen=True, slots=True)
class LineEvent:
    port: str                       # the port's id


@dataclass(frozen=True, slots=True)
class RingOn(LineEvent):
    """FXO: ringing voltage appeared (one burst of a cadence begins)."""


@dataclass(frozen=True, slots=True)
class RingOff(LineEvent):
    """FXO: ringing voltage went away."""


@dataclass(frozen=True, slots=True)
class PolarityReversal(LineEvent):
    """FXO: the line's polarity changed; ``polarity`` is the new one, +1 (normal) or -1 (reversed)."""

    polarity: int


@dataclass(frozen=True, slots=True)
class LoopCurrentDrop(LineEvent):
    """FXO: the exchange stopped feeding the loop while the box was off-hook (not a break of ours)."""


@dataclass(frozen=True, slots=True)
class LoopCurrentRestore(LineEvent):
    """FXO: the loop current came back, ``duration_ms`` after it dropped."""

    duration_ms: float


@dataclass(frozen=True, slots=True)
class OffHook(LineEvent):
    """FXS: the phone went off-hook (answered, if it was ringing: the card stops the ringing)."""


@dataclass(frozen=True, slots=True)
class OnHook(LineEvent):
    """FXS: the phone hung up (a break longer than the flash window)."""


@dataclass(frozen=True, slots=True)
class Flash(LineEvent):
    """FXS: a hook flash (a break within the port's flash window)."""


@dataclass(frozen=True, slots=True)
class PulseDigit(LineEvent):
    """FXS: a digit dialled with pulses (loop breaks)."""

    digit: str


@dataclass(frozen=True, slots=True)
class CardRemoved(LineEvent):
    """The port's card went away (pulled, or its device failed): the port is out of service."""

    card: str


@dataclass(frozen=True, slots=True)
class CardRestored(LineEvent):
    """The port's card is back: the port is in service, idle (on-hook, not ringing)."""

    card: str


@dataclass(frozen=True, slots=True)
class CardFrame:
    """What one tick of a card produced: a frame from each port, and the events of that frame."""

    audio: Mapping[str, np.ndarray]     # port id -> int16[FRAME_SAMPLES]
    events: tuple[LineEvent, ...]


# ------------------------------------------------------------------ the interface
@runtime_checkable
class Port(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> PortKind: ...
    @property
    def card(self) -> str: ...
    @property
    def in_service(self) -> bool: ...
    @property
    def is_off_hook(self) -> bool:
        """FXO: the box holds the line. FXS: the phone is off-hook."""
    @property
    def is_ringing(self) -> bool:
        """FXO: ringing voltage is on the line now. FXS: the port is ringing its phone (a cadence runs)."""
    @property
    def settings(self) -> PortSettings: ...
    def configure(self, settings: PortSettings) -> None: ...

    # FXO controls
    def off_hook(self) -> None: ...
    def on_hook(self) -> None: ...
    def flash(self) -> None:
        """A hook flash of ``settings.flash.send_ms``."""
    def pulse_dial(self, digits: str) -> None:
        """Dial ``digits`` (0-9) as loop breaks, 10 pulses per second; DTMF is audio, not a control."""

    # FXS controls
    def ring(self, cadence_ms: Sequence[float] | None = None, caller_id: np.ndarray | None = None,
             caller_id_timing: CallerIdTiming | None = None) -> None:
        """Ring the phone with ``cadence_ms`` (default: the country's), sending ``caller_id`` (int16
        samples: the FSK or DTMF waveform) before the ring or in the first silent interval."""
    def stop_ring(self) -> None: ...
    def send_caller_id(self, audio: np.ndarray) -> None:
        """Play ``audio`` to the on-hook phone now (on-hook data, e.g. a message-waiting FSK message)."""
    def set_message_waiting(self, on: bool) -> None: ...


@runtime_checkable
class LineCard(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ports(self) -> tuple[Port, ...]: ...
    @property
    def present(self) -> bool: ...
    def port(self, port_id: str) -> Port: ...
    def tick(self, to_line: Mapping[str, np.ndarray]) -> CardFrame:
        """One 20 ms frame both ways; see the module docstring."""
    def detach(self) -> None:
        """The card went away: release the device; every port reports ``CardRemoved`` once."""
    def attach(self) -> None:
        """The card is back: reopen the device; every port reports ``CardRestored`` once."""
    def close(self) -> None: ...


def check_frame(frame: object, what: str) -> np.ndarray:
    """``frame`` if it is one frame of audio (int16, FRAME_SAMPLES, one dimension); else a clear error."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{what} must be a numpy int16 array, got {type(frame).__name__}")
    if frame.dtype != np.int16:
        raise TypeError(f"{what} must have dtype int16, got {frame.dtype}")
    if frame.shape != (FRAME_SAMPLES,):
        raise ValueError(f"{what} must have shape ({FRAME_SAMPLES},), got {frame.shape}")
    return frame


def check_samples(samples: object, what: str) -> np.ndarray:
    """``samples`` if it is a one-dimensional int16 array of any length; else a clear error."""
    if not isinstance(samples, np.ndarray):
        raise TypeError(f"{what} must be a numpy int16 array, got {type(samples).__name__}")
    if samples.dtype != np.int16:
        raise TypeError(f"{what} must have dtype int16, got {samples.dtype}")
    if samples.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {samples.shape}")
    return samples
