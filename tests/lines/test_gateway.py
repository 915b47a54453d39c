"""The line gateway against the simulated card: the switch's view of FXO lines and FXS phones."""
from __future__ import annotations

import numpy as np
import pytest
import signals

from firmware.dsp.levels import FRAME_SAMPLES, SAMPLE_RATE_HZ
from firmware.lines.exchange import FskCallerId
from firmware.lines.gateway import (
    IncomingLineCall,
    LineAnswered,
    LineDialled,
    LineDigit,
    LineGateway,
    LineHangup,
    LineInService,
    LineOffHook,
    LineOutOfService,
    LineProgress,
)
from firmware.lines.settings import CallerIdTiming, DisconnectMethod, PortSettings
from firmware.lines.simulated import SimulatedCard

FRAME_MS = 1000 * FRAME_SAMPLES // SAMPLE_RATE_HZ
DISCONNECT_LIMIT_MS = 2000          # issue 4, acceptance 1: the exchange's hang-up ends the call within 2 s
ECHO_BELOW_SPEECH_DB = 30           # issue 4, acceptance 1: echo toward the network, with NLP


def run(gateway: LineGateway, ms: float, until=None) -> list[tuple[float, object]]:
    """Tick for ``ms`` (or until an event satisfies ``until``); the events with their times in ms."""
    seen = []
    start = gateway.card.now_ms
    while gateway.card.now_ms - start < ms:
        for event in gateway.tick():
            seen.append((gateway.card.now_ms, event))
            if until is not None and until(event):
                return seen
    return seen


def of(seen, kind) -> list:
    return [event for _, event in seen if isinstance(event, kind)]


def answered_inbound(country: str = "CN", **card) -> tuple[SimulatedCard, LineGateway]:
    card = SimulatedCard(fxo=2, fxs=0, country=country, **card)
    gateway = LineGateway(card)
    card.exchange.call_in("sim0/1", number="075512345678")
    seen = run(gateway, 12000, until=lambda e: isinstance(e, IncomingLineCall))
    gateway.answer(of(seen, IncomingLineCall)[0].port)
    run(gateway, 100)
    assert card.exchange.state("sim0/1") == "connected"
    return card, gateway


# ------------------------------------------------------------------ FXO inbound
def test_china_fsk_caller_id_between_the_first_two_rings_offers_the_call_with_the_number():
    card = SimulatedCard(fxo=1, fxs=0, country="CN")
    assert card.exchange.line("sim0/1").profile.caller_id.timing is CallerIdTiming.AFTER_FIRST_RING
    gateway = LineGateway(card)
    card.exchange.call_in("sim0/1", number="13800138000", name="ZHANG")
    ring_starts = []
    offered = []
    was_ringing = False
    while not offered and card.now_ms < 12000:
        for event in gateway.tick():
            if isinstance(event, IncomingLineCall):
                offered.append((card.now_ms, event))
        if card.port("sim0/1").is_ringing and not was_ringing:
            ring_starts.append(card.now_ms)
        was_ringing = card.port("sim0/1").is_ringing
    at, event = offered[0]
    assert event.caller_id.number == "13800138000"
    assert event.caller_id.name == "ZHANG"
    assert len(ring_starts) == 1 and at > ring_starts[0] + 1000      # after the first 1 s ring, not the 2nd


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_fsk_caller_id_before_the_ring_is_offered_at_the_first_ring(standard):
    card = SimulatedCard(fxo=1, fxs=0, country="UK")
    card.exchange.configure("sim0/1", caller_id=FskCallerId(standard, CallerIdTiming.BEFORE_RING))
    gateway = LineGateway(card)
    card.exchange.call_in("sim0/1", number="02079460000")
    seen = run(gateway, 6000, until=lambda e: isinstance(e, IncomingLineCall))
    assert of(seen, IncomingLineCall)[0].caller_id.number == "02079460000"


def test_dtmf_caller_id_before_the_ring():
    from firmware.lines.exchange import DtmfCallerId

    card = SimulatedCard(fxo=1, fxs=0, country="EU")
    card.exchange.configure("sim0/1", caller_id=DtmfCallerId())
    gateway = LineGateway(card)
    card.exchange.call_in("sim0/1", number="4512345678")
    seen = run(gateway, 8000, until=lambda e: isinstance(e, IncomingLineCall))
    assert of(seen, IncomingLineCall)[0].caller_id.number == "4512345678"


def test_a_call_without_caller_id_is_offered_at_the_second_ring_and_an_abandoned_one_ends():
    card = SimulatedCard(fxo=1, fxs=0, country="EU")
    gateway = LineGateway(card)
    card.exchange.call_in("sim0/1")                     # no number: the line sends no caller ID
    seen = run(gateway, 8000, until=lambda e: isinstance(e, IncomingLineCall))
    assert of(seen, IncomingLineCall)[0].caller_id is None
    assert 5000 <= seen[-1][0] <= 5000 + 2 * FRAME_MS    # EU cadence 1 s on, 4 s off: second ring at 5 s
    card.exchange.hang_up("sim0/1")
    seen = run(gateway, 8000)
    assert of(seen, LineHangup) == [LineHangup("sim0/1", "abandoned")]
    assert gateway.state("sim0/1") == "idle"


# ------------------------------------------------------------------ FXO disconnect supervision
@pytest.mark.parametrize(("method", "cause"), [(DisconnectMethod.BUSY_TONE, "busy_tone"),
                                               (DisconnectMethod.POLARITY, "polarity")])
def test_the_exchange_hanging_up_ends_the_call_within_2_s(method, cause):
    card = SimulatedCard(fxo=2, fxs=0, country="CN")
    gateway = LineGateway(card)
    port = "sim0/2"
    card.exchange.configure(port, disconnect=method)
    card.exchange.call_in(port, number="13800138000")
    seen = run(gateway, 12000, until=lambda e: isinstance(e, IncomingLineCall))
    gateway.answer(port)
    card.exchange.say(port, signals.speech(3, seed=3))
    run(gateway, 3000)
    card.exchange.hang_up(port)
    hung_at = card.now_ms
    seen = run(gateway, 3000, until=lambda e: isinstance(e, LineHangup))
    assert of(seen, LineHangup) == [LineHangup(port, cause)]
    assert seen[-1][0] - hung_at <= DISCONNECT_LIMIT_MS
    run(gateway, 500)                                   # the exchange reads a break past the flash window
    assert not card.port(port).is_off_hook and card.exchange.state(port) == "idle"


def test_loop_current_drop_ends_the_call_and_a_port_not_set_for_it_ignores_it():
    card = SimulatedCard(fxo=2, fxs=0, country="US")
    card.exchange.configure("sim0/1", disconnect=DisconnectMethod.LOOP_CURRENT)
    card.exchange.configure("sim0/2", disconnect=DisconnectMethod.LOOP_CURRENT)
    card.port("sim0/2").configure(PortSettings("US", disconnect=frozenset({DisconnectMethod.BUSY_TONE})))
    gateway = LineGateway(card)
    for port in ("sim0/1", "sim0/2"):
        gateway.seize(port, "123")
    run(gateway, 8000)
    for port in ("sim0/1", "sim0/2"):
        card.exchange.hang_up(port)
    seen = run(gateway, 2000)
    assert of(seen, LineHangup) == [LineHangup("sim0/1", "loop_current")]
    assert gateway.state("sim0/2") == "connected"


def test_no_false_disconnect_while_the_far_party_talks():
    card, gateway = answered_inbound("CN")
    card.exchange.say("sim0/1", signals.speech(20, seed=11, level_dbm0=-12))
    seen = run(gateway, 20000)
    assert not of(seen, LineHangup)


# ------------------------------------------------------------------ audio and echo
def test_echo_toward_the_network_is_30_db_below_the_far_end_speech_with_nlp():
    card, gateway = answered_inbound("CN")
    far_end = signals.speech(8, seed=5, level_dbm0=-15)
    codes = signals.g711_encode(far_end)
    returned = []
    for start in range(0, far_end.size, FRAME_SAMPLES):
        gateway.push_network("sim0/1", codes[start:start + FRAME_SAMPLES])
        gateway.tick()
        returned.append(gateway.pull_network("sim0/1"))
    back = signals.g711_decode(np.concatenate(returned)).astype(np.float64)
    settled = slice(3 * SAMPLE_RATE_HZ, None)          # after the canceller converged
    speech_power = np.mean(far_end[settled].astype(np.float64) ** 2)
    echo_power = np.mean(back[settled] ** 2)
    assert 10 * np.log10(speech_power / echo_power) >= ECHO_BELOW_SPEECH_DB
    # and the line really carried an echo to cancel (the hybrid's ERL is 12 dB)
    heard = card.exchange.received_audio("sim0/1").astype(np.float64)
    assert signals.signal_level_dbm0(heard) > -25


def test_audio_passes_both_ways():
    card, gateway = answered_inbound("US")

    def tone(hz: float) -> np.ndarray:
        time_s = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
        return (signals.dbm0_to_amplitude(-10) * np.sin(2 * np.pi * hz * time_s)).astype(np.int16)

    card.exchange.say("sim0/1", tone(1004))             # the far party alone
    to_network = []
    for _ in range(SAMPLE_RATE_HZ // FRAME_SAMPLES):
        gateway.tick()
        to_network.append(gateway.pull_network("sim0/1"))
    from_line = signals.g711_decode(np.concatenate(to_network[5:45]))
    assert abs(signals.signal_level_dbm0(from_line) - -10) < 1.5
    assert dominant_frequencies(from_line, 1) == pytest.approx([1004], abs=4)
    toward_line = signals.g711_encode(tone(400))        # then the network side alone
    for start in range(0, SAMPLE_RATE_HZ, FRAME_SAMPLES):
        gateway.push_network("sim0/1", toward_line[start:start + FRAME_SAMPLES])
        gateway.tick()
    heard = card.exchange.received_audio("sim0/1")[-20 * FRAME_SAMPLES:]
    assert abs(signals.signal_level_dbm0(heard) - -10) < 1.5
    assert dominant_frequencies(heard, 1) == pytest.approx([400], abs=4)


def test_the_canceller_reference_is_exactly_what_went_to_the_line():
    card = SimulatedCard(fxo=1, fxs=0, country="US")
    card.port("sim0/1").configure(PortSettings("US", tx_gain_db=-3.5))
    gateway = LineGateway(card)
    written = []
    tick = card.tick
    card.tick = lambda to_line: written.append(to_line["sim0/1"].copy()) or tick(to_line)
    gateway.seize("sim0/1", "42")
    for _ in range(100):
        gateway.tick()
        assert np.array_equal(gateway.tap("sim0/1").to_line, written[-1])
    assert any(np.any(frame) for frame in written)


# ------------------------------------------------------------------ FXO outbound
@pytest.mark.parametrize("method", ["dtmf", "pulse"])
def test_outbound_waits_for_dial_tone_and_the_exchange_records_exactly_the_digits(method, spandsp_digits):
    card = SimulatedCard(fxo=1, fxs=0, country="US", digit_receiver=spandsp_digits)
    gateway = LineGateway(card)
    gateway.seize("sim0/1", "2125550199", method)
    seen = run(gateway, 30000, until=lambda e: isinstance(e, LineDialled))
    assert [type(e) for _, e in seen] == [LineProgress, LineDialled]
    assert seen[0][1].tone == "dial"
    run(gateway, 8000)
    assert card.exchange.dialled("sim0/1") == "2125550199"
    assert card.exchange.state("sim0/1") == "connected"
    assert gateway.state("sim0/1") == "connected"


def test_no_dial_tone_gives_up():
    card = SimulatedCard(fxo=1, fxs=0, country="US")
    card.port("sim0/1").configure(PortSettings("CN"))   # listens for 450 Hz; the US line gives 350+440
    gateway = LineGateway(card)
    gateway.seize("sim0/1", "1")
    seen = run(gateway, 8000, until=lambda e: isinstance(e, LineHangup))
    assert of(seen, LineHangup) == [LineHangup("sim0/1", "no_dial_tone")]
    assert card.exchange.dialled("sim0/1") == "" and not card.port("sim0/1").is_off_hook


# ------------------------------------------------------------------ FXS
def dominant_frequencies(samples: np.ndarray, count: int) -> list[float]:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    freqs = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE_HZ)
    peaks = [i for i in range(1, spectrum.size - 1) if spectrum[i - 1] < spectrum[i] >= spectrum[i + 1]]
    return sorted(freqs[i] for i in sorted(peaks, key=lambda i: spectrum[i])[-count:])


@pytest.mark.parametrize(("country", "expected_hz"), [("US", [350, 440]), ("CN", [450]), ("EU", [425])])
def test_an_fxs_phone_off_hook_hears_the_country_dial_tone(country, expected_hz):
    card = SimulatedCard(fxo=0, fxs=1, country=country)
    gateway = LineGateway(card)
    card.phone("sim0/1").off_hook()
    seen = run(gateway, 1000)
    assert of(seen, LineOffHook) == [LineOffHook("sim0/1")]
    heard = card.phone("sim0/1").received_audio()[-SAMPLE_RATE_HZ // 2:]
    assert dominant_frequencies(heard, len(expected_hz)) == pytest.approx(expected_hz, abs=4)


def test_an_fxs_phone_dials_by_dtmf_and_by_pulse():
    card = SimulatedCard(fxo=0, fxs=2, country="US")
    gateway = LineGateway(card)
    dtmf, pulse = card.phone("sim0/1"), card.phone("sim0/2")
    dtmf.off_hook()
    dtmf.dial("102*#")
    pulse.off_hook()
    pulse.dial("1020", "pulse")
    seen = run(gateway, 8000)
    digits = of(seen, LineDigit)
    assert "".join(d.digit for d in digits if d.port == "sim0/1") == "102*#"
    assert {d.method for d in digits if d.port == "sim0/1"} == {"dtmf"}
    assert "".join(d.digit for d in digits if d.port == "sim0/2") == "1020"
    assert {d.method for d in digits if d.port == "sim0/2"} == {"pulse"}
    dtmf.on_hook()
    assert of(run(gateway, 2000), LineHangup) == [LineHangup("sim0/1", "on_hook")]


@pytest.mark.parametrize("caller_id", ["bell202", "v23", "dtmf"])
def test_ringing_an_fxs_phone_sends_caller_id_and_lifting_it_answers(caller_id):
    from firmware.dsp.callerid import CallerId

    card = SimulatedCard(fxo=0, fxs=1, country="US")
    card.port("sim0/1").configure(PortSettings("US").with_value("caller_id", caller_id))
    gateway = LineGateway(card)
    gateway.ring("sim0/1", CallerId(number="101", name="Reception" if caller_id != "dtmf" else None))
    run(gateway, 7000)
    phone = card.phone("sim0/1")
    assert phone.rings >= 1 and phone.caller_id().number == "101"
    phone.off_hook()
    seen = run(gateway, 500)
    assert of(seen, LineAnswered) == [LineAnswered("sim0/1")]
    assert gateway.state("sim0/1") == "connected"
    gateway.hang_up("sim0/1")                           # the other party left: busy tone until on-hook
    run(gateway, 2000)
    assert gateway.state("sim0/1") == "far_end_gone"
    busy = phone.received_audio()[-SAMPLE_RATE_HZ:]
    assert dominant_frequencies(busy, 2) == pytest.approx([480, 620], abs=4)


# ------------------------------------------------------------------ card removal, checks
def test_a_card_pulled_mid_call_ends_the_call_and_comes_back_idle():
    card, gateway = answered_inbound("US")
    card.detach()
    seen = run(gateway, 100)
    assert [e for _, e in seen if e.port == "sim0/1"] == [LineHangup("sim0/1", "card_removed"),
                                                         LineOutOfService("sim0/1")]
    assert gateway.state("sim0/1") == "out_of_service"
    card.attach()
    seen = run(gateway, 100)
    assert LineInService("sim0/1") in [e for _, e in seen]
    assert gateway.state("sim0/1") == "idle"


def test_wrong_commands_and_frames_are_refused():
    card = SimulatedCard(fxo=1, fxs=1)
    gateway = LineGateway(card)
    with pytest.raises(ValueError, match="FXO"):
        gateway.seize("sim0/2")
    with pytest.raises(ValueError, match="FXS"):
        gateway.ring("sim0/1")
    with pytest.raises(ValueError, match="alerting"):
        gateway.answer("sim0/1")
    with pytest.raises(KeyError):
        gateway.state("sim0/9")
    with pytest.raises(ValueError, match="uint8"):
        gateway.push_network("sim0/1", np.zeros(FRAME_SAMPLES, np.int16))
    with pytest.raises(ValueError, match="tone"):
        gateway.play_tone("sim0/2", "howler")
    assert gateway.status() == [{"id": "sim0/1", "kind": "FXO", "card": "sim0", "state": "idle"},
                                {"id": "sim0/2", "kind": "FXS", "card": "sim0", "state": "idle"}]
