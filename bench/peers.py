"""Our dev node side by side with Ganache and anvil: same workloads, same machine, same web3.py code.

(Over 600 lines: a sixth of it is this statement of method, which BENCHMARKS.md cites; the
rest is one comparison -- three nodes' start-up, three workloads, one report -- that reads
best in one place.)

For each node in turn (``--nodes``, default ``ledger ganache anvil``) the script starts it
on a free 127.0.0.1 port, runs every workload ``--runs`` times (default 3) and stops it
(SIGTERM, then SIGKILL, in ``finally``) before the next one starts: one node at a time,
each started once.

The nodes
---------
* **ledger**: ``ledger node start --dev`` (``bench.common.nodes.NodeProcess``): QBFT
  with one validator, a **1 s block period** (its dev mode has no instant sealing), zero base
  fee, ``eth_gasPrice`` 0, Cancun rules, block gas limit 150M (its genesis'
  ``DEFAULT_GAS_LIMIT``; ``ledger node start --dev`` has no option to change it).
* **ganache** 7.9.2 (npm ``ganache``): ``node node_modules/ganache/dist/node/cli.js
  --server.host 127.0.0.1 --server.port P --logging.quiet --chain.chainId 1337
  --chain.hardfork shanghai --miner.blockTime 0 --miner.defaultGasPrice 0
  --miner.blockGasLimit 1000000000 --wallet.accounts KEY,BALANCE``.
* **anvil** 1.7.1 (npm ``@foundry-rs/anvil``, its native binary): ``anvil --host 127.0.0.1
  --port P --silent --chain-id 1337 --hardfork cancun --gas-price 0 --base-fee 0
  --disable-min-priority-fee --gas-limit 1000000000 --accounts 1 --block-time 1``.

The peers get a block gas limit of 1e9 (``--peer-gas-limit``), which no workload here
reaches: at 150M anvil's 1 s blocks held at most 150M / ~108k (the transactions' gas
limit, estimate x 1.2) = ~1,390 ``Storage.set`` calls, a cap on its figure, not a
measure of it. Our node keeps its genesis' 150M; its pool fills a block by the
transactions' gas *limits* (~108,800 each here), so a 1 s block holds at most ~1,380 of
them: the limit binds only at ~1,380 tx/s, and the report says, per node, what bounds
its figure (below).

Sealing: ours seals a block every second; **Ganache instamine** ("eager": a transaction
is mined before its hash is returned; ``--ganache-block-time 0``, the default) and
**anvil a block every second** (``--anvil-block-time 1``, the default).  Each peer runs
in the mode in which it does this workload best and reliably: Ganache commits more per
second instamining (~70 tx/s) than with 1 s blocks (~45 tx/s, where each 2,000-transaction
block takes it ~45 s to build); anvil 1.7.1's automine does not survive this workload --
in the second run of 2,000 back-to-back transactions it stopped mining with ~1,800
ready transactions in its pool (``txpool_status``), and with ``--mixed-mining
--block-time 1`` it slowed down and then stopped answering for 120 s, the behaviour of
foundry-rs/foundry#10122 and of its reports of automine slowing down as blocks
accumulate.  The options set either peer to 0 (instant) or 1 (1 s blocks).  Ours
cannot seal faster than its 1 s period, which costs it up to a second at the end of
every timed transaction run.

The peers' pinned versions are in ``bench/peers/package.json``, installed into
``bench/peers/node_modules`` by ``bench/npm.py``.  Without node/npm or a reachable npm
registry, Ganache and anvil are reported as ``skipped: <reason>`` and our node still
runs; any other failure of a node is reported as ``failed: <reason>``, the other nodes
still run, and the exit code is 1.

Fees
----
Every transaction is a legacy (EIP-155) transaction with gasPrice = max(eth_gasPrice,
2 x the latest block's baseFeePerGas), read from the node at the start of each run.  That
is **0 on ours and on anvil**.  **Ganache cannot do zero**: its newest hardfork is
Shanghai, it has no base-fee option, its genesis base fee is 1 gwei and London rules
refuse a lower gasPrice ("Transaction's maxFeePerGas (0) is less than the block's
baseFeePerGas"); ``--miner.defaultGasPrice 0`` only changes ``eth_gasPrice``.  So on
Ganache the senders pay 2 x base fee (at most 2 gwei: the base fee falls with every block
under half full and rises by at most 12.5 % a full block) and are funded for it by an
untimed transfer.  The other way out, ``--chain.hardfork berlin`` (no base fee), would
run pre-Shanghai rules and need PUSH0-free bytecode on every node.

Contracts and client
--------------------
``tests/contracts/Storage.vy`` and ``bench/contracts/Emitter.vy`` are compiled once with
``vyper --evm-version shanghai`` -- Ganache's newest rules; our Cancun node and anvil in
Cancun mode run Shanghai bytecode -- so every node runs identical bytecode.  The client
is web3.py for every node, the same code: ``Web3(HTTPProvider(url))`` (one keep-alive
HTTP session; web3's response cache on for ``eth_chainId`` only, which web3's default
validation middleware would otherwise ask for twice per eth_call;
``ExtraDataToPOAMiddleware`` injected everywhere because QBFT's extraData is longer than
32 bytes).  Transactions are pre-signed with eth-account, untimed.

Workloads, in this order on each node
-------------------------------------
(b) **eth_getLogs over E events** (``--events``, default 10,000), once per node,
    untimed: deploy ``Emitter``, send ceil(E / 1000) ``emit_many(1000)`` calls (1,000
    ``Tick`` events each, shaped like Storage's ``Stored``: two indexed topics and one
    data word) and wait until ``emitted()`` = E.  Each run, timed: ``--queries``
    (default 2) ``w3.eth.get_logs({"address": emitter, "fromBlock": 0, "toBlock": H})``
    (H: the head once the events are in, so every run reads the same range), each
    of which must return exactly E logs (the ``seq`` topics of the first are checked to
    be 0..E-1); the run's figure is the median ms per query -- the node's work, the
    JSON over loopback and web3.py's formatting of E logs (the client CPU per query is
    reported beside it: with 10,000 logs web3.py's share is most of the time).  (b)
    runs first so that "from block 0" scans a short chain, alike on every node.  Our
    node refuses a query of more than 10,000 results or 10,000 blocks
    (``node/rpc/methods.py``: ``MAX_LOG_RESULTS``, ``MAX_LOG_BLOCK_RANGE``); E = 10,000
    is exactly at its cap.  If a node refuses a range as too large, the query is split
    into halves, as a user would page, and the pages are counted in the output
    (``queries_per_answer``); a single block with more matching logs than the cap
    cannot be read that way and fails the run.
(a) **committed tx/s**: deploy ``Storage``; K = ceil(N / 50) senders
    (``bench.common.signing.workload_keys``; funded only if the fee is > 0); pre-sign N
    (``--txs``, default 2,000) ``set(key, value)`` calls round-robin over the senders,
    a fresh key per call.  Timed: from the first send, the N ``eth_sendRawTransaction``
    in JSON-RPC batches of 100 (``HTTPProvider.make_batch_request``; web3's
    ``batch_requests()`` refuses ``eth_sendRawTransaction``), back to back, then
    ``writes()`` polled by eth_call every 25 ms until it has grown by N; committed tx/s
    = N / (first send -> counter seen at base + N).  Then the first and last receipts
    must have status 1.
(c) **eth_call/s**: ``--calls`` (default 500) sequential
    ``storage.functions.get(k).call()`` against run i's Storage of (a) (the keys it
    wrote; every returned value is checked), after 20 untimed warm-up calls; calls/s =
    calls / elapsed.  web3.py's contract-call path costs 3.5-7 ms of client CPU per call
    on this machine (reported beside the figure), which bounds every node's figure.

**Node-side costs.** Beside (b) and (c) the node's own CPU is reported: the CPU seconds
of its process tree (user + system, ``/proc/PID/stat``: ``bench.common.footprint``)
over the timed loop, divided by the queries or calls -- ``peers.<node>.get_logs_node_cpu_ms``
and ``peers.<node>.node_cpu_ms_per_call``, the figures issue 22's targets are stated in
(eth_call <= 1 ms, a 10,000-log getLogs <= 0.2 s node-side). They include what the node
does meanwhile on its own (our dev node seals an empty block at most once a minute, its
genesis' ``emptyblockperiodseconds``). The kernel counts CPU time in clock ticks (10 ms); a loop that cost a node less
than one tick is reported without this figure ("below one clock tick"), not as zero.
During (a) the node's CPU over the timed window is reported as cores busy
(``node_cores_busy``): ~1.0 for a Python node is a node bound by its one core.

**What bounds each figure** (``bounds`` in the output, a row of run_all's table): the
sealing (one block a second, or instamine), the block gas limit read from the node as
transactions of (a)'s gas limit per block and per second, and the node's busy cores
during (a).

Before the first run's timed part of each workload the script waits (at most
``--idle-wait`` s, default 5; two quiet seconds in a row end the wait) for an idle
machine.  (a) at N = 2,000 takes Ganache ~30 s a run and a 10,000-log query ~2-3 s
through web3.py on every node, so the query and call counts and the waits are what
fits the ~5 minute budget of a full run.

Figures (``bench.common.results.figure``: every run, median, spread):
``peers.<node>.committed_tx_per_s``, ``peers.<node>.get_logs_ms``,
``peers.<node>.eth_call_per_s`` for node in ledger, ganache, anvil, and
``peers.ratio.ledger_over_<peer>.<metric>`` from run pairs (run i of ours / run i of
theirs).  The node's peak RSS (VmHWM of its process tree) is read before it stops.

    .venv/bin/python -m bench.peers --figures-out /tmp/peers.json    # ~5.5 min on 2 cores
    .venv/bin/python -m bench.peers --quick                          # smoke, ~25 s
    .venv/bin/python -m bench.peers --nodes ledger ganache --ganache-block-time 1
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account as EthAccount
from web3 import HTTPProvider, Web3
from web3.exceptions import Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware

from bench import npm
from bench.common import REPO_ROOT, cli
from bench.common.contracts import CONTRACT_PATH, CompiledContract, compile_contract
from bench.common.footprint import cpu_seconds, process_tree, tree_hwm_kib
from bench.common.machine import machine_info, machine_rows, wait_for_idle
from bench.common.nodes import LoggedProcess, NodeProcess, find_ledger, free_port
from bench.common.results import figure, print_table, write_figures
from bench.common.signing import (
    CEILING_PRIVATE_KEY,
    default_senders,
    sign_deploy,
    sign_set_calls,
    sign_transfers,
    workload_keys,
)

PEERS_DIR = REPO_ROOT / "bench" / "peers"
EMITTER_PATH = REPO_ROOT / "bench" / "contracts" / "Emitter.vy"
EVM_VERSION = "shanghai"  # Ganache 7.9.2's newest rules; see the docstring
NODES = ("ledger", "ganache", "anvil")
PEERS = ("ganache", "anvil")
CHAIN_ID = 1337  # our dev chain's; the peers are started with it too
# The peers' block gas limit: 1e9 does not bind at any rate a node reaches here (anvil's
# ~3,500 tx/s x ~108k gas limit each = 0.38e9 a 1 s block). Ours keeps its genesis' 150M
# (node/execution/genesis.py DEFAULT_GAS_LIMIT; `--dev` takes no gas limit).
PEER_BLOCK_GAS_LIMIT = 1_000_000_000
# The peers' funded account: anvil's first default account, given to Ganache with
# --wallet.accounts (a well-known test key; never use it for anything real).
PEER_KEY = CEILING_PRIVATE_KEY
PEER_BALANCE_WEI = 10**24
EVENTS_PER_TX = 1_000
SEND_BATCH = 100
POLL_S = 0.025
WARMUP_CALLS = 20
METRICS = {  # figure suffix: (unit, better, label)
    "committed_tx_per_s": ("tx/s", "higher", "(a) committed tx/s"),
    "get_logs_ms": ("ms", "lower", "(b) eth_getLogs ms/query"),
    "eth_call_per_s": ("calls/s", "higher", "(c) eth_call/s"),
}
# The node's own CPU over (b)'s and (c)'s timed loops (the docstring's "Node-side costs"):
# a figure only where every run measured at least one clock tick.
NODE_CPU_METRICS = {
    "get_logs_node_cpu_ms": ("ms", "lower", "(b) node CPU per eth_getLogs query, ms"),
    "node_cpu_ms_per_call": ("ms", "lower", "(c) node CPU per eth_call, ms"),
}
# Messages of nodes refusing a log query as too large (ours: "query returned more than
# 10000 results; narrow the range", "block range a..b exceeds the limit of 10000 blocks").
_TOO_LARGE_RE = re.compile(r"more than \d+ results|exceeds the limit|narrow the range|too many|limit exceeded", re.I)


class PeerSkipped(Exception):
    """A peer cannot run on this machine (no node/npm, registry unreachable)."""


# --------------------------------------------------------------------------
# the nodes
# --------------------------------------------------------------------------
def _rpc_answers(port: int, timeout: float = 2.0) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("POST", "/", body, {"Content-Type": "application/json"})
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


class PeerProcess(LoggedProcess):
    """A Ganache or anvil process on a loopback port, its output in a log file; ready
    when it answers ``eth_chainId``."""

    ready_check = "a JSON-RPC answer"

    def __init__(self, argv: list[str], port: int, log_path: Path) -> None:
        super().__init__(argv, log_path, log_path.parent)
        self.port, self.what = port, argv[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        return _rpc_answers(self.port)


@dataclass
class Target:
    """A started node: where to reach it, its funded key, and how it was set up."""

    name: str
    url: str
    private_key: str
    pid: int
    sealing: str
    command: str
    log_tail: Callable[[], str]
    stop: Callable[[], int | None]
    block_time_s: int  # 0: a block per transaction (instamine / automine)


def install_peers() -> npm.Installed:
    """Ganache and anvil from bench/peers/package.json; PeerSkipped if npm cannot get them."""

    def check(node_modules: Path) -> str | None:
        if npm.package_version(node_modules, "ganache") is None:
            return "ganache is not installed"
        if npm.find_foundry_binary("anvil", node_modules) is None:
            return "no native anvil binary for this platform in node_modules/@foundry-rs"
        return None

    try:
        return npm.ensure_installed(PEERS_DIR, what="ganache/@foundry-rs/anvil", check=check)
    except npm.NpmUnavailable as exc:
        raise PeerSkipped(exc.reason) from None


def _genesis_block_period(data_dir: Path) -> int:
    """The block period of our node's genesis, in seconds."""
    return int(json.loads((data_dir / "genesis.json").read_text())["config"]["qbft"]["blockperiodseconds"])


def start_target(name: str, args: argparse.Namespace, workdir: Path, installed: npm.Installed | None) -> Target:
    port = free_port()
    if name == "ledger":
        node = NodeProcess(find_ledger(args.ledger), workdir / "data", port)
        try:
            node.start(args.ready_timeout)
            _address, key = node.dev_key()
        except BaseException:
            node.stop()
            raise
        return Target(name, node.url, key, node.pid, f"QBFT, {node.block_period()}",
                      " ".join(node.cmd).replace(str(workdir), "<tmp>"), node.log_tail, node.stop,
                      _genesis_block_period(node.data_dir))
    assert installed is not None
    if name == "ganache":
        block_time = args.ganache_block_time
        argv = [
            installed.node, str(installed.node_modules / "ganache" / "dist" / "node" / "cli.js"),
            "--server.host", "127.0.0.1", "--server.port", str(port), "--logging.quiet",
            "--chain.chainId", str(CHAIN_ID), "--chain.hardfork", "shanghai",
            "--miner.blockTime", str(block_time), "--miner.defaultGasPrice", "0",
            "--miner.blockGasLimit", str(args.peer_gas_limit),
            "--wallet.accounts", f"{PEER_KEY},{hex(PEER_BALANCE_WEI)}",
        ]
        sealing = f"a block every {block_time} s" if block_time else "instamine (eager)"
    else:
        anvil = npm.find_foundry_binary("anvil", installed.node_modules)
        assert anvil is not None  # install_peers checked it
        argv = [
            str(anvil), "--host", "127.0.0.1", "--port", str(port), "--silent",
            "--chain-id", str(CHAIN_ID), "--hardfork", "cancun",
            "--gas-price", "0", "--base-fee", "0", "--disable-min-priority-fee",
            "--gas-limit", str(args.peer_gas_limit), "--accounts", "1",
        ]
        block_time = args.anvil_block_time
        if block_time:
            argv += ["--block-time", str(block_time)]
        sealing = f"a block every {block_time} s" if block_time else "automine (instant)"
    peer = PeerProcess(argv, port, workdir / f"{name}.log")
    try:
        peer.start(args.ready_timeout)
    except BaseException:
        peer.stop()
        raise
    command = " ".join(argv).replace(str(installed.node_modules), "node_modules").replace(PEER_KEY, "<key>")
    return Target(name, peer.url, PEER_KEY, peer.pid, sealing, command, peer.log_tail, peer.stop, block_time)


# --------------------------------------------------------------------------
# web3 helpers: the same client code for every node
# --------------------------------------------------------------------------
def connect(url: str) -> Any:
    # web3's default ValidationMiddleware asks the node for eth_chainId twice per eth_call
    # (measured: 3 HTTP requests per contract call); web3's own request cache, limited to
    # eth_chainId, makes every call one request.  Nothing else is cached.
    provider = HTTPProvider(url, request_kwargs={"timeout": 120},
                            cache_allowed_requests=True, cacheable_requests={"eth_chainId"})
    w3 = Web3(provider)
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


@dataclass
class Account:
    """The node's funded account, with its next nonce tracked here."""

    key: str
    address: str
    nonce: int


def fee_of(w3: Any) -> int:
    """gasPrice for every legacy transaction of a run: max(eth_gasPrice, 2 x latest base fee)."""
    base = w3.eth.get_block("latest").get("baseFeePerGas") or 0
    return max(int(w3.eth.gas_price), 2 * int(base))


def send_raw_batches(w3: Any, raws: Sequence[bytes], batch_size: int = SEND_BATCH) -> list[str]:
    """eth_sendRawTransaction in JSON-RPC batches; returns the hashes, raises on any error."""
    hashes: list[str] = []
    for start in range(0, len(raws), batch_size):
        chunk = raws[start : start + batch_size]
        resp = w3.provider.make_batch_request([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in chunk])
        if not isinstance(resp, list) or len(resp) != len(chunk):
            raise RuntimeError(f"batch of {len(chunk)} eth_sendRawTransaction answered with: {str(resp)[:400]}")
        errors = [f"tx {start + i}: {r['error']}" for i, r in enumerate(resp) if r.get("error") is not None]
        if errors:
            raise RuntimeError("eth_sendRawTransaction errors:\n" + "\n".join(errors[:5]))
        hashes += [str(r["result"]) for r in resp]
    return hashes


def wait_receipts(w3: Any, hashes: Sequence[str], timeout: float = 60.0) -> list[Any]:
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=timeout, poll_latency=0.05) for h in hashes]
    failed = [i for i, r in enumerate(receipts) if r.status != 1]
    if failed:
        raise RuntimeError(f"transactions {failed} of {len(hashes)} failed: {receipts[failed[0]]}")
    return receipts


def deploy(w3: Any, acct: Account, contract: CompiledContract, fee: int) -> Any:
    """Deploy ``contract`` from ``acct``; the web3 contract object."""
    raw = sign_deploy(acct.key, contract.bytecode, nonce=acct.nonce, chain_id=CHAIN_ID, gas_price=fee)
    acct.nonce += 1
    (receipt,) = wait_receipts(w3, [w3.eth.send_raw_transaction(raw).to_0x_hex()])
    if not receipt.contractAddress:
        raise RuntimeError(f"deploy gave no contract address: {receipt}")
    return w3.eth.contract(address=receipt.contractAddress, abi=contract.abi)


def wait_until(probe: Callable[[], bool], deadline: float, what: str, poll: float = POLL_S) -> float:
    """Poll ``probe`` until true; returns perf_counter() when it was seen true."""
    while time.monotonic() < deadline:
        if probe():
            return time.perf_counter()
        time.sleep(poll)
    raise TimeoutError(f"{what}: not reached before the deadline")


def get_logs_paged(w3: Any, address: str, start: int, end: int | str) -> tuple[list[Any], int]:
    """Every log of ``address`` in blocks start..end and the number of queries it took.

    If the node refuses the range as too large, halve it and ask for each half, as a
    user pages; a single block that is still too large is an error.
    """
    try:
        return list(w3.eth.get_logs({"address": address, "fromBlock": start, "toBlock": end})), 1
    except Web3RPCError as exc:
        if not _TOO_LARGE_RE.search(str(exc)):
            raise
        last = w3.eth.block_number if end == "latest" else int(end)
        if last <= start:
            raise
        mid = (start + last) // 2
        low, n_low = get_logs_paged(w3, address, start, mid)
        high, n_high = get_logs_paged(w3, address, mid + 1, last)
        return low + high, n_low + n_high


# --------------------------------------------------------------------------
# the workloads
# --------------------------------------------------------------------------
@dataclass
class Settings:
    txs: int
    events: int
    events_per_tx: int
    calls: int
    queries: int
    runs: int
    senders: int
    idle_wait: float
    timeout: float


def emit_logs(w3: Any, acct: Account, emitter: CompiledContract, s: Settings) -> tuple[Any, dict[str, Any]]:
    """(b), untimed: a fresh Emitter and E events in ceil(E / events_per_tx) transactions."""
    fee = fee_of(w3)
    contract = deploy(w3, acct, emitter, fee)
    sizes = [min(s.events_per_tx, s.events - i) for i in range(0, s.events, s.events_per_tx)]
    gas = int(contract.functions.emit_many(max(sizes)).estimate_gas({"from": acct.address}) * 1.2)
    raws = []
    for n in sizes:
        tx = contract.functions.emit_many(n).build_transaction(
            {"from": acct.address, "nonce": acct.nonce, "gas": gas, "gasPrice": fee, "chainId": CHAIN_ID})
        raws.append(bytes(w3.eth.account.sign_transaction(tx, acct.key).raw_transaction))
        acct.nonce += 1
    deadline = time.monotonic() + s.timeout
    wait_receipts(w3, send_raw_batches(w3, raws), timeout=s.timeout)
    wait_until(lambda: contract.functions.emitted().call() == s.events, deadline, "emitted() = E")
    return contract, {"blocks_scanned": w3.eth.block_number + 1, "transactions": len(sizes), "gas_per_tx": gas,
                      "fee_wei": fee}


def node_cpu(pid: int) -> float:
    """CPU seconds of the node's process tree so far (user + system)."""
    return cpu_seconds(process_tree(pid))


def per_op_ms(cpu_s: float, ops: int) -> float | None:
    """Node CPU ms per operation; None when the loop cost less than one clock tick (the
    kernel's unit of CPU time), which would read as a cost of zero."""
    return round(cpu_s * 1000 / ops, 4) if cpu_s > 0 else None


def run_logs(w3: Any, contract: Any, emitted: dict[str, Any], s: Settings, idle_wait: float,
             pid: int) -> dict[str, Any]:
    """(b), one run: ``s.queries`` timed eth_getLogs from block 0 over the emitted events."""
    idle = wait_for_idle(idle_wait, quiet_checks=2)
    times, cpu, pages = [], [], 0
    node_cpu0 = node_cpu(pid)
    for q in range(s.queries):
        c0, t0 = time.process_time(), time.perf_counter()
        logs, n_pages = get_logs_paged(w3, contract.address, 0, emitted["blocks_scanned"] - 1)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        pages = max(pages, n_pages)
        if len(logs) != s.events:
            raise RuntimeError(f"eth_getLogs query {q} returned {len(logs)} logs, expected {s.events}")
        if q == 0:
            seqs = sorted(int.from_bytes(bytes(log["topics"][2]), "big") for log in logs)
            if seqs != list(range(s.events)):
                raise RuntimeError("eth_getLogs: the seq topics are not 0..E-1 once each")
    node_ms = per_op_ms(node_cpu(pid) - node_cpu0, s.queries)
    return {
        "node_cpu_ms_per_query": node_ms,
        "ms_per_query": statistics.median(times),
        "ms_each": [round(t, 1) for t in times],
        "client_cpu_ms_per_query": round(statistics.median(cpu), 1),
        "queries_per_answer": pages,
        **emitted,
        "idle_wait": idle,
    }


def run_txs(w3: Any, acct: Account, storage: CompiledContract, s: Settings, idle_wait: float,
            pid: int) -> tuple[dict[str, Any], Any]:
    """(a): N pre-signed set() calls from K senders; timed from first send to counter = base + N."""
    fee = fee_of(w3)
    contract = deploy(w3, acct, storage, fee)
    gas = int(contract.functions.set(10**9, 1).estimate_gas({"from": acct.address}) * 1.2)
    keys = workload_keys(s.senders)
    addrs = [EthAccount.from_key(k).address for k in keys]
    need = -(-s.txs // s.senders) * gas * fee
    if need > 0:  # only where gas costs something (Ganache): fund the senders, untimed
        raws = sign_transfers(acct.key, addrs, amount=2 * need, nonce=acct.nonce, chain_id=CHAIN_ID, gas_price=fee)
        acct.nonce += len(raws)
        for start in range(0, len(raws), 32):  # within any per-sender pool limit
            wait_receipts(w3, send_raw_batches(w3, raws[start : start + 32]))
    with w3.batch_requests() as batch:
        for a in addrs:
            batch.add(w3.eth.get_transaction_count(a, "pending"))
        first_nonces = [int(n) for n in batch.execute()]
    raws = sign_set_calls(keys, contract.address, n=s.txs, first_nonces=first_nonces, chain_id=CHAIN_ID,
                          gas_price=fee, gas=gas)
    base = contract.functions.writes().call()
    target = base + s.txs

    idle = wait_for_idle(idle_wait, quiet_checks=2)
    deadline = time.monotonic() + s.timeout
    # ---- timed -------------------------------------------------------------
    cpu0 = node_cpu(pid)
    t0 = time.perf_counter()
    hashes = send_raw_batches(w3, raws)
    t_sent = time.perf_counter()
    t_done = wait_until(lambda: contract.functions.writes().call() == target, deadline, f"writes() = base + {s.txs}")
    node_cpu_s = node_cpu(pid) - cpu0
    # -------------------------------------------------------------------------
    first, last = wait_receipts(w3, [hashes[0], hashes[-1]])
    wall = t_done - t0
    return {
        "node_cpu_s": round(node_cpu_s, 2),
        "node_cores_busy": round(node_cpu_s / wall, 2),
        "committed_tx_per_s": s.txs / wall,
        "commit_s": round(wall, 3),
        "send_s": round(t_sent - t0, 3),
        "accepted_tx_per_s": round(s.txs / (t_sent - t0), 1),
        "blocks": f"#{first.blockNumber}..#{last.blockNumber}",
        "gas_used_last_call": last.gasUsed,
        "tx_gas_limit": gas,
        "fee_wei": fee,
        "idle_wait": idle,
    }, contract


def run_calls(w3: Any, contract: Any, s: Settings, idle_wait: float, pid: int) -> dict[str, Any]:
    """(c): sequential get(k) eth_calls on run i's Storage; every value checked."""
    keys = s.txs  # sign_set_calls wrote key j = value j + 1 for j < N
    for k in range(WARMUP_CALLS):
        contract.functions.get(k % keys).call()
    idle = wait_for_idle(idle_wait, quiet_checks=2)
    node_cpu0 = node_cpu(pid)
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(s.calls):
        k = i % keys
        got = contract.functions.get(k).call()
        if got != k + 1:
            raise RuntimeError(f"get({k}) returned {got}, expected {k + 1}")
    wall = time.perf_counter() - t0
    node_ms = per_op_ms(node_cpu(pid) - node_cpu0, s.calls)
    return {
        "eth_call_per_s": s.calls / wall,
        "node_cpu_ms_per_call": node_ms,
        "client_cpu_ms_per_call": round((time.process_time() - c0) * 1000 / s.calls, 3),
        "idle_wait": idle,
    }


def bench_target(target: Target, contracts: dict[str, CompiledContract], s: Settings) -> dict[str, Any]:
    """Every workload, ``s.runs`` times, on one started node."""
    w3 = connect(target.url)
    if w3.eth.chain_id != CHAIN_ID:
        raise RuntimeError(f"{target.name}: chain id {w3.eth.chain_id}, expected {CHAIN_ID}")
    address = EthAccount.from_key(target.private_key).address
    acct = Account(target.private_key, address, w3.eth.get_transaction_count(address, "pending"))
    out: dict[str, Any] = {"client_version": w3.client_version, "logs": [], "txs": [], "calls": []}
    t0 = time.monotonic()

    def progress(text: str) -> None:
        print(f"  {target.name} +{time.monotonic() - t0:5.1f} s {text}", file=sys.stderr, flush=True)

    # The idle wait comes before the first run's timed part of each workload only: the
    # runs of a workload follow each other, and 27 waits would not fit the time budget.
    # (b)'s events are emitted once; its runs query the same chain, from block 0 to the
    # block that holds the last of them.
    emitter, emitted = emit_logs(w3, acct, contracts["emitter"], s)
    for run in range(s.runs):
        out["logs"].append(run_logs(w3, emitter, emitted, s, s.idle_wait if run == 0 else 0, target.pid))
        progress(f"(b) run {run + 1}: {out['logs'][-1]['ms_per_query']:.1f} ms/query, "
                 f"node CPU {out['logs'][-1]['node_cpu_ms_per_query']} ms/query")
    storages = []
    for run in range(s.runs):
        res, contract = run_txs(w3, acct, contracts["storage"], s, s.idle_wait if run == 0 else 0, target.pid)
        out["txs"].append(res)
        storages.append(contract)
        progress(f"(a) run {run + 1}: {res['committed_tx_per_s']:.1f} tx/s")
    for run in range(s.runs):
        out["calls"].append(run_calls(w3, storages[run], s, s.idle_wait if run == 0 else 0, target.pid))
        progress(f"(c) run {run + 1}: {out['calls'][-1]['eth_call_per_s']:.0f} calls/s, "
                 f"node CPU {out['calls'][-1]['node_cpu_ms_per_call']} ms/call")
    out["peak_rss_mib"] = round(tree_hwm_kib(target.pid) / 1024, 1)
    out["block_gas_limit"] = int(w3.eth.get_block("latest")["gasLimit"])
    out["runs"] = {
        "committed_tx_per_s": [r["committed_tx_per_s"] for r in out["txs"]],
        "get_logs_ms": [r["ms_per_query"] for r in out["logs"]],
        "eth_call_per_s": [r["eth_call_per_s"] for r in out["calls"]],
        "get_logs_node_cpu_ms": [r["node_cpu_ms_per_query"] for r in out["logs"]],
        "node_cpu_ms_per_call": [r["node_cpu_ms_per_call"] for r in out["calls"]],
    }
    return out


def bounds(res: dict[str, Any], block_time_s: int) -> str:
    """What bounds the node's (a) figure: its sealing, its block gas limit as transactions of
    (a)'s gas limit per block (and per second with timed blocks; the share of that its
    figure reached), as many at the gas they use, its busy cores."""
    txs = res["txs"]
    tx_gas = max(r["tx_gas_limit"] for r in txs)
    used = max(r["gas_used_last_call"] for r in txs)
    per_block = res["block_gas_limit"] // tx_gas
    rate = statistics.median(r["committed_tx_per_s"] for r in txs)
    cores = statistics.median(r["node_cores_busy"] for r in txs)
    # A builder that fills blocks by the transactions' gas limits (ours, at the time of
    # writing) stops at per_block; one that counts gas used could fit the second figure.
    gas = (f"gas limit {res['block_gas_limit']:,} = {per_block:,} txs of {tx_gas:,} gas a block "
           f"({res['block_gas_limit'] // used:,} at the {used:,} gas each uses)")
    if block_time_s:
        share = rate / (per_block / block_time_s) * 100
        sealing = f"a block every {block_time_s} s; {gas}, {per_block / block_time_s:,.0f} tx/s ({share:.0f} % used)"
    else:
        sealing = f"one transaction a block (instamine); {gas}, not binding"
    return f"{sealing}; node busy {cores:.2f} cores during (a)"


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def build_figures(results: dict[str, dict[str, Any]], s: Settings) -> list[dict[str, Any]]:
    group = "peers: ledger dev node vs Ganache vs anvil (web3.py, same workloads)"
    sizes = {
        "committed_tx_per_s": f"N = {s.txs} Storage.set calls from {s.senders} senders",
        "get_logs_ms": f"{s.events} events, eth_getLogs from block 0 by address, median of {s.queries} queries per run",
        "eth_call_per_s": f"{s.calls} sequential get() calls",
    }
    # Node CPU is the process tree's over the timed loop divided by the queries or calls: a
    # mean, and for getLogs the first (cold) query of a run is in it.
    sizes["get_logs_node_cpu_ms"] = (f"{s.events} events, eth_getLogs from block 0 by address, mean of {s.queries} "
                                     "queries per run, the first of them cold")
    sizes["node_cpu_ms_per_call"] = f"mean of {s.calls} sequential get() calls"
    figures = []
    for name, res in results.items():
        if res.get("status") != "ran":
            continue
        for metric, (unit, better, _label) in METRICS.items():
            figures.append(figure(f"peers.{name}.{metric}", unit, res["runs"][metric], better=better, group=group,
                                  note=f"{sizes[metric]}; sealing: {res['sealing']}; fee {res['fee']}"))
        for metric, (unit, better, _label) in NODE_CPU_METRICS.items():
            if all(res["runs"][metric]):  # None: a run below one clock tick (per_op_ms)
                figures.append(figure(f"peers.{name}.{metric}", unit, res["runs"][metric], better=better, group=group,
                                      note=f"the node's process-tree CPU over the timed loop; {sizes[metric]}"))
    ours = results.get("ledger", {})
    for peer in PEERS:
        theirs = results.get(peer, {})
        if ours.get("status") != "ran" or theirs.get("status") != "ran":
            continue
        for metric, (_unit, better, _label) in {**METRICS, **NODE_CPU_METRICS}.items():
            if not (all(ours["runs"][metric]) and all(theirs["runs"][metric])):
                continue
            pairs = [a / b for a, b in zip(ours["runs"][metric], theirs["runs"][metric])]
            figures.append(figure(f"peers.ratio.ledger_over_{peer}.{metric}", "x", pairs, better=better, group=group,
                                  note=f"run i of ledger / run i of {peer}; {sizes[metric]}"))
    return figures


def _fmt(fig: dict[str, Any]) -> str:
    def num(v: float) -> str:
        return f"{v:.2f}" if fig["unit"] == "x" else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")

    runs = ", ".join(num(v) for v in fig["runs"])
    return f"{num(fig['median'])} {fig['unit']}  (runs {runs}; spread {fig['spread_pct']} %)"


def print_report(info: dict[str, Any], results: dict[str, dict[str, Any]], figures: list[dict[str, Any]],
                 s: Settings, contracts: dict[str, CompiledContract], duration_s: float) -> None:
    rows: list[tuple[str, Any]] = machine_rows(info) + [
        ("client", "web3.py HTTPProvider (keep-alive), pre-signed legacy txs"),
        ("contracts", f"{contracts['storage'].source_note}; {contracts['emitter'].source_note}"),
        ("sizes", f"(a) N = {s.txs} txs, {s.senders} senders, batches of {SEND_BATCH}; "
                  f"(b) {s.events} events in txs of {s.events_per_tx}, {s.queries} queries/run; "
                  f"(c) {s.calls} calls; {s.runs} run(s) each"),
    ]
    for name, res in results.items():
        if res.get("status") != "ran":
            rows.append((name, res.get("status")))
            continue
        rows += [
            (f"{name}: version", res["client_version"]),
            (f"{name}: sealing / fee", f"{res['sealing']} / {res['fee']}"),
            (f"{name}: peak RSS (VmHWM)", f"{res['peak_rss_mib']} MiB"),
            (f"{name}: what bounds (a)", res["bounds"]),
            (f"{name}: web3.py client CPU per getLogs query / per eth_call",
             f"{statistics.median([r['client_cpu_ms_per_query'] for r in res['logs']]):.1f} ms / "
             f"{statistics.median([r['client_cpu_ms_per_call'] for r in res['calls']]):.2f} ms"),
        ]
    by_name = {f["name"]: f for f in figures}
    for metric, (_unit, _better, label) in {**METRICS, **NODE_CPU_METRICS}.items():
        for name in results:
            if f"peers.{name}.{metric}" in by_name:
                rows.append((f"{label}: {name}", _fmt(by_name[f"peers.{name}.{metric}"])))
        for peer in PEERS:
            key = f"peers.ratio.ledger_over_{peer}.{metric}"
            if key in by_name:
                rows.append((f"{label}: ledger / {peer}", _fmt(by_name[key])))
    rows.append(("whole run", f"{duration_s:.0f} s"))
    print_table("peers: ledger dev node vs Ganache vs anvil, same workloads through web3.py", rows)


def _fee_text(name: str, fees: list[int]) -> str:
    if not any(fees):
        return "0 (gasPrice 0 on every transaction)"
    def wei(v: int) -> str:
        return f"{v / 1e9:.3g} gwei" if v >= 10**8 else f"{v:,} wei"

    lo, hi = min(fees), max(fees)
    span = wei(lo) if lo == hi else f"{wei(lo)} to {wei(hi)}"
    why = "no zero base fee in Ganache 7.9.2: " if name == "ganache" else ""
    return f"gasPrice {span} ({why}2 x base fee, per run)"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------
def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks that stop the nodes


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--txs", type=int, default=2000, help="(a) set() calls per run (default 2000)")
    p.add_argument("--events", type=int, default=10_000, help="(b) events emitted once per node, read by every run (default 10000)")
    p.add_argument("--events-per-tx", type=int, default=EVENTS_PER_TX, help=f"(b) events per emit_many call (default {EVENTS_PER_TX}, at most 5000)")
    p.add_argument("--queries", type=int, default=2, help="(b) eth_getLogs queries per run (default 2)")
    p.add_argument("--calls", type=int, default=500, help="(c) eth_calls per run (default 500)")
    cli.add_runs(p, 3, "runs of each workload per node")
    p.add_argument("--nodes", nargs="+", choices=NODES, default=list(NODES), help="nodes to run, in this order (default: all)")
    p.add_argument("--ganache-block-time", type=int, default=0, choices=(0, 1), help="Ganache sealing: 0 instamine (default), 1 one-second blocks")
    p.add_argument("--peer-gas-limit", type=int, default=PEER_BLOCK_GAS_LIMIT,
                   help=f"Ganache's and anvil's block gas limit (default {PEER_BLOCK_GAS_LIMIT:.0e}: does not bind)")
    p.add_argument("--anvil-block-time", type=int, default=1, choices=(0, 1), help="anvil sealing: 1 one-second blocks (default), 0 automine (stalls at N = 2000)")
    cli.add_idle_wait(p, 5.0, before="each workload's first timed part")
    cli.add_quick(p, "50 txs, 200 events, 100 calls, 2 queries, 1 run, no idle wait")
    cli.add_timeout(p, 180.0, "each run's wait for commits")
    cli.add_node_start(p)
    cli.add_figures_out(p)
    args = p.parse_args(argv)
    if args.quick:
        args.txs, args.events, args.events_per_tx, args.calls, args.queries, args.runs, args.idle_wait = 50, 200, 100, 100, 2, 1, 0.0
    if min(args.txs, args.events, args.calls, args.queries, args.runs) < 1 or not 1 <= args.events_per_tx <= 5000:
        p.error("sizes must be >= 1 and --events-per-tx at most 5000 (Emitter's loop bound)")
    s = Settings(txs=args.txs, events=args.events, events_per_tx=args.events_per_tx, calls=args.calls,
                 queries=args.queries, runs=args.runs, senders=default_senders(args.txs),
                 idle_wait=args.idle_wait, timeout=args.timeout)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    t_start = time.monotonic()
    info = machine_info()
    contracts = {"storage": compile_contract(CONTRACT_PATH, evm_version=EVM_VERSION),
                 "emitter": compile_contract(EMITTER_PATH, evm_version=EVM_VERSION)}
    results: dict[str, dict[str, Any]] = {}
    installed: npm.Installed | None = None
    peers_problem: str | None = None
    if any(n in PEERS for n in args.nodes):
        try:
            installed = install_peers()
        except PeerSkipped as exc:
            peers_problem = f"skipped: {exc}"
        except npm.NpmFailed as exc:
            peers_problem = f"failed: {exc}"
    for name in args.nodes:
        if name in PEERS and peers_problem:
            results[name] = {"status": peers_problem}
            print(f"{name}: {peers_problem}", file=sys.stderr, flush=True)
            continue
        workdir = Path(tempfile.mkdtemp(prefix=f"peers-{name}-"))
        target: Target | None = None
        try:
            print(f"{name}: starting", file=sys.stderr, flush=True)
            target = start_target(name, args, workdir, installed)
            res = bench_target(target, contracts, s)
            fees = [r["fee_wei"] for r in res["logs"] + res["txs"]]
            results[name] = {"status": "ran", "sealing": target.sealing, "command": target.command,
                             "fee": _fee_text(name, fees), **res, "bounds": bounds(res, target.block_time_s)}
        except Exception as exc:  # record it, run the other nodes, exit 1 at the end
            traceback.print_exc()
            if target is not None:
                print(f"---- {name} log (tail) ----\n{target.log_tail()}", file=sys.stderr)
            results[name] = {"status": f"failed: {type(exc).__name__}: {str(exc)[:500]}"}
        finally:
            if target is not None:
                rc = target.stop()
                print(f"{name}: stopped (exit code {rc})", file=sys.stderr, flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
    if installed is not None:
        for name in PEERS:
            if name in results:
                results[name]["package_version"] = npm.package_version(
                    installed.node_modules, "ganache" if name == "ganache" else "@foundry-rs/anvil")

    duration = time.monotonic() - t_start
    figures = build_figures(results, s)
    print_report(info, results, figures, s, contracts, duration)
    write_figures(
        args.figures_out, "peers", figures,
        peers=results,
        sizes={"txs": s.txs, "senders": s.senders, "send_batch": SEND_BATCH, "events": s.events,
               "events_per_tx": s.events_per_tx, "queries_per_run": s.queries, "calls": s.calls, "runs": s.runs},
        contracts={k: c.source_note for k, c in contracts.items()},
        block_time_s={"ganache": args.ganache_block_time, "anvil": args.anvil_block_time},
        quick=args.quick,
        duration_s=round(duration, 1),
    )
    failed = [n for n, r in results.items() if str(r.get("status", "")).startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
