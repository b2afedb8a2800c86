"""What a node costs the machine: its process tree's memory and CPU time, its bytes on disk.

Read from /proc (Linux): a node's figures are those of its process and every child
(``ledger node start`` may run helpers), found through ``/proc/PID/task/*/children``.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# A node has a handful of processes; a walk that finds more is following something
# else (pid reuse), and stops there.
MAX_TREE_PROCESSES = 256


def status_kib(pid: int, field_name: str) -> int | None:
    """A KiB field of /proc/PID/status (VmRSS, VmHWM); None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` first, then its descendants."""
    seen: list[int] = []
    todo = [pid]
    while todo and len(seen) < MAX_TREE_PROCESSES:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def tree_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and its descendants now, summed."""
    return sum(status_kib(p, "VmRSS") or 0 for p in process_tree(pid))


def tree_hwm_kib(pid: int) -> int:
    """The largest VmHWM (the kernel's peak resident set) in ``pid``'s tree."""
    return max((status_kib(p, "VmHWM") or 0) for p in process_tree(pid))


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def dir_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (a node's data dir: LevelDB grows with the chain)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class RssSampler:
    """A thread sampling the resident memory of process trees every ``interval`` seconds.

    ``samples`` holds (``clock()``, [VmRSS KiB of each tree]); a spike between two samples
    is still seen by ``hwm_kib`` (the kernel's own high-water mark). ``stop`` takes one
    last sample.
    """

    def __init__(self, pids: Sequence[int], interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.pids, self.interval, self.clock = list(pids), interval, clock
        self.samples: list[tuple[float, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        self.samples.append((self.clock(), [tree_rss_kib(pid) for pid in self.pids]))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sample()

    def peak_kib(self) -> list[int]:
        """The largest sampled VmRSS of each tree."""
        return [max((values[i] for _, values in self.samples), default=0) for i in range(len(self.pids))]

    def hwm_kib(self) -> list[int]:
        """VmHWM of each tree now (``tree_hwm_kib``)."""
        return [tree_hwm_kib(pid) for pid in self.pids]
