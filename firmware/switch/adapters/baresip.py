"""A headless baresip 1.0 softphone, driven over its ctrl_tcp port: an independent SIP phone.

The tests (and later hil-tests and the load generator) use it as a phone that shares no code
with the box: ``Baresip(BaresipSettings(...)).start()`` writes a config directory (``config`` and
``accounts``), runs ``baresip -f DIR`` with no sound device (audio comes from a WAV file through
the ``aufile`` source; ``sndfile`` writes what is sent and received to WAV files) and waits
until it has registered. ``command("dial", uri)`` and ``wait_event("CALL_ESTABLISHED")`` speak
ctrl_tcp's JSON in netstrings (``len:json,``). Needs Debian's ``baresip-core``.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .subprocesses import ChildProcess

BARESIP = "baresip"
MODULE_DIR = "/usr/lib/baresip/modules"
START_TIMEOUT_S = 15.0              # s: start and register
REPLY_TIMEOUT_S = 5.0               # s
SAMPLE_RATE_HZ = 8000               # G.711's, so baresip never resamples


@dataclass(frozen=True)
class BaresipSettings:
    name: str
    run_dir: Path                       # <run_dir>/<name>/: config, accounts, recordings, log
    sip_port: int
    ctrl_port: int
    user: str
    password: str
    registrar: tuple[str, int]          # the SIP edge
    audio_source: Path | None = None    # a 16-bit WAV sent as the phone's microphone
    address: str = "127.0.0.1"

    @property
    def conf_dir(self) -> Path:
        return self.run_dir / self.name


def render_config(s: BaresipSettings) -> str:
    source = f"aufile,{s.audio_source}" if s.audio_source else "aufile,/dev/null"
    lines = {
        "poll_method": "epoll",
        "sip_listen": f"{s.address}:{s.sip_port}",
        "call_local_timeout": "120",
        "call_max_calls": "4",
        "audio_source": source,
        "ausrc_srate": str(SAMPLE_RATE_HZ),
        "auplay_srate": str(SAMPLE_RATE_HZ),
        "ausrc_channels": "1",
        "auplay_channels": "1",
        "audio_level": "no",
        "jitter_buffer_delay": "2-10",
        "rtp_stats": "no",
        "net_interface": s.address,
        "module_path": MODULE_DIR,
        "ctrl_tcp_listen": f"{s.address}:{s.ctrl_port}",
        "snd_path": str(s.conf_dir),
    }
    modules = ["g711.so", "aufile.so", "sndfile.so"]
    app_modules = ["account.so", "menu.so", "ctrl_tcp.so"]
    text = "\n".join(f"{key}\t{value}" for key, value in lines.items())
    text += "\n" + "\n".join(f"module\t{m}" for m in modules)
    text += "\n" + "\n".join(f"module_app\t{m}" for m in app_modules)
    return text + "\n"


def render_accounts(s: BaresipSettings) -> str:
    host, port = s.registrar
    return (f"<sip:{s.user}@{host}:{port};transport=udp>;auth_pass={s.password};regint=300;"
            "answermode=manual;audio_codecs=PCMU,PCMA\n")


def _netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class Baresip:
    """A running baresip and its ctrl_tcp connection."""

    def __init__(self, settings: BaresipSettings) -> None:
        self.settings = settings
        self.process: ChildProcess | None = None
        self.sock: socket.socket | None = None
        self._buffer = b""
        self.events: deque[dict] = deque()
        self._responses: deque[dict] = deque()
        self._token = 0

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Baresip:
        binary = shutil.which(BARESIP)
        if binary is None:
            raise RuntimeError("baresip is not installed: apt-get install -y baresip-core")
        s = self.settings
        s.conf_dir.mkdir(parents=True, exist_ok=True)
        (s.conf_dir / "config").write_text(render_config(s))
        (s.conf_dir / "accounts").write_text(render_accounts(s))
        self.process = ChildProcess([binary, "-f", str(s.conf_dir)], s.conf_dir / "baresip.log",
                                    cwd=s.conf_dir)
        try:
            self.process.wait_until(self._connect, timeout_s, "accepting ctrl_tcp")
            self.process.wait_until(self.registered, timeout_s, "registered")
        except BaseException:
            self.stop()
            raise
        return self

    def _connect(self) -> bool:
        try:
            self.sock = socket.create_connection((self.settings.address, self.settings.ctrl_port), 1.0)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            self.process.stop()
            self.process = None

    def __enter__(self) -> Baresip:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def registered(self) -> bool:
        """Whether the account is registered, by ``reginfo`` (the REGISTER_OK event may come
        before ctrl_tcp is connected)."""
        return "OK" in self.command("reginfo").get("data", "")

    def _read(self, timeout_s: float) -> None:
        assert self.sock is not None
        self.sock.settimeout(max(timeout_s, 0.001))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            raise ConnectionError("baresip closed its ctrl_tcp connection")
        self._buffer += data
        while (colon := self._buffer.find(b":")) > 0:
            length = int(self._buffer[:colon])
            end = colon + 1 + length
            if len(self._buffer) < end + 1:
                break
            message = json.loads(self._buffer[colon + 1:end])
            self._buffer = self._buffer[end + 1:]
            (self._responses if message.get("response") else self.events).append(message)

    def command(self, command: str, params: str = "") -> dict:
        """One menu command (dial, accept, hangup, sndcode...); its response, RuntimeError if not ok."""
        assert self.sock is not None, "baresip not started"
        self._token += 1
        message = {"command": command, "params": params, "token": str(self._token)}
        self.sock.sendall(_netstring(json.dumps(message).encode()))
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while True:
            for response in self._responses:
                if response.get("token") == str(self._token):
                    self._responses.remove(response)
                    if not response.get("ok"):
                        raise RuntimeError(f"baresip {command} {params}: {response.get('data')}")
                    return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"baresip did not answer {command}")
            self._read(remaining)

    def forget_events(self) -> None:
        """Drop the events read so far (those of earlier calls)."""
        with contextlib.suppress(TimeoutError):
            self.command("callstat")                # a round trip: what came before it is read
        self.events.clear()

    def wait_event(self, kind: str, timeout_s: float = 10.0,
                   where: Callable[[dict], bool] | None = None) -> dict:
        """The first queued or coming event of type ``kind``; earlier others stay queued."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if event.get("type") == kind and (where is None or where(event)):
                    self.events.remove(event)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no baresip {kind} event within {timeout_s} s; "
                                   f"queued: {list(self.events)}")
            self._read(remaining)

    def recordings(self) -> dict[str, Path]:
        """The sndfile dumps of the last call: {"enc": sent, "dec": received}."""
        found = {}
        for kind in ("enc", "dec"):
            files = sorted(self.settings.conf_dir.glob(f"dump-*-{kind}.wav"), key=lambda p: p.stat().st_mtime)
            if files:
                found[kind] = files[-1]
        return found
