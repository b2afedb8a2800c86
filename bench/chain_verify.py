"""Speed of ``ledger chain verify`` on a data directory, in blocks per second.

What it does:

1. forks the verifier's worker processes (before anything opens LevelDB, as the CLI does);
2. builds a chain in a temporary data directory, in process (no RPC, not timed): a
   single-validator genesis funding one account, then B blocks; every ``--tx-every``-th
   block carries ``--txs`` signed transfers (legacy and dynamic-fee, alternating), the
   others none - the dev node makes a block per second while transactions wait and an
   empty one every 60 s otherwise. Blocks are executed, sealed and committed by
   ``node.execution.chain.Chain`` as the node commits them;
3. timed, R runs each, after waiting for an idle machine: ``node.verify.chain.verify_chain`` over
   the whole chain from a ``DataDirSource`` (the walk ``ledger chain verify --data-dir``
   runs, without the process start-up and imports), genesis checked against the stored
   genesis document:

   * without re-execution, in the walking process only (``--workers 1``);
   * without re-execution, with the worker processes (the CLI's default: usable cores);
   * with ``--reexecute`` (every block executed again on its parent's state);

   blocks/s = checked blocks (genesis included) / wall seconds; the median of R runs.

Target (the issue): >= 2,000 blocks/s without re-execution.

    .venv/bin/python -m bench.chain_verify                  # 5,000 blocks, 3 runs
    .venv/bin/python -m bench.chain_verify --quick          # 500 blocks, 1 run, no idle wait
    .venv/bin/python -m bench.chain_verify --keep /tmp/dd   # also keep the data directory
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account

from bench.common import cli
from bench.common.machine import machine_info, machine_rows, wait_for_idle
from bench.common.results import figure, print_json_line, print_table, write_figures
from node.consensus.sealing import ValidatorKey, proposal_extra, with_seals
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER
from node.service import CHAIN_DIR
from node.storage.store import LevelStore
from node.verify.chain import InspectionPool, verify_chain
from node.verify.replay import ChainReplayer
from node.verify.sources import DataDirSource, stored_genesis

CHAIN_ID = 1337
# Fixed test-only keys: the validator and the funded sender.
VALIDATOR_SECRET = bytes.fromhex("0b" * 32)
SENDER_KEY = "0x" + "0c" * 32
SINK = "0x" + "11" * 20
TARGET_BLOCKS_PER_S = 2_000


def build_chain(data_dir: Path, *, blocks: int, tx_every: int, txs_per_block: int) -> dict[str, Any]:
    """A data directory (DATA_DIR/chain) holding `blocks` blocks after genesis."""
    validator = ValidatorKey(VALIDATOR_SECRET)
    sender = Account.from_key(SENDER_KEY)
    sender_address = bytes.fromhex(sender.address[2:])
    genesis = Genesis.parse(build_genesis_document(
        chain_id=CHAIN_ID, validators=[validator.address], alloc={sender_address: 10**24},
        members=[(sender_address, "ADMIN")]))
    started = time.perf_counter()
    store = LevelStore(data_dir / CHAIN_DIR)
    nonce = transactions = 0
    try:
        chain = Chain.initialise(store, genesis)
        for number in range(1, blocks + 1):
            txs = []
            if number % tx_every == 0:
                for _ in range(txs_per_block):
                    fields: dict[str, Any] = {"nonce": nonce, "gas": 21_000, "to": SINK, "value": 1, "chainId": CHAIN_ID}
                    if nonce % 2:
                        fields.update(type=2, maxFeePerGas=0, maxPriorityFeePerGas=0)
                    else:
                        fields["gasPrice"] = 0
                    txs.append(TRANSACTION_BUILDER.decode(bytes(sender.sign_transaction(fields).raw_transaction)))
                    nonce += 1
            built = chain.build_block(txs, timestamp=chain.head.timestamp + 1, coinbase=validator.address,
                                      extra=proposal_extra(chain.validators_after(chain.head), 0))
            if built.rejected:
                raise RuntimeError(f"block {number}: {built.rejected[0].reason}")
            chain.commit(with_seals(built.header, [validator.commit_seal(built.header)]), built,
                         [sender_address] * len(txs))
            transactions += len(txs)
    finally:
        store.close()
    size = sum(p.stat().st_size for p in (data_dir / CHAIN_DIR).iterdir())
    return {"blocks": blocks, "transactions": transactions, "build_s": time.perf_counter() - started, "bytes": size}


def time_walk(data_dir: Path, *, pool: Any, reexecute: bool) -> tuple[float, int]:
    """(seconds, blocks checked) of one whole-chain walk from the data directory."""
    started = time.perf_counter()
    source = DataDirSource(data_dir / CHAIN_DIR)
    try:
        genesis = stored_genesis(source.store)
        replayer = ChainReplayer(source.store, genesis, permissioned=False) if reexecute else None
        summary = verify_chain(source, genesis=genesis, replayer=replayer, pool=pool)
    finally:
        source.close()
    return time.perf_counter() - started, summary.blocks


def measure(key: str, label: str, runs: int, idle_wait: float, walk: Callable[[], tuple[float, int]]) -> dict[str, Any]:
    rates, idle = [], []
    for _ in range(runs):
        idle.append(wait_for_idle(idle_wait))
        seconds, blocks = walk()
        rates.append(blocks / seconds)
    result = {"key": key, "label": label, "blocks_per_s": statistics.median(rates), "runs": [round(r) for r in rates], "idle": idle,
              "rates": rates}
    print_json_line("RESULT", result)
    return result


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("-b", "--blocks", type=int, default=5_000, help="blocks after genesis (default 5000)")
    p.add_argument("--tx-every", type=int, default=10, help="every N-th block carries transactions (default 10)")
    p.add_argument("--txs", type=int, default=10, help="transfers in such a block (default 10)")
    cli.add_runs(p, 3, "runs per configuration; the median is reported", short=True)
    p.add_argument("--replay-runs", type=int, default=None, help="runs with --reexecute (default: --runs)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the usable cores)")
    cli.add_idle_wait(p, 30.0, before="each run")
    p.add_argument("--keep", type=Path, default=None, help="copy the data directory here at the end")
    cli.add_quick(p, "500 blocks, 1 run each, no idle wait")
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    if args.quick:
        args.blocks, args.runs, args.idle_wait = 500, 1, 0.0
    cli.require_positive(p, args, "blocks", "runs")

    workers = args.workers or InspectionPool.usable_cores()
    info = machine_info()
    pool = InspectionPool.start(workers)  # forked first: nothing has opened LevelDB yet
    tmp = Path(tempfile.mkdtemp(prefix="chain-verify-bench-"))
    try:
        data_dir = tmp / "data"
        chain = build_chain(data_dir, blocks=args.blocks, tx_every=args.tx_every, txs_per_block=args.txs)
        print_json_line("CHAIN", chain)
        replay_runs = args.runs if args.replay_runs is None else args.replay_runs  # 0: skip re-execution
        results = [
            measure("one_process", "without re-execution, 1 process", args.runs, args.idle_wait,
                    lambda: time_walk(data_dir, pool=None, reexecute=False)),
            measure("workers", f"without re-execution, {workers} worker processes", args.runs, args.idle_wait,
                    lambda: time_walk(data_dir, pool=pool, reexecute=False)),
        ]
        if replay_runs:
            results.append(measure("reexecute", "with --reexecute", replay_runs, args.idle_wait,
                                   lambda: time_walk(data_dir, pool=pool, reexecute=True)))
        if args.keep is not None:
            shutil.copytree(data_dir, args.keep)
    finally:
        if pool is not None:
            pool.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rows: list[tuple[str, Any]] = machine_rows(info) + [
        ("chain", f"{chain['blocks'] + 1:,} blocks (genesis included), {chain['transactions']:,} transfers "
                  f"(every {args.tx_every}th block carries {args.txs}), {chain['bytes'] / 1e6:.1f} MB of LevelDB"),
        ("chain built in (not timed)", f"{chain['build_s']:.1f} s"),
    ]
    rows += [(f"verify, {r['label']} (median of {len(r['runs'])})", f"{r['blocks_per_s']:,.0f} blocks/s  runs {r['runs']}")
             for r in results]
    print_table("ledger chain verify --data-dir: blocks per second", rows)
    if args.figures_out:
        chain_text = f"{chain['blocks'] + 1:,} blocks, {chain['transactions']:,} transfers"
        write_figures(args.figures_out, "chain_verify", [
            figure(f"chain_verify.{r['key']}.blocks_per_s", "blocks/s", r["rates"], group="ledger chain verify --data-dir",
                   note=f"{r['label']}; {chain_text}") for r in results], chain=chain, workers=workers)
    best = max(r["blocks_per_s"] for r in results[:2])
    print_table(f"target: >= {TARGET_BLOCKS_PER_S:,} blocks/s without re-execution",
                [("best configuration", f"{best:,.0f} blocks/s: {'met' if best >= TARGET_BLOCKS_PER_S else 'NOT met'}")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
