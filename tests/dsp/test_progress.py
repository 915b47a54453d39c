"""Call-progress tones (ITU-T E.180 and the national plans of ``TONE_PLANS``), learning a line's busy
tone, and ring cadences. The test tones are numpy sinusoids gated by their cadence, built here from
the plans' figures, not by ``ToneGenerator``; speech and noise come from ``signals``."""
import numpy as np
import pytest
import signals
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from firmware.dsp._progress import (
    RING_CADENCES,
    CallProgressDetector,
    CallProgressEvent,
    RingCadenceDetector,
    RingCadenceEvent,
    learn_tone,
)
from firmware.dsp.tone_plans import TONE_PLANS, TonePlan

FS = 8000
ACCEPTANCE_COUNTRIES = ("CN", "US", "EU", "UK")


def cadenced_tone(frequencies, level_dbm0, cadence_ms, seconds, *, scale=1.0, offset_ms=0.0, seed=0,
                  noise_dbm0=-60.0):
    """Sum of sines (random phases), switched on and off by ``cadence_ms`` stretched by ``scale``,
    the cadence entered ``offset_ms`` into its cycle; white noise under it all."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    x = sum(signals.dbm0_to_amplitude(level_dbm0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
            for f in frequencies)
    if cadence_ms:
        durations = np.array(cadence_ms) * scale
        bounds = np.concatenate([[0], np.cumsum(durations)])
        phase = (t * 1000 + offset_ms) % bounds[-1]
        position = np.searchsorted(bounds, phase, side="right") - 1
        x = np.where(position % 2 == 0, x, 0.0)
    noise = signals.white_noise(seconds, noise_dbm0, seed=seed + 1)[:t.size]
    return signals.to_int16(x + noise)


def burst_starts(cadence_ms, scale, offset_ms, seconds):
    """Samples where the bursts begin; 0 for a burst under way when the signal starts."""
    durations = np.array(cadence_ms) * scale
    bounds = np.concatenate([[0], np.cumsum(durations)])
    cycles = int(seconds * 1000 / bounds[-1]) + 2
    starts = [b - offset_ms + k * bounds[-1] for k in range(cycles) for b in bounds[:-1:2]]
    ends = [s + d for s, d in zip(starts, np.tile(durations[::2], cycles), strict=True)]
    return sorted(int(round(max(s, 0) * FS / 1000)) for s, e in zip(starts, ends, strict=True) if e > 0)


def run(detector, pcm, frame=160):
    return [e for i in range(0, pcm.size, frame) for e in detector.process(pcm[i:i + frame])]


# ------------------------------------------------------------------ acceptance item 5
@pytest.mark.parametrize("country", ACCEPTANCE_COUNTRIES)
@pytest.mark.parametrize("kind", ["busy", "congestion"])
@pytest.mark.parametrize("scale", [0.9, 1.0, 1.1])
def test_busy_and_congestion_are_detected_within_10_percent_cadence_tolerance(country, kind, scale):
    plan = TONE_PLANS[country][kind]
    cycle_ms = sum(plan.cadence_ms) * scale
    for seed, offset_fraction in enumerate((0.0, 0.37, 0.81)):
        offset_ms = offset_fraction * cycle_ms
        seconds = 3 * cycle_ms / 1000 + 1.5
        pcm = cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, seconds,
                            scale=scale, offset_ms=offset_ms, seed=seed)
        events = run(CallProgressDetector(country), pcm)
        assert [e.kind for e in events] == [kind], (seed, events)
        # it starts at a burst, at latest one cycle after the first whole one
        starts = burst_starts(plan.cadence_ms, scale, offset_ms, seconds)
        nearest = min(starts, key=lambda start: abs(start - events[0].start))
        assert abs(events[0].start - nearest) <= 0.005 * FS
        whole = [start for start in starts if start > 0] if starts[0] == 0 else starts
        assert events[0].start <= whole[0] + cycle_ms * FS / 1000 + 0.005 * FS


@pytest.mark.parametrize("country", ACCEPTANCE_COUNTRIES)
def test_busy_tone_is_recognised_within_two_seconds_of_its_first_burst(country):
    plan = TONE_PLANS[country]["busy"]
    pcm = cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, 4.0, seed=3)
    detector = CallProgressDetector(country)
    found_at = next(i for i in range(0, pcm.size, 160) if detector.process(pcm[i:i + 160]))
    assert found_at + 160 <= 2 * FS


@pytest.mark.parametrize("country, kind, scale", [
    ("US", "busy", 0.6),            # 300/300: neither busy (500/500) nor congestion (250/250)
    ("EU", "busy", 1.3),            # 650/650
    ("CN", "busy", 1.4),            # 490/490: between busy (350/350) and congestion (700/700)
    ("UK", "congestion", 1.25),
])
def test_cadences_well_outside_the_tolerance_are_not_disconnect_tones(country, kind, scale):
    plan = TONE_PLANS[country][kind]
    pcm = cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, 8.0, scale=scale, seed=5)
    assert [e for e in run(CallProgressDetector(country), pcm) if e.kind in ("busy", "congestion")] == []


@pytest.mark.slow
def test_no_false_disconnect_in_minutes_of_speech():
    """Acceptance item 5 asks for 1 h (the bench measures that); CI runs 6 minutes at three levels."""
    speech = np.concatenate([signals.speech(120, seed=31, level_dbm0=-15),
                             signals.speech(120, seed=32, level_dbm0=-8),
                             signals.speech(120, seed=34, level_dbm0=-28)])
    for country in ACCEPTANCE_COUNTRIES:
        events = CallProgressDetector(country).process(speech)
        assert [e for e in events if e.kind in ("busy", "congestion")] == [], country


@pytest.mark.parametrize("country", ACCEPTANCE_COUNTRIES)
def test_busy_tone_after_speech_is_the_far_end_hanging_up(country):
    plan = TONE_PLANS[country]["busy"]
    speech = signals.speech(20, seed=41, level_dbm0=-12)
    busy = cadenced_tone(plan.frequencies_hz, plan.level_dbm0 - 6, plan.cadence_ms, 3.0, seed=7,
                         noise_dbm0=-50)
    events = run(CallProgressDetector(country), np.concatenate([speech, busy]))
    assert [e.kind for e in events] == ["busy"]
    # the speech just before the tone can blur its first edge by up to a block
    assert abs(events[0].start - speech.size) <= 0.02 * FS


# ------------------------------------------------------------------ the other tones
@pytest.mark.parametrize("country", ACCEPTANCE_COUNTRIES)
def test_dial_tone(country):
    plan = TONE_PLANS[country]["dial"]
    pcm = np.concatenate([np.zeros(4000, np.int16),
                          cadenced_tone(plan.frequencies_hz, plan.level_dbm0, (), 3.0, seed=2)])
    assert run(CallProgressDetector(country), pcm) == [CallProgressEvent("dial", 4000)]


@pytest.mark.parametrize("country", ACCEPTANCE_COUNTRIES)
@pytest.mark.parametrize("scale", [0.9, 1.1])
def test_ringback_is_reported_once_from_its_first_bursts(country, scale):
    plan = TONE_PLANS[country]["ringback"]
    pcm = np.concatenate([np.zeros(800, np.int16),
                          cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, 14.0,
                                        scale=scale, seed=4)])
    events = run(CallProgressDetector(country), pcm)
    assert [e.kind for e in events] == ["ringback"]
    assert abs(events[0].start - 800) < 0.005 * FS


def test_a_tone_is_reported_again_after_it_has_gone_and_come_back():
    plan = TONE_PLANS["EU"]["busy"]
    burst = cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, 2.6, seed=1)
    pcm = np.concatenate([burst, np.zeros(2 * FS, np.int16), burst])
    assert [e.kind for e in run(CallProgressDetector("EU"), pcm)] == ["busy", "busy"]


def test_the_us_tones_are_told_apart_by_their_frequencies():
    """US dial (350+440), ringback (440+480) and busy (480+620) share frequencies pairwise."""
    for kind in ("dial", "ringback", "busy"):
        plan = TONE_PLANS["US"][kind]
        pcm = cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, 7.0, seed=6)
        assert [e.kind for e in CallProgressDetector("US").process(pcm)] == [kind]


def test_a_quiet_tone_below_the_minimum_level_is_not_on():
    plan = TONE_PLANS["US"]["busy"]
    pcm = cadenced_tone(plan.frequencies_hz, -50, plan.cadence_ms, 4.0, seed=8, noise_dbm0=-80)
    assert CallProgressDetector("US").process(pcm) == []
    assert [e.kind for e in CallProgressDetector("US", min_level_dbm0=-55).process(pcm)] == ["busy"]


# ------------------------------------------------------------------ learning a line's busy tone
@pytest.mark.parametrize("frequencies, cadence_ms, level_dbm0", [
    ((437.0,), (330.0, 470.0), -22.0),                 # an odd PBX's busy tone
    ((455.0, 610.0), (600.0, 400.0), -27.0),           # a dual tone with twist-free components
    ((412.0,), (400.0, 350.0, 225.0, 525.0), -18.0),   # a two-burst cycle
])
def test_learning_a_busy_tone_from_a_recording_and_then_detecting_it(frequencies, cadence_ms, level_dbm0):
    recording = cadenced_tone(frequencies, level_dbm0, cadence_ms, 6.0, offset_ms=123.0, seed=9,
                              noise_dbm0=level_dbm0 - 25)
    plan = learn_tone(recording)
    assert plan.frequencies_hz == pytest.approx(frequencies, abs=2.0)
    assert plan.level_dbm0 == pytest.approx(level_dbm0, abs=1.0)
    # the learned cycle may start at any burst: compare it as a rotation
    learned = list(plan.cadence_ms)
    rotations = [learned[k:] + learned[:k] for k in range(0, len(learned), 2)]
    assert any(rotation == pytest.approx(cadence_ms, rel=0.03) for rotation in rotations), learned

    detector_plans = {"busy": plan}
    for scale in (0.9, 1.1):
        fresh = cadenced_tone(frequencies, level_dbm0 + 4, cadence_ms, 5.0, scale=scale, seed=10)
        events = run(CallProgressDetector(None, extra_plans=detector_plans), fresh)
        assert [e.kind for e in events] == ["busy"]
    speech = signals.speech(60, seed=42, level_dbm0=-15)
    assert CallProgressDetector(None, extra_plans=detector_plans).process(speech) == []


def test_a_learned_tone_is_watched_beside_the_countrys_own():
    learned = TonePlan((437.0,), -20.0, (330.0, 470.0))
    detector = CallProgressDetector("EU", extra_plans={"busy": learned})
    own = TONE_PLANS["EU"]["busy"]
    pcm = np.concatenate([cadenced_tone((437.0,), -20, (330.0, 470.0), 3.0, seed=11),
                          np.zeros(2 * FS, np.int16),
                          cadenced_tone(own.frequencies_hz, own.level_dbm0, own.cadence_ms, 3.0, seed=12)])
    assert [e.kind for e in run(detector, pcm)] == ["busy", "busy"]


@pytest.mark.parametrize("recording", [
    lambda: np.zeros(5 * FS, np.int16),
    lambda: signals.white_noise(5, -30, seed=13),
    lambda: signals.speech(8, seed=14),
    lambda: cadenced_tone((425.0,), -20, (), 5.0, seed=15),                     # continuous: no cadence
    lambda: cadenced_tone((425.0,), -20, (500.0, 500.0), 1.2, seed=16),         # too short
])
def test_learning_refuses_recordings_without_a_repeating_tone(recording):
    with pytest.raises(ValueError, match="no tone|no cadence"):
        learn_tone(recording())


# ------------------------------------------------------------------ ring cadence
def ring_edges(cadence_ms, cycles, *, scale=1.0, start=1000, jitter_ms=0.0, seed=0):
    """(ringing, sample) edges of ``cycles`` cadence cycles, each edge jittered by up to ``jitter_ms``."""
    rng = np.random.default_rng(seed)
    edges, t = [], float(start)
    for _ in range(cycles):
        for k, ms in enumerate(cadence_ms):
            edges.append((k % 2 == 0, int(round(t + rng.uniform(-jitter_ms, jitter_ms) * FS / 1000))))
            t += ms * scale * FS / 1000
    return edges


def test_ring_cadences_come_from_the_countries_ringback_plans():
    assert RING_CADENCES["US"] == (2000.0, 4000.0)
    assert RING_CADENCES["UK"] == (400.0, 200.0, 400.0, 2000.0)
    assert RING_CADENCES["CN"] == RING_CADENCES["EU"] == (1000.0, 4000.0)


@pytest.mark.parametrize("country, expected", [("US", ("US",)), ("UK", ("UK",)), ("EU", ("EU", "CN")),
                                               ("CN", ("EU", "CN"))])
@pytest.mark.parametrize("scale", [0.9, 1.0, 1.1])
def test_ring_cadence_is_classified_by_country(country, expected, scale):
    detector = RingCadenceDetector()
    edges = ring_edges(RING_CADENCES[country], 3, scale=scale, jitter_ms=10, seed=1)
    reported = [(k, e) for k, (ringing, at) in enumerate(edges) for e in detector.process(ringing, at)]
    assert [set(e.cadences) for _, e in reported] == [set(expected)]
    # at the ring that completes the first cycle, naming that cycle's first ring
    assert reported[0][0] == len(RING_CADENCES[country])
    assert reported[0][1] == RingCadenceEvent(reported[0][1].cadences, edges[0][1])


def test_ring_cadence_outside_every_pattern_is_not_classified():
    detector = RingCadenceDetector()
    edges = ring_edges((1500.0, 1500.0), 4)
    assert [e for ringing, at in edges for e in detector.process(ringing, at)] == []


def test_a_new_call_after_a_long_silence_is_classified_again():
    detector = RingCadenceDetector()
    first = ring_edges(RING_CADENCES["US"], 2)
    second = ring_edges(RING_CADENCES["US"], 2, start=first[-1][1] + 30 * FS)
    events = [e for ringing, at in first + second for e in detector.process(ringing, at)]
    assert len(events) == 2


def test_custom_ring_cadences_and_bad_edges():
    distinctive = {"short-short": (800.0, 400.0, 800.0, 4000.0)}
    detector = RingCadenceDetector(distinctive)
    events = [e for r, at in ring_edges(distinctive["short-short"], 2) for e in detector.process(r, at)]
    assert [e.cadences for e in events] == [("short-short",)]
    with pytest.raises(ValueError, match="time order"):
        detector.process(False, 0)
    with pytest.raises(ValueError):
        RingCadenceDetector({"odd": (1000.0,)})
    with pytest.raises(TypeError):
        detector.process(True, 1.5)


# ------------------------------------------------------------------ robustness
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=6), st.sampled_from(ACCEPTANCE_COUNTRIES))
def test_detector_is_chunking_invariant(cuts, country):
    plan = TONE_PLANS[country]["busy"]
    pcm = np.concatenate([signals.white_noise(0.5, -30, seed=17),
                          cadenced_tone(plan.frequencies_hz, plan.level_dbm0, plan.cadence_ms, 3.0, seed=18)])
    whole = CallProgressDetector(country).process(pcm)
    detector, pieces, start, k = CallProgressDetector(country), [], 0, 0
    while start < pcm.size:
        step = cuts[k % len(cuts)]
        pieces += detector.process(pcm[start:start + step])
        start, k = start + step, k + 1
    assert pieces == whole and [e.kind for e in whole] == ["busy"]


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 4000)))
def test_detector_never_crashes_on_arbitrary_samples(pcm):
    for country in ACCEPTANCE_COUNTRIES:
        events = CallProgressDetector(country, min_level_dbm0=-90).process(pcm)
        assert all(isinstance(e, CallProgressEvent) for e in events)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 6 * FS)))
def test_learning_never_crashes_on_arbitrary_samples(pcm):
    try:
        plan = learn_tone(pcm)
    except ValueError:
        return
    assert isinstance(plan, TonePlan)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 10 ** 6)), max_size=40))
def test_ring_detector_takes_any_edges_in_order(edges):
    detector = RingCadenceDetector()
    for ringing, at in sorted(edges, key=lambda edge: edge[1]):
        for event in detector.process(ringing, at):
            assert isinstance(event, RingCadenceEvent)


@pytest.mark.parametrize("bad, error", [
    (np.zeros(10, np.float64), TypeError),
    (np.zeros((2, 160), np.int16), ValueError),
    (np.zeros(320, np.int16)[::2], ValueError),
    (b"\x00\x00", TypeError),
])
def test_detector_rejects_bad_buffers(bad, error):
    with pytest.raises(error):
        CallProgressDetector("US").process(bad)


def test_detector_rejects_bad_settings():
    with pytest.raises(ValueError, match="country"):
        CallProgressDetector("XX")
    with pytest.raises(ValueError, match="tone"):
        CallProgressDetector("US", kinds=("busy", "howler"))
    with pytest.raises(ValueError, match="nothing to watch"):
        CallProgressDetector(None)
    with pytest.raises(TypeError):
        CallProgressDetector("US", extra_plans={"busy": (425, 500, 500)})
    with pytest.raises(ValueError, match="tolerance"):
        CallProgressDetector("US", tolerance=0.9)
    with pytest.raises(ValueError, match="> 0 ms"):
        CallProgressDetector(None, extra_plans={"x": TonePlan((425,), -20, (500, 0))})
