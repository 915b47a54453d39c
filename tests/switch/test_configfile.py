"""The TOML config file: round trip, all-or-nothing import, errors with line and field."""
import os
import stat
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.switch import configfile
from firmware.switch.model import Config, ConfigError, Extension
from tests.switch.core.harness import office_config


def test_export_then_import_gives_the_same_config():
    config = office_config()
    text = configfile.dumps(config)
    assert configfile.loads(text) == config
    assert tomllib.loads(text)["extensions"][0]["number"] == "201"  # numbers stay strings


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'),
               max_size=64))
def test_any_allowed_display_name_survives_the_file(name):
    config = Config(extensions=(Extension("201", name=name, password="Secret-pass-1"),))
    assert configfile.loads(configfile.dumps(config)) == config


def test_a_hand_written_file_with_defaults_and_generated_passwords():
    config = configfile.loads('''
[settings]
sip_port = 5070

[[extensions]]
number = 201
name = "Reception"

[[extensions]]
number = "202"
forward_busy = "201"

[[time_conditions]]
name = "office"
timezone = "Europe/Berlin"
hours = ["mon-fri 08:00-18:00"]
holidays = [2025-12-25, "12-26"]
''')
    assert config.settings.sip_port == 5070 and config.settings.bind_address == "127.0.0.1"
    assert [e.number for e in config.extensions] == ["201", "202"]
    assert config.extensions[0].password != config.extensions[1].password
    assert config.time_conditions[0].holidays == ("2025-12-25", "12-26")


GOOD = '''[settings]
sip_port = 5060

[[extensions]]
number = "201"
password = "Secret-pass-1"

[[extensions]]
number = "202"
password = "Secret-pass-1"

[[ring_groups]]
number = "600"
members = ["201", "202"]
'''


@pytest.mark.parametrize(("old", "new", "line", "field"), [
    ('sip_port = 5060', 'sip_port = 99999', 2, "settings.sip_port"),
    ('number = "202"', 'number = "20x"', 9, "extensions[1].number"),
    ('number = "202"\npassword = "Secret-pass-1"', 'number = "202"\npassword = "weak"', 10,
     "extensions[1].password"),
    ('members = ["201", "202"]', 'members = ["201", "209"]', 14, "ring_groups[0].members[1]"),
    ('number = "202"', 'number = "201"', 9, "extensions[1].number"),
    ('[[ring_groups]]', '[[ring_groups]]\ncolour = "red"', 13, "ring_groups[0].colour"),
    ('number = "600"\n', '', 12, "ring_groups[0].number"),  # missing: the table's line
])
def test_a_mistake_names_the_line_and_the_field(old, new, line, field):
    with pytest.raises(ConfigError) as caught:
        configfile.loads(GOOD.replace(old, new))
    assert (caught.value.line, caught.value.field) == (line, field)
    assert str(caught.value).startswith(f"line {line}: {field}: ")


def test_a_toml_syntax_error_names_the_line():
    with pytest.raises(ConfigError, match=r"^line 5: not valid TOML: ") as caught:
        configfile.loads(GOOD.replace('number = "201"', "number = 0201"))
    assert caught.value.line == 5


def test_locate_falls_back_to_the_enclosing_table():
    assert configfile.locate(GOOD, "extensions[1].forward_busy") == 8
    assert configfile.locate(GOOD, "extensions[5].number") is None
    assert configfile.locate(GOOD, "settings.sip_port") == 2


def test_write_is_atomic_and_private_and_read_reports_bad_files(tmp_path):
    path = tmp_path / "box.toml"
    configfile.write(path, office_config())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert configfile.read(path) == office_config()
    assert [p.name for p in tmp_path.iterdir()] == ["box.toml"]  # no temporary file left
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigError, match="not UTF-8"):
        configfile.read(path)
