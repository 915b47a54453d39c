"""Virtual phones on the simulated card's FXS ports, driven as the box and a person would."""
import numpy as np
import peers
import pytest

from firmware.dsp import ToneGenerator
from firmware.lines import Flash, OffHook, OnHook, PulseDigit, SimulatedCard, WrongPortKind
from firmware.lines.settings import CallerIdTiming

PORT = "sim0/2"                     # fxo=1, fxs=2: the first FXS port
NO_CALLERID = "the DSP core's caller ID layer is not built"


def fxs_card(country="US"):
    return SimulatedCard(fxo=1, fxs=2, country=country, digit_receiver=None)


def hook_events(events):
    return [e for e in events if isinstance(e, OffHook | OnHook | Flash | PulseDigit)]


def test_off_hook_hears_what_the_box_plays(recorder, tone_level):
    rec = recorder(fxs_card())
    phone = rec.card.phone(PORT)
    phone.off_hook()
    assert rec.run(1) == [OffHook(PORT)]
    dial_tone = ToneGenerator("dial", "US").process(8000)
    rec.run(50, {PORT: dial_tone})
    heard = phone.received_audio()
    np.testing.assert_array_equal(heard[-dial_tone.size:], dial_tone)
    assert tone_level(heard, 350) > tone_level(heard, 1000) + 40


def test_dtmf_dialling_reaches_the_box():
    card = fxs_card()
    phone = card.phone(PORT)
    phone.off_hook()
    phone.dial("102")
    audio = [card.tick({}).audio[PORT] for _ in range(40)]
    assert peers.SpandspDtmfDetector().process(np.concatenate(audio)) == "102"
    assert not phone.busy


def test_pulse_dialling_flash_and_hang_up(recorder):
    rec = recorder(fxs_card())
    phone = rec.card.phone(PORT)
    phone.off_hook()
    phone.dial("102", method="pulse")
    phone.flash()
    phone.dial("9", method="pulse")
    phone.on_hook()
    rec.run(450)
    expected = [OffHook(PORT), PulseDigit(PORT, "1"), PulseDigit(PORT, "0"), PulseDigit(PORT, "2"),
                Flash(PORT), PulseDigit(PORT, "9"), OnHook(PORT)]
    assert hook_events(rec.events) == expected
    assert not rec.card.port(PORT).is_off_hook


def test_flash_uses_the_countrys_timing(recorder):
    rec = recorder(fxs_card("CN"))                       # 100 ms timed break recall
    phone = rec.card.phone(PORT)
    phone.off_hook()
    phone.flash()
    rec.run(30)
    assert hook_events(rec.events) == [OffHook(PORT), Flash(PORT)]


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_ringing_with_fsk_caller_id(recorder, standard):
    callerid = pytest.importorskip("firmware.dsp.callerid", reason=NO_CALLERID)
    rec = recorder(fxs_card())
    port, phone = rec.card.port(PORT), rec.card.phone(PORT)
    message = callerid.encode_mdmf(callerid.CallerId(number="101", name="RECEPTION"))
    port.ring(caller_id=callerid.fsk_modulate(message, standard))
    rec.run(410)                                        # 8.2 s: two US rings, caller ID between them
    assert phone.rings == 2 and phone.is_ringing is False and port.is_ringing
    shown = phone.caller_id()
    assert (shown.number, shown.name) == ("101", "RECEPTION")


def test_dtmf_caller_id_before_the_ring(recorder):
    pytest.importorskip("firmware.dsp.callerid", reason=NO_CALLERID)
    from firmware.dsp import dtmf_generate

    rec = recorder(fxs_card())
    phone = rec.card.phone(PORT)
    rec.card.port(PORT).ring(caller_id=dtmf_generate("A5551234C", 70, 70, -10.0),
                             caller_id_timing=CallerIdTiming.BEFORE_RING)
    rec.run(120)
    assert phone.rings == 1 and phone.caller_id().number == "5551234"


def test_answering_trips_the_ringing(recorder):
    rec = recorder(fxs_card())
    port, phone = rec.card.port(PORT), rec.card.phone(PORT)
    port.ring()
    rec.run(50)
    assert phone.is_ringing
    phone.off_hook()
    assert hook_events(rec.run(1)) == [OffHook(PORT)]
    rec.run(1)
    assert not port.is_ringing and not phone.is_ringing
    rec.run(400)
    assert phone.rings == 1


def test_message_waiting_and_on_hook_data(recorder):
    rec = recorder(fxs_card())
    port, phone = rec.card.port(PORT), rec.card.phone(PORT)
    port.set_message_waiting(True)
    burst = np.arange(1, 401, dtype=np.int16)
    port.send_caller_id(burst)
    rec.run(5)
    assert phone.message_waiting
    on_hook = phone.caller_id_audio()
    np.testing.assert_array_equal(on_hook[:burst.size], burst)
    assert on_hook.size == 5 * 160 and not on_hook[burst.size:].any()
    port.set_message_waiting(False)
    rec.run(1)
    assert not phone.message_waiting


def test_on_hook_audio_is_forgotten_when_the_phone_hangs_up(recorder):
    rec = recorder(fxs_card())
    port, phone = rec.card.port(PORT), rec.card.phone(PORT)
    port.send_caller_id(np.ones(160, np.int16))
    rec.run(2)
    phone.off_hook()
    rec.run(2)
    assert np.count_nonzero(phone.caller_id_audio()) == 160    # still readable after answering
    phone.on_hook()
    rec.run(2)
    assert not phone.caller_id_audio().any()


def test_script_errors_are_clear():
    card = fxs_card()
    phone, port = card.phone(PORT), card.port(PORT)
    with pytest.raises(ValueError, match="on-hook"):
        phone.dial("1")
    with pytest.raises(ValueError, match="already on-hook"):
        phone.on_hook()
    phone.off_hook()
    with pytest.raises(ValueError, match="method"):
        phone.dial("1", method="rotary")
    with pytest.raises(ValueError, match="0-9"):
        phone.dial("*", method="pulse")
    card.tick({})
    with pytest.raises(ValueError, match="off-hook"):
        port.ring()
    with pytest.raises(WrongPortKind):
        port.off_hook()
    with pytest.raises(WrongPortKind):
        card.port("sim0/1").ring()
    with pytest.raises(KeyError, match="no phone"):
        card.phone("sim0/1")
