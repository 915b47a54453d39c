"""Real calls on loopback: phones -> Kamailio -> media workers -> Kamailio -> phones.

The test plays the switch runtime: it reads the workers' events and tells them what to do.
Phone 101 is baresip (an independent SIP stack; its microphone is a WAV file, its sndfile module
records what it hears), phone 102 is a pjsua2 phone. Tones are measured by FFT on the recorded
audio: frequency within 10 Hz, level within 3 dB of what was sent.
"""
from __future__ import annotations

import contextlib
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from signals import dbm0_to_amplitude, signal_level_dbm0

from firmware.switch.adapters.baresip import Baresip
from firmware.switch.adapters.kamailio import WorkerAddress
from firmware.switch.adapters.lab import Lab, first_event
from firmware.switch.adapters.worker_client import MediaWorker

USERS = {"101": "baresip-101-secret", "102": "pjsua-102-secret", "103": "never-registered"}
FS = 8000                           # Hz
CALLER_TONE_HZ = 1000.0             # baresip's microphone (the 1 kHz)
CALLER_TONE_DBM0 = -13.0
ANSWER_TONE_HZ = 440.0              # played by a pjsua2 tone generator
ANSWER_TONE_DBM0 = -10.0
FREQUENCY_TOLERANCE_HZ = 10.0
LEVEL_TOLERANCE_DB = 3.0
TALK_S = 1.5                        # s of audio recorded per call
SETTLE_S = 0.2                      # s skipped after the tone starts (jitter buffers filling)
MEASURE_S = 1.0                     # s analysed: 1 Hz FFT bins


def write_tone(path: Path, hz: float, level_dbm0: float, seconds: float) -> None:
    t = np.arange(int(seconds * FS)) / FS
    pcm = np.round(dbm0_to_amplitude(level_dbm0) * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(FS)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (FS, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)


def dominant_tone(path: Path) -> tuple[float, float]:
    """(frequency in Hz, level in dBm0) of the first second of tone in a recording."""
    x = read_wav(path)
    start = np.flatnonzero(np.abs(x) > dbm0_to_amplitude(-40.0))
    assert start.size, f"{path.name} is silent"
    segment = x[start[0] + int(SETTLE_S * FS):][: int(MEASURE_S * FS)]
    assert segment.size == int(MEASURE_S * FS), f"{path.name} holds less than {MEASURE_S} s of tone"
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size)))
    return float(np.argmax(spectrum)) * FS / segment.size, signal_level_dbm0(segment)


def assert_tone(path: Path, hz: float, level_dbm0: float) -> None:
    found_hz, found_dbm0 = dominant_tone(path)
    assert abs(found_hz - hz) <= FREQUENCY_TOLERANCE_HZ, f"{path.name}: {found_hz} Hz, sent {hz} Hz"
    assert abs(found_dbm0 - level_dbm0) <= LEVEL_TOLERANCE_DB, \
        f"{path.name}: {found_dbm0:.1f} dBm0, sent {level_dbm0:.1f} dBm0"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("calls")
    with Lab(run_dir, USERS, workers=2) as lab:
        yield lab


@pytest.fixture(scope="module")
def microphone(lab: Lab) -> Path:
    path = lab.run_dir / "microphone.wav"
    write_tone(path, CALLER_TONE_HZ, CALLER_TONE_DBM0, seconds=30)
    return path


@pytest.fixture(scope="module")
def baresip101(lab: Lab, microphone: Path) -> Baresip:
    return lab.baresip_phone("101", audio_source=microphone)


@pytest.fixture(scope="module")
def phone102(lab: Lab) -> MediaWorker:
    return lab.pjsua_phone("102")


def connect(worker: MediaWorker, incoming: dict, callee_leg: str) -> None:
    """The runtime's part once the callee's leg ``callee_leg`` has answered: answer, bridge."""
    worker.wait_event("answered", callee_leg)
    worker.command("answer", leg=incoming["leg"])
    worker.command("bridge", a=incoming["leg"], b=callee_leg)


def test_baresip_calls_the_pjsua_phone(lab: Lab, baresip101: Baresip, phone102: MediaWorker) -> None:
    baresip101.forget_events()
    baresip101.command("dial", lab.uri("102"))
    worker, incoming = first_event(lab.workers, "incoming")
    assert incoming["uri"].startswith("sip:102@") and "sip:101@" in incoming["from"]
    worker.command("answer", leg=incoming["leg"], code=180)
    baresip101.wait_event("CALL_RINGING")

    worker.command("make_call", leg="to102", uri=lab.uri("102"), caller=incoming["from"])
    ringing = phone102.wait_event("incoming")
    assert "sip:101@" in ringing["from"]                  # the caller's identity reaches the callee
    phone102.command("answer", leg=ringing["leg"], code=180)
    assert worker.wait_event("ringing", "to102")["code"] == 180
    phone102.command("answer", leg=ringing["leg"])
    connect(worker, incoming, "to102")
    baresip101.wait_event("CALL_ESTABLISHED")
    assert worker.wait_event("media", incoming["leg"])["codec"] == "PCMU/8000"

    recording = lab.run_dir / "heard-by-102.wav"
    phone102.command("record", leg=ringing["leg"], path=str(recording))
    phone102.command("play", leg=ringing["leg"], tone=[ANSWER_TONE_HZ], level_dbm0=ANSWER_TONE_DBM0)
    time.sleep(TALK_S)
    for digit in "15#":                                   # RFC 4733 from baresip
        baresip101.command("sndcode", digit)
        assert phone102.wait_event("dtmf", ringing["leg"])["digit"] == digit
        assert worker.wait_event("dtmf", incoming["leg"])["digit"] == digit
    phone102.command("stop_record", leg=ringing["leg"])

    baresip101.command("hangup")                          # the caller hangs up...
    worker.wait_event("hangup", incoming["leg"])
    worker.command("hangup", leg="to102")                 # ...and the runtime ends the other leg
    assert phone102.wait_event("hangup", ringing["leg"])["code"] == 200
    baresip101.wait_event("CALL_CLOSED")

    assert_tone(recording, CALLER_TONE_HZ, CALLER_TONE_DBM0)                    # 101 -> 102
    assert_tone(baresip101.recordings()["dec"], ANSWER_TONE_HZ, ANSWER_TONE_DBM0)  # 102 -> 101


def test_the_pjsua_phone_calls_baresip_and_hangs_up(lab: Lab, baresip101: Baresip,
                                                    phone102: MediaWorker) -> None:
    baresip101.forget_events()
    phone102.command("make_call", leg="call101", uri=lab.uri("101"))
    worker, incoming = first_event(lab.workers, "incoming")
    assert "sip:102@" in incoming["from"]
    worker.command("make_call", leg="to101", uri=lab.uri("101"), caller=incoming["from"])
    baresip101.wait_event("CALL_INCOMING")
    baresip101.command("accept")
    connect(worker, incoming, "to101")
    phone102.wait_event("answered", "call101")
    baresip101.wait_event("CALL_ESTABLISHED")

    recording = lab.run_dir / "heard-by-102-calling.wav"
    phone102.command("record", leg="call101", path=str(recording))
    phone102.command("send_dtmf", leg="call101", digits="42")
    for digit in "42":
        assert baresip101.wait_event("CALL_DTMF_START")["param"] == digit
    baresip101.command("hold")
    assert worker.wait_event("hold", "to101")["on"] is True
    baresip101.command("resume")
    assert worker.wait_event("hold", "to101")["on"] is False
    time.sleep(TALK_S)
    phone102.command("stop_record", leg="call101")

    phone102.command("hangup", leg="call101")             # the caller hangs up
    worker.wait_event("hangup", incoming["leg"])
    worker.command("hangup", leg="to101")
    baresip101.wait_event("CALL_CLOSED")
    assert worker.wait_event("hangup", "to101")["code"] == 200
    assert phone102.wait_event("hangup", "call101")["code"] == 200
    assert_tone(recording, CALLER_TONE_HZ, CALLER_TONE_DBM0)          # baresip's microphone


def test_a_transfer_request_is_reported_and_declined(lab: Lab, baresip101: Baresip,
                                                     phone102: MediaWorker) -> None:
    """A REFER is not followed by pjsua2 behind the runtime's back (transfers: a later stage)."""
    baresip101.forget_events()
    phone102.command("make_call", leg="xfer", uri=lab.uri("101"))
    worker, incoming = first_event(lab.workers, "incoming")
    worker.command("make_call", leg="xfer101", uri=lab.uri("101"), caller=incoming["from"])
    baresip101.wait_event("CALL_INCOMING")
    baresip101.command("accept")
    connect(worker, incoming, "xfer101")
    phone102.wait_event("answered", "xfer")
    baresip101.command("transfer", "103")
    assert "sip:103@" in worker.wait_event("transfer", "xfer101")["target"]
    assert baresip101.wait_event("TRANSFER_FAILED")["param"].startswith("603")
    with contextlib.suppress(RuntimeError):   # baresip 1.0 hangs up by itself after the failure
        baresip101.command("hangup")
    worker.wait_event("hangup", "xfer101")
    worker.command("hangup", leg=incoming["leg"])
    assert phone102.wait_event("hangup", "xfer")["code"] == 200


def test_a_conversation_across_two_workers(lab: Lab, baresip101: Baresip, phone102: MediaWorker) -> None:
    """The caller's leg is in one worker, the callee's in the other; the two workers are joined by
    a direct SIP call (a trunk) carrying G.711 and RFC 4733 between them."""
    baresip101.forget_events()
    phone102.command("make_call", leg="far", uri=lab.uri("101"))
    near, incoming = first_event(lab.workers, "incoming")
    other = next(w for w in lab.workers if w is not near)
    near_addr = f"127.0.0.1:{near.settings.sip_port}"
    other.command("trust", sources=[lab.edge, near_addr])
    try:
        near.command("make_call", leg="trunk", uri=f"sip:trunk@127.0.0.1:{other.settings.sip_port}")
        trunk_in = other.wait_event("incoming")
        assert trunk_in["source"] == near_addr
        other.command("make_call", leg="far101", uri=lab.uri("101"), caller=incoming["from"])
        baresip101.wait_event("CALL_INCOMING")
        baresip101.command("accept")
        connect(other, trunk_in, "far101")
        connect(near, incoming, "trunk")
        phone102.wait_event("answered", "far")
        baresip101.wait_event("CALL_ESTABLISHED")

        recording = lab.run_dir / "heard-by-102-across.wav"
        phone102.command("record", leg="far", path=str(recording))
        phone102.command("play", leg="far", tone=[ANSWER_TONE_HZ], level_dbm0=ANSWER_TONE_DBM0)
        phone102.command("send_dtmf", leg="far", digits="7")
        assert near.wait_event("dtmf", incoming["leg"])["digit"] == "7"
        assert other.wait_event("dtmf", trunk_in["leg"])["digit"] == "7"
        assert baresip101.wait_event("CALL_DTMF_START")["param"] == "7"
        time.sleep(TALK_S)
        phone102.command("stop_record", leg="far")

        baresip101.command("hangup")                      # the callee hangs up
        other.wait_event("hangup", "far101")
        other.command("hangup", leg=trunk_in["leg"])
        near.wait_event("hangup", "trunk")
        near.command("hangup", leg=incoming["leg"])
        assert phone102.wait_event("hangup", "far")["code"] == 200
        baresip101.wait_event("CALL_CLOSED")
    finally:
        other.command("trust", sources=[lab.edge])
    assert_tone(recording, CALLER_TONE_HZ, CALLER_TONE_DBM0)
    assert_tone(baresip101.recordings()["dec"], ANSWER_TONE_HZ, ANSWER_TONE_DBM0)


def test_a_worker_calling_an_unregistered_extension_gets_480(lab: Lab) -> None:
    worker = lab.workers[0]
    worker.command("make_call", leg="nobody", uri=lab.uri("103"))
    assert worker.wait_event("hangup", "nobody")["code"] == 480


def test_the_edge_fails_over_from_a_full_worker(lab: Lab, phone102: MediaWorker) -> None:
    """A worker that admits no incoming leg answers 503; the edge tries the next worker. The
    dispatcher list is replaced while running (no restart)."""
    full = lab.start_worker("full", max_incoming=0)
    ok = lab.workers[0]
    everyone = [WorkerAddress("127.0.0.1", w.settings.sip_port) for w in lab.workers]
    lab.kamailio.set_workers([WorkerAddress("127.0.0.1", full.settings.sip_port),
                              WorkerAddress("127.0.0.1", ok.settings.sip_port)])
    try:
        for n in range(2):                    # round robin: one of the two starts at the full one
            phone102.command("make_call", leg=f"try{n}", uri=lab.uri("199"))
            incoming = ok.wait_event("incoming")
            ok.command("hangup", leg=incoming["leg"], code=404)
            assert phone102.wait_event("hangup", f"try{n}")["code"] == 404
        refused = full.wait_event("refused")
        assert refused["code"] == 503
    finally:
        lab.kamailio.set_workers(everyone)
        full.stop()
