import numpy as np
import numpy.typing as npt

BAUD: int
FSK_STANDARDS: dict[str, tuple[float, float]]
CENTRE_HZ: int
SEIZURE_BITS: int
MARK_BITS: int
DEFAULT_LEVEL_DBM0: float
DEFAULT_MIN_LEVEL_DBM0: float
FILTER_CUTOFF_HZ: float
POWER_TIME_CONSTANT_MS: float
CARRIER_HYSTERESIS_DB: float

def fsk_modulate(
    data: bytes | bytearray | memoryview,
    standard: str = "bell202",
    *,
    level_dbm0: float = ...,
    seizure_bits: int = ...,
    mark_bits: int = ...,
) -> npt.NDArray[np.int16]: ...

class FskReceiver:
    @property
    def min_level_dbm0(self) -> float: ...
    def __init__(self, min_level_dbm0: float = ...) -> None: ...
    def reset(self) -> None: ...
    @property
    def carrier(self) -> bool: ...
    def process(self, pcm: npt.NDArray[np.int16]) -> bytes: ...
