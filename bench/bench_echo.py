"""G.168 echo canceller, 128 ms tail, beside speexdsp (128 ms tail, 160-sample frames) in the same run.

Speed: ch/core for a whole signal in one call and for one call per 160-sample frame from Python.
ERLE: the line of the peers' own figures (G.168 D.2, 20 ms bulk delay, ERL 6 dB, mu-law, -70 dBm0
near-end background, 20 s), NLP off, white noise at -20 dBm0 and speech at -15 dBm0, after 1 s
(1.0-1.5 s) and steady (15-20 s).
Double talk, the caller dialling: an IVR prompt (speech at -15 dBm0) on a D.2 line (12 ms, ERL 6 dB)
while the caller dials "2025#" (80 ms on and off, -12 dBm0 per tone) at 4 s and 8 s; ERLE over the
2 s before each burst and the second after it (G.168 Test 3 wants the second within 3 dB of the first).
"""
from __future__ import annotations

import numpy as np

from bench.common import FRAME, FS, best_cpu_seconds_interleaved, per_frame
from firmware.dsp import EchoCanceller

SPEED_SECONDS = 10
ERLE_SECONDS = 20
WINDOWS = {"1s": (1.0, 1.5), "steady": (15.0, 20.0)}    # s
DIAL_AT_S = (4.0, 8.0)                                   # s
DIGITS = "2025#"
SPEED_BAR = 1.5                                          # x speexdsp, both ways of calling


def run(report) -> None:
    import echo_paths
    import peers
    import signals

    report.section("echo canceller, 128 ms tail, vs speexdsp 1.2.1 (128 ms, 160-sample frames)")
    far = signals.white_noise(SPEED_SECONDS, -20, seed=1)
    line = echo_paths.make_echo(far, "D.2", erl_db=6, bulk_delay_ms=20, seed=2)

    def ours_whole():
        EchoCanceller(nlp=True).process(line.rin, line.sin)

    def speex_whole():
        peers.SpeexEchoCanceller(tail_ms=128).process(line.rin, line.sin)

    def ours_frames():
        per_frame(EchoCanceller(nlp=True).process, line.rin, line.sin)

    def speex_frames():
        per_frame(peers.SpeexEchoCanceller(tail_ms=128).process, line.rin, line.sin)

    t_ours, t_speex, t_ours_f, t_speex_f = best_cpu_seconds_interleaved(
        [ours_whole, speex_whole, ours_frames, speex_frames], repeats=7)
    frames = far.size / FRAME
    for name, t in [("whole_call", t_ours), ("speexdsp_whole_call", t_speex),
                    ("per_frame", t_ours_f), ("speexdsp_per_frame", t_speex_f)]:
        report.figure(f"echo.{name}_ch_per_core", SPEED_SECONDS / t, "ch/core",
                      f"{t / frames * 1e6:.1f} us per frame")
    report.ratio("echo.whole_call_vs_speexdsp", t_speex, t_ours, floor=SPEED_BAR)
    report.ratio("echo.per_frame_vs_speexdsp", t_speex_f, t_ours_f, floor=SPEED_BAR)

    for kind, far in [("white_noise", signals.white_noise(ERLE_SECONDS, -20, seed=1)),
                      ("speech", signals.speech(ERLE_SECONDS, seed=1, level_dbm0=-15))]:
        line = echo_paths.make_echo(far, "D.2", erl_db=6, bulk_delay_ms=20, seed=2)
        outputs = {"": EchoCanceller(nlp=False).process(line.rin, line.sin),
                   "speexdsp_": peers.SpeexEchoCanceller(tail_ms=128).process(line.rin, line.sin)}
        for who, sout in outputs.items():
            for window, (a, b) in WINDOWS.items():
                erle = echo_paths.erle_db(line.echo, sout, int(a * FS), int(b * FS), near=line.near)
                report.figure(f"echo.{who}erle_{kind}_{window}_db", erle, "dB")
        ceiling = line.sin - signals.g711_roundtrip(line.echo)
        a, b = WINDOWS["steady"]
        report.figure(f"echo.mu_law_ceiling_{kind}_db",
                      echo_paths.erle_db(line.echo, ceiling, int(a * FS), int(b * FS), near=line.near), "dB",
                      "ERLE of subtracting the coded true echo")

    far = signals.speech(12, seed=1, level_dbm0=-15)
    digits = signals.dtmf(DIGITS, on_ms=80, off_ms=80, level_dbm0=-12, seed=3)
    near = np.zeros(far.size)
    for at in DIAL_AT_S:
        near[int(at * FS):int(at * FS) + digits.size] = digits
    line = echo_paths.make_echo(far, "D.2", erl_db=6, bulk_delay_ms=12, seed=2, near=near)
    outputs = {"": EchoCanceller(nlp=False).process(line.rin, line.sin),
               "speexdsp_": peers.SpeexEchoCanceller(tail_ms=128).process(line.rin, line.sin)}
    for who, sout in outputs.items():
        for k, at in enumerate(DIAL_AT_S, 1):
            end = at + digits.size / FS
            for when, (a, b) in [("before", (at - 2.0, at)), ("after", (end, end + 1.0))]:
                erle = echo_paths.erle_db(line.echo, sout, int(a * FS), int(b * FS), near=line.near)
                report.figure(f"echo.{who}erle_{when}_digits_{k}_db", erle, "dB")
