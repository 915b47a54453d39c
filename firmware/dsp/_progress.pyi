from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .tone_plans import TonePlan

PROGRESS_TONES: tuple[str, ...]
PURITY: float
MIN_COMPONENT_SHARE: float
DEFAULT_MIN_LEVEL_DBM0: float
DEFAULT_TOLERANCE: float
TIMING_SLACK_MS: float
DIAL_TONE_MIN_MS: float
TONE_GAP_MS: float
RING_EDGE_SLACK_MS: float
RING_CADENCES: dict[str, tuple[float, ...]]

@dataclass(frozen=True, slots=True)
class CallProgressEvent:
    kind: str
    start: int

@dataclass(frozen=True, slots=True)
class RingCadenceEvent:
    cadences: tuple[str, ...]
    start: int

class CallProgressDetector:
    @property
    def plans(self) -> tuple[tuple[str, TonePlan], ...]: ...
    def __init__(
        self,
        country: str | None = "US",
        *,
        extra_plans: Mapping[str, TonePlan] | None = None,
        kinds: Sequence[str] = ...,
        min_level_dbm0: float = ...,
        tolerance: float = ...,
    ) -> None: ...
    def reset(self) -> None: ...
    def process(self, pcm: npt.NDArray[np.int16]) -> list[CallProgressEvent]: ...

def learn_tone(
    pcm: npt.NDArray[np.int16], *, min_level_dbm0: float = ..., tolerance: float = ...
) -> TonePlan: ...

class RingCadenceDetector:
    def __init__(
        self, cadences: Mapping[str, Sequence[float]] | None = None, tolerance: float = ...
    ) -> None: ...
    def reset(self) -> None: ...
    def process(self, ringing: bool, at: int) -> list[RingCadenceEvent]: ...
