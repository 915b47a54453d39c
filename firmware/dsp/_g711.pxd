# The C-level contract of _g711 for the other kernels (LineDsp codes frames without Python calls).
from libc.stdint cimport int16_t, uint8_t

cdef void ulaw_encode_c(const int16_t *src, uint8_t *dst, Py_ssize_t n) noexcept nogil
cdef void alaw_encode_c(const int16_t *src, uint8_t *dst, Py_ssize_t n) noexcept nogil
cdef void ulaw_decode_c(const uint8_t *src, int16_t *dst, Py_ssize_t n) noexcept nogil
cdef void alaw_decode_c(const uint8_t *src, int16_t *dst, Py_ssize_t n) noexcept nogil
