"""`make run` until the switch exists: a live call leg on a simulated analog line.

A far-end talker (syllable-like noise bursts) arrives from the network as mu-law; the line's hybrid
returns an echo of it (dispersive path, 12 ms bulk delay, 6 dB ERL); four seconds in, the caller
dials digits. Every half second it prints the echo cancellation reached (measured, since the
simulation knows the echo) and the canceller's own estimate; digits are printed as LineDsp finds them.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from firmware.dsp import LineDsp, dtmf_generate, g711
from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ, dbm0_to_amplitude, ms_to_samples

BULK_DELAY_MS = 12
ECHO_RETURN_LOSS_DB = 6.0
DIGITS = "2025#"
DIGITS_AT_S = 4.0


def hybrid_echo_path(rng: np.random.Generator) -> np.ndarray:
    """A hybrid-like impulse response: bulk delay, then a few ms of decaying, band-limited ringing."""
    taps = np.arange(ms_to_samples(8))
    ringing = np.cos(2 * np.pi * 0.09 * taps + 0.4) + 0.2 * rng.standard_normal(taps.size)
    response = np.concatenate([np.zeros(ms_to_samples(BULK_DELAY_MS)), ringing * np.exp(-taps / 12.0)])
    return response / np.sqrt(np.sum(response ** 2)) * 10 ** (-ECHO_RETURN_LOSS_DB / 20)


def far_end_talker(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Syllable-like bursts of low-passed noise at about -18 dBm0, as int16."""
    n = int(seconds * SAMPLE_RATE_HZ)
    noise = np.convolve(rng.standard_normal(n), np.ones(3) / 3, mode="same")
    talker = noise * (np.sin(2 * np.pi * 2.5 * np.arange(n) / SAMPLE_RATE_HZ) > -0.3)
    return to_int16(talker * dbm0_to_amplitude(-18) / np.sqrt(2 * np.mean(talker ** 2)))


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def simulated_line(seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(far-end mu-law codes from the network, what the line sends back, the echo part of it)."""
    rng = np.random.default_rng(2026)
    far_codes = g711.ulaw_encode(far_end_talker(seconds, rng))
    echo = np.convolve(g711.ulaw_decode(far_codes), hybrid_echo_path(rng))[:far_codes.size]
    near = np.zeros(far_codes.size)
    caller = dtmf_generate(DIGITS, on_ms=80, off_ms=80, level_dbm0=-12)
    digits_at = int(DIGITS_AT_S * SAMPLE_RATE_HZ)
    near[digits_at:digits_at + caller.size] = caller[:max(0, near.size - digits_at)]
    from_line = g711.ulaw_decode(g711.ulaw_encode(to_int16(echo + near)))
    return far_codes, from_line, np.where(near == 0, echo, np.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the call (default 10)")
    parser.add_argument("--fast", action="store_true", help="do not pace frames in real time")
    args = parser.parse_args()

    far_codes, from_line, echo_alone = simulated_line(args.seconds)
    dsp = LineDsp(law="ulaw", nlp=False)
    report_every = SAMPLE_RATE_HZ // 2 // FRAME_SAMPLES          # frames in half a second
    echo_power = residual_power = 0.0
    print(f"simulated analog line: hybrid echo {ECHO_RETURN_LOSS_DB:g} dB down after {BULK_DELAY_MS} ms; "
          f"the caller dials {DIGITS!r} at {DIGITS_AT_S:g} s", flush=True)
    started = time.monotonic()
    for k in range(far_codes.size // FRAME_SAMPLES):
        span = slice(k * FRAME_SAMPLES, (k + 1) * FRAME_SAMPLES)
        out = dsp.process(from_line[span], far_codes[span])
        for event in out.digits:
            print(f"{event.start / SAMPLE_RATE_HZ:6.2f} s  digit {event.digit}", flush=True)
        echo = echo_alone[span]
        if not np.isnan(echo).any():                     # score the echo only while the caller is silent
            echo_power += float(np.sum(echo ** 2))
            residual_power += float(np.sum(g711.ulaw_decode(out.to_network).astype(float) ** 2))
        if (k + 1) % report_every == 0:
            erle = 10 * np.log10((echo_power + 1e-9) / (residual_power + 1e-9))
            print(f"{span.stop / SAMPLE_RATE_HZ:6.2f} s  echo cancelled {erle:5.1f} dB "
                  f"(the canceller's estimate {dsp.erle_db:5.1f} dB)", flush=True)
            echo_power = residual_power = 0.0
        if not args.fast:
            time.sleep(max(0.0, started + span.stop / SAMPLE_RATE_HZ - time.monotonic()))


if __name__ == "__main__":
    main()
