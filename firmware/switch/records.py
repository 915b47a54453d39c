"""Call records: what the core reports about a call and the store keeps (one row per call, its legs).

A record is *open* while the call is up (``end`` is None) and *closed* once, complete, when it ends.
Times are POSIX seconds (UTC); ``billsec`` is whole seconds from answer to end, rounded down.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Disposition(StrEnum):
    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"


class Direction(StrEnum):
    INTERNAL = "internal"  # extension to extension (or ring group, pickup)
    INBOUND = "inbound"  # from a trunk
    OUTBOUND = "outbound"  # from an extension out through a trunk


class EndpointKind(StrEnum):
    EXTENSION = "extension"
    TRUNK = "trunk"


@dataclass(frozen=True)
class LegRecord:
    """One SIP dialog of the call: the caller's, or one the box placed (rung, answered or not)."""

    leg: str
    kind: EndpointKind
    endpoint: str  # extension number or trunk name
    number: str  # the number on that leg: the caller's, or the one the box dialled
    start: float
    answer: float | None = None
    end: float | None = None
    disposition: Disposition | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"leg": self.leg, "kind": self.kind.value, "endpoint": self.endpoint, "number": self.number,
                "start": iso_time(self.start), "answer": iso_time(self.answer), "end": iso_time(self.end),
                "disposition": self.disposition.value if self.disposition else None}


def iso_time(seconds: float | None) -> str | None:
    """POSIX seconds as ISO 8601 UTC with milliseconds: ``2025-06-02T08:00:00.000+00:00``."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    src: str  # caller: extension number or the trunk caller's ID
    dst: str  # what the caller dialled (the DID for inbound calls)
    direction: Direction
    trunk: str | None  # the trunk it came in on or went out through
    start: float
    answer: float | None = None
    end: float | None = None
    disposition: Disposition | None = None
    legs: tuple[LegRecord, ...] = ()

    @property
    def closed(self) -> bool:
        return self.end is not None

    @property
    def billsec(self) -> int | None:
        """Whole seconds talked; None while the call is up."""
        if self.end is None:
            return None
        return int(self.end - self.answer) if self.answer is not None else 0

    def check(self) -> None:
        """ValueError when the record contradicts itself (the store keeps only consistent rows)."""
        if (self.end is None) != (self.disposition is None):
            raise ValueError(f"call {self.call_id}: end and disposition go together")
        if self.answer is not None and self.answer < self.start:
            raise ValueError(f"call {self.call_id}: answered before it started")
        if self.end is not None and self.end < max(self.start, self.answer or self.start):
            raise ValueError(f"call {self.call_id}: ended before it started or was answered")
        if self.end is not None and any(leg.end is None or leg.disposition is None for leg in self.legs):
            raise ValueError(f"call {self.call_id}: a closed call cannot have an open leg")

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (times in ISO 8601 UTC), for ``callbox cdr --json``."""
        return {"call_id": self.call_id, "src": self.src, "dst": self.dst, "direction": self.direction.value,
                "trunk": self.trunk, "start": iso_time(self.start), "answer": iso_time(self.answer),
                "end": iso_time(self.end), "billsec": self.billsec,
                "disposition": self.disposition.value if self.disposition else None,
                "legs": [leg.as_dict() for leg in self.legs]}
