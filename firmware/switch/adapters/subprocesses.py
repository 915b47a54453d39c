"""Child processes of the switch: started in their own session, stopped for sure, logs kept.

Every external program the adapters run (Kamailio, media workers, baresip) goes through
``ChildProcess``: it is never daemonised, its stdout and stderr go to a log file beside its other
files, and ``stop()`` ends the whole process group (SIGTERM, then SIGKILL after a bounded wait), so
a failed test or a crashed runtime leaves no orphan behind.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

STOP_GRACE_S = 5.0          # s: SIGTERM to SIGKILL
POLL_INTERVAL_S = 0.05      # s: between two readiness checks


class ChildProcessError(RuntimeError):
    """A child process died or did not become ready; the message ends with its log's tail."""


class ChildProcess:
    """One external program run as a child in its own process group, logging to ``log_path``."""

    def __init__(self, argv: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=cwd, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, what: str) -> ChildProcessError:
        status = "running" if self.alive() else f"exited with {self.popen.returncode}"
        return ChildProcessError(
            f"{self.argv[0]} {what} ({status}); last lines of {self.log_path}:\n{self.log_tail()}")

    def wait_until(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``ready()`` until it is true; raise with the log's tail if the child dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.alive():
                raise self.failure(f"died before {what}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.failure(f"not {what} after {timeout_s:.0f} s")
            time.sleep(POLL_INTERVAL_S)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM the group, SIGKILL it if still there after ``grace_s``; return the exit status."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait()
        # children of the leader (e.g. Kamailio's workers) may outlive it by a moment
        self.signal(signal.SIGKILL)
        return self.popen.returncode


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` right now (SIP listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")
