"""A call's state inside the switch: its legs, who waits, who rings, who is bridged, and the call
record that falls out of it. Plain data; ``Switch`` is the only thing that changes it."""
from __future__ import annotations

from dataclasses import dataclass, field

from firmware.switch.records import CallRecord, Direction, Disposition, EndpointKind, LegRecord

from .plans import Outcome, Plan
from .table import CallState


@dataclass
class Leg:
    id: str
    call: str  # id of the call it belongs to
    kind: EndpointKind
    endpoint: str  # extension number or trunk name
    number: str  # the caller's number, or the number the box dialled
    start: float
    incoming: bool  # True for a leg that called in, False for one the box placed
    charged_to: str | None = None  # see plans.Dial
    answer: float | None = None
    end: float | None = None
    disposition: Disposition | None = None

    @property
    def live(self) -> bool:
        return self.end is None

    def close(self, now: float, unanswered: Disposition) -> None:
        """Marks the leg ended; an unanswered leg gets ``unanswered`` as its disposition."""
        if self.end is None:
            self.end = now
            self.disposition = Disposition.ANSWERED if self.answer is not None else unanswered

    def record(self) -> LegRecord:
        return LegRecord(self.id, self.kind, self.endpoint, self.number, self.start, self.answer, self.end,
                         self.disposition)


@dataclass
class Call:
    id: str
    src: str
    dst: str
    caller: Leg
    caller_name: str
    start: float
    state: CallState = CallState.IDLE
    answer: float | None = None
    legs: list[Leg] = field(default_factory=list)  # every leg the call ever had, for its record
    waiting: Leg | None = None  # the party waiting while callees ring
    ringing: dict[str, Leg] = field(default_factory=dict)  # callees of the current step
    outcomes: list[tuple[Outcome, int]] = field(default_factory=list)  # callees of the step that ended
    plan: Plan | None = None
    timer: str | None = None
    signalled_ringing: bool = False
    parties: tuple[Leg, Leg] | None = None  # the two bridged (or holding) legs
    bridged: bool = False
    held_by: set[str] = field(default_factory=set)  # leg ids
    music: set[str] = field(default_factory=set)  # leg ids hearing music on hold
    counter: int = 0  # for leg and timer ids

    def next_id(self, kind: str) -> str:
        self.counter += 1
        return f"{self.id}/{kind}{self.counter}"

    def other(self, leg: Leg) -> Leg:
        assert self.parties is not None
        a, b = self.parties
        return b if leg is a else a

    def record(self, end: float | None = None, unanswered: Disposition = Disposition.NO_ANSWER) -> CallRecord:
        """The call record now: open unless ``end`` is given; ``unanswered`` is its disposition
        when nobody ever answered."""
        placed_trunks = [leg for leg in self.legs if leg.kind is EndpointKind.TRUNK and not leg.incoming]
        if self.caller.kind is EndpointKind.TRUNK:
            direction, trunk = Direction.INBOUND, self.caller.endpoint
        elif placed_trunks:
            answered = [leg for leg in placed_trunks if leg.answer is not None]
            direction, trunk = Direction.OUTBOUND, (answered or placed_trunks)[-1].endpoint
        else:
            direction, trunk = Direction.INTERNAL, None
        disposition = None
        if end is not None:
            disposition = Disposition.ANSWERED if self.answer is not None else unanswered
        return CallRecord(self.id, self.src, self.dst, direction, trunk, self.start, self.answer, end,
                          disposition, tuple(leg.record() for leg in self.legs))
