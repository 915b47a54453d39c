"""Caller ID: Bell 202 / V.23 FSK (GR-30-CORE, ETSI EN 300 659-1), SDMF/MDMF (GR-30, EN 300 659-3),
DTMF caller ID. The FSK test bursts come from an independent numpy synthesiser below, not from
``fsk_modulate``, and the noise from ``signals.white_noise``."""
import numpy as np
import pytest
import signals
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from firmware.dsp.callerid import (
    FSK_STANDARDS,
    Absence,
    CallerId,
    CallerIdError,
    CallerIdReceiver,
    CallTime,
    DtmfCallerIdReceiver,
    FskReceiver,
    encode_dtmf_callerid,
    encode_mdmf,
    encode_sdmf,
    fsk_modulate,
    parse_dtmf_callerid,
    parse_message,
)

FS = 8000
BAUD = 1200
TONES_HZ = {"bell202": (1200.0, 2200.0), "v23": (1300.0, 2100.0)}     # (mark, space), from the standards
# GR-30-CORE's SDMF example: September 30, 12:24, from 609-555-1212.
GR30_SDMF = bytes.fromhex("04 12 30 39 33 30 31 32 32 34 36 30 39 35 35 35 31 32 31 32 51")
# A published MDMF example (China's YDN 069 layout, same as GR-30): March 17, 16:56, 2156430144.
PUBLISHED_MDMF = bytes.fromhex("80 16 01 08 30 33 31 37 31 36 35 36 02 0A 32 31 35 36 34 33 30 31 34 34 BA")


def uart_bits(data: bytes, seizure_bits=300, mark_bits=180) -> np.ndarray:
    bits = [k % 2 for k in range(seizure_bits)] + [1] * mark_bits
    for byte in data:
        bits += [0] + [(byte >> k) & 1 for k in range(8)] + [1]
    return np.array(bits)


def synthesise_fsk(bits, standard, level_dbm0, *, drift=0.0, baud_error=0.0, phase=0.0) -> np.ndarray:
    """Phase-continuous FSK (float) with both tones moved by ``drift`` and the bit rate by ``baud_error``."""
    mark, space = (f * (1 + drift) for f in TONES_HZ[standard])
    n = int(np.ceil(len(bits) * FS / (BAUD * (1 + baud_error))))
    which = np.minimum((np.arange(n) * BAUD * (1 + baud_error) / FS).astype(int), len(bits) - 1)
    frequency = np.where(bits[which] == 1, mark, space)
    phase_steps = np.concatenate([[phase], 2 * np.pi * frequency[:-1] / FS])    # sample 0 at ``phase``
    return signals.dbm0_to_amplitude(level_dbm0) * np.sin(np.cumsum(phase_steps))


def random_caller(rng) -> CallerId:
    digits = "".join(str(d) for d in rng.integers(0, 10, rng.integers(3, 16)))
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ .'-"
    name = "".join(letters[i] for i in rng.integers(0, len(letters), rng.integers(1, 16)))
    time = CallTime(int(rng.integers(1, 13)), int(rng.integers(1, 32)), int(rng.integers(0, 24)),
                    int(rng.integers(0, 60)))
    choice = rng.integers(4)
    if choice == 0:
        return CallerId(number=digits, date_time=time, name_absence=Absence.PRIVATE)
    if choice == 1:
        return CallerId(number_absence=Absence.UNAVAILABLE, date_time=time, name=name)
    return CallerId(number=digits, name=name, date_time=time)


def noisy_burst(message, standard, snr_db, rng, *, drift, baud_error) -> np.ndarray:
    level = rng.uniform(-30, -8)
    burst = synthesise_fsk(uart_bits(message), standard, level, drift=drift, baud_error=baud_error,
                           phase=rng.uniform(0, 2 * np.pi))
    lead, tail = int(rng.integers(0, 800)), 400
    line = np.concatenate([np.zeros(lead), burst, np.zeros(tail)])
    noise = signals.white_noise(line.size / FS, level - snr_db, seed=int(rng.integers(1 << 31)))
    return signals.to_int16(line + noise[:line.size])


# ------------------------------------------------------------------ FSK, acceptance item 5
@pytest.mark.parametrize("standard", ["bell202", "v23"])
@pytest.mark.parametrize("drift", [-0.01, 0.01])
def test_fsk_decodes_random_messages_error_free_at_15_db_snr_with_1_percent_drift(standard, drift):
    rng = np.random.default_rng([1, int(drift > 0), len(standard)])
    messages, decoded = [], []
    for _ in range(60):
        caller = random_caller(rng)
        message = encode_mdmf(caller) if caller.name or caller.name_absence else encode_sdmf(caller)
        line = noisy_burst(message, standard, 15.0, rng, drift=drift, baud_error=rng.uniform(-0.01, 0.01))
        messages.append(caller)
        receiver = CallerIdReceiver()
        decoded.append(receiver.process(line))
        # and byte for byte: the whole message comes out of the FSK receiver intact
        assert message in FskReceiver().process(line)
    assert decoded == [[caller] for caller in messages]


@pytest.mark.parametrize("standard", ["bell202", "v23"])
def test_fsk_has_margin_below_15_db(standard):
    """Not a requirement, a guard on the margin: at 10 dB nearly every message still decodes."""
    rng = np.random.default_rng(7)
    ok = 0
    for k in range(40):
        message = encode_mdmf(random_caller(rng))
        line = noisy_burst(message, standard, 10.0, rng, drift=0.01 if k % 2 else -0.01, baud_error=0.0)
        ok += message in FskReceiver().process(line)
    assert ok >= 39


def test_fsk_modulator_matches_an_independent_synthesis():
    message = encode_mdmf(CallerId(number="0123456789", name="ACME LTD"))
    for standard in ("bell202", "v23"):
        ours = fsk_modulate(message, standard, level_dbm0=-13.0).astype(float)
        reference = synthesise_fsk(uart_bits(message), standard, -13.0)
        assert ours.size == reference.size
        assert np.max(np.abs(ours - reference)) <= 1.0          # int16 rounding


def test_bell_202_seizure_is_30_characters_of_0x55_and_v23_the_same_300_bits():
    """GR-30's 30 x 0x55 with start and stop bits are EN 300 659-1's 300 alternating bits."""
    for standard in FSK_STANDARDS:
        decoded = FskReceiver().process(np.concatenate([fsk_modulate(GR30_SDMF, standard),
                                                        np.zeros(200, np.int16)]))
        # the first character has no mark before its start bit, so the receiver frames the rest
        assert decoded.endswith(GR30_SDMF)
        assert decoded[:-len(GR30_SDMF)].count(0x55) >= 28


def test_fsk_receiver_ignores_silence_faint_noise_and_a_lone_tone():
    receiver = FskReceiver()
    assert receiver.process(np.zeros(8000, np.int16)) == b""
    assert receiver.process(signals.white_noise(2.0, -50, seed=3)) == b""
    assert not receiver.carrier
    mark_only = signals.to_int16(signals.dbm0_to_amplitude(-13)
                                 * np.sin(2 * np.pi * 1200 * np.arange(8000) / FS))
    assert receiver.process(mark_only) == b""
    assert receiver.carrier


def test_fsk_receiver_turns_on_at_its_minimum_level_and_not_far_below():
    message = encode_sdmf(CallerId(number="5551234", date_time=CallTime(1, 2, 3, 4)))
    receiver = CallerIdReceiver(min_level_dbm0=-42.0)
    line = np.concatenate([fsk_modulate(message, "v23", level_dbm0=-41.0), np.zeros(400, np.int16)])
    assert receiver.process(line) == [parse_message(message)]
    quiet = np.concatenate([fsk_modulate(message, "v23", level_dbm0=-50.0), np.zeros(400, np.int16)])
    assert CallerIdReceiver(min_level_dbm0=-42.0).process(quiet) == []


def test_two_bursts_in_a_row_give_two_callers():
    first = encode_mdmf(CallerId(number="111", name="ONE"))
    second = encode_sdmf(CallerId(number="222", date_time=CallTime(12, 31, 23, 59)))
    gap = np.zeros(4000, np.int16)
    line = np.concatenate([fsk_modulate(first, "bell202"), gap, fsk_modulate(second, "bell202"), gap])
    assert CallerIdReceiver().process(line) == [parse_message(first), parse_message(second)]


def test_a_corrupt_burst_gives_nothing_and_the_next_one_still_decodes():
    good = encode_mdmf(CallerId(number="5550100", name="GOOD"))
    bad = bytearray(good)
    bad[5] ^= 0x01
    gap = np.zeros(4000, np.int16)
    line = np.concatenate([fsk_modulate(bytes(bad), "v23"), gap, fsk_modulate(good, "v23"), gap])
    assert CallerIdReceiver().process(line) == [parse_message(good)]


def test_china_caller_id_between_the_first_and_second_ring_is_bell_202_with_the_mdmf_layout():
    # YDN 069: FSK at 1200 +- 12 / 2200 +- 22 Hz, 1200 bit/s, after the first ring's end
    line = np.concatenate([np.zeros(4000), synthesise_fsk(uart_bits(PUBLISHED_MDMF), "bell202", -20,
                                                          drift=-0.01, phase=1.0), np.zeros(8000)])
    expected = CallerId(number="2156430144", date_time=CallTime(3, 17, 16, 56))
    assert CallerIdReceiver().process(signals.to_int16(line)) == [expected]


# ------------------------------------------------------------------ messages
def test_gr30_sdmf_example_parses_and_encodes_back():
    caller = parse_message(GR30_SDMF)
    assert caller == CallerId(number="6095551212", date_time=CallTime(9, 30, 12, 24))
    assert encode_sdmf(caller) == GR30_SDMF


def test_published_mdmf_example_parses_and_encodes_back():
    caller = parse_message(PUBLISHED_MDMF)
    assert caller == CallerId(number="2156430144", date_time=CallTime(3, 17, 16, 56))
    assert encode_mdmf(caller) == PUBLISHED_MDMF


def test_mdmf_date_number_name_and_absence_reasons():
    # built by hand from EN 300 659-3 clause 5.3 parameter codes, not by encode_mdmf
    body = (b"\x01\x0812251830"            # date and time: December 25, 18:30
            b"\x04\x01P"                   # number absent: private
            b"\x08\x01O")                  # name absent: unavailable
    message = bytes([0x80, len(body)]) + body
    message += bytes([-sum(message) & 0xFF])
    assert parse_message(message) == CallerId(date_time=CallTime(12, 25, 18, 30),
                                              number_absence=Absence.PRIVATE,
                                              name_absence=Absence.UNAVAILABLE)
    body = b"\x02\x0a0123456789\x07\x0cACME PLUMBER\x01\x0801010000"
    message = bytes([0x80, len(body)]) + body
    message += bytes([-sum(message) & 0xFF])
    assert parse_message(message) == CallerId(number="0123456789", name="ACME PLUMBER",
                                              date_time=CallTime(1, 1, 0, 0))


def test_mdmf_skips_parameters_it_does_not_know():
    body = b"\x11\x01\x01\x02\x03555\x0b\x01\xff"       # call type, number, message waiting
    message = bytes([0x80, len(body)]) + body
    message += bytes([-sum(message) & 0xFF])
    assert parse_message(message) == CallerId(number="555")


def test_sdmf_absence_reasons():
    for reason in Absence:
        caller = CallerId(date_time=CallTime(6, 1, 8, 0), number_absence=reason)
        assert parse_message(encode_sdmf(caller)) == caller


@pytest.mark.parametrize("corrupt, complaint", [
    (lambda m: m[:-1] + bytes([m[-1] ^ 0xFF]), "checksum"),
    (lambda m: m[:5] + bytes([m[5] ^ 0x10]) + m[6:], "checksum"),
    (lambda m: m[:-2] + m[-1:], "length"),
    (lambda m: m[:1] + bytes([m[1] + 1]) + m[2:], "length"),
    (lambda m: b"\x06" + m[1:], "message type"),
    (lambda m: m[:2], "at least 3 bytes"),
])
def test_corrupt_messages_raise_clear_errors(corrupt, complaint):
    with pytest.raises(CallerIdError, match=complaint):
        parse_message(corrupt(GR30_SDMF))


@pytest.mark.parametrize("body, complaint", [
    (b"\x02\x05123", "bad length"),
    (b"\x02", "cut short"),
    (b"\x01\x0813010000", "month"),
    (b"\x01\x04abcd", "date and time"),
    (b"\x04\x01X", "absence reason"),
    (b"\x02\x01\x01", "printable"),
    (b"\x02\x011\x02\x012", "twice"),
])
def test_corrupt_mdmf_parameters_raise_clear_errors(body, complaint):
    message = bytes([0x80, len(body)]) + body
    message += bytes([-sum(message) & 0xFF])
    with pytest.raises(CallerIdError, match=complaint):
        parse_message(message)


def test_encoders_refuse_what_the_format_cannot_carry():
    with pytest.raises(CallerIdError, match="date and time"):
        encode_sdmf(CallerId(number="1"))
    with pytest.raises(CallerIdError, match="no name"):
        encode_sdmf(CallerId(number="1", name="X", date_time=CallTime(1, 1, 1, 1)))
    with pytest.raises(CallerIdError, match="printable"):
        encode_mdmf(CallerId(name="caf\u00e9"))
    with pytest.raises(CallerIdError, match="at most"):
        encode_mdmf(CallerId(number="1" * 200, name="N" * 100))
    with pytest.raises(CallerIdError):
        CallTime(13, 1, 0, 0)


@settings(max_examples=200, deadline=None)
@given(number=st.text("0123456789", min_size=1, max_size=20),
       name=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)),
       absence=st.sampled_from(Absence))
def test_mdmf_round_trip(number, name, absence):
    caller = CallerId(number=number, name=name, date_time=CallTime(2, 29, 23, 59),
                      name_absence=None if name is not None else absence)
    assert parse_message(encode_mdmf(caller)) == caller


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parsing_arbitrary_bytes_either_succeeds_or_raises_caller_id_error(data):
    try:
        parse_message(data)
    except CallerIdError:
        pass


# ------------------------------------------------------------------ DTMF caller ID
@pytest.mark.parametrize("digits, expected", [
    ("A0123456789C", CallerId(number="0123456789")),
    ("D0123456789C", CallerId(number="0123456789")),
    ("A4570123456#", CallerId(number="4570123456")),
    ("B00C", CallerId(number_absence=Absence.UNAVAILABLE)),
    ("B10C", CallerId(number_absence=Absence.PRIVATE)),
    ("D1#", CallerId(number_absence=Absence.PRIVATE)),
    ("D3#", CallerId(number_absence=Absence.UNAVAILABLE)),
])
def test_dtmf_caller_id_forms(digits, expected):
    assert parse_dtmf_callerid(digits) == expected


@pytest.mark.parametrize("digits", ["A123", "AC", "B20C", "C123C", "A12*3C"])
def test_dtmf_caller_id_rejects_what_is_not_caller_id(digits):
    with pytest.raises(CallerIdError):
        parse_dtmf_callerid(digits)


def test_dtmf_caller_id_encodes_what_it_parses():
    for caller in (CallerId(number="5550123"), CallerId(number_absence=Absence.PRIVATE),
                   CallerId(number_absence=Absence.UNAVAILABLE)):
        assert parse_dtmf_callerid(encode_dtmf_callerid(caller)) == caller
    assert encode_dtmf_callerid(CallerId(number="123"), start="D", end="#") == "D123#"


def test_dtmf_caller_id_receiver_takes_digits_as_they_come():
    receiver = DtmfCallerIdReceiver()
    assert receiver.process("9") == []                       # before a start digit: ignored
    assert receiver.process("A01") == []
    assert receiver.process("23") == []
    assert receiver.process("C") == [CallerId(number="0123")]
    assert receiver.process("A55B10C") == [CallerId(number_absence=Absence.PRIVATE)]
    assert receiver.process("A" + "1" * 40 + "C") == []       # too long to be caller ID


def test_dtmf_caller_id_through_the_dtmf_detector():
    dtmf = pytest.importorskip("firmware.dsp._dtmf")
    line = signals.dtmf("A0123456789C", on_ms=70, off_ms=70, level_dbm0=-15, seed=2)
    digits = "".join(event.digit for event in dtmf.DtmfDetector().process(line))
    assert DtmfCallerIdReceiver().process(digits) == [CallerId(number="0123456789")]


# ------------------------------------------------------------------ robustness
@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 3000)), st.lists(st.integers(1, 500), min_size=1, max_size=8))
def test_fsk_receiver_is_chunking_invariant_and_never_crashes(pcm, cuts):
    whole = FskReceiver(min_level_dbm0=-60).process(pcm)
    receiver, pieces, start, k = FskReceiver(min_level_dbm0=-60), [], 0, 0
    while start < pcm.size:
        step = cuts[k % len(cuts)]
        pieces.append(receiver.process(pcm[start:start + step]))
        start, k = start + step, k + 1
    assert b"".join(pieces) == whole


def test_a_message_cut_into_frames_decodes_as_a_whole():
    message = encode_mdmf(CallerId(number="5550199", name="FRAMES", date_time=CallTime(5, 6, 7, 8)))
    line = np.concatenate([np.zeros(123, np.int16), fsk_modulate(message, "bell202"),
                           np.zeros(800, np.int16)])
    receiver = CallerIdReceiver()
    found = [caller for i in range(0, line.size, 160) for caller in receiver.process(line[i:i + 160])]
    assert found == [parse_message(message)]


@pytest.mark.parametrize("bad, error", [
    (np.zeros(10, np.float32), TypeError),
    (np.zeros((2, 10), np.int16), ValueError),
    (np.zeros(20, np.int16)[::2], ValueError),
    ([0, 1, 2], TypeError),
])
def test_fsk_receiver_rejects_bad_buffers(bad, error):
    with pytest.raises(error):
        FskReceiver().process(bad)


def test_fsk_modulate_rejects_bad_arguments():
    with pytest.raises(TypeError):
        fsk_modulate("text")
    with pytest.raises(ValueError, match="standard"):
        fsk_modulate(b"x", "v21")
    with pytest.raises(ValueError, match="clip"):
        fsk_modulate(b"x", level_dbm0=10)
    with pytest.raises(ValueError):
        fsk_modulate(b"x", seizure_bits=-1)
