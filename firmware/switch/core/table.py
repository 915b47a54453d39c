"""The call state machine as data: which events a call in each state accepts, which handler runs
and which states may follow. ``Switch`` dispatches through this table and checks every transition
against it; the tests and ``docs/switch-core.md`` read it too (``python3 -m
firmware.switch.core`` prints the doc's section).

An event that has no row for the call's state is ignored (it is stale: e.g. a hold request racing
the other side's hangup), except an answer from an unknown leg, which ``Switch`` hangs up.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .events import (
    AttendedTransferRequested,
    CallOffered,
    DigitReceived,
    Event,
    HoldReleased,
    HoldRequested,
    LegAnswered,
    LegBusy,
    LegFailed,
    LegHungUp,
    LegRinging,
    TimerFired,
    TransferRequested,
)


class CallState(StrEnum):
    IDLE = "idle"  # just offered, not yet routed
    RINGING = "ringing"  # the caller waits while callees ring
    UP = "up"  # two parties bridged
    HELD = "held"  # two parties, one or both holding; the held one hears music
    TRANSFERRING = "transferring"  # blind transfer: the transferee hears ringback, the target rings
    ENDED = "ended"


@dataclass(frozen=True)
class Transition:
    state: CallState
    event: type[Event]
    handler: str  # method of Switch
    targets: frozenset[CallState]
    note: str


def _row(state: CallState, event: type[Event], handler: str, targets: tuple[CallState, ...],
         note: str) -> Transition:
    return Transition(state, event, handler, frozenset(targets), note)


S = CallState
TRANSITIONS: tuple[Transition, ...] = (
    _row(S.IDLE, CallOffered, "_route", (S.RINGING, S.ENDED),
         "route by the dial plan: ring the first step, or refuse (403/404/486/503/603)"),
    _row(S.RINGING, LegRinging, "_callee_ringing", (S.RINGING,),
         "the caller hears ringback (180)"),
    _row(S.RINGING, LegAnswered, "_callee_answered", (S.UP,),
         "first answer wins: the other callees are cancelled, the caller answered and bridged"),
    _row(S.RINGING, LegBusy, "_callee_busy", (S.RINGING, S.ENDED),
         "when no callee of the step is left: forward on busy, next hunt member, or end BUSY"),
    _row(S.RINGING, LegFailed, "_callee_failed", (S.RINGING, S.ENDED),
         "as busy; a trunk that fails (5xx, 408, auth, no response) fails over to the next trunk"),
    _row(S.RINGING, LegHungUp, "_hangup_while_ringing", (S.RINGING, S.ENDED),
         "the caller gave up: callees cancelled, NO ANSWER; a callee vanished: as failed"),
    _row(S.RINGING, TimerFired, "_ring_timeout", (S.RINGING, S.ENDED),
         "no answer in time: forward on no answer, next hunt member, or end NO ANSWER"),
    _row(S.RINGING, CallOffered, "_picked_up", (S.UP,),
         "pickup (*8, **<ext>): the picker's leg is answered and bridged, the callees cancelled"),
    _row(S.UP, LegHungUp, "_hangup_while_up", (S.ENDED,),
         "either party hangs up: the other is hung up, the record closed ANSWERED"),
    _row(S.UP, HoldRequested, "_hold", (S.HELD,),
         "unbridge; the other party hears music on hold"),
    _row(S.UP, DigitReceived, "_relay_digit", (S.UP,),
         "the digit is sent to the other party (RFC 4733)"),
    _row(S.UP, TransferRequested, "_blind_transfer", (S.TRANSFERRING, S.UP),
         "the transferor leaves, its peer hears ringback while the target rings; a target the dial "
         "plan refuses rejects the request and the call goes on"),
    _row(S.UP, AttendedTransferRequested, "_attended_transfer", (S.UP, S.ENDED),
         "the two peers of the transferor are bridged: this call keeps them (UP), the consultation "
         "call ends"),
    _row(S.HELD, HoldRequested, "_hold", (S.HELD,),
         "the other party holds as well: nobody hears music"),
    _row(S.HELD, HoldReleased, "_unhold", (S.UP, S.HELD),
         "when nobody holds any more the parties are bridged again"),
    _row(S.HELD, LegHungUp, "_hangup_while_up", (S.ENDED,),
         "as in UP"),
    _row(S.HELD, TransferRequested, "_blind_transfer", (S.TRANSFERRING, S.HELD),
         "as in UP (phones usually hold before they transfer)"),
    _row(S.HELD, AttendedTransferRequested, "_attended_transfer", (S.UP, S.ENDED),
         "as in UP"),
    _row(S.TRANSFERRING, LegRinging, "_callee_ringing", (S.TRANSFERRING,),
         "nothing to signal: the transferee already hears ringback"),
    _row(S.TRANSFERRING, LegAnswered, "_callee_answered", (S.UP,),
         "the transferee is bridged to the target"),
    _row(S.TRANSFERRING, LegBusy, "_callee_busy", (S.TRANSFERRING, S.ENDED),
         "as in RINGING; at the end the transferee is hung up"),
    _row(S.TRANSFERRING, LegFailed, "_callee_failed", (S.TRANSFERRING, S.ENDED),
         "as in RINGING"),
    _row(S.TRANSFERRING, LegHungUp, "_hangup_while_ringing", (S.TRANSFERRING, S.ENDED),
         "as in RINGING"),
    _row(S.TRANSFERRING, TimerFired, "_ring_timeout", (S.TRANSFERRING, S.ENDED),
         "as in RINGING"),
)

TABLE: dict[tuple[CallState, type[Event]], Transition] = {(t.state, t.event): t for t in TRANSITIONS}

DOC_BEGIN = "<!-- transitions: generated by python3 -m firmware.switch.core -->"
DOC_END = "<!-- end of transitions -->"


def render_markdown() -> str:
    """The table and a state diagram, as they appear in docs/switch-core.md."""
    lines = [DOC_BEGIN, "", "| state | event | next state(s) | what happens |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        targets = ", ".join(s.name for s in CallState if s in t.targets)
        lines.append(f"| {t.state.name} | `{t.event.__name__}` | {targets} | {t.note} |")
    lines += ["", "```mermaid", "stateDiagram-v2", f"    [*] --> {CallState.IDLE.name}"]
    edges: dict[tuple[str, str], list[str]] = {}
    for t in TRANSITIONS:
        for target in CallState:
            if target in t.targets:
                edges.setdefault((t.state.name, target.name), []).append(t.event.__name__)
    for (source, target), names in edges.items():
        lines.append(f"    {source} --> {target}: {', '.join(names)}")
    lines += [f"    {CallState.ENDED.name} --> [*]", "```", "", DOC_END]
    return "\n".join(lines)
