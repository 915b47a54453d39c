"""The virtual exchange, driven through the simulated card's FXO ports as the box would drive them."""
import numpy as np
import peers
import pytest
import signals

from firmware.dsp import dtmf_generate
from firmware.dsp.levels import FRAME_SAMPLES, ms_to_samples
from firmware.lines import (
    LoopCurrentDrop,
    LoopCurrentRestore,
    PolarityReversal,
    RingOff,
    RingOn,
    SimulatedCard,
)
from firmware.lines.exchange import DtmfCallerId, FskCallerId, LineProfile, dsp_digit_receiver
from firmware.lines.settings import CallerIdTiming, DisconnectMethod

PORT = "sim0/1"
FRAME_MS = 20


def callerid_module():
    return pytest.importorskip("firmware.dsp.callerid", reason="the DSP core's caller ID layer is not built")


def card_for(country="US", spandsp_digits=None, **profile):
    card = SimulatedCard(fxo=2, fxs=0, country=country, profile=LineProfile(country, **profile),
                         digit_receiver=spandsp_digits)
    return card


def frames_of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_inbound_call_china_fsk_between_first_and_second_ring():
    callerid = callerid_module()
    card = card_for("CN")
    card.exchange.call_in(PORT, "13800138000", "ZHANG")
    audio = []
    events = []
    for _ in range(400):
        start = card.now_ms
        result = card.tick({})
        audio.append(result.audio[PORT])
        events += [(start, type(e).__name__) for e in result.events]
    assert events[:4] == [(0, "RingOn"), (1000, "RingOff"), (5000, "RingOn"), (6000, "RingOff")]
    audio = np.concatenate(audio)
    found = callerid.CallerIdReceiver().process(audio[ms_to_samples(1000):ms_to_samples(5000)])
    assert [(c.number, c.name) for c in found] == [("13800138000", "ZHANG")]
    assert not callerid.CallerIdReceiver().process(audio[ms_to_samples(5000):])


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_fsk_caller_id_standards_before_ring(standard):
    callerid = callerid_module()
    signal = FskCallerId(standard, CallerIdTiming.BEFORE_RING, call_time=(3, 14, 9, 26))
    card = card_for("UK", caller_id=signal)
    card.exchange.call_in(PORT, "02079460000", "ACME LTD")
    audio, first_ring = [], None
    for k in range(150):
        result = card.tick({})
        audio.append(result.audio[PORT])
        if first_ring is None and frames_of(result.events, RingOn):
            first_ring = k
    before = np.concatenate(audio[:first_ring])
    (caller,) = callerid.CallerIdReceiver().process(before)
    assert (caller.number, caller.name) == ("02079460000", "ACME LTD")
    assert (caller.date_time.month, caller.date_time.day, caller.date_time.hour) == (3, 14, 9)


def test_dtmf_caller_id_before_the_first_ring():
    card = card_for("EU", caller_id=DtmfCallerId())
    card.exchange.call_in(PORT, "4512345678")
    audio, first_ring = [], None
    for k in range(200):
        result = card.tick({})
        audio.append(result.audio[PORT])
        if first_ring is None and frames_of(result.events, RingOn):
            first_ring = k
    assert peers.SpandspDtmfDetector().process(np.concatenate(audio[:first_ring])) == "A4512345678C"
    assert peers.SpandspDtmfDetector().process(np.concatenate(audio[first_ring:])) == ""


def test_answered_call_carries_audio_both_ways(recorder):
    rec = recorder(card_for("US", noise_dbm0=None))
    exchange = rec.card.exchange
    exchange.call_in(PORT, "5551234")
    rec.run(10)
    rec.card.port(PORT).off_hook()
    rec.run(2)
    assert exchange.state(PORT) == "connected"
    far_talker = signals.speech(1.0, seed=7)
    box_talker = signals.white_noise(1.0, -20, seed=8)
    exchange.say(PORT, far_talker)
    rec.run(50, {PORT: box_talker})
    # the far party hears exactly what the box sent
    np.testing.assert_array_equal(exchange.received_audio(PORT)[-box_talker.size:], box_talker)
    # the box hears the far party, plus the echo of its own audio 12 dB down
    heard = rec.heard(PORT, 50).astype(np.float64)
    far = far_talker.astype(np.float64)
    assert np.dot(heard, far) / np.sqrt(np.dot(heard, heard) * np.dot(far, far)) > 0.9


def test_echo_return_loss_and_delay_on_the_line(recorder):
    erl_db, bulk_ms = 10.0, 16.0
    rec = recorder(card_for("US", noise_dbm0=None, erl_db=erl_db, bulk_delay_ms=bulk_ms, seed=3))
    rec.card.exchange.call_in(PORT, "5551234")
    rec.run(2)
    rec.card.port(PORT).off_hook()
    rec.run(2)
    box = signals.white_noise(2.0, -15, seed=9)
    rec.run(100, {PORT: box})
    echo = rec.heard(PORT, 100)
    settled = slice(4000, None)
    measured = signals.signal_level_dbm0(box[settled]) - signals.signal_level_dbm0(echo[settled])
    assert measured == pytest.approx(erl_db, abs=0.5)
    lags = [np.dot(box[:12000], echo[lag:lag + 12000].astype(float)) for lag in range(0, 300)]
    assert ms_to_samples(bulk_ms) <= int(np.argmax(np.abs(lags))) < ms_to_samples(bulk_ms) + 64


def test_line_noise_level(recorder):
    rec = recorder(card_for("US", noise_dbm0=-55.0, disconnect=DisconnectMethod.POLARITY))
    rec.card.port(PORT).off_hook()
    rec.run(3)
    rec.card.exchange.hang_up(PORT)                             # no tone: a quiet, held line
    rec.run(100)
    assert signals.signal_level_dbm0(rec.heard(PORT, 90)) == pytest.approx(-55.0, abs=0.5)


def test_outbound_dtmf_dial_tone_digits_ringback_answer(recorder, tone_level, spandsp_digits):
    rec = recorder(card_for("US", spandsp_digits, noise_dbm0=None, reverse_on_answer=True))
    exchange, port = rec.card.exchange, rec.card.port(PORT)
    port.off_hook()
    rec.run(10)
    assert exchange.state(PORT) == "dial_tone"
    dial_tone = rec.heard(PORT, 8)
    assert tone_level(dial_tone, 350) > tone_level(dial_tone, 480) + 30           # US dial 350 + 440
    assert tone_level(dial_tone, 440) > tone_level(dial_tone, 620) + 30
    digits = dtmf_generate("18005550199", 60, 60, -8.0)
    rec.run(digits.size // FRAME_SAMPLES + 1, {PORT: digits})
    assert exchange.dialled(PORT) == "18005550199"
    rec.run(160)                                                    # dial timeout 3 s
    assert exchange.state(PORT) == "ringback"
    ringback = rec.heard(PORT, 50)[:ms_to_samples(1000)]
    assert tone_level(ringback, 440) > tone_level(ringback, 350) + 30              # 440 + 480
    events = rec.run(160)                                           # answers after 3 s
    assert exchange.state(PORT) == "connected"
    assert frames_of(events, PolarityReversal) == [PolarityReversal(PORT, -1)]
    box = signals.white_noise(0.4, -20, seed=2)
    rec.run(20, {PORT: box})
    np.testing.assert_array_equal(exchange.received_audio(PORT)[-box.size:], box)
    port.on_hook()
    events = rec.run(60)
    assert exchange.state(PORT) == "idle"
    assert exchange.line(PORT).call.ended_by == "box"
    assert frames_of(events, PolarityReversal) == [PolarityReversal(PORT, 1)]


def test_outbound_pulse_dialling(recorder):
    rec = recorder(card_for("EU"))                              # no DTMF receiver: pulses only
    port = rec.card.port(PORT)
    port.off_hook()
    rec.run(5)
    port.pulse_dial("0905")
    rec.run(300)
    assert rec.card.exchange.dialled(PORT) == "0905"
    assert rec.card.exchange.line(PORT).state.value in ("dialling", "ringback")


def test_flash_is_recorded_not_taken_for_a_hang_up(recorder):
    rec = recorder(card_for("US"))
    port = rec.card.port(PORT)
    rec.card.exchange.call_in(PORT, "5551234")
    rec.run(2)
    port.off_hook()
    rec.run(5)
    port.flash()
    rec.run(60)
    call = rec.card.exchange.line(PORT).call
    assert call.flashes == 1 and call.ended_by is None and rec.card.exchange.state(PORT) == "connected"


def test_far_end_hang_up_by_busy_tone_china(recorder, tone_level):
    rec = recorder(card_for("CN", noise_dbm0=None))
    rec.card.exchange.call_in(PORT, "13800138000")
    rec.run(2)
    rec.card.port(PORT).off_hook()
    rec.run(10)
    rec.card.exchange.hang_up(PORT)
    rec.run(150)
    busy = rec.heard(PORT, 140)
    assert tone_level(busy, 450) > -70 + 90                         # a tone at 450 Hz (YDN 065)
    on = np.array([np.any(busy[k:k + 80]) for k in range(0, busy.size, 80)])   # 10 ms blocks
    changes = np.flatnonzero(np.diff(on.astype(int)))
    assert np.allclose(np.diff(changes) * 10, 350, atol=10)         # 350 ms on / 350 ms off
    assert rec.card.exchange.line(PORT).call.ended_by == "exchange"


def test_far_end_hang_up_by_polarity_reversal(recorder):
    rec = recorder(card_for("CN", disconnect=DisconnectMethod.POLARITY))
    rec.card.exchange.call_in(PORT, "13800138000")
    rec.run(2)
    rec.card.port(PORT).off_hook()
    rec.run(10)
    rec.card.exchange.hang_up(PORT)
    assert rec.run(1) == [PolarityReversal(PORT, -1)]


def test_far_end_hang_up_by_loop_current_break(recorder):
    rec = recorder(card_for("US", disconnect=DisconnectMethod.LOOP_CURRENT, loop_break_ms=600))
    rec.card.exchange.call_in(PORT, "5551234")
    rec.run(2)
    rec.card.port(PORT).off_hook()
    rec.run(10)
    rec.card.exchange.hang_up(PORT)
    events = rec.run(50)
    assert events == [LoopCurrentDrop(PORT), LoopCurrentRestore(PORT, 600.0)]


def test_unanswered_call_stops_ringing_when_the_caller_gives_up(recorder):
    rec = recorder(card_for("US"))
    rec.card.exchange.call_in(PORT, "5551234")
    rec.run(50)
    rec.card.exchange.hang_up(PORT)
    events = rec.run(400)
    assert not frames_of(events, RingOn) and len(frames_of(rec.events, RingOff)) == 1
    call = rec.card.exchange.line(PORT).call
    assert not call.answered and call.ended_by == "exchange" and rec.card.exchange.state(PORT) == "idle"


def test_controls_refuse_what_the_line_state_does_not_allow():
    card = card_for("US")
    exchange = card.exchange
    with pytest.raises(ValueError, match="no call to hang up"):
        exchange.hang_up(PORT)
    with pytest.raises(ValueError, match="no call to answer"):
        exchange.answer(PORT)
    exchange.call_in(PORT, "5551234")
    with pytest.raises(ValueError, match="not idle"):
        exchange.call_in(PORT, "5551234")
    with pytest.raises(ValueError, match="configure it when idle"):
        exchange.configure(PORT, erl_db=20)
    with pytest.raises(KeyError, match="no line"):
        exchange.state("sim0/9")
    with pytest.raises(ValueError, match="DTMF caller ID"):
        DtmfCallerId()("+44 20", None)
    exchange.configure("sim0/2", country="UK")
    assert exchange.line("sim0/2").profile.caller_id.standard == "v23"


def test_answer_by_hand_when_auto_answer_is_off(recorder, spandsp_digits):
    rec = recorder(card_for("US", spandsp_digits, answer_after_ms=None, dial_timeout_ms=500))
    rec.card.port(PORT).off_hook()
    rec.run(5)
    digits = dtmf_generate("123", 60, 60, -8.0)
    rec.run(60, {PORT: digits})
    assert rec.card.exchange.state(PORT) == "ringback"
    rec.run(500)
    assert rec.card.exchange.state(PORT) == "ringback"
    rec.card.exchange.answer(PORT)
    rec.run(1)
    assert rec.card.exchange.state(PORT) == "connected"


def test_default_receiver_is_the_dsp_dtmf_detector(recorder):
    try:
        dsp_digit_receiver()
    except ImportError:
        pytest.skip("firmware.dsp.DtmfDetector is not built yet")
    rec = recorder(SimulatedCard(fxo=1, fxs=0))
    rec.card.port(PORT).off_hook()
    rec.run(5)
    rec.run(60, {PORT: dtmf_generate("4711", 60, 60, -8.0)})
    assert rec.card.exchange.dialled(PORT) == "4711"


def test_status_is_plain_data():
    import json

    card = card_for("US")
    card.exchange.call_in(PORT, "5551234")
    card.tick({})
    status = json.loads(json.dumps(card.exchange.status()))
    assert status[0]["state"] == "ringing" and status[0]["calls"][0]["number"] == "5551234"
