"""The simulated card as the line gateway sees it: the LineCard contract, and a card pulled mid-call."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from firmware.dsp.levels import FRAME_SAMPLES
from firmware.lines import (
    CardRemoved,
    CardRestored,
    LineCard,
    OffHook,
    Port,
    PortKind,
    SimulatedCard,
)


def test_it_fills_in_the_driver_interface():
    card = SimulatedCard(fxo=2, fxs=3)
    assert isinstance(card, LineCard)
    assert all(isinstance(port, Port) for port in card.ports)
    assert [(p.id, p.kind) for p in card.ports] == [
        ("sim0/1", PortKind.FXO), ("sim0/2", PortKind.FXO),
        ("sim0/3", PortKind.FXS), ("sim0/4", PortKind.FXS), ("sim0/5", PortKind.FXS)]
    assert all(p.card == "sim0" and p.in_service for p in card.ports)
    result = card.tick({})
    assert set(result.audio) == {p.id for p in card.ports}
    assert all(f.dtype == np.int16 and f.shape == (FRAME_SAMPLES,) for f in result.audio.values())
    assert card.now_ms == 20.0


def test_status_is_plain_data():
    card = SimulatedCard(fxo=1, fxs=1)
    card.exchange.call_in("sim0/1", "5551234")
    card.tick({})
    status = json.loads(json.dumps(card.status()))
    assert status["ports"][0]["ringing"] and status["exchange"][0]["state"] == "ringing"


def test_same_seed_same_world():
    def run():
        card = SimulatedCard(fxo=1, fxs=1)
        card.exchange.call_in("sim0/1", "5551234")
        card.port("sim0/1").off_hook()
        return np.concatenate([card.tick({"sim0/1": np.full(FRAME_SAMPLES, 1000, np.int16)}).audio["sim0/1"]
                               for _ in range(20)])
    np.testing.assert_array_equal(run(), run())


@pytest.mark.parametrize("to_line, error", [
    ({"sim0/1": np.zeros(FRAME_SAMPLES)}, TypeError),
    ({"sim0/1": np.zeros(FRAME_SAMPLES, np.int32)}, TypeError),
    ({"sim0/1": [0] * FRAME_SAMPLES}, TypeError),
    ({"sim0/1": np.zeros(FRAME_SAMPLES + 1, np.int16)}, ValueError),
    ({"sim0/1": np.zeros((2, FRAME_SAMPLES), np.int16)}, ValueError),
    ({"sim0/7": np.zeros(FRAME_SAMPLES, np.int16)}, ValueError),
    ([np.zeros(FRAME_SAMPLES, np.int16)], TypeError),
])
def test_bad_frames_are_refused_clearly(to_line, error):
    card = SimulatedCard(fxo=1, fxs=1)
    with pytest.raises(error):
        card.tick(to_line)
    assert card.frames == 0


def test_unknown_port_and_bad_card_names():
    with pytest.raises(KeyError, match="no port"):
        SimulatedCard().port("sim1/1")
    for name in ("", "a/b"):
        with pytest.raises(ValueError):
            SimulatedCard(name=name)
    with pytest.raises(ValueError):
        SimulatedCard(fxo=-1)


def test_card_pulled_mid_call_ends_its_calls_and_comes_back_idle(recorder):
    rec = recorder(SimulatedCard(fxo=1, fxs=2))
    card = rec.card
    trunk, phone_port = card.port("sim0/1"), card.port("sim0/2")
    card.exchange.call_in("sim0/1", "5551234")
    rec.run(2)
    trunk.off_hook()
    card.phone("sim0/2").off_hook()
    card.port("sim0/3").ring()
    rec.run(5)
    assert card.exchange.state("sim0/1") == "connected"

    card.detach()
    events = rec.run(80)
    assert events == [CardRemoved(p.id, "sim0") for p in card.ports]        # once per port, first
    assert not any(p.in_service for p in card.ports)
    assert not trunk.is_off_hook and not card.port("sim0/3").is_ringing
    assert card.exchange.state("sim0/1") == "idle"                            # the loop opened
    assert card.exchange.line("sim0/1").call.ended_by == "box"
    assert not card.phone("sim0/3").is_ringing
    trunk.off_hook()                                                          # ignored: no hardware
    card.port("sim0/3").ring()
    rec.run(10)
    assert card.exchange.state("sim0/1") == "idle" and not card.phone("sim0/3").is_ringing
    assert all(not frame.any() for frame in rec.audio["sim0/2"][-10:])

    card.attach()
    events = rec.run(1)
    assert events == [CardRestored(p.id, "sim0") for p in card.ports] + [OffHook(phone_port.id)]
    assert all(p.in_service for p in card.ports)
    card.exchange.call_in("sim0/1", "5551234")                               # back in service
    rec.run(2)
    trunk.off_hook()
    rec.run(2)
    assert card.exchange.state("sim0/1") == "connected"


def test_detach_and_attach_are_idempotent():
    card = SimulatedCard(fxo=1, fxs=0)
    card.detach()
    card.detach()
    assert card.tick({}).events == (CardRemoved("sim0/1", "sim0"),)
    card.attach()
    card.attach()
    assert card.tick({}).events == (CardRestored("sim0/1", "sim0"),)


frames = hnp.arrays(np.int16, FRAME_SAMPLES)
actions = st.sampled_from(["off_hook", "on_hook", "flash", "pulse", "ring", "stop_ring", "mwi",
                           "call_in", "hang_up", "phone_off", "phone_on", "phone_dial", "phone_flash",
                           "detach", "attach"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(actions, frames, st.integers(1, 30)), max_size=12))
def test_any_sequence_of_controls_keeps_the_card_consistent(steps):
    card = SimulatedCard(fxo=1, fxs=1, digit_receiver=None)
    trunk, line = card.port("sim0/1"), card.port("sim0/2")
    phone = card.phone("sim0/2")
    controls = {
        "off_hook": trunk.off_hook, "on_hook": trunk.on_hook, "flash": trunk.flash,
        "pulse": lambda: trunk.pulse_dial("12"), "ring": line.ring, "stop_ring": line.stop_ring,
        "mwi": lambda: line.set_message_waiting(True),
        "call_in": lambda: card.exchange.call_in("sim0/1", "1"),
        "hang_up": lambda: card.exchange.hang_up("sim0/1"), "phone_off": phone.off_hook,
        "phone_on": phone.on_hook, "phone_dial": lambda: phone.dial("1", "pulse"),
        "phone_flash": phone.flash,
        "detach": card.detach, "attach": card.attach,
    }
    for action, frame, ticks in steps:
        try:
            controls[action]()
        except ValueError:
            pass                                    # refused in this state, with a message
        for _ in range(ticks):
            result = card.tick({"sim0/1": frame, "sim0/2": frame})
            assert all(f.shape == (FRAME_SAMPLES,) and f.dtype == np.int16 for f in result.audio.values())
            assert all(event.port in ("sim0/1", "sim0/2") for event in result.events)
