"""The switch core: ``Switch.handle(event, now) -> list[Command]``.

Everything that changes a call's state lives in this module, and only through the transitions of
``table.TRANSITIONS``: ``_dispatch`` looks the (state, event) pair up, runs its handler and checks
that the state the handler left is one the table allows. No I/O and no clock: ``now`` (POSIX
seconds) comes with every event, timers are commands, and call records leave as ``WriteCdr``.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from firmware.switch.model import Config
from firmware.switch.records import Disposition, EndpointKind

from .call import Call, Leg
from .commands import (
    AcceptTransfer,
    AnswerLeg,
    Bridge,
    CancelTimer,
    Cause,
    Command,
    HangupLeg,
    Play,
    RejectTransfer,
    RingLeg,
    SendDigit,
    SignalRinging,
    Sound,
    StartTimer,
    StopPlay,
    Unbridge,
    WriteCdr,
)
from .dialplan import OutboundUsage, Resolver
from .events import (
    AttendedTransferRequested,
    CallOffered,
    ConfigChanged,
    DigitReceived,
    Event,
    HoldReleased,
    HoldRequested,
    LegAnswered,
    LegBusy,
    LegEvent,
    LegFailed,
    LegHungUp,
    LegRinging,
    TimerFired,
    TransferRequested,
)
from .plans import NO_RESPONSE, GiveUp, Outcome, Refuse, Step
from .table import TABLE, CallState

Observer = Callable[[str, CallState, Event, CallState], None]
CALLEE_EVENTS = (LegRinging, LegAnswered, LegBusy, LegFailed)
BUSY_STATUS = 486


class SwitchBug(RuntimeError):
    """A handler left a call in a state its transition does not allow."""


@dataclass(frozen=True)
class CallView:
    call_id: str
    state: CallState
    legs: tuple[str, ...]  # live legs


class Switch:
    def __init__(self, config: Config, *, call_id_prefix: str = "call-", observer: Observer | None = None):
        """``call_id_prefix`` must differ between runs (e.g. the start time) so that call ids stay
        unique in the records; ``observer`` sees every transition (for logs and tests)."""
        self._config = config
        self._resolver = Resolver(config, self._outbound_usage)
        self._prefix = call_id_prefix
        self._observer = observer
        self._sequence = 0
        self._calls: dict[str, Call] = {}
        self._legs: dict[str, Leg] = {}  # live legs by id
        self._timers: dict[str, str] = {}  # running timer -> call id
        self._moving: Leg | None = None  # the leg an attended transfer moves between calls
        self._out: list[Command] = []
        self._now = 0.0

    @property
    def config(self) -> Config:
        return self._config

    def calls(self) -> list[CallView]:
        return [CallView(c.id, c.state, tuple(leg.id for leg in c.legs if leg.live))
                for c in self._calls.values()]

    def handle(self, event: Event, now: float) -> list[Command]:
        self._now = now
        if isinstance(event, ConfigChanged):
            self._config = event.config
            self._resolver = Resolver(event.config, self._outbound_usage)
        elif isinstance(event, CallOffered):
            self._offered(event)
        elif isinstance(event, TimerFired):
            call = self._calls.get(self._timers.pop(event.timer, ""))
            if call is not None and call.timer == event.timer:
                call.timer = None
                self._dispatch(call, event)
        elif isinstance(event, AttendedTransferRequested):
            self._attended(event)
        elif isinstance(event, LegEvent):
            self._leg_event(event)
        out, self._out = self._out, []
        return out

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, call: Call, event: Event) -> None:
        transition = TABLE.get((call.state, type(event)))
        if transition is None:
            return  # stale: see table.py
        before = call.state
        getattr(self, transition.handler)(call, event)
        if call.state not in transition.targets:
            raise SwitchBug(f"{transition.handler} left call {call.id} in {call.state.name} after "
                            f"{type(event).__name__} in {before.name}")
        if self._observer is not None:
            self._observer(call.id, before, event, call.state)

    def _leg_event(self, event: LegEvent) -> None:
        leg_id = event.leg
        leg = self._legs.get(leg_id)
        if leg is None:
            if isinstance(event, LegAnswered):
                self._emit(HangupLeg(leg_id, Cause.NORMAL))  # answered after it was cancelled
            return
        call = self._calls[leg.call]
        if isinstance(event, CALLEE_EVENTS) and leg_id not in call.ringing:
            return  # only the callees of the current step ring, answer or fail
        self._dispatch(call, event)

    def _offered(self, event: CallOffered) -> None:
        if event.leg in self._legs:
            return  # a retransmission the edge let through
        target = self._pickup_target(event)
        if target is not None:
            self._dispatch(target, event)
            return
        self._sequence += 1
        call_id = f"{self._prefix}{self._sequence}"
        kind = EndpointKind.TRUNK if event.trunk is not None else EndpointKind.EXTENSION
        caller = Leg(event.leg, call_id, kind, event.trunk or event.src, event.src, self._now, incoming=True)
        extension = self._config.extension_by_number.get(event.src) if event.trunk is None else None
        name = event.caller_name or (extension.name if extension else "")
        call = Call(call_id, event.src, event.dst, caller, name, self._now, legs=[caller])
        self._calls[call_id] = call
        self._legs[caller.id] = caller
        self._dispatch(call, event)

    def _attended(self, event: AttendedTransferRequested) -> None:
        transferor, consulting = self._legs.get(event.leg), self._legs.get(event.replaces)
        if transferor is None:
            return
        keeper = self._calls[transferor.call]
        donor = self._calls[consulting.call] if consulting is not None else None
        talking = (CallState.UP, CallState.HELD)
        if (donor is None or donor is keeper or keeper.state not in talking or donor.state not in talking
                or transferor.kind is not EndpointKind.EXTENSION or consulting is None
                or (consulting.kind, consulting.endpoint) != (transferor.kind, transferor.endpoint)):
            self._emit(RejectTransfer(transferor.id, Cause.FORBIDDEN))
            return
        self._moving = donor.other(consulting)
        self._dispatch(donor, event)  # first, so the consultation's bridge ends before the new one
        self._dispatch(keeper, event)
        self._moving = None

    # -- helpers -------------------------------------------------------------------------------

    def _emit(self, command: Command) -> None:
        self._out.append(command)

    def _forget(self, leg: Leg) -> None:
        if self._legs.get(leg.id) is leg:
            del self._legs[leg.id]

    def _drop(self, leg: Leg, cause: Cause, unanswered: Disposition) -> None:
        """Ends a live leg from our side."""
        self._emit(HangupLeg(leg.id, cause))
        leg.close(self._now, unanswered)
        self._forget(leg)

    def _cancel_timer(self, call: Call) -> None:
        if call.timer is not None:
            self._emit(CancelTimer(call.timer))
            self._timers.pop(call.timer, None)
            call.timer = None

    def _cancel_callees(self, call: Call, cause: Cause) -> None:
        for leg in call.ringing.values():
            self._drop(leg, cause, Disposition.NO_ANSWER)
        call.ringing.clear()
        self._cancel_timer(call)

    def _finish(self, call: Call, unanswered: Disposition) -> None:
        self._cancel_timer(call)
        for leg in call.legs:
            if leg.live:
                leg.close(self._now, unanswered)
                self._forget(leg)
        call.state = CallState.ENDED
        self._emit(WriteCdr(call.record(self._now, unanswered)))
        del self._calls[call.id]

    def _outbound_usage(self) -> OutboundUsage:
        out = [leg for leg in self._legs.values() if leg.kind is EndpointKind.TRUNK and not leg.incoming]
        return OutboundUsage(len(out), Counter(leg.charged_to for leg in out if leg.charged_to))

    def _is_pickup(self, dst: str) -> bool:
        settings = self._config.settings
        prefix = settings.directed_pickup_prefix
        return dst == settings.pickup_code or (dst.startswith(prefix) and dst[len(prefix):].isdigit())

    def _pickup_target(self, event: CallOffered) -> Call | None:
        if (event.trunk is not None or event.src not in self._config.extension_by_number
                or not self._is_pickup(event.dst)):
            return None
        settings = self._config.settings
        prefix = settings.directed_pickup_prefix
        wanted = None if event.dst == settings.pickup_code else event.dst[len(prefix):]
        for call in self._calls.values():  # oldest first
            if call.state is CallState.RINGING and call.caller.endpoint != event.src and any(
                    leg.kind is EndpointKind.EXTENSION and wanted in (None, leg.endpoint)
                    for leg in call.ringing.values()):
                return call
        return None

    # -- routing and ringing -------------------------------------------------------------------

    def _route(self, call: Call, event: CallOffered) -> None:
        if event.trunk is not None:
            call.plan = self._resolver.from_trunk(event.trunk, event.dst, event.src, self._now)
        elif self._is_pickup(event.dst):
            call.plan = Refuse(Cause.NOT_FOUND)  # nothing rings that this extension could pick up
        else:
            call.plan = self._resolver.from_extension(event.src, event.dst)
        call.waiting = call.caller
        self._follow(call, call.plan.first())

    def _follow(self, call: Call, result: Step | GiveUp) -> None:
        """Rings the next step, or ends the call as the plan gave up."""
        if isinstance(result, GiveUp):
            assert call.waiting is not None
            self._drop(call.waiting, result.cause, result.disposition)
            self._finish(call, result.disposition)
            return
        first_step = call.state is CallState.IDLE
        for dial in result.dials:
            leg = Leg(call.next_id("l"), call.id, dial.kind, dial.endpoint, dial.number, self._now,
                      incoming=False, charged_to=dial.charged_to)
            call.legs.append(leg)
            call.ringing[leg.id] = leg
            self._legs[leg.id] = leg
            self._emit(RingLeg(leg.id, dial.kind, dial.endpoint, dial.number, call.src, call.caller_name))
        call.timer = call.next_id("t")
        self._timers[call.timer] = call.id
        self._emit(StartTimer(call.timer, result.timeout))
        call.outcomes.clear()
        call.state = CallState.RINGING if call.answer is None else CallState.TRANSFERRING
        if first_step:
            self._emit(WriteCdr(call.record()))

    def _callee_ringing(self, call: Call, event: LegRinging) -> None:
        if call.answer is None and not call.signalled_ringing:
            assert call.waiting is not None
            self._emit(SignalRinging(call.waiting.id))
            call.signalled_ringing = True

    def _callee_answered(self, call: Call, event: LegAnswered) -> None:
        winner = call.ringing.pop(event.leg)
        winner.answer = self._now
        self._cancel_callees(call, Cause.ANSWERED_ELSEWHERE)
        self._connect(call, winner)

    def _connect(self, call: Call, callee: Leg) -> None:
        """The waiting party and ``callee`` (answered) talk."""
        waiting = call.waiting
        assert waiting is not None
        if call.answer is None:
            self._emit(AnswerLeg(waiting.id))
            waiting.answer = call.answer = self._now
        else:
            self._emit(StopPlay(waiting.id))  # the transferee's ringback
        self._emit(Bridge(waiting.id, callee.id))
        call.parties, call.bridged, call.waiting, call.plan = (waiting, callee), True, None, None
        call.state = CallState.UP
        self._emit(WriteCdr(call.record()))

    def _callee_busy(self, call: Call, event: LegBusy) -> None:
        self._callee_ended(call, event.leg, Outcome.BUSY, BUSY_STATUS)

    def _callee_failed(self, call: Call, event: LegFailed) -> None:
        self._callee_ended(call, event.leg, Outcome.FAILED, event.status)

    def _callee_ended(self, call: Call, leg_id: str, outcome: Outcome, status: int) -> None:
        leg = call.ringing.pop(leg_id)
        leg.close(self._now, Disposition.BUSY if outcome is Outcome.BUSY else Disposition.FAILED)
        self._forget(leg)
        call.outcomes.append((outcome, status))
        if not call.ringing:  # the step is over
            self._cancel_timer(call)
            busy = any(o is Outcome.BUSY for o, _ in call.outcomes)
            assert call.plan is not None
            self._follow(call, call.plan.next(Outcome.BUSY if busy else Outcome.FAILED, status))

    def _ring_timeout(self, call: Call, event: TimerFired) -> None:
        self._cancel_callees(call, Cause.CANCELLED)
        assert call.plan is not None
        self._follow(call, call.plan.next(Outcome.NO_ANSWER, NO_RESPONSE))

    def _hangup_while_ringing(self, call: Call, event: LegHungUp) -> None:
        if event.leg in call.ringing:
            self._callee_ended(call, event.leg, Outcome.FAILED, NO_RESPONSE)
            return
        leg = self._legs[event.leg]  # the waiting party gave up
        leg.close(self._now, Disposition.NO_ANSWER)
        self._forget(leg)
        self._cancel_callees(call, Cause.CANCELLED)
        self._finish(call, Disposition.NO_ANSWER)

    def _picked_up(self, call: Call, event: CallOffered) -> None:
        picker = Leg(event.leg, call.id, EndpointKind.EXTENSION, event.src, event.src, self._now,
                     incoming=True, answer=self._now)
        call.legs.append(picker)
        self._legs[picker.id] = picker
        self._cancel_callees(call, Cause.ANSWERED_ELSEWHERE)
        self._emit(AnswerLeg(picker.id))
        self._connect(call, picker)

    # -- talking -------------------------------------------------------------------------------

    def _hangup_while_up(self, call: Call, event: LegHungUp) -> None:
        leg = self._legs[event.leg]
        leg.close(self._now, Disposition.ANSWERED)
        self._forget(leg)
        self._drop(call.other(leg), Cause.NORMAL, Disposition.ANSWERED)
        self._finish(call, Disposition.ANSWERED)

    def _hold(self, call: Call, event: HoldRequested) -> None:
        call.held_by.add(event.leg)
        self._reconcile_hold(call)
        call.state = CallState.HELD

    def _unhold(self, call: Call, event: HoldReleased) -> None:
        call.held_by.discard(event.leg)
        self._reconcile_hold(call)
        call.state = CallState.HELD if call.held_by else CallState.UP

    def _reconcile_hold(self, call: Call) -> None:
        """Bridged when nobody holds; otherwise whoever does not hold hears music."""
        assert call.parties is not None
        a, b = call.parties
        music = {leg.id for leg in call.parties if leg.id not in call.held_by} if call.held_by else set()
        if call.bridged and call.held_by:
            self._emit(Unbridge(a.id, b.id))
            call.bridged = False
        for leg in call.parties:
            if leg.id in call.music - music:
                self._emit(StopPlay(leg.id))
            elif leg.id in music - call.music:
                self._emit(Play(leg.id, Sound.MUSIC_ON_HOLD))
        call.music = music
        if not call.bridged and not call.held_by:
            self._emit(Bridge(a.id, b.id))
            call.bridged = True

    def _relay_digit(self, call: Call, event: DigitReceived) -> None:
        self._emit(SendDigit(call.other(self._legs[event.leg]).id, event.digit))

    def _blind_transfer(self, call: Call, event: TransferRequested) -> None:
        transferor = self._legs[event.leg]
        if transferor.kind is not EndpointKind.EXTENSION:
            self._emit(RejectTransfer(transferor.id, Cause.FORBIDDEN))
            return
        plan = self._resolver.from_extension(transferor.endpoint, event.target)
        first = plan.first()
        if isinstance(first, GiveUp):
            self._emit(RejectTransfer(transferor.id, first.cause))
            return
        transferee = call.other(transferor)
        self._emit(AcceptTransfer(transferor.id))
        self._drop(transferor, Cause.NORMAL, Disposition.ANSWERED)
        self._emit(Play(transferee.id, Sound.RINGBACK))
        call.parties, call.bridged, call.held_by, call.music = None, False, set(), set()
        call.waiting, call.plan = transferee, plan
        self._follow(call, first)

    def _attended_transfer(self, call: Call, event: AttendedTransferRequested) -> None:
        moving = self._moving
        assert moving is not None
        if event.replaces in self._legs and self._legs[event.replaces].call == call.id:
            # the consultation call: the transferor leaves, its peer moves to the other call
            self._drop(self._legs[event.replaces], Cause.NORMAL, Disposition.ANSWERED)
            moving.close(self._now, Disposition.ANSWERED)
            if moving.id in call.music:
                self._emit(StopPlay(moving.id))
            self._finish(call, Disposition.ANSWERED)
            return
        transferor = self._legs[event.leg]
        transferee = call.other(transferor)
        self._emit(AcceptTransfer(transferor.id))
        self._drop(transferor, Cause.NORMAL, Disposition.ANSWERED)
        if transferee.id in call.music:
            self._emit(StopPlay(transferee.id))
        target = Leg(moving.id, call.id, moving.kind, moving.endpoint, moving.number, self._now,
                     moving.incoming, moving.charged_to, answer=self._now)
        call.legs.append(target)
        self._legs[target.id] = target
        self._emit(Bridge(transferee.id, target.id))
        call.parties, call.bridged, call.held_by, call.music = (transferee, target), True, set(), set()
        call.state = CallState.UP
        self._emit(WriteCdr(call.record()))
