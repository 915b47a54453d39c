"""udev discovery and hot-plug: the selection rule on plain properties, then a whole plug / pull /
plug-back cycle under Debian's umockdev (mock sysfs and uevents) with the real pyudev and ALSA code."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware.lines import PortKind
from firmware.lines.hotplug import CardInfo, card_info

LINE_CARD = {"CALLBOX_LINECARD": "1", "CALLBOX_PORTS": "FXO, fxo,FXS"}
REPO = Path(__file__).resolve().parents[2]


def test_selection_rule():
    info = card_info(LINE_CARD, "card2", "/sys/devices/x/sound/card2", alsa_id="LineCard")
    assert info == CardInfo("LineCard", "/sys/devices/x/sound/card2",
                            (PortKind.FXO, PortKind.FXO, PortKind.FXS),
                            "plughw:CARD=LineCard", "plughw:CARD=LineCard", None)
    assert card_info(LINE_CARD, "pcmC2D0p", "/sys/x") is None              # a PCM node, not the card
    assert card_info({**LINE_CARD, "CALLBOX_LINECARD": "0"}, "card2", "/sys/x") is None
    assert card_info({"CALLBOX_PORTS": "FXO"}, "card2", "/sys/x") is None   # no property: not ours


def test_properties_override_names_and_pcms():
    info = card_info({**LINE_CARD, "CALLBOX_CARD_NAME": "trunks", "CALLBOX_PCM": "callbox_lc",
                      "CALLBOX_PCM_PLAYBACK": "callbox_lc_dshare", "CALLBOX_CONTROL": "/dev/ttyACM0"},
                     "card2", "/sys/x", alsa_id="LineCard")
    assert (info.name, info.capture_pcm, info.playback_pcm, info.control_path) == (
        "trunks", "callbox_lc", "callbox_lc_dshare", "/dev/ttyACM0")
    assert card_info(LINE_CARD, "card7", "/sys/x").name == "card7"
    assert card_info(LINE_CARD, "card7", "/sys/x").capture_pcm == "plughw:CARD=7"


@pytest.mark.parametrize("properties", [{"CALLBOX_PORTS": "FXO,PSTN"}, {"CALLBOX_PORTS": ""},
                                        {"CALLBOX_CARD_NAME": "a/b"}])
def test_badly_described_cards_are_refused(properties):
    with pytest.raises(ValueError):
        card_info({**LINE_CARD, **properties}, "card2", "/sys/x")


@pytest.mark.skipif(shutil.which("umockdev-wrapper") is None,
                    reason="Debian's umockdev is not installed (apt-get install umockdev)")
def test_plug_pull_and_plug_back_under_umockdev(tmp_path):
    captured = (np.arange(40 * 160 * 2) % 20000 - 10000).astype("<i2")
    captured.tofile(tmp_path / "in.raw")
    (tmp_path / "asoundrc").write_text(
        f'pcm.linecard_capture {{ type file; slave.pcm {{ type null }}; file "/dev/null"; '
        f'infile "{tmp_path / "in.raw"}"; format "raw" }}\n'
        f'pcm.linecard_playback {{ type file; slave.pcm {{ type null }}; file "{tmp_path / "out.raw"}"; '
        f'format "raw" }}\n')
    env = {**os.environ, "ALSA_CONFIG_PATH": str(tmp_path / "asoundrc"), "PYTHONPATH": str(REPO)}
    run = subprocess.run(["umockdev-wrapper", sys.executable, str(REPO / "tests/lines/umockdev_scenario.py"),
                          str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    # no line card at start: the simulated card; an ordinary sound card is left alone
    assert seen["start"] == [["added", "sim0"]]
    # plugged in: an ALSA card, audio frame-exact, controls reach its controller
    assert seen["plugged"] == [["added", "LineCard"]] and seen["card_type"] == "AlsaCard"
    assert seen["audio_exact"] and seen["commands"] == "1 hook off\n"
    # a box starting with the card present uses it, not the simulation
    assert seen["second_box_start"] == [["added", "LineCard"]]
    # pulled mid-call: each port reports it once, the call's port is released
    assert seen["pulled"] == [["removed", "LineCard"]]
    assert seen["pulled_events"] == ["CardRemoved LineCard/1", "CardRemoved LineCard/2"]
    assert seen["after_pull_events"] == []
    assert not seen["trunk_off_hook_after_pull"] and not seen["in_service_after_pull"]
    # plugged back: the same card, its ports back in service, audio flowing again
    assert seen["replugged"] == [["restored", "LineCard"]] and seen["same_card_object"]
    assert seen["replugged_events"] == ["CardRestored LineCard/1", "CardRestored LineCard/2"]
    assert seen["in_service_after_replug"] and seen["audio_after_replug"]
    # a card the udev rule describes badly is reported, not crashed on
    assert seen["broken"] == [["failed", "card5"]]
