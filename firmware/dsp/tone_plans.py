"""Call-progress tones by country, as plain data: which frequencies sound, how loud, with what cadence.

The tone generator (``ToneGenerator``) plays these plans and the call-progress detector recognises
them, so both read this one table. A plan is a frozen record; the table is read-only.

Sources (each figure below names the one it comes from):
  [E180]    ITU-T E.180/Q.35 (03/1998), the limits and recommended values of tones. Special
            information tone (SIT): 950, 1400, 1800 Hz (±50 Hz) in that order, 330 ±70 ms each,
            gaps of at most 30 ms, then 1000 ±250 ms of silence; nominal level -24 dBm0.
  [E180S2]  "Various tones used in national networks (according to ITU-T Recommendation E.180)",
            ITU-T (03/2003), the per-country list that continues E.180 Supplement 2: frequencies
            and cadences as administrations declared them.
  [PTP]     North American Precise Audible Tone Plan (ITU-T E.300-series Supplement 3; ANSI
            T1.401): frequencies, cadences and levels, in dBm0 per frequency, of the US tones.
  [SIT-US]  ANSI T1.401 SIT encoding: segment 1 is 913.8 (low) or 985.2 Hz (high), segment 2 is
            1370.6 or 1428.5 Hz, segment 3 is 1776.7 Hz; short segments 274 ms, long 380 ms; no gap.
            All within the [E180] tolerances.
  [SIN350]  BT SIN 350 (UK network tones), frequencies and cadences as listed in [E180S2].
  [ETR187]  ETSI ETR 187 / TR 101 041 (CEPT harmonised tones): one 425 Hz frequency for all tones.
  [YDN065]  YDN 065 (China): one 450 Hz frequency for all tones, cadences as listed in [E180S2].

Levels marked "common value" are the figures usually quoted from that source, not checked against
its text: -20 dBm0 for [SIN350] and [ETR187], -10 dBm0 for [YDN065]. A detector should not rely
on them to better than a few dB.

Not modelled: BT sends the second burst of its congestion tone 6 dB louder, and quotes its dial
tone's 440 Hz component 3 dB below the 350 Hz one; here every component of a plan shares one level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from .levels import SAMPLE_RATE_HZ, ms_to_samples

TONE_NAMES = ("dial", "ringback", "busy", "congestion", "call_waiting", "sit")
TONE_ALIASES = MappingProxyType({"reorder": "congestion"})     # the North American name
MODULATION_DEPTH = 0.9  # of a modulated plan: [E180S2] gives none; 90 % is the usual PBX choice


@dataclass(frozen=True, slots=True)
class TonePlan:
    """One call-progress tone.

    ``frequencies_hz``  the components, summed, each at ``level_dbm0`` (a dual tone is two of them);
                        if ``modulated``, (carrier, modulating frequency): the carrier's amplitude is
                        modulated ``MODULATION_DEPTH`` deep, and ``level_dbm0`` is the unmodulated
                        carrier's; if ``sequential``, on-burst k plays ``frequencies_hz[k]`` alone
                        (the SIT's three rising tones).
    ``cadence_ms``      on, off, on, off, ... durations, repeated; () is a continuous tone. An off of
                        0 ms joins two bursts: the waveform runs on without a break.
    """

    frequencies_hz: tuple[float, ...]
    level_dbm0: float
    cadence_ms: tuple[float, ...] = ()
    modulated: bool = False
    sequential: bool = False

    def __post_init__(self) -> None:
        frequencies = tuple(float(f) for f in self.frequencies_hz)
        cadence = tuple(float(ms) for ms in self.cadence_ms)
        object.__setattr__(self, "frequencies_hz", frequencies)
        object.__setattr__(self, "cadence_ms", cadence)
        object.__setattr__(self, "level_dbm0", float(self.level_dbm0))
        nyquist = SAMPLE_RATE_HZ / 2
        if not frequencies or not all(0.0 < f < nyquist for f in frequencies):
            raise ValueError(f"frequencies_hz must be one or more in (0, {nyquist:g}) Hz, got {frequencies}")
        if not math.isfinite(self.level_dbm0):
            raise ValueError(f"level_dbm0 must be finite, got {self.level_dbm0}")
        if len(cadence) % 2 or not all(math.isfinite(ms) and ms >= 0.0 for ms in cadence):
            raise ValueError(f"cadence_ms must be on/off pairs of durations >= 0, got {cadence}")
        if any(ms_to_samples(on) < 1 for on in cadence[::2]):
            raise ValueError(f"every on-duration must last at least one sample, got {cadence}")
        if self.modulated and (len(frequencies) != 2 or self.sequential):
            raise ValueError("a modulated plan has exactly two frequencies: (carrier, modulating)")
        if self.sequential and len(cadence) // 2 != len(frequencies):
            raise ValueError(f"a sequential plan has one frequency per on-burst: {len(cadence) // 2} "
                             f"bursts, {len(frequencies)} frequencies")

    @property
    def continuous(self) -> bool:
        return not self.cadence_ms


def _sit(frequencies_hz: tuple[float, ...], segments_ms: tuple[float, ...]) -> TonePlan:
    """Three joined segments, then [E180]'s 1000 ms of silence, at [E180]'s -24 dBm0."""
    cadence: list[float] = []
    for segment in segments_ms:
        cadence += [segment, 0]
    cadence[-1] = 1000
    return TonePlan(frequencies_hz, -24.0, tuple(cadence), sequential=True)


E180_SIT = _sit((950, 1400, 1800), (330, 330, 330))                     # [E180]

TONE_PLANS = MappingProxyType({
    "US": MappingProxyType({
        "dial": TonePlan((350, 440), -13.0),                            # [PTP]
        "ringback": TonePlan((440, 480), -19.0, (2000, 4000)),          # [PTP]
        "busy": TonePlan((480, 620), -24.0, (500, 500)),                # [PTP]
        "congestion": TonePlan((480, 620), -24.0, (250, 250)),          # [PTP] reorder, local
        # [PTP] 440 Hz, 300 ms; bursts 10 s apart. Level -13 dBm0: common value.
        "call_waiting": TonePlan((440,), -13.0, (300, 9700)),
        # [SIT-US] intercept (low, low, low; short, short, long). The US plays it once before an
        # announcement; with no announcement it repeats after [E180]'s 1 s.
        "sit": _sit((913.8, 1370.6, 1776.7), (274, 274, 380)),
    }),
    "UK": MappingProxyType({
        "dial": TonePlan((350, 440), -20.0),                            # [SIN350], common value
        "ringback": TonePlan((400, 450), -20.0, (400, 200, 400, 2000)), # [SIN350], common value
        "busy": TonePlan((400,), -20.0, (375, 375)),                    # [SIN350], common value
        "congestion": TonePlan((400,), -20.0, (400, 350, 225, 525)),    # [SIN350], common value
        # [E180S2] 0.1 s on, 2.0 s off. Asterisk's table, also citing SIN 350, has 4.0 s off.
        "call_waiting": TonePlan((400,), -20.0, (100, 2000)),
        "sit": E180_SIT,                                                # [E180]
    }),
    "EU": MappingProxyType({
        "dial": TonePlan((425,), -20.0),                                # [ETR187], common value
        "ringback": TonePlan((425,), -20.0, (1000, 4000)),              # [ETR187], common value
        "busy": TonePlan((425,), -20.0, (500, 500)),                    # [ETR187], common value
        "congestion": TonePlan((425,), -20.0, (250, 250)),              # [ETR187], common value
        # [ETR187] three 0.2 s bursts apart by 0.2 s; the pause after them varies by country in
        # [E180S2] (Germany 5.0 s, Switzerland 4.0 s): 4.0 s here.
        "call_waiting": TonePlan((425,), -20.0, (200, 200, 200, 4000)),
        "sit": E180_SIT,                                                # [E180]
    }),
    "CN": MappingProxyType({
        "dial": TonePlan((450,), -10.0),                                # [YDN065], common value
        "ringback": TonePlan((450,), -10.0, (1000, 4000)),              # [YDN065], common value
        "busy": TonePlan((450,), -10.0, (350, 350)),                    # [YDN065], common value
        "congestion": TonePlan((450,), -10.0, (700, 700)),              # [YDN065], common value
        "call_waiting": TonePlan((450,), -10.0, (400, 4000)),           # [YDN065], common value
        # [E180]. China's own network announces a vacant number with a 450 Hz pattern instead
        # ([E180S2]: 0.1/0.1 three times, then 0.4/0.4).
        "sit": E180_SIT,
    }),
})
COUNTRIES = tuple(TONE_PLANS)
