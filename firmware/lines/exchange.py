"""The virtual exchange: the far side of the simulated card's FXO ports, one ``ExchangeLine`` per port.

Each line is a small central office and the party behind it. It rings the box (the country's
cadence, with caller ID before the ring or in the first silence), gives dial tone when the box
seizes the line, records the digits the box dials (DTMF heard with a digit receiver, pulses read
from the loop's breaks), plays ringback and answers (after ``answer_after_ms``, or when told), and
when its party hangs up it signals that the country's way: busy tone, a polarity reversal, or a
loop-current break. On every frame it returns the box's own audio as echo through a hybrid model
(``hybrid.py``) and adds line noise.

``VirtualExchange`` is the control API, keyed by port id and built from plain values so that it
can be exposed over HTTP/JSON for hil-tests as it is: ``call_in``, ``answer``, ``hang_up``, ``say``,
``received_audio``, ``dialled``, ``state``, ``configure``, ``status``. Controls take effect on the
next frame. A line changes state only in its ``tick``/control methods (the table of
``ExchangeLineState`` below is the whole state machine).
"""
from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from firmware.dsp import ToneGenerator, dtmf_generate
from firmware.dsp.levels import FRAME_SAMPLES

from .card import Flash as FlashEvent
from .card import LineEvent, OffHook, OnHook, PulseDigit, check_frame, check_samples
from .hook import HookClassifier
from .hybrid import EchoPath, LineNoise, hybrid_impulse_response
from .ringing import RingSequencer
from .settings import LINE_COUNTRIES, CallerIdTiming, CallerIdType, DisconnectMethod

log = logging.getLogger(__name__)

FRAME_MS = 20.0
RECORD_S = 60                       # of each call's audio the far party keeps (the last minute)
RECORD_FRAMES = RECORD_S * 1000 // int(FRAME_MS)


class ExchangeLineState(enum.Enum):
    """IDLE -call_in-> RINGING -box off-hook-> CONNECTED        (RINGING -hang_up-> IDLE)
    IDLE -box off-hook-> DIAL_TONE -digit-> DIALLING -dial timeout-> RINGBACK -answer-> CONNECTED
    DIAL_TONE, DIALLING, RINGBACK, CONNECTED -hang_up-> FAR_END_GONE (busy, reversal or loop break)
    any state -box on-hook-> IDLE"""

    IDLE = "idle"
    RINGING = "ringing"
    DIAL_TONE = "dial_tone"
    DIALLING = "dialling"
    RINGBACK = "ringback"
    CONNECTED = "connected"
    FAR_END_GONE = "far_end_gone"


# ------------------------------------------------------------------ caller ID waveforms
class CallerIdSignal(Protocol):
    """Turns a caller's number (and name) into the waveform the line sends, and says when it is sent."""

    timing: CallerIdTiming

    def __call__(self, number: str | None, name: str | None) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class DtmfCallerId:
    """DTMF caller ID before the first ring: "A", the number, "C" (the usual framing; see callerid.py)."""

    level_dbm0: float = -10.0
    on_ms: float = 70.0             # common value; national specifications ask 50-80 ms
    off_ms: float = 70.0
    timing: CallerIdTiming = CallerIdTiming.BEFORE_RING

    def __call__(self, number: str | None, name: str | None) -> np.ndarray:
        if not number or not number.isascii() or not number.isdigit():
            raise ValueError(f"DTMF caller ID sends a number of digits 0-9, got {number!r}")
        return dtmf_generate(f"A{number}C", self.on_ms, self.off_ms, self.level_dbm0)


@dataclass(frozen=True, slots=True)
class FskCallerId:
    """FSK caller ID (an MDMF message: number, name) by the DSP core's modulator."""

    standard: str = "bell202"       # "bell202" (US, China) or "v23" (ETSI, UK)
    timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING
    call_time: tuple[int, int, int, int] | None = None     # (month, day, hour, minute) to send

    def __call__(self, number: str | None, name: str | None) -> np.ndarray:
        from firmware.dsp import callerid  # the DSP core's caller ID layer (loaded on first call)

        when = None if self.call_time is None else callerid.CallTime(*self.call_time)
        absent = None if number else callerid.Absence.UNAVAILABLE
        message = callerid.encode_mdmf(callerid.CallerId(number=number or None, name=name, date_time=when,
                                                         number_absence=absent))
        return callerid.fsk_modulate(message, self.standard)


def caller_id_signal(kind: CallerIdType, timing: CallerIdTiming) -> CallerIdSignal | None:
    """The waveform maker for a caller ID type of the settings (None for NONE)."""
    if kind is CallerIdType.NONE:
        return None
    if kind is CallerIdType.DTMF:
        return DtmfCallerId(timing=timing)
    return FskCallerId(kind.value, timing)


# ------------------------------------------------------------------ digits the box dials
class DigitReceiver(Protocol):
    def process(self, frame: np.ndarray) -> str:
        """The DTMF digits completed in ``frame`` (int16)."""


class _DspDigits:
    """``firmware.dsp.DtmfDetector`` (events) seen as a DigitReceiver (digits)."""

    def __init__(self, detector) -> None:
        self._detector = detector

    def process(self, frame: np.ndarray) -> str:
        return "".join(event.digit for event in self._detector.process(frame))


def dsp_digit_receiver() -> DigitReceiver:
    from firmware.dsp import DtmfDetector

    return _DspDigits(DtmfDetector())


def _default_digit_receiver() -> Callable[[], DigitReceiver] | None:
    try:
        dsp_digit_receiver()
    except ImportError:
        log.warning("firmware.dsp.DtmfDetector is not built: the virtual exchange reads pulse dialling only")
        return None
    return dsp_digit_receiver


# ------------------------------------------------------------------ one line
@dataclass(frozen=True, slots=True)
class LineProfile:
    """How one exchange line behaves. ``caller_id`` None takes the country's default."""

    country: str = "US"
    caller_id: CallerIdSignal | None = None
    disconnect: DisconnectMethod = DisconnectMethod.BUSY_TONE
    erl_db: float = 12.0            # hybrid echo return loss (flat-spectrum signal)
    bulk_delay_ms: float = 8.0      # before the hybrid's response
    dispersion_ms: float = 8.0      # length of the hybrid's response
    noise_dbm0: float | None = -65.0
    answer_after_ms: float | None = 3000.0   # of ringback, for the box's calls; None: wait for answer()
    dial_timeout_ms: float = 3000.0 # no digit for this long ends the number
    reverse_on_answer: bool = False # answer supervision by polarity reversal
    loop_break_ms: float = 600.0    # loop-current break when the far end hangs up (LOOP_CURRENT)
    seed: int = 0                   # of the hybrid model and the noise

    def __post_init__(self) -> None:
        if self.country not in LINE_COUNTRIES:
            raise ValueError(f"country must be one of {', '.join(LINE_COUNTRIES)}, got {self.country!r}")
        if not isinstance(self.disconnect, DisconnectMethod):
            raise ValueError(f"disconnect must be a DisconnectMethod, got {self.disconnect!r}")
        for name in ("dial_timeout_ms", "loop_break_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.answer_after_ms is not None and not self.answer_after_ms >= 0:
            raise ValueError(f"answer_after_ms must be >= 0 or None, got {self.answer_after_ms!r}")
        if self.caller_id is None:
            country = LINE_COUNTRIES[self.country]
            signal = caller_id_signal(country.caller_id, country.caller_id_timing)
            object.__setattr__(self, "caller_id", signal)


@dataclass(slots=True)
class ExchangeCall:
    """One call on a line, as the exchange saw it (updated while the call lasts)."""

    direction: str                  # "in": the exchange called the box; "out": the box called out
    number: str                     # the caller's number (in) or the digits the box dialled (out)
    answered: bool = False
    ended_by: str | None = None     # "box" or "exchange"; None while the call lasts
    flashes: int = 0                # hook flashes the box sent during the call
    heard: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=RECORD_FRAMES), repr=False)
    # ^ the last RECORD_S of frames from the box while connected

    def to_dict(self) -> dict:
        return {"direction": self.direction, "number": self.number, "answered": self.answered,
                "ended_by": self.ended_by, "flashes": self.flashes}


class ExchangeLine:
    """One exchange line; the simulated card calls ``tick`` once per frame."""

    def __init__(self, port: str, profile: LineProfile,
                 digit_receiver: Callable[[], DigitReceiver] | None) -> None:
        self.port = port
        self._digit_receiver_factory = digit_receiver
        self.calls: list[ExchangeCall] = []
        self._apply(profile)
        self.state = ExchangeLineState.IDLE
        self.ringing = False            # ringing voltage on during the last frame
        self.polarity = 1
        self.battery = True             # the exchange feeds the loop
        self._box_loop_closed = False   # the box's loop, as it is this instant
        self._now = 0.0                 # start of the frame being made, or of the next one between frames
        self._deadline: float | None = None
        self._tone: ToneGenerator | None = None
        self._ringer: RingSequencer | None = None
        self._digits: DigitReceiver | None = None
        self._far_audio = np.zeros(0, np.int16)

    def _apply(self, profile: LineProfile) -> None:
        self.profile = profile
        self._hook = HookClassifier(self.port, LINE_COUNTRIES[profile.country].flash)
        self._echo = EchoPath(hybrid_impulse_response(profile.erl_db, profile.bulk_delay_ms,
                                                      profile.dispersion_ms, profile.seed))
        self._noise = LineNoise(profile.noise_dbm0, profile.seed)

    def configure(self, profile: LineProfile) -> None:
        if self.state is not ExchangeLineState.IDLE:
            raise ValueError(f"line {self.port} is in a call ({self.state.value}): configure it when idle")
        self._apply(profile)

    @property
    def call(self) -> ExchangeCall | None:
        """The call in progress, or the last one."""
        return self.calls[-1] if self.calls else None

    # ---------------------------------------------------------------- controls
    def call_in(self, number: str | None = None, name: str | None = None) -> None:
        if self.state is not ExchangeLineState.IDLE:
            raise ValueError(f"line {self.port} is not idle ({self.state.value})")
        signal = self.profile.caller_id
        waveform = signal(number, name) if signal is not None and (number or name) else None
        timing = signal.timing if signal is not None else CallerIdTiming.AFTER_FIRST_RING
        self._ringer = RingSequencer(LINE_COUNTRIES[self.profile.country].ring_cadence_ms, waveform, timing)
        self.calls.append(ExchangeCall("in", number or ""))
        self._enter(ExchangeLineState.RINGING)

    def answer(self) -> None:
        if self.state is not ExchangeLineState.RINGBACK:
            raise ValueError(f"line {self.port} has no call to answer ({self.state.value})")
        self._connect()

    def hang_up(self) -> None:
        if self.state is ExchangeLineState.RINGING:
            self.call.ended_by = "exchange"
            self._enter(ExchangeLineState.IDLE)
        elif self.state in (ExchangeLineState.DIAL_TONE, ExchangeLineState.DIALLING,
                            ExchangeLineState.RINGBACK, ExchangeLineState.CONNECTED):
            self.call.ended_by = "exchange"
            self._enter(ExchangeLineState.FAR_END_GONE)
            method = self.profile.disconnect
            if method is DisconnectMethod.BUSY_TONE:
                self._tone = ToneGenerator("busy", self.profile.country)
            elif method is DisconnectMethod.POLARITY:
                self.polarity = -self.polarity
            else:
                self.battery = False
                self._deadline = self._now + self.profile.loop_break_ms
        else:
            raise ValueError(f"line {self.port} has no call to hang up ({self.state.value})")

    def say(self, samples: np.ndarray) -> None:
        """Queue what the far party says; it is played while the call is connected."""
        self._far_audio = np.concatenate([self._far_audio, check_samples(samples, "samples")])

    def received_audio(self) -> np.ndarray:
        """What the far party heard of the current or last call (int16, its last RECORD_S)."""
        call = self.call
        return np.concatenate(call.heard) if call is not None and call.heard else np.zeros(0, np.int16)

    @property
    def dialled(self) -> str:
        """The digits the box dialled for its current or last call."""
        outbound = [c for c in self.calls if c.direction == "out"]
        return outbound[-1].number if outbound else ""

    def status(self) -> dict:
        return {"port": self.port, "state": self.state.value, "ringing": self.ringing,
                "polarity": self.polarity, "loop_current": self.battery and self._box_loop_closed,
                "calls": [c.to_dict() for c in self.calls]}

    # ---------------------------------------------------------------- the card's frame
    def tick(self, now_ms: float, from_box: np.ndarray,
             transitions: Sequence[tuple[float, bool]]) -> np.ndarray:
        """One frame from ``now_ms``: the box's audio and loop transitions (ms, closed) in; audio out."""
        check_frame(from_box, "from_box")
        self._now = now_ms
        if self._deadline is not None and self._deadline <= now_ms:
            self._deadline = None
            self._timeout()
        for at_ms, closed in transitions:
            self._box_loop_closed = closed
            for event in self._hook.hook(closed, at_ms):
                self._on_box(event)
        end = now_ms + FRAME_MS
        for event in self._hook.advance(end):
            self._on_box(event)

        out = self._noise.process(FRAME_SAMPLES)
        self.ringing = False
        if self._ringer is not None:
            self.ringing, caller_id = self._ringer.step()
            if caller_id is not None:
                out += caller_id
        if self._tone is not None:
            out += self._tone.process(FRAME_SAMPLES)
        loop_closed = self._box_loop_closed and self.battery
        heard = from_box if loop_closed else np.zeros(FRAME_SAMPLES, np.int16)
        out += self._echo.process(heard)
        collecting = self.state in (ExchangeLineState.DIAL_TONE, ExchangeLineState.DIALLING)
        if collecting and self._digits is not None:
            for digit in self._digits.process(heard):
                self._digit(digit)
        elif self.state is ExchangeLineState.CONNECTED:
            self.call.heard.append(heard.copy())
            far, self._far_audio = self._far_audio[:FRAME_SAMPLES], self._far_audio[FRAME_SAMPLES:]
            out[:far.size] += far
        self._now = end
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    # ---------------------------------------------------------------- the state machine
    def _enter(self, state: ExchangeLineState) -> None:
        self.state = state
        self._deadline = None
        self._tone = None
        if state is not ExchangeLineState.RINGING:
            self._ringer = None

    def _on_box(self, event: LineEvent) -> None:
        if isinstance(event, OffHook):
            if self.state is ExchangeLineState.RINGING:
                self._connect()
            elif self.state is ExchangeLineState.IDLE:
                self.calls.append(ExchangeCall("out", ""))
                self._digits = self._digit_receiver_factory() if self._digit_receiver_factory else None
                self._enter(ExchangeLineState.DIAL_TONE)
                self._tone = ToneGenerator("dial", self.profile.country)
        elif isinstance(event, OnHook):
            if self.call is not None and self.call.ended_by is None:
                self.call.ended_by = "box"
            self._enter(ExchangeLineState.IDLE)
            self.polarity, self.battery, self._far_audio = 1, True, np.zeros(0, np.int16)
            self._echo.reset()
        elif isinstance(event, PulseDigit):
            if self.state in (ExchangeLineState.DIAL_TONE, ExchangeLineState.DIALLING):
                self._digit(event.digit)
        elif isinstance(event, FlashEvent) and self.call is not None:
            self.call.flashes += 1

    def _digit(self, digit: str) -> None:
        self.call.number += digit
        self._enter(ExchangeLineState.DIALLING)
        self._deadline = self._now + self.profile.dial_timeout_ms

    def _timeout(self) -> None:
        if self.state is ExchangeLineState.DIALLING:
            self._enter(ExchangeLineState.RINGBACK)
            self._tone = ToneGenerator("ringback", self.profile.country)
            if self.profile.answer_after_ms is not None:
                self._deadline = self._now + self.profile.answer_after_ms
        elif self.state is ExchangeLineState.RINGBACK:
            self._connect()
        elif self.state is ExchangeLineState.FAR_END_GONE:
            self.battery = True                  # the loop-current break is over

    def _connect(self) -> None:
        self._enter(ExchangeLineState.CONNECTED)
        self.call.answered = True
        if self.profile.reverse_on_answer:
            self.polarity = -self.polarity


# ------------------------------------------------------------------ the control API
class VirtualExchange:
    """The exchange behind a simulated card's FXO ports; every control names a port id."""

    def __init__(self, ports: Sequence[str], profile: LineProfile | None = None,
                 digit_receiver: Callable[[], DigitReceiver] | None | str = "dsp") -> None:
        """``digit_receiver`` makes one DTMF receiver per call: "dsp" is ``firmware.dsp.DtmfDetector``
        when it is built (else pulse dialling only), None turns DTMF reading off."""
        factory = _default_digit_receiver() if digit_receiver == "dsp" else digit_receiver
        profile = LineProfile() if profile is None else profile
        self.lines = {port: ExchangeLine(port, profile, factory) for port in ports}

    def line(self, port: str) -> ExchangeLine:
        try:
            return self.lines[port]
        except KeyError:
            raise KeyError(f"the exchange has no line on port {port!r}; "
                           f"it has {', '.join(self.lines)}") from None

    def call_in(self, port: str, number: str | None = None, name: str | None = None) -> None:
        """Ring the box on ``port``, with caller ID ``number`` (and ``name``) as the line sends it."""
        self.line(port).call_in(number, name)

    def answer(self, port: str) -> None:
        self.line(port).answer()

    def hang_up(self, port: str) -> None:
        """The far party hangs up (an unanswered incoming call stops ringing)."""
        self.line(port).hang_up()

    def say(self, port: str, samples: np.ndarray) -> None:
        self.line(port).say(samples)

    def received_audio(self, port: str) -> np.ndarray:
        return self.line(port).received_audio()

    def dialled(self, port: str) -> str:
        return self.line(port).dialled

    def state(self, port: str) -> str:
        return self.line(port).state.value

    def configure(self, port: str, **changes) -> None:
        """Change a line's ``LineProfile`` fields (when the line is idle)."""
        line = self.line(port)
        if "country" in changes and "caller_id" not in changes:
            changes["caller_id"] = None                 # the new country's caller ID
        line.configure(replace(line.profile, **changes))

    def status(self) -> list[dict]:
        return [line.status() for line in self.lines.values()]
