"""ITU-T G.711 coding: numpy int16 samples <-> uint8 codes, and mu-law <-> A-law transcoding.

Encoders are bit-exact with the ITU-T G.191 STL on all 65 536 inputs; transcoding follows G.711
Tables 3 and 4. Any length; the argument must be a contiguous 1-D array of the stated dtype.
"""
from firmware.dsp._g711 import (
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)

__all__ = ["ulaw_encode", "ulaw_decode", "alaw_encode", "alaw_decode", "ulaw_to_alaw", "alaw_to_ulaw"]
