"""Plain data to model objects and back."""
import datetime as dt

import pytest

from firmware.switch.mapping import config_from_mapping, config_to_mapping, from_mapping, to_mapping
from firmware.switch.model import (
    Config,
    ConfigError,
    Destination,
    Extension,
    InboundRoute,
    RingGroup,
    RingStrategy,
    TimeCondition,
)
from tests.switch.core.harness import office_config


def test_a_config_survives_the_round_trip():
    config = office_config()
    assert config_from_mapping(config_to_mapping(config)) == config


def test_none_fields_are_left_out_and_enums_and_destinations_become_text():
    route = InboundRoute("in", Destination.parse("ring_group:600"))
    assert to_mapping(route) == {"name": "in", "destination": "ring_group:600"}
    assert to_mapping(RingGroup("600", ("201",)))["strategy"] == "ring_all"


def test_lenient_only_where_nothing_is_lost():
    extension = from_mapping(Extension, {"number": 201, "password": "Secret-pass-1"}, "extensions[0]")
    assert extension.number == "201"
    condition = from_mapping(TimeCondition, {"name": "t", "holidays": [dt.date(2025, 12, 25)]}, "x")
    assert condition.holidays == ("2025-12-25",)
    route = from_mapping(InboundRoute, {"name": "r", "destination": "hangup", "did": ""}, "x")
    assert route.did is None
    group = from_mapping(RingGroup, {"number": "600", "members": ["201"], "strategy": "hunt"}, "x")
    assert group.strategy is RingStrategy.HUNT


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"number": "201", "colour": "red"}, "extensions[3].colour", "unknown setting"),
    ({"name": "x"}, "extensions[3].number", "missing"),
    ({"number": True}, "extensions[3].number", "expected a string"),
    ({"number": "201", "international": "yes"}, "extensions[3].international", "true or false"),
    ({"number": "201", "max_outbound": "2"}, "extensions[3].max_outbound", "whole number"),
    ({"number": "201", "password": "short"}, "extensions[3].password", "at least"),
])
def test_mistakes_name_the_field_path(data, field, message):
    with pytest.raises(ConfigError) as caught:
        from_mapping(Extension, data, "extensions[3]")
    assert caught.value.field == field and message in caught.value.message


def test_config_level_mistakes():
    with pytest.raises(ConfigError, match="unknown section"):
        config_from_mapping({"phones": []})
    with pytest.raises(ConfigError, match=r"\[\[extensions\]\]"):
        config_from_mapping({"extensions": {"number": "201"}})
    with pytest.raises(ConfigError, match="expected a table"):
        config_from_mapping({"extensions": ["201"]})
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"ring_groups": [{"number": "600", "members": ["201"], "strategy": "random"}]})
    assert caught.value.field == "ring_groups[0].strategy" and "'ring_all', 'hunt'" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"inbound_routes": [{"name": "r", "destination": "voicemail"}]})
    assert caught.value.field == "inbound_routes[0].destination"
    assert config_from_mapping({}) == Config()
