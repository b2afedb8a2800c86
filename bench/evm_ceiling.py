"""py-evm ceiling for the ledger throughput benchmark.

Executes the benchmark workload -- N pre-signed ``Storage.set(key, value)``
calls, each writing a fresh mapping slot, a uint, a counter and emitting an
event -- directly with py-evm (Cancun rules), with no node, no RPC and no disk:

* a ``MiningChain`` configured with ``CancunVM`` over an in-memory ``AtomicDB``;
* a genesis with ``base_fee_per_gas = 0`` and a 1e9 gas limit that funds the
  sender; blocks of B txs use far less than the gas target (limit / 2), so the
  EIP-1559 base fee stays at 0 and legacy transactions with ``gasPrice = 0``
  stay valid -- the same zero-fee regime as the ledger;
* the contract is deployed in its own block (not timed);
* N ``set`` calls from K senders (round-robin, default K = ceil(N/50), the same
  as bench/throughput.py) are signed with eth-account beforehand (not timed);
* timed: decoding the raw transactions, sender recovery (coincurve, through
  eth-keys), ``vm.apply_all_transactions`` + ``set_block_transactions_and_withdrawals``
  + ``mine_block`` + ``persist_block`` for each block of B transactions -- i.e.
  ``MiningChain.mine_all``, one database batch per block as the node does.

Reported figure: tx/s, the median of R runs (each on a fresh chain), after one
small untimed warm-up run.

    .venv/bin/python bench/evm_ceiling.py            # N=2000, B=500, 3 runs
    .venv/bin/python bench/evm_ceiling.py --quick    # N=200, B=100, 3 runs
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    CEILING_PRIVATE_KEY,
    WRITES_SELECTOR,
    compile_storage_contract,
    contract_address,
    machine_info,
    machine_rows,
    median,
    print_json_line,
    print_table,
    sign_deploy,
    sign_set_calls,
    default_senders,
    workload_keys,
)

CHAIN_ID = 1337
GAS_LIMIT = 1_000_000_000
TX_GAS = 200_000


def _make_chain(funded: list[str]):
    from eth import constants
    from eth.chains.base import MiningChain
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.cancun import CancunVM
    from eth_utils import to_canonical_address

    chain_class = MiningChain.configure(
        __name__="CeilingChain",
        vm_configuration=((constants.GENESIS_BLOCK_NUMBER, CancunVM),),
        chain_id=CHAIN_ID,
    )
    genesis_params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": GAS_LIMIT,
        "timestamp": int(time.time()) - 100_000,
        "base_fee_per_gas": 0,
        "coinbase": constants.ZERO_ADDRESS,
    }
    genesis_state = {
        to_canonical_address(a): {"balance": 10**24, "nonce": 0, "code": b"", "storage": {}} for a in funded
    }
    return chain_class.from_genesis(AtomicDB(), genesis_params, genesis_state)


def run_once(bytecode: bytes, n: int, block_size: int, senders: int) -> dict[str, Any]:
    from eth_account import Account

    deployer = Account.from_key(CEILING_PRIVATE_KEY).address
    keys = workload_keys(senders)
    chain = _make_chain([deployer] + [Account.from_key(k).address for k in keys])
    builder = chain.get_vm().get_transaction_builder()

    # deploy (untimed)
    deploy_raw = sign_deploy(CEILING_PRIVATE_KEY, bytecode, nonce=0, chain_id=CHAIN_ID, gas_price=0)
    _, receipts, comps = chain.mine_all([builder.decode(deploy_raw)])
    if comps[0].is_error:
        raise RuntimeError(f"deploy failed: {comps[0].error}")
    to = contract_address(deployer, 0)

    # pre-sign (untimed)
    raws = sign_set_calls(keys, to, n=n, first_nonces=[0] * senders, chain_id=CHAIN_ID, gas_price=0, gas=TX_GAS)

    gc.collect()
    t0 = time.perf_counter()
    total_gas = 0
    blocks = 0
    failed = 0
    phases = dict.fromkeys(
        ["decode+recover", "apply_all_transactions", "set_block_transactions", "mine_block", "persist_block"], 0.0
    )
    for start in range(0, n, block_size):
        t_p = time.perf_counter()
        txs = [builder.decode(r) for r in raws[start : start + block_size]]
        for tx in txs:  # sender recovery, as the node must do on admission
            tx.sender
        # == MiningChain.mine_all(txs), unrolled to time its phases
        t_a = time.perf_counter()
        base_header = chain.header
        vm = chain.get_vm(base_header)
        new_header, receipts, comps = vm.apply_all_transactions(txs, base_header)
        t_b = time.perf_counter()
        filled = vm.set_block_transactions_and_withdrawals(vm.get_block(), new_header, txs, receipts)
        t_c = time.perf_counter()
        mined = vm.mine_block(filled).block
        t_d = time.perf_counter()
        chain.persist_block(mined)
        chain.header = chain.create_header_from_parent(mined.header)
        t_e = time.perf_counter()
        phases["decode+recover"] += t_a - t_p
        phases["apply_all_transactions"] += t_b - t_a
        phases["set_block_transactions"] += t_c - t_b
        phases["mine_block"] += t_d - t_c
        phases["persist_block"] += t_e - t_d
        failed += sum(1 for c in comps if c.is_error)
        total_gas += receipts[-1].gas_used
        blocks += 1
    elapsed = time.perf_counter() - t0

    head = chain.get_canonical_head()
    # sanity: the counter equals n and the base fee stayed at 0
    from eth_utils import to_canonical_address

    writes = int.from_bytes(
        chain.get_vm().state.get_storage(to_canonical_address(to), 2).to_bytes(32, "big"), "big"
    )
    if failed or writes != n or head.base_fee_per_gas != 0:
        raise RuntimeError(f"ceiling run invalid: failed={failed} writes={writes} base_fee={head.base_fee_per_gas}")
    return {
        "seconds": elapsed,
        "tx_per_s": n / elapsed,
        "blocks": blocks,
        "gas_per_tx": total_gas / n,
        "phases_s": phases,
    }


def run_ceiling(n: int, block_size: int, runs: int, senders: int | None = None, *, verbose: bool = True) -> dict[str, Any]:
    senders = senders or default_senders(n)
    contract = compile_storage_contract()
    # warm-up (not reported): first-use costs -- imports, opcode tables, caches --
    # that a long-running node has already paid by the time it serves load
    # (one block of B txs: the first block of a given size also pays one-off costs)
    run_once(contract.bytecode, min(n, block_size), block_size, senders)
    results = []
    for i in range(runs):
        r = run_once(contract.bytecode, n, block_size, senders)
        results.append(r)
        if verbose:
            print(f"  ceiling run {i + 1}/{runs}: {r['tx_per_s']:.1f} tx/s ({r['seconds']:.3f} s)", file=sys.stderr, flush=True)
    rates = [r["tx_per_s"] for r in results]
    med = sorted(results, key=lambda r: r["tx_per_s"])[len(results) // 2]
    return {
        "phases_pct_median_run": {k: round(100 * v / med["seconds"], 1) for k, v in med["phases_s"].items()},
        "n": n,
        "block_size": block_size,
        "senders": senders,
        "runs": runs,
        "tx_per_s_median": median(rates),
        "tx_per_s_runs": [round(x, 1) for x in rates],
        "gas_per_tx": round(results[0]["gas_per_tx"]),
        "contract": contract.source_note,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--txs", type=int, default=2000, help="transactions per run (default 2000)")
    p.add_argument("-b", "--block-size", type=int, default=500, help="transactions per block (default 500)")
    p.add_argument("-r", "--runs", type=int, default=3, help="runs; the median is reported (default 3)")
    p.add_argument("-s", "--senders", type=int, default=None, help="sending accounts, round-robin (default ceil(N/50), as bench/throughput.py)")
    p.add_argument("--quick", action="store_true", help="small smoke run: N=200, B=100")
    args = p.parse_args(argv)
    if args.quick:
        args.txs, args.block_size = 200, 100
    if args.txs < 1 or args.block_size < 1 or args.runs < 1:
        p.error("N, B and runs must be >= 1")

    info = machine_info()
    res = run_ceiling(args.txs, args.block_size, args.runs, args.senders)
    print_table(
        "py-evm ceiling (in-memory AtomicDB, no RPC)",
        machine_rows(info)
        + [
            ("workload", "Storage.set(key, value), fresh key per tx"),
            ("contract", res["contract"]),
            ("gas per tx", res["gas_per_tx"]),
            ("N (txs per run)", res["n"]),
            ("senders (round-robin)", res["senders"]),
            ("B (txs per block)", res["block_size"]),
            ("runs", res["runs"]),
            ("tx/s per run", ", ".join(f"{x:.1f}" for x in res["tx_per_s_runs"])),
            ("ceiling tx/s (median)", f"{res['tx_per_s_median']:.1f}"),
            ("time split (median run)", ", ".join(f"{k} {v}%" for k, v in res["phases_pct_median_run"].items())),
        ],
    )
    print_json_line("CEILING_JSON", {"machine": info, **res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
