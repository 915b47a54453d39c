# cython: language_level=3
# distutils: extra_compile_args = -fno-math-errno -fno-trapping-math
"""ITU-T G.168 line echo canceller for the box's analog lines.

What does it do?  ``EchoCanceller.process(rin, sin)`` takes what was sent to the line (Rin, far end)
and what came back (Sin: echo plus the near end) and returns Sout, Sin with the echo removed, one
output sample per input sample and no added delay, whatever the call length. A non-linear
processor (NLP) removes the residual echo while only the far end talks and fills in comfort noise at
the near end's background level.

How does it work?  A partitioned-block frequency-domain adaptive filter (128 ms = 16 partitions of
64 taps) with proportionate gains, a variable step, a robust (clipped) update and foreground/background
filters for double talk, near-end DTMF included; see ``_echo_core.h`` for the algorithm and
``_echo_fft.h`` for its FFT. This module only checks arguments and turns the dBm0 figures the
algorithm needs into int16-scale levels.
"""
cimport numpy as cnp
from libc.stdint cimport int16_t

from firmware.dsp import levels

cnp.import_array()

cdef extern from "_echo_core.h" nogil:
    int ECHO_BLOCK
    int ECHO_MAX_PARTITIONS

    ctypedef struct echo_config:
        float far_quiet_power
        float far_active_amp
        float floor_init_power
        float reg_power
        float floor_rise
        float codec_noise_ratio
        int tail_taps
        int nlp
        int comfort_noise

    ctypedef struct echo_state:
        pass

    void echo_fft_init()
    echo_state *echo_new(const echo_config *cfg)
    void echo_free(echo_state *s)
    void echo_reset(echo_state *s)
    void echo_process(echo_state *s, const int16_t *rin, const int16_t *sin, int16_t *sout, size_t n)
    double echo_erle_db(const echo_state *s)

echo_fft_init()

MAX_TAIL_MS = ECHO_MAX_PARTITIONS * ECHO_BLOCK * 1000 / levels.SAMPLE_RATE_HZ   # 512 ms
FAR_QUIET_DBM0 = -55.0          # a Rin block below this is silence: Sin then holds only the near end
FAR_ACTIVE_DBM0 = -45.0         # Rin peaks above a sine at this level arm the NLP for one tail
NOISE_FLOOR_INIT_DBM0 = -80.0   # near-end background assumed until it has been measured
STEP_REGULARISATION_DBM0 = -40.0    # Rin at this level adapts at half step (its echo nears the noise)
NOISE_FLOOR_RISE_DB_PER_S = 6.0     # how fast the background estimate may follow a rising noise
G711_SNR_DB = 38.0              # G.711 coding noise below the signal (mu-law and A-law, mid levels)


cdef inline cnp.ndarray _checked(object array, str name):
    if not isinstance(array, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy int16 array, got {type(array).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>array
    if cnp.PyArray_TYPE(a) != cnp.NPY_INT16:
        raise TypeError(f"{name} must be int16, got {array.dtype}")
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name} must be contiguous (use numpy.ascontiguousarray)")
    return a


cdef class EchoCanceller:
    """G.168 echo canceller for one line: ``process(rin, sin) -> sout``, int16 arrays of equal length.

    ``tail_ms``: longest echo path handled (bulk delay plus dispersion), up to 512 ms; the filter
    covers it in whole partitions of 8 ms.
    ``nlp``: non-linear processor (residual echo suppression) on; ``comfort_noise``: fill its gaps
    with noise at the near end's background level (else silence).
    Streams: calls of any length concatenate to the same output as one call. Not thread-safe:
    one instance per line, one caller at a time.
    """

    cdef echo_state *_state
    cdef readonly double tail_ms
    cdef readonly bint nlp
    cdef readonly bint comfort_noise
    cdef bint _busy

    def __cinit__(self, tail_ms=128, nlp=True, comfort_noise=True):
        if isinstance(tail_ms, bool) or not isinstance(tail_ms, (int, float)):
            raise TypeError(f"tail_ms must be a number of milliseconds, got {type(tail_ms).__name__}")
        if not (0 < tail_ms <= MAX_TAIL_MS):
            raise ValueError(f"tail_ms must be in (0, {MAX_TAIL_MS:g}] ms, got {tail_ms}")
        self.tail_ms = float(tail_ms)
        self.nlp = bool(nlp)
        self.comfort_noise = bool(comfort_noise)
        cdef echo_config cfg
        cfg.far_quiet_power = levels.dbm0_to_power(FAR_QUIET_DBM0)
        cfg.far_active_amp = levels.dbm0_to_amplitude(FAR_ACTIVE_DBM0)
        cfg.floor_init_power = levels.dbm0_to_power(NOISE_FLOOR_INIT_DBM0)
        cfg.reg_power = levels.dbm0_to_power(STEP_REGULARISATION_DBM0)
        block_s = ECHO_BLOCK / levels.SAMPLE_RATE_HZ
        cfg.floor_rise = 10.0 ** (NOISE_FLOOR_RISE_DB_PER_S * block_s / 10.0)
        cfg.codec_noise_ratio = 10.0 ** (-G711_SNR_DB / 10.0)
        cfg.tail_taps = max(1, levels.ms_to_samples(self.tail_ms))
        cfg.nlp = self.nlp
        cfg.comfort_noise = self.comfort_noise
        self._state = echo_new(&cfg)
        if self._state == NULL:
            raise MemoryError("cannot allocate the echo canceller's state")

    def __dealloc__(self):
        echo_free(self._state)

    def process(self, rin, sin):
        """Sout for these Rin and Sin samples (int16, 1-D, contiguous, equal lengths; any length)."""
        cdef cnp.ndarray r = _checked(rin, "rin")
        cdef cnp.ndarray s = _checked(sin, "sin")
        cdef cnp.npy_intp n = cnp.PyArray_DIM(r, 0)
        if cnp.PyArray_DIM(s, 0) != n:
            raise ValueError(f"rin and sin differ in length ({n} vs {cnp.PyArray_DIM(s, 0)})")
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &n, cnp.NPY_INT16, 0)
        if self._busy:
            raise RuntimeError("EchoCanceller.process called again while running (one caller at a time)")
        self._busy = True
        cdef const int16_t *rp = <const int16_t *>cnp.PyArray_DATA(r)
        cdef const int16_t *sp = <const int16_t *>cnp.PyArray_DATA(s)
        cdef int16_t *op = <int16_t *>cnp.PyArray_DATA(out)
        try:
            with nogil:
                echo_process(self._state, rp, sp, op, <size_t>n)
        finally:
            self._busy = False
        return out

    @property
    def erle_db(self):
        """The canceller's running estimate of its ERLE (dB): Sin over Sout power while the far end talks."""
        return echo_erle_db(self._state)

    def reset(self):
        """Forgets the echo path, the noise estimate and any partial block."""
        if self._busy:
            raise RuntimeError("EchoCanceller.reset called while process is running")
        echo_reset(self._state)

    def __repr__(self):
        return (f"EchoCanceller(tail_ms={self.tail_ms:g}, nlp={self.nlp}, "
                f"comfort_noise={self.comfort_noise})")
