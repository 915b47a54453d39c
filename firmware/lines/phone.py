"""A virtual analog phone on a simulated FXS port: a person's hand on the hook and the keypad, and an ear.

Controls are a script on the phone's own timeline: each one starts when the one before it ends,
from the next frame on. ``off_hook(); dial("102"); say(speech); on_hook()`` lifts the handset,
dials, talks and hangs up in that order. ``dial`` sends DTMF (audio) or pulses (loop breaks, 10 pps);
``flash`` is a break of ``flash_ms``. The phone records what it hears while off-hook
(``received_audio``, its last minute) and what reaches it on-hook (``caller_id_audio``: caller ID
and on-hook data, since it last hung up), counts rings, and shows the message-waiting lamp.
``caller_id()`` reads the on-hook audio with the DSP core's caller ID receivers, as a display would.

All values are plain (strings, numbers, int16 arrays), so the same methods can be served over
HTTP/JSON to hil-tests.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from firmware.dsp import dtmf_generate
from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ

from .card import check_frame, check_samples
from .hook import HookSchedule, check_pulse_digits, flash_break, pulse_train

FRAME_MS = 1000.0 * FRAME_SAMPLES / SAMPLE_RATE_HZ
DTMF_LEVEL_DBM0 = -8.0              # per tone; a phone's usual send level
DTMF_ON_MS = 80.0                   # a person's key press is longer than the 40 ms minimum
DTMF_OFF_MS = 80.0
DIAL_METHODS = ("dtmf", "pulse")
ON_HOOK_MEMORY_S = 30               # on-hook audio kept (a caller ID is read within a ring or two)
RECORD_S = 60                       # off-hook audio kept


def _samples(ms: float) -> int:
    return int(round(ms * SAMPLE_RATE_HZ / 1000.0))


class VirtualPhone:
    """One analog phone; the simulated card calls ``tick`` once per frame."""

    def __init__(self, port: str, flash_ms: float = 100.0) -> None:
        self.port = port
        self.flash_ms = flash_ms
        self.rings = 0                      # ring bursts seen
        self.is_ringing = False
        self.message_waiting = False
        self.is_off_hook = False            # the hook switch, this instant
        self._hook = HookSchedule()
        self._planned_off_hook = False      # the hook as the script will have left it
        self._cursor_ms = 0.0               # where the script's next action starts
        self._now_ms = 0.0                  # start of the next frame
        self._hang_ups: list[float] = []    # when the script hangs up (on-hook audio is then forgotten)
        self._talk: list[tuple[int, np.ndarray]] = []   # (start sample, samples) to send
        self._heard: deque[np.ndarray] = deque(maxlen=RECORD_S * SAMPLE_RATE_HZ // FRAME_SAMPLES)
        self._on_hook_heard: deque[np.ndarray] = deque(
            maxlen=ON_HOOK_MEMORY_S * SAMPLE_RATE_HZ // FRAME_SAMPLES)

    # ---------------------------------------------------------------- controls
    def _start(self) -> float:
        return max(self._cursor_ms, self._now_ms, self._hook.busy_until)

    def off_hook(self) -> None:
        if self._planned_off_hook:
            raise ValueError(f"the phone on {self.port} is already off-hook")
        at = self._start()
        self._hook.plan([(at, True)], at)
        self._planned_off_hook, self._cursor_ms = True, at

    def on_hook(self) -> None:
        if not self._planned_off_hook:
            raise ValueError(f"the phone on {self.port} is already on-hook")
        at = self._start()
        self._hook.plan([(at, False)], at)
        self._hang_ups.append(at)
        self._planned_off_hook, self._cursor_ms = False, at

    def flash(self) -> None:
        self._need_off_hook("flash")
        transitions, end = flash_break(self._start(), self.flash_ms)
        self._hook.plan(transitions, end)
        self._cursor_ms = end

    def dial(self, digits: str, method: str = "dtmf") -> None:
        """Dial ``digits``: "dtmf" (0-9, *, #, A-D) or "pulse" (0-9)."""
        self._need_off_hook("dial")
        if method == "pulse":
            transitions, end = pulse_train(check_pulse_digits(digits), self._start())
            self._hook.plan(transitions, end)
            self._cursor_ms = end
        elif method == "dtmf":
            self.say(dtmf_generate(digits, DTMF_ON_MS, DTMF_OFF_MS, DTMF_LEVEL_DBM0))
        else:
            raise ValueError(f"method must be one of {DIAL_METHODS}, got {method!r}")

    def say(self, samples: np.ndarray) -> None:
        """Send ``samples`` (int16) into the line, after the actions before it."""
        self._need_off_hook("say")
        samples = check_samples(samples, "samples")
        at = self._start()
        self._talk.append((_samples(at), samples.copy()))
        self._cursor_ms = at + 1000.0 * samples.size / SAMPLE_RATE_HZ

    def _need_off_hook(self, action: str) -> None:
        if not self._planned_off_hook:
            raise ValueError(f"the phone on {self.port} is on-hook: lift it before you {action}")

    # ---------------------------------------------------------------- observations
    def received_audio(self) -> np.ndarray:
        """What the earpiece played while off-hook: the last RECORD_S of it (int16)."""
        return np.concatenate(self._heard) if self._heard else np.zeros(0, np.int16)

    def caller_id_audio(self) -> np.ndarray:
        """What reached the phone on-hook since it last hung up, at most the last ON_HOOK_MEMORY_S
        (caller ID, on-hook data)."""
        return np.concatenate(self._on_hook_heard) if self._on_hook_heard else np.zeros(0, np.int16)

    def caller_id(self):
        """The last caller ID the on-hook audio carries (a ``firmware.dsp.callerid.CallerId``), or None.

        FSK (Bell 202 or V.23) first, then DTMF caller ID. Needs the DSP core's caller ID receivers.
        """
        from firmware.dsp import DtmfDetector, callerid

        audio = self.caller_id_audio()
        found = callerid.CallerIdReceiver().process(audio)
        if not found:
            digits = "".join(event.digit for event in DtmfDetector().process(audio))
            found = callerid.DtmfCallerIdReceiver().process(digits)
        return found[-1] if found else None

    @property
    def busy(self) -> bool:
        """Whether scripted actions are still to come."""
        return self._start() > self._now_ms

    def status(self) -> dict:
        return {"port": self.port, "off_hook": self.is_off_hook, "ringing": self.is_ringing,
                "rings": self.rings, "message_waiting": self.message_waiting, "busy": self.busy}

    # ---------------------------------------------------------------- the card's frame
    def tick(self, now_ms: float, ringing: bool, from_line: np.ndarray, message_waiting: bool,
             ) -> tuple[np.ndarray, list[tuple[float, bool]]]:
        """One frame from ``now_ms``: the port's ringing, audio and lamp in; the phone's audio and hook
        transitions (ms, off_hook) out."""
        check_frame(from_line, "from_line")
        end = now_ms + FRAME_MS
        self._now_ms = end
        if ringing and not self.is_ringing:
            self.rings += 1
        self.is_ringing = ringing
        self.message_waiting = message_waiting
        if self.is_off_hook:
            self._heard.append(from_line.copy())
        else:
            self._on_hook_heard.append(from_line.copy())
        transitions = self._hook.due(end)
        if transitions:
            self.is_off_hook = transitions[-1][1]
        if self._hang_ups and self._hang_ups[0] < end:
            self._hang_ups.pop(0)
            self._on_hook_heard.clear()
        return self._speak(_samples(now_ms)), transitions

    def _speak(self, start: int) -> np.ndarray:
        frame = np.zeros(FRAME_SAMPLES, np.int16)
        if not self.is_off_hook:
            return frame
        stop = start + FRAME_SAMPLES
        remaining = []
        for at, samples in self._talk:
            lo, hi = max(at, start), min(at + samples.size, stop)
            if lo < hi:
                frame[lo - start:hi - start] = samples[lo - at:hi - at]
            if at + samples.size > stop:
                remaining.append((at, samples))
        self._talk = remaining
        return frame
