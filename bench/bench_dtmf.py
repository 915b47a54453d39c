"""DTMF receiver beside spandsp 0.0.6's dtmf_rx: speed, and talk-off over hours of speech.

Speed on the peers' own bench input (20 s of espeak speech, 20 s of digits 60 ms on / 60 ms off,
20 s of white noise at -30 dBm0), whole signal in one call and one 160-sample frame per call from
Python. Talk-off: false digits per hour over TALK_OFF_HOURS hours of espeak speech at -15 dBm0
(signals.speech; the first run generates and caches it, which takes a while).
"""
from __future__ import annotations

import numpy as np

from bench.common import FRAME, FS, Report, best_cpu_seconds_interleaved, per_frame
from firmware.dsp import DtmfDetector

ALL_DIGITS = "0123456789*#ABCD"
SECTION_S = 20                      # s of each kind of input in the speed test
TALK_OFF_SEEDS = (0, 1)             # one hour of speech from each
TALK_OFF_HOURS = len(TALK_OFF_SEEDS)
SECONDS_PER_HOUR = 3600


def run(report: Report) -> None:
    # bench.common has put ../shared/peers on sys.path by now
    import peers
    import signals

    pcm = np.concatenate([signals.speech(SECTION_S, seed=1),
                          np.tile(signals.dtmf(ALL_DIGITS, 60, 60), 11)[:SECTION_S * FS],
                          signals.white_noise(SECTION_S, -30, seed=3)])
    audio_s = pcm.size / FS
    report.section(f"dtmf: speed on {audio_s:.0f} s (speech, digits, white noise at -30 dBm0)")
    ours_events = DtmfDetector().process(pcm)
    theirs_digits = peers.SpandspDtmfDetector().process(pcm)
    report.figure("dtmf.digits_found.ours", len(ours_events), "digits")
    report.figure("dtmf.digits_found.spandsp", len(theirs_digits), "digits")
    ours_call, theirs_call, ours_frame, theirs_frame = best_cpu_seconds_interleaved([
        lambda: DtmfDetector().process(pcm),
        lambda: peers.SpandspDtmfDetector().process(pcm),
        lambda: per_frame(DtmfDetector().process, pcm),
        lambda: per_frame(peers.SpandspDtmfDetector().process, pcm),
    ], repeats=7)
    report.figure("dtmf.one_call.ours_ch_per_core", audio_s / ours_call, "ch/core",
                  f"{ours_call / pcm.size * 1e9:.2f} ns/sample")
    report.figure("dtmf.one_call.spandsp_ch_per_core", audio_s / theirs_call, "ch/core",
                  f"{theirs_call / pcm.size * 1e9:.2f} ns/sample")
    report.ratio("dtmf.one_call.ours_over_spandsp", audio_s / ours_call, audio_s / theirs_call, floor=1.0)
    frames = pcm.size // FRAME
    report.figure("dtmf.per_frame.ours_ch_per_core", audio_s / ours_frame, "ch/core",
                  f"{ours_frame / frames * 1e6:.2f} us per frame")
    report.figure("dtmf.per_frame.spandsp_ch_per_core", audio_s / theirs_frame, "ch/core",
                  f"{theirs_frame / frames * 1e6:.2f} us per frame")
    report.ratio("dtmf.per_frame.ours_over_spandsp", audio_s / ours_frame, audio_s / theirs_frame,
                 floor=1.0)

    report.section(f"dtmf: talk-off, {TALK_OFF_HOURS} h of espeak speech at -15 dBm0 "
                   f"(seeds {', '.join(map(str, TALK_OFF_SEEDS))})")
    ours_false = theirs_false = 0
    for seed in TALK_OFF_SEEDS:
        speech = signals.speech(SECONDS_PER_HOUR, seed=seed)
        ours_false += len(DtmfDetector().process(speech))
        theirs_false += len(peers.SpandspDtmfDetector().process(speech))
        del speech
    report.figure("dtmf.talk_off.ours_false_digits_per_hour", ours_false / TALK_OFF_HOURS, "/h",
                  f"{ours_false} in {TALK_OFF_HOURS} h (bar: at most 1 per hour: "
                  f"{'met' if ours_false <= TALK_OFF_HOURS else 'MISSED'})")
    report.figure("dtmf.talk_off.spandsp_false_digits_per_hour", theirs_false / TALK_OFF_HOURS, "/h",
                  f"{theirs_false} in {TALK_OFF_HOURS} h")
