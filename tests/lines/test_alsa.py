"""The ALSA card on the real pyalsaaudio code path: file PCMs (an asoundrc through ALSA_CONFIG_PATH)
for the audio, a pty playing the card's controller for the signalling."""
import os
import select

import alsaaudio
import numpy as np
import pytest

from firmware.dsp.levels import FRAME_SAMPLES
from firmware.lines import (
    CardRemoved,
    CardRestored,
    Flash,
    LineCard,
    LoopCurrentDrop,
    LoopCurrentRestore,
    OffHook,
    OnHook,
    PolarityReversal,
    PortKind,
    PulseDigit,
    RingOff,
    RingOn,
)
from firmware.lines.alsa import PREFILL_PERIODS, SIGNAL_LATENCY_MS, AlsaCard

KINDS = (PortKind.FXO, PortKind.FXO, PortKind.FXS)
FRAMES = 50
CARD_CLOCK_START = 2 ** 32 - 300            # the card's ms counter wraps during the test


@pytest.fixture
def file_pcms(tmp_path, monkeypatch):
    """An ALSA configuration of two file PCMs: capture reads ``in.raw``, playback writes ``out.raw``."""
    config = tmp_path / "asoundrc"
    config.write_text(
        f'pcm.linecard_capture {{ type file; slave.pcm {{ type null }}; file "/dev/null"; '
        f'infile "{tmp_path / "in.raw"}"; format "raw" }}\n'
        f'pcm.linecard_playback {{ type file; slave.pcm {{ type null }}; file "{tmp_path / "out.raw"}"; '
        f'format "raw" }}\n')
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(config))
    return tmp_path


@pytest.fixture
def controller():
    """A pty: the test writes and reads the master side as the card's controller would."""
    master, slave = os.openpty()
    os.set_blocking(master, False)
    yield master, os.ttyname(slave)
    os.close(slave)
    try:
        os.close(master)
    except OSError:
        pass                                # a test closed it already


def captured_pattern(frames: int) -> np.ndarray:
    """A different ramp on each channel, interleaved, as the card's ADCs would deliver it."""
    ramp = np.arange(frames * FRAME_SAMPLES, dtype=np.int64)
    channels = [((ramp * (k + 1) + 1000 * k) % 60001 - 30000) for k in range(len(KINDS))]
    return np.stack(channels, axis=1).astype("<i2")


def open_card(path, control=None):
    return AlsaCard("lc0", KINDS, "linecard_capture", "linecard_playback", control)


def test_audio_moves_both_ways_frame_exact(file_pcms):
    pattern = captured_pattern(FRAMES + 10)
    pattern.tofile(file_pcms / "in.raw")
    card = open_card(file_pcms)
    assert isinstance(card, LineCard)
    rng = np.random.default_rng(1)
    sent = [{p.id: rng.integers(-32768, 32767, FRAME_SAMPLES, dtype=np.int16) for p in card.ports}
            for _ in range(FRAMES)]
    received = [card.tick(frames).audio for frames in sent]
    card.close()

    for channel, port in enumerate(card.ports):
        got = np.concatenate([frame[port.id] for frame in received])
        np.testing.assert_array_equal(got, pattern[:FRAMES * FRAME_SAMPLES, channel])
    played = np.fromfile(file_pcms / "out.raw", "<i2").reshape(-1, len(KINDS))
    prefill = PREFILL_PERIODS * FRAME_SAMPLES
    assert played.shape[0] == prefill + FRAMES * FRAME_SAMPLES
    assert not played[:prefill].any()
    for channel, port in enumerate(card.ports):
        np.testing.assert_array_equal(played[prefill:, channel], np.concatenate([s[port.id] for s in sent]))
    assert card.xruns == 0


def read_commands(master, settle_s: float = 0.01) -> bytes:
    """Everything the card has written so far. A pty hands a write to the reader asynchronously (the
    kernel's flip buffer), so read until the master has been quiet for ``settle_s``."""
    data = b""
    while select.select([master], [], [], settle_s)[0]:
        data += os.read(master, 4096)
    return data


def test_controls_become_protocol_commands(file_pcms, controller):
    captured_pattern(400).tofile(file_pcms / "in.raw")
    master, path = controller
    card = open_card(file_pcms, path)
    trunk, phone = card.port("lc0/1"), card.port("lc0/3")
    trunk.off_hook()
    trunk.flash()
    trunk.pulse_dial("905")
    trunk.on_hook()
    phone.set_message_waiting(True)
    assert read_commands(master) == (b"1 hook off\n1 flash 600\n1 pulse 905 60 40 700\n1 hook on\n"
                                     b"3 mwi on\n")
    phone.ring()                                                # US: 2 s on, 4 s off
    commands = []
    for _ in range(320):
        card.tick({})
        commands.append(read_commands(master))
    ring = [(k * 20, c) for k, c in enumerate(commands) if c]
    assert ring == [(0, b"3 ring on\n"), (2000, b"3 ring off\n"), (6000, b"3 ring on\n")]
    card.close()


def test_card_signals_become_events_with_the_cards_timing(file_pcms, controller):
    captured_pattern(400).tofile(file_pcms / "in.raw")
    master, path = controller
    card = open_card(file_pcms, path)
    script = {                          # tick -> what the controller reports, card ms from tick 0
        2: [(40, "3 hook off")],                            # the phone is lifted
        10: [(190, "3 hook on")],                           # a 600 ms flash (US window 300-1100 ms)
        40: [(790, "3 hook off")],
        63: [(1190, "3 hook on")],                          # digit 2 (60/40 ms pulses), each edge
        66: [(1250, "3 hook off")],                         # reported 60-80 ms late
        68: [(1290, "3 hook on")],
        71: [(1350, "3 hook off")],
        80: [(1590, "1 ring on")],
        130: [(2590, "1 ring off"), (2600, "2 polarity -")],
        140: [(2790, "2 loop off")],
        170: [(3390, "2 loop on")],
        200: [(3990, "3 hook on")],                         # hung up
    }
    card.port("lc0/2").off_hook()
    events = []
    for tick in range(300):
        for card_ms, text in script.get(tick, []):
            os.write(master, f"{(CARD_CLOCK_START + card_ms) % 2 ** 32} {text}\n".encode())
        events += [(tick, e) for e in card.tick({}).events]
    assert [e for _, e in events] == [
        OffHook("lc0/3"), Flash("lc0/3"), PulseDigit("lc0/3", "2"), RingOn("lc0/1"), RingOff("lc0/1"),
        PolarityReversal("lc0/2", -1), LoopCurrentDrop("lc0/2"), LoopCurrentRestore("lc0/2", 600.0),
        OnHook("lc0/3")]
    hang_up_tick = [t for t, e in events if isinstance(e, OnHook)][0]
    earliest = 200 + (1100 + SIGNAL_LATENCY_MS) // 20                         # after the flash window
    assert earliest <= hang_up_tick <= earliest + 2
    assert card.protocol_errors == 0
    os.write(master, b"5000 9 hook off\n5000 1 hook off\nnonsense\n")      # no port 9; hook is FXS only
    assert card.tick({}).events == ()
    assert card.protocol_errors == 3
    card.close()


def test_a_control_stream_that_hangs_up_takes_the_card_out_of_service(file_pcms, controller):
    captured_pattern(100).tofile(file_pcms / "in.raw")
    master, path = controller
    card = open_card(file_pcms, path)
    card.tick({})
    os.close(master)
    assert card.tick({}).events == tuple(CardRemoved(p.id, "lc0") for p in card.ports)
    assert not card.present and card.last_error
    assert card.tick({}).events == ()


class FakePcm:
    """alsaaudio.PCM's interface, in the simplest way: a script of what read() and write() do."""

    script: list = []

    def __init__(self, type, mode, device, channels, rate, format, periodsize, periods):
        self.channels, self.xrun = channels, False
        self.is_capture = type == alsaaudio.PCM_CAPTURE

    def read(self):
        step = FakePcm.script.pop(0) if FakePcm.script else "ok"
        if step == "overrun":
            return -32, b""
        if step == "gone":
            raise alsaaudio.ALSAAudioError("No such device [lc0]")
        return FRAME_SAMPLES, np.ones(FRAME_SAMPLES * self.channels, "<i2").tobytes()

    def write(self, data):
        if FakePcm.script and FakePcm.script[0] == "underrun":
            FakePcm.script.pop(0)
            self.xrun = True
            raise alsaaudio.ALSAAudioError("Broken pipe [lc0]")
        self.xrun = False
        return len(data)

    def state(self):
        return alsaaudio.PCM_STATE_XRUN if self.xrun else alsaaudio.PCM_STATE_RUNNING

    def close(self):
        pass


def test_xruns_are_counted_and_a_lost_device_detaches_the_card():
    FakePcm.script = []
    card = AlsaCard("lc0", KINDS, "x", "x", pcm_class=FakePcm)
    FakePcm.script = ["overrun"]
    assert not any(f.any() for f in card.tick({}).audio.values())          # a frame of silence
    FakePcm.script = ["underrun"]
    assert all(f.all() for f in card.tick({}).audio.values())
    assert card.xruns == 2 and card.present
    card.port("lc0/1").off_hook()
    FakePcm.script = ["gone"]
    assert card.tick({}).events == tuple(CardRemoved(p.id, "lc0") for p in card.ports)
    assert "No such device" in card.last_error and not card.port("lc0/1").is_off_hook
    card.attach()
    assert card.tick({}).events == tuple(CardRestored(p.id, "lc0") for p in card.ports)
