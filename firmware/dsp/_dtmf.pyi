import numpy as np
import numpy.typing as npt

from firmware.dsp.events import DtmfEvent

class DtmfDetector:
    """ITU-T Q.24 DTMF receiver at 8 kHz; ``process`` streams over chunks of any size."""

    def __init__(self) -> None: ...
    def process(self, pcm: npt.NDArray[np.int16]) -> list[DtmfEvent]: ...
    def reset(self) -> None: ...
