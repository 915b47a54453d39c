"""What every benchmark shares: CPU timing on a noisy machine, and one place to report figures.

ch/core = seconds of 8 kHz audio processed per CPU second of one thread. Each figure is the best of
a few repetitions, run interleaved with its peer, so slow spells of a shared machine hit both alike.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

FS = 8000
FRAME = 160
SHARED_PEERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "peers"
sys.path.insert(0, str(SHARED_PEERS))


def best_cpu_seconds_interleaved(fns, repeats: int = 5) -> list[float]:
    """Best thread CPU time of each function, run in turn after one warm-up call each."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t0 = time.thread_time()
            fn()
            best[k] = min(best[k], time.thread_time() - t0)
    return best


def per_frame(fn, *arrays, frame: int = FRAME) -> None:
    """Calls ``fn`` once per ``frame`` samples, as the box does every 20 ms."""
    for i in range(0, arrays[0].size - frame + 1, frame):
        fn(*(a[i:i + frame] for a in arrays))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Report:
    """Prints each figure as it is measured and collects them for bench/results.json."""

    def __init__(self) -> None:
        self.results: dict[str, float] = {}

    def section(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def figure(self, name: str, value: float, unit: str = "", note: str = "") -> None:
        self.results[name] = round(float(value), 4)
        print(f"{name:58s} {value:12.2f} {unit:10s} {note}", flush=True)

    def ratio(self, name: str, ours: float, peer: float, floor: float | None = None) -> None:
        """Our figure over the peer's; ``floor`` is the issue's bar, shown as met or MISSED."""
        value = ours / peer
        verdict = "" if floor is None else (f"(bar {floor:g}x: met)" if value >= floor else
                                            f"(bar {floor:g}x: MISSED)")
        self.figure(name, value, "x", verdict)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.results, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
