"""Every benchmark in one run, on one machine: one Markdown table and one JSON file.

``bench/run_all`` (this module) runs each benchmark of ``bench/`` as its own process, one
after another, never two at once (they would share the 2 cores and slow each other):

========== ============================================================================
step       what it measures (the module's docstring says how)
========== ============================================================================
throughput committed tx/s of ``Storage.set`` through JSON-RPC on a ``--dev`` node, a
           fresh node per run; the same signed workload in stock py-evm (the ceiling)
chaincode  e-contracts per second: registration + two certificate signatures
consensus  a 4-validator QBFT cluster: committed tx/s and submit -> final latency
verify     ``ledger chain verify`` blocks/s, with and without re-execution
queries    event-index query latency over HTTP at 10k, 100k and 1M evidence entries; the
           seeded data directories are kept in ``--out``/qbench and reused by the next run
           (re-seeded when node/storage/schema.py, node/storage/indexes.py or
           chaincode/events.py changed): seeding 1.1M entries is 4-5.5 of a first run's minutes
scaling    evidence anchored per second at batch sizes 1 to 100,000 (and at 10,000 with an
           RFC 3161 TSA in the loop); receipt size, offline verify time and certificate
           generation time against batch size; node RSS and disk per million entries
peers      the same web3.py client against our ``--dev`` node, Ganache and anvil:
           deploy + 2,000 storage writes, ``eth_getLogs`` over 10,000 events,
           ``eth_call`` per second, each node's own CPU per call and per getLogs query,
           what bounds each node's write figure, and the ratios ours / theirs
pdf_sign   a 20-page contract PDF signed in turn by two parties (RSA-2048, P-256) with
           visible seals at B-B, B-T (a real TSA) and B-LT, and verified against the
           chain's facts: ms per signature, beside pyHanko's bare PAdES signing and
           validation and poppler's ``pdfsig``
========== ============================================================================

Each step writes its figures with ``--figures-out`` (``bench.common.results.figure``: every run's
value, the median and the spread (max - min) / median); every figure is the median of at
least 3 runs (``--quick`` runs 1, at tiny sizes: it proves the scripts work, its figures
mean nothing).  A step that fails is reported as failed, with the tail of its log, and
the others still run; the exit status is then 1.

Output, in ``--out`` (default ``bench/results``): ``run_all.md`` (the tables),
``run_all.json`` (machine, date, commit, every step's status and time, every figure with
its runs), and each step's own log and figures file.  ``--update-benchmarks-md`` also puts
the tables into ``BENCHMARKS.md`` between its ``run_all`` markers.

    bench/run_all                          # everything: ~22 min the first time, less after (see BENCHMARKS.md)
    bench/run_all --quick                  # smoke: tiny sizes, 1 run each
    bench/run_all --only peers scaling     # some steps
    bench/run_all --update-benchmarks-md   # and refresh BENCHMARKS.md
    bench/run_all --only throughput peers --baseline 57a5956   # before/after against an older commit

Before/after (``--baseline COMMIT``)
------------------------------------
Each chosen step runs on COMMIT's code ("old") as well as on the working tree ("new"),
with today's benchmark modules on both sides so the workload is identical
(``bench.common.baseline``: COMMIT is exported with ``git archive`` into a temporary
directory, today's ``bench/`` is linked into it, and every process of the old side --
the benchmark, the ``ledger`` nodes it starts, a cluster's nodes -- imports ``node``,
``client``, ``chaincode`` and ``evidence`` from the export; the working tree and its git
state are not touched). A step that can run one run at a time (``Step.alternate``:
``--runs 1``) alternates the sides per run, old, new, new, old, old, new, so that a
machine getting faster or slower during the run weighs on both sides alike; the others
run old, then new, each with its full number of runs. The runs of a side are merged
into one figure per name (every run kept; medians of 3 per side). In the peers step the
old side runs only our node (``--nodes ledger``): Ganache and anvil do not change with
our commits. ``run_all.md``/``.json`` get a before/after table (figure, old median, new
median, new / old); ``--update-benchmarks-md`` then writes only that table into
BENCHMARKS.md, between the ``run_all:baseline`` markers (the run's full tables stay in
``run_all.md``, so a before/after run of some steps does not replace the full run's
tables). With ``--quick`` each side runs once. A full before/after run of throughput,
chaincode, consensus and peers takes about twice those steps' time (~14 min here).
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, baseline, cli
from bench.common.machine import git_commit, machine_info, wait_for_idle
from bench.common.results import figure, machine_markdown, number, write_json

BEGIN_MARK = "<!-- run_all:begin (bench/run_all --update-benchmarks-md writes this part) -->"
END_MARK = "<!-- run_all:end -->"
BASELINE_BEGIN_MARK = "<!-- run_all:baseline:begin (bench/run_all --baseline COMMIT --update-benchmarks-md writes this part) -->"
BASELINE_END_MARK = "<!-- run_all:baseline:end -->"
OLD, NEW = "old", "new"


@dataclass(frozen=True)
class Step:
    name: str
    module: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout_s: float  # of the full run; --quick allows a quarter (at least 120 s)
    what: str
    # --baseline: the step takes --runs 1, so the sides alternate per run (else per step)
    alternate: bool = False
    # --baseline: extra arguments of the old side only (peers: our node only)
    baseline_args: tuple[str, ...] = ()


def steps(idle_wait: float) -> list[Step]:
    w = ("--idle-wait", f"{idle_wait:g}")
    return [
        Step("throughput", "bench.throughput", ("--runs", "3", *w), ("--quick", "--runs", "1"), 420,
             "single --dev node, N = 2,000 Storage.set calls, 3 fresh nodes; py-evm ceiling x3", alternate=True),
        Step("chaincode", "bench.chaincode", ("--contracts", "60", "--runs", "3", *w), ("--smoke",), 420,
             "60 e-contracts (register + 2 signatures) per run, end-to-end and node-only, 3 runs", alternate=True),
        Step("consensus", "bench.consensus", ("--validators", "4", "-n", "600", "--seconds", "8", "--runs", "3"),
             ("--validators", "4", "-n", "50", "--batch-size", "25", "--seconds", "2", "--rate", "10", "--runs", "1"), 480,
             "4 validators: 600 txs then 8 s at 20 tx/s, 3 runs (one cluster; with --baseline a fresh cluster per run)",
             alternate=True),
        Step("verify", "bench.chain_verify", ("--blocks", "1500", "--runs", "3", *w),
             ("--blocks", "200", "--runs", "1", "--idle-wait", "0"), 300,
             "1,500 blocks, 3 runs per configuration"),
        Step("queries", "bench.queries",
             ("--entries", "10000", "100000", "1000000", "--queries", "200", "--runs", "3", "--no-in-process",
              "--only", "digest", "case", "kind-50", "status", "party", "feed", "--dir", "{out}/qbench", "--keep", *w),
             ("--entries", "10000", "--queries", "20", "--runs", "1", "--no-in-process", "--idle-wait", "0",
              "--only", "digest", "case", "feed"), 900,
             "HTTP p50/p99 of 6 query types at 10k, 100k, 1M entries, 200 queries x 3 runs",
             # --baseline: the old code seeds (and keeps) its own data; one directory would be
             # re-seeded by each side in turn (bench.queries.index_code tells them apart)
             baseline_args=("--dir", "{out}/qbench-baseline")),
        # 100 transactions at B = 10,000: a run spans several block periods, so the ratio with a TSA /
        # without is not decided by which side of a block tick the last transaction lands on.
        Step("scaling", "bench.scaling", ("--txs-per-size", "1000", "200", "100", "10", "--runs", "3", "--tsa", "10000", *w),
             ("--quick", "--batch-sizes", "1", "100", "--txs-per-size", "4", "4", "--tsa", "100"), 600,
             "anchoring at batch sizes 1 (1,000 txs), 100, 10,000 (100 txs, and again with a TSA in the loop), "
             "100,000 (10 txs); receipts; evidence certificates; RSS and disk"),
        # ~3 min on a quiet machine; 900 s because on a machine loaded ~5x (load average 10 on
        # 2 cores) the full step took over 600 s and lost every figure to the timeout.
        Step("peers", "bench.peers", ("--runs", "3", *w), ("--quick",), 900,
             "ours vs Ganache vs anvil through web3.py: 2,000 writes, getLogs over 10,000 events, eth_call/s, "
             "each node's CPU per call and per getLogs query; the peers' block gas limit 1e9",
             baseline_args=("--nodes", "ledger")),
        # ~1 min on 2 idle cores (7 runs of every row, a few seconds each, plus the idle waits).
        Step("pdf_sign", "bench.pdf_signing", ("--runs", "7", *w), ("--quick",), 300,
             "a 20-page contract PDF, 2 parties (RSA-2048, P-256) with seals at B-B/B-T/B-LT, signed and verified; "
             "pyHanko bare and pdfsig alongside; 7 runs"),
    ]


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------
def run_step(step: Step, out: Path, *, quick: bool) -> dict[str, Any]:
    """Run ``step`` once as it is (its runs inside one process): its result for the report."""
    args = step.quick if quick else step.full
    result = run_invocation(step, args, out, step.name, quick=quick)
    what = f"smoke run: {' '.join(step.quick)}" if quick else step.what
    return {"name": step.name, "module": step.module, "what": what, **result}


def run_invocation(step: Step, args: Sequence[str], out: Path, label: str, *, quick: bool,
                   tree: baseline.BaselineTree | None = None) -> dict[str, Any]:
    """One process of ``step`` with ``args``; its log and figures are ``out/label.{log,json}``.

    With ``tree`` it runs on the baseline's code (``bench.common.baseline``): in the
    exported tree, with its environment."""
    figures_path = out / f"{label}.json"
    log_path = out / f"{label}.log"
    figures_path.unlink(missing_ok=True)
    args = [a.replace("{out}", str(out)) for a in args]
    argv = [sys.executable, "-m", step.module, *args, "--figures-out", str(figures_path)]
    timeout = max(120.0, step.timeout_s / 4) if quick else step.timeout_s
    where = f" (baseline {tree.ref})" if tree is not None else ""
    print(f"[run_all] {label}{where}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    status, error = "ok", ""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=tree.tree if tree is not None else REPO_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                env=tree.env() if tree is not None else None)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            code, status, error = None, "failed", f"timed out after {timeout:.0f} s"
        except BaseException:  # Ctrl-C, or SIGTERM (main turns it into SystemExit): the step goes too
            _kill_group(proc)
            raise
    seconds = time.monotonic() - started
    if code not in (0, None):
        status, error = "failed", f"exit code {code}"
    figures: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if status == "ok":
        try:
            doc = json.loads(figures_path.read_text())
            figures = doc["figures"]
            extra = {k: v for k, v in doc.items() if k not in ("figures", "machine", "bench")}
        except (OSError, ValueError, KeyError) as exc:
            status, error = "failed", f"no figures file ({exc})"
    if status != "ok":
        error += "\n" + _tail(log_path, 25)
    print(f"[run_all] {label}: {status} in {seconds:.0f} s, {len(figures)} figures", file=sys.stderr, flush=True)
    return {"argv": argv[1:], "status": status, "seconds": round(seconds, 1), "error": error.strip(),
            "figures": figures, "details": extra, "log": str(log_path.relative_to(out))}


# --------------------------------------------------------------------------
# --baseline: old and new sides, alternated, merged
# --------------------------------------------------------------------------
def runs_of(args: Sequence[str]) -> int:
    """The value of ``--runs`` in ``args`` (1 if absent: a smoke run is one run)."""
    for i, a in enumerate(args[:-1]):
        if a == "--runs":
            return int(args[i + 1])
    return 1


def with_one_run(args: Sequence[str]) -> tuple[str, ...]:
    """``args`` with ``--runs N`` made ``--runs 1``."""
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a == "--runs":
            out[i + 1] = "1"
    return tuple(out)


def side_order(runs: int, alternate: bool) -> list[str]:
    """The order of the sides' invocations: per run ABBA... (old, new, new, old, old, new for
    3 runs) when the step alternates, else old then new."""
    if not alternate:
        return [OLD, NEW]
    order: list[str] = []
    for i in range(runs):
        order += [OLD, NEW] if i % 2 == 0 else [NEW, OLD]
    return order


def merge_figures(parts: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One figure per name from several invocations' figures: every run kept, in order, and the
    median and spread recomputed over them (names in first-seen order)."""
    merged: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[float]] = {}
    for figures in parts:
        for f in figures:
            if f["name"] not in merged:
                merged[f["name"]], runs[f["name"]] = f, []
            runs[f["name"]] += f["runs"]
    return [figure(name, f["unit"], runs[name], better=f["better"], group=f.get("group", ""), note=f.get("note", ""))
            for name, f in merged.items()]


def combine_side(invocations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A side's result from its invocations: failed if any failed (their errors joined), figures
    merged from those that ran, details of the first that ran."""
    ok = [r for r in invocations if r["status"] == "ok"]
    failed = [r for r in invocations if r["status"] != "ok"]
    return {
        "status": "failed" if failed or not invocations else "ok",
        "error": "\n".join(f"{r['log']}: {r['error']}" for r in failed),
        "seconds": round(sum(r["seconds"] for r in invocations), 1),
        "figures": merge_figures([r["figures"] for r in ok]),
        "details": ok[0]["details"] if ok else {},
        "invocations": len(invocations),
    }


def run_step_with_baseline(step: Step, out: Path, tree: baseline.BaselineTree, *, quick: bool,
                           invoke: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """``step`` on both sides (``side_order``), merged: the new side is the step's result, as
    without a baseline; the old side is its ``baseline`` entry. ``invoke`` (tests) stands
    in for ``run_invocation``."""
    invoke = invoke or run_invocation
    args = step.quick if quick else step.full
    runs = runs_of(args)
    order = side_order(runs, step.alternate and runs > 1)
    one = with_one_run(args) if step.alternate and runs > 1 else tuple(args)
    done: dict[str, list[dict[str, Any]]] = {OLD: [], NEW: []}
    sequence = []
    for side in order:
        label = f"{step.name}.{side}{len(done[side]) + 1}"
        side_args = (*one, *step.baseline_args) if side == OLD else one
        result = invoke(step, side_args, out, label, quick=quick, tree=tree if side == OLD else None)
        done[side].append({**result, "side": side, "label": label})
        sequence.append(label)
    new, old = combine_side(done[NEW]), combine_side(done[OLD])
    what = f"smoke run: {' '.join(step.quick)}" if quick else step.what
    how = "alternated per run" if len(order) > 2 else "old, then new"
    return {
        "name": step.name, "module": step.module, "what": f"{what} (and on {tree.ref}: {how})",
        "argv": done[NEW][0]["argv"] if done[NEW] else [], "log": done[NEW][0]["log"] if done[NEW] else "",
        "status": new["status"], "seconds": round(new["seconds"] + old["seconds"], 1), "error": new["error"],
        "figures": new["figures"], "details": new["details"],
        "baseline": {**old, "commit": tree.commit, "args": [*one, *step.baseline_args]},
        "order": sequence,
        "invocations": [{k: r[k] for k in ("label", "side", "argv", "status", "seconds", "error", "log")}
                        | {"figures": {f["name"]: f["runs"] for f in r["figures"]}} for side in (OLD, NEW)
                        for r in done[side]],
    }


def before_after_rows(steps_results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every figure both sides of a step reported: old median, new median, new / old."""
    rows = []
    for s in steps_results:
        old = {f["name"]: f for f in s.get("baseline", {}).get("figures", [])}
        for f in s["figures"]:
            o = old.get(f["name"])
            if o is None:
                continue
            rows.append({"step": s["name"], "name": f["name"], "unit": f["unit"], "better": f["better"],
                         "old": o["median"], "old_runs": o["runs"], "new": f["median"], "new_runs": f["runs"],
                         "ratio": f["median"] / o["median"] if o["median"] else float("nan")})
    return rows


def before_after_markdown(report: dict[str, Any]) -> str:
    """The before/after table of a --baseline run (what goes between the baseline markers)."""
    b = report["baseline"]
    lines = [
        f"Run of `{report['command']}`: old = commit {b['commit'][:10]} ({b['ref']}), new = {report['commit']}, "
        f"{report['started']} to {report['finished']} ({report['seconds'] / 60:.1f} min); the same benchmark "
        "modules (today's) on both sides.",
        "",
        "| step | order of the runs | old | new |",
        "|---|---|---|---|",
    ]
    for s in report["steps"]:
        if "baseline" not in s:
            continue
        order = ", ".join(label.split(".", 1)[1] for label in s["order"])
        old_status = s["baseline"]["status"] if s["baseline"]["status"] == "ok" else "**failed**"
        new_status = s["status"] if s["status"] == "ok" else "**failed**"
        lines.append(f"| {s['name']} | {order} | {old_status} | {new_status} |")
    lines += ["", "| figure | unit | old median (runs) | new median (runs) | new / old |", "|---|---|---|---|---|"]
    for r in before_after_rows(report["steps"]):
        better = "↑" if r["better"] == "higher" else "↓"
        lines.append(f"| `{r['name']}` | {r['unit']} {better} | {number(r['old'])} ({runs_text(r['old_runs'])}) | "
                     f"{number(r['new'])} ({runs_text(r['new_runs'])}) | **{r['ratio']:.2f}×** |")
    for s in report["steps"]:
        if s.get("baseline", {}).get("status", "ok") != "ok":
            lines += ["", f"{s['name']} on the old side failed:", "", "```", s["baseline"]["error"], "```"]
    lines += ["", "↑ higher is better, ↓ lower is better: a new / old above 1 is a gain for ↑, a loss for ↓. "
              "Each median is over every run of its side (3 in a full run)."]
    return "\n".join(lines) + "\n"


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a step and every process it started (nodes, peers): SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------
def runs_text(runs: Sequence[float]) -> str:
    return ", ".join(number(v) for v in runs)


PEER_METRICS = (
    ("committed_tx_per_s", "(a) Storage.set calls after a deploy, committed tx/s"),
    ("get_logs_ms", "(b) eth_getLogs over all events, ms per query"),
    ("eth_call_per_s", "(c) eth_call per second"),
    ("get_logs_node_cpu_ms", "(b) the node's CPU per eth_getLogs query, ms"),
    ("node_cpu_ms_per_call", "(c) the node's CPU per eth_call, ms"),
)
PEERS = ("ganache", "anvil")


def peers_table(figures: dict[str, dict[str, Any]], details: dict[str, Any]) -> list[str]:
    """Side by side: each metric's median for ours, Ganache and anvil, and ours / theirs;
    then how each node ran (status, sealing, fee, peak memory) from the step's details."""
    if not any(name.startswith("peers.") for name in figures):
        return []
    nodes = details.get("peers", {})
    lines = ["| workload | ours (ledger --dev) | Ganache | anvil | ours / Ganache | ours / anvil |",
             "|---|---|---|---|---|---|"]
    for key, label in (("client_version", "version"), ("sealing", "sealing"), ("fee", "gas price"),
                       ("peak_rss_mib", "peak RSS, MiB"), ("bounds", "what bounds (a)")):
        cells = []
        for node in ("ledger", *PEERS):
            info = nodes.get(node, {})
            value = info.get(key) if info.get("status") == "ran" else info.get("status", "not run")
            cells.append(str(value) if value is not None else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " | | |")
    for key, part, label in (("client_cpu_ms_per_query", "logs", "web3.py's own CPU per getLogs query, ms"),
                             ("client_cpu_ms_per_call", "calls", "web3.py's own CPU per eth_call, ms")):
        cells = []
        for node in ("ledger", *PEERS):
            runs = [r[key] for r in nodes.get(node, {}).get(part, []) if key in r]
            cells.append(number(statistics.median(runs)) if runs else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " | | |")
    for key, label in PEER_METRICS:
        cells = []
        for node in ("ledger", *PEERS):
            f = figures.get(f"peers.{node}.{key}")
            ran = nodes.get(node, {}).get("status") == "ran"
            # a node that ran without this figure measured less than one clock tick of CPU
            cells.append(f"{number(f['median'])} (±{f['spread_pct']:.0f} %)" if f else "< 1 tick" if ran else "not run")
        for peer in PEERS:
            f = figures.get(f"peers.ratio.ledger_over_{peer}.{key}")
            cells.append(f"**{f['median']:.2f}×**" if f else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Medians of the runs, ± the spread (max - min) / median. A ratio is the median of per-run "
                 "ratios; for getLogs (lower is better) a ratio above 1 means ours is slower. The client's own "
                 "CPU (web3.py decoding and formatting) is part of (b) and (c) on every node; the node's CPU is "
                 "its process tree's over the timed loop, per query or call (the issue's node-side figures).")
    return lines


def markdown(report: dict[str, Any]) -> str:
    out = [
        f"Run of `{report['command']}` at commit {report['commit']}, {report['started']} to {report['finished']} "
        f"({report['seconds'] / 60:.1f} min).",
        "",
        *machine_markdown(report["machine"]),
        "",
        "| step | status | time | what |",
        "|---|---|---|---|",
    ]
    for s in report["steps"]:
        status = s["status"] if s["status"] == "ok" else f"**{s['status']}**: {s['error'].splitlines()[0]}"
        out.append(f"| {s['name']} | {status} | {s['seconds']:.0f} s | {s['what']} |")
    by_name = {f["name"]: f for s in report["steps"] for f in s["figures"]}
    peers: dict[str, Any] = next((s for s in report["steps"] if s["name"] == "peers"), {})
    side = peers_table(by_name, peers.get("details", {}))
    if side:
        out += ["", "#### Side by side: the same web3.py client against three nodes", "", *side]
    for s in report["steps"]:
        if not s["figures"]:
            continue
        out += ["", f"#### {s['name']}", "", "| figure | median | unit | spread | runs | what |", "|---|---|---|---|---|---|"]
        for f in s["figures"]:
            better = "↑" if f["better"] == "higher" else "↓"
            out.append(f"| `{f['name']}` | **{number(f['median'])}** | {f['unit']} {better} | {f['spread_pct']:.0f} % | "
                       f"{runs_text(f['runs'])} | {f['note']} |")
    failed = [s for s in report["steps"] if s["status"] != "ok"]
    for s in failed:
        out += ["", f"#### {s['name']} failed", "", "```", s["error"], "```"]
    out += ["", "↑ higher is better, ↓ lower is better. Spread = (max - min) / median of the runs."]
    if report.get("baseline"):
        out += ["", f"#### Before/after: {report['baseline']['ref']} (old) and {report['commit']} (new)", "",
                before_after_markdown(report).rstrip("\n")]
    return "\n".join(out) + "\n"


def update_benchmarks_md(path: Path, text: str, *, begin: str = BEGIN_MARK, end: str = END_MARK,
                         heading: str = "## All figures (`bench/run_all`)") -> None:
    """Replace what lies between the markers ``begin`` and ``end`` of BENCHMARKS.md (or append
    them under ``heading``)."""
    doc = path.read_text()
    block = f"{begin}\n{text}{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + f"\n\n{heading}\n\n" + block + "\n"
    tmp = path.with_suffix(".md.partial")
    tmp.write_text(doc)
    tmp.replace(path)


# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 1 run each (figures not representative)")
    p.add_argument("--only", nargs="+", metavar="STEP", help="only these steps")
    p.add_argument("--skip", nargs="+", metavar="STEP", default=[], help="leave these steps out")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results", help="output directory (default bench/results)")
    cli.add_idle_wait(p, 5.0)
    p.add_argument("--update-benchmarks-md", action="store_true", help="write the tables into BENCHMARKS.md too")
    p.add_argument("--baseline", metavar="COMMIT",
                   help="also run each step on COMMIT's code (git archive into a temporary directory) with today's "
                        "benchmark modules, alternated per run where a step allows; a before/after table")
    args = p.parse_args(argv)

    def terminated(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)  # a stopped run_all stops its running step (run_step)
    plan = steps(args.idle_wait)
    names = [s.name for s in plan]
    for name in (args.only or []) + args.skip:
        if name not in names:
            p.error(f"unknown step {name!r}; the steps are: {', '.join(names)}")
    plan = [s for s in plan if (not args.only or s.name in args.only) and s.name not in args.skip]
    args.out = args.out.resolve()  # the steps run with the repository as their directory
    args.out.mkdir(parents=True, exist_ok=True)

    command = " ".join(["bench/run_all", *(argv if argv is not None else sys.argv[1:])])
    info = machine_info()
    started = time.time()
    tree: baseline.BaselineTree | None = None
    if args.baseline:
        try:
            tree = baseline.prepare(args.baseline)
        except baseline.BaselineError as exc:
            p.error(str(exc))
        print(f"[run_all] baseline {args.baseline} = {tree.commit}, exported to {tree.tree}", file=sys.stderr, flush=True)
    try:
        idle = wait_for_idle(0 if args.quick else min(args.idle_wait * 6, 60))
        if tree is None:
            results = [run_step(step, args.out, quick=args.quick) for step in plan]
        else:
            results = [run_step_with_baseline(step, args.out, tree, quick=args.quick) for step in plan]
    finally:
        if tree is not None:
            tree.remove()
    finished = time.time()
    report = {
        "command": command,
        "quick": args.quick,
        "commit": git_commit(),
        "machine": info,
        "idle_at_start": idle,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(finished)),
        "seconds": round(finished - started, 1),
        "steps": results,
    }
    if tree is not None:
        report["baseline"] = {"ref": tree.ref, "commit": tree.commit,
                              "before_after": before_after_rows(results)}
    write_json(args.out / "run_all.json", report)
    text = markdown(report)
    (args.out / "run_all.md").write_text(text)
    if args.update_benchmarks_md and tree is None:
        update_benchmarks_md(REPO_ROOT / "BENCHMARKS.md", text)
    elif args.update_benchmarks_md:  # the before/after table only: the run's other tables stay in run_all.md
        update_benchmarks_md(REPO_ROOT / "BENCHMARKS.md", before_after_markdown(report),
                             begin=BASELINE_BEGIN_MARK, end=BASELINE_END_MARK,
                             heading="## Before and after in one run (`bench/run_all --baseline`)")
    print(text)
    print(f"[run_all] wrote {args.out / 'run_all.md'} and {args.out / 'run_all.json'} "
          f"({(finished - started) / 60:.1f} min)", file=sys.stderr)
    return 0 if all(s["status"] == "ok" and s.get("baseline", {}).get("status", "ok") == "ok" for s in results) else 1


if __name__ == "__main__":
    sys.exit(main())
