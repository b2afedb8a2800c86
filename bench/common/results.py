"""Writing results: figures, JSON files and the tables a benchmark prints.

A *figure* is what every benchmark hands to ``bench/run_all`` (``--figures-out PATH``):
one measured quantity with the value of every run, their median and spread, a unit and
which way is better. The tables are Markdown, so that a run's output pastes into
``BENCHMARKS.md`` as it is.
"""
from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bench.common.machine import machine_info, machine_rows


def figure(
    name: str,
    unit: str,
    runs: Sequence[float],
    *,
    better: str = "higher",
    group: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One reported figure: every run's value, their median and spread.

    ``better`` is "higher" (rates) or "lower" (latencies, sizes), so a reader and
    ``bench/run_all`` know which way a ratio points.  The spread is
    (max - min) / median in percent; 0 runs raise, 1 run has spread 0.
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    values = [float(v) for v in runs]
    if not values:
        raise ValueError(f"figure {name!r} has no runs")
    mid = statistics.median(values)
    spread = (max(values) - min(values)) / abs(mid) * 100 if mid else 0.0
    return {
        "name": name,
        "group": group,
        "unit": unit,
        "better": better,
        "runs": values,
        "median": mid,
        "min": min(values),
        "max": max(values),
        "spread_pct": round(spread, 1),
        "note": note,
    }


def write_json(path: Path | str, doc: Any) -> None:
    """``doc`` as indented JSON with sorted keys (diffs of two runs stay readable)."""
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def write_figures(path: Path | str | None, bench: str, figures: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Write ``{"bench", "machine", "figures", ...extra}`` as JSON to ``path`` (if given).

    ``bench/run_all`` passes ``--figures-out PATH`` to each benchmark and merges the files.
    """
    doc = {"bench": bench, "machine": machine_info(), "figures": list(figures), **extra}
    if path is not None:
        write_json(path, doc)
    return doc


def number(value: float) -> str:
    """Three significant digits, thousands separated: 1,234 / 123 / 12.3 / 1.23 / 0.0123."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def print_table(title: str, rows: Iterable[tuple[str, Any]], file: TextIO = sys.stdout) -> None:
    """A two-column Markdown table (metric | value) under ``title``."""
    cells = [(str(k), str(v)) for k, v in rows]
    w1 = max(len("metric"), *(len(k) for k, _ in cells))
    w2 = max(len("value"), *(len(v) for _, v in cells))
    print(f"\n{title}", file=file)
    print(f"| {'metric'.ljust(w1)} | {'value'.ljust(w2)} |", file=file)
    print(f"|{'-' * (w1 + 2)}|{'-' * (w2 + 2)}|", file=file)
    for k, v in cells:
        print(f"| {k.ljust(w1)} | {v.ljust(w2)} |", file=file)
    file.flush()


def print_grid(title: str, header: list[str], rows: list[list[str]], file: TextIO = sys.stdout) -> None:
    """A Markdown table with the columns ``header`` under ``title``; nothing if no rows."""
    if not rows:
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}", file=file)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |", file=file)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=file)
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |", file=file)
    file.flush()


def machine_markdown(info: dict[str, Any]) -> list[str]:
    """The machine table of a Markdown report (``machine_rows``), one line per row."""
    return ["| machine | |", "|---|---|"] + [f"| {label} | {value} |" for label, value in machine_rows(info)]


def print_json_line(tag: str, payload: dict[str, Any]) -> None:
    """One ``TAG {json}`` line on stdout: the machine-readable part of a script's output."""
    print(f"{tag} " + json.dumps(payload, sort_keys=True), flush=True)
