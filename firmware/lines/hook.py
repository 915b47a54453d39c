"""Hook signalling in time: reading a loop's makes and breaks as off-hook, flash, dial pulses, hang-up,
and writing flashes and dial pulses as timed breaks.

``HookClassifier`` is what a line's far side does with the loop it feeds: an FXS port reads its
phone with it, and the virtual exchange reads the box's FXO port with it. It is sans-IO: transitions
come in with their times (ms, any origin), ``advance(now)`` lets timeouts fire, and both return
events. A break is classified when it ends, by its length:

    shorter than PULSE_BREAK_MS[0]          contact bounce: ignored
    within PULSE_BREAK_MS                   one dial pulse; a make of PULSE_DIGIT_END_MS ends the digit
    within the flash window                 Flash
    longer than the flash window            OnHook, as soon as it is (the timeout fires in advance())
    anywhere else (between the windows)     ignored

``pulse_train`` and ``flash_break`` give the transitions of the box's own flash and pulse dialling.
"""
from __future__ import annotations

from .card import Flash, LineEvent, OffHook, OnHook, PulseDigit
from .settings import (
    PULSE_BREAK_MS,
    PULSE_BREAK_SEND_MS,
    PULSE_DIGIT_END_MS,
    PULSE_MAKE_SEND_MS,
    PULSE_PAUSE_SEND_MS,
    FlashTiming,
)

PULSE_DIGITS = "1234567890"         # digit k is k pulses; "0" is ten


class HookClassifier:
    """Makes and breaks of one loop in, hook events out."""

    def __init__(self, port: str, flash: FlashTiming) -> None:
        self.port = port
        self.flash = flash
        self.off_hook = False               # logical state (a break in progress still counts as off-hook)
        self._break_at: float | None = None # when the current break began, if the loop is open
        self._make_at = 0.0                 # when the loop last closed
        self._pulses = 0                    # pulses of the digit being dialled
        self._now = float("-inf")

    def hook(self, off_hook: bool, at_ms: float) -> list[LineEvent]:
        """The loop closed (``off_hook``) or opened at ``at_ms``; times must not go backwards."""
        events = self.advance(at_ms)
        if off_hook:
            if self._break_at is None:
                if not self.off_hook:
                    self.off_hook, self._make_at = True, at_ms
                    events.append(OffHook(self.port))
                return events
            duration, self._break_at = at_ms - self._break_at, None
            events += self._classify_break(duration, at_ms)
        elif self.off_hook and self._break_at is None:
            self._break_at = at_ms
        return events

    def advance(self, now_ms: float) -> list[LineEvent]:
        """Fire the timeouts due by ``now_ms``: a digit's end, a hang-up."""
        if now_ms < self._now:
            raise ValueError(f"time went backwards: {now_ms} ms after {self._now} ms")
        self._now = now_ms
        events: list[LineEvent] = []
        if self._break_at is not None and now_ms - self._break_at > self.flash.max_ms:
            self._break_at, self.off_hook, self._pulses = None, False, 0
            events.append(OnHook(self.port))
        elif self._break_at is None and self._pulses and now_ms - self._make_at >= PULSE_DIGIT_END_MS:
            events += self._end_digit()
        return events

    def _classify_break(self, duration: float, at_ms: float) -> list[LineEvent]:
        if duration < PULSE_BREAK_MS[0]:
            return []
        if duration <= PULSE_BREAK_MS[1]:
            self._pulses += 1
            self._make_at = at_ms
            return []
        self._make_at = at_ms
        events = self._end_digit() if self._pulses else []
        if self.flash.min_ms <= duration <= self.flash.max_ms:
            events.append(Flash(self.port))
        return events

    def _end_digit(self) -> list[LineEvent]:
        pulses, self._pulses = self._pulses, 0
        if pulses > len(PULSE_DIGITS):
            return []                       # not a digit: too many pulses
        return [PulseDigit(self.port, PULSE_DIGITS[pulses - 1])]


def check_pulse_digits(digits: str) -> str:
    if not isinstance(digits, str) or not digits or not all(d in PULSE_DIGITS for d in digits):
        raise ValueError(f"pulse dialling sends digits 0-9 only, got {digits!r}")
    return digits


def pulse_train(digits: str, start_ms: float, break_ms: float = PULSE_BREAK_SEND_MS,
                make_ms: float = PULSE_MAKE_SEND_MS, pause_ms: float = PULSE_PAUSE_SEND_MS,
                ) -> tuple[list[tuple[float, bool]], float]:
    """The (time, off_hook) transitions that dial ``digits`` from ``start_ms`` (loop closed), and the
    time the train ends: after the last digit's pause, so that a following action waits for it."""
    transitions: list[tuple[float, bool]] = []
    at = start_ms
    for digit in check_pulse_digits(digits):
        for _ in range(PULSE_DIGITS.index(digit) + 1):
            transitions += [(at, False), (at + break_ms, True)]
            at += break_ms + make_ms
        at += pause_ms - make_ms
    return transitions, at


def flash_break(start_ms: float, break_ms: float) -> tuple[list[tuple[float, bool]], float]:
    """The transitions of one flash from ``start_ms``, and the time it ends."""
    return [(start_ms, False), (start_ms + break_ms, True)], start_ms + break_ms


class HookSchedule:
    """Hook transitions planned ahead (a flash, a pulse train), handed out as their time comes."""

    def __init__(self) -> None:
        self._planned: list[tuple[float, bool]] = []
        self.busy_until = float("-inf")      # the end of the last planned action

    def plan(self, transitions: list[tuple[float, bool]], ends_ms: float) -> None:
        self._planned = sorted(self._planned + transitions, key=lambda t: t[0])
        self.busy_until = max(self.busy_until, ends_ms)

    def due(self, before_ms: float) -> list[tuple[float, bool]]:
        """The planned transitions earlier than ``before_ms``, in order; they are handed out once."""
        count = 0
        while count < len(self._planned) and self._planned[count][0] < before_ms:
            count += 1
        due, self._planned = self._planned[:count], self._planned[count:]
        return due

    def clear(self) -> None:
        self._planned.clear()
        self.busy_until = float("-inf")
