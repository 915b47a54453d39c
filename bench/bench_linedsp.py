"""The full per-port pipeline (echo canceller, DTMF detector, G.711), called per 20 ms frame."""
from __future__ import annotations

from bench.common import FRAME, FS, best_cpu_seconds_interleaved, per_frame
from firmware.dsp import LineDsp, g711

SECONDS = 10


def run(report) -> None:
    import echo_paths
    import signals

    report.section("LineDsp per 160-sample frame (128 ms tail, NLP and comfort noise on)")
    far = signals.speech(SECONDS, seed=3, level_dbm0=-15)
    line = echo_paths.make_echo(far, "D.4", erl_db=10, bulk_delay_ms=20, seed=4)
    from_network = g711.ulaw_encode(line.rin)

    def whole_call():
        per_frame(LineDsp().process, line.sin, from_network)

    (t,) = best_cpu_seconds_interleaved([whole_call], 3)
    report.figure("linedsp.frame_ch_per_core", SECONDS / t, "ch/core", "bar: >= 500")
    report.figure("linedsp.frame_us", t / (SECONDS * FS / FRAME) * 1e6, "us/frame")
