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
           ``eth_call`` per second, and the ratios ours / theirs
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
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, cli
from bench.common.machine import git_commit, machine_info, wait_for_idle
from bench.common.results import machine_markdown, number, write_json

BEGIN_MARK = "<!-- run_all:begin (bench/run_all --update-benchmarks-md writes this part) -->"
END_MARK = "<!-- run_all:end -->"


@dataclass(frozen=True)
class Step:
    name: str
    module: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout_s: float  # of the full run; --quick allows a quarter (at least 120 s)
    what: str


def steps(idle_wait: float) -> list[Step]:
    w = ("--idle-wait", f"{idle_wait:g}")
    return [
        Step("throughput", "bench.throughput", ("--runs", "3", *w), ("--quick", "--runs", "1"), 420,
             "single --dev node, N = 2,000 Storage.set calls, 3 fresh nodes; py-evm ceiling x3"),
        Step("chaincode", "bench.chaincode", ("--contracts", "60", "--runs", "3", *w), ("--smoke",), 420,
             "60 e-contracts (register + 2 signatures) per run, end-to-end and node-only, 3 runs"),
        Step("consensus", "bench.consensus", ("--validators", "4", "-n", "600", "--seconds", "8", "--runs", "3"),
             ("--validators", "4", "-n", "50", "--batch-size", "25", "--seconds", "2", "--rate", "10", "--runs", "1"), 480,
             "4 validators: 600 txs then 8 s at 20 tx/s, 3 runs on one cluster"),
        Step("verify", "bench.chain_verify", ("--blocks", "1500", "--runs", "3", *w),
             ("--blocks", "200", "--runs", "1", "--idle-wait", "0"), 300,
             "1,500 blocks, 3 runs per configuration"),
        Step("queries", "bench.queries",
             ("--entries", "10000", "100000", "1000000", "--queries", "200", "--runs", "3", "--no-in-process",
              "--only", "digest", "case", "kind-50", "status", "party", "feed", "--dir", "{out}/qbench", "--keep", *w),
             ("--entries", "10000", "--queries", "20", "--runs", "1", "--no-in-process", "--idle-wait", "0",
              "--only", "digest", "case", "feed"), 900,
             "HTTP p50/p99 of 6 query types at 10k, 100k, 1M entries, 200 queries x 3 runs"),
        # 100 transactions at B = 10,000: a run spans several block periods, so the ratio with a TSA /
        # without is not decided by which side of a block tick the last transaction lands on.
        Step("scaling", "bench.scaling", ("--txs-per-size", "1000", "200", "100", "10", "--runs", "3", "--tsa", "10000", *w),
             ("--quick", "--batch-sizes", "1", "100", "--txs-per-size", "4", "4", "--tsa", "100"), 600,
             "anchoring at batch sizes 1 (1,000 txs), 100, 10,000 (100 txs, and again with a TSA in the loop), "
             "100,000 (10 txs); receipts; evidence certificates; RSS and disk"),
        Step("peers", "bench.peers", ("--runs", "3", *w), ("--quick",), 600,
             "ours vs Ganache vs anvil through web3.py: 2,000 writes, getLogs over 10,000 events, eth_call/s"),
        # ~1 min on 2 idle cores (7 runs of every row, a few seconds each, plus the idle waits).
        Step("pdf_sign", "bench.pdf_signing", ("--runs", "7", *w), ("--quick",), 300,
             "a 20-page contract PDF, 2 parties (RSA-2048, P-256) with seals at B-B/B-T/B-LT, signed and verified; "
             "pyHanko bare and pdfsig alongside; 7 runs"),
    ]


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------
def run_step(step: Step, out: Path, *, quick: bool) -> dict[str, Any]:
    figures_path = out / f"{step.name}.json"
    log_path = out / f"{step.name}.log"
    figures_path.unlink(missing_ok=True)
    args = [a.replace("{out}", str(out)) for a in (step.quick if quick else step.full)]
    argv = [sys.executable, "-m", step.module, *args, "--figures-out", str(figures_path)]
    timeout = max(120.0, step.timeout_s / 4) if quick else step.timeout_s
    print(f"[run_all] {step.name}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    status, error = "ok", ""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
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
    print(f"[run_all] {step.name}: {status} in {seconds:.0f} s, {len(figures)} figures", file=sys.stderr, flush=True)
    what = f"smoke run: {' '.join(step.quick)}" if quick else step.what
    return {"name": step.name, "module": step.module, "argv": argv[1:], "what": what, "status": status,
            "seconds": round(seconds, 1), "error": error.strip(), "figures": figures, "details": extra,
            "log": str(log_path.relative_to(out))}


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
                       ("peak_rss_mib", "peak RSS, MiB")):
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
            cells.append(f"{number(f['median'])} (±{f['spread_pct']:.0f} %)" if f else "not run")
        for peer in PEERS:
            f = figures.get(f"peers.ratio.ledger_over_{peer}.{key}")
            cells.append(f"**{f['median']:.2f}×**" if f else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Medians of the runs, ± the spread (max - min) / median. A ratio is the median of per-run "
                 "ratios; for getLogs (lower is better) a ratio above 1 means ours is slower. The client's own "
                 "CPU (web3.py decoding and formatting) is part of (b) and (c) on every node.")
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
    return "\n".join(out) + "\n"


def update_benchmarks_md(path: Path, text: str) -> None:
    """Replace what lies between the run_all markers of BENCHMARKS.md (or append them)."""
    doc = path.read_text()
    block = f"{BEGIN_MARK}\n{text}{END_MARK}"
    if BEGIN_MARK in doc and END_MARK in doc:
        head, rest = doc.split(BEGIN_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + "\n\n## All figures (`bench/run_all`)\n\n" + block + "\n"
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
    idle = wait_for_idle(0 if args.quick else min(args.idle_wait * 6, 60))
    results = [run_step(step, args.out, quick=args.quick) for step in plan]
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
    write_json(args.out / "run_all.json", report)
    text = markdown(report)
    (args.out / "run_all.md").write_text(text)
    if args.update_benchmarks_md:
        update_benchmarks_md(REPO_ROOT / "BENCHMARKS.md", text)
    print(text)
    print(f"[run_all] wrote {args.out / 'run_all.md'} and {args.out / 'run_all.json'} "
          f"({(finished - started) / 60:.1f} min)", file=sys.stderr)
    return 0 if all(s["status"] == "ok" for s in results) else 1


if __name__ == "__main__":
    sys.exit(main())
