"""What the runtime tells the switch core. Every event is a frozen dataclass; legs are named by the
id the runtime gave them (incoming) or the core gave them in ``RingLeg`` (outgoing)."""
from __future__ import annotations

from dataclasses import dataclass

from firmware.switch.model import Config


@dataclass(frozen=True)
class Event:
    """Base class of everything ``Switch.handle`` accepts."""


@dataclass(frozen=True)
class LegEvent(Event):
    """An event about one existing leg."""

    leg: str


@dataclass(frozen=True)
class CallOffered(Event):
    """A new incoming leg (an INVITE). From a phone: ``trunk`` is None and ``src`` is the extension
    the edge authenticated. From a trunk: ``src`` is the caller ID ("" when withheld) and ``dst``
    the DID."""

    leg: str
    src: str
    dst: str
    trunk: str | None = None
    caller_name: str = ""


@dataclass(frozen=True)
class LegRinging(LegEvent):
    """A leg the core placed rings (180/183)."""


@dataclass(frozen=True)
class LegAnswered(LegEvent):
    """A leg the core placed answered (200 OK)."""


@dataclass(frozen=True)
class LegBusy(LegEvent):
    """A leg the core placed is busy (486, 600)."""


@dataclass(frozen=True)
class LegFailed(LegEvent):
    """A leg the core placed failed with a final SIP ``status``; 0 when nothing answered at all
    (timeout, transport error, its worker died)."""

    status: int


@dataclass(frozen=True)
class LegHungUp(LegEvent):
    """The far end of a leg ended it (BYE, or CANCEL of an incoming leg)."""


@dataclass(frozen=True)
class DigitReceived(LegEvent):
    """A DTMF digit from a leg (RFC 4733 or detected in band)."""

    digit: str


@dataclass(frozen=True)
class HoldRequested(LegEvent):
    """The phone on ``leg`` put its call on hold (re-INVITE sendonly/inactive)."""


@dataclass(frozen=True)
class HoldReleased(LegEvent):
    """The phone on ``leg`` took its call off hold."""


@dataclass(frozen=True)
class TransferRequested(LegEvent):
    """Blind transfer: the phone on ``leg`` asks that its peer be connected to ``target`` (REFER)."""

    target: str


@dataclass(frozen=True)
class AttendedTransferRequested(LegEvent):
    """Attended transfer: the phone on ``leg`` asks that its peer be connected to the peer of its
    other call, whose leg is ``replaces`` (REFER with Replaces)."""

    replaces: str


@dataclass(frozen=True)
class TimerFired(Event):
    """A timer the core started with ``StartTimer`` ran out."""

    timer: str


@dataclass(frozen=True)
class ConfigChanged(Event):
    """New configuration: new calls follow it; calls in progress finish under the old one."""

    config: Config
