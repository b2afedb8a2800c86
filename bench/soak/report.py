"""The soak's report: every record summarised by phase, as JSON and as Markdown tables."""
from __future__ import annotations

import argparse
from typing import Any

from bench.common.load import BlockFollower
from bench.common.machine import git_commit
from bench.common.results import machine_markdown
from bench.common.stats import percentile
from bench.soak.abuse import ABUSE_KINDS, ABUSE_TIMEOUT, OUTCOMES
from bench.soak.load import LEGIT_TIMEOUT, LegitLoad, legit_order
from bench.soak.measure import PHASES, block_intervals, interval_summary, latency_summary, rss_summary, verdicts


def build_report(args: argparse.Namespace, info: dict[str, Any], period: float, names: list[str],
                 bounds: dict[str, tuple[float, float]], follower: BlockFollower,
                 rss_samples: list[tuple[float, list[int]]], hwm: list[float], hwm_after_abuse: list[float],
                 legit: LegitLoad, abuse: dict[str, Any]) -> dict[str, Any]:
    """Everything the run recorded, summarised by phase, with the verdicts: the JSON report."""
    intervals = block_intervals(follower.blocks)
    blocks = interval_summary(intervals, bounds)
    rss = rss_summary(rss_samples, names, bounds, hwm_after_abuse or None)
    for name, peak in zip(names, hwm):
        rss[name]["vmhwm_mib"] = peak
    calls: dict[str, dict[str, Any]] = {}
    for name in sorted(dict.fromkeys(s[0] for s in legit.samples), key=legit_order):
        calls[name] = {ph: latency_summary([(s, ok) for n, p, s, ok in legit.samples if n == name and p == ph]) for ph in bounds}
    commit: dict[str, Any] = {}
    for ph in bounds:
        sent = [(h, t) for h, (t, p) in legit.submitted.items() if p == ph]
        waits = [follower.tx_seen[h][1] - t for h, t in sent if h in follower.tx_seen]
        commit[ph] = {"sent": len(sent), "committed": len(waits),
                      "p50_s": percentile(waits, 50) if waits else None,
                      "p99_s": percentile(waits, 99) if waits else None, "max_s": max(waits) if waits else None}
    return {
        "bench": "soak", "machine": info,
        "settings": {"commit": git_commit(), "seconds": args.seconds, "idle_seconds": args.idle_seconds, "legit_seconds": args.legit_seconds,
                     "recovery_seconds": args.recovery_seconds, "validators": args.validators,
                     "block_period_s": period, "empty_block_period_s": args.empty_block_period,
                     "skip": sorted(args.skip), "target": names[0], "blocks_followed_on": names[args.validators - 1]},
        "phases": {k: {"start_s": round(a, 2), "end_s": round(b, 2)} for k, (a, b) in bounds.items()},
        "verdicts": verdicts(blocks, rss, period),
        "blocks": blocks, "rss": rss, "legit_calls": calls, "legit_commit": commit,
        "abuse": {"kinds": {k: {"what": ABUSE_KINDS[k], **abuse.get("kinds", {}).get(k, dict.fromkeys(OUTCOMES, 0))}
                            for k in ABUSE_KINDS if k not in args.skip},
                  **{k: v for k, v in abuse.items() if k != "kinds"}},
        "follower_errors": follower.errors,
        "block_list": [{"number": b.number, "timestamp": b.timestamp, "seen_s": round(b.seen, 3), "txs": b.txs} for b in follower.blocks],
        "rss_samples_kib": {"nodes": names, "samples": [[round(t, 2), v] for t, v in rss_samples]},
    }


def markdown(report: dict[str, Any]) -> str:
    """The report's tables, as ``<output>.md`` and stdout show them."""
    m, s, v = report["machine"], report["settings"], report["verdicts"]
    phases = [ph for ph in PHASES if ph in report["blocks"]]
    lines = ["# Soak: a QBFT cluster under abuse (`python -m bench.soak`)", ""]
    lines += machine_markdown(m)
    lines += ["", f"Code: commit {s.get('commit', 'unknown')}. {s['validators']} validators on loopback, block period {s['block_period_s']:g} s "
              f"(empty-block period {s['empty_block_period_s']} s); legitimate load and abuse against {s['target']}, "
              f"blocks followed on {s['blocks_followed_on']}; phases: "
              + ", ".join(f"{ph} {report['blocks'][ph]['seconds']:.0f} s" for ph in phases) + ".", ""]
    bi, rv = v["block_interval"], v["rss"]
    lines += ["| target (during the abuse) | limit | measured | verdict |", "|---|---|---|---|",
              f"| longest block interval (or time without a block) | ≤ {bi['limit_s']:g} s | {_fmt(bi['worst_s'], ' s', 2)} | **{bi['verdict']}** |",
              f"| RSS, worst node, peak / idle mean | ≤ {rv['limit_ratio']:g}× | {_fmt(rv['worst_ratio'], '×', 2)} | **{rv['verdict']}** |", ""]
    lines += ["Blocks (interval = first seen − previous first seen; header timestamps are whole seconds):", "",
              "| phase | blocks | interval mean | p50 | p99 | max | header max | longest without a block |",
              "|---|---|---|---|---|---|---|---|"]
    for ph in phases:
        b = report["blocks"][ph]
        lines.append(f"| {ph} | {b['blocks']} | {_fmt(b['observed_mean_s'], ' s', 2)} | {_fmt(b['observed_p50_s'], ' s', 2)} | {_fmt(b['observed_p99_s'], ' s', 2)} | "
                     f"{_fmt(b['observed_max_s'], ' s', 2)} | {_fmt(b['header_max_s'], ' s')} | {_fmt(b['longest_gap_s'], ' s', 2)} |")
    lines += ["", (f"Legitimate calls to the target: p50 / p99 / max latency in ms, failed share (timeout "
                   f"{LEGIT_TIMEOUT:g} s; a failed call counts with the time it took):"), "",
              "| call | " + " | ".join(ph for ph in phases if ph != "idle") + " |", "|---|" + "---|" * (len(phases) - 1)]
    for name, per in report["legit_calls"].items():
        cells = []
        for ph in phases:
            if ph == "idle":
                continue
            c = per.get(ph, {})
            cells.append("—" if not c.get("n") else f"{_fmt(c['p50_ms'])} / {_fmt(c['p99_ms'])} / {_fmt(c['max_ms'])}, "
                         f"{c['failed_share'] * 100:.0f} % of {c['n']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for ph in phases:
        if ph == "idle":
            continue
        c = report["legit_commit"][ph]
        cells.append(f"{_fmt(c['p50_s'], '', 2)} / {_fmt(c['p99_s'], '', 2)} / {_fmt(c['max_s'], '', 2)} s, "
                     f"{c['committed']} of {c['sent']}")
    lines.append("| anchoring submit → committed | " + " | ".join(cells) + " |")
    lines += ["", ("RSS per node (MiB; VmRSS of the node process every 0.5 s; the peak is the larger of the sampled max "
                   "and VmHWM when the abuse ended):"), "",
              "| node | idle mean | " + " | ".join(f"{ph} max" for ph in phases if ph != "idle")
              + " | VmHWM when the abuse ended | abuse peak / idle |",
              "|---|---|" + "---|" * (len(phases) - 1) + "---|---|"]
    for name, r in report["rss"].items():
        lines.append(f"| {name} | {_fmt(r['idle_mean_mib'])} | " + " | ".join(_fmt(r.get(f'{ph}_max_mib')) for ph in phases if ph != "idle")
                     + f" | {_fmt(r.get('abuse_hwm_mib'))} | {_fmt(r['abuse_over_idle'], '×', 2)} |")
    lines += ["", (f"Abuse (each request with a {ABUSE_TIMEOUT:g} s client timeout; refused = an HTTP or JSON-RPC error, "
                   "failed = no answer in time or the connection broke):"), "",
              "| kind | what | sent | answered | refused | failed | p50 / max s | answered bytes | first refusal or failure |",
              "|---|---|---|---|---|---|---|---|---|"]
    for kind, k in report["abuse"]["kinds"].items():
        errors = "; ".join(k.get("errors", []))[:160].replace("|", "/")
        lines.append(f"| {kind} | {k['what']} | {k['sent']:,} | {k['answered']:,} | {k['refused']:,} | {k['failed']:,} | "
                     f"{_fmt(k.get('p50_s'), '', 2)} / {_fmt(k.get('max_s'), '', 1)} | {_fmt(k.get('bytes'))} | {errors or '—'} |")
    notes = {k: val for k, val in report["abuse"].items() if k != "kinds"}
    if notes:
        lines += ["", "Abuse process: " + ", ".join(f"{k} {val}" for k, val in notes.items())]
    return "\n".join(lines) + "\n"


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"
