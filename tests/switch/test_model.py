"""The configuration model: every field checked, every reference between items checked, and the
error naming the field."""
import dataclasses

import pytest

from firmware.switch.model import (
    MIN_PASSWORD_LENGTH,
    BlockedNumber,
    Config,
    ConfigError,
    Destination,
    DestinationKind,
    Extension,
    InboundRoute,
    OutboundRoute,
    RingGroup,
    RingStrategy,
    Settings,
    TimeCondition,
    Trunk,
    WeeklyHours,
    generate_password,
    parse_holiday,
    parse_hours,
    password_weakness,
)

PASSWORD = "Secret-pass-1"


def error_of(build) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        build()
    return caught.value


def test_generated_passwords_are_strong_long_and_different():
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) >= 24 and password_weakness(password) is None


def test_an_extension_without_password_gets_a_generated_one_that_is_not_shown_in_repr():
    extension = Extension("201")
    assert password_weakness(extension.password) is None
    assert extension.password not in repr(extension)
    assert Extension("202").password != extension.password


@pytest.mark.parametrize(("options", "field", "message"), [
    ({"number": "2a1"}, "number", "2-8 digits"),
    ({"number": 201}, "number", "expected a string"),
    ({"password": "Short1"}, "password", f"at least {MIN_PASSWORD_LENGTH}"),
    ({"password": "alllowercaseletters"}, "password", "mix at least two"),
    ({"password": "Has space 123"}, "password", "without spaces"),
    ({"password": "Pass-201-word"}, "password", "must not contain the extension number"),
    ({"name": 'Bob "the" Builder'}, "name", "no quotes"),
    ({"max_outbound": -1}, "max_outbound", "outside"),
    ({"international": "yes"}, "international", "true or false"),
    ({"forward_busy": "20x"}, "forward_busy", "not a number"),
    ({"forward_always": "201"}, "forward_always", "cannot forward to itself"),
    ({"no_answer_timeout": 1}, "no_answer_timeout", "outside 5..600 s"),
])
def test_extension_mistakes_name_their_field(options, field, message):
    values = {"number": "201", "password": PASSWORD, **options}
    error = error_of(lambda: Extension(**values))
    assert error.field == field and message in error.message


@pytest.mark.parametrize(("options", "field", "message"), [
    ({"name": "has space"}, "name", "letters, digits"),
    ({"host": "bad_host!"}, "host", "not a host name"),
    ({"port": 70000}, "port", "outside 1..65535"),
    ({"register": True}, "register", "needs a username and a password"),
    ({"dids": ("0301", "0301")}, "dids", "listed twice"),
    ({"dids": ("03x",)}, "dids[0]", "2-20 digits"),
    ({"password": 'pa"ss'}, "password", "without spaces, quotes"),
])
def test_trunk_mistakes_name_their_field(options, field, message):
    values = {"name": "p1", "host": "sip.example.net", **options}
    error = error_of(lambda: Trunk(**values))
    assert error.field == field and message in error.message


def test_trunk_hosts_may_be_names_or_addresses():
    for host in ("sip.example.net", "10.0.0.1", "::1", "localhost"):
        assert Trunk("p", host).host == host


def test_route_ring_group_time_condition_and_blacklist_mistakes():
    assert error_of(lambda: OutboundRoute("out", ())).field == "patterns"
    assert error_of(lambda: OutboundRoute("out", ("9.", "9.X"))).field == "patterns[1]"
    assert error_of(lambda: OutboundRoute("out", ("9.",), prepend="0a")).field == "prepend"
    assert error_of(lambda: OutboundRoute("out", ("9.",), trunks=("a", "a"))).field == "trunks"
    error = error_of(lambda: InboundRoute("in", Destination.parse("hangup"), time_condition="office"))
    assert error.field == "closed_destination"
    assert error_of(lambda: InboundRoute("in", Destination.parse("hangup"), did="0[")).field == "did"
    assert error_of(lambda: RingGroup("600", ())).field == "members"
    assert error_of(lambda: RingGroup("600", ("201",), strategy="hunt")).field == "strategy"
    assert error_of(lambda: TimeCondition("t", "Mars/Olympus")).field == "timezone"
    assert error_of(lambda: TimeCondition("t", hours=("mon-fri 8-18",))).field == "hours[0]"
    assert error_of(lambda: TimeCondition("t", holidays=("2025-02-30",))).field == "holidays[0]"
    assert error_of(lambda: BlockedNumber("09[")).field == "pattern"


def test_settings_mistakes():
    assert error_of(lambda: Settings(bind_address="localhost")).field == "bind_address"
    assert error_of(lambda: Settings(sip_port=0)).field == "sip_port"
    assert error_of(lambda: Settings(emergency_numbers=("1x",))).field == "emergency_numbers[0]"
    assert error_of(lambda: Settings(pickup_code="8")).field == "pickup_code"
    assert Settings().bind_address == "127.0.0.1"  # secure by default


def test_destinations():
    assert Destination.parse("extension:201") == Destination(DestinationKind.EXTENSION, "201")
    assert str(Destination.parse("ring_group:600")) == "ring_group:600"
    assert str(Destination.parse("hangup")) == "hangup"
    assert "not a destination" in error_of(lambda: Destination.parse("voicemail:201")).message
    assert "needs a number" in error_of(lambda: Destination.parse("extension:")).message
    assert "takes no target" in error_of(lambda: Destination.parse("hangup:1")).message


def test_opening_hours_and_holidays_parse():
    assert parse_hours("mon-fri 08:00-18:00") == WeeklyHours(frozenset(range(5)), 8 * 60, 18 * 60)
    assert parse_hours("Sat,sun 10:00-24:00") == WeeklyHours(frozenset({5, 6}), 600, 1440)
    assert parse_hours("fri-mon 00:00-01:00").days == frozenset({4, 5, 6, 0})
    for bad in ("mon-fri 18:00-08:00", "mon 08:60-09:00", "someday 08:00-09:00", "mon 24:00-25:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)
    assert parse_holiday("2025-12-25") == (2025, 12, 25)
    assert parse_holiday("02-29") == (None, 2, 29)
    for bad in ("2025-02-29", "13-01", "25/12"):
        with pytest.raises(ValueError):
            parse_holiday(bad)


def two_extensions() -> Config:
    return Config(extensions=(Extension("201", password=PASSWORD), Extension("202", password=PASSWORD)),
                  trunks=(Trunk("p1", "sip.example.net", dids=("0301234500",)),))


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"extensions": (Extension("201", password=PASSWORD),) * 2}, "extensions[1].number", "defined twice"),
    ({"extensions": (Extension("112", password=PASSWORD),)}, "extensions[0].number", "emergency number"),
    ({"ring_groups": (RingGroup("202", ("201",)),)}, "ring_groups[0].number", "already an extension"),
    ({"ring_groups": (RingGroup("600", ("209",)),)}, "ring_groups[0].members[0]", "unknown extension"),
    ({"outbound_routes": (OutboundRoute("o", ("9.",), trunks=("p9",)),)}, "outbound_routes[0].trunks[0]",
     "unknown trunk"),
    ({"inbound_routes": (InboundRoute("i", Destination.parse("extension:299")),)},
     "inbound_routes[0].destination", "unknown extension"),
    ({"inbound_routes": (InboundRoute("i", Destination.parse("ring_group:600")),)},
     "inbound_routes[0].destination", "unknown ring_group"),
    ({"inbound_routes": (InboundRoute("i", Destination.parse("hangup"), trunk="p9"),)},
     "inbound_routes[0].trunk", "unknown trunk"),
    ({"inbound_routes": (InboundRoute("i", Destination.parse("hangup"), time_condition="t",
                                      closed_destination=Destination.parse("hangup")),)},
     "inbound_routes[0].time_condition", "unknown time condition"),
    ({"trunks": (Trunk("p1", "a.example", dids=("0301",)), Trunk("p2", "b.example", dids=("0301",)))},
     "trunks[1].dids[0]", "also a DID of p1"),
    ({"blacklist": (BlockedNumber("0900!"), BlockedNumber("0900!"))}, "blacklist[1].pattern",
     "defined twice"),
])
def test_config_checks_references_between_items(change, field, message):
    error = error_of(lambda: dataclasses.replace(two_extensions(), **change))
    assert error.field == field and message in error.message


def test_a_valid_config_offers_lookups():
    config = dataclasses.replace(two_extensions(), ring_groups=(RingGroup("600", ("201", "202"),
                                                                          strategy=RingStrategy.HUNT),))
    assert config.extension_by_number["202"].number == "202"
    assert config.ring_group_by_number["600"].strategy is RingStrategy.HUNT
    assert config.trunk_by_name["p1"].dids == ("0301234500",)
    assert Config() == Config()


def test_config_error_text_and_paths():
    error = ConfigError("number", "bad")
    assert str(error) == "number: bad"
    assert str(error.within("extensions[2]")) == "extensions[2].number: bad"
    assert str(ConfigError("[1]", "bad").within("dids")) == "dids[1]: bad"
    assert str(ConfigError("", "bad").within("destination")) == "destination: bad"
    assert str(error.within("extensions[2]").at_line(14)) == "line 14: extensions[2].number: bad"


def test_a_generated_password_never_contains_the_extension_number():
    assert all("11" not in Extension("11").password for _ in range(200))
    assert all("11" not in generate_password(avoid="11") for _ in range(500))
    assert Extension("201", password="").password != ""  # empty means: generate one
