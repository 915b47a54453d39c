"""ITU-T G.168 line echo canceller (firmware.dsp.EchoCanceller), side by side with speexdsp.

Lines come from the shared G.168 Annex D simulator (``echo_paths.make_echo``: mu-law Rin and Sin,
-70 dBm0 near-end background unless stated) over a grid that covers all eight hybrid models, bulk
delays from 0 to 64 ms and ERLs from 6 to 20 dB. ERLE is scored as G.168 does, on the echo
component of Sin with the near end subtracted (``echo_paths.erle_db``), with the NLP disabled.
speexdsp (128 ms tail) runs on the same lines in the same test.

The mu-law ceiling of a line is the ERLE of subtracting its true echo, coded the way Sin is:
Sin - g711(echo). Where a figure asked for is above it, the requirement becomes "within 1.5 dB of
the ceiling".
"""
from __future__ import annotations

from functools import cache

import echo_paths
import numpy as np
import peers
import pytest
import signals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.dsp import EchoCanceller, levels

FS = levels.SAMPLE_RATE_HZ
SECONDS = 20
AT_ONE_SECOND = (1.0, 1.5)          # s: the "ERLE after 1 s" window
STEADY = (15.0, 20.0)               # s
CEILING_MARGIN_DB = 1.5
WHITE_NOISE_DBM0 = -20.0
SPEECH_DBM0 = -15.0                 # P.56 active level

# (Annex D model, bulk delay ms, ERL dB): every model twice, delays 0..64 ms, ERLs 6..20 dB
GRID = [
    ("D.2", 0, 6), ("D.2", 64, 20),
    ("D.3", 8, 20), ("D.3", 56, 6),
    ("D.4", 16, 10), ("D.4", 48, 15),
    ("D.5", 24, 15), ("D.5", 40, 8),
    ("D.6", 32, 6), ("D.6", 64, 12),
    ("D.7", 0, 12), ("D.7", 40, 20),
    ("D.8", 64, 8), ("D.8", 8, 15),
    ("D.9", 48, 20), ("D.9", 0, 10),
]
GRID_IDS = [f"{m}-{d}ms-{e}dB" for m, d, e in GRID]


@cache
def far_end(kind: str, seconds: float = SECONDS) -> np.ndarray:
    if kind == "white":
        return signals.white_noise(seconds, WHITE_NOISE_DBM0, seed=1)
    return signals.speech(seconds, seed=1, level_dbm0=SPEECH_DBM0)


def line(kind: str, model: str, delay_ms: float, erl_db: float) -> echo_paths.EchoSignals:
    return echo_paths.make_echo(far_end(kind), model, erl_db=erl_db, bulk_delay_ms=delay_ms, seed=2)


def ours(rin: np.ndarray, sin: np.ndarray, **kwargs) -> np.ndarray:
    return EchoCanceller(**{"nlp": False, **kwargs}).process(rin, sin)


def speex(rin: np.ndarray, sin: np.ndarray) -> np.ndarray:
    return peers.SpeexEchoCanceller(tail_ms=128).process(rin, sin)


def erle(echo: np.ndarray, sout: np.ndarray, near: np.ndarray, window: tuple[float, float]) -> float:
    return echo_paths.erle_db(echo, sout, int(window[0] * FS), int(window[1] * FS), near=near)


def mu_law_ceiling(ln: echo_paths.EchoSignals, window: tuple[float, float]) -> float:
    perfect = ln.sin - signals.g711_roundtrip(ln.echo)
    return erle(ln.echo, perfect, ln.near, window)


def steady_requirement(ln: echo_paths.EchoSignals, figure_db: float) -> float:
    return min(figure_db, mu_law_ceiling(ln, STEADY) - CEILING_MARGIN_DB)


# ------------------------------------------------------------------ G.168 Test 2B: convergence, NLP off
def convergence_shortfall(kind: str, ln: echo_paths.EchoSignals) -> str | None:
    """What a line misses of the convergence figures, or None.

    White noise at -20 dBm0: ERLE >= 26 dB after 1 s and >= 35 dB steady; speech at -15 dBm0: at least
    speexdsp's ERLE after 1 s and >= 33 dB steady; steady figures capped by the mu-law ceiling.
    """
    sout, peer = ours(ln.rin, ln.sin), speex(ln.rin, ln.sin)
    got = [erle(ln.echo, sout, ln.near, w) for w in (AT_ONE_SECOND, STEADY)]
    theirs = [erle(ln.echo, peer, ln.near, w) for w in (AT_ONE_SECOND, STEADY)]
    after_1s = 26.0 if kind == "white" else theirs[0]
    steady = steady_requirement(ln, 35.0 if kind == "white" else 33.0)
    if got[0] >= after_1s and got[1] >= steady:
        return None
    return (f"{kind}: ours {got[0]:.1f}/{got[1]:.1f} dB, speexdsp {theirs[0]:.1f}/{theirs[1]:.1f} dB "
            f"(1 s/steady), needed {after_1s:.1f}/{steady:.1f} dB")


@pytest.mark.parametrize("kind", ["white", "speech"])
@pytest.mark.parametrize(("model", "delay_ms", "erl_db"), GRID, ids=GRID_IDS)
def test_convergence_g168_test_2b(model, delay_ms, erl_db, kind):
    shortfall = convergence_shortfall(kind, line(kind, model, delay_ms, erl_db))
    assert shortfall is None, shortfall


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["white", "speech"])
@pytest.mark.parametrize("model", sorted(echo_paths.G168_MODELS))
def test_convergence_on_every_delay_and_erl_g168_test_2b(model, kind):
    """The full product for one model: bulk delays 0, 16, .. 64 ms by ERLs 6, 10, 15 and 20 dB."""
    shortfalls = []
    for delay_ms in range(0, 65, 16):
        for erl_db in (6, 10, 15, 20):
            shortfall = convergence_shortfall(kind, line(kind, model, delay_ms, erl_db))
            if shortfall:
                shortfalls.append(f"{model} {delay_ms} ms {erl_db} dB: {shortfall}")
    assert not shortfalls, "\n".join(shortfalls)


# ------------------------------------------------------------------ G.168 Test 2B(b): reconvergence
PATH_CHANGES = [  # (before, after): another model, delay and ERL; and a one-sample delay shift
    (("D.2", 0, 6), ("D.7", 64, 12)),
    (("D.8", 16, 20), ("D.4", 40, 6)),
    (("D.5", 30, 10), ("D.5", 30.125, 10)),
    (("D.9", 64, 8), ("D.3", 0, 20)),
]
CHANGE_AT = 10.0    # s


def changed_line(kind: str, before, after) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a, b = line(kind, *before), line(kind, *after)
    cut = int(CHANGE_AT * FS)
    sin = np.concatenate([a.sin[:cut], b.sin[cut:]])
    echo = np.concatenate([a.echo[:cut], b.echo[cut:]])
    return a.rin, sin, echo, a.near          # same far end and near-end noise on both lines


@pytest.mark.parametrize(("before", "after"), PATH_CHANGES)
def test_reconverges_after_echo_path_change(before, after):
    """White noise: >= 26 dB again over 1.0-1.5 s after the change. Speech: at least speexdsp's ERLE
    over 0.5-1.5 s after it (a window with talk in it on every line here)."""
    after_1s = (CHANGE_AT + AT_ONE_SECOND[0], CHANGE_AT + AT_ONE_SECOND[1])
    rin, sin, echo, near = changed_line("white", before, after)
    got, theirs = erle(echo, ours(rin, sin), near, after_1s), erle(echo, speex(rin, sin), near, after_1s)
    assert got >= 26.0, f"white noise: ours {got:.1f} dB, speexdsp {theirs:.1f} dB 1 s after the change"
    around_1s = (CHANGE_AT + 0.5, CHANGE_AT + 1.5)
    rin, sin, echo, near = changed_line("speech", before, after)
    assert signals.signal_level_dbm0(rin[int(around_1s[0] * FS):int(around_1s[1] * FS)]) > -30.0
    got, theirs = erle(echo, ours(rin, sin), near, around_1s), erle(echo, speex(rin, sin), near, around_1s)
    assert got >= theirs, f"speech: ours {got:.1f} dB, speexdsp {theirs:.1f} dB 1 s after the change"


# ------------------------------------------------------------------ G.168 Test 3: double talk
DOUBLE_TALK = (8.0, 10.0)       # s: the near end talks
DT_LINES = [("D.2", 0, 6), ("D.3", 64, 20), ("D.6", 32, 10), ("D.9", 48, 15)]
NEAR_SPEECH_DBM0 = [-25.0, -15.0, -5.0]   # P.56 active level: 10 dB under the far end, as loud, 10 dB over


@pytest.mark.parametrize("near_dbm0", NEAR_SPEECH_DBM0)
@pytest.mark.parametrize("kind", ["white", "speech"])
@pytest.mark.parametrize(("model", "delay_ms", "erl_db"), DT_LINES)
def test_double_talk_does_not_diverge_g168_test_3(model, delay_ms, erl_db, kind, near_dbm0):
    """A 2 s near-end burst: ERLE over the second after it is within 3 dB of the 2 s before it."""
    near = signals.speech(SECONDS, seed=7, level_dbm0=near_dbm0).astype(np.float64)
    talking = slice(int(DOUBLE_TALK[0] * FS), int(DOUBLE_TALK[1] * FS))
    near[: talking.start] = 0.0
    near[talking.stop:] = 0.0
    ln = echo_paths.make_echo(far_end(kind), model, erl_db=erl_db, bulk_delay_ms=delay_ms, seed=2, near=near)
    sout, peer = ours(ln.rin, ln.sin), speex(ln.rin, ln.sin)
    before_dt, after_dt = (DOUBLE_TALK[0] - 2.0, DOUBLE_TALK[0]), (DOUBLE_TALK[1], DOUBLE_TALK[1] + 1.0)
    before, after = erle(ln.echo, sout, ln.near, before_dt), erle(ln.echo, sout, ln.near, after_dt)
    peer_before, peer_after = erle(ln.echo, peer, ln.near, before_dt), erle(ln.echo, peer, ln.near, after_dt)
    assert after >= before - 3.0, (f"ours {before:.1f} -> {after:.1f} dB, "
                                   f"speexdsp {peer_before:.1f} -> {peer_after:.1f} dB")


# ------------------------------------------------------------------ G.168 Test 3: the caller dials
# Near-end DTMF is double talk too: narrowband tones, stronger than the echo. The G.168 Test 3
# criterion (clause 6.4.2, performance under double talk: the converged canceller does not diverge) is
# read as above: ERLE over the second after the digits within 3 dB of the 2 s before them.
DIGITS = "2025#"
DIGIT_MS = 80                       # ms on, then as long off (a quick dialler)
DIGIT_DBM0 = -12.0                  # per tone: louder than the echo of a -15 dBm0 far end
DIAL_AT_S = (4.0, 8.0)              # s: the first while the canceller still converges, the second after
PAUSE_DIAL_AT_S = 10.0              # s
PAUSE_LEAD_MS = [20, 300]           # the far end falls silent this long before the first digit ...
PAUSE_TRAIL_MS = 100                # ... and speaks again this long after the last
TONE_TO_DISTORTION_DB = 30.0        # digits in Sout minus the digits sent; G.711 coding alone: ~37 dB
DIALLING_LINES = [("D.2", 12, 6), ("D.4", 40, 10), ("D.6", 32, 10), ("D.9", 0, 20)]
PAUSE_LINES = [("D.2", 12, 6), ("D.5", 8, 10), ("D.7", 48, 12), ("D.9", 0, 20)]


@cache
def dialled_digits() -> np.ndarray:
    digits = signals.dtmf(DIGITS, on_ms=DIGIT_MS, off_ms=DIGIT_MS, level_dbm0=DIGIT_DBM0, seed=3)
    return digits.astype(np.float64)


def dialled_line(far: np.ndarray, model: str, delay_ms: float, erl_db: float,
                 dial_at_s: tuple[float, ...]) -> echo_paths.EchoSignals:
    """The line with the caller dialling DIGITS at each of dial_at_s (s)."""
    near = np.zeros(far.size)
    digits = dialled_digits()
    for at in dial_at_s:
        near[int(at * FS):int(at * FS) + digits.size] = digits
    return echo_paths.make_echo(far, model, erl_db=erl_db, bulk_delay_ms=delay_ms, seed=2, near=near)


def digits_reach_sout(ln: echo_paths.EchoSignals, sout: np.ndarray,
                      dial_at_s: tuple[float, ...]) -> str | None:
    """What is wrong with the digits in Sout, or None: with the NLP on they must all be detected (by
    spandsp, an independent receiver), and with it off the tones must come through as they were sent."""
    heard = peers.SpandspDtmfDetector().process(EchoCanceller(nlp=True).process(ln.rin, ln.sin))
    if heard != DIGITS * len(dial_at_s):
        return f"spandsp heard {heard!r} in Sout (NLP on), the caller dialled {DIGITS!r} x {len(dial_at_s)}"
    n = dialled_digits().size
    for at in dial_at_s:
        span = slice(int(at * FS), int(at * FS) + n)
        sent = ln.near[span]
        ratio = 10 * np.log10(np.sum(sent ** 2) / np.sum((sout[span] - sent) ** 2))
        if ratio < TONE_TO_DISTORTION_DB:
            return f"digits at {at:g} s: Sout is only {ratio:.1f} dB away from them (the filter fitted them)"
    return None


@pytest.mark.parametrize(("model", "delay_ms", "erl_db"), DIALLING_LINES)
def test_dtmf_dialled_over_far_end_speech_does_not_diverge_g168_test_3(model, delay_ms, erl_db):
    """An IVR prompt (speech, -15 dBm0) plays while the caller dials, twice."""
    far = signals.speech(12, seed=1, level_dbm0=SPEECH_DBM0)
    ln = dialled_line(far, model, delay_ms, erl_db, DIAL_AT_S)
    sout = ours(ln.rin, ln.sin)
    end = dialled_digits().size / FS
    for at in DIAL_AT_S:
        before = erle(ln.echo, sout, ln.near, (at - 2.0, at))
        after = erle(ln.echo, sout, ln.near, (at + end, at + end + 1.0))
        assert after >= before - 3.0, f"digits at {at:g} s: ERLE {before:.1f} -> {after:.1f} dB"
    problem = digits_reach_sout(ln, sout, DIAL_AT_S)
    assert problem is None, problem


@pytest.mark.parametrize("lead_ms", PAUSE_LEAD_MS)
@pytest.mark.parametrize(("model", "delay_ms", "erl_db"), PAUSE_LINES)
def test_dtmf_dialled_while_the_far_end_is_silent_does_not_diverge_g168_test_3(model, delay_ms, erl_db,
                                                                                 lead_ms):
    """White noise at -20 dBm0 from the far end, silent while the caller dials. 20 ms after it stopped,
    the far end's last blocks are still in the filter's tail: excitation too weak to explain Sin, which
    a normalised step would fit anyway; 300 ms after, the tail is empty. ERLE is compared before the
    pause and after the far end resumes."""
    far = far_end("white").copy()
    end = PAUSE_DIAL_AT_S + dialled_digits().size / FS
    pause = (PAUSE_DIAL_AT_S - lead_ms / 1000, end + PAUSE_TRAIL_MS / 1000)
    far[int(pause[0] * FS):int(pause[1] * FS)] = 0
    ln = dialled_line(far, model, delay_ms, erl_db, (PAUSE_DIAL_AT_S,))
    sout = ours(ln.rin, ln.sin)
    before = erle(ln.echo, sout, ln.near, (pause[0] - 2.0, pause[0]))
    after = erle(ln.echo, sout, ln.near, (pause[1], pause[1] + 1.0))
    assert after >= before - 3.0, f"ERLE {before:.1f} -> {after:.1f} dB"
    problem = digits_reach_sout(ln, sout, (PAUSE_DIAL_AT_S,))
    assert problem is None, problem


# ------------------------------------------------------------------ G.168 Test 2A: NLP on
@pytest.mark.parametrize("kind", ["white", "speech"])
@pytest.mark.parametrize(("model", "delay_ms", "erl_db"), [("D.2", 0, 6), ("D.7", 40, 20), ("D.4", 64, 10)])
def test_combined_loss_with_nlp_g168_test_2a(model, delay_ms, erl_db, kind):
    """NLP on, near end silent (-70 dBm0 background): combined loss A_com >= 50 dB once converged.

    Far end at -10 dBm0 here: A_com is scored on Sout minus the near end's noise, so comfort noise
    at -70 dBm0 alone already caps it at L(Rin) + 67 dB; -10 dBm0 leaves room to measure 50 dB.
    """
    x = (signals.white_noise(SECONDS, -10.0, seed=1) if kind == "white"
         else signals.speech(SECONDS, seed=1, level_dbm0=-10.0))
    ln = echo_paths.make_echo(x, model, erl_db=erl_db, bulk_delay_ms=delay_ms, seed=2)
    sout = EchoCanceller(nlp=True).process(ln.rin, ln.sin)
    a_com = echo_paths.combined_loss_db(ln.rin, sout, int(5 * FS), int(SECONDS * FS), near=ln.near)
    assert a_com >= 50.0, f"A_com {a_com:.1f} dB"


# ------------------------------------------------------------------ G.168 Test 9: comfort noise
@pytest.mark.parametrize("noise_dbm0", [-60.0, -50.0])
@pytest.mark.parametrize(("model", "delay_ms", "erl_db"), [("D.2", 0, 6), ("D.8", 40, 15)])
def test_comfort_noise_matches_near_end_background_g168_test_9(model, delay_ms, erl_db, noise_dbm0):
    """While the NLP suppresses, Sout is comfort noise within 3 dB of the near end's background.

    The far end is silent for the first second (the canceller measures the background then), then
    sends white noise at -20 dBm0 to the end. Sout must be new noise, not the near end's own
    (which would mean the NLP never engaged).
    """
    x = signals.white_noise(SECONDS, WHITE_NOISE_DBM0, seed=1).copy()
    x[:FS] = 0
    ln = echo_paths.make_echo(x, model, erl_db=erl_db, bulk_delay_ms=delay_ms, seed=2, noise_dbm0=noise_dbm0)
    sout = EchoCanceller(nlp=True, comfort_noise=True).process(ln.rin, ln.sin).astype(np.float64)
    window = slice(5 * FS, SECONDS * FS)
    level = signals.signal_level_dbm0(sout[window])
    assert abs(level - noise_dbm0) <= 3.0, f"comfort noise at {level:.1f} dBm0, background {noise_dbm0} dBm0"
    overlap = np.corrcoef(sout[window], ln.near[window])[0, 1]
    assert abs(overlap) < 0.1, f"Sout correlates with the near end's own noise ({overlap:.2f}): NLP idle"


def test_nlp_without_comfort_noise_is_silent():
    x = signals.white_noise(6, WHITE_NOISE_DBM0, seed=1).copy()
    x[:FS] = 0
    ln = echo_paths.make_echo(x, "D.2", erl_db=6, bulk_delay_ms=20, seed=2, noise_dbm0=-50.0)
    sout = EchoCanceller(nlp=True, comfort_noise=False).process(ln.rin, ln.sin)
    assert not np.any(sout[3 * FS:])


@pytest.mark.parametrize("near_dbm0", [-25.0, -15.0])
@pytest.mark.parametrize("kind", ["white", "speech"])
def test_nlp_lets_the_near_end_through_in_double_talk_g168_test_3(kind, near_dbm0):
    """NLP on: during double talk the near end's speech reaches Sout (10 ms frames of it keep at least
    a quarter of their energy), even 4 dB under the echo (far end -15 dBm0 speech, ERL 6 dB)."""
    near = signals.speech(SECONDS, seed=7, level_dbm0=near_dbm0).astype(np.float64)
    talking = slice(int(DOUBLE_TALK[0] * FS), int(DOUBLE_TALK[1] * FS))
    near[: talking.start] = 0.0
    near[talking.stop:] = 0.0
    ln = echo_paths.make_echo(far_end(kind), "D.2", erl_db=6, bulk_delay_ms=16, seed=2, near=near)
    sout = EchoCanceller(nlp=True).process(ln.rin, ln.sin).astype(np.float64)
    frame = FS // 100
    near_frames = near[talking].reshape(-1, frame)
    out_frames = sout[talking].reshape(-1, frame)
    active = np.mean(near_frames ** 2, axis=1) > levels.dbm0_to_power(-45.0)
    kept = np.mean(out_frames ** 2, axis=1)[active] >= 0.25 * np.mean(near_frames ** 2, axis=1)[active]
    assert kept.mean() >= 0.95, f"only {kept.mean():.0%} of the near end's active frames got through"


# ------------------------------------------------------------------ G.168 Tests 6 and 7: tones
def test_tones_neither_diverge_nor_disturb_the_converged_filter_g168_test_6():
    """Converged on white noise, then 4 s of DTMF and a dial tone, then white noise again."""
    noise = signals.white_noise(SECONDS, WHITE_NOISE_DBM0, seed=1)
    tones = np.concatenate([signals.dtmf("0123456789*#ABCD" * 2, 60, 65, level_dbm0=-10),
                            _sine(350, -13, 1.0) + _sine(440, -13, 1.0)])
    start = 8 * FS
    x = noise.copy()
    x[start:start + tones.size] = signals.to_int16(tones)
    ln = echo_paths.make_echo(x, "D.4", erl_db=6, bulk_delay_ms=24, seed=2)
    sout = ours(ln.rin, ln.sin)
    end = (start + tones.size) / FS
    before, after = erle(ln.echo, sout, ln.near, (6.0, 8.0)), erle(ln.echo, sout, ln.near, (end, end + 1.0))
    assert after >= before - 3.0, f"{before:.1f} -> {after:.1f} dB"


def test_tones_do_not_make_an_unconverged_canceller_unstable_g168_test_7():
    x = signals.to_int16(_sine(1000, -10, 10.0))
    ln = echo_paths.make_echo(x, "D.6", erl_db=6, bulk_delay_ms=16, seed=2)
    sout = ours(ln.rin, ln.sin).astype(np.float64)
    assert np.sqrt(np.mean(sout[-FS:] ** 2)) <= np.sqrt(np.mean(ln.sin[-FS:].astype(np.float64) ** 2))


def _sine(freq_hz: float, level_dbm0: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return levels.dbm0_to_amplitude(level_dbm0) * np.sin(2 * np.pi * freq_hz * t)


# ------------------------------------------------------------------ the estimate it reports
@pytest.mark.parametrize("kind", ["white", "speech"])
def test_erle_estimate_follows_the_measured_erle(kind):
    """erle_db reads Sin over Sout, near-end noise and coding noise included, so a little low."""
    ln = line(kind, "D.5", 24, 15)
    ec = EchoCanceller(nlp=False)
    sout = ec.process(ln.rin, ln.sin)
    measured = erle(ln.echo, sout, ln.near, STEADY)
    assert abs(ec.erle_db - measured) <= 3.0, f"estimate {ec.erle_db:.1f} dB, measured {measured:.1f} dB"
    ec.reset()
    assert ec.erle_db == 0.0


# ------------------------------------------------------------------ API, streaming and fuzzing
def test_any_length_including_zero_and_odd():
    ec = EchoCanceller()
    for n in (0, 1, 63, 64, 65, 159, 160, 161, 1001):
        rin = np.arange(n, dtype=np.int16)
        assert ec.process(rin, rin).shape == (n,)
        assert ec.process(rin, rin).dtype == np.int16


@pytest.mark.parametrize("nlp", [False, True])
def test_chunked_streaming_equals_one_call(nlp):
    ln = line("speech", "D.4", 16, 10)
    n = 5 * FS
    whole = EchoCanceller(nlp=nlp).process(ln.rin[:n], ln.sin[:n])
    ec = EchoCanceller(nlp=nlp)
    cuts = np.cumsum(np.random.default_rng(3).integers(0, 400, size=n // 100))
    cuts = np.concatenate([[0], cuts[cuts < n], [n]])
    chunks = [ec.process(ln.rin[a:b], ln.sin[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert np.array_equal(np.concatenate(chunks), whole)


def test_reset_forgets_everything():
    ln = line("white", "D.3", 8, 20)
    n = 2 * FS
    ec = EchoCanceller()
    first = ec.process(ln.rin[:n], ln.sin[:n])
    ec.process(ln.rin[n:n + 77], ln.sin[n:n + 77])       # leaves a partial block behind
    ec.reset()
    assert np.array_equal(ec.process(ln.rin[:n], ln.sin[:n]), first)


@pytest.mark.parametrize(("rin", "sin", "error"), [
    ([1, 2, 3], np.zeros(3, np.int16), TypeError),
    (np.zeros(3, np.float32), np.zeros(3, np.int16), TypeError),
    (np.zeros(3, np.int16), np.zeros(3, np.int32), TypeError),
    (np.zeros((2, 3), np.int16), np.zeros((2, 3), np.int16), ValueError),
    (np.zeros(6, np.int16)[::2], np.zeros(3, np.int16), ValueError),
    (np.zeros(3, np.int16), np.zeros(4, np.int16), ValueError),
    (None, None, TypeError),
])
def test_bad_input_is_rejected(rin, sin, error):
    with pytest.raises(error):
        EchoCanceller().process(rin, sin)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"tail_ms": 0}, ValueError), ({"tail_ms": -5}, ValueError), ({"tail_ms": 10_000}, ValueError),
    ({"tail_ms": float("nan")}, ValueError), ({"tail_ms": "128"}, TypeError), ({"tail_ms": True}, TypeError),
])
def test_bad_settings_are_rejected(kwargs, error):
    with pytest.raises(error):
        EchoCanceller(**kwargs)


@pytest.mark.parametrize("tail_ms", [1, 32, 64.5, 128, 256, 512])
def test_other_tail_lengths_cancel(tail_ms):
    ln = line("white", "D.2", 0, 6)
    n = 4 * FS
    sout = EchoCanceller(tail_ms=tail_ms, nlp=False).process(ln.rin[:n], ln.sin[:n])
    floor = 10.0 if tail_ms >= 8 else 0.0      # 1 ms (8 taps) cannot hold the 64-tap D.2 path
    assert erle(ln.echo, sout, ln.near, (3.0, 4.0)) >= floor


int16s = st.integers(min_value=-32768, max_value=32767)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(int16s, int16s), max_size=700), st.lists(st.integers(0, 300), max_size=8),
       st.booleans(), st.booleans())
def test_fuzz_streaming_matches_one_call(samples, cuts, nlp, comfort_noise):
    rin = np.array([a for a, _ in samples], dtype=np.int16)
    sin = np.array([b for _, b in samples], dtype=np.int16)
    whole = EchoCanceller(nlp=nlp, comfort_noise=comfort_noise).process(rin, sin)
    assert whole.shape == rin.shape and whole.dtype == np.int16
    ec = EchoCanceller(nlp=nlp, comfort_noise=comfort_noise)
    bounds = np.clip(np.cumsum([0, *cuts]), 0, rin.size)
    parts = [ec.process(rin[a:b], sin[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    parts.append(ec.process(rin[bounds[-1]:], sin[bounds[-1]:]))
    assert np.array_equal(np.concatenate(parts), whole)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4000), st.integers(0, 2**32 - 1), st.sampled_from([1, 16, 128, 512]))
def test_fuzz_extreme_signals_stay_finite(n, seed, tail_ms):
    """Full-scale noise and clipped squares, then digital silence: the state stays finite, so the
    output falls silent once the tail has passed (a NaN anywhere would show as -32768)."""
    rng = np.random.default_rng(seed)
    rin = rng.choice([-32768, 0, 32767], size=n).astype(np.int16)
    sin = rng.integers(-32768, 32768, size=n, dtype=np.int16)
    ec = EchoCanceller(tail_ms=tail_ms)
    out = ec.process(rin, sin)
    assert out.shape == (n,) and out.dtype == np.int16
    assert np.isfinite(ec.erle_db)
    silence = np.zeros(FS, np.int16)
    assert not np.any(ec.process(silence, silence)[-FS // 4:])
