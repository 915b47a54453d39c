"""The switch core, feature by feature, driven in milliseconds with a fake clock (harness.Harness).

Every scenario is also replayed by ``test_every_transition_of_the_table_is_exercised``."""
from __future__ import annotations

import dataclasses

from firmware.switch.core import (
    AcceptTransfer,
    AnswerLeg,
    AttendedTransferRequested,
    Bridge,
    CallOffered,
    CallState,
    CancelTimer,
    Cause,
    ConfigChanged,
    DigitReceived,
    HangupLeg,
    HoldReleased,
    HoldRequested,
    LegAnswered,
    LegBusy,
    LegFailed,
    LegHungUp,
    LegRinging,
    Play,
    RejectTransfer,
    SendDigit,
    SignalRinging,
    Sound,
    StartTimer,
    StopPlay,
    TimerFired,
    TransferRequested,
    Unbridge,
    WriteCdr,
)
from firmware.switch.core.table import TABLE
from firmware.switch.records import Direction, Disposition, EndpointKind
from tests.switch.core.harness import (
    CHRISTMAS_10H,
    SUNDAY_10H,
    Harness,
    ext,
    of,
    office_config,
    rung,
)

SCENARIOS = []


def scenario(test):
    SCENARIOS.append(test)
    return test


def call_up(box: Harness, src: str = "201", dst: str = "202", leg: str = "a") -> str:
    """Places a call from ``src`` to extension ``dst`` and answers it; returns the callee's leg."""
    callee = rung(box.send(CallOffered(leg, src, dst)))[0].leg
    box.send(LegAnswered(callee))
    return callee


# -- extension to extension ----------------------------------------------------------------------


@scenario
def test_an_extension_call_rings_is_answered_and_recorded(box: Harness):
    out = box.send(CallOffered("a", "201", "202", caller_name=""))
    [ring] = rung(out)
    assert (ring.kind, ring.endpoint, ring.number, ring.caller_id, ring.caller_name) == (
        EndpointKind.EXTENSION, "202", "202", "201", "Alice")
    assert StartTimer(f"{box.record().call_id}/t2", 45) in out
    assert box.send(LegRinging(ring.leg)) == [SignalRinging("a")]
    assert box.send(LegRinging(ring.leg)) == []  # the caller is told once
    box.advance(3)
    out = box.send(LegAnswered(ring.leg))
    assert out[:3] == [CancelTimer("c1/t2"), AnswerLeg("a"), Bridge("a", ring.leg)]
    assert box.switch.calls()[0].state is CallState.UP
    box.advance(30.9)
    assert box.send(LegHungUp("a"))[0] == HangupLeg(ring.leg, Cause.NORMAL)
    record = box.record()
    assert (record.src, record.dst, record.direction) == ("201", "202", Direction.INTERNAL)
    assert record.trunk is None
    assert record.disposition is Disposition.ANSWERED
    assert record.billsec == 30 and record.answer - record.start == 3
    assert [(leg.endpoint, leg.disposition) for leg in record.legs] == [
        ("201", Disposition.ANSWERED), ("202", Disposition.ANSWERED)]
    assert box.switch.calls() == [] and box.live == set()


@scenario
def test_the_callee_can_hang_up_first(box: Harness):
    callee = call_up(box)
    assert box.send(LegHungUp(callee))[0] == HangupLeg("a", Cause.NORMAL)
    assert box.record().disposition is Disposition.ANSWERED


@scenario
def test_an_unknown_number_is_refused_with_404_and_recorded_failed(box: Harness):
    out = box.send(CallOffered("a", "201", "777"))
    assert out[0] == HangupLeg("a", Cause.NOT_FOUND) and rung(out) == []
    assert Cause.NOT_FOUND.sip_status == 404
    assert box.record().disposition is Disposition.FAILED


def test_a_caller_that_is_not_an_extension_is_forbidden(box: Harness):
    assert box.send(CallOffered("a", "299", "202"))[0] == HangupLeg("a", Cause.FORBIDDEN)


@scenario
def test_a_busy_callee_makes_the_call_busy(box: Harness):
    callee = rung(box.send(CallOffered("a", "201", "202")))[0].leg
    out = box.send(LegBusy(callee))
    assert out[:2] == [CancelTimer("c1/t2"), HangupLeg("a", Cause.BUSY)]
    assert box.record().disposition is Disposition.BUSY
    assert box.record().legs[1].disposition is Disposition.BUSY


@scenario
def test_an_unreachable_callee_fails_the_call(box: Harness):
    callee = rung(box.send(CallOffered("a", "201", "202")))[0].leg
    assert box.send(LegFailed(callee, 480))[1] == HangupLeg("a", Cause.UNAVAILABLE)
    assert box.record().disposition is Disposition.FAILED


@scenario
def test_nobody_answers_within_the_ring_timeout(box: Harness):
    callee = rung(box.send(CallOffered("a", "201", "202")))[0].leg
    assert box.advance(44.9) == []
    out = box.advance(0.2)
    assert out[:2] == [HangupLeg(callee, Cause.CANCELLED), HangupLeg("a", Cause.NO_ANSWER)]
    assert box.record().disposition is Disposition.NO_ANSWER
    assert box.record().end - box.record().start == 45


@scenario
def test_the_caller_gives_up_while_it_rings(box: Harness):
    callee = rung(box.send(CallOffered("a", "201", "202")))[0].leg
    out = box.send(LegHungUp("a"))
    assert out[:2] == [HangupLeg(callee, Cause.CANCELLED), CancelTimer("c1/t2")]
    assert box.record().disposition is Disposition.NO_ANSWER


def test_a_late_answer_of_a_cancelled_leg_is_hung_up(box: Harness):
    callee = rung(box.send(CallOffered("a", "201", "202")))[0].leg
    box.send(LegHungUp("a"))
    assert box.switch.handle(LegAnswered(callee), box.now) == [HangupLeg(callee, Cause.NORMAL)]


def test_events_of_unknown_legs_and_timers_are_ignored(box: Harness):
    assert box.send(LegHungUp("nobody")) == []
    assert box.send(TimerFired("no-such-timer")) == []
    box.send(CallOffered("a", "201", "202"))
    assert box.send(CallOffered("a", "201", "202")) == []  # a retransmitted INVITE


# -- DND and forwarding ----------------------------------------------------------------------------


@scenario
def test_do_not_disturb_is_busy_without_ringing(box: Harness):
    out = box.send(CallOffered("a", "201", "205"))
    assert rung(out) == [] and out[0] == HangupLeg("a", Cause.BUSY)
    assert box.record().disposition is Disposition.BUSY


@scenario
def test_forward_always_rings_the_target_instead(box: Harness):
    [ring] = rung(box.send(CallOffered("a", "201", "206")))
    assert ring.endpoint == "202"
    assert box.record().dst == "206"


@scenario
def test_forward_on_busy(box: Harness):
    first = rung(box.send(CallOffered("a", "201", "207")))[0]
    assert first.endpoint == "207"
    [second] = rung(box.send(LegBusy(first.leg)))
    assert second.endpoint == "203"
    assert box.send(LegAnswered(second.leg))[-2] == Bridge("a", second.leg)


@scenario
def test_forward_on_no_answer_goes_out_with_the_forwarders_rights(box: Harness):
    first = rung(box.send(CallOffered("a", "201", "208")))[0]
    out = box.advance(10)
    assert out[0] == HangupLeg(first.leg, Cause.CANCELLED)
    [out_leg] = rung(out)
    assert (out_leg.kind, out_leg.endpoint, out_leg.number) == (EndpointKind.TRUNK, "p1", "0301234567")
    box.send(LegAnswered(out_leg.leg))
    box.send(LegHungUp("a"))
    assert (box.record().direction, box.record().trunk) == (Direction.OUTBOUND, "p1")


def test_a_forwarding_loop_is_refused(box: Harness):
    assert box.send(CallOffered("a", "201", "209"))[0] == HangupLeg("a", Cause.LOOP)


# -- ring groups --------------------------------------------------------------------------------


@scenario
def test_ring_all_first_answer_wins_and_the_others_stop_ringing(box: Harness):
    rings = rung(box.send(CallOffered("a", "204", "600")))
    assert [r.endpoint for r in rings] == ["201", "202", "203"]
    out = box.send(LegAnswered(rings[1].leg))
    assert out[:3] == [HangupLeg(rings[0].leg, Cause.ANSWERED_ELSEWHERE),
                       HangupLeg(rings[2].leg, Cause.ANSWERED_ELSEWHERE), CancelTimer("c1/t4")]
    assert Bridge("a", rings[1].leg) in out
    box.send(LegHungUp(rings[1].leg))
    assert [leg.disposition for leg in box.record().legs] == [
        Disposition.ANSWERED, Disposition.NO_ANSWER, Disposition.ANSWERED, Disposition.NO_ANSWER]


@scenario
def test_ring_all_goes_on_while_a_member_is_busy(box: Harness):
    rings = rung(box.send(CallOffered("a", "204", "600")))
    assert box.send(LegBusy(rings[0].leg)) == []
    box.send(LegFailed(rings[1].leg, 480))
    assert box.send(LegAnswered(rings[2].leg))[-2] == Bridge("a", rings[2].leg)


@scenario
def test_ring_all_with_every_member_busy_is_busy(box: Harness):
    rings = rung(box.send(CallOffered("a", "204", "600")))
    for ring in rings:
        out = box.send(LegBusy(ring.leg))
    assert HangupLeg("a", Cause.BUSY) in out
    assert box.record().disposition is Disposition.BUSY


def test_ring_all_skips_members_on_dnd(box: Harness):
    assert [r.endpoint for r in rung(box.send(CallOffered("a", "204", "602")))] == ["202", "203"]


@scenario
def test_ring_all_nobody_answers(box: Harness):
    rung(box.send(CallOffered("a", "204", "600")))
    out = box.advance(20)
    assert len(of(out, HangupLeg)) == 4 and out[3] == HangupLeg("a", Cause.NO_ANSWER)


@scenario
def test_hunt_rings_the_members_one_after_the_other(box: Harness):
    [first] = rung(box.send(CallOffered("a", "204", "601")))
    assert first.endpoint == "201"
    out = box.advance(10)
    [second] = rung(out)
    assert out[0] == HangupLeg(first.leg, Cause.CANCELLED) and second.endpoint == "202"
    [third] = rung(box.send(LegBusy(second.leg)))
    assert third.endpoint == "203"
    assert box.send(LegAnswered(third.leg))[-2] == Bridge("a", third.leg)


@scenario
def test_hunt_ends_no_answer_after_the_last_member(box: Harness):
    box.send(CallOffered("a", "204", "601"))
    out = box.advance(30)
    assert len(rung(out)) == 2 and out[-2] == HangupLeg("a", Cause.NO_ANSWER)
    assert box.record().disposition is Disposition.NO_ANSWER


# -- outbound -----------------------------------------------------------------------------------


@scenario
def test_outbound_strips_the_prefix_and_fails_over_on_503(box: Harness):
    [first] = rung(box.send(CallOffered("a", "201", "9030123")))
    assert (first.kind, first.endpoint, first.number) == (EndpointKind.TRUNK, "p1", "030123")
    out = box.send(LegFailed(first.leg, 503))
    [second] = rung(out)
    assert (second.endpoint, second.number) == ("p2", "030123")
    assert HangupLeg("a", Cause.CONGESTION) not in out
    box.send(LegAnswered(second.leg))
    box.send(LegHungUp("a"))
    record = box.record()
    assert (record.direction, record.trunk, record.dst) == (Direction.OUTBOUND, "p2", "9030123")
    assert [leg.disposition for leg in record.legs] == [
        Disposition.ANSWERED, Disposition.FAILED, Disposition.ANSWERED]


def test_outbound_failure_about_the_number_does_not_fail_over(box: Harness):
    [first] = rung(box.send(CallOffered("a", "201", "9030123")))
    out = box.send(LegFailed(first.leg, 404))
    assert rung(out) == [] and HangupLeg("a", Cause.NOT_FOUND) in out


def test_outbound_every_trunk_failing_is_congestion(box: Harness):
    [first] = rung(box.send(CallOffered("a", "201", "9030123")))
    [second] = rung(box.send(LegFailed(first.leg, 0)))
    out = box.send(LegFailed(second.leg, 500))
    assert HangupLeg("a", Cause.CONGESTION) in out
    assert (box.record().disposition, box.record().trunk) == (Disposition.FAILED, "p2")


def test_outbound_busy_is_busy(box: Harness):
    [first] = rung(box.send(CallOffered("a", "201", "9030123")))
    assert HangupLeg("a", Cause.BUSY) in box.send(LegBusy(first.leg))


def test_international_is_refused_unless_enabled_and_no_trunk_is_called(box: Harness):
    for leg, number in (("a", "90049301234"), ("b", "9+49301234")):
        out = box.send(CallOffered(leg, "201", number))
        assert out[0] == HangupLeg(leg, Cause.FORBIDDEN) and rung(out) == []
        assert Cause.FORBIDDEN.sip_status == 403
    [allowed] = rung(box.send(CallOffered("c", "204", "90049301234")))
    assert allowed.number == "0049301234"


def test_emergency_numbers_are_always_allowed(box: Harness):
    # 211 may not call out at all, and the box's outbound cap is taken
    for i, caller in enumerate(("201", "202", "203")):
        rung(box.send(CallOffered(f"x{i}", caller, "9030123")))
    assert HangupLeg("y", Cause.CONGESTION) in box.send(CallOffered("y", "212", "9030123"))
    for number in ("112", "110", "911"):
        [ring] = rung(box.send(CallOffered(f"e{number}", "211", number)))
        assert (ring.endpoint, ring.number) == ("p1", number)


def test_an_extension_may_not_exceed_its_outbound_allowance(box: Harness):
    [first] = rung(box.send(CallOffered("a", "204", "9030123")))
    assert box.send(CallOffered("b", "204", "9030124"))[0] == HangupLeg("b", Cause.FORBIDDEN)
    assert box.send(CallOffered("c", "211", "9030124"))[0] == HangupLeg("c", Cause.FORBIDDEN)
    box.send(LegFailed(first.leg, 404))  # the first call ends: the allowance is back
    assert len(rung(box.send(CallOffered("d", "204", "9030124")))) == 1


def test_the_box_caps_concurrent_outbound_calls(box: Harness):
    for i, caller in enumerate(("201", "202", "203")):
        assert len(rung(box.send(CallOffered(f"a{i}", caller, "9030123")))) == 1
    assert box.send(CallOffered("b", "212", "9030123"))[0] == HangupLeg("b", Cause.CONGESTION)
    assert Cause.CONGESTION.sip_status == 503


# -- inbound ------------------------------------------------------------------------------------


@scenario
def test_inbound_did_in_office_hours_rings_the_group(box: Harness):
    rings = rung(box.send(CallOffered("t", "0301111", "0301234500", trunk="p1", caller_name="Bob")))
    assert [r.endpoint for r in rings] == ["201", "202", "203"]
    assert {(r.caller_id, r.caller_name) for r in rings} == {("0301111", "Bob")}
    box.send(LegAnswered(rings[0].leg))
    box.send(LegHungUp("t"))
    record = box.record()
    assert (record.src, record.dst, record.direction, record.trunk) == (
        "0301111", "0301234500", Direction.INBOUND, "p1")


def test_inbound_did_out_of_hours_and_on_holidays_goes_to_the_closed_destination(config):
    for now in (SUNDAY_10H, CHRISTMAS_10H, SUNDAY_10H + 86400 - 2.5 * 3600):  # Sunday, Christmas, Mon 7:30
        box = Harness(config, now=now)
        rings = rung(box.send(CallOffered("t", "0301111", "0301234500", trunk="p1")))
        assert [r.endpoint for r in rings] == ["201"]


def test_inbound_routes_match_did_and_caller_id(box: Harness):
    assert rung(box.send(CallOffered("t1", "0301111", "0301234501", trunk="p1")))[0].endpoint == "202"
    assert rung(box.send(CallOffered("t2", "01711234", "0309999", trunk="p2")))[0].endpoint == "203"
    out = box.send(CallOffered("t3", "0301111", "0309999", trunk="p2"))
    assert out[0] == HangupLeg("t3", Cause.NOT_FOUND)
    # the main route is only for trunk p1
    assert box.send(CallOffered("t4", "0301111", "0301234500", trunk="p2"))[0] == HangupLeg(
        "t4", Cause.NOT_FOUND)


def test_blacklisted_callers_are_declined(box: Harness):
    out = box.send(CallOffered("t", "09001234", "0301234501", trunk="p1"))
    assert out[0] == HangupLeg("t", Cause.DECLINED) and rung(out) == []
    assert (box.record().disposition, box.record().direction) == (Disposition.FAILED, Direction.INBOUND)


# -- hold, digits -------------------------------------------------------------------------------


@scenario
def test_hold_plays_music_to_the_other_party(box: Harness):
    callee = call_up(box)
    assert box.send(HoldRequested("a")) == [Unbridge("a", callee), Play(callee, Sound.MUSIC_ON_HOLD)]
    assert box.switch.calls()[0].state is CallState.HELD
    assert box.send(HoldReleased("a")) == [StopPlay(callee), Bridge("a", callee)]
    assert box.switch.calls()[0].state is CallState.UP


@scenario
def test_both_sides_holding(box: Harness):
    callee = call_up(box)
    box.send(HoldRequested("a"))
    assert box.send(HoldRequested(callee)) == [StopPlay(callee)]  # the holders hear nothing
    assert box.send(HoldReleased(callee)) == [Play(callee, Sound.MUSIC_ON_HOLD)]  # still held by a
    assert box.send(HoldReleased("a")) == [StopPlay(callee), Bridge("a", callee)]


@scenario
def test_hanging_up_while_held(box: Harness):
    callee = call_up(box)
    box.send(HoldRequested("a"))
    assert box.send(LegHungUp(callee))[0] == HangupLeg("a", Cause.NORMAL)
    assert box.record().disposition is Disposition.ANSWERED


@scenario
def test_digits_are_relayed_to_the_other_party(box: Harness):
    callee = call_up(box)
    assert box.send(DigitReceived("a", "5")) == [SendDigit(callee, "5")]
    assert box.send(DigitReceived(callee, "#")) == [SendDigit("a", "#")]


# -- transfers ----------------------------------------------------------------------------------


@scenario
def test_blind_transfer(box: Harness):
    callee = call_up(box)
    box.advance(10)
    out = box.send(TransferRequested(callee, "203"))
    assert out[:3] == [AcceptTransfer(callee), HangupLeg(callee, Cause.NORMAL), Play("a", Sound.RINGBACK)]
    [target] = rung(out)
    assert target.endpoint == "203" and box.switch.calls()[0].state is CallState.TRANSFERRING
    assert box.send(LegRinging(target.leg)) == []
    out = box.send(LegAnswered(target.leg))
    assert out[1:3] == [StopPlay("a"), Bridge("a", target.leg)]
    box.advance(5)
    box.send(LegHungUp("a"))
    record = box.record()
    assert [leg.endpoint for leg in record.legs] == ["201", "202", "203"]
    assert (record.disposition, record.billsec, record.dst) == (Disposition.ANSWERED, 15, "202")


@scenario
def test_blind_transfer_to_a_held_call_and_a_busy_target(box: Harness):
    callee = call_up(box)
    box.send(HoldRequested(callee))
    [target] = rung(box.send(TransferRequested(callee, "203")))
    out = box.send(LegBusy(target.leg))
    assert HangupLeg("a", Cause.BUSY) in out
    assert box.record().disposition is Disposition.ANSWERED


@scenario
def test_blind_transfer_target_not_answering_and_transferee_giving_up(box: Harness):
    callee = call_up(box)
    [target] = rung(box.send(TransferRequested(callee, "203")))
    assert HangupLeg("a", Cause.NO_ANSWER) in box.advance(45)
    callee = call_up(box, leg="b")
    [target] = rung(box.send(TransferRequested(callee, "203")))
    assert box.send(LegHungUp("b"))[0] == HangupLeg(target.leg, Cause.CANCELLED)
    assert box.send(LegFailed("nothing", 500)) == []


@scenario
def test_blind_transfer_out_through_a_trunk_fails_over(box: Harness):
    callee = call_up(box)
    [first] = rung(box.send(TransferRequested(callee, "9030123")))
    assert first.endpoint == "p1" and first.caller_id == "201"
    [second] = rung(box.send(LegFailed(first.leg, 503)))
    assert second.endpoint == "p2"
    box.send(LegAnswered(second.leg))
    box.send(LegHungUp(second.leg))
    assert (box.record().direction, box.record().trunk) == (Direction.OUTBOUND, "p2")


@scenario
def test_blind_transfer_to_a_refused_number_keeps_the_call(box: Harness):
    callee = call_up(box)
    assert box.send(TransferRequested(callee, "777")) == [RejectTransfer(callee, Cause.NOT_FOUND)]
    assert box.send(TransferRequested(callee, "90049301234")) == [RejectTransfer(callee, Cause.FORBIDDEN)]
    assert box.switch.calls()[0].state is CallState.UP
    box.send(HoldRequested("a"))
    assert box.send(TransferRequested("a", "777")) == [RejectTransfer("a", Cause.NOT_FOUND)]
    assert box.switch.calls()[0].state is CallState.HELD


def test_a_trunk_caller_cannot_transfer(box: Harness):
    [ring] = rung(box.send(CallOffered("t", "0301111", "0301234501", trunk="p1")))
    box.send(LegAnswered(ring.leg))
    assert box.send(TransferRequested("t", "9030123")) == [RejectTransfer("t", Cause.FORBIDDEN)]


@scenario
def test_attended_transfer(box: Harness):
    # 201 calls 202; 202 holds and consults 203; then 202 connects 201 and 203
    first = call_up(box, "201", "202", leg="a")
    box.send(HoldRequested(first))
    consult = box.send(CallOffered("b", "202", "203"))
    target = rung(consult)[0].leg
    box.send(LegAnswered(target))
    box.advance(20)
    out = box.send(AttendedTransferRequested(first, replaces="b"))
    assert out[0] == HangupLeg("b", Cause.NORMAL)
    assert out[2:6] == [
        AcceptTransfer(first), HangupLeg(first, Cause.NORMAL), StopPlay("a"), Bridge("a", target)]
    consultation = box.record("c2")
    assert consultation.disposition is Disposition.ANSWERED and consultation.billsec == 20
    [view] = box.switch.calls()
    assert view.state is CallState.UP and set(view.legs) == {"a", target}
    box.advance(7)
    assert box.send(LegHungUp(target))[0] == HangupLeg("a", Cause.NORMAL)
    record = box.record("c1")
    assert [leg.endpoint for leg in record.legs] == ["201", "202", "203"]
    assert record.legs[2].start == record.legs[2].answer == record.end - 7


@scenario
def test_attended_transfer_with_both_calls_held(box: Harness):
    first = call_up(box, "201", "202", leg="a")
    box.send(HoldRequested(first))
    target = rung(box.send(CallOffered("b", "202", "203")))[0].leg
    box.send(LegAnswered(target))
    box.send(HoldRequested("b"))
    out = box.send(AttendedTransferRequested(first, replaces="b"))
    assert out[:2] == [HangupLeg("b", Cause.NORMAL), StopPlay(target)]
    assert out[-2:] == [Bridge("a", target), of(out, WriteCdr)[-1]]


def test_attended_transfer_of_someone_elses_call_is_rejected(box: Harness):
    first = call_up(box, "201", "202", leg="a")
    call_up(box, "203", "212", leg="b")
    rejected = [RejectTransfer(first, Cause.FORBIDDEN)]
    assert box.send(AttendedTransferRequested(first, replaces="b")) == rejected
    assert box.send(AttendedTransferRequested(first, replaces="nothing")) == [
        RejectTransfer(first, Cause.FORBIDDEN)]
    assert box.send(AttendedTransferRequested("nothing", replaces="b")) == []


# -- pickup -------------------------------------------------------------------------------------


@scenario
def test_group_pickup(box: Harness):
    [ring] = rung(box.send(CallOffered("a", "201", "202")))
    out = box.send(CallOffered("p", "203", "*8"))
    assert out[:5] == [HangupLeg(ring.leg, Cause.ANSWERED_ELSEWHERE), CancelTimer("c1/t2"), AnswerLeg("p"),
                       AnswerLeg("a"), Bridge("a", "p")]
    box.send(LegHungUp("p"))
    assert [leg.endpoint for leg in box.record().legs] == ["201", "202", "203"]
    assert box.record().disposition is Disposition.ANSWERED


def test_directed_pickup_and_nothing_to_pick_up(box: Harness):
    assert box.send(CallOffered("p0", "203", "*8"))[0] == HangupLeg("p0", Cause.NOT_FOUND)
    rung(box.send(CallOffered("a", "201", "202")))
    assert box.send(CallOffered("p1", "203", "**212"))[0] == HangupLeg("p1", Cause.NOT_FOUND)
    assert box.send(CallOffered("p2", "201", "*8"))[0] == HangupLeg("p2", Cause.NOT_FOUND)  # its own call
    assert Bridge("a", "p3") in box.send(CallOffered("p3", "203", "**202"))


# -- configuration while running ----------------------------------------------------------------


def test_a_config_change_applies_to_new_calls_and_drops_no_call(box: Harness, config):
    callee = call_up(box)
    smaller = dataclasses.replace(config, extensions=(*config.extensions, ext("220")), ring_groups=(),
                                  inbound_routes=config.inbound_routes[2:])
    smaller = dataclasses.replace(
        smaller, extensions=tuple(e for e in smaller.extensions if e.number != "202"))
    assert box.send(ConfigChanged(smaller)) == []
    assert box.switch.config is smaller
    assert box.send(CallOffered("b", "201", "202"))[0] == HangupLeg("b", Cause.NOT_FOUND)
    assert rung(box.send(CallOffered("c", "201", "220")))[0].endpoint == "220"
    assert box.send(LegHungUp(callee))[0] == HangupLeg("a", Cause.NORMAL)


# -- the table ----------------------------------------------------------------------------------


def test_every_transition_of_the_table_is_exercised():
    transitions: list = []
    for test in SCENARIOS:
        test(Harness(office_config(), transitions=transitions))
    seen = {(state, event) for state, event, _ in transitions}
    assert set(TABLE) - seen == set()
    for state, event, after in transitions:
        assert after in TABLE[state, event].targets


# -- robustness ---------------------------------------------------------------------------------

DIALLED = ("202", "203", "205", "206", "207", "208", "209", "600", "601", "9030123", "90049301234", "112",
           "*8", "**202", "777")
CALLERS = ("201", "202", "203", "204", "211")


def _apply(box: Harness, action: tuple, serial: int) -> None:
    kind, a, b = action
    live = sorted(box.live)
    leg = live[a % len(live)] if live else "none"
    if kind == "offer":
        box.send(CallOffered(f"in{serial}", CALLERS[a % len(CALLERS)], DIALLED[b % len(DIALLED)]))
    elif kind == "inbound":
        box.send(CallOffered(f"in{serial}", ("0301111", "01711", "09001")[a % 3],
                             ("0301234500", "0301234501", "0309")[b % 3], trunk="p1"))
    elif kind == "advance":
        box.advance((1, 5, 10, 30, 60)[b % 5])
    elif kind == "transfer":
        box.send(TransferRequested(leg, DIALLED[b % len(DIALLED)]))
    elif kind == "attended":
        box.send(AttendedTransferRequested(leg, live[b % len(live)] if live else "none"))
    elif kind == "consult" and box.origin.get(leg) in CALLERS:  # consult someone, then transfer
        consult = rung(box.send(CallOffered(f"in{serial}", box.origin[leg], DIALLED[b % 2])))
        if consult:
            box.send(LegAnswered(consult[0].leg))
            if b % 2:
                box.send(HoldRequested(f"in{serial}"))  # some phones hold the consultation too
            box.send(AttendedTransferRequested(leg, f"in{serial}"))
    elif kind in ("hangup", "hold", "unhold"):
        box.send({"hangup": LegHungUp, "hold": HoldRequested, "unhold": HoldReleased}[kind](leg))
    elif box.pending:  # only a leg the core placed, still unanswered, rings, answers or fails
        callee = sorted(box.pending)[a % len(box.pending)]
        event = {"ringing": LegRinging, "answer": LegAnswered, "busy": LegBusy}.get(kind)
        box.send(event(callee) if event else LegFailed(callee, (0, 404, 480, 503)[b % 4]))


# weighted so that calls often get answered and live long enough to be held and transferred
ACTION_KINDS = ("offer",) * 4 + ("inbound", "advance", "ringing", "busy", "failed", "hangup") + (
    "answer",) * 6 + ("hold", "unhold", "transfer", "attended", "consult") * 2


def test_random_event_sequences_keep_every_invariant():
    """Whatever the runtime reports, in whatever order: the core only commands live legs, every
    transition is in the table, and once every party hangs up no call is left and each call has
    exactly one complete, closed record."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    action = st.tuples(st.sampled_from(ACTION_KINDS), st.integers(0, 50), st.integers(0, 50))

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(action, min_size=5, max_size=60))
    def run(actions):
        box = Harness(office_config())
        for serial, step in enumerate(actions):
            _apply(box, step, serial)
        for _ in range(20):  # everyone hangs up; forwarding and failover may ring new legs
            for leg in sorted(box.live):
                if leg in box.live:
                    box.send(LegHungUp(leg))
            box.advance(3600)
        assert box.live == set() and box.switch.calls() == [] and box.timers == {}
        assert all(record.closed for record in box.records.values())
        assert box.closed_twice == []

    run()
