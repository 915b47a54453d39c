/*
 * _echo_core.h - ITU-T G.168 line echo canceller: state and algorithm (float32, portable C).
 *
 * What does it do?
 *   Given Rin (what goes to the line) and Sin (what comes back: echo of Rin plus the near end), it
 *   returns Sout = Sin minus an estimate of the echo, sample by sample with no added delay, for
 *   any number of samples per call. An optional non-linear processor (NLP) replaces the residual
 *   echo with comfort noise while only the far end talks.
 *
 * How does it work?
 *   Echo path model: a partitioned-block frequency-domain adaptive filter (PBFDAF, the "MDF" family
 *   of speexdsp): the tail is cut into partitions of ECHO_BLOCK taps, each held as a 65-bin spectrum
 *   and applied to the spectra of past far-end blocks (overlap-save, FFT of 2 blocks). Adaptation runs
 *   once per block:
 *   - a background filter adapts with a normalised step per bin; the normaliser is the far-end power
 *     seen by the partitions, weighted by their gains (so a burst after silence is not over-stepped),
 *     regularised and lightly smoothed across bins;
 *   - gains are proportionate (IPNLMS), because hybrid echo paths are sparse: per tap in the first
 *     partition and the two strongest others (their taps are kept in the time domain: the update is
 *     weighted tap by tap there, and those partitions stay exactly constrained), per partition elsewhere
 *     (those are unconstrained between round-robin constraint steps, one partition per block);
 *   - the step size follows the non-parametric VSS-NLMS rule, mu = 1 - sqrt(noise/error), with the
 *     noise taken as the near end's background (measured while the far end is silent) plus G.711
 *     coding noise, so the filter adapts fast when far from the echo path and gently near it;
 *   - that rule reads any near end as misadjustment, so once the foreground has converged the
 *     background's error is clipped bin by bin (a Huber-type robust update): each bin's error,
 *     relative to the strongest far-end power its partitions hold, is compared with a slowly rising
 *     scale of its usual value, and where it is far above that only the usual amount drives the
 *     update. A near-end tone (the caller dialling DTMF) or a near end heard while the far end is
 *     weak or silent (no excitation: a normalised step would fit the near end with whatever far-end
 *     energy is left in the tail) then barely moves the background; a new echo path still gets
 *     through, at first slowly, at full speed once the scale has risen to it;
 *   - a foreground filter makes the output. It takes the background's coefficients when those do
 *     significantly better, drifts slowly towards them while both do equally well (which averages the
 *     background's steady-state jitter away) and is left alone when the error is far above what the
 *     foreground's tracked echo return would explain, and for 250 ms after (double talk, or a path
 *     change: the background then has to prove itself by beating the foreground by 3 dB, in the block
 *     and over the last few). That tracked echo return may improve quickly but worsen only slowly,
 *     so that double talk the detector missed cannot teach it to expect more residual. A background
 *     that does much worse than the foreground (it adapted on near-end speech) restarts from it.
 *     Narrowband near ends are caught apart: where the foreground's error, relative to the far-end
 *     power in each bin, is concentrated in a few bins, the excess is a near-end tone (the caller's
 *     DTMF), not a new echo path. A background that beats the foreground then (having fitted part of
 *     the tone from the far end's energy in its bins) is not taken; when the hold ends and the
 *     background has not clearly beaten the foreground since the tone, it restarts from the
 *     foreground (what it learnt during the tone may look good in the bins the far end happens to
 *     excite and be wrong in the others); and the near end's background-noise estimate, which may
 *     otherwise rise while the far end is silent, does not rise on a tone.
 *   Zero latency: the foreground's first partition runs in direct form sample by sample; the other
 *   partitions only need far-end blocks that are already complete, so their contribution to a block is
 *   computed when the previous block ends. Processing is therefore identical whatever the chunking
 *   of the input.
 *   NLP: suppression while the far end is active (hangover of one tail) and the error envelope stays
 *   below what the echo estimate's envelope times the foreground's tracked residual ratio, plus the
 *   background noise, would give; comfort noise at the measured background level.
 */
#ifndef ECHO_CORE_H
#define ECHO_CORE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_echo_fft.h"

#define ECHO_SAMPLE_RATE 8000           /* Hz */
#define ECHO_BLOCK 64                   /* samples per adaptation block (8 ms) = taps per partition */
#define ECHO_MAX_PARTITIONS 64          /* longest tail: 64 partitions = 4096 taps = 512 ms */
#define ECHO_TOP_PARTITIONS 2           /* partitions besides the first adapted with per-tap gains */
#define ECHO_STEP_MAX 0.8f              /* background step size far from convergence */
#define ECHO_PROPORTIONATE_ALPHA -0.25f /* IPNLMS mix: -1 = plain NLMS, +1 = fully proportionate */
#define ECHO_TAP_GAIN_CAP 0.5f          /* one block's step may remove at most half of a tap's error */
#define ECHO_REG_RELATIVE 0.1f          /* normaliser floor, as a share of its mean over the bins */
#define ECHO_SMOOTH_BINS 3              /* normaliser smoothing half-width: 3 bins = 188 Hz */
#define ECHO_SMOOTH_WEIGHT 0.5f         /* share of the bin-smoothed normaliser in the one used */
#define ECHO_BG_ERROR_SMOOTH 0.5f       /* per block: memory of the background error power (VSS) */
#define ECHO_FG_ERROR_SMOOTH 0.7f       /* per block: memory of the foreground error power (floor) */
#define ECHO_DIFF_SMOOTH 0.8f           /* per block: memory of the foreground-background comparison */
#define ECHO_COPY_SIGNIFICANCE 1.0f     /* (mean difference)^2 / its variance needed to copy */
#define ECHO_RESET_SIGNIFICANCE 4.0f    /* ... needed to restart the background from the foreground */
#define ECHO_RESET_RATIO 2.0f           /* and the background error must be this much (3 dB) larger */
#define ECHO_SUSPICIOUS_RATIO 4.0f      /* foreground error 6 dB above expected: near end or new path */
#define ECHO_SUSPICIOUS_COPY 2.0f       /* then the background must beat the foreground by 3 dB ... */
#define ECHO_SUSPICIOUS_COPY_SMOOTHED 2.0f  /* ... in this block, and by 3 dB over the last few */
#define ECHO_SUSPICIOUS_HANGOVER_MS 250 /* no averaging until the near end has paused this long */
#define ECHO_SUSPICIOUS_HANGOVER (ECHO_SUSPICIOUS_HANGOVER_MS * ECHO_SAMPLE_RATE / 1000 / ECHO_BLOCK)
#define ECHO_NEAR_END_BLOCKS 3          /* blocks of near-end tone in a hold (24 ms) that discredit the
                                           background's learning during it */
#define ECHO_NARROWBAND_BINS 12.0f      /* a near-end excess spread over fewer bins (750 Hz) is tonal */
#define ECHO_CONVERGED_DB 15.0          /* foreground echo return from which double talk is guarded */
#define ECHO_CLIP_RATIO 16.0f           /* 12 dB: a bin's error this far above its usual level is clipped */
#define ECHO_SCALE_RATE 0.2f            /* per block: a bin's error scale moves this share of the way ... */
#define ECHO_SCALE_RISE 2.0f            /* ... towards its error, capped at twice the scale: it rises at
                                           most 20 % (0.8 dB) per block and falls about 1 dB per block */
#define ECHO_SCALE_FLOOR 1e-12f         /* ... down to this (far below coding noise), not to denormals */
#define ECHO_AVERAGING 0.05f            /* per block: foreground's drift towards an equal background */
#define ECHO_RETURN_SMOOTH 0.9f         /* per block: memory of the foreground echo/residual powers */
#define ECHO_RETURN_RISE_SMOOTH 0.99f   /* ... when the residual is above its tracked share: it rises
                                           slowly, so that undetected double talk cannot teach it */
#define ECHO_ERLE_SMOOTH 0.95f          /* per block: memory of the reported ERLE estimate */
#define ECHO_NLP_MARGIN 4.0f            /* error envelope over expected residual envelope: near end */
#define ECHO_NLP_NOISE_MARGIN 4.0f      /* ... and over this many background-noise r.m.s. */
#define ECHO_ERROR_ENVELOPE_MS 10.0     /* decay time constant of the error envelope */
#define ECHO_ECHO_ENVELOPE_MS 30.0      /* decay time constant of the echo estimate's envelope */
#define ECHO_NEAR_HANGOVER_MS 50.0      /* NLP stays open this long after the near end was heard */
#define ECHO_ENVELOPE_EPSILON 1e-4f     /* per sample: linear part of the envelopes' decay (int16 units) */

typedef struct {                /* levels the Python layer derives from dBm0 figures */
    float far_quiet_power;      /* far end silent when a block's Rin mean square is below this */
    float far_active_amp;       /* |Rin| above this keeps the NLP armed for one tail */
    float floor_init_power;     /* near-end background power assumed until it is measured */
    float reg_power;            /* Rin power at which regularisation halves the step */
    float floor_rise;           /* per block: largest rise factor of the background estimate */
    float codec_noise_ratio;    /* G.711 coding noise power relative to Sin power */
    int tail_taps;              /* echo tail covered (samples) */
    int nlp;                    /* non-linear processor on */
    int comfort_noise;          /* comfort noise while the NLP suppresses (else silence) */
} echo_config;

typedef struct {
    echo_config cfg;
    int partitions;             /* P: filter length in partitions of ECHO_BLOCK taps */
    float *arena;               /* one aligned allocation holding every per-partition array below */
    float *x_re, *x_im;         /* [P][STRIDE] ring of far-end spectra: slot (head + p) % P holds X_{k-p} */
    float *x_pow;               /* [P][STRIDE] |X|^2 of the same ring */
    int x_head;                 /* slot of the newest far-end spectrum */
    float *bg_re, *bg_im;       /* [P][STRIDE] background filter partitions */
    float *fg_re, *fg_im;       /* [P][STRIDE] foreground filter partitions (partition 0: fg_head) */
    float *bg_taps;             /* [P][BLOCK] time-domain taps of background partitions ... */
    unsigned char taps_valid[ECHO_MAX_PARTITIONS];  /* ... where these are set (constrained ones) */
    float fg_head[ECHO_BLOCK] __attribute__((aligned(16)));     /* foreground partition 0, direct form */
    float xbuf[2 * ECHO_BLOCK] __attribute__((aligned(16)));    /* previous and current Rin block */
    float dbuf[ECHO_BLOCK] __attribute__((aligned(16)));        /* current Sin block */
    float efg[ECHO_BLOCK] __attribute__((aligned(16)));         /* current foreground error block */
    float fg_tail[ECHO_BLOCK] __attribute__((aligned(16)));     /* fg partitions >= 1 over this block */
    int fill;                   /* samples of the current block so far */
    int round_robin;            /* next partition to constrain */
    int blocks;                 /* blocks processed */
    /* step size (non-parametric VSS) and the near end's background noise */
    double bg_err;              /* smoothed background error power (per sample) */
    double fg_err;              /* smoothed foreground error power (per sample) */
    double floor;               /* near end's background noise power (per sample) */
    int floor_measured;         /* floor comes from a measurement, not floor_init_power */
    int quiet_blocks;           /* consecutive blocks with a silent far end */
    /* foreground/background control */
    double fg_smooth, bg_smooth;    /* smoothed fg and bg block error energies */
    double diff_mean;           /* smoothed (fg - bg) block error energy */
    double diff_var;            /* its variance estimate */
    double echo_energy;         /* smoothed fg echo-estimate energy per block, in accepted blocks */
    double resid_energy;        /* smoothed fg error energy per block, in accepted blocks */
    int suspicious;             /* last block's fg error was far above the expected residual */
    int suspicious_hold;        /* blocks left before the foreground may average again */
    int hold_near_blocks;       /* blocks of this hold with a near-end tone in Sin */
    int hold_proven;            /* the background was taken since the tone was last heard */
    double converged_return;    /* resid/echo energy ratio below which the foreground has converged */
    float fg_bin_err[ECHO_FFT_STRIDE] __attribute__((aligned(16)));  /* |F_k|^2, fg error, smoothed
                                                                        over the hold so far */
    float err_scale[ECHO_FFT_STRIDE] __attribute__((aligned(16)));   /* usual |E_k|^2 / peak_k (0: none) */
    /* ERLE estimate */
    double erle_sin;            /* smoothed Sin energy per block while the far end talks */
    double erle_err;            /* smoothed Sout energy (before the NLP) over the same blocks */
    /* NLP and comfort noise, per sample */
    float resid_ratio;          /* fg residual / echo estimate amplitude ratio (tracked) */
    float noise_amp;            /* background noise r.m.s. */
    float env_err;              /* peak envelope of the foreground error */
    float env_echo;             /* peak envelope of the foreground echo estimate */
    float err_decay, echo_decay;    /* per-sample envelope decay factors */
    int far_hold;               /* samples left during which the far end counts as active */
    int near_hold;              /* samples left during which the near end counts as active */
    int near_hangover;          /* samples of near-end hangover */
    uint32_t rng;               /* comfort noise generator state (xorshift32) */
} echo_state;

/* min and max without the NaN rules of fminf/fmaxf, which keep those from compiling to one instruction */
static inline float echo_min(float a, float b) { return a < b ? a : b; }
static inline float echo_max(float a, float b) { return a > b ? a : b; }

static inline int echo_slot(const echo_state *s, int age)
{
    return ((s->x_head + age) % s->partitions) * ECHO_FFT_STRIDE;
}

static void echo_reset(echo_state *s)
{
    const int P = s->partitions;
    memset(s->arena, 0, sizeof(float) * (size_t)P * (7 * ECHO_FFT_STRIDE + ECHO_BLOCK));
    memset(s->taps_valid, 1, sizeof(s->taps_valid));   /* all-zero taps are constrained */
    memset(s->fg_head, 0, sizeof(s->fg_head));
    memset(s->xbuf, 0, sizeof(s->xbuf));
    memset(s->dbuf, 0, sizeof(s->dbuf));
    memset(s->efg, 0, sizeof(s->efg));
    memset(s->fg_tail, 0, sizeof(s->fg_tail));
    s->x_head = 0;
    s->fill = 0;
    s->round_robin = 1;
    s->blocks = 0;
    s->bg_err = s->fg_err = 0.0;
    s->floor = s->cfg.floor_init_power;
    s->floor_measured = 0;
    s->quiet_blocks = 0;
    s->diff_mean = s->diff_var = 0.0;
    s->fg_smooth = s->bg_smooth = 0.0;
    s->echo_energy = s->resid_energy = 0.0;
    s->suspicious = 0;
    s->suspicious_hold = 0;
    s->hold_near_blocks = 0;
    s->hold_proven = 0;
    memset(s->fg_bin_err, 0, sizeof(s->fg_bin_err));
    memset(s->err_scale, 0, sizeof(s->err_scale));
    s->erle_sin = s->erle_err = 0.0;
    s->resid_ratio = 1.0f;
    s->noise_amp = sqrtf(s->cfg.floor_init_power);
    s->env_err = s->env_echo = 0.0f;
    s->far_hold = s->near_hold = 0;
    s->rng = 0x2545F491u;
}

/* NULL when out of memory or the configuration is out of range. */
static echo_state *echo_new(const echo_config *cfg)
{
    int P = (cfg->tail_taps + ECHO_BLOCK - 1) / ECHO_BLOCK;
    if (P < 1 || P > ECHO_MAX_PARTITIONS)
        return NULL;
    echo_state *s = (echo_state *)aligned_alloc(64, (sizeof(echo_state) + 63) / 64 * 64);
    if (!s)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->partitions = P;
    size_t floats = (size_t)P * (7 * ECHO_FFT_STRIDE + ECHO_BLOCK);
    s->arena = (float *)aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
    if (!s->arena) {
        free(s);
        return NULL;
    }
    float *a = s->arena;
    const size_t spectra = (size_t)P * ECHO_FFT_STRIDE;
    s->x_re = a; a += spectra;
    s->x_im = a; a += spectra;
    s->x_pow = a; a += spectra;
    s->bg_re = a; a += spectra;
    s->bg_im = a; a += spectra;
    s->fg_re = a; a += spectra;
    s->fg_im = a; a += spectra;
    s->bg_taps = a;
    s->err_decay = (float)exp(-1000.0 / (ECHO_ERROR_ENVELOPE_MS * ECHO_SAMPLE_RATE));
    s->echo_decay = (float)exp(-1000.0 / (ECHO_ECHO_ENVELOPE_MS * ECHO_SAMPLE_RATE));
    s->near_hangover = (int)(ECHO_NEAR_HANGOVER_MS * ECHO_SAMPLE_RATE / 1000.0);
    s->converged_return = pow(10.0, -ECHO_CONVERGED_DB / 10.0);
    echo_reset(s);
    return s;
}

static void echo_free(echo_state *s)
{
    if (s) {
        free(s->arena);
        free(s);
    }
}

/* Time-domain taps of background partition p from its spectrum, which becomes exactly constrained. */
static void echo_constrain(echo_state *s, int p)
{
    float t[ECHO_FFT_POINTS] __attribute__((aligned(16)));
    float *re = s->bg_re + p * ECHO_FFT_STRIDE, *im = s->bg_im + p * ECHO_FFT_STRIDE;
    float *taps = s->bg_taps + p * ECHO_BLOCK;
    echo_irfft(re, im, t);
    for (int j = 0; j < ECHO_BLOCK; j++) {
        taps[j] = t[j] * (1.0f / ECHO_FFT_POINTS);
        t[j] = taps[j];
        t[ECHO_BLOCK + j] = 0.0f;
    }
    echo_rfft(t, re, im);
    s->taps_valid[p] = 1;
}

/* Spectrum of background partition p from its time-domain taps. */
static void echo_taps_to_spectrum(echo_state *s, int p)
{
    float t[ECHO_FFT_POINTS] __attribute__((aligned(16)));
    memcpy(t, s->bg_taps + p * ECHO_BLOCK, sizeof(float) * ECHO_BLOCK);
    memset(t + ECHO_BLOCK, 0, sizeof(float) * ECHO_BLOCK);
    echo_rfft(t, s->bg_re + p * ECHO_FFT_STRIDE, s->bg_im + p * ECHO_FFT_STRIDE);
}

/* Spectrum of the background filter's output over the current block (every partition p applied to
   X_{k-p}); also the energy of each partition's coefficients (sum of |W|^2 over the stored bins). */
static void echo_bg_output(const echo_state *s, float *y_re, float *y_im, float *energy)
{
    const int P = s->partitions;
    const float *x_re[ECHO_MAX_PARTITIONS], *x_im[ECHO_MAX_PARTITIONS];
    echo_v4 en[ECHO_MAX_PARTITIONS];
    for (int p = 0; p < P; p++) {
        x_re[p] = s->x_re + echo_slot(s, p);
        x_im[p] = s->x_im + echo_slot(s, p);
        en[p] = (echo_v4){0.0f, 0.0f, 0.0f, 0.0f};
    }
    for (int k = 0; k < ECHO_FFT_STRIDE; k += 4) {
        echo_v4 ar = {0.0f, 0.0f, 0.0f, 0.0f}, ai = ar;
        for (int p = 0; p < P; p++) {
            echo_v4 wr = ECHO_V4(s->bg_re + p * ECHO_FFT_STRIDE + k);
            echo_v4 wi = ECHO_V4(s->bg_im + p * ECHO_FFT_STRIDE + k);
            echo_v4 xr = ECHO_V4(x_re[p] + k), xi = ECHO_V4(x_im[p] + k);
            ar += wr * xr - wi * xi;
            ai += wr * xi + wi * xr;
            en[p] += wr * wr + wi * wi;
        }
        ECHO_V4(y_re + k) = ar;
        ECHO_V4(y_im + k) = ai;
    }
    for (int p = 0; p < P; p++)
        energy[p] = en[p][0] + en[p][1] + en[p][2] + en[p][3];
}

/* Spectrum of the foreground's partitions >= 1 over the next block: partition p applied to X_{k+1-p},
   far-end blocks that are complete now. With average set, each partition first moves ECHO_AVERAGING
   of the way towards the background's. */
static void echo_fg_output(echo_state *s, int average, float *y_re, float *y_im)
{
    const int P = s->partitions;
    const float *x_re[ECHO_MAX_PARTITIONS], *x_im[ECHO_MAX_PARTITIONS];
    const echo_v4 g = {ECHO_AVERAGING, ECHO_AVERAGING, ECHO_AVERAGING, ECHO_AVERAGING};
    for (int p = 1; p < P; p++) {
        x_re[p] = s->x_re + echo_slot(s, p - 1);
        x_im[p] = s->x_im + echo_slot(s, p - 1);
    }
    for (int k = 0; k < ECHO_FFT_STRIDE; k += 4) {
        echo_v4 ar = {0.0f, 0.0f, 0.0f, 0.0f}, ai = ar;
        for (int p = 1; p < P; p++) {
            float *fr = s->fg_re + p * ECHO_FFT_STRIDE + k, *fi = s->fg_im + p * ECHO_FFT_STRIDE + k;
            echo_v4 wr = ECHO_V4(fr), wi = ECHO_V4(fi);
            if (average) {
                wr += g * (ECHO_V4(s->bg_re + p * ECHO_FFT_STRIDE + k) - wr);
                wi += g * (ECHO_V4(s->bg_im + p * ECHO_FFT_STRIDE + k) - wi);
                ECHO_V4(fr) = wr;
                ECHO_V4(fi) = wi;
            }
            echo_v4 xr = ECHO_V4(x_re[p] + k), xi = ECHO_V4(x_im[p] + k);
            ar += wr * xr - wi * xi;
            ai += wr * xi + wi * xr;
        }
        ECHO_V4(y_re + k) = ar;
        ECHO_V4(y_im + k) = ai;
    }
}

static inline double echo_dot(const float *a, const float *b, int n)
{
    double acc = 0.0;
    for (int i = 0; i < n; i++)
        acc += (double)a[i] * b[i];
    return acc;
}

/* Proportionate gains. k_tap gets the per-tap gains of the top partitions (row per top index), and
   gain[p] the sum of partition p's tap gains; returns the number of top partitions, listed in top. */
static int echo_gains(echo_state *s, const float *energy, int *top, float k_tap[][ECHO_BLOCK], float *gain)
{
    const int P = s->partitions, L = P * ECHO_BLOCK;
    float tap_mag[ECHO_MAX_PARTITIONS];      /* typical |tap| of partitions adapted per partition */
    int ntop = 1;
    top[0] = 0;
    /* Parseval over the 65 stored bins (about half the full spectrum): taps' energy ~ energy / N */
    for (int p = 1; p < P; p++)
        tap_mag[p] = sqrtf(energy[p] * (1.0f / (ECHO_FFT_POINTS * ECHO_BLOCK)));
    for (int t = 0; t < ECHO_TOP_PARTITIONS && t < P - 1; t++) {
        int best = -1;
        for (int p = 1; p < P; p++) {
            int taken = 0;
            for (int u = 1; u < ntop; u++)
                taken |= top[u] == p;
            if (!taken && (best < 0 || tap_mag[p] > tap_mag[best]))
                best = p;
        }
        top[ntop++] = best;
    }
    float total = 0.0f;
    for (int u = 0; u < ntop; u++) {
        if (!s->taps_valid[top[u]])
            echo_constrain(s, top[u]);
        const float *taps = s->bg_taps + top[u] * ECHO_BLOCK;
        for (int j = 0; j < ECHO_BLOCK; j++)
            total += fabsf(taps[j]);
        tap_mag[top[u]] = -1.0f;             /* marks a top partition below */
    }
    for (int p = 1; p < P; p++)
        if (tap_mag[p] >= 0.0f)
            total += ECHO_BLOCK * tap_mag[p];
    const float uniform = (1.0f - ECHO_PROPORTIONATE_ALPHA) / (2.0f * L);
    const float proportional = (1.0f + ECHO_PROPORTIONATE_ALPHA) / (2.0f * total + 1e-30f);
    const float cap = ECHO_TAP_GAIN_CAP / ECHO_BLOCK;
    for (int p = 1; p < P; p++)
        if (tap_mag[p] >= 0.0f)
            gain[p] = ECHO_BLOCK * echo_min(uniform + proportional * tap_mag[p], cap);
    for (int u = 0; u < ntop; u++) {
        const float *taps = s->bg_taps + top[u] * ECHO_BLOCK;
        float sum = 0.0f;
        for (int j = 0; j < ECHO_BLOCK; j++) {
            k_tap[u][j] = echo_min(uniform + proportional * fabsf(taps[j]), cap);
            sum += k_tap[u][j];
        }
        gain[top[u]] = sum;
    }
    return ntop;
}

/* out = raw mixed with its moving average over 2 * SMOOTH_BINS + 1 bins (edge bins repeated). */
static void echo_smooth_bins(const float *raw, float *out)
{
    const int h = ECHO_SMOOTH_BINS;
    float window = (h + 1) * raw[0];
    for (int k = 1; k <= h; k++)
        window += raw[k];
    for (int k = 0; k < ECHO_FFT_BINS; k++) {
        out[k] = ECHO_SMOOTH_WEIGHT * window / (2 * h + 1) + (1.0f - ECHO_SMOOTH_WEIGHT) * raw[k];
        window += raw[k + h + 1 < ECHO_FFT_BINS ? k + h + 1 : ECHO_FFT_BINS - 1];
        window -= raw[k - h > 0 ? k - h : 0];
    }
    for (int k = ECHO_FFT_BINS; k < ECHO_FFT_STRIDE; k++)
        out[k] = 1.0f;
}

/* Lane-wise max of two 4-float vectors (a vector comparison gives all-ones lanes where it holds). */
typedef int32_t echo_v4mask __attribute__((vector_size(16)));
static inline echo_v4 echo_v4_max(echo_v4 a, echo_v4 b)
{
    const echo_v4mask a_larger = a > b;
    return (echo_v4)((a_larger & (echo_v4mask)a) | (~a_larger & (echo_v4mask)b));
}

/* Per-bin normaliser: gain-weighted far-end power seen by the partitions, regularised, and mixed with
   its average over neighbouring bins. Also peak: per bin, the strongest far-end power any partition
   holds, with the same regularisation: the most echo the far end could be returning in that bin
   whichever partition the path is in (the reference of the robust update). */
static void echo_normaliser(const echo_state *s, const float *gain, float *norm, float *peak)
{
    const int P = s->partitions;
    float raw[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    float gain_sum = 0.0f;
    for (int p = 0; p < P; p++)
        gain_sum += gain[p];
    const float inv = 1.0f / gain_sum;
    const float *pow_of[ECHO_MAX_PARTITIONS];
    for (int p = 0; p < P; p++)
        pow_of[p] = s->x_pow + echo_slot(s, p);
    for (int k = 0; k < ECHO_FFT_STRIDE; k += 4) {
        echo_v4 acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int p = 0; p < P; p++)
            acc += gain[p] * ECHO_V4(pow_of[p] + k);
        ECHO_V4(raw + k) = acc * inv;
    }
    for (int k = 0; k < ECHO_FFT_STRIDE; k += 4) {
        echo_v4 top = ECHO_V4(pow_of[0] + k);
        for (int p = 1; p < P; p++)
            top = echo_v4_max(top, ECHO_V4(pow_of[p] + k));
        ECHO_V4(peak + k) = top;
    }
    float mean = 0.0f;
    for (int k = 0; k < ECHO_FFT_BINS; k++)
        mean += raw[k];
    mean /= ECHO_FFT_BINS;
    const float floor = ECHO_REG_RELATIVE * mean + ECHO_FFT_POINTS * s->cfg.reg_power;
    for (int k = 0; k < ECHO_FFT_BINS; k++) {
        raw[k] += floor;
        peak[k] += floor;
    }
    for (int k = ECHO_FFT_BINS; k < ECHO_FFT_STRIDE; k++)
        peak[k] = 1.0f;
    echo_smooth_bins(raw, norm);
}

/* Power spectrum of the foreground's error over this block ([0, e]), smoothed over the blocks of a
   hold (fresh: the hold starts, forget the last one). Only holds need it, so only they pay its FFT. */
static void echo_track_fg_error(echo_state *s, int fresh)
{
    float t[ECHO_FFT_POINTS] __attribute__((aligned(16)));
    float f_re[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    float f_im[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    memset(t, 0, sizeof(float) * ECHO_BLOCK);
    memcpy(t + ECHO_BLOCK, s->efg, sizeof(float) * ECHO_BLOCK);
    echo_rfft(t, f_re, f_im);
    const echo_v4 memory = fresh ? (echo_v4){0.0f, 0.0f, 0.0f, 0.0f}
                                 : (echo_v4){ECHO_DIFF_SMOOTH, ECHO_DIFF_SMOOTH, ECHO_DIFF_SMOOTH, ECHO_DIFF_SMOOTH};
    const echo_v4 one = {1.0f, 1.0f, 1.0f, 1.0f};
    for (int k = 0; k < ECHO_FFT_STRIDE; k += 4) {
        const echo_v4 fr = ECHO_V4(f_re + k), fi = ECHO_V4(f_im + k);
        ECHO_V4(s->fg_bin_err + k) = memory * ECHO_V4(s->fg_bin_err + k) + (one - memory) * (fr * fr + fi * fi);
    }
}

/* True when the foreground's error, relative to the far-end power in each bin, is concentrated in
   fewer than ECHO_NARROWBAND_BINS bins: their effective number is (sum r)^2 / sum r^2. A new echo
   path leaves an error shaped like the far end (ratios spread over the band); a near-end tone does
   not. */
static int echo_excess_is_narrowband(const echo_state *s, const float *peak)
{
    float sum = 0.0f, sum2 = 0.0f;
    for (int k = 0; k < ECHO_FFT_BINS; k++) {
        const float r = s->fg_bin_err[k] / peak[k];
        sum += r;
        sum2 += r * r;
    }
    return sum * sum < ECHO_NARROWBAND_BINS * sum2;
}

/* The foreground's tracked echo return says it has converged (double talk is guarded from then on). */
static inline int echo_converged(const echo_state *s)
{
    return s->resid_energy < s->converged_return * s->echo_energy;
}

/* Scales the background's error spectrum into its update, 2 mu E / norm, clipping bins whose error is
   far above usual (see the header) once the foreground has converged; tracks the bins' usual error
   while the far end talks in this block (only then does the error say anything about the path). */
static void echo_robust_error(echo_state *s, float mu, const float *norm, const float *peak,
                              float *e_re, float *e_im)
{
    /* branch-free, so that it vectorises; a scale of 0 means "not measured yet" */
    const float clip = echo_converged(s) ? ECHO_CLIP_RATIO : INFINITY;
    const float rate = s->quiet_blocks == 0 ? ECHO_SCALE_RATE : 0.0f;
    for (int k = 0; k < ECHO_FFT_STRIDE; k++) {
        const float eps = (e_re[k] * e_re[k] + e_im[k] * e_im[k]) / peak[k];
        const float scale = s->err_scale[k];
        const float ratio = clip * scale / eps;          /* w^2 where below 1 */
        const float w = sqrtf(scale > 0.0f ? echo_min(ratio, 1.0f) : 1.0f);
        const float tracked = scale + rate * (echo_min(eps, ECHO_SCALE_RISE * scale) - scale);
        s->err_scale[k] = scale > 0.0f ? echo_max(tracked, ECHO_SCALE_FLOOR) : eps;
        const float g = 2.0f * mu * w / norm[k];
        e_re[k] *= g;
        e_im[k] *= g;
    }
}

/* Non-parametric VSS step from this block's energies; also tracks the near end's background, which
   does not rise while the error is a near-end tone (a caller dialling while the far end is silent). */
static float echo_step(echo_state *s, double bg_energy, double fg_energy, double sin_energy,
                       double rin_energy, const float *peak)
{
    const double pe = bg_energy / ECHO_BLOCK, pf = fg_energy / ECHO_BLOCK;
    if (s->blocks == 0) {
        s->bg_err = pe;
        s->fg_err = pf;
    }
    s->bg_err = ECHO_BG_ERROR_SMOOTH * s->bg_err + (1.0 - ECHO_BG_ERROR_SMOOTH) * pe;
    s->fg_err = ECHO_FG_ERROR_SMOOTH * s->fg_err + (1.0 - ECHO_FG_ERROR_SMOOTH) * pf;
    s->quiet_blocks = rin_energy < ECHO_BLOCK * (double)s->cfg.far_quiet_power ? s->quiet_blocks + 1 : 0;
    if (s->quiet_blocks >= s->partitions) {     /* no echo left in Sin: its residue is the near end */
        const int tonal = s->suspicious_hold > 0 && echo_excess_is_narrowband(s, peak);
        if (!s->floor_measured && !tonal) {
            s->floor = s->fg_err;
            s->floor_measured = 1;
        }
        s->floor = fmin(tonal ? s->floor : s->floor * s->cfg.floor_rise, s->fg_err);
    }
    const double noise = s->floor + s->cfg.codec_noise_ratio * sin_energy / ECHO_BLOCK;
    if (s->bg_err <= noise)
        return 0.0f;
    return ECHO_STEP_MAX * (float)(1.0 - sqrt(noise / s->bg_err));
}

/* Foreground/background decisions after the background's update; true when the foreground is to
   average towards the background (done for partitions >= 1 by echo_fg_output). */
static int echo_two_filters(echo_state *s, double ff, double bb, double dd, double yy, double ss,
                            const float *peak)
{
    const int P = s->partitions;
    const size_t bytes = sizeof(float) * ECHO_FFT_STRIDE * (size_t)(P - 1);
    const float *bg_taps0 = s->bg_taps;       /* partition 0 is always kept in the time domain */
    const double a = ECHO_DIFF_SMOOTH;
    s->diff_mean = a * s->diff_mean + (1.0 - a) * (ff - bb);
    s->fg_smooth = a * s->fg_smooth + (1.0 - a) * ff;
    s->bg_smooth = a * s->bg_smooth + (1.0 - a) * bb;
    s->diff_var = a * a * s->diff_var + (1.0 - a) * (1.0 - a) * ff * dd;
    const double d2 = s->diff_mean * s->diff_mean;
    const int significant = d2 > ECHO_COPY_SIGNIFICANCE * s->diff_var;
    const double expected = s->echo_energy > 0.0
        ? yy * s->resid_energy / s->echo_energy + ECHO_BLOCK * s->floor : INFINITY;
    const int suspicious = ff > ECHO_SUSPICIOUS_RATIO * expected;
    /* near-end speech comes in syllables: the pauses between them do not end the double talk */
    const int held = s->suspicious_hold > 0;
    s->suspicious_hold = suspicious ? ECHO_SUSPICIOUS_HANGOVER
                                    : (s->suspicious_hold > 0 ? s->suspicious_hold - 1 : 0);
    if (!held)
        s->hold_near_blocks = s->hold_proven = 0;
    if (s->suspicious_hold > 0)
        echo_track_fg_error(s, !held);
    /* a near-end tone: a narrowband excess that Sin carries (the foreground's own output after the
       far end stops is not in Sin). Whatever the background proved before it does not vouch for
       what it learnt while the tone lasted. */
    if (suspicious && 2.0 * ss > ff && echo_excess_is_narrowband(s, peak)) {
        s->hold_near_blocks++;
        s->hold_proven = 0;
    }
    /* the hold is over, and the background has not beaten the foreground clearly since the tone */
    const int restart = held && s->suspicious_hold == 0 && !s->hold_proven
                        && s->hold_near_blocks >= ECHO_NEAR_END_BLOCKS;
    /* during (or just after) double talk the background may look better only because it fitted the
       near end's speech: then it must be clearly better, in this block and over the last few, and the
       foreground's excess must not be a near-end tone */
    const int clearly_better = bb * ECHO_SUSPICIOUS_COPY < ff
                               && s->bg_smooth * ECHO_SUSPICIOUS_COPY_SMOOTHED < s->fg_smooth
                               && !(echo_converged(s) && echo_excess_is_narrowband(s, peak));
    int copied = 0, average = 0;
    if (!restart && s->diff_mean > 0.0 && significant && (s->suspicious_hold == 0 || clearly_better)) {
        memcpy(s->fg_re + ECHO_FFT_STRIDE, s->bg_re + ECHO_FFT_STRIDE, bytes);
        memcpy(s->fg_im + ECHO_FFT_STRIDE, s->bg_im + ECHO_FFT_STRIDE, bytes);
        memcpy(s->fg_head, bg_taps0, sizeof(s->fg_head));
        s->diff_mean = s->diff_var = 0.0;
        s->fg_smooth = s->bg_smooth;
        copied = 1;
        s->hold_proven |= s->suspicious_hold > 0;
    } else if (restart || (s->diff_mean < 0.0 && d2 > ECHO_RESET_SIGNIFICANCE * s->diff_var
                           && bb > ECHO_RESET_RATIO * ff)) {
        memcpy(s->bg_re + ECHO_FFT_STRIDE, s->fg_re + ECHO_FFT_STRIDE, bytes);
        memcpy(s->bg_im + ECHO_FFT_STRIDE, s->fg_im + ECHO_FFT_STRIDE, bytes);
        memcpy(s->bg_taps, s->fg_head, sizeof(s->fg_head));
        echo_taps_to_spectrum(s, 0);
        memset(s->taps_valid + 1, 0, (size_t)(P - 1));
        s->diff_mean = s->diff_var = 0.0;
        s->bg_smooth = s->fg_smooth;
    } else if (s->suspicious_hold == 0 && !(s->diff_mean < 0.0 && significant)) {
        for (int j = 0; j < ECHO_BLOCK; j++)       /* the other partitions: in echo_fg_output */
            s->fg_head[j] += ECHO_AVERAGING * (bg_taps0[j] - s->fg_head[j]);
        average = 1;
    }
    if (s->suspicious_hold == 0 || copied) {
        const double r = ff * s->echo_energy > yy * s->resid_energy && !copied
            ? ECHO_RETURN_RISE_SMOOTH : ECHO_RETURN_SMOOTH;
        s->echo_energy = r * s->echo_energy + (1.0 - r) * yy;
        s->resid_energy = r * s->resid_energy + (1.0 - r) * ff;
    }
    s->suspicious = suspicious;
    return average;
}

/* Everything done once per completed block: adaptation, decisions, the next block's fg tail. */
static void echo_block_end(echo_state *s)
{
    const int P = s->partitions, B = ECHO_BLOCK, S = ECHO_FFT_STRIDE;
    float t[ECHO_FFT_POINTS] __attribute__((aligned(16)));
    float y_re[ECHO_FFT_STRIDE] __attribute__((aligned(16)));   /* a filter output's spectrum, a gradient */
    float y_im[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    float e_re[ECHO_FFT_STRIDE] __attribute__((aligned(16)));   /* the background error's spectrum */
    float e_im[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    float norm[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    float peak[ECHO_FFT_STRIDE] __attribute__((aligned(16)));
    float ebg[ECHO_BLOCK] __attribute__((aligned(16)));
    float k_tap[1 + ECHO_TOP_PARTITIONS][ECHO_BLOCK];
    float gain[ECHO_MAX_PARTITIONS], energy[ECHO_MAX_PARTITIONS];
    int top[1 + ECHO_TOP_PARTITIONS];

    /* newest far-end spectrum, of the previous and current Rin blocks */
    s->x_head = (s->x_head + P - 1) % P;
    const int newest = echo_slot(s, 0);
    echo_rfft(s->xbuf, s->x_re + newest, s->x_im + newest);
    for (int k = 0; k < S; k += 4) {
        echo_v4 xr = ECHO_V4(s->x_re + newest + k), xi = ECHO_V4(s->x_im + newest + k);
        ECHO_V4(s->x_pow + newest + k) = xr * xr + xi * xi;
    }

    /* background filter's error over this block */
    echo_bg_output(s, y_re, y_im, energy);
    echo_irfft(y_re, y_im, t);
    for (int i = 0; i < B; i++)
        ebg[i] = s->dbuf[i] - t[B + i] * (1.0f / ECHO_FFT_POINTS);

    double ff = echo_dot(s->efg, s->efg, B), bb = echo_dot(ebg, ebg, B);
    double dd = 0.0, yy = 0.0;
    for (int i = 0; i < B; i++) {
        double diff = (double)s->efg[i] - ebg[i], echo = (double)s->dbuf[i] - s->efg[i];
        dd += diff * diff;
        yy += echo * echo;
    }
    const double ss = echo_dot(s->dbuf, s->dbuf, B), xx = echo_dot(s->xbuf + B, s->xbuf + B, B);

    /* error spectrum, of [0, e] */
    memset(t, 0, sizeof(float) * B);
    memcpy(t + B, ebg, sizeof(float) * B);
    echo_rfft(t, e_re, e_im);

    const int ntop = echo_gains(s, energy, top, k_tap, gain);
    echo_normaliser(s, gain, norm, peak);
    const float mu = echo_step(s, bb, ff, ss, xx, peak);
    if (mu > 0.0f) {
        echo_robust_error(s, mu, norm, peak, e_re, e_im);
        int is_top[ECHO_MAX_PARTITIONS] = {0};
        for (int u = 0; u < ntop; u++)
            is_top[top[u]] = 1 + u;
        for (int p = 0; p < P; p++) {
            const int o = echo_slot(s, p);
            const float *xr = s->x_re + o, *xi = s->x_im + o;
            float *wr = s->bg_re + p * S, *wi = s->bg_im + p * S;
            if (is_top[p]) {                 /* gradient to the time domain, weighted tap by tap */
                const float *kk = k_tap[is_top[p] - 1];
                float *taps = s->bg_taps + p * B;
                for (int k = 0; k < S; k += 4) {
                    echo_v4 ar = ECHO_V4(xr + k), ai = ECHO_V4(xi + k);
                    echo_v4 er = ECHO_V4(e_re + k), ei = ECHO_V4(e_im + k);
                    ECHO_V4(y_re + k) = ar * er + ai * ei;      /* conj(X) E */
                    ECHO_V4(y_im + k) = ar * ei - ai * er;
                }
                echo_irfft(y_re, y_im, t);
                for (int j = 0; j < B; j++)
                    taps[j] += (float)B / ECHO_FFT_POINTS * kk[j] * t[j];
                echo_taps_to_spectrum(s, p);
            } else {
                const echo_v4 g = {gain[p], gain[p], gain[p], gain[p]};
                for (int k = 0; k < S; k += 4) {
                    echo_v4 ar = ECHO_V4(xr + k), ai = ECHO_V4(xi + k);
                    echo_v4 er = ECHO_V4(e_re + k), ei = ECHO_V4(e_im + k);
                    ECHO_V4(wr + k) += g * (ar * er + ai * ei);
                    ECHO_V4(wi + k) += g * (ar * ei - ai * er);
                }
                s->taps_valid[p] = 0;
            }
        }
        if (P > ntop) {                      /* one of the others gets constrained, in turn */
            for (int tries = 0; tries < P; tries++) {
                int p = s->round_robin;
                s->round_robin = s->round_robin + 1 < P ? s->round_robin + 1 : 1;
                if (!is_top[p]) {
                    echo_constrain(s, p);
                    break;
                }
            }
        }
    }

    const int average = echo_two_filters(s, ff, bb, dd, yy, ss, peak);

    /* the foreground's partitions >= 1 over the next block: they see Rin blocks up to this one */
    echo_fg_output(s, average, y_re, y_im);
    echo_irfft(y_re, y_im, t);
    for (int i = 0; i < B; i++)
        s->fg_tail[i] = t[B + i] * (1.0f / ECHO_FFT_POINTS);

    /* NLP and reporting */
    if (s->echo_energy > 0.0)
        s->resid_ratio = (float)fmin(1.0, sqrt(s->resid_energy / s->echo_energy));
    s->noise_amp = (float)sqrt(s->floor);
    if (s->far_hold > 0 && !s->suspicious) {
        s->erle_sin = ECHO_ERLE_SMOOTH * s->erle_sin + (1.0 - ECHO_ERLE_SMOOTH) * ss;
        s->erle_err = ECHO_ERLE_SMOOTH * s->erle_err + (1.0 - ECHO_ERLE_SMOOTH) * ff;
    }
    memcpy(s->xbuf, s->xbuf + B, sizeof(float) * B);
    s->blocks++;
}

static inline float echo_comfort_noise(echo_state *s)
{
    uint32_t r = s->rng;
    r ^= r << 13;
    r ^= r >> 17;
    r ^= r << 5;
    s->rng = r;
    /* uniform in [-1, 1): variance 1/3, so sqrt(3) gives unit r.m.s. */
    return (float)(int32_t)r * (1.7320508f / 2147483648.0f);
}

static inline int16_t echo_to_int16(float v)
{
    long r = lrintf(v);
    return (int16_t)(r > 32767 ? 32767 : r < -32768 ? -32768 : r);
}

/* n samples (at most the rest of the current block). */
static void echo_samples(echo_state *s, const int16_t *rin, const int16_t *sin, int16_t *sout, int n)
{
    const int B = ECHO_BLOCK, start = s->fill;
    float y[ECHO_BLOCK] __attribute__((aligned(16)));
    float *x = s->xbuf + B;                  /* x[i - j] = Rin j samples before sample i */
    for (int i = 0; i < n; i++) {
        x[start + i] = rin[i];
        s->dbuf[start + i] = sin[i];
    }
    /* foreground echo estimate: fg_tail + direct-form partition 0, same order for every sample */
    int i = start;
    for (; i + 16 <= start + n; i += 16) {
        echo_v4 a0 = ECHO_V4U(s->fg_tail + i), a1 = ECHO_V4U(s->fg_tail + i + 4);
        echo_v4 a2 = ECHO_V4U(s->fg_tail + i + 8), a3 = ECHO_V4U(s->fg_tail + i + 12);
        for (int j = 0; j < B; j++) {
            const float h = s->fg_head[j];
            const echo_v4 hv = {h, h, h, h};
            const float *xp = x + i - j;
            a0 += hv * ECHO_V4U(xp);
            a1 += hv * ECHO_V4U(xp + 4);
            a2 += hv * ECHO_V4U(xp + 8);
            a3 += hv * ECHO_V4U(xp + 12);
        }
        ECHO_V4U(y + i) = a0;
        ECHO_V4U(y + i + 4) = a1;
        ECHO_V4U(y + i + 8) = a2;
        ECHO_V4U(y + i + 12) = a3;
    }
    for (; i < start + n; i++) {
        float acc = s->fg_tail[i];
        for (int j = 0; j < B; j++)
            acc += s->fg_head[j] * x[i - j];
        y[i] = acc;
    }
    const float cn_amp = s->cfg.comfort_noise ? s->noise_amp : 0.0f;
    const float echo_scale = ECHO_NLP_MARGIN * s->resid_ratio;
    const float noise_level = ECHO_NLP_NOISE_MARGIN * s->noise_amp;
    float env_err = s->env_err, env_echo = s->env_echo;
    int far_hold = s->far_hold, near_hold = s->near_hold;
    for (i = start; i < start + n; i++) {
        const float e = s->dbuf[i] - y[i];
        s->efg[i] = e;
        if (fabsf(x[i]) > s->cfg.far_active_amp)
            far_hold = s->cfg.tail_taps;
        else if (far_hold > 0)
            far_hold--;
        /* peak envelopes; the small linear decay takes them to exact zero, not through denormals */
        env_err = echo_max(fabsf(e), env_err * s->err_decay - ECHO_ENVELOPE_EPSILON);
        env_echo = echo_max(fabsf(y[i]), env_echo * s->echo_decay - ECHO_ENVELOPE_EPSILON);
        if (env_err > echo_scale * env_echo + noise_level)
            near_hold = s->near_hangover;
        else if (near_hold > 0)
            near_hold--;
        float out = e;
        if (s->cfg.nlp && far_hold > 0 && near_hold == 0)
            out = cn_amp * echo_comfort_noise(s);
        sout[i - start] = echo_to_int16(out);
    }
    s->env_err = env_err;
    s->env_echo = env_echo;
    s->far_hold = far_hold;
    s->near_hold = near_hold;
    s->fill += n;
    if (s->fill == B) {
        echo_block_end(s);
        s->fill = 0;
    }
}

static void echo_process(echo_state *s, const int16_t *rin, const int16_t *sin, int16_t *sout, size_t n)
{
    while (n > 0) {
        int m = ECHO_BLOCK - s->fill;
        if ((size_t)m > n)
            m = (int)n;
        echo_samples(s, rin, sin, sout, m);
        rin += m;
        sin += m;
        sout += m;
        n -= (size_t)m;
    }
}

/* The canceller's own running ERLE estimate (dB): Sin over Sout power while the far end talks. */
static double echo_erle_db(const echo_state *s)
{
    if (s->erle_sin <= 0.0 || s->erle_err <= 0.0)
        return 0.0;
    return 10.0 * log10(s->erle_sin / s->erle_err);
}

#endif /* ECHO_CORE_H */
