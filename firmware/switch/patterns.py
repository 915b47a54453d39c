"""Dial patterns: the small language routes, blacklists and caller-ID filters are written in.

The syntax is the one switch administrators already know from Asterisk's extension patterns:

==========  ==========================================
``0-9*#+``  itself
``X``       any digit 0-9
``Z``       any digit 1-9
``N``       any digit 2-9
``[15-7]``  one digit of the set (ranges allowed)
``.``       one or more further characters (last only)
``!``       zero or more further characters (last only)
==========  ==========================================

A pattern matches a whole number: ``9XXX`` matches ``9123`` but not ``91234``; a prefix match is
written ``9.`` (``9`` and at least one more digit) or ``9!``.
"""
from __future__ import annotations

import re
from functools import lru_cache

_DIAL_CHARS = "0123456789*#+"
_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}
_TAILS = {".": "[0-9*#+]+", "!": "[0-9*#+]*"}
MAX_PATTERN_LENGTH = 64  # characters


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression for ``pattern``; ValueError with the reason when it is malformed."""
    if not pattern:
        raise ValueError("empty pattern")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char in _DIAL_CHARS:
            parts.append(re.escape(char))
        elif char.upper() in _CLASSES:
            parts.append(_CLASSES[char.upper()])
        elif char in _TAILS:
            if i != len(pattern) - 1:
                raise ValueError(f"{char!r} is allowed only at the end of a pattern")
            parts.append(_TAILS[char])
        elif char == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise ValueError("'[' without ']'")
            parts.append(_digit_set(pattern[i + 1:end]))
            i = end
        else:
            raise ValueError(f"unexpected {char!r} in pattern {pattern!r}")
        i += 1
    return re.compile("".join(parts))


def _digit_set(body: str) -> str:
    if not re.fullmatch(r"(?:[0-9](?:-[0-9])?)+", body):
        raise ValueError(f"bad digit set [{body}]: use digits and ranges such as [1-5]")
    for low, high in re.findall(r"([0-9])-([0-9])", body):
        if low > high:
            raise ValueError(f"bad range {low}-{high} in [{body}]")
    return f"[{body}]"


def matches(pattern: str, number: str) -> bool:
    """True when ``number`` as a whole matches ``pattern``."""
    return compile_pattern(pattern).fullmatch(number) is not None
