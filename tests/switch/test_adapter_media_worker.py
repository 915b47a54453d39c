"""The media worker process and its control protocol: framing, commands, admission, shutdown.

Two real workers on loopback, no edge: ``caller`` places calls straight to ``callee`` (which
trusts it, as workers trust each other for cross-worker trunks).
"""
from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.switch.adapters.sip_probe import SipProbe
from firmware.switch.adapters.subprocesses import free_port
from firmware.switch.adapters.worker_client import (
    COMMANDS,
    EVENTS,
    MAX_LINE_BYTES,
    CommandFailed,
    LineDecoder,
    MediaWorker,
    ProtocolError,
    WorkerSettings,
    encode,
)

MAX_LEGS = 4                        # the pjsua2-python 2.15.1 wheel's PJSUA_MAX_CALLS


# ------------------------------------------------------------------ framing (pure)
def test_lines_round_trip_in_any_chunking() -> None:
    messages = [{"id": 1, "cmd": "ping"}, {"event": "dtmf", "leg": "a", "digit": "#"},
                {"text": "é ü \u2028 \n inside"}]
    wire = b"".join(encode(m) for m in messages)
    for cut in range(1, len(wire)):
        decoder = LineDecoder()
        assert decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) == messages


def test_bad_lines_are_protocol_errors() -> None:
    for line in (b"not json\n", b"[1, 2]\n", b"\xff\xfe\n"):
        with pytest.raises(ProtocolError):
            LineDecoder().feed(line)
    with pytest.raises(ProtocolError):
        LineDecoder().feed(b"x" * (MAX_LINE_BYTES + 1))
    with pytest.raises(ProtocolError):
        encode({"blob": "x" * MAX_LINE_BYTES})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_decoder_survives_any_bytes(chunks: list[bytes]) -> None:
    decoder = LineDecoder()
    for chunk in chunks:
        try:
            for message in decoder.feed(chunk):
                assert isinstance(message, dict)
        except ProtocolError:
            pass


# ------------------------------------------------------------------ real workers
@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("workers")
    caller_port, callee_port = free_port(), free_port()
    caller = MediaWorker(WorkerSettings("caller", run_dir, caller_port))
    callee = MediaWorker(WorkerSettings("callee", run_dir, callee_port, max_incoming=MAX_LEGS,
                                        trusted=(f"127.0.0.1:{caller_port}",)))
    with caller, callee:
        yield caller, callee


def callee_uri(callee: MediaWorker, user: str = "x") -> str:
    return f"sip:{user}@127.0.0.1:{callee.settings.sip_port}"


def wait_idle(worker: MediaWorker, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while (state := worker.command("ping"))["legs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return state


def test_ping_tells_the_free_slots(workers) -> None:
    caller, _ = workers
    state = caller.command("ping")
    assert state["ok"] and state["name"] == "caller"
    assert state["free"] == MAX_LEGS and state["legs"] == []


@pytest.mark.parametrize("command, params, error", [
    ("reboot", {}, "unknown command"),
    ("make_call", {"leg": "a"}, "bad parameters"),
    ("make_call", {"leg": "a", "uri": "http://example.com/"}, "not a SIP URI"),
    ("make_call", {"leg": "a b", "uri": "sip:x@127.0.0.1:9"}, "leg ids"),
    ("make_call", {"leg": "a", "uri": "sip:x@127.0.0.1:9", "caller": "<<<"}, "not a caller URI"),
    ("answer", {"leg": "nobody"}, "no leg"),
    ("hangup", {"leg": 5}, "no leg"),
    ("bridge", {"a": "x", "b": "y"}, "no leg"),
    ("send_dtmf", {"leg": "x", "digits": "12;rm"}, "digits"),
    ("trust", {"sources": "127.0.0.1:5060"}, "list"),
    ("register", {"registrar": "nonsense", "user": "1", "password": "p"}, "not a SIP URI"),
])
def test_bad_commands_get_an_error_reply_and_change_nothing(workers, command, params, error) -> None:
    caller, _ = workers
    with pytest.raises(CommandFailed, match=error):
        caller.command(command, **params)
    assert caller.command("ping")["free"] == MAX_LEGS


def test_garbage_on_the_control_socket_is_answered_not_fatal(workers) -> None:
    caller, _ = workers
    caller.client.send_raw(b"this is not json\n")
    caller.client.send_raw(b"x" * (MAX_LINE_BYTES + 10) + b"\n")
    errors = [caller.client.next_reply(), caller.client.next_reply()]
    assert [e["ok"] for e in errors] == [False, False] and all(e["reply"] is None for e in errors)
    assert caller.command("ping")["ok"]


def test_one_controller_at_a_time(workers) -> None:
    caller, _ = workers
    intruder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    intruder.connect(str(caller.settings.control_path))
    intruder.settimeout(5)
    intruder.sendall(encode({"id": 1, "cmd": "ping"}))
    try:
        answer = intruder.recv(100)
    except ConnectionResetError:                # closed with our ping unread
        answer = b""
    intruder.close()
    assert answer == b""
    assert caller.command("ping")["ok"]


def test_four_legs_then_the_worker_is_full(workers) -> None:
    caller, callee = workers
    for n in range(MAX_LEGS):
        caller.command("make_call", leg=f"leg{n}", uri=callee_uri(callee, f"u{n}"))
        incoming = callee.wait_event("incoming")
        assert incoming["uri"] == callee_uri(callee, f"u{n}")
        callee.command("answer", leg=incoming["leg"], code=180)
        assert caller.wait_event("ringing", f"leg{n}")["code"] == 180
    with pytest.raises(CommandFailed, match="full"):
        caller.command("make_call", leg="leg5", uri=callee_uri(callee))
    for n in range(MAX_LEGS):
        caller.command("hangup", leg=f"leg{n}")
        assert caller.wait_event("hangup", f"leg{n}")["code"] == 487     # CANCELled
        callee.wait_event("hangup")
    assert wait_idle(caller)["free"] == MAX_LEGS
    assert wait_idle(callee)["free"] == MAX_LEGS


def test_a_call_after_an_idle_second_still_carries_dtmf(workers) -> None:
    """Regression: pjsua closes the null sound device, the bridge's clock, after 1 s without
    calls, and then no frame (RTP, DTMF) would move any more."""
    caller, callee = workers
    time.sleep(1.5)                         # s: longer than pjsua's default sndAutoCloseTime
    caller.command("make_call", leg="late", uri=callee_uri(callee))
    incoming = callee.wait_event("incoming")
    callee.command("answer", leg=incoming["leg"])
    caller.wait_event("answered", "late")
    caller.command("send_dtmf", leg="late", digits="5")
    assert callee.wait_event("dtmf", incoming["leg"])["digit"] == "5"
    caller.command("hangup", leg="late")
    callee.wait_event("hangup", incoming["leg"])
    caller.wait_event("hangup", "late")


def test_an_answered_leg_reports_codec_and_carries_dtmf(workers, tmp_path: Path) -> None:
    caller, callee = workers
    caller.command("make_call", leg="a", uri=callee_uri(callee))
    incoming = callee.wait_event("incoming")
    callee.command("answer", leg=incoming["leg"])
    caller.wait_event("answered", "a")
    assert caller.wait_event("media", "a")["codec"] == "PCMU/8000"
    assert callee.wait_event("media", incoming["leg"])["codec"] == "PCMU/8000"
    caller.command("send_dtmf", leg="a", digits="0*9D")
    got = "".join(callee.wait_event("dtmf", incoming["leg"])["digit"] for _ in range(4))
    assert got == "0*9D"
    with pytest.raises(CommandFailed, match="no file"):
        caller.command("play", leg="a", file=str(tmp_path / "missing.wav"))
    with pytest.raises(CommandFailed, match="frequencies"):
        caller.command("play", leg="a", tone=[5000])
    with pytest.raises(CommandFailed, match=".wav path"):
        caller.command("record", leg="a", path=str(tmp_path / "nodir" / "x.wav"))
    callee.command("hangup", leg=incoming["leg"])
    assert caller.wait_event("hangup", "a")["code"] == 200
    callee.wait_event("hangup", incoming["leg"])


OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@pytest.mark.parametrize("offer", [OFFER, b""], ids=["with-sdp", "late-offer"])
def test_an_untrusted_source_is_refused(workers, offer: bytes) -> None:
    """Also the regression test for pjsua 2.15.1 aborting when an INVITE without SDP is
    refused inside on_incoming_call."""
    caller, callee = workers
    with SipProbe(("127.0.0.1", callee.settings.sip_port), local_host="127.0.0.20") as probe:
        response = probe.request("INVITE", callee_uri(callee), from_user="stranger", body=offer,
                                 headers=("Content-Type: application/sdp",) if offer else ())
    assert response.status == 403
    refused = callee.wait_event("refused")
    assert refused["code"] == 403 and refused["source"].startswith("127.0.0.20:")
    assert callee.command("ping")["free"] == MAX_LEGS


def test_losing_the_controller_hangs_up_and_a_new_one_takes_over(workers) -> None:
    caller, callee = workers
    caller.command("make_call", leg="orphan", uri=callee_uri(callee))
    incoming = callee.wait_event("incoming")
    callee.command("answer", leg=incoming["leg"])
    caller.wait_event("answered", "orphan")
    caller.disconnect()
    assert callee.wait_event("hangup", incoming["leg"])["code"] == 200   # the caller sent BYE
    caller.reconnect()
    assert caller.command("ping")["legs"] == []


def test_no_controller_means_503_so_the_edge_tries_another_worker(tmp_path: Path) -> None:
    with MediaWorker(WorkerSettings("lonely", tmp_path, free_port())) as lonely:
        with SipProbe(("127.0.0.1", lonely.settings.sip_port)) as probe:
            lonely.command("trust", sources=[f"{probe.local[0]}:{probe.local[1]}"])
            lonely.disconnect()
            response = probe.request("INVITE", f"sip:x@127.0.0.1:{lonely.settings.sip_port}")
    assert response.status == 503


def test_sigterm_with_calls_up_exits_cleanly(tmp_path: Path, workers) -> None:
    _, callee = workers
    settings = WorkerSettings("doomed", tmp_path, free_port())
    callee.command("trust", sources=[f"127.0.0.1:{settings.sip_port}",
                                     f"127.0.0.1:{workers[0].settings.sip_port}"])
    doomed = MediaWorker(settings).start()
    try:
        doomed.command("make_call", leg="up", uri=callee_uri(callee))
        up = callee.wait_event("incoming")
        callee.command("answer", leg=up["leg"])
        doomed.wait_event("answered", "up")
        doomed.command("play", leg="up", tone=[425], on_ms=1000, off_ms=4000)
        doomed.command("record", leg="up", path=str(tmp_path / "up.wav"))
        doomed.command("make_call", leg="ringing", uri=callee_uri(callee))
        ringing = callee.wait_event("incoming")
        callee.command("answer", leg=ringing["leg"], code=180)
        doomed.wait_event("ringing", "ringing")
        doomed.process.signal(signal.SIGTERM)
        assert doomed.process.popen.wait(10) == 0
        assert "stopped cleanly" in settings.log_path.read_text()
        assert callee.wait_event("hangup", up["leg"])["code"] == 200          # BYE
        assert callee.wait_event("hangup", ringing["leg"])["code"] == 487     # CANCEL
        assert (tmp_path / "up.wav").stat().st_size > 44                      # WAV completed
    finally:
        doomed.stop()
        callee.command("trust", sources=[f"127.0.0.1:{workers[0].settings.sip_port}"])


def test_the_protocol_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sip-edge.md").read_text()
    for name in (*COMMANDS, *EVENTS):
        assert f"`{name}`" in docs, f"docs/sip-edge.md does not describe {name}"
