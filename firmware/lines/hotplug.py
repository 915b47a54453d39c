"""Finding line cards through udev, at start and live, and falling back to the simulated card.

Selection rule: a device of udev subsystem "sound" whose name is "card<N>" (the ALSA card, not its
PCM or control nodes) and that carries ``CALLBOX_LINECARD=1``. The image ships a udev rule that sets
it, with the card's layout, by vendor and model (docs/line-cards.md has the rule):

  CALLBOX_LINECARD=1              this sound card is a line card
  CALLBOX_PORTS=FXO,FXO,FXS,FXS   one kind per PCM channel, in order (required)
  CALLBOX_CONTROL=/dev/ttyACM0    the control-protocol stream (optional: none means audio only)
  CALLBOX_CARD_NAME=lc0           the card's name in port ids (default: the ALSA card id, then "card<N>")
  CALLBOX_PCM=...                 ALSA PCM of both ways (default "plughw:CARD=<ALSA id>"), or
  CALLBOX_PCM_CAPTURE=... / CALLBOX_PCM_PLAYBACK=...   one each (e.g. dsnoop / dshare PCMs)

A card's name stays the same when it is pulled and plugged back (the ALSA id does), so its ports
keep their ids: ``CardManager`` gives the same card object back to service (``attach``) instead of
making a new one. ``CardManager.poll`` is non-blocking: a runtime calls it when ``fileno()`` is
readable (or on each tick), and hands the changes to the switch.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import alsaaudio
import pyudev

from .alsa import AlsaCard
from .card import LineCard, PortKind

log = logging.getLogger(__name__)

LINECARD_PROPERTY = "CALLBOX_LINECARD"
SOUND_CARD_NAME = re.compile(r"card\d+")
CARD_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


@dataclass(frozen=True, slots=True)
class CardInfo:
    """A line card as udev describes it."""

    name: str
    sys_path: str
    kinds: tuple[PortKind, ...]
    capture_pcm: str
    playback_pcm: str
    control_path: str | None


@dataclass(frozen=True, slots=True)
class CardChange:
    """What hot-plug did: "added" a new card, "removed" one (detached), "restored" one (attached again),
    or "failed" to open one (``error`` says why: the switch raises an alarm)."""

    kind: str
    card_name: str
    card: LineCard | None = None
    error: str = ""


def card_info(properties: Mapping[str, str], sys_name: str, sys_path: str,
              alsa_id: str | None = None) -> CardInfo | None:
    """The line card a udev sound device describes, None if it is not one; ValueError if its
    properties are wrong (a line card the rule describes badly)."""
    if not SOUND_CARD_NAME.fullmatch(sys_name or "") or properties.get(LINECARD_PROPERTY) != "1":
        return None
    try:
        layout = properties.get("CALLBOX_PORTS", "")
        kinds = tuple(PortKind(kind.strip().upper()) for kind in layout.split(","))
    except ValueError:
        raise ValueError(f"{sys_path}: CALLBOX_PORTS must list FXO/FXS per channel, "
                         f"got {properties.get('CALLBOX_PORTS')!r}") from None
    name = properties.get("CALLBOX_CARD_NAME") or alsa_id or sys_name
    if not CARD_NAME.fullmatch(name):
        raise ValueError(f"{sys_path}: card name must match {CARD_NAME.pattern}, got {name!r}")
    default_pcm = properties.get("CALLBOX_PCM") or f"plughw:CARD={alsa_id or sys_name.removeprefix('card')}"
    return CardInfo(name, sys_path, kinds,
                    properties.get("CALLBOX_PCM_CAPTURE") or default_pcm,
                    properties.get("CALLBOX_PCM_PLAYBACK") or default_pcm,
                    properties.get("CALLBOX_CONTROL") or None)


def _device_info(device: pyudev.Device) -> CardInfo | None:
    alsa_id = device.attributes.get("id")
    return card_info(dict(device.properties), device.sys_name, device.sys_path,
                     alsa_id.decode("ascii", "replace").strip() if alsa_id else None)


def discover(context: pyudev.Context) -> list[CardInfo]:
    """The line cards udev knows now; a badly described one is logged and left out."""
    found = []
    for device in context.list_devices(subsystem="sound"):
        try:
            info = _device_info(device)
        except ValueError as error:
            log.error("line card not usable: %s", error)
            continue
        if info is not None:
            found.append(info)
    return found


def open_alsa_card(info: CardInfo) -> AlsaCard:
    return AlsaCard(info.name, info.kinds, info.capture_pcm, info.playback_pcm, info.control_path)


class CardManager:
    """The box's line cards, kept in step with udev."""

    def __init__(self, fallback: Callable[[], LineCard],
                 open_card: Callable[[CardInfo], LineCard] = open_alsa_card,
                 context: pyudev.Context | None = None) -> None:
        """``fallback`` makes the simulated card, used when no line card is found at start."""
        self._context = pyudev.Context() if context is None else context
        self._open_card = open_card
        self._fallback = fallback
        self.cards: dict[str, LineCard] = {}
        self._names_by_path: dict[str, str] = {}
        self._monitor: pyudev.Monitor | None = None

    def start(self) -> list[CardChange]:
        """Listen for changes, then open the cards found (or the fallback). Listening first means a
        card plugged in meanwhile is seen twice at worst, never missed."""
        self._monitor = pyudev.Monitor.from_netlink(self._context)
        self._monitor.filter_by("sound")
        self._monitor.start()
        changes = [self._add(info) for info in discover(self._context)]
        if not self.cards:
            card = self._fallback()
            self.cards[card.name] = card
            changes.append(CardChange("added", card.name, card))
        return changes

    def fileno(self) -> int:
        if self._monitor is None:
            raise RuntimeError("CardManager.start() first")
        return self._monitor.fileno()

    def poll(self) -> list[CardChange]:
        """Apply the udev events waiting (without blocking); what changed."""
        if self._monitor is None:
            raise RuntimeError("CardManager.start() first")
        changes = []
        while (device := self._monitor.poll(timeout=0)) is not None:
            change = self._handle(device)
            if change is not None:
                changes.append(change)
        return changes

    def _handle(self, device: pyudev.Device) -> CardChange | None:
        if device.action == "remove":
            name = self._names_by_path.pop(device.sys_path, None)
            card = self.cards.get(name) if name else None
            if card is None or not card.present:
                return None
            card.detach()
            return CardChange("removed", name, card)
        if device.action not in ("add", "change"):
            return None
        try:
            info = _device_info(device)
        except ValueError as error:
            return CardChange("failed", device.sys_name, error=str(error))
        if info is None or (info.sys_path in self._names_by_path and self.cards[info.name].present):
            return None
        return self._add(info)

    def _add(self, info: CardInfo) -> CardChange:
        card = self.cards.get(info.name)
        try:
            if card is None:
                card = self._open_card(info)
                self.cards[info.name] = card
                kind = "added"
            else:
                if isinstance(card, AlsaCard):
                    card.capture_pcm, card.playback_pcm = info.capture_pcm, info.playback_pcm
                    card.control_path = info.control_path
                card.attach()
                kind = "restored"
        except (alsaaudio.ALSAAudioError, OSError, ValueError) as error:   # report it, keep running
            log.error("line card %s could not be opened: %s", info.name, error)
            return CardChange("failed", info.name, error=f"{type(error).__name__}: {error}")
        self._names_by_path[info.sys_path] = info.name
        return CardChange(kind, info.name, card)

    def close(self) -> None:
        for card in self.cards.values():
            card.close()
