import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.lines.control import (
    CLOCK_MODULUS,
    MAX_LINE_BYTES,
    CardSignal,
    ProtocolError,
    SignalDecoder,
    encode_command,
    parse_signal,
)


def test_signals_in_any_chunking():
    stream = b"100 1 ring on\n1100 1 ring off\r\n1200 3 hook off\n1300 2 polarity -\n1400 2 loop off\n"
    expected = [CardSignal(100, 1, "ring", "on"), CardSignal(1100, 1, "ring", "off"),
                CardSignal(1200, 3, "hook", "off"), CardSignal(1300, 2, "polarity", "-"),
                CardSignal(1400, 2, "loop", "off")]
    assert SignalDecoder().feed(stream) == expected
    decoder = SignalDecoder()
    assert [s for k in range(len(stream)) for s in decoder.feed(stream[k:k + 1])] == expected


def test_the_card_clock_is_unwrapped():
    decoder = SignalDecoder()
    near_wrap = CLOCK_MODULUS - 50
    signals = decoder.feed(f"{near_wrap} 1 hook off\n30 1 hook on\n90 1 hook off\n".encode())
    assert [s.at_ms for s in signals] == [near_wrap, CLOCK_MODULUS + 30, CLOCK_MODULUS + 90]


@pytest.mark.parametrize("line", [b"1 ring on", b"x 1 ring on", b"1 0 ring on", b"1 1 ring maybe",
                                  b"1 1 bell on", b"1  1 ring on", b"\xff 1 ring on", b"-5 1 ring on",
                                  f"{CLOCK_MODULUS} 1 ring on".encode()])
def test_malformed_signals_are_refused(line):
    with pytest.raises(ProtocolError):
        parse_signal(line)


def test_bad_lines_are_counted_and_skipped():
    decoder = SignalDecoder()
    signals = decoder.feed(b"garbage\n" + b"z" * (3 * MAX_LINE_BYTES) + b"\n10 1 ring on\n")
    assert signals == [CardSignal(10, 1, "ring", "on")]
    assert decoder.errors == 2


def test_commands():
    assert encode_command(2, "ring", "on") == b"2 ring on\n"
    assert encode_command(1, "flash", 599.6) == b"1 flash 600\n"
    assert encode_command(1, "pulse", "905", 60.0, 40.0, 700.0) == b"1 pulse 905 60 40 700\n"
    for port, args in [(0, ("hook", "on")), (True, ("hook", "on")), (1, ("hook", "o n")), (1, ("hook", ""))]:
        with pytest.raises(ValueError):
            encode_command(port, *args)


@given(st.lists(st.binary(max_size=200), max_size=20))
def test_any_bytes_give_only_valid_signals(chunks):
    decoder = SignalDecoder()
    for chunk in chunks:
        for signal in decoder.feed(chunk):
            assert signal.name in ("hook", "ring", "polarity", "loop") and signal.port > 0
