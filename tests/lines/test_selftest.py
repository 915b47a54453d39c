"""The per-port self-test on the simulated card: the figures it reports follow the line's profile."""
from __future__ import annotations

import pytest

from firmware.lines.selftest import SelfTestError, Thresholds, run_selftest
from firmware.lines.settings import PortSettings
from firmware.lines.simulated import SimulatedCard


def card_with(**profile) -> SimulatedCard:
    card = SimulatedCard(fxo=1, fxs=1, country="US")
    if profile:
        card.exchange.configure("sim0/1", **profile)
    return card


def test_a_healthy_line_passes_with_the_figures_of_its_profile():
    report = run_selftest(card_with(erl_db=12.0, noise_dbm0=-65.0), "sim0/1")
    assert report.level_dbm0 == pytest.approx(-10.0, abs=1.0)       # the test tone's level
    assert report.noise_dbm0 == pytest.approx(-65.0, abs=2.0)
    assert report.erl_db == pytest.approx(12.0, abs=1.5)
    assert report.erle_db >= 30.0
    assert report.dtmf_ok and report.dtmf_received_by_line == report.dtmf_sent
    assert report.passed
    data = report.to_dict()
    assert {"level_dbm0", "noise_dbm0", "erl_db", "erle_db", "dtmf_ok", "passed", "thresholds"} <= set(data)


def test_a_noisy_line_fails_on_noise():
    report = run_selftest(card_with(noise_dbm0=-40.0), "sim0/1")
    assert report.noise_dbm0 == pytest.approx(-40.0, abs=2.0)
    assert not report.passed


def test_a_poor_hybrid_fails_on_echo_return_loss():
    report = run_selftest(card_with(erl_db=3.0), "sim0/1")
    assert report.erl_db == pytest.approx(3.0, abs=1.5)
    assert not report.passed and report.erl_db < Thresholds().min_erl_db


def test_rx_gain_shows_in_the_level():
    card = card_with()
    card.port("sim0/1").configure(PortSettings("US", rx_gain_db=6.0))
    assert run_selftest(card, "sim0/1").level_dbm0 == pytest.approx(-4.0, abs=1.0)


def test_a_line_that_cannot_read_dtmf_fails_the_round_trip():
    card = SimulatedCard(fxo=1, fxs=0, country="US", digit_receiver=None)     # the exchange reads pulses only
    with pytest.raises(SelfTestError):           # it never collects a number, so it never answers
        run_selftest(card, "sim0/1")


def test_fxs_ports_are_refused():
    with pytest.raises(ValueError, match="FXO"):
        run_selftest(card_with(), "sim0/2")
