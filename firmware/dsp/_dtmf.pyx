# cython: language_level=3
"""DTMF receiver to ITU-T Q.24 (the AT&T column): 8 kHz int16 samples in, DtmfEvent records out.

What does it do?  It reports each DTMF digit once, as soon as it is recognised (about 40 ms after the
tone began), with the sample index where its tone began. It accepts tones whose frequencies are within
1.5 % of nominal and rejects them from 3.5 % off, accepts -25 to -3 dBm0 per tone, twist from -8 to
+4 dB, 40 ms tones and 40 ms pauses, bridges 10 ms breaks, rejects 23 ms tones, and stays quiet on
speech.

How does it work?  Every hop of 5 ms it correlates the last 12.5 ms (Hann window) with the eight DTMF
frequencies and picks the strongest row and column tone. A hop is valid for that digit when both
tones are loud enough, their twist is within limits, they carry most of the window's energy, and each
tone's true frequency, measured from how far its phase advanced since the previous hop
(offset = delta phase / (2 pi hop)), is within 2.5 % of nominal: plain magnitudes cannot tell 1.5 %
from 3.5 %, but the phase advance can. A digit starts after START_HOPS valid hops in a row (30 ms:
40 ms tones pass, 23 ms tones do not), if two more checks against speech pass: the tones' level has
been steady (a vowel swells), and over a longer window no frequency away from the two tones holds
much energy (speech that puts two harmonics on a DTMF pair has other harmonics between and around
them; white noise spreads thin). A digit ends after END_HOPS hops that are not valid for it, so a
10 ms break is bridged and a 40 ms pause is not. All of it runs in a ``nogil`` loop over the raw
samples; the Python entry point only checks its argument and turns the recognised digits into events.
"""
cimport cython
cimport numpy as cnp
from libc.math cimport M_PI, atan2, cos, fabs, sin, tan
from libc.stdint cimport int16_t, int64_t
from libc.string cimport memmove, memset

from firmware.dsp.events import DtmfEvent
from firmware.dsp.levels import SAMPLE_RATE_HZ, dbm0_to_power

cdef extern from "_dtmf_simd.h" nogil:
    float dtmf_window_energy(const float *x, const float *window, int n)
    void dtmf_correlate_folded(const float *x, int half, const float *cos_folded,
                               const float *sin_folded, float *re, float *im)

cnp.import_array()

cdef enum:
    TONES = 8               # four row (low-group) and four column (high-group) frequencies
    HOP = 40                # samples: 5 ms between analyses
    WINDOW = 100            # samples: 12.5 ms Hann window of each analysis (a multiple of 4)
    HALF = WINDOW // 2      # samples: the window folded about its centre
    PURITY_WINDOW = 200     # samples: 25 ms Hann window of the purity check (the tone has lasted
                            # about 40 ms when it runs, so this window lies within it)
    PROBES = 44             # purity probes, 300 to 2020 Hz in 40 Hz steps (one bin of PURITY_WINDOW)
    START_HOPS = 6          # valid hops in a row (30 ms) that start a digit: 40 ms tones give 7 or more,
                            # 23 ms tones at most 5
    END_HOPS = 6            # hops in a row not valid for the digit (30 ms) that end it: a 10 ms break
                            # gives at most 4, a 40 ms pause at least 8
    STEADY_FROM = 3         # first valid hop of a run whose window lies wholly within the tone
    EVENT_ROOM = 64         # digits held before process() turns them into events

cdef double PROBE_LOW_HZ = 300.0        # Hz
cdef double PROBE_STEP_HZ = 40.0        # Hz
cdef double PROBE_GUARD_BINS = 1.9      # probes nearer a tone than this (in bins of PURITY_WINDOW)
                                        # would see the tone's own main lobe (zero from 2 bins on)
cdef double MIN_TONE_DBM0 = -40.0       # dBm0 per tone: Q.24 accepts -25, rejects -55
cdef double MIN_TWIST_DB = -12.0        # dB, high-group level minus low-group: Q.24 accepts -8 ...
cdef double MAX_TWIST_DB = 8.0          # dB ... to +4
cdef double MIN_TONE_SHARE = 0.7        # of the window's energy carried by the two tones (white
                                        # noise at 10 dB SNR leaves them 0.9)
cdef double MAX_DEVIATION = 0.025       # relative frequency error: Q.24 accepts 1.5 %, rejects 3.5 %
cdef double MAX_PROBE_DB = -16.0        # dB, strongest probe relative to the two tones together
cdef double MAX_LEVEL_SPREAD_DB = 3.0   # dB, spread of the tones' power over a digit's valid hops,
                                        # from the STEADY_FROM-th on: a DTMF tone is steady, a vowel
                                        # that puts two harmonics on a DTMF pair usually swells

DTMF_LOW_HZ = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
DIGITS = "123A456B789C*0#D"              # row-major keypad: row = low-group tone, column = high

# ------------------------------------------------------------------ tables, built once at import
# The window is symmetric about its centre, so the correlation with exp(-j omega t), t measured
# from the centre, needs only half the products: x(t) + x(-t) against w cos(omega t), and
# x(t) - x(-t) against -w sin(omega t).
cdef float COS_FOLDED[HALF][TONES]      # Hann * cos(omega t), t = k - (WINDOW - 1) / 2 < 0
cdef float SIN_FOLDED[HALF][TONES]      # -Hann * sin(omega t)
cdef float HANN[WINDOW]
cdef float PURITY_HANN[PURITY_WINDOW]
cdef float PROBE_COEFFS[PROBES]         # Goertzel coefficient 2 cos(omega) of each probe
cdef double PROBE_HZ[PROBES]
cdef double TONE_HZ[TONES]
cdef double HOP_ADVANCE[TONES]          # omega hop: the nominal phase advance per hop, rad
cdef double HOP_TURN_RE[TONES]          # exp(-j omega hop)
cdef double HOP_TURN_IM[TONES]
cdef double TAN_MAX_ADVANCE[TONES]      # tan of the extra phase advance per hop at MAX_DEVIATION
cdef double MIN_TONE_CORR2              # |correlation|^2 of a tone at MIN_TONE_DBM0
cdef double MIN_WINDOW_ENERGY           # Hann-weighted energy below which no tone can be valid
cdef double MIN_TWIST_RATIO, MAX_TWIST_RATIO, TONE_SHARE_CORR2, PROBE_GUARD_HZ, MAX_LEVEL_SPREAD
cdef double PROBE_LIMIT_PER_CORR2       # strongest probe's Goertzel power allowed, per unit of the
                                        # two tones' |correlation|^2


cdef double _hann(int k, int n) noexcept:
    return 0.5 - 0.5 * cos(2.0 * M_PI * (k + 0.5) / n)


cdef void _build_tables():
    global MIN_TONE_CORR2, MIN_WINDOW_ENERGY, MIN_TWIST_RATIO, MAX_TWIST_RATIO, TONE_SHARE_CORR2
    global PROBE_LIMIT_PER_CORR2, PROBE_GUARD_HZ, MAX_LEVEL_SPREAD
    cdef int k, f
    cdef double omega, t, hann_sum = 0.0, purity_sum = 0.0
    for f in range(TONES):
        TONE_HZ[f] = (DTMF_LOW_HZ + DTMF_HIGH_HZ)[f]
    for k in range(WINDOW):
        HANN[k] = _hann(k, WINDOW)
        hann_sum += HANN[k]
    for k in range(HALF):
        t = k - (WINDOW - 1) / 2.0
        for f in range(TONES):
            omega = 2.0 * M_PI * TONE_HZ[f] / SAMPLE_RATE_HZ
            COS_FOLDED[k][f] = HANN[k] * cos(omega * t)
            SIN_FOLDED[k][f] = -HANN[k] * sin(omega * t)
    for f in range(TONES):
        omega = 2.0 * M_PI * TONE_HZ[f] / SAMPLE_RATE_HZ
        HOP_ADVANCE[f] = omega * HOP
        HOP_TURN_RE[f] = cos(omega * HOP)
        HOP_TURN_IM[f] = -sin(omega * HOP)
        TAN_MAX_ADVANCE[f] = tan(MAX_DEVIATION * omega * HOP)      # below pi/2 for every tone
    for k in range(PURITY_WINDOW):
        PURITY_HANN[k] = _hann(k, PURITY_WINDOW)
        purity_sum += PURITY_HANN[k]
    for k in range(PROBES):
        PROBE_HZ[k] = PROBE_LOW_HZ + k * PROBE_STEP_HZ
        PROBE_COEFFS[k] = 2.0 * cos(2.0 * M_PI * PROBE_HZ[k] / SAMPLE_RATE_HZ)
    # A sine of mean square p gives |sum(w x exp(-j omega k))|^2 = p (sum w)^2 / 2, and
    # |correlation|^2 <= (sum w x^2)(sum w) (Cauchy-Schwarz) bounds what a window can hold.
    MIN_TONE_CORR2 = dbm0_to_power(MIN_TONE_DBM0) * hann_sum * hann_sum / 2.0
    MIN_WINDOW_ENERGY = MIN_TONE_CORR2 / hann_sum
    MIN_TWIST_RATIO = 10.0 ** (MIN_TWIST_DB / 10.0)
    MAX_TWIST_RATIO = 10.0 ** (MAX_TWIST_DB / 10.0)
    TONE_SHARE_CORR2 = MIN_TONE_SHARE * hann_sum / 2.0
    MAX_LEVEL_SPREAD = 10.0 ** (MAX_LEVEL_SPREAD_DB / 10.0)
    PROBE_LIMIT_PER_CORR2 = 10.0 ** (MAX_PROBE_DB / 10.0) * (purity_sum / hann_sum) ** 2
    PROBE_GUARD_HZ = PROBE_GUARD_BINS * SAMPLE_RATE_HZ / PURITY_WINDOW

_build_tables()


# ------------------------------------------------------------------ argument check
cdef inline cnp.ndarray _checked_pcm(object pcm):
    if not isinstance(pcm, cnp.ndarray):
        raise TypeError(f"pcm must be a numpy int16 array, got {type(pcm).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>pcm
    if cnp.PyArray_TYPE(a) != cnp.NPY_INT16:
        raise TypeError(f"pcm must be int16, got {pcm.dtype}")
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"pcm must be 1-D, got shape {pcm.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError("pcm must be contiguous (use numpy.ascontiguousarray)")
    if not cnp.PyArray_ISNOTSWAPPED(a):
        raise ValueError("pcm must be in native byte order (use pcm.astype(numpy.int16))")
    return a


# ------------------------------------------------------------------ the receiver
@cython.final
cdef class DtmfDetector:
    """ITU-T Q.24 DTMF receiver at 8 kHz. ``process(pcm)`` takes int16 samples in chunks of any size
    and returns the digits recognised in this chunk as ``DtmfEvent(digit, start)``, ``start`` being
    the sample index (from the start of the stream) where the tone began. Not thread-safe."""

    cdef float history[PURITY_WINDOW + HOP]  # last PURITY_WINDOW samples, then the hop being filled
    cdef int filled                      # samples of the current hop received so far
    cdef int64_t hop_end                 # stream index just past the last completed hop
    cdef float prev_re[TONES]            # correlations of the previous hop
    cdef float prev_im[TONES]
    cdef double prev_corr2[TONES]        # and their |.|^2
    cdef bint prev_valid                 # the previous hop was loud enough to be analysed
    cdef double row_re, row_im           # phase advance of the chosen row and column tones, less the
    cdef double col_re, col_im           # nominal one, last hop (see _advance)
    cdef double steady_min, steady_max   # range of pair_corr2 over the run, from hop STEADY_FROM on
    cdef double pair_corr2               # |correlation|^2 of the two tones together, last hop
    cdef int candidate                   # digit (0-15) valid in the last hops, or -1
    cdef int run                         # how many hops in a row it has been valid
    cdef int current                     # digit being received (reported already), or -1
    cdef int misses                      # hops in a row not valid for the current digit
    cdef int n_events                    # recognised digits waiting in the arrays below
    cdef int event_digit[EVENT_ROOM]
    cdef int64_t event_start[EVENT_ROOM]
    cdef bint busy                       # process() is running (it lets go of the GIL)

    def __init__(self):
        self._check_idle()
        self._clear()

    def reset(self):
        """Forgets everything heard: the next sample is sample 0 of a new stream."""
        self._check_idle()
        self._clear()

    cdef void _check_idle(self) except *:
        if self.busy:
            raise RuntimeError("this DtmfDetector is in use by another thread; use one per thread")

    cdef void _clear(self) noexcept:
        memset(self.history, 0, sizeof(self.history))
        self.filled = 0
        self.hop_end = 0
        self.prev_valid = False
        self.candidate = -1
        self.run = 0
        self.current = -1
        self.misses = 0
        self.n_events = 0

    def process(self, pcm):
        """Feeds int16 samples (1-D, contiguous); returns the digits recognised in them, in order."""
        cdef cnp.ndarray a = _checked_pcm(pcm)
        cdef const int16_t *samples = <const int16_t *>cnp.PyArray_DATA(a)
        cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0), done = 0
        cdef list events = None
        cdef int i
        self._check_idle()
        self.busy = True
        try:
            while True:
                with nogil:
                    done += self._consume(samples + done, n - done)
                if self.n_events:
                    if events is None:
                        events = []
                    for i in range(self.n_events):
                        events.append(DtmfEvent(DIGITS[self.event_digit[i]], self.event_start[i]))
                    self.n_events = 0
                if done == n:
                    return events if events is not None else []
        finally:
            self.busy = False

    cdef Py_ssize_t _consume(self, const int16_t *samples, Py_ssize_t n) noexcept nogil:
        """Takes samples until they run out or the event arrays are full; returns how many."""
        cdef Py_ssize_t done = 0, take, k
        cdef float *hop_in
        while done < n:
            take = min(<Py_ssize_t>(HOP - self.filled), n - done)
            hop_in = self.history + PURITY_WINDOW + self.filled
            for k in range(take):
                hop_in[k] = samples[done + k]
            self.filled += take
            done += take
            if self.filled == HOP:
                self.filled = 0
                self.hop_end += HOP
                self._track(self._analyse())
                memmove(self.history, self.history + HOP, PURITY_WINDOW * sizeof(float))
                if self.n_events == EVENT_ROOM:
                    break
        return done

    cdef int _analyse(self) noexcept nogil:
        """The digit (0-15) this hop's window is valid for, or -1."""
        cdef const float *x = self.history + HOP + PURITY_WINDOW - WINDOW
        cdef float re[TONES]
        cdef float im[TONES]
        cdef int f, row, col
        cdef double corr2[TONES]
        cdef double energy = dtmf_window_energy(x, HANN, WINDOW)
        if energy < MIN_WINDOW_ENERGY:
            self.prev_valid = False
            return -1
        dtmf_correlate_folded(x, HALF, &COS_FOLDED[0][0], &SIN_FOLDED[0][0], re, im)
        for f in range(TONES):
            corr2[f] = <double>re[f] * re[f] + <double>im[f] * im[f]
        row = 0
        for f in range(1, 4):
            if corr2[f] > corr2[row]:
                row = f
        col = 4
        for f in range(5, TONES):
            if corr2[f] > corr2[col]:
                col = f
        cdef int digit = -1
        if self._pair_valid(re, im, corr2, row, col, energy):
            digit = 4 * row + col - 4
        for f in range(TONES):
            self.prev_re[f] = re[f]
            self.prev_im[f] = im[f]
            self.prev_corr2[f] = corr2[f]
        self.prev_valid = True
        return digit

    cdef bint _pair_valid(self, const float *re, const float *im, const double *corr2, int row,
                          int col, double energy) noexcept nogil:
        cdef double low = corr2[row], high = corr2[col]
        if not self.prev_valid or low < MIN_TONE_CORR2 or high < MIN_TONE_CORR2:
            return False
        if self.prev_corr2[row] < MIN_TONE_CORR2 or self.prev_corr2[col] < MIN_TONE_CORR2:
            return False
        if high < MIN_TWIST_RATIO * low or high > MAX_TWIST_RATIO * low:
            return False
        if low + high < TONE_SHARE_CORR2 * energy:
            return False
        self.row_re, self.row_im = self._advance(re[row], im[row], row)
        self.col_re, self.col_im = self._advance(re[col], im[col], col)
        if not (_within_deviation(self.row_re, self.row_im, row)
                and _within_deviation(self.col_re, self.col_im, col)):
            return False
        self.pair_corr2 = low + high
        return True

    cdef (double, double) _advance(self, double re, double im, int f) noexcept nogil:
        """This hop's correlation times the conjugate of the previous one, less the nominal advance:
        its angle is the tone's extra phase advance per hop, 2 pi (true - nominal frequency) hop."""
        cdef double dot = re * self.prev_re[f] + im * self.prev_im[f]
        cdef double cross = im * self.prev_re[f] - re * self.prev_im[f]
        return (dot * HOP_TURN_RE[f] - cross * HOP_TURN_IM[f],
                dot * HOP_TURN_IM[f] + cross * HOP_TURN_RE[f])

    cdef void _track(self, int digit) noexcept nogil:
        """The state machine over hops: start, bridge breaks, end; records recognised digits."""
        if digit >= 0 and digit == self.candidate:
            self.run += 1
            if self.run == STEADY_FROM:
                self.steady_min = self.steady_max = self.pair_corr2
            elif self.run > STEADY_FROM:
                self.steady_min = min(self.steady_min, self.pair_corr2)
                self.steady_max = max(self.steady_max, self.pair_corr2)
        elif digit >= 0:
            self.candidate = digit
            self.run = 1
        else:
            self.candidate = -1
            self.run = 0
        if self.current >= 0:
            if digit == self.current:
                self.misses = 0
            else:
                self.misses += 1
                if self.misses >= END_HOPS:
                    self.current = -1
        if (self.candidate >= 0 and self.candidate != self.current and self.run >= START_HOPS
                and self.steady_max <= MAX_LEVEL_SPREAD * self.steady_min
                and self._pure()):
            self.current = self.candidate
            self.misses = 0
            self.event_digit[self.n_events] = self.candidate
            # The first valid window held the tone over about all but its first half hop.
            self.event_start[self.n_events] = max(
                <int64_t>0, self.hop_end - (START_HOPS - 1) * HOP - WINDOW + HOP // 2)
            self.n_events += 1

    cdef bint _pure(self) noexcept nogil:
        """No probe frequency away from the candidate's two tones holds much energy (Goertzel
        filters over the last PURITY_WINDOW samples, all probes at once)."""
        cdef const float *x = self.history + HOP
        cdef float s1[PROBES]
        cdef float s2[PROBES]
        cdef float s0, xk
        cdef int k, p
        cdef int row = self.candidate // 4, col = 4 + self.candidate % 4
        cdef double row_hz = TONE_HZ[row] * (1.0 + atan2(self.row_im, self.row_re) / HOP_ADVANCE[row])
        cdef double col_hz = TONE_HZ[col] * (1.0 + atan2(self.col_im, self.col_re) / HOP_ADVANCE[col])
        for p in range(PROBES):
            s1[p] = 0.0
            s2[p] = 0.0
        for k in range(PURITY_WINDOW):
            xk = x[k] * PURITY_HANN[k]
            for p in range(PROBES):
                s0 = xk + PROBE_COEFFS[p] * s1[p] - s2[p]
                s2[p] = s1[p]
                s1[p] = s0
        cdef double limit = self.pair_corr2 * PROBE_LIMIT_PER_CORR2, power
        for p in range(PROBES):
            if (fabs(PROBE_HZ[p] - row_hz) < PROBE_GUARD_HZ
                    or fabs(PROBE_HZ[p] - col_hz) < PROBE_GUARD_HZ):
                continue
            power = <double>s1[p] * s1[p] + <double>s2[p] * s2[p] - PROBE_COEFFS[p] * s1[p] * s2[p]
            if power > limit:
                return False
        return True


cdef inline bint _within_deviation(double re, double im, int f) noexcept nogil:
    """The angle of (re, im) is within +-MAX_DEVIATION of the tone's nominal advance per hop."""
    return re > 0.0 and fabs(im) <= TAN_MAX_ADVANCE[f] * re
