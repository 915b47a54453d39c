import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.lines.settings import (
    LINE_COUNTRIES,
    PULSE_BREAK_MS,
    CallerIdTiming,
    CallerIdType,
    DisconnectMethod,
    FlashTiming,
    PortSettings,
    check_cadence,
)


def test_country_defaults_fill_the_fields_left_out():
    china = PortSettings(country="CN")
    assert china.caller_id is CallerIdType.BELL202              # YDN 069: Bell 202 tones
    assert china.caller_id_timing is CallerIdTiming.AFTER_FIRST_RING
    assert china.flash == LINE_COUNTRIES["CN"].flash
    assert china.ring_cadence_ms == (1000, 4000)
    uk = PortSettings(country="UK", caller_id=CallerIdType.DTMF)
    assert uk.caller_id is CallerIdType.DTMF                    # an explicit value wins
    assert uk.caller_id_timing is CallerIdTiming.BEFORE_RING    # SIN 227


def test_every_country_flash_window_lies_above_the_longest_dial_pulse():
    for country in LINE_COUNTRIES.values():
        assert country.flash.min_ms > PULSE_BREAK_MS[1]


@pytest.mark.parametrize("changes, message", [
    ({"country": "FR"}, "country"),
    ({"rx_gain_db": 30}, "rx_gain_db"),
    ({"tx_gain_db": float("nan")}, "tx_gain_db"),
    ({"tx_gain_db": True}, "tx_gain_db"),
    ({"echo_tail_ms": 8}, "echo_tail_ms"),
    ({"echo_tail_ms": 64.0}, "echo_tail_ms"),
    ({"caller_id": "bell202"}, "caller_id"),
    ({"disconnect": frozenset()}, "disconnect"),
    ({"disconnect": {"busy_tone"}}, "disconnect"),
    ({"flash": (100, 90, 200)}, "flash"),
])
def test_bad_values_are_refused_with_the_field_named(changes, message):
    with pytest.raises(ValueError, match=message):
        PortSettings(**changes)


@pytest.mark.parametrize("send, low, high",
                         [(50, 40, 60), (100, 150, 200), (300, 200, 250), (1000, 500, 3000)])
def test_flash_windows_that_overlap_dial_pulses_or_do_not_hold_send_are_refused(send, low, high):
    with pytest.raises(ValueError, match="flash timing"):
        FlashTiming(send, low, high)


def test_with_value_parses_the_command_line_forms():
    settings = PortSettings()
    assert settings.with_value("rx_gain_db", "-3.5").rx_gain_db == -3.5
    assert settings.with_value("echo_tail_ms", "64").echo_tail_ms == 64
    assert settings.with_value("caller_id", "v23").caller_id is CallerIdType.V23
    assert settings.with_value("disconnect", "polarity, busy_tone").disconnect == {
        DisconnectMethod.POLARITY, DisconnectMethod.BUSY_TONE}
    assert settings.with_value("flash", "500,300,900").flash == FlashTiming(500, 300, 900)
    tuned = settings.with_value("tx_gain_db", "2").with_value("country", "cn")
    assert tuned.country == "CN" and tuned.tx_gain_db == 2.0 and tuned.flash == LINE_COUNTRIES["CN"].flash
    for key, text in [("echo_tail_ms", "64.5"), ("flash", "1,2"), ("caller_id", "fsk"), ("colour", "red"),
                      ("rx_gain_db", "loud"), ("country", "XX")]:
        with pytest.raises(ValueError):
            settings.with_value(key, text)


def test_dict_form_round_trips_through_json():
    settings = PortSettings(country="UK", rx_gain_db=-2, disconnect=frozenset({DisconnectMethod.POLARITY}))
    assert PortSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(ValueError, match="unknown settings"):
        PortSettings.from_dict({"volume": 3})


def test_cadence_check():
    assert check_cadence([400, 200, 400, 2000]) == (400.0, 200.0, 400.0, 2000.0)
    for bad in ([], [1000], [0, 100], [100, -1], [100, float("inf")], "ab", None):
        with pytest.raises(ValueError):
            check_cadence(bad)


@given(st.text(max_size=20), st.text(max_size=30))
def test_with_value_only_ever_raises_value_error(key, text):
    try:
        PortSettings().with_value(key, text)
    except ValueError:
        pass
