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

    .venv/bin/python bench/throughput.py                 # N=2000, batch 100
    .venv/bin/python bench/throughput.py --quick         # N=200, batch 50, smoke
    .venv/bin/python bench/throughput.py --url http://127.0.0.1:8545 \\
        --private-key 0x... [--pid PID]                  # an already running endpoint
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    WRITES_SELECTOR,
    compile_storage_contract,
    machine_info,
    machine_rows,
    print_json_line,
    print_table,
    set_calldata,
    sign_deploy,
    sign_set_calls,
    sign_transfers,
    default_senders,
    machine_cpu,
    wait_for_idle,
    workload_keys,
    write_figures,
    figure,
)

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# --------------------------------------------------------------------------
# JSON-RPC over one keep-alive HTTP connection
# --------------------------------------------------------------------------
class RpcError(RuntimeError):
    pass


class Rpc:
    def __init__(self, url: str, timeout: float = 60.0, token: str | None = None) -> None:
        u = urlparse(url)
        host = u.hostname or "127.0.0.1"
        if host not in LOOPBACK_HOSTS and not host.startswith("127."):
            raise SystemExit(f"refusing non-loopback RPC target {host!r}")
        self.host, self.port, self.path = host, u.port or 80, u.path or "/"
        self.timeout = timeout
        # A role token (node/access/http.py) for nodes that require one (a cluster's admin.token;
        # --url against another node: $LEDGER_TOKEN).
        token = token or os.environ.get("LEDGER_TOKEN")
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes) -> Any:
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", self.path, body, self.headers)
                resp = self._conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, socket.timeout):
                self.close()
                if attempt == 2:
                    raise
                continue
            if resp.status != 200:
                raise RpcError(f"HTTP {resp.status}: {data[:300]!r}")
            return json.loads(data)
        raise AssertionError("unreachable")

    def call(self, method: str, params: list | None = None) -> Any:
        self._id += 1
        out = self._post(json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}).encode())
        if "error" in out and out["error"] is not None:
            raise RpcError(f"{method}: {out['error']}")
        return out.get("result")

    def batch(self, calls: list[tuple[str, list]]) -> list[dict]:
        """One JSON-RPC batch request; returns the responses ordered like ``calls``."""
        first = self._id + 1
        payload = []
        for method, params in calls:
            self._id += 1
            payload.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        out = self._post(json.dumps(payload).encode())
        if not isinstance(out, list):
            raise RpcError(f"batch answered with a non-list: {str(out)[:300]}")
        by_id = {r.get("id"): r for r in out}
        return [by_id.get(first + i, {"error": {"message": "missing response"}}) for i in range(len(calls))]


def http_get_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path)
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def wait_receipt(rpc: Rpc, tx_hash: str, deadline: float, poll: float = 0.02) -> dict:
    while time.monotonic() < deadline:
        r = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if r:
            return r
        time.sleep(poll)
    raise TimeoutError(f"no receipt for {tx_hash} before the deadline")


# --------------------------------------------------------------------------
# node process and memory sampling
# --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo and len(seen) < 256:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(_children(p))
    return seen


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


@dataclass
class MemorySampler:
    pid: int
    interval: float = 0.05
    peak_tree_kib: int = 0
    peak_main_kib: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        pids = process_tree(self.pid)
        rss = [status_kib(p, "VmRSS") or 0 for p in pids]
        self.peak_tree_kib = max(self.peak_tree_kib, sum(rss))
        self.peak_main_kib = max(self.peak_main_kib, rss[0] if rss else 0)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.sample()

    def hwm_kib(self) -> int:
        """Peak resident set (VmHWM) of the node and its children, as the kernel saw it."""
        return max((status_kib(p, "VmHWM") or 0) for p in process_tree(self.pid))


class LoggedProcess:
    """A child process whose output goes to ``log_path`` (through the open file ``_log``):
    the tail of its log, and a stop that escalates from SIGTERM to SIGKILL."""

    proc: subprocess.Popen | None
    log_path: Path
    _log: Any

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


class NodeProcess(LoggedProcess):
    """``ledger node start --dev`` in a temporary data dir, on a free loopback port."""

    def __init__(self, ledger: str, data_dir: Path, port: int, extra_args: list[str]) -> None:
        self.ledger, self.data_dir, self.port = ledger, data_dir, port
        self.cmd = [
            ledger, "node", "start", "--dev",
            "--data-dir", str(data_dir),
            "--rpc-host", "127.0.0.1",
            "--rpc-port", str(port),
            *extra_args,
        ]
        self.log_path = data_dir.parent / "node.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, ready_timeout: float) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(self.data_dir.parent)
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}")
            if http_get_status("127.0.0.1", self.port, "/healthz") == 200:
                return
            time.sleep(0.1)
        raise TimeoutError(f"node not ready (GET /healthz) within {ready_timeout:.0f} s:\n{self.log_tail()}")

    def dev_key(self, timeout: float = 10.0) -> tuple[str, str]:
        """(address, private key) of the funded dev account written by ``--dev``."""
        deadline = time.monotonic() + timeout
        path = self.data_dir / "dev-account.json"
        while time.monotonic() < deadline:
            if path.exists():
                try:
                    d = json.loads(path.read_text())
                    return d["address"], d["private_key"]
                except (ValueError, KeyError):
                    pass
            time.sleep(0.1)
        found = sorted(str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if p.is_file())[:50]
        raise RuntimeError(f"{path} not found or unreadable; data dir holds: {found}")

    def block_period(self) -> str:
        try:
            q = json.loads((self.data_dir / "genesis.json").read_text())["config"]["qbft"]
            return f"{q['blockperiodseconds']} s (empty blocks every {q.get('emptyblockperiodseconds', '?')} s)"
        except (OSError, ValueError, KeyError, TypeError):
            return "unknown"



# --------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------
class PySpy:
    """Optional sampling profile of the node during the timed section (py-spy from PyPI).

    Writes py-spy's "raw" collapsed stacks; ``top_functions`` turns them into
    inclusive (cumulative) percentages of the node's active samples.
    """

    def __init__(self, exe: str, pid: int, out: Path, rate: int = 200) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--output", str(out), "--format", "raw", "--rate", str(rate),
             "--nonblocking", "--subprocesses"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # let it attach

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# Frames of the thread/event-loop/web-framework plumbing: always on the stack, never a hot spot.
_PLUMBING = re.compile(
    r"\((threading|concurrent/futures/thread|asyncio/[a-z_]+|runpy|selectors)\.py|"
    r"\((typer|click|starlette|fastapi|uvicorn|anyio)/|\(ledger\)|^<module>"
)


def top_functions(collapsed: Path, limit: int = 20) -> list[tuple[str, float, float]]:
    """[(function, inclusive %, self %)] from py-spy raw/collapsed stacks.

    Frames are merged per function (line numbers dropped), thread/event-loop and
    web-framework plumbing is left out, and percentages are of all active samples
    of the node (all threads).
    """
    total = 0
    incl: dict[str, int] = {}
    self_: dict[str, int] = {}
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = [re.sub(r":\d+\)$", ")", f.strip()) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        for f in set(frames):
            if not _PLUMBING.search(f):
                incl[f] = incl.get(f, 0) + c
        if frames:
            self_[frames[-1]] = self_.get(frames[-1], 0) + c
    if not total:
        return []
    ranked = sorted(incl.items(), key=lambda kv: -kv[1])[:limit]
    return [(f, 100 * c / total, 100 * self_.get(f, 0) / total) for f, c in ranked]


def send_all(rpc: Rpc, hex_raws: list[str], hashes: list[str], batch_size: int, deadline: float) -> None:
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


def wait_included(rpc: Rpc, hashes: list[str], from_block: int, deadline: float, poll: float = 0.025) -> tuple[dict[int, int], float]:
    """Follow new blocks until every hash is in one; returns ({block: our tx count}, time seen).

    Polls ``eth_blockNumber`` and reads each new block once (its transaction
    hashes), so the load the poller adds to the node is one cheap call per
    ``poll`` seconds plus one block read per block.
    """
    pending = set(hashes)
    per_block: dict[int, int] = {}
    next_block = from_block + 1
    while time.monotonic() < deadline:
        head = int(rpc.call("eth_blockNumber"), 16)
        while next_block <= head:
            blk = rpc.call("eth_getBlockByNumber", [hex(next_block), False])
            ours = [h for h in blk["transactions"] if h.lower() in pending]
            if ours:
                per_block[next_block] = len(ours)
                pending.difference_update(h.lower() for h in ours)
            next_block += 1
        if not pending:
            return per_block, time.perf_counter()
        time.sleep(poll)
    raise TimeoutError(f"{len(pending)} of {len(hashes)} transactions not in a block before the deadline")


def run_load(
    rpc: Rpc, private_key: str, address: str, *, n: int, batch_size: int, senders: int, bytecode: bytes,
    pid: int | None, timeout: float, py_spy: tuple[str, Path] | None = None, idle_wait: float = 0.0,
) -> dict[str, Any]:
    from eth_account import Account
    from eth_utils import keccak

    if Account.from_key(private_key).address.lower() != address.lower():
        raise RuntimeError("dev account: address does not match private key")
    chain_id = int(rpc.call("eth_chainId"), 16)
    gas_price = int(rpc.call("eth_gasPrice"), 16)
    nonce = int(rpc.call("eth_getTransactionCount", [address, "pending"]), 16)
    latest = rpc.call("eth_getBlockByNumber", ["latest", False])
    block_gas_limit = int(latest["gasLimit"], 16)

    # deploy (untimed)
    deploy_hash = rpc.call("eth_sendRawTransaction", ["0x" + sign_deploy(private_key, bytecode, nonce=nonce, chain_id=chain_id, gas_price=gas_price).hex()])
    rec = wait_receipt(rpc, deploy_hash, time.monotonic() + 60)
    if int(rec["status"], 16) != 1 or not rec.get("contractAddress"):
        raise RuntimeError(f"deploy failed: {rec}")
    to = rec["contractAddress"]
    nonce += 1

    # gas per tx: estimate a first-time write, +20 %, and use it for every call
    try:
        est = int(rpc.call("eth_estimateGas", [{"from": address, "to": to, "data": "0x" + set_calldata(10**9, 1).hex()}]), 16)
        tx_gas = int(est * 1.2)
    except RpcError:
        tx_gas = 120_000
    writes_before = int(rpc.call("eth_call", [{"to": to, "data": "0x" + WRITES_SELECTOR.hex()}, "latest"]), 16)

    # senders: deterministic keys, funded by the dev account only if gas costs anything
    keys = workload_keys(senders)
    addrs = [Account.from_key(k).address for k in keys]
    per_sender = -(-n // senders)
    need = per_sender * tx_gas * gas_price
    if need > 0:
        for start in range(0, senders, 32):  # stays within any per-sender pool limit
            chunk = addrs[start : start + 32]
            raws = sign_transfers(private_key, chunk, amount=2 * need, nonce=nonce, chain_id=chain_id, gas_price=gas_price)
            nonce += len(raws)
            hs = [rpc.call("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws]
            for h in hs:
                if int(wait_receipt(rpc, h, time.monotonic() + 60)["status"], 16) != 1:
                    raise RuntimeError("funding a sender failed")
    first_nonces = [
        int(r["result"], 16)
        for r in rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in addrs])
    ]

    t_sign = time.perf_counter()
    raws = sign_set_calls(keys, to, n=n, first_nonces=first_nonces, chain_id=chain_id, gas_price=gas_price, gas=tx_gas)
    sign_s = time.perf_counter() - t_sign
    hashes = ["0x" + keccak(r).hex() for r in raws]
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
    sample = [r.get("result") for r in rpc.batch([("eth_getTransactionReceipt", [h]) for h in (hashes[0], hashes[-1])])]
    if not all(r and int(r["status"], 16) == 1 for r in sample):
        raise RuntimeError(f"verification failed: receipts {sample}")
    gas_used = int(sample[-1]["gasUsed"], 16)
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


def node_run(args: argparse.Namespace, contract: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """One timed run against a fresh node (or the --url endpoint): (result, memory, target)."""
    node: NodeProcess | None = None
    sampler: MemorySampler | None = None
    tmp = None
    mem: dict[str, Any] = {}
    try:
        if args.url:
            rpc = Rpc(args.url)
            from eth_account import Account

            address = Account.from_key(args.private_key).address
            key, pid, target = args.private_key, args.pid, args.url
        else:
            if not Path(args.ledger).exists() and not shutil.which(args.ledger):
                raise SystemExit(f"ledger CLI not found at {args.ledger} (pip install -e '.[test]')")
            tmp = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
            node = NodeProcess(args.ledger, tmp / "data", free_port(), args.node_arg)
            node.start(args.ready_timeout)
            address, key = node.dev_key()
            args.block_period = args.block_period or node.block_period()
            rpc = Rpc(node.url)
            pid = node.proc.pid
            target = f"ledger node start --dev --data-dir <tmp> --rpc-host 127.0.0.1 --rpc-port {node.port} (pid {pid})"
        if pid:
            sampler = MemorySampler(pid)
            sampler.start()
        res = run_load(
            rpc, key, address, n=args.txs, batch_size=args.batch_size, senders=args.senders,
            bytecode=contract.bytecode, pid=pid, timeout=args.timeout,
            py_spy=(args.py_spy_bin, Path(args.py_spy)) if args.py_spy else None, idle_wait=args.idle_wait,
        )
        rpc.close()
        if sampler:
            sampler.stop()
            mem = {
                "peak_rss_mib": round(max(sampler.hwm_kib(), sampler.peak_tree_kib) / 1024, 1),
                "vmhwm_mib": round(sampler.hwm_kib() / 1024, 1),
                "peak_sampled_rss_mib": round(sampler.peak_tree_kib / 1024, 1),
                "rss_samples": sampler.samples,
            }
    except BaseException:
        if node is not None:
            print("---- node log (tail) ----\n" + node.log_tail(), file=sys.stderr)
        raise
    finally:
        if sampler:
            sampler.stop()
        if node is not None:
            rc = node.stop()
            print(f"node stopped (exit code {rc})", file=sys.stderr)
        if tmp is not None and not args.keep_data:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            print(f"node data and log kept in {tmp}", file=sys.stderr)

    return res, mem, target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--txs", type=int, default=2000, help="transactions to send (default 2000)")
    p.add_argument("--batch-size", type=int, default=100, help="eth_sendRawTransaction calls per JSON-RPC batch (default 100)")
    p.add_argument("--senders", type=int, default=None, help="sending accounts, round-robin (default ceil(N/50))")
    p.add_argument("--idle-wait", type=float, default=30.0, help="before each timed section wait up to this many s for an idle machine (default 30; 0 = off)")
    p.add_argument("--quick", action="store_true", help="smoke run: N=200, batch 50, ceiling N=200/B=100 x1, no idle wait")
    p.add_argument("--ceiling-block-size", type=int, default=500, help="txs per block in the py-evm ceiling (default 500)")
    p.add_argument("--ceiling-runs", type=int, default=3, help="ceiling runs, median reported (default 3)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the py-evm ceiling")
    p.add_argument("--ledger", default=str(Path(sys.executable).parent / "ledger"), help="the ledger CLI (default: next to this python)")
    p.add_argument("--node-arg", action="append", default=[], help="extra argument for `ledger node start` (repeatable)")
    p.add_argument("--block-period", default=None, help="block period to report with --url (read from the data dir's genesis.json otherwise)")
    p.add_argument("--url", help="benchmark an already running loopback endpoint instead of starting a node")
    p.add_argument("--private-key", help="funded key for --url")
    p.add_argument("--pid", type=int, help="pid of the --url endpoint's process, for memory/CPU sampling")
    p.add_argument("--timeout", type=float, default=300.0, help="deadline for the timed section, seconds (default 300)")
    p.add_argument("--ready-timeout", type=float, default=90.0, help="node start deadline, seconds (default 90)")
    p.add_argument("--py-spy", metavar="OUT", help="profile the node with py-spy during the timed section; raw stacks to OUT (figures are then not representative)")
    p.add_argument("--py-spy-bin", default="py-spy", help="py-spy executable (pip install py-spy)")
    p.add_argument("--keep-data", action="store_true", help="keep the node's temporary data dir and log")
    p.add_argument("--runs", type=int, default=1, help="timed runs, each on a fresh node; the tables show the median run (default 1)")
    p.add_argument("--figures-out", type=Path, help="write every run's figures here (for bench/run_all)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    if args.quick:
        args.txs, args.batch_size, args.ceiling_block_size, args.ceiling_runs, args.idle_wait = 200, 50, 100, 1, 0.0
    if args.txs < 1 or args.batch_size < 1:
        p.error("N and batch size must be >= 1")
    args.senders = args.senders or default_senders(args.txs)
    if args.url and not args.private_key:
        p.error("--url needs --private-key")

    info = machine_info()
    contract = compile_storage_contract()
    runs = [node_run(args, contract) for _ in range(args.runs)]
    # The tables below show the run with the median committed tx/s; the figures keep every run.
    res, mem, target = sorted(runs, key=lambda r: r[0]["committed_tx_per_s"])[(len(runs) - 1) // 2]

    ceiling = None
    if not args.no_ceiling:
        from bench.evm_ceiling import run_ceiling

        ceiling = run_ceiling(args.txs, args.ceiling_block_size, args.ceiling_runs, args.senders, idle_wait=args.idle_wait)
    ratio = res["committed_tx_per_s"] / ceiling["tx_per_s_median"] if ceiling else None

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
            ("node / ceiling", f"{100 * ratio:.0f} %"),
        ]
    print_table("ledger throughput (committed tx/s through JSON-RPC)", rows)
    if args.py_spy and Path(args.py_spy).exists():
        top = top_functions(Path(args.py_spy))
        print_table(
            f"node profile (py-spy, {args.py_spy}): inclusive % / self % of active samples",
            [(f if len(f) < 120 else f[:117] + "...", f"{i:.1f} / {sf:.1f}") for f, i, sf in top],
        )
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
