"""The runtime's side of the media worker protocol, and its framing (shared with the worker).

The protocol (docs/sip-edge.md has the full table) is one JSON object per line, UTF-8, over the
worker's Unix stream socket; one controller at a time.

- Runtime -> worker, commands: ``{"id": 7, "cmd": "make_call", "leg": "b1", "uri": "sip:102@..."}``.
  Every command gets exactly one reply, in order: ``{"reply": 7, "ok": true, ...}`` or
  ``{"reply": 7, "ok": false, "error": "..."}``. The reply only says the command was taken; what
  happens on the wire comes later as events.
- Worker -> runtime, events: ``{"event": "answered", "leg": "b1"}`` (``EVENTS`` lists them all).

This module knows no pjsua2: ``encode``/``LineDecoder`` are pure, ``WorkerClient`` is a small
blocking client (tests, CLI checks), and ``MediaWorker`` starts a worker process and connects to it.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .subprocesses import ChildProcess

COMMANDS = ("ping", "make_call", "answer", "hangup", "bridge", "unbridge", "play", "stop_play",
            "record", "stop_record", "send_dtmf", "register", "trust")
EVENTS = ("incoming", "refused", "ringing", "answered", "media", "hold", "dtmf", "transfer", "hangup",
          "registration")
MAX_LINE_BYTES = 65536              # longest protocol line; longer ones are a protocol error
START_TIMEOUT_S = 15.0              # s: pjsua2 initialises in well under a second here
REPLY_TIMEOUT_S = 5.0               # s
WORKER_MODULE = "firmware.switch.adapters.media_worker"


class ProtocolError(ValueError):
    pass


def encode(message: dict) -> bytes:
    """One protocol line."""
    line = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"message of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


class LineDecoder:
    """Bytes in, JSON objects out; a line that is too long or not a JSON object raises ProtocolError."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict]:
        self._buffer += data
        messages = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            if line.strip():
                messages.append(self._parse(line))
        if len(self._buffer) > MAX_LINE_BYTES:
            self._buffer.clear()
            raise ProtocolError(f"line longer than {MAX_LINE_BYTES} bytes")
        return messages

    @staticmethod
    def _parse(line: bytes) -> dict:
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"not JSON: {exc}") from exc
        if not isinstance(message, dict):
            raise ProtocolError("a message must be a JSON object")
        return message


class CommandFailed(RuntimeError):
    pass


class WorkerClient:
    """A blocking controller connection: ``command()`` waits for its reply, events queue up meanwhile."""

    def __init__(self, control_path: Path, timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(control_path))
        self.timeout_s = timeout_s
        self.decoder = LineDecoder()
        self.events: deque[dict] = deque()
        self._replies: deque[dict] = deque()
        self._next_id = 0

    def close(self) -> None:
        self.sock.close()

    def _read(self, timeout_s: float) -> None:
        self.sock.settimeout(max(timeout_s, 0.001))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            raise ConnectionError("the media worker closed the control connection")
        for message in self.decoder.feed(data):
            (self._replies if "reply" in message else self.events).append(message)

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the control socket (to test the worker's framing)."""
        self.sock.sendall(data)

    def next_reply(self, timeout_s: float | None = None) -> dict:
        """The next reply, in order; TimeoutError if none comes."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while not self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply within {timeout_s} s")
            self._read(remaining)
        return self._replies.popleft()

    def command(self, cmd: str, **params: object) -> dict:
        """Send one command; its reply, or CommandFailed with the worker's error."""
        self._next_id += 1
        self.send_raw(encode({"id": self._next_id, "cmd": cmd, **params}))
        reply = self.next_reply()
        if reply.get("reply") != self._next_id:
            raise ProtocolError(f"reply {reply} does not answer command {self._next_id}")
        if not reply.get("ok"):
            raise CommandFailed(f"{cmd}: {reply.get('error')}")
        return reply

    def wait_event(self, kind: str | Iterable[str], leg: str | None = None, timeout_s: float = 10.0,
                   where: Callable[[dict], bool] | None = None) -> dict:
        """The first queued or coming event of ``kind`` (for ``leg``); earlier others stay queued."""
        kinds = {kind} if isinstance(kind, str) else set(kind)

        def wanted(event: dict) -> bool:
            return (event.get("event") in kinds and (leg is None or event.get("leg") == leg)
                    and (where is None or where(event)))

        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if wanted(event):
                    self.events.remove(event)
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {sorted(kinds)} event for leg {leg} within {timeout_s} s; "
                                   f"queued: {list(self.events)}")
            self._read(remaining)


@dataclass(frozen=True)
class WorkerSettings:
    """How to run one media worker (see ``media_worker --help``)."""

    name: str
    run_dir: Path                       # control socket and log
    sip_port: int
    sip_address: str = "127.0.0.1"
    media_address: str = "127.0.0.1"    # the address RTP binds to and SDP offers
    rtp_port: int = 0                   # first RTP port; 0 lets the system pick
    trusted: tuple[str, ...] = ()       # "ip:port" allowed to send INVITEs (the edge, peer workers)
    max_incoming: int = 2               # incoming legs admitted, each keeping a slot for its partner
    log_level: int = 1                  # pjsua log level 0..6

    @property
    def control_path(self) -> Path:
        return self.run_dir / f"{self.name}.sock"

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", WORKER_MODULE, "--name", self.name,
                "--control", str(self.control_path), "--sip-address", self.sip_address,
                "--sip-port", str(self.sip_port), "--media-address", self.media_address,
                "--rtp-port", str(self.rtp_port), "--max-incoming", str(self.max_incoming),
                "--log-level", str(self.log_level)]
        for source in self.trusted:
            argv += ["--trust", source]
        return argv


class MediaWorker:
    """A media worker process and the controller connection to it."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.process: ChildProcess | None = None
        self.client: WorkerClient | None = None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> MediaWorker:
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.settings.control_path.unlink(missing_ok=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_project_root(),
                                                                          os.environ.get("PYTHONPATH")])))
        self.process = ChildProcess(self.settings.argv(), self.settings.log_path, env=env)
        try:
            self.process.wait_until(self._connect, timeout_s, "accepting its controller")
            self.command("ping")            # taken: from now on the worker admits calls
        except BaseException:
            self.stop()
            raise
        return self

    def _connect(self) -> bool:
        try:
            self.client = WorkerClient(self.settings.control_path)
        except OSError:
            return False
        return True

    def disconnect(self) -> None:
        """Drop the controller connection: the worker hangs up all its legs."""
        if self.client is not None:
            self.client.close()
            self.client = None

    def reconnect(self) -> None:
        self.disconnect()
        self.client = WorkerClient(self.settings.control_path)

    def stop(self) -> int | None:
        """SIGTERM: the worker hangs up its legs and destroys pjsua2 cleanly; its exit status."""
        self.disconnect()
        if self.process is None:
            return None
        status = self.process.stop()
        self.process = None
        return status

    def __enter__(self) -> MediaWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self, cmd: str, **params: object) -> dict:
        assert self.client is not None, "worker not started"
        return self.client.command(cmd, **params)

    def wait_event(self, kind: str | Iterable[str], leg: str | None = None, timeout_s: float = 10.0,
                   where: Callable[[dict], bool] | None = None) -> dict:
        assert self.client is not None, "worker not started"
        return self.client.wait_event(kind, leg, timeout_s, where)


def _project_root() -> str:
    """The directory holding the ``firmware`` package, so ``python -m`` finds it from anywhere."""
    return str(Path(__file__).resolve().parents[3])
