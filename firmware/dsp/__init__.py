"""The box's DSP core: sans-IO kernels that take numpy buffers in and give buffers and events out.

Every kernel is a state object with ``process(...)`` (one algorithm per module, as in spandsp);
the compiled modules (``_*.pyx``) are private and their public names are re-exported here.
Names resolve on first use, so importing ``firmware.dsp.g711`` does not load the echo canceller.
"""
from __future__ import annotations

import importlib

# public name -> the module (relative to this package) that defines it
_EXPORTS = {
    "DtmfEvent": ".events",
    "DtmfDetector": "._dtmf",
    "dtmf_generate": "._tones",
    "ToneGenerator": "._tones",
    "TONE_PLANS": ".tone_plans",
    "EchoCanceller": "._echo",
    "LineDsp": ".linedsp",
    "CallerId": ".callerid",
    "CallTime": ".callerid",
    "Absence": ".callerid",
    "CallerIdError": ".callerid",
    "CallerIdReceiver": ".callerid",
    "DtmfCallerIdReceiver": ".callerid",
    "encode_sdmf": ".callerid",
    "encode_mdmf": ".callerid",
    "parse_message": ".callerid",
    "encode_dtmf_callerid": ".callerid",
    "parse_dtmf_callerid": ".callerid",
    "FskReceiver": ".callerid",
    "fsk_modulate": ".callerid",
    "FSK_STANDARDS": ".callerid",
    "CallProgressDetector": "._progress",
    "CallProgressEvent": "._progress",
    "learn_tone": "._progress",
    "RingCadenceDetector": "._progress",
    "RingCadenceEvent": "._progress",
    "RING_CADENCES": "._progress",
}

__all__ = ["g711", "levels", *_EXPORTS]


def __getattr__(name: str):
    if name in ("g711", "levels"):
        return importlib.import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
