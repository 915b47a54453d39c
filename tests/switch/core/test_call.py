"""A call's record: direction and trunk follow from its legs."""
from firmware.switch.core.call import Call, Leg
from firmware.switch.records import Direction, Disposition, EndpointKind

T0 = 1000.0


def call_from(kind: EndpointKind, endpoint: str) -> Call:
    caller = Leg("a", "c1", kind, endpoint, "201", T0, incoming=True)
    return Call("c1", "201", "9030", caller, "", T0, legs=[caller])


def placed(call: Call, kind: EndpointKind, endpoint: str, answer: float | None = None) -> Leg:
    leg = Leg(call.next_id("l"), call.id, kind, endpoint, "030", T0, incoming=False, answer=answer)
    call.legs.append(leg)
    return leg


def test_directions_and_trunks():
    internal = call_from(EndpointKind.EXTENSION, "201")
    placed(internal, EndpointKind.EXTENSION, "202")
    assert (internal.record().direction, internal.record().trunk) == (Direction.INTERNAL, None)
    outbound = call_from(EndpointKind.EXTENSION, "201")
    placed(outbound, EndpointKind.TRUNK, "p1", answer=T0 + 1)
    placed(outbound, EndpointKind.TRUNK, "p2")
    assert (outbound.record().direction, outbound.record().trunk) == (Direction.OUTBOUND, "p1")
    inbound = call_from(EndpointKind.TRUNK, "p2")
    placed(inbound, EndpointKind.EXTENSION, "202")
    assert (inbound.record().direction, inbound.record().trunk) == (Direction.INBOUND, "p2")


def test_a_record_is_open_until_ended_and_legs_close_once():
    call = call_from(EndpointKind.EXTENSION, "201")
    callee = placed(call, EndpointKind.EXTENSION, "202")
    assert call.record().end is None and call.record().disposition is None
    callee.close(T0 + 5, Disposition.BUSY)
    callee.close(T0 + 9, Disposition.FAILED)  # already closed: unchanged
    call.caller.close(T0 + 5, Disposition.BUSY)
    record = call.record(T0 + 5, Disposition.BUSY)
    assert (record.end, record.disposition, record.legs[1].end, record.legs[1].disposition) == (
        T0 + 5, Disposition.BUSY, T0 + 5, Disposition.BUSY)
    record.check()
    assert call.next_id("t") == "c1/t2"
