"""DTMF receiver against ITU-T Q.24 Table 1 (AT&T column), with spandsp 0.0.6 run beside it.

Every Q.24 point is checked at 100 % over many tones with random phases (``signals.dtmf`` draws them
from its seed) and random timing (random silences before and between the tones), fed in chunks of
random sizes. The peer's result on the very same signals is printed (``pytest -rP``) and recorded as a
test property; the assertions are on ours only.
"""
from __future__ import annotations

import numpy as np
import peers
import pytest
import signals
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from firmware.dsp import DtmfDetector, DtmfEvent
from firmware.dsp.levels import FRAME_SAMPLES, ms_to_samples, power_to_dbm0

ALL_DIGITS = "123A456B789C*0#D"
TONES_PER_TRIAL = 16
TRIALS = 30                         # 480 tones per Q.24 point
START_TOLERANCE = ms_to_samples(10)
NOMINAL_LEVEL_DBM0 = -10.0          # per tone, where a point does not set it


def _tone_train(seed: int, *, on_ms: float = 50, gap_ms: tuple[float, float] = (60, 200),
                level_dbm0: float = NOMINAL_LEVEL_DBM0, twist_db: float = 0.0,
                freq_offset: tuple[float, float] = (0.0, 0.0), break_ms: float | None = None,
                snr_db: float | None = None,
                law: str | None = None) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """TONES_PER_TRIAL random digits, each after a random silence; returns (pcm, [(digit, start)]).

    With ``break_ms`` each digit is two tones of ``on_ms`` (fresh random phases) around a break.
    ``snr_db`` adds white noise that far below the power of the tone pair; ``law`` passes the whole
    through a G.711 coder and decoder, as a digital trunk delivers it.
    """
    rng = np.random.default_rng(seed)
    parts, truth, position = [], [], 0
    for _ in range(TONES_PER_TRIAL):
        digit = ALL_DIGITS[rng.integers(len(ALL_DIGITS))]
        silence = np.zeros(ms_to_samples(rng.uniform(*gap_ms)), np.int16)
        tone = signals.dtmf(digit, on_ms, 0, level_dbm0, twist_db, freq_offset,
                            seed=int(rng.integers(2**32)))
        if break_ms is not None:
            again = signals.dtmf(digit, on_ms, 0, level_dbm0, twist_db, freq_offset,
                                 seed=int(rng.integers(2**32)))
            tone = np.concatenate([tone, np.zeros(ms_to_samples(break_ms), np.int16), again])
        truth.append((digit, position + silence.size))
        parts += [silence, tone]
        position += silence.size + tone.size
    pcm = np.concatenate([*parts, np.zeros(ms_to_samples(100), np.int16)])
    if snr_db is not None:
        tone_pair_power = signals.dbm0_to_amplitude(level_dbm0) ** 2 / 2 * (1 + 10 ** (twist_db / 10))
        noise_dbm0 = power_to_dbm0(tone_pair_power) - snr_db
        noise = signals.white_noise(pcm.size / signals.FS, noise_dbm0, seed=int(rng.integers(2**32)))
        pcm = signals.to_int16(pcm + noise.astype(np.float64))
    if law is not None:
        pcm = signals.g711_roundtrip(pcm, law)
    return pcm, truth


def _in_random_chunks(detector: DtmfDetector, pcm: np.ndarray, seed: int) -> list[DtmfEvent]:
    rng = np.random.default_rng(seed)
    events, position = [], 0
    while position < pcm.size:
        size = int(rng.integers(0, 3 * FRAME_SAMPLES))
        events += detector.process(pcm[position:position + size])
        position += size
    return events


def _q24_trials(point: str, record_property, **train) -> tuple[list[str], str]:
    """Runs TRIALS tone trains through ours (random chunks) and the peer; returns our failures and
    a line comparing both."""
    failures, peer_good = [], 0
    for trial in range(TRIALS):
        pcm, truth = _tone_train(trial, **train)
        got = _in_random_chunks(DtmfDetector(), pcm, seed=trial)
        sent = "".join(digit for digit, _ in truth)
        if "".join(e.digit for e in got) != sent:
            failures.append(f"trial {trial}: sent {sent!r}, got {''.join(e.digit for e in got)!r}")
        else:
            late = [(e.digit, e.start - start) for e, (_, start) in zip(got, truth, strict=True)
                    if abs(e.start - start) > START_TOLERANCE]
            if late:
                failures.append(f"trial {trial}: start off by more than 10 ms: {late}")
        peer_good += peers.SpandspDtmfDetector().process(pcm) == sent
    line = f"{point}: ours {TRIALS - len(failures)}/{TRIALS} trains right, spandsp {peer_good}/{TRIALS}"
    print(line)
    record_property("spandsp_trains_right", f"{peer_good}/{TRIALS}")
    return failures, line


def _q24_rejections(point: str, record_property, **train) -> tuple[int, str]:
    """Runs TRIALS tone trains that must not be recognised; returns our digit count and a line."""
    ours = theirs = 0
    for trial in range(TRIALS):
        pcm, _ = _tone_train(trial, **train)
        ours += len(_in_random_chunks(DtmfDetector(), pcm, seed=trial))
        theirs += len(peers.SpandspDtmfDetector().process(pcm))
    tones = TRIALS * TONES_PER_TRIAL
    line = f"{point}: {tones} tones, digits reported: ours {ours}, spandsp {theirs}"
    print(line)
    record_property("spandsp_digits_reported", theirs)
    return ours, line


# ------------------------------------------------------------------ Q.24 Table 1: operation
def test_q24_table_1_all_sixteen_digits_are_recognised(record_property):
    failures, line = _q24_trials("all 16 digits", record_property)
    assert not failures, f"{line}\n" + "\n".join(failures)


@pytest.mark.parametrize("freq_offset", [(0.015, 0.015), (-0.015, -0.015), (0.015, -0.015),
                                         (-0.015, 0.015), (0.015, 0.0), (-0.015, 0.0), (0.0, 0.015),
                                         (0.0, -0.015)])
def test_q24_table_1_frequency_tolerance_operates_within_1_5_percent(freq_offset, record_property):
    failures, line = _q24_trials(f"frequency offset {freq_offset}", record_property,
                                 freq_offset=freq_offset)
    assert not failures, f"{line}\n" + "\n".join(failures)


@pytest.mark.parametrize("twist_db", [4.0, -8.0])
def test_q24_table_1_level_difference_plus_4_and_minus_8_db_operates(twist_db, record_property):
    failures, line = _q24_trials(f"twist {twist_db:+g} dB", record_property, twist_db=twist_db)
    assert not failures, f"{line}\n" + "\n".join(failures)


@pytest.mark.parametrize("level_dbm0", [-25.0, -15.0, -3.0])
def test_q24_table_1_power_level_minus_25_to_minus_3_dbm0_per_tone_operates(level_dbm0, record_property):
    # -3 dBm0 per tone is the most two tones can be and still fit in 16 bits
    failures, line = _q24_trials(f"level {level_dbm0:g} dBm0", record_property, level_dbm0=level_dbm0)
    assert not failures, f"{line}\n" + "\n".join(failures)


def test_q24_table_1_40_ms_tones_with_40_ms_pauses_are_each_recognised(record_property):
    # The gaps are exactly 40 ms, so repeated digits must come out repeated; only the first silence
    # varies, which moves the tones against the receiver's analysis grid.
    failures, line = _q24_trials("40 ms tone, 40 ms pause", record_property, on_ms=40, gap_ms=(40, 40))
    assert not failures, f"{line}\n" + "\n".join(failures)
    rng = np.random.default_rng(7)
    for lead_samples in rng.integers(0, 200, 20):
        digits = "".join(rng.choice(list(ALL_DIGITS), TONES_PER_TRIAL))
        pcm = np.concatenate([np.zeros(lead_samples, np.int16),
                              signals.dtmf(digits, 40, 40, seed=int(lead_samples))])
        assert "".join(e.digit for e in DtmfDetector().process(pcm)) == digits


def test_q24_table_1_a_10_ms_interruption_is_bridged(record_property):
    failures, line = _q24_trials("10 ms break", record_property, on_ms=40, break_ms=10)
    assert not failures, f"{line}\n" + "\n".join(failures)


def test_white_noise_at_10_db_snr_does_not_stop_recognition(record_property):
    # SNR: the tone pair's power over the noise's total power (0-4 kHz)
    failures, line = _q24_trials("white noise 10 dB SNR", record_property, snr_db=10)
    assert not failures, f"{line}\n" + "\n".join(failures)
    failures, line = _q24_trials("white noise 10 dB SNR, -25 dBm0", record_property, snr_db=10,
                                 level_dbm0=-25)
    assert not failures, f"{line}\n" + "\n".join(failures)


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_q24_table_1_limits_together_through_a_g711_trunk(law, record_property):
    # the weakest tone Q.24 asks for (-25 dBm0, high group 8 dB lower) 1.5 % off, 40 ms, G.711-coded
    failures, line = _q24_trials(f"{law}: -25 dBm0, twist -8 dB, +1.5/-1.5 %, 40 ms", record_property,
                                 law=law, level_dbm0=-25, twist_db=-8, freq_offset=(0.015, -0.015),
                                 on_ms=40)
    assert not failures, f"{line}\n" + "\n".join(failures)


# ------------------------------------------------------------------ Q.24 Table 1: non-operation
@pytest.mark.parametrize("freq_offset", [(0.035, 0.035), (-0.035, -0.035), (0.035, -0.035),
                                         (-0.035, 0.035), (0.035, 0.0), (-0.035, 0.0), (0.0, 0.035),
                                         (0.0, -0.035)])
def test_q24_table_1_frequency_tolerance_rejects_3_5_percent(freq_offset, record_property):
    ours, line = _q24_rejections(f"frequency offset {freq_offset}", record_property,
                                 freq_offset=freq_offset)
    assert ours == 0, line


@pytest.mark.parametrize("level_dbm0", [NOMINAL_LEVEL_DBM0, -3.0])
def test_q24_table_1_23_ms_tones_are_rejected(level_dbm0, record_property):
    ours, line = _q24_rejections(f"23 ms tone at {level_dbm0:g} dBm0", record_property, on_ms=23,
                                 level_dbm0=level_dbm0)
    assert ours == 0, line


def test_q24_table_1_minus_55_dbm0_per_tone_is_rejected(record_property):
    ours, line = _q24_rejections("level -55 dBm0", record_property, level_dbm0=-55)
    assert ours == 0, line


def test_talk_off_no_false_digit_in_ten_minutes_of_speech():
    """The bar is at most one false digit per hour (bench/bench_dtmf.py measures hours), so a
    ten-minute slice (five minutes each of two streams the bench does not use) must give none."""
    for seed in (2, 3):
        speech = signals.speech(300, seed=seed)
        ours = DtmfDetector().process(speech)
        theirs = peers.SpandspDtmfDetector().process(speech)
        print(f"talk-off, 5 min of speech (seed {seed}): ours {len(ours)}, spandsp {len(theirs)}")
        assert ours == [], f"false digits {ours}"


# ------------------------------------------------------------------ behaviour of the API
def test_a_digit_is_reported_once_as_soon_as_it_is_recognised():
    pcm = np.concatenate([np.zeros(123, np.int16), signals.dtmf("5", on_ms=2000, off_ms=100, seed=3)])
    detector = DtmfDetector()
    reports = [(end, detector.process(pcm[end - FRAME_SAMPLES:end]))
               for end in range(FRAME_SAMPLES, pcm.size + 1, FRAME_SAMPLES)]
    heard = [(end, events) for end, events in reports if events]
    assert len(heard) == 1 and len(heard[0][1]) == 1
    end, (event,) = heard[0]
    assert event == DtmfEvent("5", event.start) and abs(event.start - 123) <= START_TOLERANCE
    assert end - 123 <= ms_to_samples(80)            # long before the tone's end at 2 s


def test_start_counts_from_the_start_of_the_stream_and_reset_restarts_it():
    pcm = signals.dtmf("1#", seed=5)
    detector = DtmfDetector()
    first = detector.process(pcm)
    assert detector.process(pcm) == [DtmfEvent(e.digit, e.start + pcm.size) for e in first]
    detector.reset()
    assert detector.process(pcm) == first
    assert [e.digit for e in first] == ["1", "#"]


def test_a_tone_at_the_very_first_sample_starts_near_zero():
    (event,) = DtmfDetector().process(signals.dtmf("D", seed=None))
    assert event.digit == "D" and 0 <= event.start <= START_TOLERANCE


def test_silence_gives_a_fresh_empty_list_each_time():
    detector = DtmfDetector()
    first, second = detector.process(np.zeros(FRAME_SAMPLES, np.int16)), detector.process(
        np.zeros(0, np.int16))
    assert first == [] and second == [] and first is not second


def test_every_event_is_a_dtmf_event_with_an_int_start():
    events = DtmfDetector().process(signals.dtmf(ALL_DIGITS, seed=8))
    assert "".join(e.digit for e in events) == ALL_DIGITS
    assert all(type(e) is DtmfEvent and type(e.start) is int for e in events)


def test_many_digits_in_one_call_are_all_returned():
    digits = ALL_DIGITS * 20                         # more than the receiver holds between checks
    events = DtmfDetector().process(signals.dtmf(digits, 45, 45, seed=9))
    assert "".join(e.digit for e in events) == digits


@pytest.mark.parametrize("bad, error, message", [
    ([0] * 160, TypeError, "numpy int16 array"),
    (np.zeros(160, np.float32), TypeError, "int16"),
    (np.zeros(160, np.int32), TypeError, "int16"),
    (np.zeros((2, 80), np.int16), ValueError, "1-D"),
    (np.zeros((), np.int16), ValueError, "1-D"),
    (np.zeros(320, np.int16)[::2], ValueError, "contiguous"),
    (np.zeros(160, ">i2"), ValueError, "byte order"),
])
def test_bad_input_is_refused_with_a_clear_message(bad, error, message):
    with pytest.raises(error, match=message):
        DtmfDetector().process(bad)


def test_the_constructor_takes_no_arguments():
    with pytest.raises(TypeError):
        DtmfDetector(16000)


# ------------------------------------------------------------------ fuzzing
_SAMPLES = hnp.arrays(np.int16, st.integers(0, 3000), elements=st.integers(-32768, 32767))


@settings(max_examples=150, deadline=None)
@given(pcm=_SAMPLES, cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_fuzz_any_samples_in_any_chunks_give_the_same_events(pcm, cuts):
    whole = DtmfDetector().process(pcm)
    detector = DtmfDetector()
    pieces = np.split(pcm, sorted(c for c in cuts if c <= pcm.size))
    assert [e for piece in pieces for e in detector.process(piece)] == whole


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), chunk=st.integers(1, 500), level=st.floats(-30, -3))
def test_fuzz_chunking_never_changes_what_is_heard_in_tones_and_noise(seed, chunk, level):
    pcm, _ = _tone_train(seed % 1000, level_dbm0=level, snr_db=15, gap_ms=(20, 80))
    whole = DtmfDetector().process(pcm)
    detector = DtmfDetector()
    assert [e for i in range(0, pcm.size, chunk) for e in detector.process(pcm[i:i + chunk])] == whole


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.none(), st.integers(), st.text(), st.binary(),
                       hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3))))
def test_fuzz_arbitrary_arguments_raise_only_type_or_value_errors(value):
    try:
        events = DtmfDetector().process(value)
    except (TypeError, ValueError):
        return
    assert value.dtype == np.int16 and value.ndim == 1 and isinstance(events, list)
