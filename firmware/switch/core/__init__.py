"""The sans-IO switch core (after h11): events in, commands out, ``now`` passed in.

``Switch.handle(event, now) -> list[Command]`` is the whole interface; the call state machine is
the data table in ``table``; the dial plan (``dialplan``) and ringing plans (``plans``) are pure
functions of the config. Nothing here does I/O or reads a clock (enforced by ruff's banned-api).
"""
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
from .switch import CallView, Switch, SwitchBug
from .table import TRANSITIONS, CallState

__all__ = [
    "AcceptTransfer", "AnswerLeg", "AttendedTransferRequested", "Bridge", "CallOffered", "CallState",
    "CallView", "CancelTimer", "Cause", "Command", "ConfigChanged", "DigitReceived", "Event", "HangupLeg",
    "HoldReleased", "HoldRequested", "LegAnswered", "LegBusy", "LegEvent", "LegFailed", "LegHungUp",
    "LegRinging", "Play", "RejectTransfer", "RingLeg", "SendDigit", "SignalRinging", "Sound", "StartTimer",
    "StopPlay", "Switch", "SwitchBug", "TRANSITIONS", "TimerFired", "TransferRequested", "Unbridge",
    "WriteCdr",
]
