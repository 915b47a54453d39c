"""The call records: one row per call in ``calls``, its legs in ``call_legs``.

A row is written when the call starts (open: no end), updated while it is up (answered, legs
added), and closed exactly once, complete, in the same transaction as its final legs. A closed row
is never written again; the schema's CHECK makes a half-closed row impossible. After a crash the
rows still open are closed as FAILED by ``close_stale``.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from firmware.switch.records import CallRecord, Direction, Disposition, EndpointKind, LegRecord

from .db import StoreError

_UPSERT = """
INSERT INTO calls (call_id, src, dst, direction, trunk, started, answered, ended, billsec, disposition)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO UPDATE SET
    src = excluded.src, dst = excluded.dst, direction = excluded.direction, trunk = excluded.trunk,
    started = excluded.started, answered = excluded.answered, ended = excluded.ended,
    billsec = excluded.billsec, disposition = excluded.disposition
WHERE calls.ended IS NULL
RETURNING id
"""
_INSERT_LEG = """
INSERT INTO call_legs (call, position, leg, kind, endpoint, number, started, answered, ended, disposition)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def save_call(conn: sqlite3.Connection, record: CallRecord) -> None:
    """Writes an open or closing record with its legs; call inside a transaction."""
    try:
        record.check()
    except ValueError as error:
        raise StoreError(str(error)) from None
    row = conn.execute(_UPSERT, (
        record.call_id, record.src, record.dst, record.direction.value, record.trunk, record.start,
        record.answer, record.end, record.billsec,
        record.disposition.value if record.disposition else None)).fetchone()
    if row is None:
        raise StoreError(f"call {record.call_id} is already closed")
    conn.execute("DELETE FROM call_legs WHERE call = ?", (row["id"],))
    conn.executemany(_INSERT_LEG, [
        (row["id"], i, leg.leg, leg.kind.value, leg.endpoint, leg.number, leg.start, leg.answer, leg.end,
         leg.disposition.value if leg.disposition else None)
        for i, leg in enumerate(record.legs)])


def close_stale(conn: sqlite3.Connection, last_alive: float | None) -> list[str]:
    """Closes every open record as FAILED; call inside a transaction, before the switch starts.

    A call ends, for the record, at the last moment the box knew it was up: the runtime's last
    heartbeat if that came after the call's last event, else that event (start or answer). The box
    bills no time it cannot vouch for.
    """
    closed = []
    stale = conn.execute("SELECT id, call_id, started, answered FROM calls WHERE ended IS NULL").fetchall()
    for row in stale:
        known = row["answered"] if row["answered"] is not None else row["started"]
        end = max(known, last_alive) if last_alive is not None else known
        billsec = int(end - row["answered"]) if row["answered"] is not None else 0
        conn.execute("UPDATE calls SET ended = ?, billsec = ?, disposition = ? WHERE id = ?",
                     (end, billsec, Disposition.FAILED.value, row["id"]))
        conn.execute("UPDATE call_legs SET ended = max(started, coalesce(answered, started), ?), "
                     "disposition = ? WHERE call = ? AND ended IS NULL",
                     (end, Disposition.FAILED.value, row["id"]))
        closed.append(row["call_id"])
    return closed


def query_calls(conn: sqlite3.Connection, *, since: float | None = None, until: float | None = None,
                open_only: bool = False, limit: int | None = None) -> list[CallRecord]:
    """Records by start time, oldest first; ``limit`` keeps the newest ones."""
    where, args = ["1"], []
    if since is not None:
        where.append("started >= ?")
        args.append(since)
    if until is not None:
        where.append("started < ?")
        args.append(until)
    if open_only:
        where.append("ended IS NULL")
    sql = f"SELECT * FROM calls WHERE {' AND '.join(where)} ORDER BY started DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    rows = conn.execute(sql, args).fetchall()[::-1]
    legs = _legs(conn, (row["id"] for row in rows))
    return [CallRecord(
        call_id=row["call_id"], src=row["src"], dst=row["dst"], direction=Direction(row["direction"]),
        trunk=row["trunk"], start=row["started"], answer=row["answered"], end=row["ended"],
        disposition=Disposition(row["disposition"]) if row["disposition"] else None,
        legs=tuple(legs.get(row["id"], ()))) for row in rows]


def _legs(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, list[LegRecord]]:
    wanted = list(ids)
    out: dict[int, list[LegRecord]] = {}
    chunk = 500  # ids per query, under SQLite's bound-parameter limit
    for i in range(0, len(wanted), chunk):
        part = wanted[i:i + chunk]
        marks = ", ".join("?" * len(part))
        for row in conn.execute(f"SELECT * FROM call_legs WHERE call IN ({marks}) ORDER BY call, position",
                                part):
            out.setdefault(row["call"], []).append(LegRecord(
                leg=row["leg"], kind=EndpointKind(row["kind"]), endpoint=row["endpoint"],
                number=row["number"], start=row["started"], answer=row["answered"], end=row["ended"],
                disposition=Disposition(row["disposition"]) if row["disposition"] else None))
    return out
