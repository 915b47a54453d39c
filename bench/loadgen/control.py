"""The benchmark's handle on a load generator process (``python -m bench.loadgen``)."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .ua import Account

STOP_TIMEOUT_S = 30.0               # s: the generator hangs up nothing at quit; it closes sockets


class LoadGenError(RuntimeError):
    pass


class LoadGenProcess:
    """``with LoadGenProcess(edge, pairs, log) as generator:`` a generator process, stopped on exit."""

    def __init__(self, edge: tuple[str, int], pairs: list[tuple[Account, Account]], log_path: Path) -> None:
        self.log = open(log_path, "ab")     # noqa: SIM115 (closed in close())
        accounts = [[vars(caller), vars(callee)] for caller, callee in pairs]
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=log_path.parent, delete=False) as f:
            json.dump(accounts, f)
        self.accounts_path = Path(f.name)
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", "--edge", f"{edge[0]}:{edge[1]}",
             "--accounts", str(self.accounts_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, start_new_session=True)
        self.pid = self.process.pid
        self.expect("ready")

    def __enter__(self) -> LoadGenProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, **command: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()

    def next_event(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise LoadGenError(f"the load generator exited ({self.process.poll()}); see {self.log.name}")
        event = json.loads(line)
        if event.get("event") == "error":
            raise LoadGenError(event.get("error"))
        return event

    def expect(self, kind: str) -> dict:
        event = self.next_event()
        if event.get("event") != kind:
            raise LoadGenError(f"expected {kind}, got {event}")
        return event

    def register(self) -> dict[str, int]:
        self._send(cmd="register")
        return self.expect("registered")["statuses"]

    def step(self, calls: int, hold_s: float, on_event: Callable[[dict], None] = lambda event: None,
             **options: object) -> dict:
        """One load step (``ua.LoadGenerator.run_step``); ``on_event`` sees every event before the result."""
        self._send(cmd="step", calls=calls, hold_s=hold_s, **options)
        while (event := self.next_event())["event"] != "result":
            on_event(event)
        return event

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._send(cmd="quit")
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        self.accounts_path.unlink(missing_ok=True)
