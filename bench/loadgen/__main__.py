"""The load generator as a process of its own, driven by JSON lines on stdin.

``python -m bench.loadgen --edge 127.0.0.1:5060 --accounts accounts.json`` where the file is a
JSON list of ``[caller, callee]`` pairs of ``{"user", "password", "address"}``. Commands, one JSON
object per line: ``{"cmd": "register"}``, ``{"cmd": "step", "calls": N, "hold_s": S}`` (optional
``settle_s``, ``grace_s``, ``max_in_flight``), ``{"cmd": "quit"}``. Everything it says is one JSON
object per line on stdout: ``ready``, ``registered``, and for a step ``established``,
``window_start``, ``window_end`` (so that the caller can sample the processes' CPU over exactly
the window) and ``result`` (``ua.StepResult.as_dict``); ``error`` if a command failed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
from pathlib import Path

from .ua import GRACE_S, SETTLE_S, Account, LoadGenerator


def say(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def serve(edge: tuple[str, int], pairs: list[tuple[Account, Account]]) -> None:
    generator = LoadGenerator(edge, pairs)
    await generator.open()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    say("ready", pid=os.getpid(), phones=2 * len(pairs))
    try:
        while line := await reader.readline():
            command = json.loads(line)
            try:
                if command["cmd"] == "register":
                    statuses = await generator.register()
                    say("registered", statuses={str(k): v for k, v in statuses.items()})
                elif command["cmd"] == "step":
                    result = await generator.run_step(
                        int(command["calls"]), float(command["hold_s"]),
                        settle_s=float(command.get("settle_s", SETTLE_S)),
                        grace_s=float(command.get("grace_s", GRACE_S)),
                        max_in_flight=command.get("max_in_flight"),
                        on_event=lambda name, info: say(name, **info))
                    say("result", **result.as_dict())
                elif command["cmd"] == "quit":
                    break
                else:
                    say("error", error=f"unknown command {command!r}")
            except Exception as exc:
                traceback.print_exc()
                say("error", error=repr(exc))
    finally:
        await generator.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edge", required=True, help="HOST:PORT of the box's SIP edge")
    parser.add_argument("--accounts", type=Path, required=True)
    args = parser.parse_args(argv)
    host, port = args.edge.rsplit(":", 1)
    pairs = [(Account(**caller), Account(**callee))
             for caller, callee in json.loads(args.accounts.read_text())]
    asyncio.run(serve((host, int(port)), pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
