"""End-to-end throughput benchmark of the ledger dev node.

Committed transactions per second for ``Storage.set(key, value)`` calls
(tests/contracts/Storage.vy: one new mapping slot, a uint, a counter and an
event per call), sent through JSON-RPC from this process -- a separate process
from the node -- and compared with the same workload executed directly by
py-evm (``bench/evm_ceiling.py``).

What it does:

1. starts ``ledger node start --dev --data-dir <tmp> --rpc-host 127.0.0.1
   --rpc-port <free port>`` as a child process and waits for ``GET /healthz``;
   the dev account's key comes from ``<data-dir>/dev-account.json``;
2. deploys the contract from the dev account; pre-signs N legacy ``set`` calls
   with fresh keys from K senders, round-robin (not timed; fee = the node's
   ``eth_gasPrice``; K = ceil(N/50) by default, many users as a trading center
   has them);
3. timed: sends them as JSON-RPC batch requests of ``eth_sendRawTransaction``
   (one HTTP keep-alive connection, batches sent back to back) and follows new
   blocks (``eth_blockNumber`` every 25 ms, each new block read once) until
   every one of the N transactions is in a block -- the 1-validator dev chain's
   blocks are final when committed;
   committed tx/s = N / (first send -> block holding the last of the N seen);
4. checks that the contract's counter grew by exactly N (so every call
   succeeded) and the status of the first and last receipts;
5. samples the node's resident memory (VmRSS of the node and its children every
   50 ms, and VmHWM) and its CPU time;
6. stops the node (SIGTERM, then SIGKILL after a timeout) in ``finally``;
7. runs the py-evm ceiling with the same N (unless ``--no-ceiling``) and prints
   the node/ceiling ratio.

Everything stays on 127.0.0.1; every loop is bounded by a count and a deadline.

    .venv/bin/python -m bench.throughput                 # N=2000, batch 100
    .venv/bin/python -m bench.throughput --quick         # N=200, batch 50, smoke
    .venv/bin/python -m bench.throughput --url http://127.0.0.1:8545 \\
        --private-key 0x... [--pid PID]                  # an already running endpoint
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eth_account import Account

from bench.common import cli
from bench.common.contracts import CompiledContract, compile_contract
from bench.common.footprint import RssSampler
from bench.common.load import run_load
from bench.common.machine import machine_info, machine_rows
from bench.common.nodes import dev_node
from bench.common.profiling import profile_rows
from bench.common.results import figure, print_json_line, print_table, write_figures
from bench.common.rpc import Rpc
from bench.common.signing import default_senders
from bench.common.stats import median_run
from bench.evm_ceiling import run_ceiling

# The node's resident memory is sampled this often during a run (a transient peak lasts
# longer than this; VmHWM catches what falls between samples anyway).
RSS_SAMPLE_SECONDS = 0.05


def throughput_figures(runs: list[tuple[dict[str, Any], dict[str, Any], str]], ceiling: dict[str, Any] | None,
                       args: argparse.Namespace) -> list[dict[str, Any]]:
    group = "single node: Storage.set through JSON-RPC"
    work = f"N = {args.txs}, {args.senders} senders, JSON-RPC batches of {args.batch_size}, a fresh --dev node per run"
    out = [
        figure("throughput.node.committed_tx_per_s", "tx/s", [r["committed_tx_per_s"] for r, _, _ in runs], group=group, note=work),
        figure("throughput.node.accepted_tx_per_s", "tx/s", [r["accepted_tx_per_s"] for r, _, _ in runs], group=group,
               note="eth_sendRawTransaction batches accepted while blocks build"),
    ]
    if all(m for _, m, _ in runs):
        out.append(figure("throughput.node.peak_rss_mib", "MiB", [m["peak_rss_mib"] for _, m, _ in runs], better="lower",
                          group=group, note="VmHWM of the node's process tree, start-up included"))
    if ceiling:
        out.append(figure("throughput.ceiling.tx_per_s", "tx/s", ceiling["tx_per_s_runs"], group=group,
                          note=f"the same signed workload in stock py-evm, no node (blocks of {ceiling['block_size']})"))
        out.append(figure("throughput.node_over_ceiling", "%",
                          [100 * r["committed_tx_per_s"] / ceiling["tx_per_s_median"] for r, _, _ in runs], group=group,
                          note="each node run / the ceiling's median"))
    return out


def node_run(args: argparse.Namespace, contract: CompiledContract) -> tuple[dict[str, Any], dict[str, Any], str]:
    """One timed run against a fresh node (or the --url endpoint): (result, memory, target)."""
    if args.url:
        address = Account.from_key(args.private_key).address
        return measure(args, contract, Rpc(args.url), args.private_key, address, args.pid, args.url)
    with dev_node(args.ledger, prefix="ledger-bench-", ready_timeout=args.ready_timeout, extra_args=args.node_arg,
                  keep_data=args.keep_data) as node:
        address, key = node.dev_key()
        args.block_period = args.block_period or node.block_period()
        target = f"ledger node start --dev --data-dir <tmp> --rpc-host 127.0.0.1 --rpc-port {node.port} (pid {node.pid})"
        return measure(args, contract, Rpc(node.url), key, address, node.pid, target)


def measure(args: argparse.Namespace, contract: CompiledContract, rpc: Rpc, key: str, address: str, pid: int | None,
            target: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """``run_load`` on a node, its memory sampled if its ``pid`` is known."""
    sampler = RssSampler([pid], RSS_SAMPLE_SECONDS) if pid else None
    if sampler:
        sampler.start()
    try:
        res = run_load(
            rpc, key, address, n=args.txs, batch_size=args.batch_size, senders=args.senders,
            bytecode=contract.bytecode, pid=pid, timeout=args.timeout,
            py_spy=(args.py_spy_bin, Path(args.py_spy)) if args.py_spy else None, idle_wait=args.idle_wait,
        )
    finally:
        rpc.close()
        if sampler:
            sampler.stop()
    mem: dict[str, Any] = {}
    if sampler:
        (hwm,), (peak,) = sampler.hwm_kib(), sampler.peak_kib()
        mem = {
            "peak_rss_mib": round(max(hwm, peak) / 1024, 1),
            "vmhwm_mib": round(hwm / 1024, 1),
            "peak_sampled_rss_mib": round(peak / 1024, 1),
            "rss_samples": len(sampler.samples),
        }
    return res, mem, target


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("-n", "--txs", type=int, default=2000, help="transactions to send (default 2000)")
    p.add_argument("--batch-size", type=int, default=100, help="eth_sendRawTransaction calls per JSON-RPC batch (default 100)")
    p.add_argument("--senders", type=int, default=None, help="sending accounts, round-robin (default ceil(N/50))")
    cli.add_idle_wait(p, 30.0)
    cli.add_quick(p, "N=200, batch 50, ceiling N=200/B=100 x1, no idle wait")
    p.add_argument("--ceiling-block-size", type=int, default=500, help="txs per block in the py-evm ceiling (default 500)")
    p.add_argument("--ceiling-runs", type=int, default=3, help="ceiling runs, median reported (default 3)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the py-evm ceiling")
    cli.add_node_start(p, node_args=True)
    p.add_argument("--block-period", default=None, help="block period to report with --url (read from the data dir's genesis.json otherwise)")
    p.add_argument("--url", help="benchmark an already running loopback endpoint instead of starting a node")
    p.add_argument("--private-key", help="funded key for --url")
    p.add_argument("--pid", type=int, help="pid of the --url endpoint's process, for memory/CPU sampling")
    cli.add_timeout(p, 300.0)
    cli.add_py_spy(p, "during the timed section")
    cli.add_keep_data(p)
    cli.add_runs(p, 1, "timed runs, each on a fresh node; the tables show the median run")
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    cli.require_positive(p, args, "runs")
    if args.quick:
        args.txs, args.batch_size, args.ceiling_block_size, args.ceiling_runs, args.idle_wait = 200, 50, 100, 1, 0.0
    cli.require_positive(p, args, "txs", "batch_size")
    args.senders = args.senders or default_senders(args.txs)
    if args.url and not args.private_key:
        p.error("--url needs --private-key")

    info = machine_info()
    contract = compile_contract()
    runs = [node_run(args, contract) for _ in range(args.runs)]
    # The tables below show the run with the median committed tx/s; the figures keep every run.
    res, mem, target = median_run(runs, key=lambda r: r[0]["committed_tx_per_s"])

    ceiling = None
    if not args.no_ceiling:
        ceiling = run_ceiling(args.txs, args.ceiling_block_size, args.ceiling_runs, args.senders, idle_wait=args.idle_wait)
    ratio: float | None = res["committed_tx_per_s"] / ceiling["tx_per_s_median"] if ceiling else None

    rows = machine_rows(info) + [
        ("target", target),
        ("workload", "Storage.set(key, value), fresh key per tx, legacy txs"),
        ("contract", contract.source_note),
        ("N (txs)", res["n"]),
        ("senders (round-robin)", res["senders"]),
        ("JSON-RPC batch size", res["batch_size"]),
        ("block period", args.block_period or "unknown"),
        ("tx gas limit / gas used (last call)", f"{res['tx_gas_limit']} / {res['gas_used_per_tx']}"),
        ("block gas limit", res["block_gas_limit"]),
        ("blocks used", f"{res['blocks']} (#{res['first_block']}..#{res['last_block']}), max {res['max_txs_per_block']} txs/block"),
        ("txs per block", ", ".join(map(str, res["txs_per_block"][:20])) + (" ..." if len(res["txs_per_block"]) > 20 else "")),
        ("send phase", f"{res['send_s']:.2f} s ({res['accepted_tx_per_s']:.1f} tx/s accepted)"),
        ("first send -> last tx in a block", f"{res['commit_s']:.2f} s"),
        ("committed tx/s", f"{res['committed_tx_per_s']:.1f}"),
    ]
    if res["node_cpu_s"] is not None:
        rows.append(("node CPU during run", f"{res['node_cpu_s']:.1f} s ({100 * res['node_cpu_s'] / res['commit_s']:.0f} % of one core)"))
    iw = res["idle_wait"]
    if iw["idle"] is not None:
        rows.append(("idle machine before timed section", f"{'yes' if iw['idle'] else 'NO'} (waited {iw['waited_s']} s)"))
    rows.append(("load generator CPU during run", f"{res['loadgen_cpu_s']:.1f} s"))
    if res["other_processes_cpu_s"] is not None:
        rows.append((
            "other processes' CPU during run",
            f"{max(0.0, res['other_processes_cpu_s']):.1f} s (machine busy {res['machine_busy_cores']:.2f} of {info['cores']} cores)",
        ))
    if mem:
        rows.append(("node peak RSS (VmHWM / sampled)", f"{mem['vmhwm_mib']} MiB / {mem['peak_sampled_rss_mib']} MiB"))
    if ceiling:
        rows += [
            ("py-evm ceiling tx/s (median)", f"{ceiling['tx_per_s_median']:.1f} (runs: {', '.join(map(str, ceiling['tx_per_s_runs']))}; B={ceiling['block_size']})"),
            ("ceiling: other processes' CPU per run", ", ".join(
                f"{o} s of {t} s" for o, t in zip(ceiling["other_processes_cpu_s_per_run"], ceiling["seconds_per_run"]))),
            ("node / ceiling", f"{100 * ratio:.0f} %" if ratio is not None else "n/a"),
        ]
    print_table("ledger throughput (committed tx/s through JSON-RPC)", rows)
    if args.py_spy and Path(args.py_spy).exists():
        print_table(f"node profile (py-spy, {args.py_spy}): inclusive % / self % of active samples",
                    profile_rows(Path(args.py_spy), 20))
    targets = {
        "ratio_ge_60pct": (ratio >= 0.60) if ratio is not None else None,
        "tx_per_s_ge_500": res["committed_tx_per_s"] >= 500,
        "peak_rss_lt_300mb": (mem["peak_rss_mib"] * 2**20 < 300e6) if mem else None,
    }
    print_table("targets", [(k, {True: "met", False: "NOT met", None: "n/a"}[v]) for k, v in targets.items()])
    if args.figures_out:
        write_figures(args.figures_out, "throughput", throughput_figures(runs, ceiling, args),
                      n=args.txs, senders=args.senders, batch_size=args.batch_size, block_period=args.block_period)
    print_json_line(
        "THROUGHPUT_JSON",
        {"machine": info, "node": {k: v for k, v in res.items() if k != "txs_per_block"} | {"txs_per_block": res["txs_per_block"]}, "memory": mem, "ceiling": ceiling, "ratio": ratio, "targets": targets},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
