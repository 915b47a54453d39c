"""What the switch core asks the runtime to do. Every command is a frozen dataclass.

``HangupLeg`` means whatever ends the leg in its state: a final response to an unanswered incoming
leg (with ``cause.sip_status``), CANCEL for an unanswered outgoing one, BYE for an answered one.
Hanging up a bridged or playing leg also ends its bridge and its sound.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from firmware.switch.records import CallRecord, EndpointKind


class Cause(Enum):
    """Why a leg is ended; ``sip_status`` is what an unanswered incoming leg is told."""

    NORMAL = "normal"
    ANSWERED_ELSEWHERE = "answered elsewhere"  # another callee answered (CANCEL, Reason cause=200)
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not found"
    NO_ANSWER = "no answer"
    UNAVAILABLE = "unavailable"  # the phone could not be reached
    LOOP = "loop"
    BUSY = "busy"
    CANCELLED = "cancelled"
    CONGESTION = "congestion"
    DECLINED = "declined"

    @property
    def sip_status(self) -> int:
        return _SIP_STATUS[self]


_SIP_STATUS = {
    Cause.NORMAL: 200,
    Cause.ANSWERED_ELSEWHERE: 200,
    Cause.FORBIDDEN: 403,
    Cause.NOT_FOUND: 404,
    Cause.NO_ANSWER: 480,
    Cause.UNAVAILABLE: 480,
    Cause.LOOP: 482,
    Cause.BUSY: 486,
    Cause.CANCELLED: 487,
    Cause.CONGESTION: 503,
    Cause.DECLINED: 603,
}


class Sound(Enum):
    RINGBACK = "ringback"
    BUSY = "busy"
    MUSIC_ON_HOLD = "music_on_hold"


@dataclass(frozen=True)
class Command:
    """Base class of everything ``Switch.handle`` returns."""


@dataclass(frozen=True)
class RingLeg(Command):
    """Place a new leg ``leg`` (an INVITE) to an extension or out through a trunk."""

    leg: str
    kind: EndpointKind
    endpoint: str  # extension number or trunk name
    number: str  # the request-URI user part
    caller_id: str
    caller_name: str = ""


@dataclass(frozen=True)
class SignalRinging(Command):
    """Tell the caller on ``leg`` that it rings (180)."""

    leg: str


@dataclass(frozen=True)
class AnswerLeg(Command):
    """Answer the incoming ``leg`` (200 OK)."""

    leg: str


@dataclass(frozen=True)
class Bridge(Command):
    """Connect the media of two answered legs (they may live in different media workers)."""

    a: str
    b: str


@dataclass(frozen=True)
class Unbridge(Command):
    a: str
    b: str


@dataclass(frozen=True)
class HangupLeg(Command):
    leg: str
    cause: Cause


@dataclass(frozen=True)
class Play(Command):
    """Play ``sound`` to ``leg`` (looping) until StopPlay, another Play or hangup."""

    leg: str
    sound: Sound


@dataclass(frozen=True)
class StopPlay(Command):
    leg: str


@dataclass(frozen=True)
class SendDigit(Command):
    """Send a DTMF digit to ``leg`` (RFC 4733)."""

    leg: str
    digit: str


@dataclass(frozen=True)
class StartTimer(Command):
    """Deliver ``TimerFired(timer)`` after ``delay`` seconds, unless cancelled."""

    timer: str
    delay: float  # s


@dataclass(frozen=True)
class CancelTimer(Command):
    timer: str


@dataclass(frozen=True)
class AcceptTransfer(Command):
    """Accept the transfer request of ``leg`` (202 to its REFER, NOTIFY 200); a HangupLeg of the
    transferor follows."""

    leg: str


@dataclass(frozen=True)
class RejectTransfer(Command):
    """Refuse the transfer request of ``leg`` with ``cause``; its call goes on unchanged."""

    leg: str
    cause: Cause


@dataclass(frozen=True)
class WriteCdr(Command):
    """Persist the call record: open (``record.end`` is None) or, once, closed."""

    record: CallRecord
