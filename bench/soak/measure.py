"""What the soak measures, and the pure summaries of it by phase.

The measuring threads are ``bench.common``'s: a ``BlockFollower`` on the quiet validator
(every block's header timestamp and first-seen time; a node no client talks to, so a
stalled RPC on the target does not hide blocks) and an ``RssSampler`` of every node,
both on the run's ``Clock``. The summaries are pure: functions of those records and of
the phases' bounds (seconds since the run began), tested in tests/unit/bench/test_soak.py.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

from bench.common.load import SeenBlock
from bench.common.stats import percentile

PHASES = ("idle", "legit", "abuse", "recovery")
HEAD_POLL_SECONDS = 0.05  # wall-clock resolution of "block first seen"
RSS_SAMPLE_SECONDS = 0.5  # a 300 MB answer lives for seconds: 0.5 s sees it
RSS_LIMIT_RATIO = 2.0  # the target: every node's RSS <= 2x its idle RSS during the abuse
BLOCK_INTERVAL_LIMIT_PERIODS = 2.0  # ... and no block interval over 2x the block period


class Clock:
    """Seconds since the run began (monotonic), shared by every record."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin


def latency_summary(samples: Sequence[tuple[float, bool]]) -> dict[str, Any]:
    """p50/p99/max of (seconds, ok) samples (failed calls count with the time they took)
    and the share that failed; None figures when there are no samples."""
    if not samples:
        return {"n": 0, "failed": 0, "failed_share": None, "p50_ms": None, "p99_ms": None, "max_ms": None}
    times = [s for s, _ in samples]
    failed = sum(1 for _, ok in samples if not ok)
    return {
        "n": len(samples), "failed": failed, "failed_share": failed / len(samples),
        "p50_ms": percentile(times, 50) * 1000, "p99_ms": percentile(times, 99) * 1000, "max_ms": max(times) * 1000,
    }


def block_intervals(blocks: Sequence[SeenBlock]) -> list[dict[str, Any]]:
    """Per block after the first (and after block 1: genesis has no sealing time): its
    interval by header timestamps and by first-seen wall-clock times; blocks must be
    consecutive numbers (a gap raises)."""
    out = []
    for prev, cur in itertools.pairwise(blocks):
        if cur.number != prev.number + 1:
            raise ValueError(f"blocks {prev.number} and {cur.number} are not consecutive")
        if prev.number == 0:
            continue  # genesis carries the chain's creation time, not a sealing time
        out.append({"number": cur.number, "seen": cur.seen, "header_s": cur.timestamp - prev.timestamp,
                    "observed_s": cur.seen - prev.seen, "txs": cur.txs})
    return out


def phase_of(t: float, bounds: dict[str, tuple[float, float]]) -> str | None:
    """The phase whose [start, end) holds time t (seconds since the run began)."""
    for name, (start, end) in bounds.items():
        if start <= t < end:
            return name
    return None


def interval_summary(intervals: Sequence[dict[str, Any]], bounds: dict[str, tuple[float, float]]) -> dict[str, dict[str, Any]]:
    """Per phase: blocks, observed-interval p50/p99/max, header-interval max and the
    longest time within the phase with no new block (the tail since the last block
    counts: a chain that stops makes no intervals at all)."""
    out: dict[str, dict[str, Any]] = {}
    for name, (start, end) in bounds.items():
        mine = [i for i in intervals if start <= i["seen"] < end]
        observed = [i["observed_s"] for i in mine]
        seen_times = [start] + [i["seen"] for i in mine] + [end]
        out[name] = {
            "seconds": end - start,
            "blocks": len(mine),
            "observed_mean_s": sum(observed) / len(observed) if observed else None,
            "observed_p50_s": percentile(observed, 50) if observed else None,
            "observed_p99_s": percentile(observed, 99) if observed else None,
            "observed_max_s": max(observed) if observed else None,
            "header_max_s": max(i["header_s"] for i in mine) if mine else None,
            "longest_gap_s": max(b - a for a, b in itertools.pairwise(seen_times)),
        }
    return out


def rss_summary(samples: Sequence[tuple[float, Sequence[int]]], names: Sequence[str],
                bounds: dict[str, tuple[float, float]], hwm_after_abuse: Sequence[float] | None = None) -> dict[str, dict[str, Any]]:
    """Per node: mean RSS (MiB) of the idle phase, max RSS per phase, and the ratio of
    the abuse phase's peak to the idle mean. The peak is the larger of the sampled max
    and the kernel's VmHWM read when the abuse ended (`hwm_after_abuse`, MiB): a
    spike between two samples still counts (the idle phase is lower, so the HWM then is
    the abuse's peak or below it)."""
    out: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        per_phase: dict[str, list[float]] = {phase: [] for phase in bounds}
        for t, values in samples:
            phase = phase_of(t, bounds)
            if phase is not None and values[index]:
                per_phase[phase].append(values[index] / 1024)
        idle = per_phase.get("idle") or []
        idle_mean = sum(idle) / len(idle) if idle else None
        node: dict[str, Any] = {"idle_mean_mib": idle_mean}
        for phase, mibs in per_phase.items():
            node[f"{phase}_max_mib"] = max(mibs) if mibs else None
        abuse_max = node.get("abuse_max_mib")
        if hwm_after_abuse is not None:
            node["abuse_hwm_mib"] = hwm_after_abuse[index]
            abuse_max = max(abuse_max or 0.0, hwm_after_abuse[index]) or None
        node["abuse_peak_mib"] = abuse_max
        node["abuse_over_idle"] = abuse_max / idle_mean if abuse_max and idle_mean else None
        out[name] = node
    return out


def verdicts(blocks: dict[str, dict[str, Any]], rss: dict[str, dict[str, Any]], period: float) -> dict[str, dict[str, Any]]:
    """The issue's two targets, judged on the abuse phase: the longest block interval
    (observed, or the longest gap with no block) <= 2x the period; every node's RSS peak
    <= 2x its idle mean. No data is a FAIL (a run that saw nothing proves nothing)."""
    abuse = blocks.get("abuse", {})
    worst = max((v for v in (abuse.get("observed_max_s"), abuse.get("longest_gap_s")) if v is not None), default=None)
    ratios = [n["abuse_over_idle"] for n in rss.values()]
    worst_ratio = None if not ratios or any(r is None for r in ratios) else max(ratios)
    limit_s = BLOCK_INTERVAL_LIMIT_PERIODS * period
    return {
        "block_interval": {"limit_s": limit_s, "worst_s": worst,
                           "verdict": "PASS" if worst is not None and worst <= limit_s else "FAIL"},
        "rss": {"limit_ratio": RSS_LIMIT_RATIO, "worst_ratio": worst_ratio,
                "verdict": "PASS" if worst_ratio is not None and worst_ratio <= RSS_LIMIT_RATIO else "FAIL"},
    }
