"""``callbox``, run as a separate process the way an administrator runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.switch.model import password_weakness
from firmware.switch.records import CallRecord, Direction, Disposition, EndpointKind, LegRecord
from firmware.switch.service import Service

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_748_851_200.0  # 2025-06-02 08:00:00 UTC


def callbox(data: Path | None, *args: str, cwd: Path | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "firmware.switch.cli", *(["--data", str(data)] if data else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd or ROOT, timeout=60, input=stdin,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def ok(data: Path, *args: str) -> str:
    result = callbox(data, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def bad(data: Path, *args: str) -> str:
    """Runs a command that must be refused as bad input; returns its one-line message."""
    result = callbox(data, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    return result.stderr.strip()


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "var"


def test_extension_add_prints_a_generated_strong_password(data):
    out = ok(data, "extension", "add", "201", "--name", "Alice")
    assert out.splitlines()[0] == "extension 201 added"
    password = out.splitlines()[1].removeprefix("password: ")
    assert password_weakness(password) is None
    assert "password" not in ok(data, "extension", "add", "202", "--password", "Chosen-pass-1")
    listed = json.loads(ok(data, "extension", "list", "--json"))
    assert [(e["number"], e["name"]) for e in listed] == [("201", "Alice"), ("202", "")]
    assert "password" not in listed[0]
    shown = json.loads(ok(data, "extension", "list", "--json", "--show-passwords"))
    assert [e["password"] for e in shown] == [password, "Chosen-pass-1"]


def test_extension_set_list_and_remove(data):
    ok(data, "extension", "add", "201")
    ok(data, "extension", "add", "202")
    ok(data, "extension", "set", "202", "--dnd", "--forward-busy", "201", "--international")
    table = ok(data, "extension", "list")
    assert table.splitlines()[0].split() == ["NUMBER", "NAME", "INTL", "OUT", "DND", "FORWARDING"]
    assert table.splitlines()[2].split() == ["202", "yes", "2", "DND", "busy->201"]
    ok(data, "extension", "set", "202", "--no-dnd", "--forward-busy", "")
    old = json.loads(ok(data, "extension", "list", "--json", "--show-passwords"))[1]["password"]
    new = ok(data, "extension", "set", "202", "--password", "").splitlines()[1].removeprefix("password: ")
    assert new != old and password_weakness(new) is None
    [_, second] = json.loads(ok(data, "extension", "list", "--json"))
    assert second["dnd"] is False and "forward_busy" not in second
    ok(data, "extension", "remove", "202")
    assert [e["number"] for e in json.loads(ok(data, "extension", "list", "--json"))] == ["201"]


def test_bad_input_is_one_clear_line_and_exit_status_2(data):
    assert bad(data, "extension", "add", "201", "--password", "short") == (
        "callbox: password: must be at least 10 characters")
    assert bad(data, "extension", "add", "2x1") == "callbox: number: '2x1' must be 2-8 digits"
    assert bad(data, "extension", "remove", "299") == "callbox: there is no extension 299"
    assert bad(data, "extension", "add", "112") == "callbox: extensions[0].number: 112 is an emergency number"
    assert "invalid int value" in bad(data, "extension", "add", "201", "--max-outbound", "many")
    assert "invalid choice" in bad(data, "fly")
    assert "required" in bad(data)


def test_trunks_routes_and_ring_groups(data):
    ok(data, "extension", "add", "201")
    ok(data, "extension", "add", "202")
    assert "registration needs a username" in bad(data, "trunk", "add", "p1", "--host", "sip.example.net",
                                                  "--register")
    ok(data, "trunk", "add", "p1", "--host", "sip.example.net", "--username", "u", "--password", "s3cret",
       "--register", "--did", "0301234500", "--did", "0301234501")
    ok(data, "trunk", "add", "p2", "--host", "10.0.0.2", "--port", "5080", "--priority", "2")
    trunks = json.loads(ok(data, "trunk", "list", "--json"))
    assert [(t["name"], t["dids"]) for t in trunks] == [("p1", ["0301234500", "0301234501"]), ("p2", [])]
    assert "password" not in trunks[0]
    assert "p2" in ok(data, "trunk", "list")

    ok(data, "route", "add", "outbound", "national", "--pattern", "90ZX.", "--strip", "1",
       "--trunk", "p1", "--trunk", "p2")
    assert "needs at least one --pattern" in bad(data, "route", "add", "outbound", "x")
    assert "'.' is allowed only at the end" in bad(data, "route", "add", "outbound", "y", "--pattern", "9.X")
    ok(data, "ring-group", "add", "600", "--member", "201", "--member", "202", "--strategy", "hunt")
    ok(data, "route", "add", "inbound", "main", "--destination", "ring_group:600", "--trunk", "p1",
       "--did", "0301234500")
    assert "unknown extension '299'" in bad(data, "route", "add", "inbound", "x", "--destination",
                                            "extension:299")
    assert "needs --destination" in bad(data, "route", "add", "inbound", "x")
    routes = json.loads(ok(data, "route", "list", "--json"))
    assert routes["outbound"][0] == {"name": "national", "patterns": ["90ZX."], "strip": 1, "prepend": "",
                                     "trunks": ["p1", "p2"]}
    assert routes["inbound"][0]["destination"] == "ring_group:600"
    text = ok(data, "route", "list")
    assert "national" in text and "ring_group:600" in text
    assert json.loads(ok(data, "ring-group", "list", "--json"))[0]["strategy"] == "hunt"
    assert "trunk p1 is still used" in bad(data, "trunk", "remove", "p1")
    ok(data, "route", "remove", "inbound", "main")
    ok(data, "route", "remove", "outbound", "national")
    ok(data, "ring-group", "remove", "600")
    ok(data, "trunk", "remove", "p1")
    assert "there is no outbound route national" in bad(data, "route", "remove", "outbound", "national")


def test_cdr_json_lists_the_records(data):
    with Service(data) as service:
        leg = LegRecord("a", EndpointKind.EXTENSION, "201", "201", T0, T0 + 2, T0 + 32, Disposition.ANSWERED)
        service.record_call(CallRecord("c1", "201", "202", Direction.INTERNAL, None, T0, T0 + 2, T0 + 32,
                                       Disposition.ANSWERED, (leg,)))
        service.record_call(CallRecord("c2", "0301", "0301234500", Direction.INBOUND, "p1", T0 + 60))
    records = json.loads(ok(data, "cdr", "--json"))
    assert [{k: r[k] for k in ("src", "dst", "start", "answer", "end", "billsec", "disposition")}
            for r in records] == [
        {"src": "201", "dst": "202", "start": "2025-06-02T08:00:00.000+00:00",
         "answer": "2025-06-02T08:00:02.000+00:00", "end": "2025-06-02T08:00:32.000+00:00", "billsec": 30,
         "disposition": "ANSWERED"},
        {"src": "0301", "dst": "0301234500", "start": "2025-06-02T08:01:00.000+00:00", "answer": None,
         "end": None, "billsec": None, "disposition": None}]
    assert records[0]["legs"][0]["endpoint"] == "201"
    assert [r["src"] for r in json.loads(ok(data, "cdr", "--json", "--limit", "1"))] == ["0301"]
    lines = ok(data, "cdr").splitlines()
    assert lines[1].split()[1:] == ["201", "202", "ANSWERED", "30"] and lines[2].split()[-1] == "UP"


def test_config_export_edit_import(data, tmp_path):
    ok(data, "extension", "add", "201")
    ok(data, "extension", "add", "202", "--forward-no-answer", "201")
    path = tmp_path / "box.toml"
    ok(data, "config", "export", str(path))
    text = path.read_text()
    assert text == ok(data, "config", "export", "-")
    line = text.splitlines().index('forward_no_answer = "201"') + 1
    path.write_text(text.replace('forward_no_answer = "201"', 'forward_no_answer = "20 1"'))
    assert bad(data, "config", "import", str(path)) == (
        f"callbox: line {line}: extensions[1].forward_no_answer: '20 1' is not a number")
    added = '\n[[extensions]]\nnumber = "203"\n'
    path.write_text(text.replace('name = ""', 'name = "Front desk"', 1) + added)
    assert "3 extensions" in ok(data, "config", "import", str(path))
    assert [e["name"] for e in json.loads(ok(data, "extension", "list", "--json"))] == ["Front desk", "", ""]
    assert "cannot read" in bad(data, "config", "import", str(tmp_path / "missing.toml"))
    refused = callbox(data, "config", "import", "-", stdin="[[extensions]\n")
    assert refused.returncode == 2 and refused.stderr.startswith("callbox: line 1: not valid TOML")


def test_status_and_the_default_data_directory(tmp_path):
    out = callbox(None, "extension", "add", "201", cwd=tmp_path)
    assert out.returncode == 0 and (tmp_path / "var" / "callbox.db").exists()
    status = callbox(None, "status", cwd=tmp_path)
    assert "switch:         not running" in status.stdout and "extensions:     1" in status.stdout
    data = json.loads(callbox(None, "status", "--json", cwd=tmp_path).stdout)
    assert (data["extensions"], data["config_version"], data["calls_up"]) == (1, 1, 0)


def test_a_change_from_the_cli_reaches_a_running_box(data):
    with Service(data) as service:
        watcher = service.watch()
        watcher.poll()
        ok(data, "extension", "add", "201")
        config = watcher.poll()
        assert config is not None and [e.number for e in config.extensions] == ["201"]


def test_an_unusable_database_is_exit_status_1(data):
    data.mkdir()
    (data / "callbox.db").write_bytes(b"not a database at all" * 200)
    result = callbox(data, "status")
    assert result.returncode == 1 and result.stderr.startswith("callbox: cannot open the database")


def test_help_is_exit_status_0():
    result = callbox(None, "--help")
    assert result.returncode == 0 and "extension" in result.stdout and "--data DIR" in result.stdout
