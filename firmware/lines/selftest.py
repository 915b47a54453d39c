"""Per-port self-test of an FXO line: one test call, measured, as the install wizard shows it.

``run_selftest(card, port)`` places a test call through the line gateway and measures, in order:

1. DTMF out: the box seizes the line, waits for dial tone and dials ``TEST_NUMBER``; the far end
   must receive exactly those digits.
2. noise: one second with both sides quiet, the line's level as it reaches the box (dBm0).
3. level: the far end sends a 1004 Hz test tone at ``TEST_TONE_DBM0``; its level as the network
   side receives it (the port's rx gain included).
4. echo: the network side sends white noise at ``ECHO_PROBE_DBM0``; the echo return loss (what went
   to the line over what came back) and the canceller's echo return loss enhancement (what came
   back over what the network side gets, NLP included), over the last second of the probe.
5. DTMF in: the far end sends ``TEST_DIGITS_IN``; the gateway must report exactly those digits.

The far end here is the simulated card's virtual exchange (its control API answers, talks and
records). On a real line the same steps need a test number that answers with a tone and echoes
digits; running them on hardware is the runtime's job (it owns the card) and is not wired yet.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from firmware.dsp import dtmf_generate, g711
from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ, dbm0_to_amplitude, power_to_dbm0

from .card import PortKind
from .gateway import LineDigit, LineGateway, LineHangup
from .simulated import SimulatedCard

FRAME_MS = 1000.0 * FRAME_SAMPLES / SAMPLE_RATE_HZ
TEST_NUMBER = "1234567890"
TEST_DIGITS_IN = "159#"
TEST_TONE_HZ = 1004.0               # ITU-T O.6 test frequency (avoids sampling-rate submultiples)
TEST_TONE_DBM0 = -10.0
ECHO_PROBE_DBM0 = -10.0
NOISE_S = 1.0
LEVEL_S = 1.0
ECHO_S = 3.0                        # the canceller converges in the first part
MEASURE_S = 1.0                     # the last part of a phase is measured
CONNECT_LIMIT_S = 20.0              # dial tone, dialling, ringback and answer together
DIGITS_LIMIT_S = 3.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    level_dbm0: tuple[float, float] = (TEST_TONE_DBM0 - 6.0, TEST_TONE_DBM0 + 6.0)   # a line's loss, or gain
    max_noise_dbm0: float = -50.0   # idle channel noise a caller notices above this
    min_erl_db: float = 6.0         # ITU-T G.168 assumes a hybrid's ERL of at least 6 dB
    min_erle_db: float = 30.0       # echo 30 dB below the far end's speech (issue 4, acceptance 1)


@dataclass(frozen=True, slots=True)
class SelfTestReport:
    port: str
    level_dbm0: float
    noise_dbm0: float
    erl_db: float
    erle_db: float
    canceller_erle_db: float        # the canceller's own running estimate (linear part, no NLP)
    dtmf_ok: bool
    dtmf_sent: str
    dtmf_received_by_line: str
    dtmf_from_line: str
    passed: bool
    thresholds: Thresholds = field(default_factory=Thresholds)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["thresholds"] = asdict(self.thresholds)
        for key, value in data.items():
            if isinstance(value, float) and not math.isfinite(value):
                data[key] = None                # JSON has no infinities
        return data


class SelfTestError(RuntimeError):
    """The test call could not be made (no dial tone, no answer, the card went away)."""


def _level(frames: list[np.ndarray]) -> float:
    samples = np.concatenate(frames).astype(np.float64)
    return power_to_dbm0(float(np.mean(samples * samples)))


def run_selftest(card: SimulatedCard, port: str, thresholds: Thresholds | None = None) -> SelfTestReport:
    """The self-test of FXO ``port`` of a simulated card; see the module docstring."""
    thresholds = Thresholds() if thresholds is None else thresholds
    if card.port(port).kind is not PortKind.FXO:
        raise ValueError(f"the self-test runs on FXO ports; {port} is {card.port(port).kind.value}")
    gateway = LineGateway(card)
    exchange = card.exchange

    def ticks(seconds: float):
        for _ in range(int(round(seconds * 1000.0 / FRAME_MS))):
            events = gateway.tick()
            if any(isinstance(e, LineHangup) and e.port == port for e in events):
                raise SelfTestError(f"the line dropped the test call ({events})")
            yield events

    gateway.seize(port, TEST_NUMBER)
    for _ in ticks(CONNECT_LIMIT_S):
        if exchange.state(port) == "connected" and gateway.state(port) == "connected":
            break
    else:
        raise SelfTestError(f"no answer on {port}: the line is {exchange.state(port)}")

    quiet = [gateway.tap(port).from_line for _ in ticks(NOISE_S)]
    noise = _level(quiet[-int(MEASURE_S * 1000 / FRAME_MS):])

    time_s = np.arange(int(LEVEL_S * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    exchange.say(port, np.rint(dbm0_to_amplitude(TEST_TONE_DBM0) * np.sin(2 * np.pi * TEST_TONE_HZ * time_s))
                 .astype(np.int16))
    received = []
    for _ in ticks(LEVEL_S):
        received.append(g711.ulaw_decode(gateway.pull_network(port)))
    level = _level(received[len(received) // 2:])

    rng = np.random.default_rng(0)
    probe_frames = int(round(ECHO_S * 1000.0 / FRAME_MS))
    probe = np.clip(rng.normal(0.0, dbm0_to_amplitude(ECHO_PROBE_DBM0) / math.sqrt(2.0),
                               (probe_frames, FRAME_SAMPLES)), -32768, 32767).astype(np.int16)
    sent, back, cleaned = [], [], []
    for frame in probe:
        gateway.push_network(port, g711.ulaw_encode(frame))
        next(ticks(FRAME_MS / 1000.0))
        tap = gateway.tap(port)
        sent.append(tap.to_line)
        back.append(tap.from_line)
        cleaned.append(g711.ulaw_decode(gateway.pull_network(port)))
    measured = int(MEASURE_S * 1000 / FRAME_MS)
    erl = _level(sent[-measured:]) - _level(back[-measured:])
    erle = _level(back[-measured:]) - _level(cleaned[-measured:])
    canceller_erle = gateway.erle_db(port)

    for _ in ticks(0.5):                        # the echo's tail dies away
        pass
    exchange.say(port, dtmf_generate(TEST_DIGITS_IN, 80, 80, -10.0))
    heard = ""
    for events in ticks(DIGITS_LIMIT_S):
        heard += "".join(e.digit for e in events if isinstance(e, LineDigit) and e.port == port)
    gateway.hang_up(port)
    for _ in range(int(round(1000.0 / FRAME_MS))):      # the line sees the release
        gateway.tick()

    dialled = exchange.dialled(port)
    dtmf_ok = dialled == TEST_NUMBER and heard == TEST_DIGITS_IN
    low, high = thresholds.level_dbm0
    passed = (dtmf_ok and low <= level <= high and noise <= thresholds.max_noise_dbm0
              and erl >= thresholds.min_erl_db and erle >= thresholds.min_erle_db)
    return SelfTestReport(port, round(level, 1), round(noise, 1), round(erl, 1), round(erle, 1),
                          round(canceller_erle, 1), dtmf_ok, TEST_NUMBER, dialled, heard, passed, thresholds)


__all__ = ["run_selftest", "SelfTestReport", "SelfTestError", "Thresholds"]
