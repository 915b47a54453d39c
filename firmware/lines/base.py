"""What every card shares, so that a driver only moves samples and signals: ``BaseCard`` and ``BasePort``.

A driver subclasses both. ``BasePort`` checks the controls and keeps the signalling state of a port:
for FXS, the ringing (a ``RingSequencer``, stopped by ring trip), queued on-hook audio, message
waiting and the phone's hook (a ``HookClassifier``); for FXO, the box's hook and the line's ring,
polarity and loop current, turned into events on their edges. The driver says how a control reaches
its hardware by overriding the ``_signal_*`` methods, and feeds what its hardware reports to the
``_fxs_*`` / ``_line_*`` methods. ``BaseCard`` numbers the ports, checks each tick's frames, and
turns presence (detach/attach) into ``CardRemoved`` / ``CardRestored`` events, once per port.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ

from .card import (
    CardFrame,
    CardRemoved,
    CardRestored,
    LineEvent,
    LoopCurrentDrop,
    LoopCurrentRestore,
    OffHook,
    PolarityReversal,
    PortKind,
    RingOff,
    RingOn,
    WrongPortKind,
    check_frame,
    check_samples,
)
from .hook import HookClassifier, check_pulse_digits
from .ringing import RingSequencer
from .settings import CallerIdTiming, PortSettings

FRAME_MS = 1000.0 * FRAME_SAMPLES / SAMPLE_RATE_HZ


def _silence() -> np.ndarray:
    return np.zeros(FRAME_SAMPLES, np.int16)


class BasePort:
    """One port's controls and signalling state; see the module docstring."""

    def __init__(self, card: BaseCard, number: int, kind: PortKind, settings: PortSettings) -> None:
        if not isinstance(kind, PortKind):
            raise ValueError(f"kind must be a PortKind, got {kind!r}")
        if not isinstance(settings, PortSettings):
            raise ValueError(f"settings must be a PortSettings, got {settings!r}")
        self._card = card
        self.number = number                    # 1-based, within the card
        self._id = f"{card.name}/{number}"
        self._kind = kind
        self._settings = settings
        self._reset()

    def _reset(self) -> None:
        """Idle: on-hook, not ringing, no message waiting (a card that comes back starts so)."""
        self._off_hook = False                  # FXO: the box holds the line
        self._ring_voltage = False              # FXO: ringing seen; FXS: ringing sent
        self._polarity = 1                      # FXO
        self._battery = True                    # FXO: the exchange feeds the loop
        self._drop_at = 0.0                     # FXO: when the loop current dropped
        self._ringer: RingSequencer | None = None   # FXS
        self._on_hook_audio: deque[np.ndarray] = deque()    # FXS: frames to play to the on-hook phone
        self._message_waiting = False           # FXS
        self._classifier = HookClassifier(self._id, self._settings.flash)

    # ---------------------------------------------------------------- what the Port protocol reads
    @property
    def id(self) -> str:
        return self._id

    @property
    def kind(self) -> PortKind:
        return self._kind

    @property
    def card(self) -> str:
        return self._card.name

    @property
    def in_service(self) -> bool:
        return self._card.present

    @property
    def is_off_hook(self) -> bool:
        return self._off_hook if self._kind is PortKind.FXO else self._classifier.off_hook

    @property
    def is_ringing(self) -> bool:
        return self._ring_voltage if self._kind is PortKind.FXO else self._ringer is not None

    @property
    def message_waiting(self) -> bool:
        return self._message_waiting

    @property
    def settings(self) -> PortSettings:
        return self._settings

    def configure(self, settings: PortSettings) -> None:
        if not isinstance(settings, PortSettings):
            raise ValueError(f"settings must be a PortSettings, got {settings!r}")
        self._settings = settings
        self._classifier.flash = settings.flash

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._id} {self._kind.value}>"

    # ---------------------------------------------------------------- controls
    def _usable(self, kind: PortKind, control: str) -> bool:
        if self._kind is not kind:
            raise WrongPortKind(f"{control} is a control of {kind.value} ports; "
                                f"{self._id} is {self._kind.value}")
        return self.in_service

    def off_hook(self) -> None:
        if self._usable(PortKind.FXO, "off_hook") and not self._off_hook:
            self._off_hook = True
            self._battery = True
            self._signal_hook(True)

    def on_hook(self) -> None:
        if self._usable(PortKind.FXO, "on_hook") and self._off_hook:
            self._off_hook = False
            self._signal_hook(False)

    def flash(self) -> None:
        if self._usable(PortKind.FXO, "flash"):
            if not self._off_hook:
                raise ValueError(f"{self._id} is on-hook: only a held line can flash")
            self._signal_flash(self._settings.flash.send_ms)

    def pulse_dial(self, digits: str) -> None:
        check_pulse_digits(digits)
        if self._usable(PortKind.FXO, "pulse_dial"):
            if not self._off_hook:
                raise ValueError(f"{self._id} is on-hook: go off-hook before dialling")
            self._signal_pulses(digits)

    def ring(self, cadence_ms: Sequence[float] | None = None, caller_id: np.ndarray | None = None,
             caller_id_timing: CallerIdTiming | None = None) -> None:
        if not self._usable(PortKind.FXS, "ring"):
            return
        if self._classifier.off_hook:
            raise ValueError(f"the phone on {self._id} is off-hook: it cannot be rung")
        cadence = self._settings.ring_cadence_ms if cadence_ms is None else tuple(cadence_ms)
        self._ringer = RingSequencer(cadence, caller_id, caller_id_timing or self._settings.caller_id_timing)

    def stop_ring(self) -> None:
        if self._usable(PortKind.FXS, "stop_ring"):
            self._ringer = None

    def send_caller_id(self, audio: np.ndarray) -> None:
        check_samples(audio, "audio")
        if self._usable(PortKind.FXS, "send_caller_id"):
            padded = np.zeros(-(-audio.size // FRAME_SAMPLES) * FRAME_SAMPLES, np.int16)
            padded[:audio.size] = audio
            self._on_hook_audio.extend(padded.reshape(-1, FRAME_SAMPLES))

    def set_message_waiting(self, on: bool) -> None:
        if self._usable(PortKind.FXS, "set_message_waiting") and bool(on) != self._message_waiting:
            self._message_waiting = bool(on)
            self._signal_message_waiting(self._message_waiting)

    # ---------------------------------------------------------------- how controls reach the hardware
    def _signal_hook(self, off_hook: bool) -> None:
        """FXO: close (``off_hook``) or open the loop now."""
        raise NotImplementedError

    def _signal_flash(self, break_ms: float) -> None:
        raise NotImplementedError

    def _signal_pulses(self, digits: str) -> None:
        raise NotImplementedError

    def _signal_ring(self, on: bool) -> None:
        """FXS: ringing voltage on or off (called on each edge of the cadence)."""

    def _signal_message_waiting(self, on: bool) -> None:
        """FXS: the message-waiting indication on or off."""

    # ---------------------------------------------------------------- what the hardware reports
    def _fxs_frame(self, to_line: np.ndarray) -> np.ndarray:
        """FXS, once per tick: step the ringing; the frame to play to the phone."""
        caller_id = None
        if self._ringer is not None:
            ring_on, caller_id = self._ringer.step()
        else:
            ring_on = False
        if ring_on != self._ring_voltage:
            self._ring_voltage = ring_on
            self._signal_ring(ring_on)
        if caller_id is not None:
            return caller_id
        if self._on_hook_audio and not self._classifier.off_hook:
            return self._on_hook_audio.popleft()
        return to_line

    def _fxs_hook(self, off_hook: bool, at_ms: float) -> list[LineEvent]:
        """FXS: the phone's loop closed or opened at ``at_ms``. Going off-hook trips the ringing."""
        events = self._classifier.hook(off_hook, at_ms)
        if any(isinstance(e, OffHook) for e in events):
            self._ringer = None
            self._on_hook_audio.clear()
            if self._ring_voltage:
                self._ring_voltage = False
                self._signal_ring(False)
        return events

    def _fxs_advance(self, now_ms: float) -> list[LineEvent]:
        return self._classifier.advance(now_ms)

    def _line_ring(self, on: bool) -> list[LineEvent]:
        if on == self._ring_voltage:
            return []
        self._ring_voltage = on
        return [RingOn(self._id) if on else RingOff(self._id)]

    def _line_polarity(self, polarity: int) -> list[LineEvent]:
        if polarity == self._polarity:
            return []
        self._polarity = polarity
        return [PolarityReversal(self._id, polarity)]

    def _line_battery(self, on: bool, at_ms: float) -> list[LineEvent]:
        """FXO: whether the exchange feeds the loop. Only a change while the box holds the line counts."""
        if on == self._battery:
            return []
        self._battery = on
        if not self._off_hook:
            return []
        if not on:
            self._drop_at = at_ms
            return [LoopCurrentDrop(self._id)]
        return [LoopCurrentRestore(self._id, at_ms - self._drop_at)]


class BaseCard:
    """Ports, presence, and the frame bookkeeping of ``tick``; a driver supplies ``_tick_present``."""

    port_class: type[BasePort] = BasePort

    def __init__(self, name: str, kinds: Sequence[PortKind], settings: PortSettings | None = None) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"a card name is non-empty text without '/', got {name!r}")
        if not kinds:
            raise ValueError("a card has at least one port")
        self._name = name
        self._present = True
        self._pending: list[LineEvent] = []
        self.frames = 0                                     # ticks since the card was made
        settings = PortSettings() if settings is None else settings
        self._ports = tuple(self._make_port(number, kind, settings) for number, kind in enumerate(kinds, 1))
        self._by_id = {port.id: port for port in self._ports}

    def _make_port(self, number: int, kind: PortKind, settings: PortSettings) -> BasePort:
        return self.port_class(self, number, kind, settings)

    @property
    def name(self) -> str:
        return self._name

    @property
    def ports(self) -> tuple[BasePort, ...]:
        return self._ports

    @property
    def present(self) -> bool:
        return self._present

    @property
    def now_ms(self) -> float:
        """Start of the next tick, in ms of this card's frames."""
        return self.frames * FRAME_MS

    def port(self, port_id: str) -> BasePort:
        try:
            return self._by_id[port_id]
        except KeyError:
            raise KeyError(f"card {self._name} has no port {port_id!r}; "
                           f"it has {', '.join(self._by_id)}") from None

    def tick(self, to_line: Mapping[str, np.ndarray]) -> CardFrame:
        if not isinstance(to_line, Mapping):
            raise TypeError(f"to_line must map port ids to frames, got {type(to_line).__name__}")
        unknown = set(to_line) - set(self._by_id)
        if unknown:
            raise ValueError(f"card {self._name} has no port {sorted(map(str, unknown))}")
        frames = {port_id: check_frame(frame, f"frame for {port_id}") for port_id, frame in to_line.items()}
        outgoing = [frames.get(port.id) for port in self._ports]
        outgoing = [_silence() if frame is None else frame for frame in outgoing]
        if self._present:
            audio, events = self._tick_present(outgoing)
        else:
            self._tick_absent()
            audio, events = {port.id: _silence() for port in self._ports}, []
        self.frames += 1
        events, self._pending = self._pending + events, []
        return CardFrame(audio, tuple(events))

    def _tick_present(self, outgoing: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[LineEvent]]:
        """One frame with the hardware: ``outgoing[i]`` to port i; its frames and events back."""
        raise NotImplementedError

    def _tick_absent(self) -> None:
        """One frame while the card is away (a simulation lets its world go on)."""

    def detach(self) -> None:
        if not self._present:
            return
        self._present = False
        self._release()
        for port in self._ports:
            port._reset()
            self._pending.append(CardRemoved(port.id, self._name))

    def attach(self) -> None:
        if self._present:
            return
        self._acquire()
        self._present = True
        self._pending += [CardRestored(port.id, self._name) for port in self._ports]

    def close(self) -> None:
        if self._present:
            self._present = False
            self._release()

    def _release(self) -> None:
        """Let go of the hardware (the card went away or is closed)."""

    def _acquire(self) -> None:
        """Take the hardware again (the card came back)."""
