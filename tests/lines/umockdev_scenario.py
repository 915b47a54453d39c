"""Hot-plug of a line card under umockdev: run by test_hotplug.py as

    umockdev-wrapper python3 tests/lines/umockdev_scenario.py WORKDIR

with ALSA_CONFIG_PATH naming file PCMs in WORKDIR. umockdev's preload library gives this process a
mock /sys and a mock udev netlink socket; the scenario drives them through libumockdev's C API
(ctypes: no GObject bindings are needed), while the code under test uses pyudev as on the box. It
prints one JSON object of what it observed; the test judges it.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

import numpy as np

from firmware.dsp.levels import FRAME_SAMPLES
from firmware.lines import SimulatedCard
from firmware.lines.hotplug import CardManager


class Testbed:
    """The few calls of libumockdev's UMockdevTestbed this scenario needs."""

    def __init__(self) -> None:
        self._lib = lib = ctypes.CDLL("libumockdev.so.0")
        lib.umockdev_testbed_new.restype = ctypes.c_void_p
        lib.umockdev_testbed_add_devicev.restype = ctypes.c_char_p
        lib.umockdev_testbed_add_devicev.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                                     ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                                                     ctypes.POINTER(ctypes.c_char_p)]
        lib.umockdev_testbed_uevent.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.umockdev_testbed_remove_device.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self._testbed = lib.umockdev_testbed_new()

    @staticmethod
    def _pairs(values: dict[str, str]):
        flat = [s.encode() for pair in values.items() for s in pair] + [None]
        return (ctypes.c_char_p * len(flat))(*flat)

    def add(self, name: str, attributes: dict[str, str], properties: dict[str, str]) -> bytes:
        path = self._lib.umockdev_testbed_add_devicev(self._testbed, b"sound", name.encode(), None,
                                                      self._pairs(attributes), self._pairs(properties))
        return path                         # adding a device sends its "add" uevent

    def remove(self, path: bytes) -> None:
        self._lib.umockdev_testbed_uevent(self._testbed, path, b"remove")
        self._lib.umockdev_testbed_remove_device(self._testbed, path)


def changes(found) -> list[list[str]]:
    return [[c.kind, c.card_name] for c in found]


def names(events) -> list[str]:
    return [f"{type(e).__name__} {e.port}" for e in events]


def main(workdir: Path) -> dict:
    captured = np.fromfile(workdir / "in.raw", "<i2").reshape(-1, 2)
    master, slave = os.openpty()
    os.set_blocking(master, False)
    line_card = {"CALLBOX_LINECARD": "1", "CALLBOX_PORTS": "FXO,FXS",
                 "CALLBOX_CONTROL": os.ttyname(slave),
                 "CALLBOX_PCM_CAPTURE": "linecard_capture", "CALLBOX_PCM_PLAYBACK": "linecard_playback"}
    seen: dict = {}
    testbed = Testbed()
    testbed.add("card0", {"id": "PCH"}, {})                       # an ordinary sound card: not chosen
    manager = CardManager(fallback=lambda: SimulatedCard(fxo=1, fxs=1))
    seen["start"] = changes(manager.start())

    path = testbed.add("card3", {"id": "LineCard"}, line_card)
    seen["plugged"] = changes(manager.poll())
    card = manager.cards["LineCard"]
    seen["card_type"] = type(card).__name__
    trunk = card.port("LineCard/1")
    trunk.off_hook()                                              # a call on the trunk
    frames = [card.tick({}).audio for _ in range(5)]
    seen["audio_exact"] = bool(np.array_equal(np.concatenate([f["LineCard/1"] for f in frames]),
                                              captured[:5 * FRAME_SAMPLES, 0]))
    seen["commands"] = os.read(master, 4096).decode()

    second_box = CardManager(fallback=lambda: SimulatedCard(name="sim1"))
    seen["second_box_start"] = changes(second_box.start())
    second_box.close()

    testbed.remove(path)                                          # pulled mid-call
    seen["pulled"] = changes(manager.poll())
    seen["pulled_events"] = names(card.tick({}).events)
    seen["after_pull_events"] = names(card.tick({}).events)
    seen["trunk_off_hook_after_pull"] = trunk.is_off_hook
    seen["in_service_after_pull"] = trunk.in_service

    testbed.add("card3", {"id": "LineCard"}, line_card)           # plugged back (ALSA id unchanged)
    seen["replugged"] = changes(manager.poll())
    seen["same_card_object"] = manager.cards["LineCard"] is card
    first = card.tick({})
    seen["replugged_events"] = names(first.events)
    seen["in_service_after_replug"] = trunk.in_service
    frames = [first.audio] + [card.tick({}).audio for _ in range(2)]
    seen["audio_after_replug"] = bool(np.array_equal(np.concatenate([f["LineCard/1"] for f in frames]),
                                                     captured[:3 * FRAME_SAMPLES, 0]))

    testbed.add("card5", {"id": "Broken"}, {"CALLBOX_LINECARD": "1", "CALLBOX_PORTS": "FXQ"})
    seen["broken"] = changes(manager.poll())
    manager.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
