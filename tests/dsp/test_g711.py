"""ITU-T G.711 coding, checked against the ITU-T G.191 STL tables and G.711 Tables 3/4 (via spandsp)."""
import ctypes
import ctypes.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from firmware.dsp import g711

GOLDEN = Path(__file__).resolve().parents[2] / ".." / "shared" / "peers" / "g711_golden.npz"
EVERY_INT16 = np.arange(65536, dtype=np.uint16).view(np.int16)   # index i holds (int16)(uint16)i
EVERY_CODE = np.arange(256, dtype=np.uint8)


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as tables:
        return {name: tables[name] for name in tables.files}


def test_g711_clause_2_ulaw_encoder_matches_g191_stl_on_all_65536_inputs(golden):
    assert np.array_equal(g711.ulaw_encode(EVERY_INT16), golden["stl_ulaw_enc"])


def test_g711_clause_2_alaw_encoder_matches_g191_stl_on_all_65536_inputs(golden):
    assert np.array_equal(g711.alaw_encode(EVERY_INT16), golden["stl_alaw_enc"])


def test_g711_all_256_codes_decode_to_the_reference_values(golden):
    assert np.array_equal(g711.ulaw_decode(EVERY_CODE), golden["ulaw_dec"])
    assert np.array_equal(g711.alaw_decode(EVERY_CODE), golden["alaw_dec"])


def test_g711_decoding_a_code_and_encoding_it_again_gives_the_same_code():
    # mu-law code 0x7F and 0xFF both decode to 0; the encoder picks 0xFF for +0
    for encode, decode in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        again = encode(decode(EVERY_CODE))
        assert np.count_nonzero(again != EVERY_CODE) <= 1


def _spandsp_transcoder(name: str):
    path = ctypes.util.find_library("spandsp")
    if path is None:
        pytest.skip("libspandsp not installed (make test installs libspandsp-dev)")
    fn = getattr(ctypes.CDLL(path), name)
    fn.restype, fn.argtypes = ctypes.c_uint8, [ctypes.c_uint8]
    return np.array([fn(int(code)) for code in EVERY_CODE], np.uint8)


def test_g711_table_3_mu_to_a_matches_spandsps_transcription():
    assert np.array_equal(g711.ulaw_to_alaw(EVERY_CODE), _spandsp_transcoder("ulaw_to_alaw"))


def test_g711_table_4_a_to_mu_matches_spandsps_transcription():
    assert np.array_equal(g711.alaw_to_ulaw(EVERY_CODE), _spandsp_transcoder("alaw_to_ulaw"))


def test_g711_tables_3_and_4_keep_the_sign_and_stay_within_one_step_of_the_value():
    for convert, decode_in, decode_out in ((g711.ulaw_to_alaw, g711.ulaw_decode, g711.alaw_decode),
                                           (g711.alaw_to_ulaw, g711.alaw_decode, g711.ulaw_decode)):
        before = decode_in(EVERY_CODE).astype(int)
        after = decode_out(convert(EVERY_CODE)).astype(int)
        assert np.all(np.sign(before) * np.sign(after) >= 0)
        assert np.all(np.abs(after - before) <= np.maximum(np.abs(before) // 16, 16))


def test_empty_input_gives_empty_output_of_the_right_dtype():
    assert g711.ulaw_encode(np.empty(0, np.int16)).dtype == np.uint8
    assert g711.alaw_decode(np.empty(0, np.uint8)).dtype == np.int16
    assert g711.ulaw_to_alaw(np.empty(0, np.uint8)).size == 0


@pytest.mark.parametrize("fn", [g711.ulaw_encode, g711.alaw_encode])
def test_encoders_refuse_wrong_input_with_a_clear_message(fn):
    with pytest.raises(TypeError, match="int16"):
        fn(np.zeros(160, np.float32))
    with pytest.raises(TypeError, match="numpy int16 array"):
        fn([0, 1, 2])
    with pytest.raises(ValueError, match="1-D"):
        fn(np.zeros((2, 80), np.int16))
    with pytest.raises(ValueError, match="contiguous"):
        fn(np.zeros(320, np.int16)[::2])


@pytest.mark.parametrize("fn", [g711.ulaw_decode, g711.alaw_decode, g711.ulaw_to_alaw, g711.alaw_to_ulaw])
def test_decoders_refuse_wrong_input_with_a_clear_message(fn):
    with pytest.raises(TypeError, match="uint8"):
        fn(np.zeros(160, np.int16))
    with pytest.raises(TypeError):
        fn(None)
    with pytest.raises(ValueError, match="contiguous"):
        fn(np.zeros(320, np.uint8)[::2])


@given(hnp.arrays(np.int16, st.integers(0, 2000)))
def test_encoding_is_elementwise_so_any_slice_encodes_like_the_whole(pcm):
    half = pcm.size // 2
    for encode in (g711.ulaw_encode, g711.alaw_encode):
        whole = encode(pcm)
        assert np.array_equal(np.concatenate([encode(pcm[:half]), encode(pcm[half:])]), whole)


@given(hnp.arrays(st.sampled_from([np.int8, np.uint16, np.int32, np.float64, np.uint8]),
                  hnp.array_shapes(max_dims=3, max_side=20)))
def test_fuzz_wrong_arrays_raise_and_never_crash(array):
    for fn in (g711.ulaw_encode, g711.alaw_encode, g711.ulaw_decode, g711.alaw_decode, g711.ulaw_to_alaw):
        try:
            out = fn(array)
        except (TypeError, ValueError):
            continue
        assert out.shape == array.shape
