"""Consensus benchmark: committed tx/s and finality latency of a local QBFT cluster.

For each validator count (default 4, then 1 for comparison) it:

1. creates a cluster with ``node.ops.cluster.create.create_cluster`` (real node processes on
   loopback ports, mutual TLS between them, 1-second block period; ``bench.common.nodes.
   running_cluster``), whose genesis registers the workload's sending accounts as members;
2. throughput: deploys tests/contracts/Storage.vy and sends N pre-signed
   ``Storage.set`` calls from K senders as JSON-RPC batches to validator-0 (the others
   receive them by gossip), following new blocks until all N are in one
   (``bench.common.load.run_load``, as ``bench/throughput.py`` does: committed tx/s =
   N / (first send -> block holding the last seen); the contract's counter must grow by
   exactly N);
3. finality latency: sends one transfer every 1/R seconds for D seconds, each to the
   next node round-robin, while a second thread follows new blocks every 10 ms on
   validator-0; latency = block seen holding the transaction - its submit time. A QBFT
   block is final when committed, so this is submit -> final receipt. Reports p50, p99
   (nearest rank), max;
4. stops the cluster.

    .venv/bin/python -m bench.consensus                    # 4 then 1 validators
    .venv/bin/python -m bench.consensus --validators 4 --quick
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from eth_account import Account

from bench.common import cli
from bench.common.contracts import CompiledContract, compile_contract
from bench.common.load import BlockFollower, run_load
from bench.common.machine import machine_info, machine_rows
from bench.common.nodes import running_cluster
from bench.common.results import figure, print_json_line, print_table, write_figures
from bench.common.rpc import Rpc
from bench.common.signing import TRANSFER_GAS, default_senders, tx_hash, workload_keys
from bench.common.stats import median_run, percentile
from node.ops.cluster.layout import load_admin_account, load_admin_token

# The latency follower asks for the head this often: the resolution of a latency figure.
LATENCY_POLL_SECONDS = 0.01
# After the last submission, the latency transactions get this long to be in blocks.
LATENCY_DRAIN_SECONDS = 120.0
LATENCY_SINK = "0x" + "22" * 20  # the latency transfers' recipient (nobody's key)


def measure_latency(
    urls: list[str], private_key: str, *, rate: float, seconds: float, chain_id: int, token: str | None = None,
) -> dict[str, Any]:
    """Steady load at `rate` tx/s; per transaction, submit -> seen in a block on validator-0.

    One follower per node would be fairer to round-robin submission; blocks are final
    everywhere within milliseconds of each other, so following validator-0 suffices."""
    account = Account.from_key(private_key)
    rpcs = [Rpc(u, token=token) for u in urls]
    nonce = rpcs[0].pending_nonce(account.address)
    count = int(rate * seconds)
    raws = [
        bytes(account.sign_transaction({"to": LATENCY_SINK, "value": 0, "gas": TRANSFER_GAS, "gasPrice": 0,
                                        "nonce": nonce + i, "chainId": chain_id}).raw_transaction)
        for i in range(count)
    ]
    hashes = [tx_hash(r) for r in raws]
    submitted: dict[str, float] = {}
    follower = BlockFollower(Rpc(urls[0], token=token), after=int(rpcs[0].call("eth_blockNumber"), 16),
                             poll=LATENCY_POLL_SECONDS)
    follower.start()
    try:
        began = time.perf_counter()
        for i, raw in enumerate(raws):
            due = began + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            submitted[hashes[i]] = time.perf_counter()
            rpcs[i % len(rpcs)].call("eth_sendRawTransaction", ["0x" + raw.hex()])
        follower.wait_all(hashes, time.monotonic() + LATENCY_DRAIN_SECONDS)
    finally:
        follower.stop()
        for rpc in rpcs:
            rpc.close()
    latencies = [s[1] - submitted[h] for h, s in zip(hashes, follower.lookup(hashes)) if s is not None]  # wait_all: every one
    return {
        "rate": rate, "seconds": seconds, "count": count,
        "p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99),
        "max_s": max(latencies), "mean_s": statistics.fmean(latencies),
    }


def run(validators: int, args: argparse.Namespace, contract: CompiledContract) -> dict[str, Any]:
    senders = args.senders or default_senders(args.txs)
    keys = workload_keys(senders + 1)
    members = [(bytes.fromhex(Account.from_key(k).address[2:]), "PARTY") for k in keys]
    with running_cluster(validators, prefix=f"bench-qbft{validators}-", block_period=1,
                         empty_block_period=args.empty_block_period, request_timeout=args.request_timeout,
                         members=members) as (directory, layout):
        urls = [n.rpc_url for n in layout.validators]
        admin = load_admin_account(directory)
        token = load_admin_token(directory)  # cluster nodes require a role token
        rpc = Rpc(urls[0], timeout=120, token=token)
        loads, latencies = [], []
        for _ in range(args.runs):  # each run deploys its own contract on the same cluster
            loads.append(run_load(
                rpc, admin.private_key, admin.address, n=args.txs, batch_size=args.batch_size, senders=senders,
                bytecode=contract.bytecode, pid=None, timeout=args.timeout,
            ))
            latencies.append(measure_latency(urls, keys[-1], rate=args.rate, seconds=args.seconds,
                                             chain_id=layout.chain_id, token=token))
        rpc.close()
    return {"validators": validators,
            "throughput": median_run(loads, key=lambda r: r["committed_tx_per_s"]),
            "latency": median_run(latencies, key=lambda r: r["p50_s"]),
            "throughput_runs": loads, "latency_runs": latencies}


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--validators", type=int, action="append", help="validator count (repeatable; default 4 and 1)")
    p.add_argument("-n", "--txs", type=int, default=2000, help="throughput transactions (default 2000)")
    p.add_argument("--batch-size", type=int, default=100, help="eth_sendRawTransaction calls per JSON-RPC batch (default 100)")
    p.add_argument("--senders", type=int, default=None, help="sending accounts (default ceil(N/50))")
    p.add_argument("--rate", type=float, default=20.0, help="latency phase: transactions per second (default 20)")
    p.add_argument("--seconds", type=float, default=30.0, help="latency phase: duration (default 30)")
    p.add_argument("--empty-block-period", type=int, default=60, help="genesis emptyblockperiodseconds (default 60)")
    p.add_argument("--request-timeout", type=int, default=4, help="genesis QBFT requesttimeoutseconds (default 4)")
    cli.add_timeout(p, 300.0, "each throughput run's timed section")
    cli.add_quick(p, "N=200, 10 s of latency")
    cli.add_runs(p, 1, "throughput and latency runs on each cluster; tables show the median run")
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    cli.require_positive(p, args, "runs")
    if args.quick:
        args.txs, args.batch_size, args.seconds = 200, 50, 10.0
    counts = args.validators or [4, 1]
    info = machine_info()
    contract = compile_contract()
    results = [run(v, args, contract) for v in counts]
    print_table("machine", machine_rows(info))
    rows = []
    for r in results:
        t, lat = r["throughput"], r["latency"]
        rows.append((f"{r['validators']} validator(s)",
                     f"{t['committed_tx_per_s']:.0f} committed tx/s ({t['n']} txs, {t['blocks']} blocks, "
                     f"max {t['max_txs_per_block']}/block); finality p50 {lat['p50_s']:.2f} s, "
                     f"p99 {lat['p99_s']:.2f} s, max {lat['max_s']:.2f} s at {lat['rate']:.0f} tx/s"))
    print_table("QBFT cluster (1-second block period)", rows)
    for r in results:
        print_json_line("consensus", r)
    if args.figures_out:
        figures = []
        for r in results:
            v, group = r["validators"], "QBFT cluster on loopback, 1-second block period"
            figures += [
                figure(f"consensus.v{v}.committed_tx_per_s", "tx/s", [t["committed_tx_per_s"] for t in r["throughput_runs"]],
                       group=group, note=f"{v} validator(s), N = {args.txs} Storage.set calls sent to validator-0"),
                figure(f"consensus.v{v}.finality_p50_s", "s", [t["p50_s"] for t in r["latency_runs"]], better="lower",
                       group=group, note=f"{v} validator(s): submit -> in a committed block, {args.rate:g} tx/s for {args.seconds:g} s"),
                figure(f"consensus.v{v}.finality_p99_s", "s", [t["p99_s"] for t in r["latency_runs"]], better="lower",
                       group=group, note=f"{v} validator(s), p99 of a run"),
            ]
        write_figures(args.figures_out, "consensus", figures, txs=args.txs, rate=args.rate, seconds=args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
