"""py-spy on a node during a timed section, and reading the stacks it writes.

py-spy (PyPI; not a dependency of the ledger) samples the node from outside. It writes
"raw" collapsed stacks: one ``frame;frame;... count`` line per distinct stack, root first.
A profiled run's figures are not representative: sampling slows the node a little.
"""
from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

DEFAULT_RATE_HZ = 200
# py-spy needs a moment to attach before the timed section starts.
ATTACH_SECONDS = 1.0
# Seconds py-spy gets to write its stacks after SIGINT before it is killed.
FLUSH_TIMEOUT_SECONDS = 30

# Frames of the thread/event-loop/web-framework plumbing: always on the stack, never a hot spot.
_PLUMBING = re.compile(
    r"\((threading|concurrent/futures/thread|asyncio/[a-z_]+|runpy|selectors)\.py|"
    r"\((typer|click|starlette|fastapi|uvicorn|anyio)/|\(ledger\)|^<module>"
)


class PySpy:
    """``py-spy record`` of ``pid`` and its children, raw stacks to ``out``, until ``stop``."""

    def __init__(self, exe: str, pid: int, out: Path, rate: int = DEFAULT_RATE_HZ) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--output", str(out), "--format", "raw", "--rate", str(rate),
             "--nonblocking", "--subprocesses"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        time.sleep(ATTACH_SECONDS)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=FLUSH_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def read_stacks(raw: Path) -> list[tuple[list[str], int]]:
    """py-spy raw output as (frames root first, samples); line numbers are dropped so that
    a function's frames merge, and py-spy's process and thread frames are left out."""
    stacks = []
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f.strip()) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        stacks.append((frames, int(count)))
    return stacks


def top_functions(collapsed: Path, limit: int = 20) -> list[tuple[str, float, float]]:
    """[(function, inclusive %, self %)] from py-spy raw/collapsed stacks.

    Frames are merged per function (line numbers dropped), thread/event-loop and
    web-framework plumbing is left out, and percentages are of all active samples
    of the node (all threads).
    """
    total = 0
    incl: dict[str, int] = {}
    self_: dict[str, int] = {}
    for frames, c in read_stacks(collapsed):
        total += c
        for f in set(frames):
            if not _PLUMBING.search(f):
                incl[f] = incl.get(f, 0) + c
        if frames:
            self_[frames[-1]] = self_.get(frames[-1], 0) + c
    if not total:
        return []
    ranked = sorted(incl.items(), key=lambda kv: -kv[1])[:limit]
    return [(f, 100 * c / total, 100 * self_.get(f, 0) / total) for f, c in ranked]


def profile_rows(collapsed: Path, limit: int) -> list[tuple[str, str]]:
    """``top_functions`` as table rows: function (cut to 120 characters), "inclusive / self"."""
    return [(f if len(f) < 120 else f[:117] + "...", f"{i:.1f} / {sf:.1f}") for f, i, sf in top_functions(collapsed, limit)]
