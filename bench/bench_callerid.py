"""Caller ID FSK and call progress: speed against spandsp's adsi_rx, decoding against SNR, and false
disconnects in an hour of speech (issue 4, acceptance item 5)."""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from bench.common import FRAME, FS, best_cpu_seconds_interleaved, per_frame
from firmware.dsp._progress import CallProgressDetector
from firmware.dsp.callerid import CallerId, CallTime, FskReceiver, encode_mdmf, fsk_modulate
from firmware.dsp.tone_plans import TONE_PLANS

SPANDSP_STANDARD = {"bell202": 1, "v23": 2}     # ADSI_STANDARD_CLASS, ADSI_STANDARD_CLIP (spandsp/adsi.h)
TONES_HZ = {"bell202": (1200.0, 2200.0), "v23": (1300.0, 2100.0)}
SNRS_DB = (15, 12, 10, 8, 6)
MESSAGES_PER_POINT = 150
SPEECH_MINUTES = 60
COUNTRIES = ("CN", "US", "EU", "UK")


class SpandspAdsiReceiver:
    """spandsp 0.0.6's adsi_rx through ctypes: gives each message whose checksum is good, less it."""

    _PUT_MSG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)

    def __init__(self, standard: str) -> None:
        path = ctypes.util.find_library("spandsp")
        if path is None:
            raise RuntimeError("libspandsp not found: apt-get install -y libspandsp-dev")
        self._lib = lib = ctypes.CDLL(path)
        lib.adsi_rx_init.restype = ctypes.c_void_p
        lib.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, self._PUT_MSG, ctypes.c_void_p]
        lib.adsi_rx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.adsi_rx_free.argtypes = [ctypes.c_void_p]
        self.messages: list[bytes] = []
        self._callback = self._PUT_MSG(lambda _, msg, n: self.messages.append(bytes(msg[:n])))
        self._state = lib.adsi_rx_init(None, SPANDSP_STANDARD[standard], self._callback, None)

    def process(self, pcm: np.ndarray) -> None:
        self._lib.adsi_rx(self._state, pcm.ctypes.data, pcm.size)

    def __del__(self) -> None:
        self._lib.adsi_rx_free(self._state)


def _uart_bits(data: bytes) -> np.ndarray:
    bits = [k % 2 for k in range(300)] + [1] * 180
    for byte in data:
        bits += [0] + [(byte >> k) & 1 for k in range(8)] + [1]
    return np.array(bits)


def _noisy_burst(message: bytes, standard: str, snr_db: float, rng, signals) -> np.ndarray:
    """Independent FSK synthesis (not fsk_modulate): +-1 % tone drift, +-1 % baud error, random phase."""
    drift, baud = rng.choice((-0.01, 0.01)), 1200 * (1 + rng.uniform(-0.01, 0.01))
    mark, space = (f * (1 + drift) for f in TONES_HZ[standard])
    bits = _uart_bits(message)
    n = int(np.ceil(bits.size * FS / baud))
    frequency = np.where(bits[np.minimum((np.arange(n) * baud / FS).astype(int), bits.size - 1)] == 1,
                         mark, space)
    level = rng.uniform(-30, -8)
    burst = signals.dbm0_to_amplitude(level) * np.sin(rng.uniform(0, 2 * np.pi)
                                                      + 2 * np.pi * np.cumsum(frequency) / FS)
    line = np.concatenate([np.zeros(int(rng.integers(0, 800))), burst, np.zeros(800)])
    noise = signals.white_noise(line.size / FS, level - snr_db, seed=int(rng.integers(1 << 31)))
    return signals.to_int16(line + noise[:line.size])


def run(report) -> None:
    import signals

    report.section("Caller ID FSK receiver vs spandsp adsi_rx")
    message = encode_mdmf(CallerId(number="5551234567", name="ACME PLUMBING", date_time=CallTime(3, 4, 5, 6)))
    burst = fsk_modulate(message, "bell202", level_dbm0=-13)
    line = np.resize(np.concatenate([burst, signals.white_noise(1.0, -50, seed=1)]), 60 * FS)
    seconds = line.size / FS

    def ours_bulk():
        FskReceiver().process(line)

    def peer_bulk():
        SpandspAdsiReceiver("bell202").process(line)

    def ours_frames():
        per_frame(FskReceiver().process, line)

    def peer_frames():
        per_frame(SpandspAdsiReceiver("bell202").process, line)

    t_ours, t_peer = best_cpu_seconds_interleaved([ours_bulk, peer_bulk], 3)
    report.figure("callerid.fsk_rx.bulk_ch_per_core", seconds / t_ours, "ch/core", "60 s in one call")
    report.figure("callerid.spandsp_adsi_rx.bulk_ch_per_core", seconds / t_peer, "ch/core")
    report.ratio("callerid.fsk_rx.bulk_vs_spandsp", t_peer, t_ours)
    t_ours, t_peer = best_cpu_seconds_interleaved([ours_frames, peer_frames], 3)
    report.figure("callerid.fsk_rx.frame_ch_per_core", seconds / t_ours, "ch/core", f"{FRAME}-sample calls")
    report.figure("callerid.spandsp_adsi_rx.frame_ch_per_core", seconds / t_peer, "ch/core")
    report.ratio("callerid.fsk_rx.frame_vs_spandsp", t_peer, t_ours)

    report.section(f"Caller ID decoding, {MESSAGES_PER_POINT} random MDMF messages per point, "
                   "+-1 % drift and baud error, white noise")
    for standard in ("bell202", "v23"):
        for snr in SNRS_DB:
            rng = np.random.default_rng([snr, len(standard)])
            ours = theirs = 0
            for _ in range(MESSAGES_PER_POINT):
                digits = "".join(str(d) for d in rng.integers(0, 10, 10))
                name = "".join(chr(c) for c in rng.integers(65, 91, int(rng.integers(1, 16))))
                message = encode_mdmf(CallerId(number=digits, name=name, date_time=CallTime(1, 2, 3, 4)))
                noisy = _noisy_burst(message, standard, snr, rng, signals)
                ours += message in FskReceiver().process(noisy)
                peer = SpandspAdsiReceiver(standard)
                peer.process(noisy)
                theirs += message[:-1] in peer.messages
            report.figure(f"callerid.{standard}.snr{snr}db.messages_ok_pct",
                          100 * ours / MESSAGES_PER_POINT, "%")
            report.figure(f"callerid.{standard}.snr{snr}db.spandsp_messages_ok_pct",
                          100 * theirs / MESSAGES_PER_POINT, "%")

    report.section(f"Call progress: false disconnects in {SPEECH_MINUTES} min of speech, speed, latency")
    parts, seed = [], 100
    while len(parts) < SPEECH_MINUTES // 5:
        try:
            parts.append(signals.speech(300, seed=seed, level_dbm0=(-8, -15, -25)[len(parts) % 3]))
        except EOFError:            # shared signals.py: an utterance text starting with "-" (espeak option)
            pass
        seed += 1
    speech = np.concatenate(parts)
    for country in COUNTRIES:
        events = CallProgressDetector(country).process(speech)
        false = sum(e.kind in ("busy", "congestion") for e in events)
        report.figure(f"progress.{country}.false_disconnects_in_{SPEECH_MINUTES}_min_speech", false, "",
                      f"{len(events)} events of any kind")
    hour = speech.size / FS
    t_bulk, t_frames = best_cpu_seconds_interleaved(
        [lambda: CallProgressDetector("US").process(speech),
         lambda: per_frame(CallProgressDetector("US").process, speech[:600 * FS])], 2)
    report.figure("progress.US.bulk_ch_per_core", hour / t_bulk, "ch/core")
    report.figure("progress.US.frame_ch_per_core", 600 / t_frames, "ch/core", f"{FRAME}-sample calls")
    for country in COUNTRIES:
        plan = TONE_PLANS[country]["busy"]
        t = np.arange(4 * FS) / FS
        amplitude = signals.dbm0_to_amplitude(plan.level_dbm0)
        tone = sum(amplitude * np.sin(2 * np.pi * f * t) for f in plan.frequencies_hz)
        cycle = np.cumsum(plan.cadence_ms) / 1000
        tone = signals.to_int16(np.where((t % cycle[-1]) < cycle[0], tone, 0.0))
        detector = CallProgressDetector(country)
        found = next(i + FRAME for i in range(0, tone.size, FRAME) if detector.process(tone[i:i + FRAME]))
        report.figure(f"progress.{country}.busy_detected_after_ms", found * 1000 / FS, "ms",
                      f"cadence {plan.cadence_ms}")
