"""Consensus benchmark: committed tx/s and finality latency of a local QBFT cluster.

For each validator count (default 4, then 1 for comparison) it:

1. creates a cluster with `node.cluster.create_cluster` (real node processes on loopback
   ports, mutual TLS between them, 1-second block period), whose genesis registers the
   workload's sending accounts as members;
2. throughput: deploys tests/contracts/Storage.vy and sends N pre-signed
   ``Storage.set`` calls from K senders as JSON-RPC batches to validator-0 (the others
   receive them by gossip), following new blocks until all N are in one
   (``bench/throughput.py``'s ``run_load``: committed tx/s = N / (first send -> block
   holding the last seen); the contract's counter must grow by exactly N);
3. finality latency: sends one transfer every 1/R seconds for D seconds, each to the
   next node round-robin, while a second thread follows new blocks every 10 ms on that
   node; latency = block seen holding the transaction - its submit time. A QBFT block
   is final when committed, so this is submit -> final receipt. Reports p50, p99, max;
4. stops the cluster.

    .venv/bin/python bench/consensus.py                    # 4 then 1 validators
    .venv/bin/python bench/consensus.py --validators 4 --quick
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    compile_storage_contract,
    default_senders,
    machine_info,
    figure,
    machine_rows,
    print_json_line,
    print_table,
    workload_keys,
    write_figures,
)
from bench.throughput import Rpc, run_load  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure_latency(
    urls: list[str], private_key: str, *, rate: float, seconds: float, chain_id: int, token: str | None = None,
) -> dict[str, Any]:
    """Steady load at `rate` tx/s; per transaction, submit -> seen in a block on its node."""
    from eth_account import Account
    from eth_utils import keccak

    account = Account.from_key(private_key)
    rpcs = [Rpc(u, token=token) for u in urls]
    nonce = int(rpcs[0].call("eth_getTransactionCount", [account.address, "pending"]), 16)
    count = int(rate * seconds)
    raws = [
        account.sign_transaction({"to": "0x" + "22" * 20, "value": 0, "gas": 21_000, "gasPrice": 0,
                                  "nonce": nonce + i, "chainId": chain_id}).raw_transaction
        for i in range(count)
    ]
    hashes = ["0x" + keccak(r).hex() for r in raws]
    submitted: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    start_block = int(rpcs[0].call("eth_blockNumber"), 16)

    def follow() -> None:
        # One follower per node would be fairer to round-robin submission; blocks are final
        # everywhere within milliseconds of each other, so following validator-0 suffices.
        rpc = Rpc(urls[0], token=token)
        next_block = start_block + 1
        deadline = time.monotonic() + seconds + 120
        while time.monotonic() < deadline and not (stop.is_set() and len(seen) == count):
            head = int(rpc.call("eth_blockNumber"), 16)
            while next_block <= head:
                block = rpc.call("eth_getBlockByNumber", [hex(next_block), False])
                now = time.perf_counter()
                for tx_hash in block["transactions"]:
                    seen.setdefault(tx_hash.lower(), now)
                next_block += 1
            time.sleep(0.01)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    began = time.perf_counter()
    for i, raw in enumerate(raws):
        due = began + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        submitted[hashes[i]] = time.perf_counter()
        rpcs[i % len(rpcs)].call("eth_sendRawTransaction", ["0x" + raw.hex()])
    stop.set()
    follower.join(timeout=seconds + 130)
    missing = [h for h in hashes if h not in seen]
    if missing:
        raise RuntimeError(f"{len(missing)} of {count} latency transactions never seen in a block")
    latencies = [seen[h] - submitted[h] for h in hashes]
    return {
        "rate": rate, "seconds": seconds, "count": count,
        "p50_s": percentile(latencies, 0.50), "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies), "mean_s": statistics.fmean(latencies),
    }


def run(validators: int, args: argparse.Namespace, contract: Any) -> dict[str, Any]:
    from eth_account import Account

    from node.ops.cluster import (
        create_cluster, load_admin_account, load_admin_token, load_cluster, start_cluster, stop_cluster,
    )

    senders = args.senders or default_senders(args.txs)
    keys = workload_keys(senders + 1)
    members = [(bytes.fromhex(Account.from_key(k).address[2:]), "PARTY") for k in keys]
    with tempfile.TemporaryDirectory(prefix=f"bench-qbft{validators}-") as tmp:
        directory = Path(tmp) / "cluster"
        create_cluster(directory, validators, block_period=1, empty_block_period=args.empty_block_period,
                       request_timeout=args.request_timeout, members=members)
        start_cluster(directory, die_with_parent=True)
        try:
            layout = load_cluster(directory)
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
        finally:
            stop_cluster(directory)

    def middle(results: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return sorted(results, key=lambda r: r[key])[(len(results) - 1) // 2]

    return {"validators": validators, "throughput": middle(loads, "committed_tx_per_s"), "latency": middle(latencies, "p50_s"),
            "throughput_runs": loads, "latency_runs": latencies}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--validators", type=int, action="append", help="validator count (repeatable; default 4 and 1)")
    p.add_argument("-n", "--txs", type=int, default=2000, help="throughput transactions (default 2000)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--senders", type=int, default=None, help="sending accounts (default ceil(N/50))")
    p.add_argument("--rate", type=float, default=20.0, help="latency phase: transactions per second (default 20)")
    p.add_argument("--seconds", type=float, default=30.0, help="latency phase: duration (default 30)")
    p.add_argument("--empty-block-period", type=int, default=60)
    p.add_argument("--request-timeout", type=int, default=4)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--quick", action="store_true", help="smoke run: N=200, 10 s of latency")
    p.add_argument("--runs", type=int, default=1, help="throughput and latency runs on each cluster; tables show the median run (default 1)")
    p.add_argument("--figures-out", type=Path, help="write every run's figures here (for bench/run_all)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    if args.quick:
        args.txs, args.batch_size, args.seconds = 200, 50, 10.0
    counts = args.validators or [4, 1]
    info = machine_info()
    contract = compile_storage_contract()
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
