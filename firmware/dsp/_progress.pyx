# cython: language_level=3
"""Call-progress tones and ring cadences: what the line is saying, from its tones and timings.

What does it do?  ``CallProgressDetector`` listens to an FXO line and reports dial tone, ringback,
busy and congestion (reorder) for a country of ``tone_plans.TONE_PLANS``, each as an event with the
sample where the tone began; busy and congestion are the "far end hung up" signals a line must
never report falsely during speech. ``learn_tone`` estimates a line's own tone (its one or two
frequencies and its on/off cadence) from a recording, as an installer would read it by ear, and
returns a ``TonePlan`` the detector then watches for too. ``RingCadenceDetector`` classifies the
ring on/off edges that a line card reports by country cadence.

How does it work?  The detector cuts the line into 20 ms blocks (160 samples: 50 Hz resolution,
enough to part 440 from 480 Hz) and runs one Goertzel filter per frequency that any of its plans
uses. A plan's frequencies are "on" in a block when they carry at least ``PURITY`` of the block's
energy, each at least ``MIN_COMPONENT_SHARE`` of it, at ``min_level_dbm0`` or more: a tone is pure,
speech and noise are not. Runs of "on" blocks are tone bursts. Their edges are then placed to a
few milliseconds: a block the tone covers in part gives a Goertzel amplitude in proportion to the
part covered, so the blocks at either end of a run, against the run's strongest block, say where
in them the tone began and ended. The bursts and gaps, in samples, go to a short history per set
of frequencies, and a cadenced plan is recognised when the last few of them match its cadence
(in any rotation that starts with a burst) within ``tolerance`` (10 %) plus ``TIMING_SLACK_MS``:
a disconnect tone (busy, congestion, a learned tone) needs a whole cycle and one more burst, so a
burst of speech that happens to be pure cannot pass for it; ringback needs only its first bursts;
a continuous tone (dial) must outlast every burst of the plans that share its frequencies. An
event is reported once per tone, and again only after the tone has been away longer than any of
its gaps. spandsp's super_tone_rx.c works the same way in outline (Goertzel bins, then a
cadence matcher); the edge placement and the per-country plans are this module's own.
"""
cimport numpy as cnp
from libc.math cimport M_PI, cos, sqrt
from libc.stdint cimport int16_t, int64_t
from libc.string cimport memmove, memset

import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

from .levels import SAMPLE_RATE_HZ, dbm0_to_power, ms_to_samples, power_to_dbm0
from .tone_plans import COUNTRIES, TONE_PLANS, TonePlan

cnp.import_array()

PROGRESS_TONES = ("dial", "ringback", "busy", "congestion")      # what the detector reports by default
PURITY = 0.8                    # share of a block's energy a tone must carry to be "on"
MIN_COMPONENT_SHARE = 0.1       # share each frequency of a dual tone must carry (10 dB twist at most)
DEFAULT_MIN_LEVEL_DBM0 = -40.0  # a weaker tone is not "on" (the sum of its frequencies)
DEFAULT_TOLERANCE = 0.10        # of each cadence duration
TIMING_SLACK_MS = 15.0          # added to the tolerance: the edge estimates' error
DIAL_TONE_MIN_MS = 500.0        # a continuous tone is reported after at least this long
TONE_GAP_MS = 500.0             # a continuous tone away this long has ended

cdef double _PURITY = PURITY
cdef double _MIN_COMPONENT_SHARE = MIN_COMPONENT_SHARE

cdef enum:
    BLOCK = 160                 # samples per analysis block: 20 ms, 50 Hz resolution
    MAX_FREQUENCIES = 16        # distinct frequencies over all plans
    MAX_COMPONENTS = 4          # frequencies in one plan
    MAX_SOURCES = 12            # distinct frequency sets
    MAX_PLANS = 16
    MAX_CADENCE = 8             # on/off durations in one cadence
    MAX_SEGMENTS = 2 * MAX_CADENCE + 1


@dataclass(frozen=True, slots=True)
class CallProgressEvent:
    """A call-progress tone recognised: ``kind`` is "dial", "ringback", "busy", "congestion" or the
    name given to an extra plan; ``start`` is the sample (from the stream's start) where it began."""

    kind: str
    start: int


@dataclass(frozen=True, slots=True)
class RingCadenceEvent:
    """Ringing recognised: ``cadences`` are the names whose cadence it matches (countries can share
    one); ``start`` is the sample where the matched cycle's first ring began."""

    cadences: tuple[str, ...]
    start: int


ctypedef struct Source:
    # one set of frequencies: is it on, and the bursts and gaps it has made
    int n_components
    int components[MAX_COMPONENTS]      # indices into the detector's frequencies
    bint on                             # the last block was on
    double previous_power               # tone power (mean square) of the last block
    double before_power                 # tone power of the block before the current run
    double first_power                  # tone power of the run's first block
    double last_power                   # tone power of the run's latest block
    double peak_power                   # strongest block of the run
    int64_t run_start                   # first sample of the run's first block
    int64_t run_end                     # one past the run's latest block
    int64_t off_samples                 # samples off since the last run
    double last_end                     # refined end of the last burst; -1: none yet
    int n_segments                      # segments in the history, oldest first
    double segment_start[MAX_SEGMENTS]  # samples, refined
    double segment_length[MAX_SEGMENTS] # samples; bursts and gaps alternate, the newest a burst


ctypedef struct Plan:
    int source                          # index into the detector's sources
    int n_cadence                       # 0: a continuous tone
    double cadence[MAX_CADENCE]         # on, off, on, off ... in samples
    int required                        # segments that must match, ending with a burst
    int64_t continuous_after            # of a continuous tone: samples on before it is reported
    int64_t quiet_limit                 # samples off after which the tone has ended
    bint reported                       # already reported for the tone now present


# ------------------------------------------------------------------ argument checks
cdef double _finite(str name, object value) except? -1:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


cdef cnp.ndarray _checked_pcm(object pcm):
    if not isinstance(pcm, cnp.ndarray):
        raise TypeError(f"pcm must be a numpy int16 array, got {type(pcm).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>pcm
    if cnp.PyArray_TYPE(a) != cnp.NPY_INT16:
        raise TypeError(f"pcm must be int16, got {pcm.dtype}")
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"pcm must be 1-D, got shape {pcm.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError("pcm must be contiguous (use numpy.ascontiguousarray)")
    return a


def _required_segments(kind, n_cadence):
    """Ringback: its first bursts (one cycle less a gap); anything else, as a disconnect tone must,
    a whole cycle and one more burst."""
    if kind == "ringback":
        return max(n_cadence - 1, 1)
    return n_cadence + 1


def _country_plans(country, kinds):
    if country is None:
        return []
    if not isinstance(country, str) or country.upper() not in TONE_PLANS:
        raise ValueError(f"unknown country {country!r}; known: {', '.join(COUNTRIES)}")
    plans = TONE_PLANS[country.upper()]
    unknown = [kind for kind in kinds if kind not in plans]
    if unknown:
        raise ValueError(f"unknown tone(s) {unknown}; known: {', '.join(plans)}")
    return [(kind, plans[kind]) for kind in kinds]


cdef class CallProgressDetector:
    """Dial, ringback, busy and congestion tones of ``country`` (a key of ``TONE_PLANS``, or None),
    plus ``extra_plans`` ({name: TonePlan}, e.g. {"busy": learn_tone(recording)}): ``process(pcm)``
    -> [CallProgressEvent]. ``kinds`` picks which of the country's tones to watch. Streaming: the
    events do not depend on how the samples are cut into calls.
    """

    cdef int _n_frequencies
    cdef double _coefficients[MAX_FREQUENCIES]      # Goertzel: 2 cos(2 pi f / fs)
    cdef double _state1[MAX_FREQUENCIES]            # Goertzel states s[n-1], s[n-2]
    cdef double _state2[MAX_FREQUENCIES]
    cdef double _energy                             # sum of x^2 over the block so far
    cdef int _filled                                # samples of the block so far
    cdef int64_t _block_start                       # sample index of the block's first sample
    cdef double _min_power                          # mean square of a tone at min_level_dbm0
    cdef double _tolerance
    cdef double _slack                              # samples
    cdef int _n_sources
    cdef Source _sources[MAX_SOURCES]
    cdef int _n_plans
    cdef Plan _plans[MAX_PLANS]
    cdef list _kinds                                # the event kind of each plan
    cdef list _events                               # found during the current process() call
    cdef list _trace                                # learn_tone: (start, end) of each burst of source 0
    cdef readonly tuple plans                       # ((kind, TonePlan), ...) as watched

    def __init__(self, country="US", *, extra_plans=None, kinds=PROGRESS_TONES,
                 min_level_dbm0=DEFAULT_MIN_LEVEL_DBM0, tolerance=DEFAULT_TOLERANCE):
        if isinstance(kinds, str) or not all(isinstance(kind, str) for kind in kinds):
            raise TypeError("kinds must be a sequence of tone names")
        watched = _country_plans(country, list(kinds))
        for name, plan in dict(extra_plans or {}).items():
            if not isinstance(name, str) or not isinstance(plan, TonePlan):
                raise TypeError("extra_plans must map names (str) to TonePlan")
            watched.append((name, plan))
        watched = [(kind, plan) for kind, plan in watched if not (plan.modulated or plan.sequential)]
        if not watched:
            raise ValueError("nothing to watch: no country plans and no extra_plans "
                             "(modulated and sequential plans are not detected)")
        cdef double tolerance_value = _finite("tolerance", tolerance)
        if not 0.0 <= tolerance_value < 0.5:
            raise ValueError(f"tolerance must be in [0, 0.5), got {tolerance!r}")
        self._tolerance = tolerance_value
        self._slack = ms_to_samples(TIMING_SLACK_MS)
        self._min_power = dbm0_to_power(_finite("min_level_dbm0", min_level_dbm0))

        frequencies, sources = [], []
        for kind, plan in watched:
            key = tuple(sorted(plan.frequencies_hz))
            if len(key) > MAX_COMPONENTS:
                raise ValueError(f"{kind}: at most {MAX_COMPONENTS} frequencies per tone, got {key}")
            if any(ms <= 0 for ms in plan.cadence_ms):
                raise ValueError(f"{kind}: every duration of a detected cadence must be > 0 ms")
            if len(plan.cadence_ms) > MAX_CADENCE:
                raise ValueError(f"{kind}: at most {MAX_CADENCE} cadence durations, got {plan.cadence_ms}")
            for f in key:
                if f not in frequencies:
                    frequencies.append(f)
            if key not in sources:
                sources.append(key)
        if len(frequencies) > MAX_FREQUENCIES or len(sources) > MAX_SOURCES or len(watched) > MAX_PLANS:
            raise ValueError(f"too many tones to watch: at most {MAX_FREQUENCIES} frequencies, "
                             f"{MAX_SOURCES} frequency sets and {MAX_PLANS} plans")

        memset(self._sources, 0, sizeof(self._sources))
        memset(self._plans, 0, sizeof(self._plans))
        self._n_frequencies = len(frequencies)
        for k, f in enumerate(frequencies):
            self._coefficients[k] = 2.0 * cos(2.0 * M_PI * f / SAMPLE_RATE_HZ)
        self._n_sources = len(sources)
        for s, key in enumerate(sources):
            self._sources[s].n_components = len(key)
            for c, f in enumerate(key):
                self._sources[s].components[c] = frequencies.index(f)
        self._n_plans = len(watched)
        self._kinds = [kind for kind, _ in watched]
        longest_on = {key: 0.0 for key in sources}          # per source, of its cadenced plans
        for kind, plan in watched:
            key = tuple(sorted(plan.frequencies_hz))
            longest_on[key] = max([longest_on[key]] + list(plan.cadence_ms[0::2]))
        for p, (kind, plan) in enumerate(watched):
            key = tuple(sorted(plan.frequencies_hz))
            self._plans[p].source = sources.index(key)
            self._plans[p].n_cadence = len(plan.cadence_ms)
            for k, ms in enumerate(plan.cadence_ms):
                self._plans[p].cadence[k] = ms * SAMPLE_RATE_HZ / 1000.0
            self._plans[p].required = _required_segments(kind, len(plan.cadence_ms))
            if plan.continuous:
                self._plans[p].continuous_after = ms_to_samples(max(
                    DIAL_TONE_MIN_MS, longest_on[key] * (1 + tolerance_value) + TIMING_SLACK_MS))
            gap_ms = max([TONE_GAP_MS] + [ms * (1 + tolerance_value) + TIMING_SLACK_MS
                                          for ms in plan.cadence_ms[1::2]])
            # counted in whole blocks: those the tone covers in part, at either end, count as off
            self._plans[p].quiet_limit = ms_to_samples(gap_ms) + 2 * BLOCK
        self.plans = tuple(watched)
        self.reset()

    def reset(self):
        """Forget the stream: sample count from 0, no tone on, histories empty."""
        cdef int s, p
        memset(self._state1, 0, sizeof(self._state1))
        memset(self._state2, 0, sizeof(self._state2))
        self._energy = 0.0
        self._filled = 0
        self._block_start = 0
        for s in range(self._n_sources):
            self._sources[s].on = False
            self._sources[s].previous_power = 0.0
            self._sources[s].off_samples = 0
            self._sources[s].n_segments = 0
            self._sources[s].last_end = -1.0
        for p in range(self._n_plans):
            self._plans[p].reported = False

    def process(self, pcm):
        """Analyses ``pcm`` (int16, 8 kHz); returns the tones recognised in it."""
        cdef cnp.ndarray a = _checked_pcm(pcm)
        cdef const int16_t *src = <const int16_t *>cnp.PyArray_DATA(a)
        cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0), done = 0, run
        self._events = []
        while done < n:
            run = min(n - done, <Py_ssize_t>(BLOCK - self._filled))
            with nogil:
                self._accumulate(src + done, run)
            done += run
            self._filled += run
            if self._filled == BLOCK:
                self._end_block()
        events, self._events = self._events, None
        return events

    cdef void _accumulate(self, const int16_t *src, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        cdef int k, nf = self._n_frequencies
        cdef double x, s0, energy = self._energy
        for i in range(n):
            x = src[i]
            energy += x * x
            for k in range(nf):
                s0 = x + self._coefficients[k] * self._state1[k] - self._state2[k]
                self._state2[k] = self._state1[k]
                self._state1[k] = s0
        self._energy = energy

    cdef void _end_block(self) except *:
        cdef double powers[MAX_FREQUENCIES]          # tone power (mean square) at each frequency
        cdef int k, s, c
        cdef double s1, s2, tone, energy = self._energy
        cdef bint on
        cdef Source *src
        for k in range(self._n_frequencies):
            s1, s2 = self._state1[k], self._state2[k]
            # |X|^2 = s1^2 + s2^2 - coefficient s1 s2; a sine of mean square P gives |X|^2 = P N^2 / 2
            powers[k] = 2.0 * (s1 * s1 + s2 * s2 - self._coefficients[k] * s1 * s2) / (BLOCK * BLOCK)
            self._state1[k] = self._state2[k] = 0.0
        for s in range(self._n_sources):
            src = &self._sources[s]
            tone = 0.0
            on = energy > 0.0
            for c in range(src.n_components):
                tone += powers[src.components[c]]
                on = on and powers[src.components[c]] * BLOCK >= _MIN_COMPONENT_SHARE * energy
            on = on and tone >= self._min_power and tone * BLOCK >= _PURITY * energy
            self._track(s, on, tone)
        self._energy = 0.0
        self._filled = 0
        self._block_start += BLOCK

    cdef void _track(self, int s, bint on, double tone) except *:
        cdef Source *src = &self._sources[s]
        cdef int p
        if on:
            if not src.on:
                src.run_start = self._block_start
                src.before_power = src.previous_power
                src.first_power = src.peak_power = tone
            src.peak_power = max(src.peak_power, tone)
            src.last_power = tone
            src.run_end = self._block_start + BLOCK
            src.off_samples = 0
            for p in range(self._n_plans):
                if (self._plans[p].source == s and self._plans[p].n_cadence == 0
                        and not self._plans[p].reported
                        and src.run_end - src.run_start >= self._plans[p].continuous_after):
                    self._report(p, <double>src.run_start)
        else:
            if src.on:
                self._close_run(s, tone)
            src.off_samples += BLOCK
            for p in range(self._n_plans):
                if self._plans[p].source == s and src.off_samples >= self._plans[p].quiet_limit:
                    self._plans[p].reported = False
        src.on = on
        src.previous_power = tone

    cdef void _close_run(self, int s, double after_power) except *:
        """The run of "on" blocks just ended: place its edges, add it to the history, match."""
        cdef Source *src = &self._sources[s]
        cdef double start, end, gap
        cdef int p
        start = (src.run_start + (1.0 - _coverage(src.first_power, src.peak_power)) * BLOCK
                 - _coverage(src.before_power, src.peak_power) * BLOCK)
        end = (src.run_end - (1.0 - _coverage(src.last_power, src.peak_power)) * BLOCK
               + _coverage(after_power, src.peak_power) * BLOCK)
        if self._trace is not None and s == 0:
            self._trace.append((start, end))
        if src.last_end >= 0.0:
            gap = start - src.last_end
            if gap < BLOCK / 2.0 and src.n_segments:
                # a block that failed the test inside a burst: bridge it
                src.n_segments -= 1
                start = src.segment_start[src.n_segments]
            else:
                self._push(src, src.last_end, gap)
        self._push(src, start, end - start)
        src.last_end = end
        for p in range(self._n_plans):
            if self._plans[p].source == s and self._plans[p].n_cadence and not self._plans[p].reported:
                self._match(p, src)

    cdef void _push(self, Source *src, double start, double length) noexcept nogil:
        if src.n_segments == MAX_SEGMENTS:
            memmove(src.segment_start, src.segment_start + 1, (MAX_SEGMENTS - 1) * sizeof(double))
            memmove(src.segment_length, src.segment_length + 1, (MAX_SEGMENTS - 1) * sizeof(double))
            src.n_segments -= 1
        src.segment_start[src.n_segments] = start
        src.segment_length[src.n_segments] = length
        src.n_segments += 1

    cdef void _match(self, int p, Source *src) except *:
        """Do the newest segments (bursts and gaps, ending with a burst) follow plan p's cadence?"""
        cdef Plan *plan = &self._plans[p]
        cdef int first = src.n_segments - plan.required, rotation, j
        cdef double nominal
        cdef bint fits
        if first < 0:
            return
        for rotation in range(0, plan.n_cadence, 2):     # rotations that start with a burst
            fits = True
            for j in range(plan.required):
                nominal = plan.cadence[(rotation + j) % plan.n_cadence]
                if abs(src.segment_length[first + j] - nominal) > self._tolerance * nominal + self._slack:
                    fits = False
                    break
            if fits:
                self._report(p, src.segment_start[first])
                return

    cdef void _report(self, int p, double start) except *:
        self._plans[p].reported = True
        if self._events is not None:
            self._events.append(CallProgressEvent(self._kinds[p], max(int(round(start)), 0)))


cdef inline double _coverage(double power, double peak) noexcept nogil:
    """Part of a block a tone covers, from its power against a fully covered block's."""
    if peak <= 0.0 or power <= 0.0:
        return 0.0
    if power >= peak:
        return 1.0
    return sqrt(power / peak)


# ------------------------------------------------------------------ learning a line's tone
LEARN_MIN_RUN_BLOCKS = 3        # a burst shorter than 60 ms does not count for the spectrum
LEARN_FFT_SIZE = 16384          # 0.5 Hz bins for the frequency search
LEARN_BAND_HZ = (100.0, 3000.0) # where call-progress tones live
LEARN_ACTIVE_DB = 10.0          # blocks within this of the loudest are the tone's bursts
LEARN_SECOND_TONE_DB = 10.0     # a second peak this far below the first still counts
MAX_LEARNED_PERIOD = 3          # bursts in the longest cadence cycle looked for


def _learn_frequencies(samples):
    """The tone's one or two frequencies: peaks of the summed spectra of its bursts."""
    blocks = samples[:samples.size // BLOCK * BLOCK].reshape(-1, BLOCK)
    energy = np.mean(blocks * blocks, axis=1)
    loudest = float(energy.max(initial=0.0))
    active = energy >= loudest * 10 ** (-LEARN_ACTIVE_DB / 10)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    runs = [(a, b) for a, b in zip(edges[0::2], edges[1::2]) if b - a >= LEARN_MIN_RUN_BLOCKS]
    if loudest <= 0.0 or not runs:
        raise ValueError("no tone found: the recording has no steady bursts of sound")
    spectrum = np.zeros(LEARN_FFT_SIZE // 2 + 1)
    shortest = min(b - a for a, b in runs) - 2
    for a, b in runs:
        burst = samples[(a + 1) * BLOCK:(b - 1) * BLOCK][:LEARN_FFT_SIZE]   # edges left out
        window = np.hanning(burst.size)
        spectrum += np.abs(np.fft.rfft(burst * window, LEARN_FFT_SIZE)) ** 2 / np.sum(window ** 2)
    bin_hz = SAMPLE_RATE_HZ / LEARN_FFT_SIZE
    low, high = (int(f / bin_hz) for f in LEARN_BAND_HZ)
    band = spectrum[low:high]
    main_lobe_hz = 2.0 * SAMPLE_RATE_HZ / (shortest * BLOCK)      # Hann: first nulls at +-2 bins
    first = int(np.argmax(band))
    peaks = [first]
    masked = band.copy()
    masked[max(first - int(main_lobe_hz / bin_hz) - 1, 0):first + int(main_lobe_hz / bin_hz) + 2] = 0.0
    second = int(np.argmax(masked))
    if masked[second] >= band[first] * 10 ** (-LEARN_SECOND_TONE_DB / 10):
        peaks.append(second)
    frequencies = []
    for k in peaks:
        offset = 0.0
        if 0 < k < band.size - 1:
            # the vertex of the parabola through the log powers of the peak bin and its neighbours
            left, centre, right = np.log(band[k - 1:k + 2] + np.finfo(float).tiny)
            curvature = left - 2 * centre + right
            if curvature < 0:
                offset = 0.5 * (left - right) / curvature
        frequencies.append(round((low + k + offset) * bin_hz, 1))
    return tuple(sorted(frequencies))


def _learn_cadence(bursts, tolerance, slack):
    """The shortest cycle of bursts and gaps that repeats through the recording, averaged."""
    segments = []
    for k, (start, end) in enumerate(bursts):
        if k:
            segments.append(start - bursts[k - 1][1])
        segments.append(end - start)
    if len(segments) < 3:
        raise ValueError("no cadence found: fewer than two whole bursts (record a few seconds of tone)")
    for period in range(1, MAX_LEARNED_PERIOD + 1):
        length = 2 * period
        if len(segments) < length + 1:
            break
        cycle = [float(np.mean(segments[k::length])) for k in range(length)]
        if all(abs(value - cycle[k % length]) <= tolerance * cycle[k % length] + slack
               for k, value in enumerate(segments)):
            return tuple(round(value * 1000.0 / SAMPLE_RATE_HZ, 1) for value in cycle)
    raise ValueError("no cadence found: the bursts and gaps do not repeat")


def learn_tone(pcm, *, min_level_dbm0=DEFAULT_MIN_LEVEL_DBM0, tolerance=DEFAULT_TOLERANCE):
    """A line's call-progress tone (e.g. its busy tone), learnt from a recording of a few cycles:
    a ``TonePlan`` of its frequencies, level (per frequency) and cadence, to give to
    ``CallProgressDetector(extra_plans={"busy": plan})``. Raises ``ValueError`` when the recording
    holds no steady, repeating tone."""
    cdef cnp.ndarray a = _checked_pcm(pcm)
    samples = np.asarray(a, dtype=np.float64)
    frequencies = _learn_frequencies(samples)
    probe = TonePlan(frequencies, DEFAULT_MIN_LEVEL_DBM0)
    cdef CallProgressDetector detector = CallProgressDetector(
        None, extra_plans={"learning": probe}, min_level_dbm0=min_level_dbm0, tolerance=tolerance)
    detector._trace = []
    detector.process(a)
    # the first and last bursts may be cut by the recording's ends
    bursts = [(start, end) for start, end in detector._trace
              if start > BLOCK and end < a.shape[0] - BLOCK]
    tone_blocks = []
    for start, end in bursts:
        inner = samples[int(start) + BLOCK:int(end) - BLOCK]
        if inner.size:
            tone_blocks.append(np.mean(inner * inner))
    cadence = _learn_cadence(bursts, detector._tolerance, detector._slack)
    level = power_to_dbm0(float(np.median(tone_blocks)) / len(frequencies)) if tone_blocks else min_level_dbm0
    return TonePlan(frequencies, round(level, 1), cadence)


# ------------------------------------------------------------------ ring cadence
RING_EDGE_SLACK_MS = 20.0       # a ring detector's debounce, added to the tolerance
# The ring cadence of each country is that of its ringback tone: the ringback a caller hears
# follows the ringing of the called line (GR-506 2 s / 4 s; BT SIN 351 0.4/0.2/0.4/2.0 s; ETSI
# 1 s / 4 s; China 1 s / 4 s), and TONE_PLANS already holds those cadences.
RING_CADENCES = {country: TONE_PLANS[country]["ringback"].cadence_ms for country in COUNTRIES}


cdef class RingCadenceDetector:
    """Ring cadences from the ring on/off edges a line card reports: ``process(ringing, at)``
    (``ringing`` True at a rising edge, ``at`` in samples) -> [RingCadenceEvent]. ``cadences``
    maps names to on/off durations in ms; by default ``RING_CADENCES``. An event comes at the ring
    that completes one whole matching cycle, and again only if the classification changes.
    """

    cdef dict _cadences                 # name -> cadence in samples
    cdef double _tolerance, _slack      # fraction; samples
    cdef double _longest_gap            # samples: a longer silence starts a new ringing episode
    cdef list _times                    # edge times of the episode, the latest few, from a ring's start
    cdef Py_ssize_t _kept_edges         # enough for the longest cadence and the ring after it
    cdef bint _ringing                  # the state after the last edge
    cdef tuple _reported

    def __init__(self, cadences=None, tolerance=DEFAULT_TOLERANCE):
        cadences = RING_CADENCES if cadences is None else cadences
        self._cadences = {}
        for name, cadence in dict(cadences).items():
            values = tuple(_finite("cadence", ms) for ms in cadence)
            if not values or len(values) % 2 or any(ms <= 0 for ms in values):
                raise ValueError(f"cadence {name!r} must be on/off pairs of durations > 0 ms, got {cadence}")
            self._cadences[str(name)] = tuple(ms * SAMPLE_RATE_HZ / 1000.0 for ms in values)
        if not self._cadences:
            raise ValueError("no cadences to recognise")
        self._tolerance = _finite("tolerance", tolerance)
        if not 0.0 <= self._tolerance < 0.5:
            raise ValueError(f"tolerance must be in [0, 0.5), got {tolerance!r}")
        self._slack = ms_to_samples(RING_EDGE_SLACK_MS)
        longest_gap = max(max(cadence[1::2]) for cadence in self._cadences.values())
        self._longest_gap = longest_gap * (1 + self._tolerance) + self._slack
        self._kept_edges = max(len(cadence) for cadence in self._cadences.values()) + 1
        self.reset()

    def reset(self):
        self._times = []
        self._ringing = False
        self._reported = ()

    def process(self, ringing, at):
        """One edge: ``ringing`` (bool) is the new state, ``at`` its sample time (non-decreasing)."""
        cdef bint rising = bool(ringing)
        cdef Py_ssize_t n = len(self._times)
        at = operator.index(at)
        if n and at < self._times[n - 1]:
            raise ValueError(f"edges must come in time order: {at} after {self._times[n - 1]}")
        if rising == self._ringing:
            return []                                   # no change of state: nothing to add
        self._ringing = rising
        if rising and n and at - self._times[n - 1] > self._longest_gap:
            self._times, self._reported, n = [], (), 0  # a new call: forget the last one's rings
        if not rising and not n:
            return []                                   # a ring already under way when we started
        self._times.append(at)
        if not rising:
            return []
        # keep whole cycles' worth of edges, starting at a ring's start (even positions)
        drop = max(n + 1 - self._kept_edges, 0)
        del self._times[:drop]                          # even: both counts are odd
        times = self._times
        segments = [times[k + 1] - times[k] for k in range(len(times) - 1)]   # ring, silence, ...
        matched = tuple(name for name, cadence in self._cadences.items() if self._fits(segments, cadence))
        if not matched or matched == self._reported:
            return []
        self._reported = matched
        first = len(segments) - len(self._cadences[matched[0]])
        return [RingCadenceEvent(matched, times[first])]

    def _fits(self, list segments, tuple cadence):
        """Called at a ring's start, so ``segments`` has even length and the window starts with a ring."""
        cdef Py_ssize_t size = len(cadence), first = len(segments) - len(cadence)
        if first < 0:
            return False
        return any(all(abs(segments[first + j] - cadence[(rotation + j) % size])
                       <= self._tolerance * cadence[(rotation + j) % size] + self._slack
                       for j in range(size))
                   for rotation in range(0, size, 2))
