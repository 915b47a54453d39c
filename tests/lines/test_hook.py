import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.lines.card import Flash, OffHook, OnHook, PulseDigit
from firmware.lines.hook import HookClassifier, HookSchedule, flash_break, pulse_train
from firmware.lines.settings import LINE_COUNTRIES, PULSE_DIGIT_END_MS, FlashTiming

US_FLASH = LINE_COUNTRIES["US"].flash          # 300-1100 ms
EU_FLASH = LINE_COUNTRIES["EU"].flash          # 90-200 ms


def feed(classifier, transitions, until_ms):
    events = []
    for at, off_hook in transitions:
        events += classifier.hook(off_hook, at)
    return events + classifier.advance(until_ms)


def lifted(flash=US_FLASH):
    classifier = HookClassifier("p", flash)
    assert classifier.hook(True, 0.0) == [OffHook("p")]
    return classifier


@pytest.mark.parametrize("pps, break_ratio", [(10, 0.6), (10, 2 / 3), (8, 0.6), (12, 0.6), (11, 0.58)])
def test_pulse_digits_at_the_rates_and_ratios_rotary_dials_give(pps, break_ratio):
    period = 1000.0 / pps
    transitions, end = pulse_train("1907", 1000.0, period * break_ratio, period * (1 - break_ratio), 500.0)
    events = feed(lifted(), transitions, end + 1000)
    assert [e.digit for e in events if isinstance(e, PulseDigit)] == list("1907")
    assert not [e for e in events if not isinstance(e, PulseDigit)]


def test_a_digit_ends_only_after_a_long_make():
    classifier = lifted()
    transitions, _ = pulse_train("3", 100.0)
    events = feed(classifier, transitions, transitions[-1][0] + PULSE_DIGIT_END_MS - 1)
    assert events == []
    assert classifier.advance(transitions[-1][0] + PULSE_DIGIT_END_MS) == [PulseDigit("p", "3")]


@pytest.mark.parametrize("flash, break_ms, expected", [
    (US_FLASH, 300, [Flash("p")]),
    (US_FLASH, 600, [Flash("p")]),
    (US_FLASH, 1100, [Flash("p")]),
    (US_FLASH, 200, []),                       # between pulse and flash windows: ignored
    (US_FLASH, 10, []),                        # contact bounce
    (EU_FLASH, 100, [Flash("p")]),             # timed break recall
    (EU_FLASH, 60, []),                        # a lone pulse: digit "1" once the make lasts
])
def test_breaks_are_classified_by_their_length(flash, break_ms, expected):
    classifier = lifted(flash)
    events = feed(classifier, [(500.0, False), (500.0 + break_ms, True)], 500.0 + break_ms + 10)
    assert events == expected
    assert classifier.off_hook


def test_a_break_longer_than_the_flash_window_is_a_hang_up_as_soon_as_it_is():
    classifier = lifted()
    assert classifier.hook(False, 1000.0) == []
    assert classifier.advance(1000.0 + US_FLASH.max_ms) == []
    assert classifier.advance(1000.0 + US_FLASH.max_ms + 1) == [OnHook("p")]
    assert not classifier.off_hook
    assert classifier.hook(True, 5000.0) == [OffHook("p")]


def test_hang_up_found_on_the_next_transition_even_without_advance():
    classifier = lifted()
    classifier.hook(False, 100.0)
    assert classifier.hook(True, 100.0 + US_FLASH.max_ms + 500) == [OnHook("p"), OffHook("p")]


def test_eleven_pulses_are_no_digit():
    transitions, end = pulse_train("0", 100.0)
    transitions += [(end - 700.0 + 40.0, False), (end - 700.0 + 100.0, True)]  # one pulse more
    classifier = lifted()
    assert feed(classifier, sorted(transitions), end + 1000) == []


def test_time_must_not_go_backwards():
    classifier = lifted()
    classifier.advance(100.0)
    with pytest.raises(ValueError, match="backwards"):
        classifier.hook(False, 50.0)


def test_schedule_hands_out_transitions_once_in_order():
    schedule = HookSchedule()
    schedule.plan(*flash_break(100.0, 600.0))
    schedule.plan([(50.0, True)], 50.0)
    assert schedule.busy_until == 700.0
    assert schedule.due(100.0) == [(50.0, True)]
    assert schedule.due(701.0) == [(100.0, False), (700.0, True)]
    assert schedule.due(10_000.0) == []


@pytest.mark.parametrize("digits", ["", "12a", "*", 5])
def test_pulse_train_refuses_what_pulses_cannot_dial(digits):
    with pytest.raises(ValueError):
        pulse_train(digits, 0.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3000), st.booleans()), max_size=40))
def test_any_sequence_of_transitions_gives_only_hook_events(steps):
    classifier = HookClassifier("p", FlashTiming(100, 90, 200))
    now = 0.0
    for delta, off_hook in steps:
        now += delta
        for event in classifier.hook(off_hook, now):
            assert isinstance(event, OffHook | OnHook | Flash | PulseDigit)
