"""Ringing a line with a cadence, and placing a caller ID waveform before it or in its first silence.

Both sides of the simulation ring someone: an FXS port rings its phone, the virtual exchange rings
the box's FXO port. ``RingSequencer`` is that schedule, stepped one frame at a time: whether the
ringing voltage is on during the frame, and which samples of the caller ID waveform to play in it.

Caller ID placement (the ``CallerIdTiming``):
  AFTER_FIRST_RING  in the long silence that ends the cadence's first cycle (the first silence of a
                    plain on/off cadence): ``CALLER_ID_AFTER_RING_MS`` after the ring stops ([GR30]:
                    at least 0.5 s; EN 300 659-1 and YDN 069 likewise). If the waveform and the
                    ``CALLER_ID_GUARD_MS`` after it do not fit, that silence is lengthened.
  BEFORE_RING       the waveform first, then ``CALLER_ID_BEFORE_RING_GAP_MS`` of silence, then the
                    cadence (DTMF caller ID, and BT's SIN 227 which sends V.23 before ringing).
Ring state is decided per frame (20 ms), which is finer than any ring detector reads it.
"""
from __future__ import annotations

import numpy as np

from firmware.dsp.levels import FRAME_SAMPLES, ms_to_samples

from .card import check_samples
from .settings import CallerIdTiming, check_cadence

CALLER_ID_AFTER_RING_MS = 500       # [GR30] first ring end -> caller ID start, at least
CALLER_ID_GUARD_MS = 200            # [GR30] caller ID end -> second ring start, at least
CALLER_ID_BEFORE_RING_GAP_MS = 300  # caller ID end -> first ring (common value; SIN 227 asks >= 250)


class RingSequencer:
    """One ringing: ``step()`` once per frame gives (ring voltage on, caller ID samples or None)."""

    def __init__(self, cadence_ms: tuple[float, ...] | list[float], caller_id: np.ndarray | None = None,
                 timing: CallerIdTiming = CallerIdTiming.AFTER_FIRST_RING) -> None:
        cadence = [ms_to_samples(ms) for ms in check_cadence(cadence_ms)]
        if not isinstance(timing, CallerIdTiming):
            raise ValueError(f"timing must be a CallerIdTiming, got {timing!r}")
        self._audio = np.zeros(0, np.int16) if caller_id is None else check_samples(caller_id, "caller_id")
        self._edges = np.cumsum(cadence)        # end of each cadence segment within one cycle
        self._period = int(self._edges[-1])
        if timing is CallerIdTiming.BEFORE_RING and self._audio.size:
            self._audio_at = 0
            self._lead_in = self._audio.size + ms_to_samples(CALLER_ID_BEFORE_RING_GAP_MS)
            self._first_cycle = self._period
        else:
            self._lead_in = 0
            last_ring_end = int(self._edges[-2])
            self._audio_at = last_ring_end + ms_to_samples(CALLER_ID_AFTER_RING_MS)
            needed = self._audio_at + self._audio.size + ms_to_samples(CALLER_ID_GUARD_MS)
            self._first_cycle = max(self._period, needed) if self._audio.size else self._period
        self._now = 0                            # samples since the sequence began

    @property
    def elapsed_samples(self) -> int:
        return self._now

    def ring_on_at(self, t: int) -> bool:
        """Whether the ringing voltage is on ``t`` samples after the sequence began."""
        t -= self._lead_in
        if t < 0:
            return False
        if t >= self._first_cycle:
            t = (t - self._first_cycle) % self._period
        elif t >= self._period:
            return False                         # the first cycle's silence, lengthened
        segment = int(np.searchsorted(self._edges, t, side="right"))
        return segment % 2 == 0

    def step(self) -> tuple[bool, np.ndarray | None]:
        start = self._now
        self._now += FRAME_SAMPLES
        ring_on = self.ring_on_at(start)
        lo, hi = start - self._audio_at, self._now - self._audio_at
        if hi <= 0 or lo >= self._audio.size:
            return ring_on, None
        frame = np.zeros(FRAME_SAMPLES, np.int16)
        part = self._audio[max(lo, 0):hi]
        offset = max(-lo, 0)
        frame[offset:offset + part.size] = part
        return ring_on, frame
