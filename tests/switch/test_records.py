"""Call records: billsec, consistency, JSON form."""
import pytest

from firmware.switch.records import CallRecord, Direction, Disposition, EndpointKind, LegRecord, iso_time

T0 = 1_748_851_200.0  # 2025-06-02 08:00:00 UTC


def record(**changes) -> CallRecord:
    values = dict(call_id="c1", src="201", dst="202", direction=Direction.INTERNAL, trunk=None, start=T0)
    values.update(changes)
    return CallRecord(**values)


def test_billsec_counts_whole_seconds_from_answer_to_end():
    assert record().billsec is None  # still up
    assert record(end=T0 + 9, disposition=Disposition.NO_ANSWER).billsec == 0
    assert record(answer=T0 + 2.5, end=T0 + 33.4, disposition=Disposition.ANSWERED).billsec == 30


@pytest.mark.parametrize("changes", [
    {"end": T0 + 1},  # no disposition
    {"disposition": Disposition.FAILED},  # no end
    {"answer": T0 - 1},
    {"answer": T0 + 5, "end": T0 + 4, "disposition": Disposition.ANSWERED},
    {"end": T0 + 1, "disposition": Disposition.FAILED,
     "legs": (LegRecord("l", EndpointKind.EXTENSION, "201", "201", T0),)},  # a closed call, an open leg
])
def test_inconsistent_records_are_refused(changes):
    with pytest.raises(ValueError):
        record(**changes).check()


def test_json_form():
    leg = LegRecord("a", EndpointKind.TRUNK, "p1", "0301", T0, T0 + 1, T0 + 2, Disposition.ANSWERED)
    data = record(answer=T0 + 1, end=T0 + 2, disposition=Disposition.ANSWERED, legs=(leg,)).as_dict()
    assert data["start"] == "2025-06-02T08:00:00.000+00:00"
    assert (data["billsec"], data["disposition"], data["answer"]) == (1, "ANSWERED", iso_time(T0 + 1))
    assert data["legs"][0]["kind"] == "trunk" and data["legs"][0]["end"] == "2025-06-02T08:00:02.000+00:00"
    assert iso_time(None) is None
