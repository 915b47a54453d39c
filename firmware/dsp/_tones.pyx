# cython: language_level=3
"""DTMF and call-progress tone generation at 8 kHz.

What does it do?  ``dtmf_generate`` turns a digit string into DTMF bursts (ITU-T Q.23 frequency
pairs). ``ToneGenerator`` plays one call-progress tone of ``tone_plans.TONE_PLANS`` (dial, ringback,
busy, congestion, call waiting, SIT) as a stream: ``process(n)`` gives the next n samples, and the
output does not depend on how a stream is cut into calls.

How does it work?  Each frequency is a 32-bit phase accumulator: the phase advances by
round(f * 2**32 / 8000) per sample, so a tone is exact to 2 uHz and runs for ever without drift.
The sine of a phase folds it onto [-pi/2, pi/2] and sums the Taylor series to x**11 (error below
6e-8, i.e. 0.002 LSB at full scale), which needs no table and no libm call, so the mixing loops
vectorise. A cadence is compiled once into segments (a burst or a silence, lengths in samples).
A burst that follows silence starts at phase 0, so it rises from zero instead of clicking; inside
a burst, and across an off-time of 0 ms (the SIT's joined segments), the phase runs on unbroken.
Levels are per frequency in dBm0, mu-law convention (``levels.dbm0_to_amplitude``).
"""
cimport numpy as cnp
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport copysign
from libc.stdint cimport INT16_MAX, INT32_MAX, INT64_MAX, int16_t, int32_t, int64_t, uint32_t
from libc.string cimport memset

import math
import numbers
import operator

from .levels import SAMPLE_RATE_HZ, dbm0_to_amplitude, ms_to_samples, power_to_dbm0
from .tone_plans import COUNTRIES, MODULATION_DEPTH, TONE_ALIASES, TONE_NAMES, TONE_PLANS, TonePlan

cnp.import_array()

cdef enum:
    MAX_COMPONENTS = 4      # frequencies summed in one burst
    BLOCK = 256             # samples mixed at a time in a scratch buffer of doubles

DTMF_KEYS = "123A456B789C*0#D"                       # keypad row-major: row = low group, column = high
DTMF_LOW_HZ = (697.0, 770.0, 852.0, 941.0)           # ITU-T Q.23
DTMF_HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)      # ITU-T Q.23
PHASE_STEPS_PER_CYCLE = 2 ** 32

cdef double RADIANS_PER_STEP = math.tau / PHASE_STEPS_PER_CYCLE


ctypedef struct Segment:
    int64_t length                          # samples; INT64_MAX for a continuous tone
    int n_components                        # 0: silence
    bint modulated                          # components are (carrier, modulating)
    bint joined                             # keeps the phases of the burst just before it
    uint32_t increments[MAX_COMPONENTS]     # phase steps per sample
    double amplitudes[MAX_COMPONENTS]       # int16 peak of each; of a modulator: carrier peak x depth


# ------------------------------------------------------------------ the C kernel
cdef inline double _sine(uint32_t phase) noexcept nogil:
    """sin(2 pi phase / 2**32)."""
    cdef uint32_t half_cycle = (<uint32_t>1) << 31
    cdef uint32_t quarter_cycle = (<uint32_t>1) << 30
    # sin(pi - x) = sin(x): the 2nd and 3rd quadrants (where phase + 1/4 cycle has its top bit set)
    # fold onto the 1st and 4th, i.e. onto signed phases within +-1/4 cycle.
    cdef uint32_t folded = (half_cycle - phase) if (phase + quarter_cycle) & half_cycle else phase
    cdef double x = <double>(<int32_t>folded) * RADIANS_PER_STEP
    cdef double x2 = x * x
    return x * (1.0 - x2 * (1.0 / (2 * 3)) * (1.0 - x2 * (1.0 / (4 * 5)) * (
        1.0 - x2 * (1.0 / (6 * 7)) * (1.0 - x2 * (1.0 / (8 * 9)) * (1.0 - x2 * (1.0 / (10 * 11)))))))


cdef void _mix(const Segment *seg, uint32_t *phases, double *acc, Py_ssize_t n) noexcept nogil:
    """acc[0:n] = the segment's waveform from ``phases``, which it advances by n samples."""
    cdef Py_ssize_t i
    cdef int k
    cdef uint32_t phase = phases[0], mod_phase, step = seg.increments[0], mod_step
    cdef double amplitude = seg.amplitudes[0], mod_amplitude
    if seg.modulated:
        mod_phase, mod_step, mod_amplitude = phases[1], seg.increments[1], seg.amplitudes[1]
        for i in range(n):
            acc[i] = _sine(phase) * (amplitude + mod_amplitude * _sine(mod_phase))
            phase += step
            mod_phase += mod_step
        phases[0], phases[1] = phase, mod_phase
        return
    for i in range(n):
        acc[i] = amplitude * _sine(phase)
        phase += step
    phases[0] = phase
    for k in range(1, seg.n_components):
        phase, step, amplitude = phases[k], seg.increments[k], seg.amplitudes[k]
        for i in range(n):
            acc[i] += amplitude * _sine(phase)
            phase += step
        phases[k] = phase


cdef void _quantize(const double *acc, int16_t *out, Py_ssize_t n) noexcept nogil:
    """Round half away from zero. No clamp: every caller has checked that peaks fit in int16."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = <int16_t><int32_t>(acc[i] + copysign(0.5, acc[i]))


cdef void _play(const Segment *seg, uint32_t *phases, int16_t *out, Py_ssize_t n) noexcept nogil:
    cdef double acc[BLOCK]
    cdef Py_ssize_t run
    while n > 0:
        run = min(n, <Py_ssize_t>BLOCK)
        _mix(seg, phases, acc, run)
        _quantize(acc, out, run)
        out += run
        n -= run


# ------------------------------------------------------------------ argument checks
cdef double _finite(str name, object value) except? -1:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


cdef int64_t _duration_samples(str name, object ms, int64_t at_least) except -1:
    cdef double value = _finite(name, ms)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {ms!r}")
    samples = ms_to_samples(value)
    if not at_least <= samples <= INT32_MAX:
        raise ValueError(f"{name} must last {at_least} to {INT32_MAX} samples at {SAMPLE_RATE_HZ} Hz, "
                         f"got {ms!r} ms")
    return samples


cdef uint32_t _increment(double frequency_hz):
    return round(frequency_hz * PHASE_STEPS_PER_CYCLE / SAMPLE_RATE_HZ)     # < 2**31 below Nyquist


cdef double _amplitude(double level_dbm0, double peak_factor) except -1:
    """int16 peak of a sine at ``level_dbm0``; ValueError if ``peak_factor`` times it would clip."""
    cdef double highest = power_to_dbm0((INT16_MAX / peak_factor) ** 2 / 2)
    if level_dbm0 > highest:
        raise ValueError(f"level_dbm0 {level_dbm0:g} would clip: at most {highest:.2f} dBm0 here")
    return dbm0_to_amplitude(level_dbm0)


# ------------------------------------------------------------------ DTMF
def dtmf_generate(digits, on_ms=50, off_ms=50, level_dbm0=-10.0, *, twist_db=0.0):
    """DTMF for ``digits`` (0-9 * # A-D, a-d too): each digit's tone pair for ``on_ms``, then
    ``off_ms`` of silence. ``level_dbm0`` is per tone, of the low-group tone; the high-group tone is
    at ``level_dbm0 + twist_db``. Returns int16 samples at 8 kHz."""
    if not isinstance(digits, str):
        raise TypeError(f"digits must be a str, got {type(digits).__name__}")
    keys = [d.upper() if d in "abcd" else d for d in digits]
    bad = sorted({d for d, key in zip(digits, keys) if key not in DTMF_KEYS})
    if bad:
        raise ValueError(f"not DTMF digits: {''.join(bad)!r} (allowed: {DTMF_KEYS}, a-d)")
    cdef int64_t on = _duration_samples("on_ms", on_ms, 1)
    cdef int64_t off = _duration_samples("off_ms", off_ms, 0)
    cdef double level = _finite("level_dbm0", level_dbm0)
    cdef double twist = _finite("twist_db", twist_db)
    cdef double low_amplitude = _amplitude(level, 1), high_amplitude = _amplitude(level + twist, 1)
    if low_amplitude + high_amplitude > INT16_MAX:
        raise ValueError(f"level_dbm0 {level:g} with twist_db {twist:g} would clip: peak "
                         f"{low_amplitude + high_amplitude:.0f} > {INT16_MAX}")

    cdef cnp.npy_intp total = len(keys) * (on + off)
    cdef cnp.ndarray out = cnp.PyArray_ZEROS(1, &total, cnp.NPY_INT16, 0)
    cdef int16_t *dst = <int16_t *>cnp.PyArray_DATA(out)
    cdef Segment pair
    cdef uint32_t phases[2]
    cdef Py_ssize_t k
    memset(&pair, 0, sizeof(pair))
    pair.n_components = 2
    pair.amplitudes[0], pair.amplitudes[1] = low_amplitude, high_amplitude
    for k, key in enumerate(keys):
        row, column = divmod(DTMF_KEYS.index(key), 4)
        pair.increments[0] = _increment(DTMF_LOW_HZ[row])
        pair.increments[1] = _increment(DTMF_HIGH_HZ[column])
        phases[0] = phases[1] = 0
        with nogil:
            _play(&pair, phases, dst + k * (on + off), on)
    return out


# ------------------------------------------------------------------ call-progress tones
def _find_plan(tone, country) -> TonePlan:
    if isinstance(tone, TonePlan):
        return tone
    if not isinstance(country, str) or country.upper() not in TONE_PLANS:
        raise ValueError(f"unknown country {country!r}; known: {', '.join(COUNTRIES)}")
    name = TONE_ALIASES.get(tone, tone) if isinstance(tone, str) else tone
    if name not in TONE_NAMES:
        known = ", ".join((*TONE_NAMES, *TONE_ALIASES))
        raise ValueError(f"unknown tone {tone!r}; known: {known} (or a TonePlan)")
    return TONE_PLANS[country.upper()][name]


cdef class ToneGenerator:
    """One call-progress tone, streamed: ``process(n)`` gives the next n samples (int16, 8 kHz).

    ``tone`` is a name of ``tone_plans.TONE_NAMES`` (or "reorder") looked up for ``country``, or a
    ``TonePlan`` (then ``country`` is not used). ``level_dbm0`` (per frequency) overrides the plan's.
    """

    cdef Segment *_segments
    cdef Py_ssize_t _n_segments
    cdef Py_ssize_t _index                      # segment now playing
    cdef int64_t _offset                        # samples of it already played
    cdef uint32_t _phases[MAX_COMPONENTS]
    cdef readonly object plan
    cdef readonly double level_dbm0

    def __init__(self, tone, country="US", level_dbm0=None):
        plan = _find_plan(tone, country)
        level = plan.level_dbm0 if level_dbm0 is None else _finite("level_dbm0", level_dbm0)
        n_bursts = max(len(plan.cadence_ms) // 2, 1)
        bursts = [(f,) for f in plan.frequencies_hz] if plan.sequential else [plan.frequencies_hz] * n_bursts
        if len(plan.frequencies_hz) > MAX_COMPONENTS and not plan.sequential:
            raise ValueError(f"a tone sums at most {MAX_COMPONENTS} frequencies, got {plan.frequencies_hz}")
        peak_factor = 1 + MODULATION_DEPTH if plan.modulated else len(bursts[0])
        amplitude = _amplitude(level, peak_factor)

        layout = []                             # (length in samples, frequencies or () for silence)
        if plan.continuous:
            layout.append((INT64_MAX, bursts[0]))
        for k, frequencies in enumerate(bursts if not plan.continuous else ()):
            layout.append((_duration_samples("cadence_ms on", plan.cadence_ms[2 * k], 1), frequencies))
            off = _duration_samples("cadence_ms off", plan.cadence_ms[2 * k + 1], 0)
            if off:
                layout.append((off, ()))

        PyMem_Free(self._segments)             # in case __init__ runs again
        self._n_segments = 0
        self._segments = <Segment *>PyMem_Malloc(len(layout) * sizeof(Segment))
        if self._segments == NULL:
            raise MemoryError()
        self._n_segments = len(layout)
        memset(self._segments, 0, len(layout) * sizeof(Segment))
        cdef Segment *seg
        for i, (length, frequencies) in enumerate(layout):
            seg = &self._segments[i]
            seg.length = length
            seg.n_components = len(frequencies)
            seg.modulated = plan.modulated
            seg.joined = bool(layout[i - 1][1])         # the one before, cyclically, was a burst
            for k, frequency in enumerate(frequencies):
                seg.increments[k] = _increment(frequency)
                seg.amplitudes[k] = amplitude
            if plan.modulated:
                seg.amplitudes[1] = amplitude * MODULATION_DEPTH
        self.plan = plan
        self.level_dbm0 = level
        self.reset()

    def __dealloc__(self):
        PyMem_Free(self._segments)

    def reset(self):
        """Back to the start of the cadence, phases at 0."""
        self._index = 0
        self._offset = 0
        memset(self._phases, 0, sizeof(self._phases))

    def process(self, n):
        """The next ``n`` samples (int16)."""
        cdef cnp.npy_intp count = operator.index(n)
        if self._n_segments == 0:
            raise RuntimeError("ToneGenerator.__init__ was not called")
        if count < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &count, cnp.NPY_INT16, 0)
        with nogil:
            self._render(<int16_t *>cnp.PyArray_DATA(out), count)
        return out

    cdef void _render(self, int16_t *out, Py_ssize_t n) noexcept nogil:
        cdef Segment *seg
        cdef Py_ssize_t run
        while n > 0:
            seg = &self._segments[self._index]
            run = <Py_ssize_t>min(<int64_t>n, seg.length - self._offset)
            if seg.n_components:
                _play(seg, self._phases, out, run)
            else:
                memset(out, 0, run * sizeof(int16_t))
            out += run
            n -= run
            self._offset += run
            if self._offset == seg.length:
                self._offset = 0
                self._index = (self._index + 1) % self._n_segments
                seg = &self._segments[self._index]
                if seg.n_components and not seg.joined:
                    memset(self._phases, 0, sizeof(self._phases))
