"""Call records in SQLite: open, closed once and complete, stale ones closed as FAILED."""
import dataclasses
import sqlite3

import pytest

from firmware.switch.records import CallRecord, Direction, Disposition, EndpointKind, LegRecord
from firmware.switch.store.calls import close_stale, query_calls, save_call
from firmware.switch.store.db import StoreError, connect, transaction
from firmware.switch.store.schema import migrate

T0 = 1_748_851_200.0


@pytest.fixture
def conn(tmp_path):
    conn = connect(tmp_path / "box.db")
    migrate(conn)
    yield conn
    conn.close()


def save(conn, record: CallRecord) -> None:
    with transaction(conn):
        save_call(conn, record)


def leg(name: str, start: float = T0, **changes) -> LegRecord:
    return dataclasses.replace(LegRecord(name, EndpointKind.EXTENSION, "201", "201", start), **changes)


def opened(call_id: str = "c1", start: float = T0, **changes) -> CallRecord:
    record = CallRecord(call_id, "201", "202", Direction.INTERNAL, None, start, legs=(leg("a", start),))
    return dataclasses.replace(record, **changes)


def test_a_call_is_written_open_updated_and_closed_with_its_legs(conn):
    save(conn, opened())
    save(conn, opened(answer=T0 + 2, legs=(leg("a", answer=T0), leg("b", answer=T0 + 2))))
    [up] = query_calls(conn)
    assert up.end is None and up.answer == T0 + 2 and len(up.legs) == 2
    done = opened(answer=T0 + 2, end=T0 + 62, disposition=Disposition.ANSWERED, legs=(
        leg("a", answer=T0, end=T0 + 62, disposition=Disposition.ANSWERED),
        leg("b", answer=T0 + 2, end=T0 + 62, disposition=Disposition.ANSWERED)))
    save(conn, done)
    assert query_calls(conn) == [done]
    assert conn.execute("SELECT billsec FROM calls").fetchone()[0] == 60


def test_a_closed_record_is_never_written_again(conn):
    closed = opened(end=T0 + 5, disposition=Disposition.NO_ANSWER,
                    legs=(leg("a", end=T0 + 5, disposition=Disposition.NO_ANSWER),))
    save(conn, closed)
    with pytest.raises(StoreError, match="already closed"):
        save(conn, dataclasses.replace(closed, disposition=Disposition.ANSWERED, answer=T0 + 1))
    assert query_calls(conn) == [closed]


def test_an_inconsistent_record_is_refused_and_half_rows_are_impossible(conn):
    with pytest.raises(StoreError, match="open leg"):
        save(conn, opened(end=T0 + 5, disposition=Disposition.FAILED))
    assert query_calls(conn) == []
    save(conn, opened())
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE calls SET ended = ? WHERE call_id = 'c1'", (T0 + 1,))  # no disposition


def test_stale_calls_end_at_the_last_moment_the_box_vouches_for(conn):
    save(conn, opened("ringing"))  # never answered
    save(conn, opened("talking", answer=T0 + 10, legs=(leg("a", answer=T0 + 10),)))
    save(conn, opened("late", start=T0 + 200, answer=T0 + 210))  # answered after the heartbeat
    with transaction(conn):
        assert close_stale(conn, last_alive=T0 + 100) == ["ringing", "talking", "late"]
    records = {r.call_id: r for r in query_calls(conn)}
    assert {r.disposition for r in records.values()} == {Disposition.FAILED}
    assert (records["ringing"].end, records["ringing"].billsec) == (T0 + 100, 0)
    assert (records["talking"].end, records["talking"].billsec) == (T0 + 100, 90)
    assert (records["late"].end, records["late"].billsec) == (T0 + 210, 0)
    assert records["talking"].legs[0].end == T0 + 100 and records["talking"].legs[0].disposition is (
        Disposition.FAILED)
    with transaction(conn):
        assert close_stale(conn, last_alive=None) == []


def test_without_a_heartbeat_no_time_is_billed(conn):
    save(conn, opened(answer=T0 + 10))
    with transaction(conn):
        close_stale(conn, last_alive=None)
    [record] = query_calls(conn)
    assert (record.end, record.billsec) == (T0 + 10, 0)


def test_queries_by_time_and_newest_first_limit(conn):
    for i in range(5):
        save(conn, opened(f"c{i}", start=T0 + i))
    assert [r.call_id for r in query_calls(conn)] == ["c0", "c1", "c2", "c3", "c4"]
    assert [r.call_id for r in query_calls(conn, since=T0 + 1, until=T0 + 3)] == ["c1", "c2"]
    assert [r.call_id for r in query_calls(conn, limit=2)] == ["c3", "c4"]
    assert len(query_calls(conn, open_only=True)) == 5
