/*
 * _echo_fft.h - the echo canceller's real FFT: 128 real samples <-> 65 complex bins, float32.
 *
 * What does it do?
 *   echo_rfft() gives bins 0..64 of the DFT of 128 real samples (no scaling, like numpy.fft.rfft);
 *   echo_irfft() goes back and returns 128 times numpy.fft.irfft (the 1/128 is left to the caller,
 *   who can usually fold it into a gain it applies anyway). A spectrum is stored as two arrays,
 *   real and imaginary parts, of ECHO_FFT_STRIDE floats each: the 65 bins, then zero padding to a
 *   whole number of 4-float vectors, so that per-bin loops run on whole vectors.
 *
 * How does it work?
 *   The 128 real samples are packed as 64 complex ones (even samples real, odd imaginary), a 64-point
 *   complex FFT runs on them, and a split step separates the spectra of the even and odd samples
 *   and combines them into the real signal's spectrum. The complex FFT is a Stockham (self-sorting)
 *   radix-4 FFT, 3 stages, on separate real and imaginary arrays. Each stage does its 16 butterflies
 *   four at a time with 4-float vectors (GCC/Clang vector extensions: SSE on x86, NEON on ARM, plain
 *   scalar code elsewhere): stages 2 and 3 read and write whole vectors directly; stage 1 would write
 *   its outputs interleaved, so it transposes each 4x4 block of results first. The inverse uses
 *   IFFT(x) = swap(FFT(swap(x))), swap exchanging real and imaginary parts, which costs nothing here.
 *   Twiddle factors are tabulated once by echo_fft_init().
 *
 * Every array argument must be 16-byte aligned.
 */
#ifndef ECHO_FFT_H
#define ECHO_FFT_H

#include <math.h>

#define ECHO_FFT_POINTS 128     /* real samples per transform */
#define ECHO_FFT_BINS 65        /* bins 0..64 of a real signal's spectrum */
#define ECHO_FFT_STRIDE 68      /* floats stored per spectrum part: the bins padded to whole vectors */

typedef float echo_v4 __attribute__((vector_size(16)));                  /* 4 floats, aligned */
typedef float echo_v4u __attribute__((vector_size(16), aligned(4)));     /* 4 floats, any address */

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define ECHO_SHUFFLE(a, b, i, j, k, l) __builtin_shufflevector((a), (b), i, j, k, l)
#else
typedef int echo_v4i __attribute__((vector_size(16)));
#define ECHO_SHUFFLE(a, b, i, j, k, l) __builtin_shuffle((a), (b), (echo_v4i){i, j, k, l})
#endif

#define ECHO_V4(p) (*(echo_v4 *)(p))
#define ECHO_V4U(p) (*(echo_v4u *)(p))

typedef struct {
    float s1_re[3][16] __attribute__((aligned(16)));  /* stage 1: w^((i+1)p), w = e^(-2 pi j/64), p 0..15 */
    float s1_im[3][16] __attribute__((aligned(16)));
    float s2_re[3][4];                                 /* stage 2: w^((i+1)p), w = e^(-2 pi j/16), p 0..3 */
    float s2_im[3][4];
    float split_re[ECHO_FFT_STRIDE] __attribute__((aligned(16)));  /* e^(-2 pi j k/128), k 0..67 */
    float split_im[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
} echo_fft_tables;

static echo_fft_tables echo_fft_twiddles __attribute__((aligned(16)));

static void echo_fft_init(void)
{
    const double two_pi = 2.0 * 3.14159265358979323846;
    for (int i = 0; i < 3; i++) {
        for (int p = 0; p < 16; p++) {
            echo_fft_twiddles.s1_re[i][p] = (float)cos(two_pi * (i + 1) * p / 64.0);
            echo_fft_twiddles.s1_im[i][p] = (float)-sin(two_pi * (i + 1) * p / 64.0);
        }
        for (int p = 0; p < 4; p++) {
            echo_fft_twiddles.s2_re[i][p] = (float)cos(two_pi * (i + 1) * p / 16.0);
            echo_fft_twiddles.s2_im[i][p] = (float)-sin(two_pi * (i + 1) * p / 16.0);
        }
    }
    for (int k = 0; k < ECHO_FFT_STRIDE; k++) {
        echo_fft_twiddles.split_re[k] = (float)cos(two_pi * k / ECHO_FFT_POINTS);
        echo_fft_twiddles.split_im[k] = (float)-sin(two_pi * k / ECHO_FFT_POINTS);
    }
}

/* One radix-4 decimation-in-frequency butterfly on vectors of 4 independent inputs each: the 4-point
   DFT of (a, b, c, d), outputs 1..3 multiplied by the twiddles w1..w3 (y0 needs none). */
#define ECHO_BUTTERFLY(ar, ai, br, bi, cr, ci, dr, di, tw1r, tw1i, tw2r, tw2i, tw3r, tw3i,          \
                       y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i)                                       \
    do {                                                                                             \
        echo_v4 apcr_ = (ar) + (cr), apci_ = (ai) + (ci), amcr_ = (ar) - (cr), amci_ = (ai) - (ci);  \
        echo_v4 bpdr_ = (br) + (dr), bpdi_ = (bi) + (di), bmdr_ = (br) - (dr), bmdi_ = (bi) - (di);  \
        echo_v4 t1r_ = amcr_ + bmdi_, t1i_ = amci_ - bmdr_;       /* (a - c) - j(b - d) */          \
        echo_v4 t2r_ = apcr_ - bpdr_, t2i_ = apci_ - bpdi_;       /* (a + c) - (b + d) */           \
        echo_v4 t3r_ = amcr_ - bmdi_, t3i_ = amci_ + bmdr_;       /* (a - c) + j(b - d) */          \
        y0r = apcr_ + bpdr_;                                                                         \
        y0i = apci_ + bpdi_;                                                                         \
        y1r = t1r_ * (tw1r) - t1i_ * (tw1i);                                                         \
        y1i = t1r_ * (tw1i) + t1i_ * (tw1r);                                                         \
        y2r = t2r_ * (tw2r) - t2i_ * (tw2i);                                                         \
        y2i = t2r_ * (tw2i) + t2i_ * (tw2r);                                                         \
        y3r = t3r_ * (tw3r) - t3i_ * (tw3i);                                                         \
        y3i = t3r_ * (tw3i) + t3i_ * (tw3r);                                                         \
    } while (0)

/* Rows r0..r3 become columns: on return r_i holds element i of each original row. */
#define ECHO_TRANSPOSE4(r0, r1, r2, r3)                                                              \
    do {                                                                                             \
        echo_v4 t0_ = ECHO_SHUFFLE(r0, r1, 0, 4, 1, 5), t1_ = ECHO_SHUFFLE(r0, r1, 2, 6, 3, 7);       \
        echo_v4 t2_ = ECHO_SHUFFLE(r2, r3, 0, 4, 1, 5), t3_ = ECHO_SHUFFLE(r2, r3, 2, 6, 3, 7);       \
        r0 = ECHO_SHUFFLE(t0_, t2_, 0, 1, 4, 5);                                                     \
        r1 = ECHO_SHUFFLE(t0_, t2_, 2, 3, 6, 7);                                                     \
        r2 = ECHO_SHUFFLE(t1_, t3_, 0, 1, 4, 5);                                                     \
        r3 = ECHO_SHUFFLE(t1_, t3_, 2, 3, 6, 7);                                                     \
    } while (0)

/* 64-point complex FFT, no scaling: (in_re, in_im) -> (out_re, out_im); in and out may not overlap. */
static void echo_cfft64(const float *in_re, const float *in_im, float *out_re, float *out_im)
{
    float a_re[64] __attribute__((aligned(16))), a_im[64] __attribute__((aligned(16)));
    float b_re[64] __attribute__((aligned(16))), b_im[64] __attribute__((aligned(16)));
    const echo_fft_tables *tw = &echo_fft_twiddles;

    /* stage 1: span 64, stride 1. Butterfly p takes inputs p + 16i and gives outputs 4p + i: four
       butterflies at once (p..p+3), then a transpose makes their 16 outputs contiguous. */
    for (int p = 0; p < 16; p += 4) {
        echo_v4 y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i;
        ECHO_BUTTERFLY(ECHO_V4(in_re + p), ECHO_V4(in_im + p), ECHO_V4(in_re + p + 16),
                       ECHO_V4(in_im + p + 16), ECHO_V4(in_re + p + 32), ECHO_V4(in_im + p + 32),
                       ECHO_V4(in_re + p + 48), ECHO_V4(in_im + p + 48),
                       ECHO_V4(tw->s1_re[0] + p), ECHO_V4(tw->s1_im[0] + p), ECHO_V4(tw->s1_re[1] + p),
                       ECHO_V4(tw->s1_im[1] + p), ECHO_V4(tw->s1_re[2] + p), ECHO_V4(tw->s1_im[2] + p),
                       y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i);
        ECHO_TRANSPOSE4(y0r, y1r, y2r, y3r);
        ECHO_TRANSPOSE4(y0i, y1i, y2i, y3i);
        ECHO_V4(a_re + 4 * p) = y0r;
        ECHO_V4(a_re + 4 * p + 4) = y1r;
        ECHO_V4(a_re + 4 * p + 8) = y2r;
        ECHO_V4(a_re + 4 * p + 12) = y3r;
        ECHO_V4(a_im + 4 * p) = y0i;
        ECHO_V4(a_im + 4 * p + 4) = y1i;
        ECHO_V4(a_im + 4 * p + 8) = y2i;
        ECHO_V4(a_im + 4 * p + 12) = y3i;
    }
    /* stage 2: span 16, stride 4. Butterfly (p, q) takes 4p + q + 16i and gives 16p + 4i + q; the four
       q form one vector and share the twiddles of p. */
    for (int p = 0; p < 4; p++) {
        const echo_v4 w1r = {tw->s2_re[0][p], tw->s2_re[0][p], tw->s2_re[0][p], tw->s2_re[0][p]};
        const echo_v4 w1i = {tw->s2_im[0][p], tw->s2_im[0][p], tw->s2_im[0][p], tw->s2_im[0][p]};
        const echo_v4 w2r = {tw->s2_re[1][p], tw->s2_re[1][p], tw->s2_re[1][p], tw->s2_re[1][p]};
        const echo_v4 w2i = {tw->s2_im[1][p], tw->s2_im[1][p], tw->s2_im[1][p], tw->s2_im[1][p]};
        const echo_v4 w3r = {tw->s2_re[2][p], tw->s2_re[2][p], tw->s2_re[2][p], tw->s2_re[2][p]};
        const echo_v4 w3i = {tw->s2_im[2][p], tw->s2_im[2][p], tw->s2_im[2][p], tw->s2_im[2][p]};
        ECHO_BUTTERFLY(ECHO_V4(a_re + 4 * p), ECHO_V4(a_im + 4 * p), ECHO_V4(a_re + 4 * p + 16),
                       ECHO_V4(a_im + 4 * p + 16), ECHO_V4(a_re + 4 * p + 32), ECHO_V4(a_im + 4 * p + 32),
                       ECHO_V4(a_re + 4 * p + 48), ECHO_V4(a_im + 4 * p + 48),
                       w1r, w1i, w2r, w2i, w3r, w3i,
                       ECHO_V4(b_re + 16 * p), ECHO_V4(b_im + 16 * p), ECHO_V4(b_re + 16 * p + 4),
                       ECHO_V4(b_im + 16 * p + 4), ECHO_V4(b_re + 16 * p + 8), ECHO_V4(b_im + 16 * p + 8),
                       ECHO_V4(b_re + 16 * p + 12), ECHO_V4(b_im + 16 * p + 12));
    }
    /* stage 3: span 4, stride 16: one butterfly per q, no twiddles; q + 16i -> q + 16i, sorted. */
    const echo_v4 one = {1.0f, 1.0f, 1.0f, 1.0f}, zero = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int q = 0; q < 16; q += 4) {
        ECHO_BUTTERFLY(ECHO_V4(b_re + q), ECHO_V4(b_im + q), ECHO_V4(b_re + q + 16), ECHO_V4(b_im + q + 16),
                       ECHO_V4(b_re + q + 32), ECHO_V4(b_im + q + 32), ECHO_V4(b_re + q + 48),
                       ECHO_V4(b_im + q + 48), one, zero, one, zero, one, zero,
                       ECHO_V4(out_re + q), ECHO_V4(out_im + q), ECHO_V4(out_re + q + 16),
                       ECHO_V4(out_im + q + 16), ECHO_V4(out_re + q + 32), ECHO_V4(out_im + q + 32),
                       ECHO_V4(out_re + q + 48), ECHO_V4(out_im + q + 48));
    }
}

/* Spectrum (bins 0..64 in re/im, ECHO_FFT_STRIDE floats each, padding zeroed) of 128 real samples. */
static void echo_rfft(const float *x, float *re, float *im)
{
    float z_re[64] __attribute__((aligned(16))), z_im[64] __attribute__((aligned(16)));
    /* Z gets one extra point, Z[64] = Z[0], so that bin k pairs with Z[64 - k] for every k */
    float zz_re[72] __attribute__((aligned(16))), zz_im[72] __attribute__((aligned(16)));
    const echo_fft_tables *tw = &echo_fft_twiddles;

    for (int m = 0; m < 64; m += 4) {           /* even samples -> real part, odd -> imaginary */
        echo_v4 lo = ECHO_V4(x + 2 * m), hi = ECHO_V4(x + 2 * m + 4);
        ECHO_V4(z_re + m) = ECHO_SHUFFLE(lo, hi, 0, 2, 4, 6);
        ECHO_V4(z_im + m) = ECHO_SHUFFLE(lo, hi, 1, 3, 5, 7);
    }
    echo_cfft64(z_re, z_im, zz_re, zz_im);
    zz_re[64] = zz_re[0];
    zz_im[64] = zz_im[0];

    /* X[k] = (Z[k] + conj Z[64-k]) / 2 - j W^k (Z[k] - conj Z[64-k]) / 2, W = e^(-2 pi j/128) */
    const echo_v4 half = {0.5f, 0.5f, 0.5f, 0.5f};
    for (int k = 0; k < 64; k += 4) {
        echo_v4 zr = ECHO_V4(zz_re + k), zi = ECHO_V4(zz_im + k);
        echo_v4 pr = ECHO_V4U(zz_re + 61 - k), pi = ECHO_V4U(zz_im + 61 - k);
        pr = ECHO_SHUFFLE(pr, pr, 3, 2, 1, 0);  /* lane l: Z[64 - k - l] */
        pi = ECHO_SHUFFLE(pi, pi, 3, 2, 1, 0);
        echo_v4 sr = zr + pr, si = zi - pi;     /* Z[k] + conj Z[64-k] */
        echo_v4 dr = zr - pr, di = zi + pi;     /* Z[k] - conj Z[64-k] */
        echo_v4 wr = ECHO_V4(tw->split_re + k), wi = ECHO_V4(tw->split_im + k);
        /* -j W (d) = (W d) rotated by -90 degrees: (re, im) -> (im, -re) */
        echo_v4 wdr = wr * dr - wi * di, wdi = wr * di + wi * dr;
        ECHO_V4(re + k) = half * (sr + wdi);
        ECHO_V4(im + k) = half * (si - wdr);
    }
    re[64] = zz_re[0] - zz_im[0];                /* Nyquist: W^64 = -1, Z[0] pairs with itself */
    im[64] = 0.0f;
    for (int k = 65; k < ECHO_FFT_STRIDE; k++) {
        re[k] = 0.0f;
        im[k] = 0.0f;
    }
}

/* 128 real samples = 128 x the inverse real FFT of bins 0..64 (their DC and Nyquist imaginary parts,
   which a real signal does not have, are ignored). */
static void echo_irfft(const float *re, const float *im, float *x)
{
    float z_re[64] __attribute__((aligned(16))), z_im[64] __attribute__((aligned(16)));
    float zz_re[64] __attribute__((aligned(16))), zz_im[64] __attribute__((aligned(16)));
    const echo_fft_tables *tw = &echo_fft_twiddles;

    /* Z[k] = (X[k] + conj X[64-k]) + j conj(W^k) (X[k] - conj X[64-k]), stored swapped (re <-> im)
       so that the forward FFT below computes the inverse one */
    for (int k = 0; k < 64; k += 4) {
        echo_v4 xr = ECHO_V4(re + k), xi = ECHO_V4(im + k);
        echo_v4 pr = ECHO_V4U(re + 61 - k), pi = ECHO_V4U(im + 61 - k);
        pr = ECHO_SHUFFLE(pr, pr, 3, 2, 1, 0);  /* lane l: X[64 - k - l] */
        pi = ECHO_SHUFFLE(pi, pi, 3, 2, 1, 0);
        echo_v4 sr = xr + pr, si = xi - pi;
        echo_v4 dr = xr - pr, di = xi + pi;
        echo_v4 wr = ECHO_V4(tw->split_re + k), wi = ECHO_V4(tw->split_im + k);
        echo_v4 cdr = wr * dr + wi * di, cdi = wr * di - wi * dr;   /* conj(W) d */
        ECHO_V4(z_im + k) = sr - cdi;           /* real part of Z: s + j (conj(W) d) */
        ECHO_V4(z_re + k) = si + cdr;           /* imaginary part of Z */
    }
    z_im[0] = re[0] + re[64];                  /* bin 0 pairs with bin 64, both taken as real */
    z_re[0] = re[0] - re[64];
    echo_cfft64(z_re, z_im, zz_re, zz_im);
    for (int m = 0; m < 64; m += 4) {           /* swap back: real part = even samples */
        echo_v4 ev = ECHO_V4(zz_im + m), od = ECHO_V4(zz_re + m);
        ECHO_V4(x + 2 * m) = ECHO_SHUFFLE(ev, od, 0, 4, 1, 5);
        ECHO_V4(x + 2 * m + 4) = ECHO_SHUFFLE(ev, od, 2, 6, 3, 7);
    }
}

#endif /* ECHO_FFT_H */
