"""DTMF (ITU-T Q.23) and call-progress tones (ITU-T E.180/Q.35 and national plans).

References are independent of the code under test: spandsp's DTMF receiver, ``signals.dtmf`` and
``signals.dbm0_to_amplitude`` / ``signal_level_dbm0`` from shared, and a numpy rendering of each plan.
"""
import math

import numpy as np
import peers
import pytest
import signals
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.dsp import TONE_PLANS, ToneGenerator, dtmf_generate
from firmware.dsp.tone_plans import MODULATION_DEPTH, TONE_NAMES, TonePlan

FS = signals.FS
ALL_DIGITS = "0123456789*#ABCD"
ALL_TONES = [(tone, country) for country in TONE_PLANS for tone in TONE_PLANS[country]]  # args
UK_RINGBACK_AM = TonePlan((400, 25), -15.0, (400, 200, 400, 2000), modulated=True)  # like [E180S2] "400*25"


def plan_of(key: tuple[str, str]) -> TonePlan:
    tone, country = key
    return TONE_PLANS[country][tone]


def samples(ms: float) -> int:
    return round(ms * FS / 1000)


# ------------------------------------------------------------------ an independent rendering of a plan
def bursts(plan: TonePlan, n: int):
    """(start, length, frequencies, restart) of every burst that begins before sample n."""
    if plan.continuous:
        return [(0, n, plan.frequencies_hz, True)]
    cadence = [samples(ms) for ms in plan.cadence_ms]
    out, start, k, restart = [], 0, 0, True
    while start < n:
        on, off = cadence[2 * k % len(cadence)], cadence[2 * k % len(cadence) + 1]
        burst = k % (len(cadence) // 2)
        frequencies = (plan.frequencies_hz[burst],) if plan.sequential else plan.frequencies_hz
        out.append((start, on, frequencies, restart))
        start, k, restart = start + on + off, k + 1, off > 0
    return out


def reference(plan: TonePlan, n: int, level_dbm0: float | None = None) -> np.ndarray:
    """numpy's sin; a burst after silence starts at phase 0, a joined one (0 ms off) runs on."""
    amplitude = signals.dbm0_to_amplitude(plan.level_dbm0 if level_dbm0 is None else level_dbm0)
    out = np.zeros(n)
    cycles = np.zeros(len(plan.frequencies_hz))
    for start, length, frequencies, restart in bursts(plan, n):
        if restart:
            cycles[:] = 0
        t = np.arange(length) / FS
        phase = [2 * np.pi * (cycles[j] + f * t) for j, f in enumerate(frequencies)]
        if plan.modulated:
            wave = amplitude * np.sin(phase[0]) * (1 + MODULATION_DEPTH * np.sin(phase[1]))
        else:
            wave = amplitude * np.sum(np.sin(phase), axis=0)
        out[start:start + length] = wave[:n - start]
        cycles[:len(frequencies)] += np.asarray(frequencies) * length / FS
    return out


def peak_near(x: np.ndarray, f: float, span_hz: float = 5.0) -> float:
    """Where the Hann-windowed spectrum of x peaks within f +- span_hz, to 0.06 Hz."""
    nfft = 1 << 17
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft))
    freqs = np.fft.rfftfreq(nfft, 1 / FS)
    window = (freqs > f - span_hz) & (freqs < f + span_hz)
    return float(freqs[window][np.argmax(spectrum[window])])


def one_period(plan: TonePlan) -> int:
    return FS if plan.continuous else samples(sum(plan.cadence_ms))


# ------------------------------------------------------------------ the plans against the standards
# (frequencies Hz, cadence ms) as the standards give them; levels (dBm0 per frequency) where they do.
STANDARD_FIGURES = {
    # North American Precise Audible Tone Plan (E.300-series Supplement 3, ANSI T1.401)
    ("US", "dial"): ((350, 440), (), -13),
    ("US", "ringback"): ((440, 480), (2000, 4000), -19),
    ("US", "busy"): ((480, 620), (500, 500), -24),
    ("US", "congestion"): ((480, 620), (250, 250), -24),
    ("US", "call_waiting"): ((440,), (300, 9700), None),
    # BT SIN 350, as listed in the ITU-T E.180 list of national tones
    ("UK", "dial"): ((350, 440), (), None),
    ("UK", "ringback"): ((400, 450), (400, 200, 400, 2000), None),
    ("UK", "busy"): ((400,), (375, 375), None),
    ("UK", "congestion"): ((400,), (400, 350, 225, 525), None),
    ("UK", "call_waiting"): ((400,), (100, 2000), None),
    # ETSI ETR 187 / TR 101 041 (CEPT)
    ("EU", "dial"): ((425,), (), None),
    ("EU", "ringback"): ((425,), (1000, 4000), None),
    ("EU", "busy"): ((425,), (500, 500), None),
    ("EU", "congestion"): ((425,), (250, 250), None),
    # YDN 065 (China)
    ("CN", "dial"): ((450,), (), None),
    ("CN", "ringback"): ((450,), (1000, 4000), None),
    ("CN", "busy"): ((450,), (350, 350), None),
    ("CN", "congestion"): ((450,), (700, 700), None),
    ("CN", "call_waiting"): ((450,), (400, 4000), None),
}


@pytest.mark.parametrize("key", sorted(STANDARD_FIGURES))
def test_plans_carry_the_standards_figures(key):
    frequencies, cadence, level = STANDARD_FIGURES[key]
    plan = TONE_PLANS[key[0]][key[1]]
    assert plan.frequencies_hz == frequencies and plan.cadence_ms == cadence
    assert level is None or plan.level_dbm0 == level


@pytest.mark.parametrize("country", sorted(TONE_PLANS))
def test_e180_clause_sit_is_three_rising_tones_within_the_e180_limits(country):
    sit = TONE_PLANS[country]["sit"]
    on, off = sit.cadence_ms[::2], sit.cadence_ms[1::2]
    assert sit.sequential and sit.level_dbm0 == -24                       # E.180: nominal -24 dBm0
    nominal_hz = (950, 1400, 1800)
    assert all(abs(f - nominal) <= 50 for f, nominal in zip(sit.frequencies_hz, nominal_hz, strict=True))
    assert all(260 <= ms <= 400 for ms in on)                            # 330 +- 70 ms
    assert all(ms <= 30 for ms in off[:-1]) and 750 <= off[-1] <= 1250  # gaps, then 1000 +- 250 ms


def test_us_sit_is_the_ansi_intercept_encoding():
    sit = TONE_PLANS["US"]["sit"]
    assert sit.frequencies_hz == (913.8, 1370.6, 1776.7) and sit.cadence_ms[::2] == (274, 274, 380)


def test_every_country_has_every_tone_and_the_table_is_read_only():
    assert all(set(TONE_PLANS[country]) == set(TONE_NAMES) for country in TONE_PLANS)
    with pytest.raises(TypeError):
        TONE_PLANS["US"]["dial"] = TONE_PLANS["EU"]["dial"]
    with pytest.raises(AttributeError):
        TONE_PLANS["US"]["dial"].level_dbm0 = 0.0


# ------------------------------------------------------------------ call-progress tones
@pytest.mark.parametrize("key", ALL_TONES)
def test_tone_matches_its_plan_to_the_sample(key):
    """Cadence to the sample, phase continuity, frequencies and levels: within 1 LSB of numpy."""
    plan = plan_of(key)
    n = 2 * one_period(plan) + 123
    ours = ToneGenerator(*key).process(n)
    assert np.max(np.abs(ours - reference(plan, n))) <= 1


@pytest.mark.parametrize("key", ALL_TONES)
def test_each_burst_has_the_plans_frequencies_within_1_hz_and_level_within_0_1_db(key):
    plan = plan_of(key)
    n = one_period(plan)
    x = ToneGenerator(*key).process(n).astype(np.float64)
    for start, length, frequencies, _ in bursts(plan, n):
        burst = x[start:start + length]
        for f in frequencies:
            assert abs(peak_near(burst, f) - f) <= 1.0
        expected = plan.level_dbm0 + 10 * math.log10(len(frequencies))
        assert abs(signals.signal_level_dbm0(burst) - expected) <= 0.1


def test_silences_are_exactly_zero_and_bursts_start_from_zero():
    x = ToneGenerator("ringback", "UK").process(2 * samples(3000))
    starts = (0, samples(600), samples(3000), samples(3600))              # 0.4/0.2/0.4/2.0 s
    for start in starts:
        assert x[start] == 0 and np.all(x[start + 1:start + 4] != 0)
        assert not np.any(x[start + samples(400):start + samples(400) + samples(200)])


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(ALL_TONES), chunks=st.lists(st.integers(0, 5000), max_size=12))
def test_output_does_not_depend_on_how_the_stream_is_cut(key, chunks):
    whole = ToneGenerator(*key).process(sum(chunks))
    generator = ToneGenerator(*key)
    parts = [generator.process(chunk) for chunk in chunks]
    assert np.array_equal(np.concatenate([whole[:0], *parts]), whole)


@pytest.mark.parametrize("key", [("sit", "UK"), ("sit", "US"), ("dial", "US"), ("ringback", "UK")])
def test_no_phase_jump_inside_a_burst_across_frames(key):
    """Steps between samples never exceed the steepest slope of the ideal tone (+1 for rounding)."""
    plan = plan_of(key)
    generator = ToneGenerator(*key)
    n = 2 * one_period(plan)
    x = np.concatenate([generator.process(160) for _ in range(n // 160)]).astype(np.int64)
    amplitude = signals.dbm0_to_amplitude(plan.level_dbm0)
    on = np.zeros(len(x), bool)
    for start, length, _, _ in bursts(plan, len(x)):
        on[start:start + length] = True
    joined_steps = on[1:] & on[:-1]                                       # SIT: across frequency changes too
    bound = amplitude * sum(2 * math.sin(math.pi * f / FS) for f in plan.frequencies_hz) + 1
    if plan.sequential:
        bound = amplitude * 2 * math.sin(math.pi * max(plan.frequencies_hz) / FS) + 1
    assert np.max(np.abs(np.diff(x))[joined_steps]) <= bound


def test_reset_starts_the_cadence_again():
    generator = ToneGenerator("call_waiting", "EU")
    first = generator.process(9000)
    generator.process(1234)
    generator.reset()
    assert np.array_equal(generator.process(9000), first)


def test_modulated_plan_has_its_sidebands_and_level():
    generator = ToneGenerator(UK_RINGBACK_AM)
    n = 2 * one_period(UK_RINGBACK_AM)
    x = generator.process(n)
    assert np.max(np.abs(x - reference(UK_RINGBACK_AM, n))) <= 1
    burst = x[:samples(400)].astype(np.float64)                           # 10 cycles of 25 Hz
    for f in (375.0, 400.0, 425.0):
        assert abs(peak_near(burst, f, span_hz=3) - f) <= 1.0
    expected = UK_RINGBACK_AM.level_dbm0 + 10 * math.log10(1 + MODULATION_DEPTH ** 2 / 2)
    assert abs(signals.signal_level_dbm0(burst) - expected) <= 0.1


def test_level_override_reorder_alias_and_any_case_country():
    generator = ToneGenerator("reorder", "us", level_dbm0=-3.0)           # -3 dBm0 per tone: fits int16
    x = generator.process(samples(250))
    assert generator.plan == TONE_PLANS["US"]["congestion"] and generator.level_dbm0 == -3.0
    assert np.max(np.abs(x - reference(generator.plan, len(x), -3.0))) <= 1
    assert np.max(np.abs(x)) < 32767


def test_unknown_tone_or_country_lists_the_known_ones():
    with pytest.raises(ValueError, match="dial.*ringback.*busy.*congestion.*call_waiting.*sit"):
        ToneGenerator("howler", "UK")
    with pytest.raises(ValueError, match="US.*UK.*EU.*CN"):
        ToneGenerator("dial", "FR")


@pytest.mark.parametrize("args, error", [
    (("dial", "US", 0.0), ValueError),                    # 350+440 at 0 dBm0 each would clip
    (("dial", "US", math.nan), ValueError),
    (("dial", "US", "loud"), TypeError),
    ((TonePlan((300, 400, 500, 600, 700), -30.0),), ValueError),          # more than 4 frequencies
    ((TonePlan((425,), -20.0, (1e30, 500)),), ValueError),                # longer than int32 samples
])
def test_bad_generator_arguments(args, error):
    with pytest.raises(error):
        ToneGenerator(*args)


@pytest.mark.parametrize("n, error", [(-1, ValueError), (2.5, TypeError), ("160", TypeError)])
def test_bad_process_arguments(n, error):
    with pytest.raises(error):
        ToneGenerator("dial").process(n)


@pytest.mark.parametrize("kwargs", [
    dict(frequencies_hz=(), level_dbm0=-10),
    dict(frequencies_hz=(4000,), level_dbm0=-10),                         # at Nyquist
    dict(frequencies_hz=(425,), level_dbm0=math.inf),
    dict(frequencies_hz=(425,), level_dbm0=-10, cadence_ms=(500,)),      # not on/off pairs
    dict(frequencies_hz=(425,), level_dbm0=-10, cadence_ms=(0, 500)),    # empty burst
    dict(frequencies_hz=(425, 25, 5), level_dbm0=-10, modulated=True),
    dict(frequencies_hz=(950, 1400), level_dbm0=-24, cadence_ms=(330, 1000), sequential=True),
])
def test_bad_tone_plans(kwargs):
    with pytest.raises(ValueError):
        TonePlan(**kwargs)


@settings(max_examples=100, deadline=None)
@given(tone=st.one_of(st.sampled_from([*TONE_NAMES, "reorder"]), st.text(max_size=6), st.none()),
       country=st.one_of(st.sampled_from(list(TONE_PLANS)), st.text(max_size=3), st.integers()),
       level=st.one_of(st.none(), st.floats()))
def test_generator_arguments_fuzz(tone, country, level):
    try:
        generator = ToneGenerator(tone, country, level)
    except (ValueError, TypeError):
        return
    assert generator.process(321).dtype == np.int16


# ------------------------------------------------------------------ DTMF
def test_q23_all_sixteen_digits_and_lowercase_decode_with_spandsp():
    detected = peers.SpandspDtmfDetector().process(dtmf_generate(ALL_DIGITS + "abcd"))
    assert detected == ALL_DIGITS + "ABCD"


@pytest.mark.parametrize("level_dbm0, twist_db", [(-10, 0), (-3, 0), (-25, 4), (-20, -8), (-5, 2)])
def test_dtmf_matches_the_shared_reference_signal(level_dbm0, twist_db):
    """Same level convention and twist as signals.dtmf (phase 0 start): within 1 LSB, no clipping."""
    ours = dtmf_generate(ALL_DIGITS, 40, 60, level_dbm0, twist_db=twist_db)
    theirs = signals.dtmf(ALL_DIGITS, 40, 60, level_dbm0, twist_db, seed=None)
    assert ours.dtype == np.int16 and len(ours) == len(theirs)
    assert np.max(np.abs(ours.astype(np.int64) - theirs)) <= 1


@pytest.mark.parametrize("twist_db", [0.0, 4.0, -8.0])
def test_dtmf_level_of_each_tone_within_0_1_db(twist_db):
    x = dtmf_generate("1", on_ms=1000, off_ms=0, level_dbm0=-12.0, twist_db=twist_db)
    spectrum = np.abs(np.fft.rfft(x)) * 2 / len(x)                        # 1 Hz bins: peak amplitudes
    for f, level in ((697, -12.0), (1209, -12.0 + twist_db)):
        assert abs(signals.power_to_dbm0(spectrum[f] ** 2 / 2) - level) <= 0.1


def test_dtmf_cadence_to_the_sample():
    x = dtmf_generate("159", on_ms=40, off_ms=60)
    on, off = samples(40), samples(60)
    assert len(x) == 3 * (on + off)
    for k in range(3):
        start = k * (on + off)
        assert x[start] == 0 and np.all(x[start + 1:start + 4] != 0)
        assert not np.any(x[start + on:start + on + off])


def test_dtmf_bad_digit_is_named():
    with pytest.raises(ValueError, match="'x'"):
        dtmf_generate("12x4")


@pytest.mark.parametrize("args, kwargs, error", [
    ((b"123",), {}, TypeError),
    (("1", 0), {}, ValueError),                           # no tone at all
    (("1", 50, -1), {}, ValueError),
    (("1", 50, 50, math.nan), {}, ValueError),
    (("1", 50, 50, -10), {"twist_db": math.inf}, ValueError),
    (("1", 50, 50, -1), {}, ValueError),                  # two tones at -1 dBm0 clip
    (("1", "50"), {}, TypeError),
])
def test_dtmf_bad_arguments(args, kwargs, error):
    with pytest.raises(error):
        dtmf_generate(*args, **kwargs)


def test_dtmf_empty_string_gives_no_samples():
    assert dtmf_generate("").shape == (0,)


@settings(max_examples=150, deadline=None)
@given(digits=st.text(max_size=6),
       on_ms=st.one_of(st.floats(-10, 200), st.sampled_from([math.nan, math.inf, 1e30])),
       off_ms=st.floats(-10, 200),
       level=st.one_of(st.floats(-80, 10), st.just(math.nan)),
       twist=st.floats(-30, 30))
def test_dtmf_arguments_fuzz(digits, on_ms, off_ms, level, twist):
    try:
        x = dtmf_generate(digits, on_ms, off_ms, level, twist_db=twist)
    except (ValueError, TypeError):
        return
    assert x.dtype == np.int16 and len(x) == len(digits) * (samples(on_ms) + samples(off_ms))
