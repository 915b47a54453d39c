# cython: language_level=3
"""Caller ID FSK at 1200 baud: Bell 202 and ITU-T V.23 modulation and demodulation.

What does it do?  ``fsk_modulate`` turns a caller ID message (bytes, as ``callerid.py`` encodes
them) into the FSK burst an exchange sends: channel seizure, mark signal, then each byte framed as
a UART character (start bit 0, eight data bits LSB first, stop bit 1). ``FskReceiver`` does the
reverse on a stream: int16 samples in, the UART bytes it recovers out, whatever the chunking.

The two systems differ only in their tones: Bell 202 (Telcordia GR-30-CORE) marks a 1 with
1200 Hz and a 0 with 2200 Hz; V.23 (ETSI EN 300 659-1, ITU-T V.23 forward channel) with 1300 and
2100 Hz. Both seizures are the same bits: GR-30's 30 bytes of 0x55 are, with their start and stop
bits, exactly EN 300 659-1's 300 alternating bits starting with 0. China (YDN 069) uses Bell 202's
tones, 1200 +-12 Hz and 2200 +-22 Hz, sent between the first and second ring, with the SDMF/MDMF
layout: so "bell202" is what to send there, and since the receiver reads both systems with no
setting, a Chinese exchange that sends V.23 tones instead is read too.

How does it work?  Both pairs of tones sit symmetrically about 1700 Hz, so the receiver needs no
setting: it mixes the line down by 1700 Hz to a complex baseband where a mark is a negative and a
space a positive frequency (+-500 Hz Bell, +-400 Hz V.23), low-pass filters it (which removes the
image, DC and most of the noise), and takes the phase step between successive samples
(Im(z[n] z*[n-1]), a quadrature discriminator: no division, no arctangent) whose sign is the bit.
In the code the low-pass is moved up to 1700 Hz instead (a complex band-pass on the real line,
run tap by tap over 256-sample chunks so that it vectorises), and the mixing down becomes one
constant rotation of that product.
Carrier drift of a few per cent moves both tones the same way and leaves the sign alone. A UART
state machine finds each start bit as the mark-to-space zero crossing of the discriminator,
interpolated to a fraction of a sample, then integrates the discriminator over the middle 60 % of
each of the ten bit periods and slices the sums (from the middle of the stop bit on it also
watches for the next start bit, which short bits can bring early); so timing restarts on every
byte, as in an asynchronous receiver, and a +-1 % baud error costs a tenth of a bit at most.
A false start (the start bit integrates to mark) or a framing error (the stop bit is space) drops
the character. A smoothed power measure with hysteresis gates it all, so silence and faint noise
give no bytes. (spandsp's fsk.c correlates against the two tones instead; this receiver reads
both systems with one setting.)
"""
cimport numpy as cnp
from libc.math cimport M_PI, cos, floor, sin
from libc.stdint cimport INT16_MAX, int16_t, int64_t
from libc.string cimport memmove

import math
import numbers
import operator

from .levels import SAMPLE_RATE_HZ, dbm0_to_amplitude

cnp.import_array()

BAUD = 1200                                              # bits per second, both systems
FSK_STANDARDS = {                                        # name -> (mark, space) in Hz
    "bell202": (1200.0, 2200.0),                         # Telcordia GR-30-CORE; also China, YDN 069
    "v23": (1300.0, 2100.0),                             # ETSI EN 300 659-1 / ITU-T V.23
}
CENTRE_HZ = 1700                                         # midway between mark and space in both
SEIZURE_BITS = 300                                       # EN 300 659-1; = GR-30's 30 x 0x55 characters
MARK_BITS = 180                                          # EN 300 659-1 (180 +- 25) and GR-30 (180)
DEFAULT_LEVEL_DBM0 = -13.0                               # a typical exchange's send level
FILTER_CUTOFF_HZ = 600.0                                 # of the baseband low-pass (tones at 400-500 Hz)
POWER_TIME_CONSTANT_MS = 5.0                             # of the carrier-detect power smoother
CARRIER_HYSTERESIS_DB = 3.0                              # carrier drops this far below the turn-on level
DEFAULT_MIN_LEVEL_DBM0 = -42.0                           # weakest burst received

cdef enum:
    FILTER_TAPS = 21        # baseband low-pass length (odd: linear phase, integer delay)
    CHUNK = 256             # samples filtered at a time
    UART_BITS = 10          # start + 8 data + stop
    HUNTING = -1            # UART state: waiting for a start bit

cdef double FILTER[FILTER_TAPS]             # the baseband low-pass
cdef float BAND_RE[FILTER_TAPS]             # the same moved up to CENTRE_HZ: FILTER[k] e^(j w k),
cdef float BAND_IM[FILTER_TAPS]             # w = 2 pi CENTRE_HZ / fs
cdef double STEP_COS = cos(2.0 * M_PI * CENTRE_HZ / SAMPLE_RATE_HZ)     # cos w, sin w
cdef double STEP_SIN = sin(2.0 * M_PI * CENTRE_HZ / SAMPLE_RATE_HZ)
cdef double SAMPLES_PER_BIT = <double>SAMPLE_RATE_HZ / BAUD
cdef double BIT_GUARD = 0.2                 # of a bit ignored at each end when slicing it


cdef void _build_tables():
    cdef int k
    cdef double w
    # Windowed sinc (Blackman), unity gain at DC.
    cdef double total = 0.0, centre = (FILTER_TAPS - 1) / 2.0, t, fc = FILTER_CUTOFF_HZ / SAMPLE_RATE_HZ
    for k in range(FILTER_TAPS):
        t = k - centre
        w = 2.0 * M_PI * k / (FILTER_TAPS - 1)
        w = 0.42 - 0.5 * cos(w) + 0.08 * cos(2.0 * w)                  # the Blackman window
        FILTER[k] = w * (2.0 * fc if t == 0 else sin(2.0 * M_PI * fc * t) / (M_PI * t))
        total += FILTER[k]
    for k in range(FILTER_TAPS):
        FILTER[k] /= total
        BAND_RE[k] = <float>(FILTER[k] * cos(2.0 * M_PI * CENTRE_HZ * k / SAMPLE_RATE_HZ))
        BAND_IM[k] = <float>(FILTER[k] * sin(2.0 * M_PI * CENTRE_HZ * k / SAMPLE_RATE_HZ))


_build_tables()


cdef void _band_filter(const float *x, float *re, float *im, Py_ssize_t n) noexcept nogil:
    """re[i] + j im[i] = sum over k of BAND[k] x[i + FILTER_TAPS - 1 - k], for i < n: tap by tap
    over the whole chunk, so the inner loop runs over samples and vectorises."""
    cdef Py_ssize_t i
    cdef int k
    cdef float tap_re, tap_im
    cdef const float *shifted
    for i in range(n):
        re[i] = 0.0
        im[i] = 0.0
    for k in range(FILTER_TAPS):
        tap_re, tap_im = BAND_RE[k], BAND_IM[k]
        shifted = x + FILTER_TAPS - 1 - k
        for i in range(n):
            re[i] += tap_re * shifted[i]
            im[i] += tap_im * shifted[i]


def _filter_power_gain(offset_hz):
    """|H(f)|^2 of the baseband low-pass at ``offset_hz``."""
    re = sum(FILTER[k] * math.cos(2 * math.pi * offset_hz * k / SAMPLE_RATE_HZ) for k in range(FILTER_TAPS))
    im = sum(FILTER[k] * math.sin(2 * math.pi * offset_hz * k / SAMPLE_RATE_HZ) for k in range(FILTER_TAPS))
    return re * re + im * im


# Mean power gain over the four tones' baseband offsets, so a level reads the same (+-1 dB) for both.
_TONE_POWER_GAIN = sum(_filter_power_gain(abs(f - CENTRE_HZ)) for pair in FSK_STANDARDS.values()
                       for f in pair) / 4


def _baseband_power(level_dbm0):
    """Baseband power (|z|^2) of a tone at ``level_dbm0``: the mixer keeps half its amplitude."""
    return (dbm0_to_amplitude(level_dbm0) / 2.0) ** 2 * _TONE_POWER_GAIN


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


# ------------------------------------------------------------------ modulator
def fsk_modulate(data, standard="bell202", *, level_dbm0=DEFAULT_LEVEL_DBM0, seizure_bits=SEIZURE_BITS,
                 mark_bits=MARK_BITS):
    """The FSK burst for ``data`` (bytes): ``seizure_bits`` alternating bits (0 first), ``mark_bits``
    of mark, then each byte as a UART character. ``standard`` is "bell202" (also China) or "v23".
    Phase-continuous, at ``level_dbm0``; int16 samples at 8 kHz, rounded up to whole samples."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if standard not in FSK_STANDARDS:
        raise ValueError(f"unknown FSK standard {standard!r}; known: {', '.join(FSK_STANDARDS)}")
    cdef Py_ssize_t seizure = operator.index(seizure_bits), mark = operator.index(mark_bits)
    if seizure < 0 or mark < 0:
        raise ValueError(f"seizure_bits and mark_bits must be >= 0, got {seizure_bits}, {mark_bits}")
    cdef double amplitude = dbm0_to_amplitude(_finite("level_dbm0", level_dbm0))
    if amplitude > INT16_MAX:
        raise ValueError(f"level_dbm0 {level_dbm0:g} is too high: peak {amplitude:.0f} would clip")
    cdef bytes payload = bytes(data)
    bits = bytearray(seizure + mark + UART_BITS * len(payload))
    cdef Py_ssize_t k, position = 0
    for k in range(seizure):
        bits[k] = k & 1
    position = seizure
    for k in range(mark):
        bits[position + k] = 1
    position += mark
    for byte in payload:
        bits[position] = 0                                      # start bit
        for k in range(8):
            bits[position + 1 + k] = (byte >> k) & 1            # LSB first
        bits[position + 9] = 1                                  # stop bit
        position += UART_BITS

    mark_hz, space_hz = FSK_STANDARDS[standard]
    cdef double step[2]
    step[0] = 2.0 * M_PI * space_hz / SAMPLE_RATE_HZ
    step[1] = 2.0 * M_PI * mark_hz / SAMPLE_RATE_HZ
    cdef cnp.npy_intp n_samples = (len(bits) * SAMPLE_RATE_HZ + BAUD - 1) // BAUD
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &n_samples, cnp.NPY_INT16, 0)
    cdef int16_t *dst = <int16_t *>cnp.PyArray_DATA(out)
    cdef const unsigned char *bit_values = bits
    cdef double phase = 0.0, value
    cdef int64_t i, baud = BAUD, rate = SAMPLE_RATE_HZ
    with nogil:
        for i in range(n_samples):
            value = amplitude * sin(phase)
            dst[i] = <int16_t>floor(value + 0.5)
            phase += step[bit_values[i * baud // rate]]
            if phase >= 2.0 * M_PI:
                phase -= 2.0 * M_PI
    return out


# ------------------------------------------------------------------ demodulator
cdef class FskReceiver:
    """Caller ID FSK receiver, Bell 202 and V.23 alike: ``process(pcm)`` -> the bytes completed.

    ``min_level_dbm0`` is the weakest burst it turns on for; it turns off 3 dB lower. Streaming:
    the bytes do not depend on how the samples are cut into calls.
    """

    cdef float _input[FILTER_TAPS - 1 + CHUNK]  # the last FILTER_TAPS - 1 samples, then a chunk
    cdef float _band_re[CHUNK]              # the chunk band-filtered (complex, not yet mixed down)
    cdef float _band_im[CHUNK]
    cdef double _previous_re, _previous_im  # the last band-filtered sample
    cdef double _previous_discriminator     # last discriminator output (> 0: mark)
    cdef double _power                      # smoothed baseband power
    cdef double _power_alpha                # smoother coefficient per sample
    cdef double _on_power, _off_power       # carrier detect thresholds (baseband power)
    cdef bint _carrier                      # carrier present
    cdef int64_t _sample                    # samples seen since reset
    cdef int _bit                           # UART: bit being integrated (0 = start), or HUNTING
    cdef double _start_time                 # UART: the start bit's edge, in samples (fractional)
    cdef double _next_start                 # UART: the next start bit's edge, seen during a stop bit; or -1
    cdef double _window_end                 # UART: last sample time of the current bit's window
    cdef double _window_start               # UART: first sample time of the current bit's window
    cdef double _sum                        # UART: discriminator integrated over the window
    cdef int _byte                          # UART: data bits so far
    cdef readonly double min_level_dbm0

    def __init__(self, min_level_dbm0=DEFAULT_MIN_LEVEL_DBM0):
        level = _finite("min_level_dbm0", min_level_dbm0)
        self.min_level_dbm0 = level
        self._on_power = _baseband_power(level)
        self._off_power = _baseband_power(level - CARRIER_HYSTERESIS_DB)
        self._power_alpha = 1.0 - math.exp(-1000.0 / (POWER_TIME_CONSTANT_MS * SAMPLE_RATE_HZ))
        self.reset()

    def reset(self):
        """Forget the stream: filters cleared, carrier off, UART hunting."""
        cdef int k
        for k in range(FILTER_TAPS - 1):
            self._input[k] = 0.0
        self._previous_re = self._previous_im = 0.0
        self._previous_discriminator = 0.0
        self._power = 0.0
        self._carrier = False
        self._sample = 0
        self._bit = HUNTING
        self._next_start = -1.0

    @property
    def carrier(self):
        """True while an FSK burst (or anything as loud in its band) is on the line."""
        return bool(self._carrier)

    def process(self, pcm):
        """Demodulates ``pcm`` (int16, 8 kHz); returns the bytes whose stop bit ended in it."""
        cdef cnp.ndarray a = _checked_pcm(pcm)
        cdef Py_ssize_t n = cnp.PyArray_DIM(a, 0)
        # a character spans 10 bits (> 66 samples), and one may have begun in an earlier call
        cdef bytearray out = bytearray(n // 64 + 2)
        cdef unsigned char *dst = out
        cdef Py_ssize_t count
        with nogil:
            count = self._run(<const int16_t *>cnp.PyArray_DATA(a), n, dst)
        return bytes(out[:count])

    cdef Py_ssize_t _run(self, const int16_t *src, Py_ssize_t n, unsigned char *dst) noexcept nogil:
        cdef Py_ssize_t i, done = 0, m, count = 0
        cdef double re, im, dot, cross, discriminator, power
        while done < n:
            m = min(n - done, <Py_ssize_t>CHUNK)
            for i in range(m):
                self._input[FILTER_TAPS - 1 + i] = src[done + i]
            _band_filter(self._input, self._band_re, self._band_im, m)
            memmove(self._input, self._input + m, (FILTER_TAPS - 1) * sizeof(float))
            for i in range(m):
                re = self._band_re[i]
                im = self._band_im[i]
                # Mixing down by w turns z[n] z*[n-1] into e^(-j w) times the same product of the
                # band-filtered samples; the discriminator is -Im of the mixed-down product,
                # > 0 when the phase turns clockwise, i.e. below 1700 Hz: a mark.
                dot = re * self._previous_re + im * self._previous_im
                cross = im * self._previous_re - re * self._previous_im
                discriminator = dot * STEP_SIN - cross * STEP_COS
                self._previous_re = re
                self._previous_im = im

                power = re * re + im * im
                self._power += self._power_alpha * (power - self._power)
                if self._carrier and self._power < self._off_power:
                    self._carrier = False
                    self._bit = HUNTING
                elif not self._carrier and self._power >= self._on_power:
                    self._carrier = True
                if self._carrier:
                    if self._uart(discriminator, dst + count):
                        count += 1
                self._previous_discriminator = discriminator
                self._sample += 1
            done += m
        return count

    cdef bint _uart(self, double discriminator, unsigned char *byte_out) noexcept nogil:
        """One discriminator sample into the UART; True when it completed a character."""
        cdef double now = <double>self._sample, previous = self._previous_discriminator
        cdef bint edge = previous > 0.0 and discriminator <= 0.0       # mark to space
        cdef double edge_time = now - 1.0 + previous / (previous - discriminator) if edge else 0.0
        if self._bit == HUNTING:
            if edge:
                self._begin(edge_time, now, discriminator)
            return False
        if (edge and self._bit == UART_BITS - 1
                and edge_time >= self._start_time + (UART_BITS - 0.5) * SAMPLES_PER_BIT):
            # past the middle of the stop bit the next start bit may begin (the sender's bits
            # may be a little short): remember it while the stop bit is still being integrated
            self._next_start = edge_time
        if now >= self._window_start:
            self._sum += discriminator
        if now + 1.0 <= self._window_end:
            return False
        # the window of bit self._bit is complete: slice it
        cdef int bit = self._sum > 0.0
        cdef bint complete = False
        if self._bit == 0:
            if bit:                                   # the start bit integrated to mark: not one
                self._bit = HUNTING
                return False
        elif self._bit < UART_BITS - 1:
            self._byte |= bit << (self._bit - 1)
        else:
            self._bit = HUNTING
            if bit:
                byte_out[0] = <unsigned char>self._byte
                complete = True
            # else a framing error, the stop bit was space: the character is dropped
            if self._next_start >= 0.0:
                self._begin(self._next_start, now, discriminator)
            return complete
        self._bit += 1
        self._sum = 0.0
        self._set_window()
        return False

    cdef void _begin(self, double start_time, double now, double discriminator) noexcept nogil:
        """A start bit's edge at ``start_time``; ``discriminator`` is the output at ``now``."""
        self._start_time = start_time
        self._next_start = -1.0
        self._bit = 0
        self._byte = 0
        self._sum = 0.0
        self._set_window()
        if now >= self._window_start:
            self._sum = discriminator

    cdef void _set_window(self) noexcept nogil:
        cdef double bit_start = self._start_time + self._bit * SAMPLES_PER_BIT
        self._window_start = bit_start + BIT_GUARD * SAMPLES_PER_BIT
        self._window_end = bit_start + (1.0 - BIT_GUARD) * SAMPLES_PER_BIT
