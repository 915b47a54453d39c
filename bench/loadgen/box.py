"""The box under test, as the benchmark sees it: an edge address, extensions, a size, its processes.

``start_box`` is the one place that knows how the box is started. Today it runs the stand-in
runtime (``standin.py``: the lab's Kamailio and media workers, routed the way the adapter tests
do). When ``callbox run`` routes calls, only ``start_box`` changes, to a box that:

- adds the extensions through the service API (``Service(DIR)``) before starting; the generator's
  passwords must then pass the model's password policy;
- runs ``callbox run --data DIR --sip-port N`` in its own session, with a worker pool able to hold
  the largest step at once (``--min-workers``/``--max-workers`` = calls / 2, or ``--spare-calls``:
  a step offers all its calls at once, faster than workers start);
- has ``prepare`` do nothing (or wait for the pool), ``process_roots`` return supervisord's pid
  (Kamailio, the runtime and the workers are its children) and ``close`` stop it.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from .procstat import descendants, start_time

LEGS_PER_WORKER = 4                 # PJSUA_MAX_CALLS of the pjsua2 wheel
LEGS_PER_CALL = 2                   # a bridged call: the caller's leg and the callee's, in one worker
STOP_TIMEOUT_S = 60.0               # s: each worker hangs up and destroys pjsua2 cleanly, in turn


class BoxError(RuntimeError):
    pass


class StandInBox:
    """The stand-in runtime process and everything it started (edge, workers)."""

    description = "stand-in runtime (bench/loadgen/standin.py) + Kamailio + pjsua2 media workers"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.run_dir / "standin.log", "ab")     # noqa: SIM115 (closed in close())
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen.standin", "--run-dir", str(self.run_dir / "box")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
            start_new_session=True)
        ready = self._read()
        if not ready.get("ready"):
            self.close()
            raise BoxError(f"the stand-in box did not start: {ready}; see {self.log.name}")
        host, port = ready["edge"].rsplit(":", 1)
        self.edge = (host, int(port))
        self.workers = 0

    def _read(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise BoxError(f"the stand-in box exited ({self.process.poll()}); see {self.log.name}")
        return json.loads(line)

    def _command(self, **command: object) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()
        reply = self._read()
        if not reply.get("ok"):
            raise BoxError(f"{command.get('cmd')}: {reply.get('error')}")
        return reply

    def add_extensions(self, users: dict[str, str]) -> None:
        self._command(cmd="extensions", users=users)

    def prepare(self, calls: int) -> None:
        """Size the worker pool for ``calls`` concurrent bridged calls (both legs in one worker)."""
        self.workers = -(-calls * LEGS_PER_CALL // LEGS_PER_WORKER)
        self._command(cmd="workers", count=self.workers)

    def process_roots(self) -> list[int]:
        """The pids whose process trees are the box: the stand-in runtime (edge, workers: its children)."""
        return [self.process.pid]

    def close(self) -> None:
        """Stop the runtime (it stops its edge and workers); kill whatever is left of its tree."""
        if self.process.poll() is None:
            leftovers = descendants(self.process.pid)
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.process.stdin is not None
                self.process.stdin.write(b'{"cmd": "quit"}\n')
                self.process.stdin.close()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for pid, started in leftovers:  # only those the runtime failed to stop (same pid, same start)
                if start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        self.log.close()


@contextlib.contextmanager
def start_box(run_dir: Path) -> Iterator[StandInBox]:
    """The box under test, stopped on exit whatever happened."""
    box = StandInBox(run_dir)
    try:
        yield box
    finally:
        box.close()
