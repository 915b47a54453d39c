"""The simulated line card: the default when no hardware is found, so the box runs anywhere.

``SimulatedCard(fxo=N, fxs=M)`` has N FXO ports wired to a ``VirtualExchange`` (``card.exchange``)
and M FXS ports wired to ``VirtualPhone``s (``card.phone(port_id)``). Ports are numbered FXO first:
"sim0/1" .. "sim0/N", then the FXS ports. It is sans-IO: nothing happens between ticks, and each
``tick`` moves the whole simulated world on by one 20 ms frame, so a test (or a runtime pacing it
with a timer) decides how fast time runs. Hook transitions are timed to the sample inside a frame,
so pulse dialling and flashes are read from their real durations.

``detach()`` and ``attach()`` pull the card out and plug it back: the ports report ``CardRemoved``
and ``CardRestored``, the exchange sees the box's loops open (its calls end), the phones stop
ringing, and the world keeps running meanwhile.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from firmware.dsp.levels import FRAME_SAMPLES

from .base import FRAME_MS, BaseCard, BasePort
from .card import LineEvent, PortKind
from .exchange import DigitReceiver, LineProfile, VirtualExchange
from .hook import HookSchedule, flash_break, pulse_train
from .phone import VirtualPhone
from .settings import PortSettings


class SimulatedPort(BasePort):
    """A port of the simulated card: FXO controls become timed transitions of the loop to the exchange."""

    def __init__(self, card: SimulatedCard, number: int, kind: PortKind, settings: PortSettings) -> None:
        super().__init__(card, number, kind, settings)
        self.loop = HookSchedule()          # FXO: the box's loop toward the exchange

    def _plan(self, transitions: list[tuple[float, bool]], ends_ms: float) -> None:
        self.loop.plan(transitions, ends_ms)

    def _start(self) -> float:
        return max(self._card.now_ms, self.loop.busy_until)

    def _signal_hook(self, off_hook: bool) -> None:
        at = self._start()
        self._plan([(at, off_hook)], at)

    def _signal_flash(self, break_ms: float) -> None:
        self._plan(*flash_break(self._start(), break_ms))

    def _signal_pulses(self, digits: str) -> None:
        self._plan(*pulse_train(digits, self._start()))


class SimulatedCard(BaseCard):
    port_class = SimulatedPort

    def __init__(self, name: str = "sim0", fxo: int = 2, fxs: int = 2, country: str = "US",
                 profile: LineProfile | None = None,
                 digit_receiver: Callable[[], DigitReceiver] | None | str = "dsp") -> None:
        """``profile`` is the exchange lines' behaviour (default: ``LineProfile(country)``);
        ``digit_receiver`` as for ``VirtualExchange``."""
        if fxo < 0 or fxs < 0:
            raise ValueError(f"port counts must be >= 0, got fxo={fxo}, fxs={fxs}")
        settings = PortSettings(country)
        super().__init__(name, [PortKind.FXO] * fxo + [PortKind.FXS] * fxs, settings)
        self.exchange = VirtualExchange([p.id for p in self._fxo()],
                                        LineProfile(country) if profile is None else profile, digit_receiver)
        self.phones = {p.id: VirtualPhone(p.id, settings.flash.send_ms) for p in self._fxs()}

    def _fxo(self) -> list[SimulatedPort]:
        return [p for p in self.ports if p.kind is PortKind.FXO]

    def _fxs(self) -> list[SimulatedPort]:
        return [p for p in self.ports if p.kind is PortKind.FXS]

    def phone(self, port_id: str) -> VirtualPhone:
        try:
            return self.phones[port_id]
        except KeyError:
            raise KeyError(f"no phone on {port_id!r}; phones are on {', '.join(self.phones)}") from None

    def status(self) -> dict:
        """The simulated world as plain values (for a control API over HTTP/JSON)."""
        return {"card": self.name, "present": self.present, "time_ms": self.now_ms,
                "ports": [{"id": p.id, "kind": p.kind.value, "off_hook": p.is_off_hook,
                           "ringing": p.is_ringing} for p in self.ports],
                "exchange": self.exchange.status(),
                "phones": [phone.status() for phone in self.phones.values()]}

    def _tick_present(self, outgoing: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[LineEvent]]:
        start, end = self.now_ms, self.now_ms + FRAME_MS
        audio: dict[str, np.ndarray] = {}
        events: list[LineEvent] = []
        for port, frame in zip(self.ports, outgoing, strict=True):
            if port.kind is PortKind.FXO:
                line = self.exchange.line(port.id)
                audio[port.id] = line.tick(start, frame, port.loop.due(end))
                events += port._line_ring(line.ringing)
                events += port._line_polarity(line.polarity)
                events += port._line_battery(line.battery, start)
            else:
                to_phone = port._fxs_frame(frame)
                audio[port.id], transitions = self.phones[port.id].tick(
                    start, port._ring_voltage, to_phone, port.message_waiting)
                for at_ms, off_hook in transitions:
                    events += port._fxs_hook(off_hook, at_ms)
                events += port._fxs_advance(end)
        return audio, events

    def _tick_absent(self) -> None:
        start, end = self.now_ms, self.now_ms + FRAME_MS
        silence = np.zeros(FRAME_SAMPLES, np.int16)
        for port in self.ports:
            if port.kind is PortKind.FXO:
                self.exchange.line(port.id).tick(start, silence, port.loop.due(end))
            else:
                self.phones[port.id].tick(start, False, silence, False)

    def _release(self) -> None:
        """The card is out: the box's loops open, whatever was planned on them."""
        for port in self._fxo():
            port.loop.clear()
            port.loop.plan([(self.now_ms, False)], self.now_ms)

    def attach(self) -> None:
        was_present = self.present
        super().attach()
        if not was_present:                 # a phone already off-hook is seen at once
            for port in self._fxs():
                if self.phones[port.id].is_off_hook:
                    self._pending += port._fxs_hook(True, self.now_ms)
