"""Ringing plans on their own: forwarding, ring groups, trunk failover, without any call."""
import pytest

from firmware.switch.core.commands import Cause
from firmware.switch.core.plans import (
    Dial,
    GiveUp,
    Outcome,
    Refuse,
    RingExtension,
    RingGroupPlan,
    Step,
    TrunkPlan,
    cause_for_status,
    fails_over,
)
from firmware.switch.model import RingGroup, RingStrategy
from firmware.switch.records import Disposition, EndpointKind
from tests.switch.core.harness import ext

BUSY = GiveUp(Cause.BUSY, Disposition.BUSY)
NO_ANSWER = GiveUp(Cause.NO_ANSWER, Disposition.NO_ANSWER)


def to_extension(number: str) -> Dial:
    return Dial(EndpointKind.EXTENSION, number, number)


def forwarded_to(target: str) -> RingExtension:
    return RingExtension(ext(target), 45, forward=lambda t: Refuse(Cause.NOT_FOUND))


def plan_for(extension, forwards: list[str]) -> RingExtension:
    def forward(target: str):
        forwards.append(target)
        return forwarded_to(target)
    return RingExtension(extension, 45, forward)


def test_a_plain_extension_rings_for_the_ring_timeout_then_gives_up():
    plan = plan_for(ext("201"), [])
    assert plan.first() == Step((to_extension("201"),), 45)
    assert plan.next(Outcome.BUSY, 486) == BUSY
    assert plan.next(Outcome.NO_ANSWER, 0) == NO_ANSWER
    assert plan.next(Outcome.FAILED, 480) == GiveUp(Cause.UNAVAILABLE, Disposition.FAILED)


def test_forwarding_always_busy_unreachable_and_no_answer():
    forwards: list[str] = []
    assert plan_for(ext("201", forward_always="202"), forwards).first() == Step((to_extension("202"),), 45)
    plan = plan_for(ext("201", forward_busy="203", forward_no_answer="204", no_answer_timeout=8), forwards)
    assert plan.first() == Step((to_extension("201"),), 8)
    assert plan.next(Outcome.FAILED, 480) == Step((to_extension("203"),), 45)
    assert plan.next(Outcome.NO_ANSWER, 0) == NO_ANSWER  # now the forwarded plan answers
    plan = plan_for(ext("201", forward_no_answer="204"), forwards)
    assert plan.next(Outcome.NO_ANSWER, 0) == Step((to_extension("204"),), 45)
    assert forwards == ["202", "203", "204"]


def test_dnd_is_busy_and_follows_forward_on_busy():
    assert plan_for(ext("201", dnd=True), []).first() == BUSY
    forwards: list[str] = []
    plan = plan_for(ext("201", dnd=True, forward_busy="203"), forwards)
    assert plan.first() == Step((to_extension("203"),), 45)


def members(*numbers: str, **options):
    return [ext(n, **options) for n in numbers]


def test_ring_all():
    plan = RingGroupPlan(RingGroup("600", ("201", "202")), members("201", "202"))
    assert plan.first() == Step((to_extension("201"), to_extension("202")), 20)
    assert plan.next(Outcome.NO_ANSWER, 0) == NO_ANSWER
    assert RingGroupPlan(RingGroup("600", ("201",)), members("201", dnd=True)).first() == BUSY


def test_hunt_tries_each_member_and_sums_up_the_outcomes():
    group = RingGroup("601", ("201", "202", "203"), strategy=RingStrategy.HUNT, timeout=10)
    plan = RingGroupPlan(group, members("201", "202", "203"))
    assert plan.first() == Step((to_extension("201"),), 10)
    assert plan.next(Outcome.BUSY, 486) == Step((to_extension("202"),), 10)
    assert plan.next(Outcome.NO_ANSWER, 0) == Step((to_extension("203"),), 10)
    assert plan.next(Outcome.BUSY, 486) == NO_ANSWER
    plan = RingGroupPlan(group, members("201", "202", "203"))
    plan.first()
    assert [plan.next(Outcome.BUSY, 486) for _ in range(3)][-1] == BUSY
    plan = RingGroupPlan(group, members("201", "202", "203"))
    last = [plan.next(Outcome.FAILED, 480) for _ in range(3)][-1]
    assert last == GiveUp(Cause.UNAVAILABLE, Disposition.FAILED)


def test_trunk_failover():
    attempts = [Dial(EndpointKind.TRUNK, name, "030123", "201") for name in ("p1", "p2")]
    plan = TrunkPlan(attempts, 60)
    assert plan.first() == Step((attempts[0],), 60)
    assert plan.next(Outcome.FAILED, 503) == Step((attempts[1],), 60)
    assert plan.next(Outcome.FAILED, 408) == GiveUp(Cause.CONGESTION, Disposition.FAILED)  # none left
    assert TrunkPlan(attempts, 60).next(Outcome.FAILED, 404) == GiveUp(Cause.NOT_FOUND, Disposition.FAILED)
    assert TrunkPlan(attempts, 60).next(Outcome.BUSY, 486) == BUSY


@pytest.mark.parametrize(("status", "expected"), [
    (0, True), (401, True), (403, True), (407, True), (408, True), (500, True), (503, True), (599, True),
    (404, False), (480, False), (484, False), (486, False), (603, False)])
def test_which_failures_fail_over(status, expected):
    assert fails_over(status) is expected


def test_causes_for_trunk_statuses():
    assert cause_for_status(404) is Cause.NOT_FOUND and cause_for_status(603) is Cause.DECLINED
    assert cause_for_status(502) is Cause.CONGESTION
