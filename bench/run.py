"""make bench: every figure the issues ask for, each beside its peer measured in the same run.

usage: python -m bench.run [topic ...]     topics: g711 dtmf echo linedsp callerid lines switch (default: all)
Writes bench/results.json (name -> value). A benchmark, not a test: nothing here passes or fails.
"""
from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

from bench.common import Report, peak_rss_mib

TOPICS = ["g711", "dtmf", "echo", "linedsp", "callerid", "lines", "switch"]
RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    return f"{model}; {platform.machine()}; python {platform.python_version()}"


def main(argv: list[str]) -> None:
    topics = argv or TOPICS
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown:
        raise SystemExit(f"unknown bench topic(s) {unknown}; known: {TOPICS}")
    print(f"# callbox bench on {machine()}")
    report = Report()
    t0 = time.monotonic()
    for topic in topics:
        importlib.import_module(f"bench.bench_{topic}").run(report)
    report.section("process")
    report.figure("bench.peak_rss_mib", peak_rss_mib(), "MiB")
    report.write(RESULTS)
    print(f"\nwrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}"
          f" ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
