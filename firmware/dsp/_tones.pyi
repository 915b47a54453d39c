import numpy as np
import numpy.typing as npt

from .tone_plans import TonePlan

DTMF_KEYS: str
DTMF_LOW_HZ: tuple[float, float, float, float]
DTMF_HIGH_HZ: tuple[float, float, float, float]

def dtmf_generate(
    digits: str,
    on_ms: float = 50,
    off_ms: float = 50,
    level_dbm0: float = -10.0,
    *,
    twist_db: float = 0.0,
) -> npt.NDArray[np.int16]: ...

class ToneGenerator:
    @property
    def plan(self) -> TonePlan: ...
    @property
    def level_dbm0(self) -> float: ...
    def __init__(
        self, tone: str | TonePlan, country: str = "US", level_dbm0: float | None = None
    ) -> None: ...
    def reset(self) -> None: ...
    def process(self, n: int) -> npt.NDArray[np.int16]: ...
