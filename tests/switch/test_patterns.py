"""Dial patterns (Asterisk's extension-pattern syntax)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.switch.patterns import compile_pattern, matches


@pytest.mark.parametrize(("pattern", "number", "expected"), [
    ("9XXXXXXX.", "90301234567", True),
    ("9XXXXXXX.", "9030123", False),  # '.' needs one more digit
    ("9XXXXXX!", "9030123", True),  # '!' takes none
    ("9XXX", "91234", False),  # a pattern matches the whole number
    ("ZXX", "012", False),
    ("ZXX", "112", True),
    ("NXX", "112", False),
    ("NXX", "212", True),
    ("[15-7]XX", "612", True),
    ("[15-7]XX", "412", False),
    ("+49.", "+4930123", True),
    ("*8", "*8", True),
    ("0171.", "01711234", True),
    ("0171.", "0172123", False),
    ("xx", "12", True),  # Asterisk accepts lower-case classes too
])
def test_matching(pattern, number, expected):
    assert matches(pattern, number) is expected


@pytest.mark.parametrize(("pattern", "reason"), [
    ("", "empty"),
    ("9.X", "only at the end"),
    ("9[12", "without ']'"),
    ("9[a-z]", "bad digit set"),
    ("9[5-1]", "bad range"),
    ("9Q", "unexpected 'Q'"),
    ("X" * 65, "longer than 64"),
])
def test_malformed_patterns_say_why(pattern, reason):
    with pytest.raises(ValueError, match=reason):
        compile_pattern(pattern)


@given(st.text(alphabet="0123456789*#+XZN.![]-ab", max_size=12),
       st.text(alphabet="0123456789*#+", max_size=12))
def test_any_text_is_either_a_pattern_or_a_clear_value_error(pattern, number):
    try:
        compile_pattern(pattern)
    except ValueError:
        return
    assert isinstance(matches(pattern, number), bool)


@given(st.text(alphabet="0123456789*#+", min_size=1, max_size=20))
def test_a_literal_number_matches_exactly_itself(number):
    assert matches(number, number)
    assert not matches(number, number + "1")
