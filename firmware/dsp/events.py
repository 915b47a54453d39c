"""Events the DSP kernels give out. Plain frozen records: no behaviour, safe to pass between layers."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """A DTMF digit: ``start`` is the sample index, from the start of the stream, where its tone began."""

    digit: str      # one of 0-9 * # A B C D
    start: int      # samples at 8 kHz
