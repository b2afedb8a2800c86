"""Load through JSON-RPC: signed transactions sent in batches, blocks followed until
they hold them, and the ``Storage.set`` workload of throughput and consensus.

A block of a QBFT chain is final when committed, so "in a block" is "final": a benchmark's
commit time is when a follower first saw the block holding its last transaction.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from bench.common.contracts import WRITES_SELECTOR, set_calldata
from bench.common.footprint import cpu_seconds, process_tree
from bench.common.machine import machine_cpu, wait_for_idle
from bench.common.profiling import PySpy
from bench.common.rpc import Rpc, RpcError, wait_receipt
from bench.common.signing import sign_deploy, sign_set_calls, sign_transfers, tx_hash, workload_keys

# A loop following blocks asks for the head this often: one cheap call per poll plus one
# block read per new block is all the load it adds to the node.
FOLLOW_POLL_SECONDS = 0.025
# How often a thread waiting on the follower's thread looks at what it has seen.
WAIT_POLL_SECONDS = 0.005
# A sender funding transfer waits at most this long for its receipt (untimed set-up).
SETUP_RECEIPT_SECONDS = 60.0
# Funding transfers go out in groups of this many, within any per-sender pool limit.
FUNDING_CHUNK = 32
# Gas of a Storage.set call when eth_estimateGas is refused: above what one uses.
FALLBACK_SET_GAS = 120_000
# Gas limit of each timed call: the estimate of a first-time write, plus this margin.
SET_GAS_MARGIN = 1.2


def send_all(rpc: Rpc, hex_raws: list[str], hashes: list[str], batch_size: int, deadline: float) -> None:
    """``eth_sendRawTransaction`` of every raw transaction in JSON-RPC batches, back to
    back; raises on the first batch with an error or an unexpected hash."""
    errors: list[str] = []
    for start in range(0, len(hex_raws), batch_size):
        if time.monotonic() > deadline:
            raise TimeoutError("sending did not finish before the deadline")
        resp = rpc.batch([("eth_sendRawTransaction", [r]) for r in hex_raws[start : start + batch_size]])
        for i, r in enumerate(resp):
            if r.get("error") is not None:
                errors.append(f"tx {start + i}: {r['error']}")
            elif str(r.get("result", "")).lower() != hashes[start + i]:
                errors.append(f"tx {start + i}: unexpected result {r.get('result')!r}")
        if errors:
            raise RuntimeError("eth_sendRawTransaction errors:\n" + "\n".join(errors[:10]))


@dataclass(frozen=True)
class SeenBlock:
    number: int
    timestamp: int  # header, whole seconds
    seen: float  # the follower's clock when it first read the block
    txs: int


class BlockFollower:
    """Reads each new block once and notes when it first saw each block and each
    transaction (``clock``: ``time.perf_counter`` unless given), asking for the head
    every ``poll`` seconds: in a thread of its own (``start`` .. ``stop``, while the
    caller sends) or in the caller's thread (``follow_until``, once sending is done).

    It starts after block ``after`` (None: at the head when it starts). In its thread an
    error ends the following and ``wait_all`` raises it -- unless ``keep_going``, when
    errors are counted (``errors``) and following goes on: a measurement hiccup under
    load is then not fatal.
    """

    def __init__(self, rpc: Rpc, *, after: int | None, deadline: float | None = None, poll: float = FOLLOW_POLL_SECONDS,
                 clock: Callable[[], float] = time.perf_counter, keep_going: bool = False) -> None:
        self.rpc, self.next_block, self.deadline = rpc, (None if after is None else after + 1), deadline
        self.poll, self.clock, self.keep_going = poll, clock, keep_going
        self.blocks: list[SeenBlock] = []
        self.tx_seen: dict[str, tuple[int, float]] = {}  # tx hash -> (block, seen)
        self.error: BaseException | None = None
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="block-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread and close its connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.rpc.close()

    def _run(self) -> None:
        while not self._stop.is_set() and (self.deadline is None or time.monotonic() < self.deadline):
            try:
                self.read_new_blocks()
            except Exception as exc:
                self.errors += 1
                if not self.keep_going:
                    self.error = exc  # raised by wait_all in the thread that waits
                    return
            self._stop.wait(self.poll)

    def read_new_blocks(self) -> None:
        """Read every block from the next one up to the head."""
        head = int(self.rpc.call("eth_blockNumber"), 16)
        if self.next_block is None:
            self.next_block = head
        while self.next_block <= head and not self._stop.is_set():
            block = self.rpc.call("eth_getBlockByNumber", [hex(self.next_block), False])
            seen = self.clock()
            with self._lock:
                self.blocks.append(SeenBlock(self.next_block, int(block["timestamp"], 16), seen, len(block["transactions"])))
                for h in block["transactions"]:
                    self.tx_seen.setdefault(h.lower(), (self.next_block, seen))
            self.next_block += 1

    def lookup(self, hashes: Sequence[str]) -> list[tuple[int, float] | None]:
        """(block, seen) of each hash, None for those not seen yet."""
        with self._lock:
            return [self.tx_seen.get(h.lower()) for h in hashes]

    def _missing(self, hashes: Sequence[str], deadline: float, remaining: set[str]) -> set[str]:
        """Which of ``remaining`` are not seen yet; TimeoutError if some and it is past ``deadline``."""
        with self._lock:
            missing = {h for h in remaining if h not in self.tx_seen}
        if missing and time.monotonic() > deadline:
            raise TimeoutError(f"{len(missing)} of {len(hashes)} transactions not in a block before the deadline")
        return missing

    def wait_all(self, hashes: Sequence[str], deadline: float) -> None:
        """Until the thread has seen every hash in a block; TimeoutError after ``deadline`` (monotonic)."""
        remaining = {h.lower() for h in hashes}
        while remaining:
            if self.error is not None:
                raise RuntimeError(f"block follower failed: {self.error!r}") from self.error
            remaining = self._missing(hashes, deadline, remaining)
            if remaining:
                time.sleep(WAIT_POLL_SECONDS)

    def follow_until(self, hashes: Sequence[str], deadline: float) -> None:
        """Follow blocks in this thread until every hash is in one; TimeoutError after
        ``deadline`` (monotonic). The connection stays open: it is the caller's."""
        remaining = {h.lower() for h in hashes}
        while True:
            self.read_new_blocks()
            remaining = self._missing(hashes, deadline, remaining)
            if not remaining:
                return
            time.sleep(self.poll)


def wait_included(rpc: Rpc, hashes: list[str], from_block: int, deadline: float,
                  poll: float = FOLLOW_POLL_SECONDS) -> tuple[dict[int, int], float]:
    """Follow blocks after ``from_block`` in this thread until every hash is in one;
    returns ({block: our tx count}, when the block holding the last was seen)."""
    follower = BlockFollower(rpc, after=from_block, poll=poll)
    follower.follow_until(hashes, deadline)
    seen = [s for s in follower.lookup(hashes) if s is not None]
    return dict(Counter(block for block, _ in seen)), max(t for _, t in seen)


def run_load(
    rpc: Rpc, private_key: str, address: str, *, n: int, batch_size: int, senders: int, bytecode: bytes,
    pid: int | None, timeout: float, py_spy: tuple[str, Path] | None = None, idle_wait: float = 0.0,
) -> dict[str, Any]:
    """The ``Storage.set`` workload: deploy, fund and pre-sign (untimed), then timed: send
    ``n`` calls in batches and follow blocks until all are in one; checked afterwards by
    the contract's counter. ``pid``: the node's, for its CPU time (None: not measured)."""
    if Account.from_key(private_key).address.lower() != address.lower():
        raise RuntimeError("dev account: address does not match private key")
    chain_id = int(rpc.call("eth_chainId"), 16)
    gas_price = int(rpc.call("eth_gasPrice"), 16)
    nonce = rpc.pending_nonce(address)
    latest = rpc.call("eth_getBlockByNumber", ["latest", False])
    block_gas_limit = int(latest["gasLimit"], 16)

    # deploy (untimed)
    deploy_hash = rpc.call("eth_sendRawTransaction", ["0x" + sign_deploy(private_key, bytecode, nonce=nonce, chain_id=chain_id, gas_price=gas_price).hex()])
    rec = wait_receipt(rpc, deploy_hash, time.monotonic() + SETUP_RECEIPT_SECONDS)
    if int(rec["status"], 16) != 1 or not rec.get("contractAddress"):
        raise RuntimeError(f"deploy failed: {rec}")
    to = rec["contractAddress"]
    nonce += 1

    # gas per tx: estimate a first-time write, +20 %, and use it for every call
    try:
        est = int(rpc.call("eth_estimateGas", [{"from": address, "to": to, "data": "0x" + set_calldata(10**9, 1).hex()}]), 16)
        tx_gas = int(est * SET_GAS_MARGIN)
    except RpcError:
        tx_gas = FALLBACK_SET_GAS
    writes_before = int(rpc.call("eth_call", [{"to": to, "data": "0x" + WRITES_SELECTOR.hex()}, "latest"]), 16)

    # senders: deterministic keys, funded by the dev account only if gas costs anything
    keys = workload_keys(senders)
    addrs = [Account.from_key(k).address for k in keys]
    per_sender = -(-n // senders)
    need = per_sender * tx_gas * gas_price
    if need > 0:
        for start in range(0, senders, FUNDING_CHUNK):
            chunk = addrs[start : start + FUNDING_CHUNK]
            raws = sign_transfers(private_key, chunk, amount=2 * need, nonce=nonce, chain_id=chain_id, gas_price=gas_price)
            nonce += len(raws)
            hs = [rpc.call("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws]
            for h in hs:
                if int(wait_receipt(rpc, h, time.monotonic() + SETUP_RECEIPT_SECONDS)["status"], 16) != 1:
                    raise RuntimeError("funding a sender failed")
    first_nonces = [
        int(r["result"], 16)
        for r in rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in addrs])
    ]

    t_sign = time.perf_counter()
    raws = sign_set_calls(keys, to, n=n, first_nonces=first_nonces, chain_id=chain_id, gas_price=gas_price, gas=tx_gas)
    sign_s = time.perf_counter() - t_sign
    hashes = [tx_hash(r) for r in raws]
    hex_raws = ["0x" + r.hex() for r in raws]
    start_block = int(rpc.call("eth_blockNumber"), 16)

    idle = wait_for_idle(idle_wait)  # the node is idle too by now: nothing is pending
    cpu_pids = process_tree(pid) if pid else []
    cpu0 = cpu_seconds(cpu_pids)
    own0 = time.process_time()
    busy0, total0 = machine_cpu()
    deadline = time.monotonic() + timeout

    profiler = PySpy(py_spy[0], pid, py_spy[1]) if (py_spy and pid) else None
    try:
        # ---- timed section -----------------------------------------------
        t0 = time.perf_counter()
        send_all(rpc, hex_raws, hashes, batch_size, deadline)
        t_sent = time.perf_counter()
        per_block, t_done = wait_included(rpc, hashes, start_block, deadline)
        # ------------------------------------------------------------------
    finally:
        if profiler:
            profiler.stop()
    cpu1 = cpu_seconds(cpu_pids)
    own1 = time.process_time()
    busy1, total1 = machine_cpu()
    wall = t_done - t0
    machine_busy = (busy1 - busy0)  # CPU seconds used by every process on the machine
    others = machine_busy - (cpu1 - cpu0 if pid else 0.0) - (own1 - own0)

    # verification (untimed): all N hashes were seen in blocks (above); the
    # contract's counter grew by exactly N, so every call succeeded (a failed
    # call cannot increment it, a successful one increments it once).  Only a
    # few receipts are read: the node answers each from its whole block, so
    # reading all N would cost far more than the run itself.
    writes_after = int(rpc.call("eth_call", [{"to": to, "data": "0x" + WRITES_SELECTOR.hex()}, "latest"]), 16)
    if writes_after - writes_before != n:
        raise RuntimeError(f"verification failed: contract counter grew by {writes_after - writes_before}, expected {n}")
    sample: list[dict[str, Any] | None] = [
        r.get("result") for r in rpc.batch([("eth_getTransactionReceipt", [h]) for h in (hashes[0], hashes[-1])])]
    first, last = sample
    if first is None or last is None or not all(int(r["status"], 16) == 1 for r in (first, last)):
        raise RuntimeError(f"verification failed: receipts {sample}")
    gas_used = int(last["gasUsed"], 16)
    blocks = sorted(per_block)
    stamps = [int(rpc.call("eth_getBlockByNumber", [hex(b), False])["timestamp"], 16) for b in (blocks[0], blocks[-1])]

    elapsed = t_done - t0
    return {
        "n": n,
        "batch_size": batch_size,
        "senders": senders,
        "chain_id": chain_id,
        "gas_price": gas_price,
        "tx_gas_limit": tx_gas,
        "block_gas_limit": block_gas_limit,
        "gas_used_per_tx": gas_used,  # of the last call (a new key; `last`/`writes` already set)
        "sign_s": sign_s,
        "send_s": t_sent - t0,
        "accepted_tx_per_s": n / (t_sent - t0),
        "commit_s": elapsed,
        "committed_tx_per_s": n / elapsed,
        "blocks": len(blocks),
        "first_block": blocks[0],
        "last_block": blocks[-1],
        "start_block": start_block,
        "max_txs_per_block": max(per_block.values()),
        "txs_per_block": [per_block[b] for b in blocks],
        "block_timestamp_span_s": stamps[1] - stamps[0],
        "node_cpu_s": cpu1 - cpu0 if pid else None,
        "loadgen_cpu_s": own1 - own0,
        "idle_wait": idle,
        "other_processes_cpu_s": others if pid else None,
        "machine_busy_cores": machine_busy / wall if wall > 0 else None,
    }
