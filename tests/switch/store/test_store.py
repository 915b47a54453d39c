"""The Store: atomic config changes with a version counter, call records, and survival of a
process killed (-9) in the middle of writing."""
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from firmware.switch.model import Config, ConfigError, Extension
from firmware.switch.records import Disposition
from firmware.switch.store import SCHEMA_VERSION, Store
from tests.switch.core.harness import office_config

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "Secret-pass-1"


def add_extension(number: str):
    def change(config: Config) -> Config:
        extension = Extension(number, password=PASSWORD)
        return dataclasses.replace(config, extensions=(*config.extensions, extension))
    return change


def test_config_changes_are_atomic_and_versioned(tmp_path):
    with Store(tmp_path / "box.db") as store:
        assert (store.schema_version, store.config_version()) == (SCHEMA_VERSION, 0)
        store.update_config(add_extension("201"))
        assert store.config_version() == 1
        store.update_config(lambda config: config)  # no change, no new version
        assert store.config_version() == 1
        with pytest.raises(ConfigError):
            store.update_config(add_extension("201"))  # a duplicate: nothing changes
        with pytest.raises(RuntimeError):
            store.update_config(lambda config: (_ for _ in ()).throw(RuntimeError("change failed")))
        assert store.config_version() == 1
        assert [e.number for e in store.load_config().extensions] == ["201"]
        store.replace_config(office_config())
        assert store.load_config_versioned() == (2, office_config())


def test_the_heartbeat_is_kept(tmp_path):
    with Store(tmp_path / "box.db") as store:
        assert store.heartbeat() is None
        store.record_heartbeat(1000.5)
        store.record_heartbeat(1002.5)
        assert store.heartbeat() == 1002.5
        assert store.integrity_check() == "ok"


def run_python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


WRITER = """
    import dataclasses, itertools, sys
    from firmware.switch.model import Extension
    from firmware.switch.records import CallRecord, Direction, Disposition, EndpointKind, LegRecord
    from firmware.switch.store import Store

    store = Store(sys.argv[1])
    for i in itertools.count():
        t = 1000.0 + i
        legs = tuple(LegRecord(f"c{i}/{j}", EndpointKind.EXTENSION, "201", "201", t) for j in range(3))
        store.save_call(CallRecord(f"c{i}", "201", "202", Direction.INTERNAL, None, t, legs=legs))
        store.save_call(CallRecord(f"c{i}", "201", "202", Direction.INTERNAL, None, t, t + 1, t + 3,
                                   Disposition.ANSWERED, tuple(dataclasses.replace(
                                       leg, answer=t + 1, end=t + 3, disposition=Disposition.ANSWERED)
                                       for leg in legs)))
        store.save_call(CallRecord(f"up{i}", "203", "204", Direction.INTERNAL, None, t, t + 1, legs=legs))
        store.update_config(lambda c: dataclasses.replace(
            c, extensions=(*c.extensions, Extension(str(1000 + i), password="Secret-pass-1"))))
        store.record_heartbeat(t + 2)
        print(i, flush=True)
"""


@pytest.mark.parametrize("rounds_before_kill", [3, 17])
def test_a_writer_killed_mid_stream_leaves_no_half_row(tmp_path, rounds_before_kill):
    path = tmp_path / "box.db"
    writer = run_python(WRITER, str(path))
    for _ in range(rounds_before_kill):
        assert writer.stdout.readline()
    writer.send_signal(signal.SIGKILL)  # somewhere in the middle of the next round
    writer.wait()
    writer.stdout.close()
    with Store(path) as store:
        assert store.integrity_check() == "ok"
        config = store.load_config()  # a whole, valid config
        assert len(config.extensions) == store.config_version() >= rounds_before_kill
        records = store.calls()
        for record in records:
            assert len(record.legs) == 3
            record.check()
            if record.call_id.startswith("c") and record.closed:
                assert record.disposition is Disposition.ANSWERED and record.billsec == 2
        stale = store.close_stale_calls()
        assert {f"up{i}" for i in range(rounds_before_kill)} <= set(stale)
        assert all(record.closed for record in store.calls())
        beat = store.heartbeat()
        for record in store.calls():
            if record.call_id in stale:
                assert record.disposition is Disposition.FAILED
                assert record.end == max(beat, record.answer or record.start)


CONCURRENT_WRITER = """
    import dataclasses, sys
    from firmware.switch.model import Extension
    from firmware.switch.store import Store

    store = Store(sys.argv[1])
    for i in range(15):
        store.update_config(lambda c: dataclasses.replace(
            c, extensions=(*c.extensions, Extension(f"{sys.argv[2]}{i:02d}", password="Secret-pass-1"))))
"""


def test_concurrent_writers_are_serialised_and_lose_nothing(tmp_path):
    path = tmp_path / "box.db"
    Store(path).close()
    writers = [run_python(CONCURRENT_WRITER, str(path), prefix) for prefix in ("3", "4")]
    for writer in writers:
        assert writer.wait(timeout=60) == 0
        writer.stdout.close()
    with Store(path) as store:
        assert len(store.load_config().extensions) == store.config_version() == 30
