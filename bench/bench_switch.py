"""The switch: concurrent bridged G.711 calls through the box, with RTP both ways (issue 3, item 6).

A ramp of load steps, N = 20, 40, 60, 90, 120 calls: each step sets up N calls through the box at
once (caller -> edge -> media worker -> edge -> callee, both legs bridged in one worker), holds
them 60 s with 20 ms PCMU packets flowing both ways, and hangs up. A step passes when every call
was set up and fewer than 1 % of the frames due at the receivers in the window were lost or late
(``bench/loadgen/rtp.py`` defines both); the ramp stops at the first step that fails.

Per step, over exactly the measurement window: the CPU of the box's process tree (stand-in
runtime, Kamailio, media workers) and of the load generator's, apart, in % of one core (the
machine has 2), with the whole machine's beside them (other people's work shows there); RSS and
PSS at the window's end; the call setup rate (calls set up per second through the box, the N
calls offered at once). The load generator runs as its own process.

Environment: ``BENCH_QUICK=1`` holds each step 10 s instead of 60 (while developing);
``BENCH_SWITCH_STEPS=2,4`` replaces the ramp. A benchmark: nothing here passes or fails a build.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from bench.loadgen import procstat
from bench.loadgen.box import start_box
from bench.loadgen.control import LoadGenProcess
from bench.loadgen.rtp import LATE_S, PTIME_S
from bench.loadgen.ua import make_accounts

STEPS = (20, 40, 60, 90, 120)       # concurrent calls
HOLD_S = 60.0                       # s: measurement window of each step
QUICK_HOLD_S = 10.0                 # s: with BENCH_QUICK=1
MAX_LOST_OR_LATE = 0.01             # the bar: < 1 % of frames lost or late
WORKERS_SETTLE_S = 2.0              # s: after starting workers, before offering calls
BETWEEN_STEPS_S = 2.0               # s: for the last step's legs to be released everywhere


def _steps() -> tuple[int, ...]:
    text = os.environ.get("BENCH_SWITCH_STEPS", "")
    return tuple(int(n) for n in text.split(",")) if text.strip() else STEPS


def _hold_s() -> float:
    return QUICK_HOLD_S if os.environ.get("BENCH_QUICK") == "1" else HOLD_S


def _machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat), to show the machine's load."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]                            # idle + iowait
    return (sum(fields[:8]) - idle) / procstat.CLOCK_TICKS_PER_S


class StepMeasure:
    """Samples the box and the generator at the window's start and end (the generator says when)."""

    def __init__(self, box_roots: list[int], generator_pid: int) -> None:
        self.box_roots, self.generator_pid = box_roots, generator_pid
        self.figures: dict[str, float] = {}

    def on_event(self, event: dict) -> None:
        if event["event"] == "window_start":
            self.box0 = procstat.sample(self.box_roots)
            self.gen0 = procstat.sample([self.generator_pid])
            self.machine0 = (time.monotonic(), _machine_busy_s())
        elif event["event"] == "window_end":
            box1, gen1 = procstat.sample(self.box_roots), procstat.sample([self.generator_pid])
            now, busy = time.monotonic(), _machine_busy_s()
            rss, pss, processes = procstat.memory_mib(self.box_roots)
            gen_rss, gen_pss, _ = procstat.memory_mib([self.generator_pid])
            self.figures = {
                "box_cpu_percent": procstat.cpu_percent(self.box0, box1),
                "box_cpu_percent_by_process": procstat.cpu_percent_by_label(self.box0, box1),
                "loadgen_cpu_percent": procstat.cpu_percent(self.gen0, gen1),
                "machine_cpu_percent": 100 * (busy - self.machine0[1]) / (now - self.machine0[0]),
                "box_rss_mib": rss, "box_pss_mib": pss, "box_processes": processes,
                "loadgen_rss_mib": gen_rss}


def run(report) -> None:
    steps, hold_s = _steps(), _hold_s()
    report.section(f"switch: bridged G.711 calls through the box, {hold_s:.0f} s per step "
                   f"(< {MAX_LOST_OR_LATE:.0%} lost or late frames, late = > {LATE_S * 1e3:.0f} ms)")
    pairs = make_accounts(max(steps))
    passed: dict | None = None
    failed: dict | None = None
    with tempfile.TemporaryDirectory(prefix="bench-switch-") as tmp, start_box(Path(tmp)) as box:
        print(f"the box: {box.description}", flush=True)
        box.add_extensions({phone.user: phone.password for pair in pairs for phone in pair})
        with LoadGenProcess(box.edge, pairs, Path(tmp) / "loadgen.log") as generator:
            statuses = generator.register()
            if statuses != {"200": 2 * len(pairs)}:
                raise RuntimeError(f"the load generator's phones did not all register: {statuses}")
            print(f"{'calls':>6} {'set up':>6} {'calls/s':>8} {'lost':>6} {'late':>6} {'bad %':>6} "
                  f"{'box %cpu':>8} {'gen %cpu':>8} {'all %cpu':>8} {'box RSS':>8} {'workers':>7} "
                  f"{'gen late p99':>12}", flush=True)
            for calls in steps:
                box.prepare(calls)
                time.sleep(WORKERS_SETTLE_S)
                step = _run_step(box, generator, calls, hold_s)
                step["workers"] = box.workers
                _report_step(report, step, box.workers)
                if step["passed"]:
                    passed = step
                else:
                    failed = step
                    break
                time.sleep(BETWEEN_STEPS_S)
    _report_summary(report, passed, failed, hold_s)


def _run_step(box, generator: LoadGenProcess, calls: int, hold_s: float) -> dict:
    measure = StepMeasure(box.process_roots(), generator.pid)
    result = generator.step(calls, hold_s, on_event=measure.on_event)
    step = {**result, **measure.figures}
    step["passed"] = (result["established"] == calls and result["lost_or_late_fraction"] < MAX_LOST_OR_LATE)
    return step


def _report_step(report, step: dict, workers: int) -> None:
    totals = step["totals"]
    nan = float("nan")
    print(f"{step['calls']:6d} {step['established']:6d} {step['setup_rate_calls_per_s']:8.1f} "
          f"{totals['lost']:6d} {totals['late']:6d} {100 * step['lost_or_late_fraction']:6.2f} "
          f"{step.get('box_cpu_percent', nan):8.1f} {step.get('loadgen_cpu_percent', nan):8.1f} "
          f"{step.get('machine_cpu_percent', nan):8.1f} {step.get('box_rss_mib', nan):8.0f} "
          f"{workers:7d} {step['send_late_ms_p99']:10.1f}ms"
          + ("" if step["passed"] else f"  FAILED {step['failures'] or ''}"), flush=True)
    if totals["lost"] + totals["late"]:
        worst = ", ".join(f"{(tick - step['window_first_tick']) * PTIME_S:.2f} s: {streams}"
                          for tick, streams in totals["worst_ticks"])
        print(f"{'':6} worst frames (time into the window: streams hit, of {totals['streams']}): {worst}; "
              f"generator's clock late by {step['send_late_ms_max']:.0f} ms at most", flush=True)
    prefix = f"switch.calls_{step['calls']}"
    report.figure(f"{prefix}.lost_or_late_percent", 100 * step["lost_or_late_fraction"], "%")
    if "box_cpu_percent" in step:
        report.figure(f"{prefix}.box_cpu_percent", step["box_cpu_percent"], "% core")
        report.figure(f"{prefix}.loadgen_cpu_percent", step["loadgen_cpu_percent"], "% core")


def _report_summary(report, passed: dict | None, failed: dict | None, hold_s: float) -> None:
    report.figure("switch.hold_s", hold_s, "s")
    report.figure("switch.max_concurrent_calls", passed["calls"] if passed else 0, "calls",
                  "bar >= 60, aim 120")
    if failed is not None:
        report.figure("switch.first_failing_calls", failed["calls"], "calls",
                      f"{100 * failed['lost_or_late_fraction']:.2f} % lost or late, "
                      f"{failed['established']} set up")
    if passed is None:
        return
    report.figure("switch.box_cpu_percent_at_max", passed["box_cpu_percent"], "% core", "of 200 %")
    for name, percent in passed["box_cpu_percent_by_process"].items():
        report.figure(f"switch.box_cpu_percent_at_max.{name}", percent, "% core")
    report.figure("switch.workers_at_max", passed["workers"], "processes",
                  f"{passed['calls']} calls, both legs of a call in one worker")
    report.figure("switch.box_rss_mib_at_max", passed["box_rss_mib"], "MiB",
                  f"{passed['box_processes']} processes; PSS {passed['box_pss_mib']:.0f} MiB")
    report.figure("switch.box_pss_mib_at_max", passed["box_pss_mib"], "MiB")
    report.figure("switch.loadgen_cpu_percent_at_max", passed["loadgen_cpu_percent"], "% core")
    report.figure("switch.loadgen_rss_mib_at_max", passed["loadgen_rss_mib"], "MiB")
    report.figure("switch.machine_cpu_percent_at_max", passed["machine_cpu_percent"], "% core",
                  "everything on the machine, others' work included")
    report.figure("switch.setup_rate_calls_per_s", passed["setup_rate_calls_per_s"], "calls/s",
                  f"{passed['calls']} calls offered at once; bar >= 20")
    report.figure("switch.setup_latency_ms_median_at_max", passed["setup_latency_ms_median"], "ms")
    report.figure("switch.lost_or_late_percent_at_max", 100 * passed["lost_or_late_fraction"], "%")
    report.figure("switch.one_way_delay_ms_at_max", passed["totals"]["median_base_delay_ms"], "ms",
                  "generator -> box -> generator, median of the streams' base delay")
    report.figure("switch.loadgen_send_late_ms_p99_at_max", passed["send_late_ms_p99"], "ms",
                  "the generator's own clock")


def main(argv: list[str]) -> None:
    """``python -m bench.bench_switch [--quick]``: this topic alone, figures printed, not saved."""
    from bench.common import Report
    if "--quick" in argv:
        os.environ["BENCH_QUICK"] = "1"
    run(Report())


if __name__ == "__main__":
    main(sys.argv[1:])
