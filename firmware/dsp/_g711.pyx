# cython: language_level=3
"""ITU-T G.711 mu-law and A-law coding, and mu-law <-> A-law transcoding.

What does it do?  int16 linear samples <-> 8-bit G.711 codes, bit-exact with the ITU-T G.191 STL
encoders, and the code-to-code conversions of G.711 Tables 3 and 4.

How does it work?  The coder is a function of only the top 14 (mu-law) or 12 (A-law) bits of a
sample, so each law's whole encoder fits in a table of 16 KiB or 4 KiB (L1 cache) built at import
from the segment rules of G.711 clause 2; decoding is a 256-entry table. The Python entry points
check their argument once, then run a ``nogil`` loop over raw buffers, so a 160-sample frame costs
little more than the call itself.
"""
cimport numpy as cnp
from libc.stdint cimport int16_t, uint8_t, uint16_t

cnp.import_array()

cdef enum:
    ULAW_SHIFT = 2          # mu-law encodes 14-bit magnitudes: the 2 low bits never matter
    ALAW_SHIFT = 4          # A-law encodes 12-bit magnitudes (13-bit signed, one's complement)
    ULAW_BIAS = 33          # G.711 mu-law bias, in 14-bit units
    ULAW_CLIP = 0x1FFF      # largest biased mu-law magnitude

cdef uint8_t ULAW_ENCODE[1 << (16 - ULAW_SHIFT)]
cdef uint8_t ALAW_ENCODE[1 << (16 - ALAW_SHIFT)]
cdef int16_t ULAW_DECODE[256]
cdef int16_t ALAW_DECODE[256]
cdef uint8_t ULAW_TO_ALAW[256]
cdef uint8_t ALAW_TO_ULAW[256]


cdef uint8_t _ulaw_encode_one(int linear):
    """G.711 mu-law of a 16-bit sample: biased magnitude, segment = position of its top bit."""
    cdef int magnitude = ((~linear) >> ULAW_SHIFT) if linear < 0 else (linear >> ULAW_SHIFT)
    magnitude += ULAW_BIAS
    if magnitude > ULAW_CLIP:
        magnitude = ULAW_CLIP
    cdef int segment = 1
    cdef int rest = magnitude >> 6
    while rest:
        segment += 1
        rest >>= 1
    cdef int code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))
    return <uint8_t>(code | 0x80) if linear >= 0 else <uint8_t>code


cdef uint8_t _alaw_encode_one(int linear):
    """G.711 A-law of a 16-bit sample: 12-bit one's-complement magnitude, even bits inverted."""
    cdef int magnitude = ((~linear) >> ALAW_SHIFT) if linear < 0 else (linear >> ALAW_SHIFT)
    cdef int exponent
    if magnitude > 15:
        exponent = 1
        while magnitude > 16 + 15:
            magnitude >>= 1
            exponent += 1
        magnitude += (exponent << 4) - 16
    if linear >= 0:
        magnitude |= 0x80
    return <uint8_t>(magnitude ^ 0x55)


cdef int16_t _ulaw_decode_one(uint8_t code):
    cdef int inverted = (~code) & 0xFF
    cdef int exponent = (inverted >> 4) & 0x07
    cdef int mantissa = inverted & 0x0F
    cdef int magnitude = (((2 * mantissa + ULAW_BIAS) << exponent) - ULAW_BIAS) << ULAW_SHIFT
    return <int16_t>(magnitude if code & 0x80 else -magnitude)


cdef int16_t _alaw_decode_one(uint8_t code):
    cdef int toggled = code ^ 0x55
    cdef int exponent = (toggled & 0x7F) >> 4
    cdef int mantissa = toggled & 0x0F
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 8
    if exponent > 1:
        mantissa <<= exponent - 1
    return <int16_t>(mantissa if toggled & 0x80 else -mantissa)


cdef void _build_tables():
    cdef int i
    for i in range(1 << (16 - ULAW_SHIFT)):
        ULAW_ENCODE[i] = _ulaw_encode_one(<int16_t>(<uint16_t>(i << ULAW_SHIFT)))
    for i in range(1 << (16 - ALAW_SHIFT)):
        ALAW_ENCODE[i] = _alaw_encode_one(<int16_t>(<uint16_t>(i << ALAW_SHIFT)))
    for i in range(256):
        ULAW_DECODE[i] = _ulaw_decode_one(<uint8_t>i)
        ALAW_DECODE[i] = _alaw_decode_one(<uint8_t>i)
    for i in range(256):
        ULAW_TO_ALAW[i] = _ulaw_to_alaw_one(<uint8_t>i)
        ALAW_TO_ULAW[i] = _alaw_to_ulaw_one(<uint8_t>i)


# G.711 Tables 3 and 4: mu-law <-> A-law conversion. The standard defines them by "decoder output
# value number" (the 7-bit magnitude index, 0 = smallest), not by decoding and re-encoding: a
# plain decode/encode differs from them on 44 mu-law and 32 A-law codes. The sign bit carries over.

cdef uint8_t MU_TO_A_MAGNITUDE[128]
MU_TO_A_MAGNITUDE[:] = [
    0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
    8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 26, 28, 30, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
    45, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78,
    79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
]

cdef uint8_t A_TO_MU_MAGNITUDE[128]
A_TO_MU_MAGNITUDE[:] = [
    1, 3, 5, 7, 9, 11, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 32, 33, 33, 34, 34, 35, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 48, 49, 49,
    50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 64,
    65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
]


cdef uint8_t _ulaw_to_alaw_one(uint8_t code):
    cdef int magnitude = MU_TO_A_MAGNITUDE[0x7F - (code & 0x7F)]      # mu-law stores it inverted
    return <uint8_t>((magnitude | (code & 0x80)) ^ 0x55)               # A-law toggles even bits


cdef uint8_t _alaw_to_ulaw_one(uint8_t code):
    cdef int toggled = code ^ 0x55
    cdef int magnitude = A_TO_MU_MAGNITUDE[toggled & 0x7F]
    return <uint8_t>((0x7F - magnitude) | (toggled & 0x80))

_build_tables()


# ------------------------------------------------------------------ argument checks
cdef inline cnp.ndarray _checked(object array, int typenum, str name, str dtype_name):
    if not isinstance(array, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy {dtype_name} array, got {type(array).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>array
    if cnp.PyArray_TYPE(a) != typenum:
        raise TypeError(f"{name} must be {dtype_name}, got {array.dtype}")
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        raise ValueError(f"{name} must be contiguous (use numpy.ascontiguousarray)")
    return a


cdef inline cnp.ndarray _empty(cnp.npy_intp n, int typenum):
    return cnp.PyArray_EMPTY(1, &n, typenum, 0)


cdef cnp.ndarray _encode(object pcm, const uint8_t *table, int shift):
    cdef cnp.ndarray a = _checked(pcm, cnp.NPY_INT16, "pcm", "int16")
    cdef cnp.npy_intp n = cnp.PyArray_DIM(a, 0), i
    cdef cnp.ndarray out = _empty(n, cnp.NPY_UINT8)
    cdef const uint16_t *src = <const uint16_t *>cnp.PyArray_DATA(a)
    cdef uint8_t *dst = <uint8_t *>cnp.PyArray_DATA(out)
    with nogil:
        for i in range(n):
            dst[i] = table[src[i] >> shift]
    return out


cdef cnp.ndarray _decode(object codes, const int16_t *table):
    cdef cnp.ndarray a = _checked(codes, cnp.NPY_UINT8, "codes", "uint8")
    cdef cnp.npy_intp n = cnp.PyArray_DIM(a, 0), i
    cdef cnp.ndarray out = _empty(n, cnp.NPY_INT16)
    cdef const uint8_t *src = <const uint8_t *>cnp.PyArray_DATA(a)
    cdef int16_t *dst = <int16_t *>cnp.PyArray_DATA(out)
    with nogil:
        for i in range(n):
            dst[i] = table[src[i]]
    return out


cdef cnp.ndarray _transcode(object codes, const uint8_t *table):
    cdef cnp.ndarray a = _checked(codes, cnp.NPY_UINT8, "codes", "uint8")
    cdef cnp.npy_intp n = cnp.PyArray_DIM(a, 0), i
    cdef cnp.ndarray out = _empty(n, cnp.NPY_UINT8)
    cdef const uint8_t *src = <const uint8_t *>cnp.PyArray_DATA(a)
    cdef uint8_t *dst = <uint8_t *>cnp.PyArray_DATA(out)
    with nogil:
        for i in range(n):
            dst[i] = table[src[i]]
    return out


# ------------------------------------------------------------------ public API
def ulaw_encode(pcm):
    """int16 samples -> mu-law codes (uint8), bit-exact with the G.191 STL."""
    return _encode(pcm, ULAW_ENCODE, ULAW_SHIFT)


def alaw_encode(pcm):
    """int16 samples -> A-law codes (uint8), bit-exact with the G.191 STL."""
    return _encode(pcm, ALAW_ENCODE, ALAW_SHIFT)


def ulaw_decode(codes):
    """mu-law codes (uint8) -> int16 samples."""
    return _decode(codes, ULAW_DECODE)


def alaw_decode(codes):
    """A-law codes (uint8) -> int16 samples."""
    return _decode(codes, ALAW_DECODE)


def ulaw_to_alaw(codes):
    """mu-law codes -> A-law codes, per G.711 Table 3."""
    return _transcode(codes, ULAW_TO_ALAW)


def alaw_to_ulaw(codes):
    """A-law codes -> mu-law codes, per G.711 Table 4."""
    return _transcode(codes, ALAW_TO_ULAW)


# C-level access for the other kernels (declared in _g711.pxd).
cdef void ulaw_encode_c(const int16_t *src, uint8_t *dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] = ULAW_ENCODE[(<const uint16_t *>src)[i] >> ULAW_SHIFT]


cdef void alaw_encode_c(const int16_t *src, uint8_t *dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] = ALAW_ENCODE[(<const uint16_t *>src)[i] >> ALAW_SHIFT]


cdef void ulaw_decode_c(const uint8_t *src, int16_t *dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] = ULAW_DECODE[src[i]]


cdef void alaw_decode_c(const uint8_t *src, int16_t *dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] = ALAW_DECODE[src[i]]
