"""CPU and memory of process trees, from /proc (Linux): what the box and the generator cost.

CPU % is of one core (the 2-core machine tops out at 200 %): the user + system time the tree's
processes used between two samples, over the wall time between them. A process is counted only
if it is in both samples (same pid and start time), so one that started or ended in between is
left out rather than half counted. RSS is each process's resident set summed (shared libraries
count once per process, as ``ps`` shows them); PSS shares them out instead, so the PSS of a tree
is what it really holds.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; the command name may hold spaces and parentheses."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text.rsplit(")", 1)[1].split()


def _field(fields: list[str], number: int) -> int:
    """Field ``number`` as proc(5) numbers them (1 = pid)."""
    return int(fields[number - 3])


PPID, UTIME, STIME, STARTTIME = 4, 14, 15, 22


def tree(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(_field(fields, PPID), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat_fields(pid) is not None:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every descendant of ``root`` (the start time tells a reused pid apart)."""
    out = []
    for pid in tree(root):
        fields = _stat_fields(pid)
        if pid != root and fields is not None:
            out.append((pid, _field(fields, STARTTIME)))
    return out


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else _field(fields, STARTTIME)


@dataclass(frozen=True)
class Sample:
    at: float                                   # s, monotonic
    cpu_s: dict[tuple[int, int], float]         # (pid, start time) -> user + system CPU seconds
    labels: dict[tuple[int, int], str]          # (pid, start time) -> what the process is


def label(pid: int) -> str:
    """What a process is: the module of ``python -m module``, else its command name."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        comm = (PROC / str(pid) / "comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return "?"
    if comm.startswith("python") and b"-m" in argv[:-1]:
        return argv[argv.index(b"-m") + 1].decode(errors="replace").rsplit(".", 1)[-1]
    return comm


def sample(roots: list[int]) -> Sample:
    cpu, labels = {}, {}
    for root in roots:
        for pid in tree(root):
            fields = _stat_fields(pid)
            if fields is not None:
                key = (pid, _field(fields, STARTTIME))
                cpu[key] = (_field(fields, UTIME) + _field(fields, STIME)) / CLOCK_TICKS_PER_S
                labels[key] = label(pid)
    return Sample(time.monotonic(), cpu, labels)


def cpu_percent(before: Sample, after: Sample) -> float:
    """CPU used between the samples by the processes in both, in % of one core."""
    return sum(cpu_percent_by_label(before, after).values())


def cpu_percent_by_label(before: Sample, after: Sample) -> dict[str, float]:
    """``cpu_percent`` split by process label (e.g. kamailio, media_worker, standin)."""
    used: dict[str, float] = {}
    for key in after.cpu_s.keys() & before.cpu_s.keys():
        name = after.labels[key]
        used[name] = used.get(name, 0.0) + after.cpu_s[key] - before.cpu_s[key]
    return {name: 100.0 * seconds / (after.at - before.at) for name, seconds in sorted(used.items())}


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def memory_mib(roots: list[int]) -> tuple[float, float, int]:
    """(RSS, PSS) in MiB summed over the trees, and how many processes they hold."""
    pids = [pid for root in roots for pid in tree(root)]
    rss = sum(_status_kib(pid, "VmRSS") for pid in pids)
    pss = sum(_pss_kib(pid) for pid in pids)
    return rss / 1024, pss / 1024, len(pids)
