"""The statistics the reports use: nearest-rank percentiles and the median run.

One definition for every benchmark, so that a p99 in one table means what it means in
the next: the nearest-rank percentile (the smallest sample with at least p % of the
samples at or below it), never an interpolated value no run produced.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``, in any order."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {p}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


def median_run(runs: Sequence[T], key: Callable[[T], float]) -> T:
    """The run whose ``key`` is the median (the lower middle one of an even count): the
    run a report's tables show, while its figures keep every run."""
    if not runs:
        raise ValueError("median run of no runs")
    return sorted(runs, key=key)[(len(runs) - 1) // 2]
