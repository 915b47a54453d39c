import numpy as np
import numpy.typing as npt

MAX_TAIL_MS: float

class EchoCanceller:
    tail_ms: float
    nlp: bool
    comfort_noise: bool
    def __init__(self, tail_ms: float = 128, nlp: bool = True, comfort_noise: bool = True) -> None: ...
    def process(self, rin: npt.NDArray[np.int16], sin: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]: ...
    @property
    def erle_db(self) -> float: ...
    def reset(self) -> None: ...
