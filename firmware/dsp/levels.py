"""Signal levels in dBm0, derived once so that no kernel carries a hand-worked magic number.

Convention (ITU-T G.711 clause 5): 0 dBm0 is the digital milliwatt; the theoretical load capacity
T_max is +3.17 dBm0 for mu-law and +3.14 dBm0 for A-law, a sine whose peak reaches the coder's
overload point, which is 8159 * 4 = 32636 (mu-law) and 4096 * 8 = 32768 (A-law) in the 16-bit
scaling of the decoders. A level is that of the sine with the same mean power.
"""
from __future__ import annotations

import math

SAMPLE_RATE_HZ = 8000
FRAME_SAMPLES = 160                      # 20 ms at 8 kHz: the box's frame everywhere
TMAX_DBM0 = {"ulaw": 3.17, "alaw": 3.14}
OVERLOAD_INT16 = {"ulaw": 8159 * 4, "alaw": 4096 * 8}


def _check_law(law: str) -> None:
    if law not in TMAX_DBM0:
        raise ValueError(f"law must be 'ulaw' or 'alaw', got {law!r}")


def dbm0_to_amplitude(level_dbm0: float, law: str = "ulaw") -> float:
    """Peak int16 amplitude of a sine at ``level_dbm0``."""
    _check_law(law)
    return OVERLOAD_INT16[law] * 10.0 ** ((level_dbm0 - TMAX_DBM0[law]) / 20.0)


def dbm0_to_power(level_dbm0: float, law: str = "ulaw") -> float:
    """Mean square (int16 units) of a signal at ``level_dbm0``."""
    return dbm0_to_amplitude(level_dbm0, law) ** 2 / 2.0


def power_to_dbm0(mean_square: float, law: str = "ulaw") -> float:
    """Level in dBm0 of a signal whose mean square (int16 units) is ``mean_square``; -inf for silence."""
    if mean_square <= 0.0:
        return -math.inf
    return 10.0 * math.log10(mean_square / dbm0_to_power(0.0, law))


def ms_to_samples(ms: float, rate_hz: int = SAMPLE_RATE_HZ) -> int:
    """Whole samples in ``ms`` milliseconds."""
    return int(round(ms * rate_hz / 1000.0))
