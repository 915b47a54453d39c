"""Fixtures of the line-card tests: an independent DTMF receiver for the virtual exchange, and a
way to run a card for a while and keep what came out."""
from __future__ import annotations

import numpy as np
import peers
import pytest

from firmware.dsp.levels import FRAME_SAMPLES


class SpandspDigits:
    """spandsp's DTMF receiver (../shared/peers) as the exchange's DigitReceiver: independent of the
    project's DSP, and available while firmware.dsp.DtmfDetector is being built."""

    def __init__(self) -> None:
        self._receiver = peers.SpandspDtmfDetector()

    def process(self, frame: np.ndarray) -> str:
        return self._receiver.process(frame)


@pytest.fixture
def spandsp_digits():
    return SpandspDigits


class Recorder:
    """Ticks a card and keeps every frame and event, per port."""

    def __init__(self, card) -> None:
        self.card = card
        self.events: list = []
        self.audio: dict[str, list[np.ndarray]] = {port.id: [] for port in card.ports}

    def run(self, frames: int, to_line: dict[str, np.ndarray] | None = None) -> list:
        """``frames`` ticks; ``to_line`` maps a port to samples played from now on (cut into frames)."""
        feeds = {port: np.asarray(samples, np.int16) for port, samples in (to_line or {}).items()}
        new_events = []
        for k in range(frames):
            out = {}
            for port, samples in feeds.items():
                chunk = samples[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES]
                if chunk.size:
                    frame = np.zeros(FRAME_SAMPLES, np.int16)
                    frame[:chunk.size] = chunk
                    out[port] = frame
            result = self.card.tick(out)
            new_events += result.events
            for port, frame in result.audio.items():
                self.audio[port].append(frame)
        self.events += new_events
        return new_events

    def heard(self, port: str, last_frames: int | None = None) -> np.ndarray:
        frames = self.audio[port] if last_frames is None else self.audio[port][-last_frames:]
        return np.concatenate(frames) if frames else np.zeros(0, np.int16)


@pytest.fixture
def recorder():
    return Recorder


def tone_level_db(x: np.ndarray, frequency_hz: float) -> float:
    """Level (dB re 1 int16 unit rms) of the sine at ``frequency_hz`` in ``x``: a Hann-windowed
    correlation with a complex exponential, so that a strong tone nearby does not leak into it."""
    n = np.arange(x.size)
    window = np.hanning(x.size)
    probe = window * np.exp(-2j * np.pi * frequency_hz * n / 8000)
    amplitude = 2 * abs(np.dot(x.astype(np.float64), probe)) / window.sum()
    return 20 * np.log10(amplitude / np.sqrt(2) + 1e-9)


@pytest.fixture
def tone_level():
    return tone_level_db
