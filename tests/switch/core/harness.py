"""Test helpers for the switch core: a fake runtime around it, with a fake clock that fires timers
and the runtime's own view of which legs are alive, so that every test checks that the core never
commands a leg that is gone and that every call ends in exactly one complete call record."""
from __future__ import annotations

import datetime as dt

from firmware.switch.core import (
    Bridge,
    CallOffered,
    CancelTimer,
    Command,
    Event,
    HangupLeg,
    LegAnswered,
    LegBusy,
    LegFailed,
    LegHungUp,
    Play,
    RingLeg,
    StartTimer,
    StopPlay,
    Switch,
    TimerFired,
    Unbridge,
    WriteCdr,
)
from firmware.switch.model import (
    BlockedNumber,
    Config,
    Destination,
    Extension,
    InboundRoute,
    OutboundRoute,
    RingGroup,
    RingStrategy,
    Settings,
    TimeCondition,
    Trunk,
)
from firmware.switch.records import CallRecord

BERLIN = dt.timezone(dt.timedelta(hours=2))  # CEST, fixed so the figures below are plain
MONDAY_10H = dt.datetime(2025, 6, 2, 10, 0, tzinfo=BERLIN).timestamp()
SUNDAY_10H = dt.datetime(2025, 6, 1, 10, 0, tzinfo=BERLIN).timestamp()
CHRISTMAS_10H = dt.datetime(2025, 12, 25, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()
PASSWORD = "Secret-pass-1"


def ext(number: str, **options) -> Extension:
    return Extension(number, password=PASSWORD, **options)


def office_config() -> Config:
    """The configuration every core test uses; the tests name the numbers they rely on."""
    return Config(
        settings=Settings(max_outbound_calls=3),
        extensions=(
            ext("201", name="Alice"), ext("202"), ext("203"), ext("204", international=True, max_outbound=1),
            ext("205", dnd=True), ext("206", forward_always="202"), ext("207", forward_busy="203"),
            ext("208", forward_no_answer="90301234567", no_answer_timeout=10),
            ext("209", forward_always="210"), ext("210", forward_always="209"), ext("211", max_outbound=0),
            ext("212"), ext("213"),
        ),
        ring_groups=(
            RingGroup("600", ("201", "202", "203")),
            RingGroup("601", ("201", "202", "203"), strategy=RingStrategy.HUNT, timeout=10),
            RingGroup("602", ("205", "202", "203")),
        ),
        trunks=(
            Trunk("p1", "sip.one.example", priority=1, dids=("0301234500", "0301234501")),
            Trunk("p2", "sip.two.example", priority=2),
        ),
        outbound_routes=(OutboundRoute("out", ("9.",), strip=1, trunks=("p1", "p2")),),
        time_conditions=(TimeCondition("office", "Europe/Berlin", ("mon-fri 08:00-18:00",), ("12-25",)),),
        inbound_routes=(
            InboundRoute("main", Destination.parse("ring_group:600"), trunk="p1", did="0301234500",
                         time_condition="office", closed_destination=Destination.parse("extension:201")),
            InboundRoute("direct", Destination.parse("extension:202"), did="0301234501"),
            InboundRoute("mobiles", Destination.parse("extension:203"), caller_id="0171."),
        ),
        blacklist=(BlockedNumber("0900!", note="premium rate"),),
    )


class Harness:
    """Drives a Switch like the runtime would, and checks after every step what a runtime relies on:
    commands name only live legs, a leg is in at most one bridge and never bridged while a sound
    plays to it, timers are cancelled only while running, a closed record is never written again,
    and the core's live legs are exactly the runtime's."""

    def __init__(self, config: Config, now: float = MONDAY_10H, transitions: list | None = None):
        self.now = now
        self.transitions = transitions if transitions is not None else []
        self.switch = Switch(config, call_id_prefix="c", observer=self._observe)
        self.timers: dict[str, float] = {}
        self.live: set[str] = set()  # legs alive as the runtime sees them
        self.pending: set[str] = set()  # legs the core placed that have not answered or ended
        self.origin: dict[str, str] = {}  # leg -> the extension, number or trunk at its far end
        self.bridged: dict[str, str] = {}  # leg -> the leg it is bridged to
        self.playing: set[str] = set()
        self.records: dict[str, CallRecord] = {}  # the store: latest record per call
        self.closed_twice: list[str] = []

    def _observe(self, call_id, before, event, after) -> None:
        self.transitions.append((before, type(event), after))

    def send(self, event: Event) -> list[Command]:
        if isinstance(event, CallOffered | LegAnswered):  # an answer may come after a cancel
            self.live.add(event.leg)
        if isinstance(event, CallOffered):
            self.origin[event.leg] = event.src
        if isinstance(event, LegBusy | LegFailed | LegHungUp):
            self._ended(event.leg)
        if isinstance(event, LegAnswered):
            self.pending.discard(event.leg)
        out = self.switch.handle(event, self.now)
        for command in out:
            self._check(command)
        core_live = {leg for view in self.switch.calls() for leg in view.legs}
        assert core_live == self.live, f"after {event}: core {core_live} != runtime {self.live}"
        return out

    def _ended(self, leg: str) -> None:
        self.live.discard(leg)
        self.pending.discard(leg)
        self.playing.discard(leg)
        peer = self.bridged.pop(leg, None)
        if peer is not None:
            del self.bridged[peer]

    def _check(self, command: Command) -> None:
        legs = [getattr(command, name) for name in ("leg", "a", "b") if hasattr(command, name)]
        if isinstance(command, RingLeg):
            assert command.leg not in self.live, f"{command.leg} placed twice"
            self.live.add(command.leg)
            self.pending.add(command.leg)
            self.origin[command.leg] = command.endpoint
            return
        for leg in legs:
            assert leg in self.live, f"{command} names a leg that is gone"
        if isinstance(command, HangupLeg):
            self._ended(command.leg)
        elif isinstance(command, Bridge):
            assert not {command.a, command.b} & set(self.bridged), f"{command}: already bridged"
            assert not {command.a, command.b} & self.playing, f"{command}: a sound still plays"
            self.bridged[command.a], self.bridged[command.b] = command.b, command.a
        elif isinstance(command, Unbridge):
            assert self.bridged.get(command.a) == command.b, f"{command}: not bridged"
            del self.bridged[command.a], self.bridged[command.b]
        elif isinstance(command, Play):
            assert command.leg not in self.bridged, f"{command}: the leg is bridged"
            self.playing.add(command.leg)
        elif isinstance(command, StopPlay):
            assert command.leg in self.playing, f"{command}: nothing plays"
            self.playing.discard(command.leg)
        elif isinstance(command, StartTimer):
            assert command.timer not in self.timers
            self.timers[command.timer] = self.now + command.delay
        elif isinstance(command, CancelTimer):
            assert command.timer in self.timers, f"{command.timer} cancelled but not running"
            del self.timers[command.timer]
        elif isinstance(command, WriteCdr):
            record = command.record
            record.check()
            previous = self.records.get(record.call_id)
            if previous is not None and previous.closed:
                self.closed_twice.append(record.call_id)
            self.records[record.call_id] = record

    def advance(self, seconds: float) -> list[Command]:
        """Moves the clock, firing the timers that fall due, in order."""
        target = self.now + seconds
        out: list[Command] = []
        while self.timers and min(self.timers.values()) <= target:
            timer = min(self.timers, key=self.timers.__getitem__)
            self.now = self.timers.pop(timer)
            out += self.send(TimerFired(timer))
        self.now = target
        return out

    def closed(self) -> list[CallRecord]:
        return [r for r in self.records.values() if r.closed]

    def record(self, call_id: str = "c1") -> CallRecord:
        return self.records[call_id]


def rung(out: list[Command]) -> list[RingLeg]:
    return [c for c in out if isinstance(c, RingLeg)]


def of(out: list[Command], cls: type) -> list:
    return [c for c in out if isinstance(c, cls)]
