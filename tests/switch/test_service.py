"""The service API: validated atomic changes, call records, status, and the change hook."""
import os
import stat

import pytest

from firmware.switch.core import CallOffered, LegAnswered, LegHungUp, RingLeg, Switch, WriteCdr
from firmware.switch.model import ConfigError, Destination, RingStrategy, password_weakness
from firmware.switch.records import CallRecord, Direction, Disposition
from firmware.switch.service import Service

PASSWORD = "Secret-pass-1"


@pytest.fixture
def service(tmp_path):
    with Service(tmp_path / "var") as service:
        yield service


def test_the_data_directory_is_created_private(tmp_path):
    Service(tmp_path / "var" / "box").close()
    assert stat.S_IMODE(os.stat(tmp_path / "var" / "box").st_mode) == 0o700
    assert (tmp_path / "var" / "box" / "callbox.db").exists()


def test_extensions(service: Service):
    generated = service.add_extension("201", name="Alice")
    assert password_weakness(generated.password) is None
    service.add_extension("202", password=PASSWORD, international=True)
    assert [e.number for e in service.extensions()] == ["201", "202"]
    assert service.extensions()[0].password == generated.password
    with pytest.raises(ConfigError, match="extension 201 already exists"):
        service.add_extension("201")
    changed = service.update_extension("202", dnd=True, forward_busy="201")
    assert (changed.dnd, changed.forward_busy, changed.password) == (True, "201", PASSWORD)
    with pytest.raises(ConfigError) as caught:
        service.update_extension("202", password="weak")
    assert caught.value.field == "password"
    service.remove_extension("202")
    with pytest.raises(ConfigError, match="there is no extension 202"):
        service.remove_extension("202")


def test_removing_something_still_in_use_is_refused_and_says_where(service: Service):
    service.add_extension("201", password=PASSWORD)
    service.add_ring_group("600", ("201",), strategy=RingStrategy.HUNT)
    with pytest.raises(ConfigError) as caught:
        service.remove_extension("201")
    assert caught.value.field == "ring_groups[0].members[0]"
    assert "extension 201 is still used" in str(caught.value)
    service.remove_ring_group("600")
    service.remove_extension("201")


def test_trunks_routes_time_conditions_and_blacklist(service: Service):
    service.add_extension("201", password=PASSWORD)
    service.add_trunk("p1", "sip.example.net", dids=("0301234500",), username="u", password="p",
                      register=True)
    service.add_outbound_route("out", ("9.",), strip=1, trunks=("p1",))
    service.add_time_condition("office", timezone="Europe/Berlin", hours=("mon-fri 08:00-18:00",))
    service.add_inbound_route("main", "extension:201", trunk="p1", time_condition="office",
                              closed_destination="hangup")
    service.block_number("0900!", "premium")
    config = service.config()
    assert config.inbound_routes[0].closed_destination == Destination.parse("hangup")
    assert [r.name for r in service.outbound_routes()] == ["out"]
    assert [r.name for r in service.inbound_routes()] == ["main"]
    assert [t.name for t in service.trunks()] == ["p1"]
    assert config.blacklist[0].note == "premium"
    with pytest.raises(ConfigError, match="unknown trunk 'p9'"):
        service.add_outbound_route("out2", ("8.",), trunks=("p9",))
    with pytest.raises(ConfigError, match="trunk p1 is still used"):
        service.remove_trunk("p1")
    with pytest.raises(ConfigError) as caught:
        service.add_inbound_route("bad", "voicemail:201")
    assert caught.value.field == "destination"
    with pytest.raises(ConfigError, match="'outbound' or 'inbound'"):
        service.remove_route("sideways", "out")
    service.remove_route("inbound", "main")
    service.remove_time_condition("office")
    service.remove_route("outbound", "out")
    service.remove_trunk("p1")
    service.unblock_number("0900!")
    assert service.config().trunks == () and service.config().blacklist == ()


def test_a_failed_change_changes_nothing(service: Service):
    service.add_extension("201", password=PASSWORD)
    version = service.config_version()
    with pytest.raises(ConfigError):
        service.add_ring_group("600", ("201", "299"))
    assert service.config_version() == version and service.ring_groups() == ()


def test_changes_reach_a_running_box_through_the_watcher_and_listeners(tmp_path, service: Service):
    heard = []
    service.subscribe(lambda version, config: heard.append((version, len(config.extensions))))
    watcher = service.watch()
    assert watcher.poll() is not None  # the first poll gives the current config
    assert watcher.poll() is None
    service.add_extension("201", password=PASSWORD)
    assert [e.number for e in watcher.poll().extensions] == ["201"]
    with Service(tmp_path / "var") as other:  # another process, as far as the store can tell
        other.add_extension("202", password=PASSWORD)
    assert [e.number for e in watcher.poll().extensions] == ["201", "202"]
    assert heard == [(1, 1)]  # listeners hear the changes made through their own service


def test_import_and_export(tmp_path, service: Service):
    service.add_extension("201", password=PASSWORD)
    path = tmp_path / "box.toml"
    service.export_config(path)
    text = path.read_text()
    assert service.import_text(text) == service.config()
    path.write_text(text.replace('number = "201"', 'number = "2x1"'))
    version = service.config_version()
    with pytest.raises(ConfigError) as caught:
        service.import_config(path)
    assert caught.value.line == text.splitlines().index('number = "201"') + 1
    assert service.config_version() == version


def test_call_records_status_and_crash_recovery(service: Service):
    service.add_extension("201", password=PASSWORD)
    service.add_extension("202", password=PASSWORD)
    switch = Switch(service.config(), call_id_prefix="run1-")
    now = 1_748_851_200.0

    def feed(event, at):
        for command in switch.handle(event, at):
            if isinstance(command, WriteCdr):
                service.record_call(command.record)  # what the runtime does
            if isinstance(command, RingLeg):
                feed.placed = command.leg

    feed(CallOffered("a", "201", "202"), now)
    feed(LegAnswered(feed.placed), now + 2)
    assert service.status(now=now + 3).calls_up == 1
    feed(LegHungUp("a"), now + 12)
    [record] = service.call_records()
    assert (record.call_id, record.billsec, record.disposition) == ("run1-1", 10, Disposition.ANSWERED)
    service.record_call(CallRecord("run1-2", "201", "202", Direction.INTERNAL, None, now + 20, now + 21))
    service.heartbeat(now + 30)
    status = service.status(now=now + 31)
    assert (status.calls_up, status.calls_recorded, status.extensions) == (1, 2, 2)
    assert status.runtime_running and status.heartbeat_age == 1
    assert not service.status(now=now + 300).runtime_running
    assert service.close_stale_calls() == ["run1-2"]
    assert service.call_records(limit=1)[0].disposition is Disposition.FAILED
    assert status.as_dict()["config_version"] == 2
