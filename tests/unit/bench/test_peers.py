"""bench/peers.py's pure parts: the node-side CPU per operation and what bounds a node's figure.
The benchmark itself runs in tests/integration/test_bench_peers.py and run_all's quick run."""
from __future__ import annotations

from bench.peers import bounds, per_op_ms


def test_node_cpu_below_one_tick_is_not_a_zero_cost() -> None:
    assert per_op_ms(0.5, 500) == 1.0
    assert per_op_ms(0.0, 500) is None  # the kernel counted no tick: unknown, not free


def _txs(rate: float, cores: float, tx_gas: int = 113_518) -> list[dict]:
    return [{"tx_gas_limit": tx_gas, "gas_used_last_call": 55_492, "committed_tx_per_s": rate,
             "node_cores_busy": cores}] * 3


def test_bounds_name_the_gas_limit_per_second_and_the_busy_cores() -> None:
    ours = bounds({"txs": _txs(338.0, 0.97), "block_gas_limit": 150_000_000}, 1)
    # 150M // 113,518 = 1,321 transactions a 1 s block; 338 tx/s is 26 % of it; 150M // 55,492 = 2,703
    assert ours == ("a block every 1 s; gas limit 150,000,000 = 1,321 txs of 113,518 gas a block (2,703 at the "
                    "55,492 gas each uses), 1,321 tx/s (26 % used); node busy 0.97 cores during (a)")
    instamine = bounds({"txs": _txs(120.0, 1.0, 107_630), "block_gas_limit": 10**9}, 0)
    assert instamine.startswith("one transaction a block (instamine); gas limit 1,000,000,000 = 9,291 txs")
    assert "not binding" in instamine
