"""LineDsp: one analog port's per-frame pipeline on a simulated G.168 line."""
import echo_paths
import numpy as np
import pytest
import signals

from firmware.dsp import LineDsp, g711

FS, FRAME = 8000, 160


def run_call(dsp: LineDsp, far_end: np.ndarray, near_end: np.ndarray, model="D.2", erl_db=6.0):
    """Far-end audio arrives as mu-law from the network; the line returns its echo plus the near end.

    The line simulator codes what LineDsp played to the line exactly as a card would hear it, so
    the echo that comes back is of LineDsp's own output.
    """
    line = echo_paths.make_echo(far_end, model, erl_db=erl_db, bulk_delay_ms=10, near=near_end, seed=3)
    from_network = g711.ulaw_encode(line.rin)
    frames = [dsp.process(line.sin[i:i + FRAME], from_network[i:i + FRAME])
              for i in range(0, far_end.size - FRAME + 1, FRAME)]
    return line, frames


def test_far_end_audio_reaches_the_line_and_digits_from_the_line_reach_the_switch():
    far = signals.white_noise(6, -20, seed=1)
    near = np.zeros(far.size)
    digits_at = 4 * FS
    keyed = signals.dtmf("159#", on_ms=60, off_ms=60, level_dbm0=-12, seed=5).astype(float)
    near[digits_at:digits_at + keyed.size] = keyed
    line, frames = run_call(LineDsp(nlp=False), far, near)
    to_line = np.concatenate([f.to_line for f in frames])
    assert np.array_equal(to_line, line.rin[:to_line.size])
    events = [e for f in frames for e in f.digits]
    assert "".join(e.digit for e in events) == "159#"
    expected_starts = digits_at + np.arange(4) * int(0.12 * FS)
    assert np.all(np.abs(np.array([e.start for e in events]) - expected_starts) <= 0.010 * FS)


def test_the_echo_is_cancelled_before_the_audio_goes_to_the_network():
    far = signals.speech(8, seed=2, level_dbm0=-15)
    dsp = LineDsp(nlp=False)
    line, frames = run_call(dsp, far, np.zeros(far.size))
    sent = g711.ulaw_decode(np.concatenate([f.to_network for f in frames]))
    steady = slice(5 * FS, sent.size)
    erle = echo_paths.erle_db(line.echo, sent, steady.start, steady.stop, near=line.near)
    assert erle > 20
    assert dsp.erle_db > 10


def test_tx_gain_changes_what_goes_to_the_line():
    codes = g711.ulaw_encode(signals.white_noise(0.02, -20, seed=4))
    plain = LineDsp().process(np.zeros(FRAME, np.int16), codes).to_line
    louder = LineDsp(tx_gain_db=6).process(np.zeros(FRAME, np.int16), codes).to_line
    ratio_db = 10 * np.log10(np.sum(louder.astype(float) ** 2) / np.sum(plain.astype(float) ** 2))
    assert ratio_db == pytest.approx(6, abs=0.1)


def test_alaw_ports_code_in_alaw():
    codes = g711.alaw_encode(signals.white_noise(0.02, -20, seed=4))
    frame = LineDsp(law="alaw").process(np.zeros(FRAME, np.int16), codes)
    assert np.array_equal(frame.to_line, g711.alaw_decode(codes))


def test_bad_frames_and_settings_are_refused_clearly():
    dsp = LineDsp()
    with pytest.raises(ValueError, match="160 samples"):
        dsp.process(np.zeros(80, np.int16), np.zeros(80, np.uint8))
    with pytest.raises(TypeError):
        dsp.process(np.zeros(FRAME, np.float32), np.zeros(FRAME, np.uint8))
    with pytest.raises(TypeError):
        dsp.process(np.zeros(FRAME, np.int16), np.zeros(FRAME, np.int16))
    with pytest.raises(ValueError, match="law"):
        LineDsp(law="g722")
