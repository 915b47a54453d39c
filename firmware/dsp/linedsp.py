"""The per-port audio pipeline of an analog line: one call per 20 ms frame.

Line side: linear int16 samples to and from the card. Network side: G.711 codes to and from the
switch. Each frame, what goes to the line (the decoded network audio) is the echo canceller's
reference; what comes back from the line is cleaned of its echo, searched for DTMF digits, and
coded for the network. DTMF is detected after echo cancellation, so the far end's own digits echoed
by the hybrid are not mistaken for the caller's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.dsp import g711
from firmware.dsp._dtmf import DtmfDetector
from firmware.dsp._echo import EchoCanceller
from firmware.dsp.events import DtmfEvent
from firmware.dsp.levels import FRAME_SAMPLES

_CODECS = {
    "ulaw": (g711.ulaw_encode, g711.ulaw_decode),
    "alaw": (g711.alaw_encode, g711.alaw_decode),
}


@dataclass(frozen=True, slots=True)
class LineFrame:
    """What one frame of a port produced."""

    to_network: np.ndarray          # uint8 G.711 codes of the cleaned line audio
    to_line: np.ndarray             # int16 samples to play to the line
    digits: list[DtmfEvent]         # digits the caller began in this frame (start: stream samples)


def _gain(db: float) -> float | None:
    """Linear factor for a gain in dB, or None for 0 dB (the common case costs nothing)."""
    return None if db == 0 else 10.0 ** (db / 20.0)


def _apply(samples: np.ndarray, factor: float | None) -> np.ndarray:
    if factor is None:
        return samples
    return np.clip(np.rint(samples * factor), -32768, 32767).astype(np.int16)


class LineDsp:
    """Echo cancellation, DTMF detection and G.711 for one port.

    ``rx_gain_db`` applies to audio from the line (after echo cancellation, so the canceller sees
    the true echo path), ``tx_gain_db`` to audio toward the line (before it, for the same reason).
    """

    def __init__(self, law: str = "ulaw", tail_ms: int = 128, nlp: bool = True, comfort_noise: bool = True,
                 rx_gain_db: float = 0.0, tx_gain_db: float = 0.0, frame_samples: int = FRAME_SAMPLES):
        if law not in _CODECS:
            raise ValueError(f"law must be one of {sorted(_CODECS)}, got {law!r}")
        if frame_samples <= 0:
            raise ValueError(f"frame_samples must be positive, got {frame_samples}")
        self.law = law
        self.frame_samples = frame_samples
        self._encode, self._decode = _CODECS[law]
        self._rx_gain, self._tx_gain = _gain(rx_gain_db), _gain(tx_gain_db)
        self.echo_canceller = EchoCanceller(tail_ms=tail_ms, nlp=nlp, comfort_noise=comfort_noise)
        self.dtmf_detector = DtmfDetector()

    @property
    def erle_db(self) -> float:
        """The echo canceller's running estimate of its echo return loss enhancement."""
        return self.echo_canceller.erle_db

    def process(self, from_line: np.ndarray, from_network: np.ndarray) -> LineFrame:
        """One frame: ``from_line`` int16 samples, ``from_network`` uint8 G.711 codes, equal lengths."""
        if len(from_line) != self.frame_samples or len(from_network) != self.frame_samples:
            raise ValueError(f"a frame is {self.frame_samples} samples; got {len(from_line)} from the line "
                             f"and {len(from_network)} from the network")
        to_line = _apply(self._decode(from_network), self._tx_gain)
        cleaned = self.echo_canceller.process(to_line, from_line)
        digits = self.dtmf_detector.process(cleaned)
        return LineFrame(self._encode(_apply(cleaned, self._rx_gain)), to_line, digits)

    def reset(self) -> None:
        """A new call on the port: forget the echo path and any digit in progress."""
        self.echo_canceller.reset()
        self.dtmf_detector.reset()
