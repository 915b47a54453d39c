/* The DTMF receiver's hot loops: the window's energy and eight folded correlations (see _dtmf.pyx).
 *
 * Written with GCC/Clang vector extensions so that the compiler keeps the sixteen sums in four-float
 * registers (SSE on x86-64, NEON on ARM, plain scalar code elsewhere) instead of transposing the
 * tables, which it does when left to vectorise the plain loops (half the speed). No target-specific
 * code.
 */
#ifndef DTMF_SIMD_H
#define DTMF_SIMD_H

typedef float dtmf_f4 __attribute__((vector_size(16)));
typedef float dtmf_f4_unaligned __attribute__((vector_size(16), aligned(4)));

static inline dtmf_f4 dtmf_load(const float *p)
{
    return *(const dtmf_f4_unaligned *)p;
}

/* sum_k window[k] x[k]^2 for k < n (a multiple of 4), in four independent sums */
static inline float dtmf_window_energy(const float *x, const float *window, int n)
{
    dtmf_f4 sum = {0};
    for (int k = 0; k < n; k += 4) {
        const dtmf_f4 xk = dtmf_load(x + k);
        sum += dtmf_load(window + k) * xk * xk;
    }
    return sum[0] + sum[1] + sum[2] + sum[3];
}

/* re[f] = sum_k (x[k] + x[n-1-k]) cos_folded[k][f], im[f] = sum_k (x[k] - x[n-1-k]) sin_folded[k][f]
 * for k < half = n / 2 (even) and f < 8; even and odd k go to separate sums to keep the adders busy. */
static inline void dtmf_correlate_folded(const float *x, int half, const float *cos_folded,
                                         const float *sin_folded, float *re, float *im)
{
    const float *mirror = x + 2 * half - 1;        /* x[n - 1 - k] = mirror[-k] */
    dtmf_f4 re_lo0 = {0}, re_hi0 = {0}, im_lo0 = {0}, im_hi0 = {0};
    dtmf_f4 re_lo1 = {0}, re_hi1 = {0}, im_lo1 = {0}, im_hi1 = {0};
    for (int k = 0; k < half; k += 2) {
        const float even0 = x[k] + mirror[-k], odd0 = x[k] - mirror[-k];
        const float even1 = x[k + 1] + mirror[-k - 1], odd1 = x[k + 1] - mirror[-k - 1];
        const float *c = cos_folded + 8 * k, *si = sin_folded + 8 * k;
        re_lo0 += even0 * dtmf_load(c);
        re_hi0 += even0 * dtmf_load(c + 4);
        im_lo0 += odd0 * dtmf_load(si);
        im_hi0 += odd0 * dtmf_load(si + 4);
        re_lo1 += even1 * dtmf_load(c + 8);
        re_hi1 += even1 * dtmf_load(c + 12);
        im_lo1 += odd1 * dtmf_load(si + 8);
        im_hi1 += odd1 * dtmf_load(si + 12);
    }
    const dtmf_f4 re_lo = re_lo0 + re_lo1, re_hi = re_hi0 + re_hi1;
    const dtmf_f4 im_lo = im_lo0 + im_lo1, im_hi = im_hi0 + im_hi1;
    for (int j = 0; j < 4; j++) {
        re[j] = re_lo[j];
        re[4 + j] = re_hi[j];
        im[j] = im_lo[j];
        im[4 + j] = im_hi[j];
    }
}

#endif
