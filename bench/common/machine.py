"""The machine a benchmark ran on: its details for the report, its CPU use, an idle wait.

Every report starts with ``machine_rows(machine_info())``: a figure means little without
the CPU, the cores it could use, the memory, the Python and py-evm it ran with, and how
busy the machine already was (its load average) when it started.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT

# Seconds `git` may take to name the commit; a report never waits on a stuck git.
GIT_TIMEOUT_SECONDS = 10


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """CPU model, usable cores, memory, load average, Python, OS, date and py-evm version."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    return {
        "cpu": cpu,
        "load_avg_1_5_15": load,
        "cores": usable_cores(),
        "memory_gib": mem_gib,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "py_evm": _dist_version("py-evm"),
    }


def machine_rows(info: dict[str, Any]) -> list[tuple[str, Any]]:
    """``machine_info()`` as (label, value) rows, the first rows of every report."""
    return [
        ("CPU", info["cpu"]),
        ("cores", info["cores"]),
        ("memory", f"{info['memory_gib']} GiB"),
        ("Python", info["python"]),
        ("py-evm", info["py_evm"]),
        ("OS", info["os"]),
        ("date", info["date"]),
        ("load average at start (1/5/15 min)", info["load_avg_1_5_15"]),
    ]


def _dist_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:  # pragma: no cover
        return None


def git_commit() -> str:
    """The short commit of the repository, "(with uncommitted changes)" when it has some."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=GIT_TIMEOUT_SECONDS)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not out.stdout.strip():
        return "unknown"  # not a git checkout (an unpacked archive)
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user
    return (total - idle) / tick, total / tick


def wait_for_idle(max_wait: float, busy_below: float = 0.15, quiet_checks: int = 3, window: float = 0.5) -> dict[str, Any]:
    """Wait (at most ``max_wait`` s) until the whole machine is nearly idle.

    On a shared 2-core machine another process on the other core slows this
    one down a lot (measured: up to 2x), so the timed sections start only when
    ``quiet_checks`` consecutive ``window``-second windows saw less than
    ``busy_below`` cores busy.  Returns what happened, for the report; never fails.
    """
    if max_wait <= 0:
        return {"waited_s": 0.0, "idle": None}
    t0 = time.monotonic()
    quiet = 0
    frac = None
    cores = usable_cores()
    while time.monotonic() - t0 < max_wait:
        b0, tot0 = machine_cpu()
        time.sleep(window)
        b1, tot1 = machine_cpu()
        frac = (b1 - b0) / (tot1 - tot0) * cores if tot1 > tot0 else 0.0
        quiet = quiet + 1 if frac < busy_below else 0
        if quiet >= quiet_checks:
            return {"waited_s": round(time.monotonic() - t0, 1), "idle": True}
    return {"waited_s": round(time.monotonic() - t0, 1), "idle": False, "last_busy_cores": round(frac or 0, 2)}
