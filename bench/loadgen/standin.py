"""A stand-in for the switch runtime while ``callbox run`` is being built: the box under test.

``python -m bench.loadgen.standin --run-dir DIR`` starts the lab's edge (Kamailio) with no media
worker, prints one JSON line ``{"ready": true, "edge": "127.0.0.1:port", "pid": ...}`` and then
takes JSON-line commands on stdin, answering each with one JSON line on stdout:

- ``{"cmd": "extensions", "users": {"201": "password", ...}}``: subscribers added or changed;
- ``{"cmd": "workers", "count": K}``: K media workers running and in the edge's dispatcher list;
- ``{"cmd": "quit"}`` (or end of input): everything stopped.

Its routing is the one tests/switch/test_adapter_calls.py plays by hand, for many calls at once on
one asyncio loop: on an ``incoming`` leg, ring it (180), call the dialled user through the edge
from the *same* worker (its admission rule keeps a slot for that), and once that leg answers,
answer the caller's leg and bridge the two; when either leg hangs up, hang up the other. It is
the runtime's job, minus the dial plan and the call records.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

from firmware.switch.adapters.kamailio import WorkerAddress
from firmware.switch.adapters.lab import LOOPBACK, Lab
from firmware.switch.adapters.subprocesses import free_port
from firmware.switch.adapters.worker_client import LineDecoder, MediaWorker, encode

TAKEOVER_TIMEOUT_S = 5.0            # s: for a worker to accept its new controller
RETRY_S = 0.02                      # s: between two connection attempts


class WorkerLink:
    """The stand-in's control connection to one media worker, and the calls on it."""

    def __init__(self, router: Router, worker: MediaWorker) -> None:
        self.router = router
        self.worker = worker
        self.name = worker.settings.name
        self.writer: asyncio.StreamWriter | None = None
        self.partner: dict[str, str] = {}       # leg -> the leg it is (being) bridged to
        self.caller_of: dict[str, str] = {}     # outgoing leg -> the incoming leg it serves
        self.next_id = 0
        self.pending: dict[int, tuple[str, dict]] = {}
        self.serial = 0
        self.failures = 0

    async def connect(self) -> None:
        """Take over the worker: the lab's blocking client lets go, this connection takes its place."""
        self.worker.disconnect()
        path = str(self.worker.settings.control_path)
        deadline = time.monotonic() + TAKEOVER_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError, ConnectionError, asyncio.IncompleteReadError):
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(encode({"id": 0, "cmd": "ping"}))
                line = await asyncio.wait_for(reader.readline(), TAKEOVER_TIMEOUT_S)
                if line:                        # answered: the worker took this connection
                    self.writer = writer
                    asyncio.get_running_loop().create_task(self._read(reader))
                    return
                writer.close()                  # closed at once: the old connection was not gone yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not take a new controller")
            await asyncio.sleep(RETRY_S)

    def command(self, cmd: str, **params: object) -> None:
        assert self.writer is not None
        self.next_id += 1
        self.pending[self.next_id] = (cmd, params)
        self.writer.write(encode({"id": self.next_id, "cmd": cmd, **params}))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = LineDecoder()
        while data := await reader.read(65536):
            for message in decoder.feed(data):
                if "reply" in message:
                    self._replied(message)
                else:
                    self._event(message)
        print(f"stand-in: worker {self.name} closed its control connection", file=sys.stderr, flush=True)

    def _replied(self, reply: dict) -> None:
        cmd, params = self.pending.pop(reply.get("reply"), ("?", {}))
        if reply.get("ok"):
            return
        self.failures += 1
        print(f"stand-in: {self.name} {cmd} {params}: {reply.get('error')}", file=sys.stderr, flush=True)
        if cmd == "make_call":                  # the callee leg never existed: refuse the caller
            caller = self.caller_of.pop(str(params.get("leg")), None)
            if caller is not None:
                self.partner.pop(caller, None)
                self.command("hangup", leg=caller, code=503)

    def _event(self, event: dict) -> None:
        kind, leg = event.get("event"), event.get("leg")
        if kind == "incoming":
            self.serial += 1
            out = f"b{self.serial}"
            self.partner[leg], self.partner[out] = out, leg
            self.caller_of[out] = leg
            self.command("answer", leg=leg, code=180)
            self.command("make_call", leg=out, uri=self.router.uri(_dialled_user(event.get("uri", ""))),
                         caller=event.get("from"))
        elif kind == "answered" and leg in self.caller_of:
            caller = self.caller_of[leg]
            self.command("answer", leg=caller)
            self.command("bridge", a=caller, b=leg)
        elif kind == "hangup":
            self.caller_of.pop(leg, None)
            other = self.partner.pop(leg, None)
            if other is not None and self.partner.pop(other, None) is not None:
                self.caller_of.pop(other, None)
                self.command("hangup", leg=other)


def _dialled_user(uri: str) -> str:
    found = re.match(r"sips?:([^@;>]+)@", uri)
    return found.group(1) if found else ""


class Router:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.links: list[WorkerLink] = []

    def uri(self, user: str) -> str:
        return self.lab.uri(user)

    async def scale(self, count: int) -> None:
        """Start workers until ``count`` run (this stand-in never shrinks the pool)."""
        while len(self.links) < count:
            worker = self.lab.start_worker(f"w{len(self.links) + 1}", free_port())
            link = WorkerLink(self, worker)
            await link.connect()
            self.links.append(link)
        assert self.lab.kamailio is not None
        self.lab.kamailio.set_workers([WorkerAddress(LOOPBACK, link.worker.settings.sip_port)
                                       for link in self.links])


async def serve(lab: Lab) -> None:
    router = Router(lab)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def reply(message: dict) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    reply({"ready": True, "edge": lab.edge, "pid": os.getpid()})
    while not stop.is_set():
        line_task = loop.create_task(reader.readline())
        stop_task = loop.create_task(stop.wait())
        await asyncio.wait({line_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            line_task.cancel()
            break
        stop_task.cancel()
        line = line_task.result()
        if not line:
            break
        try:
            command = json.loads(line)
            if command.get("cmd") == "extensions":
                for user, password in command["users"].items():
                    lab.table.set(user, password)
                reply({"ok": True})
            elif command.get("cmd") == "workers":
                await router.scale(int(command["count"]))
                reply({"ok": True, "workers": len(router.links),
                       "pids": [link.worker.process.pid for link in router.links if link.worker.process]})
            elif command.get("cmd") == "quit":
                break
            else:
                reply({"ok": False, "error": f"unknown command {command!r}"})
        except Exception as exc:            # reported to the bench, which stops the box
            reply({"ok": False, "error": repr(exc)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    with Lab(args.run_dir, {}, workers=0) as lab:
        asyncio.run(serve(lab))
    return 0


if __name__ == "__main__":
    sys.exit(main())
