"""The hybrid model of the simulated line, against ITU-T G.168 Annex D's hybrid models (../shared)."""
import echo_paths
import numpy as np
import pytest
import signals

from firmware.dsp.levels import FRAME_SAMPLES, ms_to_samples
from firmware.lines.hybrid import EchoPath, LineNoise, hybrid_impulse_response

SEEDS = range(8)


def energy_span(response: np.ndarray) -> int:
    """Samples holding the middle 90 % of a response's energy: how dispersive it is."""
    cumulative = np.cumsum(response ** 2) / np.sum(response ** 2)
    return int(np.searchsorted(cumulative, 0.95) - np.searchsorted(cumulative, 0.05))


def stream(path: EchoPath, x: np.ndarray) -> np.ndarray:
    return np.concatenate([path.process(x[k:k + FRAME_SAMPLES]) for k in range(0, x.size, FRAME_SAMPLES)])


def test_dispersion_lies_within_the_range_of_the_annex_d_models():
    models = [energy_span(echo_paths.echo_path(name)) for name in echo_paths.G168_MODELS]
    ours = [energy_span(hybrid_impulse_response(6, 0, seed=seed)) for seed in SEEDS]
    assert min(models) <= min(ours) and max(ours) <= max(models), (models, ours)


def test_like_the_annex_d_models_it_passes_no_dc():
    for seed in SEEDS:
        response = hybrid_impulse_response(6, 0, seed=seed)
        voice_band = np.abs(np.fft.rfft(response, 256))[8:109]           # 250-3400 Hz
        assert abs(response.sum()) < 1e-3 * np.sqrt(np.mean(voice_band ** 2))


@pytest.mark.parametrize("erl_db", [6.0, 12.0, 25.0])
def test_echo_return_loss_on_white_noise_as_g168_measures_it(erl_db):
    rin = signals.white_noise(4, -15, seed=3)[:4 * 8000 // FRAME_SAMPLES * FRAME_SAMPLES]
    echo = stream(EchoPath(hybrid_impulse_response(erl_db, 10, seed=1)), rin)
    settled = slice(8000, None)                                           # past the path's fill-up
    measured = signals.signal_level_dbm0(rin[settled]) - signals.signal_level_dbm0(echo[settled])
    assert measured == pytest.approx(erl_db, abs=0.3)
    # the shared line simulator scales its Annex D model to the same ERL on the same signal
    line = echo_paths.make_echo(rin, "D.2", erl_db=erl_db, bulk_delay_ms=10, law=None, noise_dbm0=None)
    theirs = signals.signal_level_dbm0(rin[settled]) - signals.signal_level_dbm0(line.echo[settled])
    assert measured == pytest.approx(theirs, abs=0.5)


def test_bulk_delay_comes_before_any_echo():
    response = hybrid_impulse_response(6, 12, seed=2)
    assert np.flatnonzero(response)[0] == ms_to_samples(12)
    impulse = np.zeros(4 * FRAME_SAMPLES, np.int16)
    impulse[5] = 10000
    echo = stream(EchoPath(response), impulse)
    assert not echo[:5 + ms_to_samples(12)].any() and echo[5 + ms_to_samples(12)] != 0


def test_streaming_equals_one_convolution():
    x = signals.white_noise(1, -10, seed=4)
    response = hybrid_impulse_response(10, 30, seed=5)
    np.testing.assert_allclose(stream(EchoPath(response), x), np.convolve(x, response)[:x.size], atol=1e-6)


def test_noise_level():
    assert signals.signal_level_dbm0(LineNoise(-50, seed=1).process(80000)) == pytest.approx(-50, abs=0.1)
    assert not LineNoise(None).process(160).any()


@pytest.mark.parametrize("args", [(-1, 0), (6, -1), (float("nan"), 0), (6, 0, 0.5)])
def test_bad_model_parameters_are_refused(args):
    with pytest.raises(ValueError):
        hybrid_impulse_response(*args)


def test_echo_path_checks_frames():
    path = EchoPath(hybrid_impulse_response(6, 0))
    with pytest.raises(TypeError):
        path.process(np.zeros(FRAME_SAMPLES))
    with pytest.raises(ValueError):
        path.process(np.zeros(100, np.int16))
