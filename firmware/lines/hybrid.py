"""A small model of what an analog line does to the box's audio: the hybrid's echo, and line noise.

The two-to-four-wire hybrid at the line's end returns part of what the box sends, delayed and
smeared. ``hybrid_impulse_response`` builds such a path the way ITU-T G.168 Annex D's measured
hybrids look: a bulk delay (the line and codec), then a few milliseconds of dispersive response,
a sum of damped resonances in the voice band with its DC removed (the line transformer passes no
DC), scaled to the wanted echo return loss. ERL here is the loss for a signal of flat spectrum:
sum(h^2) = 10^(-ERL/10). The simulation ships this model rather than Annex D's tables, which live
beside the project and are not part of the product; the tests compare the two.
"""
from __future__ import annotations

import numpy as np

from firmware.dsp.levels import SAMPLE_RATE_HZ, dbm0_to_power, ms_to_samples

from .card import check_frame

RESONANCES = 3                      # damped resonances summed into one response
RESONANCE_BAND_HZ = (300, 3000)     # where their frequencies fall
DECAY_MS = (0.4, 2.5)               # their time constants


def hybrid_impulse_response(erl_db: float, bulk_delay_ms: float, dispersion_ms: float = 8.0,
                            seed: int = 0) -> np.ndarray:
    """An echo path: ``bulk_delay_ms`` of zeros, then ``dispersion_ms`` of response; loss ``erl_db``."""
    if not np.isfinite(erl_db) or erl_db < 0:
        raise ValueError(f"erl_db must be finite and >= 0, got {erl_db}")
    if not np.isfinite(bulk_delay_ms) or bulk_delay_ms < 0:
        raise ValueError(f"bulk_delay_ms must be finite and >= 0, got {bulk_delay_ms}")
    taps = ms_to_samples(dispersion_ms)
    if taps < 8:
        raise ValueError(f"dispersion_ms must give at least 8 taps, got {dispersion_ms} ms")
    rng = np.random.default_rng(seed)
    t = np.arange(taps) / SAMPLE_RATE_HZ
    response = np.zeros(taps)
    for _ in range(RESONANCES):
        frequency = rng.uniform(*RESONANCE_BAND_HZ)
        decay = rng.uniform(*DECAY_MS) / 1000.0
        response += rng.uniform(0.5, 1.0) * np.exp(-t / decay) * np.cos(2 * np.pi * frequency * t
                                                                           + rng.uniform(0, 2 * np.pi))
    window = np.exp(-t / (DECAY_MS[1] / 1000.0))
    response -= window * response.sum() / window.sum()      # no DC: the line transformer passes none
    response *= 10.0 ** (-erl_db / 20.0) / np.sqrt(np.sum(response ** 2))
    return np.concatenate([np.zeros(ms_to_samples(bulk_delay_ms)), response])


class EchoPath:
    """Streaming convolution of the box's frames with a hybrid's impulse response."""

    def __init__(self, impulse_response: np.ndarray) -> None:
        response = np.asarray(impulse_response, dtype=np.float64)
        if response.ndim != 1 or response.size == 0 or not np.all(np.isfinite(response)):
            raise ValueError("impulse_response must be a non-empty one-dimensional array of finite values")
        self.impulse_response = response
        self._history = np.zeros(response.size - 1)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The echo (float64, one frame) of ``frame`` (int16) and of what came before it."""
        signal = np.concatenate([self._history, check_frame(frame, "frame")])
        if self._history.size:
            self._history = signal[-self._history.size:]
        return np.convolve(signal, self.impulse_response, mode="valid")

    def reset(self) -> None:
        self._history[:] = 0.0


class LineNoise:
    """White noise at ``level_dbm0`` (mu-law scale), reproducible from ``seed``; None level is silence."""

    def __init__(self, level_dbm0: float | None, seed: int = 0) -> None:
        self.level_dbm0 = level_dbm0
        self._sigma = 0.0 if level_dbm0 is None else float(np.sqrt(dbm0_to_power(level_dbm0)))
        self._rng = np.random.default_rng(seed)

    def process(self, n: int) -> np.ndarray:
        if not self._sigma:
            return np.zeros(n)
        return self._rng.normal(0.0, self._sigma, n)
