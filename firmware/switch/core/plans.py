"""Ringing plans: who rings next, given how the last step ended. Pure, no commands.

A plan answers ``first()`` and then ``next(outcome, status)`` with a ``Step`` (legs to ring at once,
and for how long) or ``GiveUp`` (the cause the caller gets and the call's disposition). The switch
turns steps into ``RingLeg`` and timers; the plans hold the dial-plan logic of forwarding, ring
groups and trunk failover, and can be tested without any call at all.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from firmware.switch.model import Extension, RingGroup, RingStrategy
from firmware.switch.records import Disposition, EndpointKind

from .commands import Cause

FAILOVER_STATUSES = frozenset({0, 401, 403, 407, 408})  # and every 5xx: about the trunk, not the callee
NO_RESPONSE = 0  # LegFailed.status when nothing answered at all


class Outcome(Enum):
    BUSY = "busy"
    NO_ANSWER = "no answer"
    FAILED = "failed"


def fails_over(status: int) -> bool:
    """True when a trunk's failure says more about the trunk than about the number called."""
    return status in FAILOVER_STATUSES or 500 <= status <= 599


def cause_for_status(status: int) -> Cause:
    return {403: Cause.FORBIDDEN, 404: Cause.NOT_FOUND, 486: Cause.BUSY, 600: Cause.BUSY,
            603: Cause.DECLINED}.get(status, Cause.CONGESTION)


@dataclass(frozen=True)
class Dial:
    """One leg to place."""

    kind: EndpointKind
    endpoint: str  # extension number or trunk name
    number: str  # what to put in the request-URI
    charged_to: str | None = None  # the extension whose outbound allowance a trunk leg uses


@dataclass(frozen=True)
class Step:
    dials: tuple[Dial, ...]
    timeout: int  # s of ringing before the step ends NO ANSWER


@dataclass(frozen=True)
class GiveUp:
    cause: Cause
    disposition: Disposition


class Plan(ABC):
    @abstractmethod
    def first(self) -> Step | GiveUp: ...

    @abstractmethod
    def next(self, outcome: Outcome, status: int) -> Step | GiveUp:
        """What follows a step that ended with ``outcome`` (``status``: the last SIP failure)."""


def give_up_for(outcome: Outcome) -> GiveUp:
    if outcome is Outcome.BUSY:
        return GiveUp(Cause.BUSY, Disposition.BUSY)
    if outcome is Outcome.NO_ANSWER:
        return GiveUp(Cause.NO_ANSWER, Disposition.NO_ANSWER)
    return GiveUp(Cause.UNAVAILABLE, Disposition.FAILED)


class Refuse(Plan):
    """The dial plan said no (unknown number, not allowed, blacklisted ...)."""

    def __init__(self, cause: Cause, disposition: Disposition = Disposition.FAILED):
        self.give_up = GiveUp(cause, disposition)

    def first(self) -> GiveUp:
        return self.give_up

    def next(self, outcome: Outcome, status: int) -> GiveUp:
        return self.give_up


class RingExtension(Plan):
    """One extension with its DND and forwarding (always; busy, which includes unreachable; no
    answer). ``forward`` resolves a forwarding target with the extension's own rights."""

    def __init__(self, extension: Extension, ring_timeout: int, forward: Callable[[str], Plan]):
        self.extension = extension
        self.ring_timeout = ring_timeout
        self.forward = forward
        self.forwarded: Plan | None = None

    def first(self) -> Step | GiveUp:
        ext = self.extension
        if ext.forward_always is not None:
            return self._forward_to(ext.forward_always)
        if ext.dnd:
            return self.next(Outcome.BUSY, NO_RESPONSE)
        timeout = ext.no_answer_timeout if ext.forward_no_answer is not None else self.ring_timeout
        return Step((Dial(EndpointKind.EXTENSION, ext.number, ext.number),), timeout)

    def next(self, outcome: Outcome, status: int) -> Step | GiveUp:
        if self.forwarded is not None:
            return self.forwarded.next(outcome, status)
        target = (self.extension.forward_no_answer if outcome is Outcome.NO_ANSWER
                  else self.extension.forward_busy)
        return self._forward_to(target) if target is not None else give_up_for(outcome)

    def _forward_to(self, target: str) -> Step | GiveUp:
        self.forwarded = self.forward(target)
        return self.forwarded.first()


class RingGroupPlan(Plan):
    """Ring-all: every member at once for ``timeout``. Hunt: one member after the other, each for
    ``timeout``. Members on DND are skipped; the members' own forwarding does not apply."""

    def __init__(self, group: RingGroup, members: Sequence[Extension]):
        self.group = group
        self.members = [m for m in members if not m.dnd]
        self.position = 0
        self.outcomes: list[Outcome] = []

    def _dial(self, member: Extension) -> Dial:
        return Dial(EndpointKind.EXTENSION, member.number, member.number)

    def first(self) -> Step | GiveUp:
        if not self.members:
            return GiveUp(Cause.BUSY, Disposition.BUSY)
        if self.group.strategy is RingStrategy.RING_ALL:
            return Step(tuple(self._dial(m) for m in self.members), self.group.timeout)
        return Step((self._dial(self.members[0]),), self.group.timeout)

    def next(self, outcome: Outcome, status: int) -> Step | GiveUp:
        self.outcomes.append(outcome)
        self.position += 1
        if self.group.strategy is RingStrategy.HUNT and self.position < len(self.members):
            return Step((self._dial(self.members[self.position]),), self.group.timeout)
        if all(o is Outcome.BUSY for o in self.outcomes):
            return give_up_for(Outcome.BUSY)
        if Outcome.NO_ANSWER in self.outcomes:
            return give_up_for(Outcome.NO_ANSWER)
        return give_up_for(Outcome.FAILED)


class TrunkPlan(Plan):
    """Out through trunks in failover order: a failure of the trunk moves on to the next one; busy,
    no answer or a failure about the number called ends the call."""

    def __init__(self, attempts: Sequence[Dial], ring_timeout: int):
        self.attempts = list(attempts)
        self.ring_timeout = ring_timeout
        self.position = 0

    def first(self) -> Step:
        return Step((self.attempts[0],), self.ring_timeout)

    def next(self, outcome: Outcome, status: int) -> Step | GiveUp:
        if outcome is not Outcome.FAILED:
            return give_up_for(outcome)
        self.position += 1
        if fails_over(status) and self.position < len(self.attempts):
            return Step((self.attempts[self.position],), self.ring_timeout)
        return GiveUp(cause_for_status(status), Disposition.FAILED)
