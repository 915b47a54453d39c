"""The human-editable config file: TOML.

TOML rather than YAML because a phone switch's config is full of numbers that must stay strings:
YAML 1.1 reads ``0301234`` as an octal integer, ``no`` as false and ``12:30`` as a sexagesimal
number, silently; TOML has no implicit typing (a leading zero is a parse error, not a different
number), Python reads it with the standard library (``tomllib``), and its ``[[extensions]]`` tables
read like the admin pages they mirror. Writing it needs no library either: the config is flat
tables of strings, numbers, booleans and lists.

``loads`` is all-or-nothing (it returns a complete valid Config or raises) and its ``ConfigError``
carries the line of the offending key, found by a small scan of the text since ``tomllib`` returns
no positions.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections import defaultdict
from pathlib import Path

from .mapping import CONFIG_LISTS, config_from_mapping, config_to_mapping
from .model import Config, ConfigError

HEADER = """\
# callbox configuration (TOML). Edit, then: callbox config import FILE
# Numbers people dial are strings: "0301234", not 0301234. Times are whole seconds.
# Patterns: X = 0-9, Z = 1-9, N = 2-9, [1-5] = a set, a final '.' = one or more further
# digits, a final '!' = zero or more. Destinations: "extension:201", "ring_group:600", "hangup".
# Time condition hours: "mon-fri 08:00-18:00"; holidays: "2025-12-25" or "12-25" (every year).
# An extension without a password gets a strong one generated on import.
"""
_TOML_LOCATION = re.compile(r"\s*\(at line (\d+), column \d+\)$")
_TABLE_ARRAY = re.compile(r"\[\[\s*([A-Za-z0-9_-]+)\s*\]\]")
_TABLE = re.compile(r"\[\s*([A-Za-z0-9_-]+)\s*\]")
_KEY = re.compile(r"([A-Za-z0-9_-]+)\s*=")
_PATH_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def dumps(config: Config) -> str:
    data = config_to_mapping(config)
    lines = [HEADER, "[settings]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in data["settings"].items()]
    for name in CONFIG_LISTS:
        for item in data[name]:
            lines += ["", f"[[{name}]]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in item.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, except that TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def loads(text: str) -> Config:
    """The Config the text describes, or ConfigError naming the line and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_LOCATION.search(message)
        line = int(found.group(1)) if found else None
        raise ConfigError("", f"not valid TOML: {_TOML_LOCATION.sub('', message)}", line) from None
    try:
        return config_from_mapping(data)
    except ConfigError as error:
        raise error.at_line(locate(text, error.field)) from None


def locate(text: str, field: str) -> int | None:
    """The line that sets ``field`` (``extensions[2].password``), or of its nearest enclosing table."""
    index = _line_index(text)
    path = tuple(name or int(number) for name, number in _PATH_PART.findall(field))
    while path:
        if path in index:
            return index[path]
        path = path[:-1]
    return None


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    index: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    seen: defaultdict[str, int] = defaultdict(int)
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if found := _TABLE_ARRAY.match(line):
            name = found.group(1)
            table = (name, seen[name])
            seen[name] += 1
        elif found := _TABLE.match(line):
            table = (found.group(1),)
        elif found := _KEY.match(line):
            index.setdefault((*table, found.group(1)), number)
            continue
        else:
            continue
        index.setdefault(table, number)
    return index


def read(path: Path | str) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError("", f"{path} is not UTF-8 text ({error.reason})") from None
    return loads(text)


def write(path: Path | str, config: Config) -> None:
    """Writes the file atomically, readable by its owner only (it holds the SIP passwords)."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(dumps(config))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
