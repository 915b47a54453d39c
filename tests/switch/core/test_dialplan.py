"""The dial plan: numbers to plans, and time conditions."""
import dataclasses
import datetime as dt

import pytest

from firmware.switch.core.commands import Cause
from firmware.switch.core.dialplan import MAX_FORWARD_HOPS, OutboundUsage, Resolver, is_open
from firmware.switch.core.plans import Dial, GiveUp, RingExtension, RingGroupPlan, Step, TrunkPlan
from firmware.switch.model import OutboundRoute, TimeCondition
from firmware.switch.records import EndpointKind
from tests.switch.core.harness import MONDAY_10H, office_config

IDLE = OutboundUsage(0, {})


def resolver(usage: OutboundUsage = IDLE) -> Resolver:
    return Resolver(office_config(), lambda: usage)


def refused(plan) -> Cause | None:
    first = plan.first()
    return first.cause if isinstance(first, GiveUp) else None


def out(number: str, trunks=("p1", "p2"), charged="201") -> Step:
    return Step(tuple(Dial(EndpointKind.TRUNK, t, number, charged) for t in trunks), 45)


def test_extensions_and_ring_groups_come_first():
    assert isinstance(resolver().from_extension("201", "202"), RingExtension)
    assert isinstance(resolver().from_extension("201", "600"), RingGroupPlan)
    assert refused(resolver().from_extension("299", "202")) is Cause.FORBIDDEN  # unknown caller


def test_outbound_routes_strip_and_choose_trunks():
    plan = resolver().from_extension("201", "9030123")
    assert isinstance(plan, TrunkPlan)
    assert plan.first() == Step(out("030123").dials[:1], 45)
    assert plan.attempts == list(out("030123").dials)
    assert refused(resolver().from_extension("201", "777")) is Cause.NOT_FOUND


def test_international_needs_the_extensions_flag():
    assert refused(resolver().from_extension("201", "90044123")) is Cause.FORBIDDEN
    assert refused(resolver().from_extension("201", "9+44123")) is Cause.FORBIDDEN
    assert resolver().from_extension("204", "90044123").first().dials[0].number == "0044123"


@pytest.mark.parametrize(("dialled", "sent", "trunks"), [
    ("112", "112", ("p1", "p2")), ("9112", "112", ("p1", "p2")), ("911", "911", ("p1", "p2"))])
def test_emergency_numbers_pass_every_limit(dialled, sent, trunks):
    exhausted = OutboundUsage(100, {"211": 100})
    plan = resolver(exhausted).from_extension("211", dialled)
    assert plan.attempts == list(out(sent, trunks, charged="211").dials)


def test_allowances():
    assert refused(resolver(OutboundUsage(1, {"204": 1})).from_extension("204", "9030")) is Cause.FORBIDDEN
    assert refused(resolver(OutboundUsage(3, {})).from_extension("201", "9030")) is Cause.CONGESTION
    assert refused(resolver().from_extension("211", "9030")) is Cause.FORBIDDEN  # max_outbound 0


def test_forwarding_hops_are_bounded():
    assert refused(resolver().from_extension("201", "202", hops=MAX_FORWARD_HOPS + 1)) is Cause.LOOP


def test_inbound_routes_blacklist_and_time_conditions():
    r = resolver()
    assert [d.endpoint for d in r.from_trunk("p1", "0301234500", "0301", MONDAY_10H).first().dials] == [
        "201", "202", "203"]
    assert refused(r.from_trunk("p1", "0301234500", "09001", MONDAY_10H)) is Cause.DECLINED
    assert refused(r.from_trunk("p2", "0309", "0301", MONDAY_10H)) is Cause.NOT_FOUND
    assert r.from_trunk("p2", "0309", "01712", MONDAY_10H).first().dials[0].endpoint == "203"


BERLIN = TimeCondition("office", "Europe/Berlin", ("mon-fri 08:00-18:00", "sat 10:00-12:00"),
                       ("2025-06-09", "12-24"))


def at(*fields: int, offset: int) -> float:
    return dt.datetime(*fields, tzinfo=dt.timezone(dt.timedelta(hours=offset))).timestamp()


@pytest.mark.parametrize(("when", "expected"), [
    (at(2025, 6, 2, 8, 0, offset=2), True),  # Monday, opening minute (summer time)
    (at(2025, 6, 2, 7, 59, offset=2), False),
    (at(2025, 6, 2, 17, 59, offset=2), True),
    (at(2025, 6, 2, 18, 0, offset=2), False),  # closing minute is closed
    (at(2025, 6, 7, 11, 0, offset=2), True),  # Saturday
    (at(2025, 6, 8, 11, 0, offset=2), False),  # Sunday
    (at(2025, 6, 9, 11, 0, offset=2), False),  # a dated holiday
    (at(2026, 12, 24, 11, 0, offset=1), False),  # a yearly holiday (winter time)
    (at(2026, 12, 23, 8, 30, offset=1), True),
    (at(2025, 3, 31, 6, 30, offset=0), True),  # 08:30 in Berlin the day after the clocks went forward
])
def test_time_conditions_in_their_own_time_zone(when, expected):
    assert is_open(BERLIN, when) is expected


def test_prepend_comes_after_strip_and_does_not_make_a_call_international():
    config = office_config()
    e164 = OutboundRoute("e164", ("90ZX.",), strip=2, prepend="+4930", trunks=("p2",))
    r = Resolver(dataclasses.replace(config, outbound_routes=(e164, *config.outbound_routes)), lambda: IDLE)
    assert r.from_extension("201", "901234567").first() == Step(
        (Dial(EndpointKind.TRUNK, "p2", "+49301234567", "201"),), 45)
    assert refused(r.from_extension("201", "90049301234")) is Cause.FORBIDDEN  # 00 after the strip of "9"
