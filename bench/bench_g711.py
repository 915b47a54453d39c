"""G.711: bulk coding against spandsp, and per-frame calls against the stdlib's audioop."""
from __future__ import annotations

import warnings

import numpy as np

from bench.common import FRAME, best_cpu_seconds_interleaved
from firmware.dsp import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)   # audioop is gone in 3.13; it is only a yardstick
    import audioop

BLOCK_SAMPLES = 1_000_000
FRAME_CALLS = 20_000


def run(report) -> None:
    import peers
    import signals

    report.section("G.711 (espeak speech at -15 dBm0)")
    block = np.resize(signals.speech(20, seed=1), BLOCK_SAMPLES)
    frame = block[:FRAME].copy()
    for law in ("ulaw", "alaw"):
        _bench_law(report, law, block, frame, peers)


def _bench_law(report, law: str, block: np.ndarray, frame: np.ndarray, peers) -> None:
    frame_bytes = frame.tobytes()
    ours_enc, ours_dec = getattr(g711, f"{law}_encode"), getattr(g711, f"{law}_decode")
    peer_enc, peer_dec = getattr(peers, f"spandsp_{law}_encode"), getattr(peers, f"spandsp_{law}_decode")
    std_enc, std_dec = getattr(audioop, f"lin2{law}"), getattr(audioop, f"{law}2lin")

    t_ours, t_peer = best_cpu_seconds_interleaved(
        [lambda: ours_dec(ours_enc(block)), lambda: peer_dec(peer_enc(block))], 5)
    report.figure(f"g711.{law}.bulk_encode_decode_msamples_per_s", BLOCK_SAMPLES / t_ours / 1e6, "M/s")
    report.figure(f"g711.{law}.spandsp_bulk_encode_decode_msamples_per_s",
                  BLOCK_SAMPLES / t_peer / 1e6, "M/s")
    report.ratio(f"g711.{law}.bulk_vs_spandsp", t_peer, t_ours, floor=1.0)

    def ours_frames():
        for _ in range(FRAME_CALLS):
            ours_dec(ours_enc(frame))

    def audioop_frames():
        for _ in range(FRAME_CALLS):
            std_dec(std_enc(frame_bytes, 2), 2)

    t_ours, t_std = best_cpu_seconds_interleaved([ours_frames, audioop_frames], 5)
    report.figure(f"g711.{law}.frame_encode_decode_us", t_ours / FRAME_CALLS * 1e6, "us",
                  "160 samples, encode + decode")
    report.figure(f"g711.{law}.audioop_frame_encode_decode_us", t_std / FRAME_CALLS * 1e6, "us")
    report.ratio(f"g711.{law}.frame_vs_audioop", t_std, t_ours, floor=1.0)
