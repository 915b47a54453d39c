import numpy as np
import pytest

from firmware.dsp.levels import FRAME_SAMPLES, ms_to_samples
from firmware.lines.ringing import (
    CALLER_ID_AFTER_RING_MS,
    CALLER_ID_BEFORE_RING_GAP_MS,
    CALLER_ID_GUARD_MS,
    RingSequencer,
)
from firmware.lines.settings import CallerIdTiming

FRAME_MS = 20


def run(sequencer, frames):
    rings, audio = [], []
    for _ in range(frames):
        ring_on, samples = sequencer.step()
        rings.append(ring_on)
        audio.append(np.zeros(FRAME_SAMPLES, np.int16) if samples is None else samples)
    return np.array(rings), np.concatenate(audio)


def bursts(rings):
    """(start ms, length ms) of each run of ring-on frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], rings.astype(int), [0]])))
    return [(int(a) * FRAME_MS, int(b - a) * FRAME_MS) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def test_plain_cadence_repeats():
    rings, _ = run(RingSequencer((2000, 4000)), 900)            # 18 s
    assert bursts(rings) == [(0, 2000), (6000, 2000), (12000, 2000)]


def test_uk_double_ring():
    rings, _ = run(RingSequencer((400, 200, 400, 2000)), 200)   # 4 s
    assert bursts(rings) == [(0, 400), (600, 400), (3000, 400), (3600, 400)]


def test_caller_id_after_the_first_ring_fits_the_silence():
    caller_id = np.arange(1, 4001, dtype=np.int16)                 # 0.5 s, every sample non-zero
    rings, audio = run(RingSequencer((1000, 4000), caller_id), 600)
    assert bursts(rings) == [(0, 1000), (5000, 1000), (10000, 1000)]
    start = ms_to_samples(1000 + CALLER_ID_AFTER_RING_MS)
    np.testing.assert_array_equal(audio[start:start + caller_id.size], caller_id)
    assert not audio[:start].any() and not audio[start + caller_id.size:].any()


def test_a_long_caller_id_lengthens_the_first_silence_only():
    caller_id = np.ones(ms_to_samples(3800), np.int16)
    rings, audio = run(RingSequencer((1000, 4000), caller_id), 800)
    second = 1000 + CALLER_ID_AFTER_RING_MS + 3800 + CALLER_ID_GUARD_MS
    assert bursts(rings)[:3] == [(0, 1000), (second, 1000), (second + 5000, 1000)]
    assert np.count_nonzero(audio) == caller_id.size


def test_after_first_ring_means_after_the_first_cycle_of_a_double_ring():
    caller_id = np.ones(800, np.int16)
    _, audio = run(RingSequencer((400, 200, 400, 2000), caller_id), 100)
    assert np.flatnonzero(audio)[0] == ms_to_samples(1000 + CALLER_ID_AFTER_RING_MS)


def test_caller_id_before_the_ring():
    caller_id = np.ones(ms_to_samples(700), np.int16)
    rings, audio = run(RingSequencer((2000, 4000), caller_id, CallerIdTiming.BEFORE_RING), 400)
    assert np.flatnonzero(audio)[0] == 0 and np.count_nonzero(audio) == caller_id.size
    assert bursts(rings)[0] == (700 + CALLER_ID_BEFORE_RING_GAP_MS, 2000)


@pytest.mark.parametrize("cadence", [(), (1000,), (0, 1000), (1000, -5)])
def test_bad_cadences_are_refused(cadence):
    with pytest.raises(ValueError):
        RingSequencer(cadence)


def test_caller_id_must_be_int16_samples():
    with pytest.raises(TypeError):
        RingSequencer((1000, 4000), np.zeros(100))
    with pytest.raises(ValueError):
        RingSequencer((1000, 4000), np.zeros((2, 100), np.int16))
