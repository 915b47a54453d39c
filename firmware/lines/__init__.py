"""Analog line cards: the one driver interface (``card``), the simulated card with its virtual exchange
and phones, the ALSA card, and udev hot-plug. See docs/line-cards.md.

Only ``alsa`` and ``hotplug`` import alsaaudio and pyudev; importing this package loads neither.
"""
from .card import (
    CardFrame,
    CardRemoved,
    CardRestored,
    Flash,
    LineCard,
    LineEvent,
    LoopCurrentDrop,
    LoopCurrentRestore,
    OffHook,
    OnHook,
    PolarityReversal,
    Port,
    PortKind,
    PulseDigit,
    RingOff,
    RingOn,
    WrongPortKind,
)
from .settings import CallerIdTiming, CallerIdType, DisconnectMethod, FlashTiming, PortSettings
from .simulated import SimulatedCard

__all__ = [
    "CardFrame", "CardRemoved", "CardRestored", "Flash", "LineCard", "LineEvent", "LoopCurrentDrop",
    "LoopCurrentRestore", "OffHook", "OnHook", "PolarityReversal", "Port", "PortKind", "PulseDigit",
    "RingOff", "RingOn", "WrongPortKind",
    "CallerIdTiming", "CallerIdType", "DisconnectMethod", "FlashTiming", "PortSettings",
    "SimulatedCard",
]
