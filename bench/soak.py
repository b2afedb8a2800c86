"""Soak: a 4-validator cluster under legitimate load plus the abusive requests of issue 15, measured.

What it does (every process on 127.0.0.1; every process it starts is stopped in ``finally``,
also on Ctrl-C):

1. creates a cluster with ``node.cluster.create_cluster`` (as ``bench/consensus.py`` does:
   real node processes, mutual TLS, auth required) with a 1-second block period and, by
   default, an empty-block period equal to it, so every height is timed by the period
   whether or not transactions wait; genesis registers three member accounts: the
   legitimate client, the abuser and a spare. Role tokens come from the cluster's own
   issuer (``node.access.TokenStore``, what ``ledger token issue --data-dir D`` runs):
   PARTY for the legitimate client, PARTY + REGULATOR + AUDITOR for the abuser;
2. **idle** (``--idle-seconds``, default 20): nothing but the measurement;
3. **legit** (``--legit-seconds``, default 20): the legitimate load alone against the
   target node (validator-0): one evidence anchoring per second (``EvidenceRegistry.anchor``
   signed by a member account, as ``bench/scaling.py`` builds it) and, five times a
   second in turn, ``eth_blockNumber``, ``eth_getTransactionReceipt`` of its latest
   anchoring, ``eth_call`` of the registry's ``entry_count()`` and ``GET /healthz``;
4. **abuse** (``--seconds``, default 180): the same load while a separate process (so
   that its threads do not share the measuring process's interpreter lock) sends the
   abusive requests of the issue to the same node, each kind in its own worker with a
   fixed, small concurrency and a client timeout on every request (see ``ABUSE_KINDS``);
   the phase ends when the abuse process has ended its last request (at most
   ``ABUSE_TIMEOUT`` after the time is up): what is still in flight is abuse too;
5. **recovery** (``--recovery-seconds``, default 15): the legitimate load alone again,
   to see whether the node comes back.

Measured throughout: every block, followed on the last validator (a node no client
talks to, so a stalled RPC on the target does not hide blocks): its header timestamp
(whole seconds) and the wall-clock time it was first seen (polled every 50 ms); every
node's RSS (``/proc/PID/status`` VmRSS of the node process and its children, every
0.5 s, and VmHWM at the end); latency and failures of each legitimate call; submit ->
committed latency of each legitimate anchoring; per abuse kind the requests sent,
answered, refused (an HTTP or JSON-RPC error, a closed socket) and failed (timeout or
connection error). It asserts nothing and exits 0: it measures. The verdicts of the
issue's targets (max block interval <= 2x the period and every node's RSS <= 2x its
idle RSS, while the abuse runs) are printed as PASS/FAIL text.

Output: tables on stdout, ``<output>.json`` (everything, including every block and RSS
sample) and ``<output>.md`` (the tables), ``<output>`` = ``bench/results/soak`` by
default. It is not part of ``bench/run_all`` (minutes long, and it saturates the machine).

    .venv/bin/python bench/soak.py                    # 20 s idle, 20 s legit, 3 min abuse, 15 s recovery
    .venv/bin/python bench/soak.py --seconds 60
    .venv/bin/python bench/soak.py --seconds 60 --skip pki_tx,estimate_gas --output /tmp/soak
    .venv/bin/python bench/soak.py --seconds 30 --only fee_history --output /tmp/soak-fee
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import itertools
import json
import math
import multiprocessing
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO_ROOT, machine_info, machine_rows, print_table, workload_keys  # noqa: E402
from bench.consensus import percentile  # noqa: E402
from bench.run_all import git_commit  # noqa: E402
from bench.scaling import Anchorer  # noqa: E402
from bench.throughput import Rpc, process_tree, status_kib  # noqa: E402

# -- phases and pacing ------------------------------------------------------------------
DEFAULT_SECONDS = 180.0          # the issue: "a bounded run (minutes)"
DEFAULT_IDLE_SECONDS = 20.0      # the issue's idle baseline
DEFAULT_LEGIT_SECONDS = 20.0     # legit load alone: the latencies the abuse is compared with
DEFAULT_RECOVERY_SECONDS = 15.0  # long enough for a few blocks after the abuse stops
PHASES = ("idle", "legit", "abuse", "recovery")
HEAD_POLL_SECONDS = 0.05         # wall-clock resolution of "block first seen"
RSS_SAMPLE_SECONDS = 0.5         # a 300 MB answer lives for seconds: 0.5 s sees it
LEGIT_TX_INTERVAL = 1.0          # one anchoring per block period: "a modest rate"
LEGIT_READ_INTERVAL = 0.2        # five reads a second, one kind after another
LEGIT_TIMEOUT = 10.0             # a legitimate call slower than this counts as failed
LEGIT_GAS = 400_000              # one anchoring costs ~276,000 gas (BENCHMARKS.md, scaling)
STARTUP_DEADLINE = 90.0          # four nodes starting on two shared cores
WARMUP_BLOCKS = 3                # blocks seen before the idle phase starts
ABUSE_JOIN_SECONDS = 90.0        # the abuse process ends its requests (<= ABUSE_TIMEOUT) and writes its tally
LEGIT_JOIN_SECONDS = LEGIT_TIMEOUT + 5.0
ERROR_SAMPLES = 3                # distinct refusal/failure messages kept per abuse kind
ERROR_CHARS = 200                # ... each cut to this many characters

# -- the abuse: one worker per kind, fixed concurrency, each request with a timeout ----
ABUSE_TIMEOUT = 30.0             # seconds a single abusive request may take client-side
PARSE_LIMIT = 1 << 20            # answers larger than this are counted and discarded, not parsed
READ_CHUNK = 1 << 20
FEE_HISTORY_PERCENTILES = 1_000_000   # finding 1: ["0x400","latest",[1]*1000000], a ~2 MB request
FEE_HISTORY_BLOCKS = "0x400"
# Finding 2. eth_estimateGas: init code that succeeds only when it starts with more than
# ESTIMATE_THRESHOLD gas left and otherwise loops until out of gas, so every step of the
# binary search below that re-runs the loop to exhaustion (~24 runs of up to the cap).
ESTIMATE_THRESHOLD = 9_900_000        # just under the node's 10M RPC gas cap (node/rpc/methods.py)
CALL_BATCH_WORKERS = 4                # finding 2: four REGULATOR batches ...
CALL_BATCH_SIZE = 3                   # ... of three looping eth_calls
FLOOD_WORKERS = 4                     # finding 3: back-to-back batches from one token
FLOOD_BATCH = 100
FILTER_BODY_BYTES = 5_000_000         # finding 4: a topic list just under the 5 MiB body cap
FILTER_COUNT = 10_000                 # finding 4: one caller, 10,000 filters ...
FILTER_BATCH = 100                    # ... created and polled 100 per request
WS_CONNECTIONS = 400                  # finding 5: sockets held open from one token
SSE_STREAMS = 300                     # finding 5: above the node's 256 feed streams
OPEN_CONCURRENCY = 25                 # handshakes in flight at once, per kind (WebSocket, SSE)
PKI_TX_PER_SECOND = 10.0              # finding 6: precompile transactions from one member
PKI_CALL_INTERVAL = 1.0               # ... and one eth_call of it a second
PKI_TX_GAS = 400_000                  # ~7.7 KB calldata (~125k gas) + 63k precompile gas + 21k
PKI_CHAIN_LENGTH = 5                  # evidence.x509.MAX_CHAIN_LENGTH
PKI_RSA_BITS = 3072                   # OpenSSL bounds the public exponent only above 3072-bit moduli
PKI_EXPONENT_BITS = 3066

ABUSE_KINDS: dict[str, str] = {
    "fee_history": f"eth_feeHistory [{FEE_HISTORY_BLOCKS}, latest, [1]*{FEE_HISTORY_PERCENTILES:,}], PARTY, 1 at a time",
    "estimate_gas": "eth_estimateGas of gas-burning init code (~100-byte request), PARTY, 1 at a time",
    "call_batches": f"{CALL_BATCH_WORKERS} REGULATOR workers, each a batch of {CALL_BATCH_SIZE} eth_calls looping to the gas cap",
    "flood": f"{FLOOD_WORKERS} PARTY workers, back-to-back batches of {FLOOD_BATCH} cheap reads",
    "filter_topics": f"eth_newFilter with a {FILTER_BODY_BYTES / 1e6:g} MB topic list, then eth_getFilterChanges, AUDITOR, 1 at a time",
    "filter_count": f"{FILTER_COUNT:,} filters from one AUDITOR token ({FILTER_BATCH} per batch), then polling them",
    "websockets": f"{WS_CONNECTIONS} WebSockets from one PARTY token, each subscribed to newHeads",
    "sse": f"{SSE_STREAMS} /v1/feed event streams from the same PARTY token",
    "pki_tx": f"transactions to the PKI precompile, {PKI_CHAIN_LENGTH}-cert RSA-{PKI_RSA_BITS} chain, "
              f"{PKI_EXPONENT_BITS}-bit public exponent, {PKI_TX_PER_SECOND:g}/s from one member",
    "pki_call": "eth_call of the same precompile verify, 1/s",
}
OUTCOMES = ("sent", "answered", "refused", "failed")

LOOP_FOREVER = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: runs until out of gas


# ---------------------------------------------------------------------------------------
# pure helpers (tests/unit/bench/test_soak.py)
# ---------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="abuse phase (default 180)")
    p.add_argument("--idle-seconds", type=float, default=DEFAULT_IDLE_SECONDS, help="idle baseline (default 20)")
    p.add_argument("--legit-seconds", type=float, default=DEFAULT_LEGIT_SECONDS, help="legitimate load alone (default 20)")
    p.add_argument("--recovery-seconds", type=float, default=DEFAULT_RECOVERY_SECONDS,
                   help="legitimate load alone after the abuse (default 15)")
    p.add_argument("--validators", type=int, default=4, help="validators in the cluster (default 4)")
    p.add_argument("--block-period", type=int, default=1, help="genesis blockperiodseconds (default 1)")
    p.add_argument("--empty-block-period", type=int, default=None,
                   help="genesis emptyblockperiodseconds (default: the block period, so every height is timed)")
    p.add_argument("--skip", type=_kinds, default=frozenset(), help=f"comma-separated abuse kinds to leave out: {', '.join(ABUSE_KINDS)}")
    p.add_argument("--only", type=_kinds, default=None,
                   help="comma-separated abuse kinds to run, the others left out (to see which kind does what)")
    p.add_argument("--output", type=Path, default=REPO_ROOT / "bench" / "results" / "soak",
                   help="write OUTPUT.json and OUTPUT.md (default bench/results/soak)")
    args = p.parse_args(argv)
    for name in ("seconds", "idle_seconds", "legit_seconds", "recovery_seconds"):
        if getattr(args, name) < 0 or not math.isfinite(getattr(args, name)):
            p.error(f"--{name.replace('_', '-')} must be a finite number >= 0")
    if not 1 <= args.validators <= 16:
        p.error("--validators must be between 1 and 16 (the last one is the quiet observer of blocks)")
    if args.block_period < 1:
        p.error("--block-period must be >= 1")
    if args.only is not None:
        if args.skip:
            p.error("give --skip or --only, not both")
        args.skip = frozenset(ABUSE_KINDS) - args.only
    if args.empty_block_period is None:
        args.empty_block_period = args.block_period
    if args.empty_block_period < args.block_period:
        p.error("--empty-block-period must be >= --block-period (genesis rule)")
    return args


def _kinds(text: str) -> frozenset[str]:
    names = frozenset(t.strip() for t in text.split(",") if t.strip())
    unknown = sorted(names - set(ABUSE_KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown abuse kind(s) {', '.join(unknown)}; known: {', '.join(ABUSE_KINDS)}")
    return names


def latency_summary(samples: Sequence[tuple[float, bool]]) -> dict[str, Any]:
    """p50/p99/max of (seconds, ok) samples (failed calls count with the time they took)
    and the share that failed; None figures when there are no samples."""
    if not samples:
        return {"n": 0, "failed": 0, "failed_share": None, "p50_ms": None, "p99_ms": None, "max_ms": None}
    times = [s for s, _ in samples]
    failed = sum(1 for _, ok in samples if not ok)
    return {
        "n": len(samples), "failed": failed, "failed_share": failed / len(samples),
        "p50_ms": percentile(times, 0.50) * 1000, "p99_ms": percentile(times, 0.99) * 1000, "max_ms": max(times) * 1000,
    }


@dataclass(frozen=True)
class Block:
    number: int
    timestamp: int   # header, whole seconds
    seen: float      # seconds since the run began, when the follower first saw it
    txs: int


def block_intervals(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """Per block after the first (and after block 1: genesis has no sealing time): its
    interval by header timestamps and by first-seen wall-clock times; blocks must be
    consecutive numbers (a gap raises)."""
    out = []
    for prev, cur in itertools.pairwise(blocks):
        if cur.number != prev.number + 1:
            raise ValueError(f"blocks {prev.number} and {cur.number} are not consecutive")
        if prev.number == 0:
            continue  # genesis carries the chain's creation time, not a sealing time
        out.append({"number": cur.number, "seen": cur.seen, "header_s": cur.timestamp - prev.timestamp,
                    "observed_s": cur.seen - prev.seen, "txs": cur.txs})
    return out


def phase_of(t: float, bounds: dict[str, tuple[float, float]]) -> str | None:
    """The phase whose [start, end) holds time t (seconds since the run began)."""
    for name, (start, end) in bounds.items():
        if start <= t < end:
            return name
    return None


def interval_summary(intervals: Sequence[dict[str, Any]], bounds: dict[str, tuple[float, float]]) -> dict[str, dict[str, Any]]:
    """Per phase: blocks, observed-interval p50/p99/max, header-interval max and the
    longest time within the phase with no new block (the tail since the last block
    counts: a chain that stops makes no intervals at all)."""
    out: dict[str, dict[str, Any]] = {}
    for name, (start, end) in bounds.items():
        mine = [i for i in intervals if start <= i["seen"] < end]
        observed = [i["observed_s"] for i in mine]
        seen_times = [start] + [i["seen"] for i in mine] + [end]
        out[name] = {
            "seconds": end - start,
            "blocks": len(mine),
            "observed_mean_s": sum(observed) / len(observed) if observed else None,
            "observed_p50_s": percentile(observed, 0.50) if observed else None,
            "observed_p99_s": percentile(observed, 0.99) if observed else None,
            "observed_max_s": max(observed) if observed else None,
            "header_max_s": max(i["header_s"] for i in mine) if mine else None,
            "longest_gap_s": max(b - a for a, b in itertools.pairwise(seen_times)),
        }
    return out


def rss_summary(samples: Sequence[tuple[float, Sequence[int]]], names: Sequence[str],
                bounds: dict[str, tuple[float, float]], hwm_after_abuse: Sequence[float] | None = None) -> dict[str, dict[str, Any]]:
    """Per node: mean RSS (MiB) of the idle phase, max RSS per phase, and the ratio of
    the abuse phase's peak to the idle mean. The peak is the larger of the sampled max
    and the kernel's VmHWM read when the abuse ended (`hwm_after_abuse`, MiB): a
    spike between two samples still counts (the idle phase is lower, so the HWM then is
    the abuse's peak or below it)."""
    out: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        per_phase: dict[str, list[float]] = {phase: [] for phase in bounds}
        for t, values in samples:
            phase = phase_of(t, bounds)
            if phase is not None and values[index]:
                per_phase[phase].append(values[index] / 1024)
        idle = per_phase.get("idle") or []
        idle_mean = sum(idle) / len(idle) if idle else None
        node: dict[str, Any] = {"idle_mean_mib": idle_mean}
        for phase, values in per_phase.items():
            node[f"{phase}_max_mib"] = max(values) if values else None
        abuse_max = node.get("abuse_max_mib")
        if hwm_after_abuse is not None:
            node["abuse_hwm_mib"] = hwm_after_abuse[index]
            abuse_max = max(abuse_max or 0.0, hwm_after_abuse[index]) or None
        node["abuse_peak_mib"] = abuse_max
        node["abuse_over_idle"] = abuse_max / idle_mean if abuse_max and idle_mean else None
        out[name] = node
    return out


def verdicts(blocks: dict[str, dict[str, Any]], rss: dict[str, dict[str, Any]], period: float) -> dict[str, dict[str, Any]]:
    """The issue's two targets, judged on the abuse phase: the longest block interval
    (observed, or the longest gap with no block) <= 2x the period; every node's RSS peak
    <= 2x its idle mean. No data is a FAIL (a run that saw nothing proves nothing)."""
    abuse = blocks.get("abuse", {})
    worst = max((v for v in (abuse.get("observed_max_s"), abuse.get("longest_gap_s")) if v is not None), default=None)
    ratios = [n["abuse_over_idle"] for n in rss.values()]
    worst_ratio = None if not ratios or any(r is None for r in ratios) else max(ratios)
    return {
        "block_interval": {"limit_s": 2 * period, "worst_s": worst,
                           "verdict": "PASS" if worst is not None and worst <= 2 * period else "FAIL"},
        "rss": {"limit_ratio": 2.0, "worst_ratio": worst_ratio,
                "verdict": "PASS" if worst_ratio is not None and worst_ratio <= 2.0 else "FAIL"},
    }


def classify(status: int | None, document: Any) -> str:
    """answered / refused for one HTTP answer: non-200 is refused; a JSON-RPC error is
    refused; a batch is refused when every call in it is; an unparsed (large) 200 answer
    counts as answered."""
    if status != 200:
        return "refused"
    if isinstance(document, dict):
        return "refused" if document.get("error") is not None else "answered"
    if isinstance(document, list):
        errors = [isinstance(r, dict) and r.get("error") is not None for r in document]
        return "refused" if errors and all(errors) else "answered"
    return "answered"


def fee_history_body(percentiles: int = FEE_HISTORY_PERCENTILES) -> bytes:
    return _rpc_body("eth_feeHistory", [FEE_HISTORY_BLOCKS, "latest", [1] * percentiles])


def filter_topics_body(limit: int = FILTER_BODY_BYTES) -> bytes:
    """eth_newFilter with one topic position listing as many distinct topics as fit
    in `limit` bytes of request body."""
    empty = len(_rpc_body("eth_newFilter", [{"topics": [[]]}]))
    per_topic = len(json.dumps("0x" + "00" * 32)) + 1  # the quoted hash and a comma
    count = (limit - empty) // per_topic
    topics = ["0x" + i.to_bytes(32, "big").hex() for i in range(1, count + 1)]
    body = _rpc_body("eth_newFilter", [{"topics": [topics]}])
    assert len(body) <= limit, (len(body), limit)
    return body


def gas_burner_code(threshold: int = ESTIMATE_THRESHOLD) -> bytes:
    """Init code that STOPs (succeeds) only when it starts with more than `threshold`
    gas, burning it down to 10,000 first; with less it loops until out of gas."""
    if not 0 < threshold < 2**24:
        raise ValueError("threshold must fit PUSH3")
    return bytes.fromhex(
        "5a"                            # 0  GAS                       start gas
        + "62" + threshold.to_bytes(3, "big").hex()  # 1  PUSH3 threshold
        + "10"                          # 5  LT                         threshold < start gas
        + "600d" + "57"                 # 6  PUSH1 13, JUMPI            -> the finite loop
        + "5b" + "6009" + "56"          # 9  JUMPDEST, PUSH1 9, JUMP    forever: out of gas
        + "5b" + "612710" + "5a" + "10"  # 13 JUMPDEST, PUSH2 10000, GAS, LT: gas < 10000
        + "6019" + "57"                 # 19 PUSH1 25, JUMPI            -> exit
        + "600d" + "56"                 # 22 PUSH1 13, JUMP
        + "5b" + "00"                   # 25 JUMPDEST, STOP
    )


def _rpc_body(method: str, params: list[Any], request_id: int = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
                      separators=(",", ":")).encode()


def _batch_body(calls: Sequence[tuple[str, list[Any]]]) -> bytes:
    return json.dumps([{"jsonrpc": "2.0", "id": i + 1, "method": m, "params": ps} for i, (m, ps) in enumerate(calls)],
                      separators=(",", ":")).encode()


def _fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


# ---------------------------------------------------------------------------------------
# HTTP: one small client that reads big answers without keeping them
# ---------------------------------------------------------------------------------------
class HttpClient:
    """One keep-alive connection to a loopback node with a bearer token; `post` returns
    (HTTP status, parsed JSON or None when larger than PARSE_LIMIT, bytes read)."""

    def __init__(self, host: str, port: int, token: str | None, timeout: float) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise SystemExit(f"refusing non-loopback target {host!r}")
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any, int]:
        deadline = time.monotonic() + self.timeout
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._conn.request(method, path, body, self.headers)
            response = self._conn.getresponse()
            kept, size = [], 0
            while True:
                chunk = response.read(READ_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size <= PARSE_LIMIT:
                    kept.append(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"answer still arriving after {self.timeout:g} s ({size:,} bytes)")
        except BaseException:
            self.close()
            raise
        if response.getheader("connection", "").lower() == "close":
            self.close()
        document = None
        if size <= PARSE_LIMIT:
            try:
                document = json.loads(b"".join(kept)) if kept else None
            except ValueError:
                document = None
        return response.status, document, size

    def post(self, body: bytes) -> tuple[int, Any, int]:
        return self.request("POST", "/", body)


# ---------------------------------------------------------------------------------------
# measurement threads (in the measuring process)
# ---------------------------------------------------------------------------------------
class Clock:
    """Seconds since the run began (monotonic), shared by every record."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin


class BlockFollower(threading.Thread):
    """Follows new heads on one node; records every block's header timestamp, first-seen
    time and transaction hashes."""

    def __init__(self, rpc: Rpc, clock: Clock, stop: threading.Event) -> None:
        super().__init__(name="soak-blocks", daemon=True)
        self.rpc, self.clock, self.stop = rpc, clock, stop
        self.blocks: list[Block] = []
        self.tx_seen: dict[str, float] = {}
        self.errors = 0

    def run(self) -> None:
        next_number: int | None = None
        while not self.stop.is_set():
            try:
                head = int(self.rpc.call("eth_blockNumber"), 16)
                if next_number is None:
                    next_number = head
                while next_number <= head and not self.stop.is_set():
                    block = self.rpc.call("eth_getBlockByNumber", [hex(next_number), False])
                    seen = self.clock.now()
                    self.blocks.append(Block(next_number, int(block["timestamp"], 16), seen, len(block["transactions"])))
                    for tx_hash in block["transactions"]:
                        self.tx_seen.setdefault(tx_hash.lower(), seen)
                    next_number += 1
            except Exception:  # a measurement hiccup is counted, never fatal
                self.errors += 1
            self.stop.wait(HEAD_POLL_SECONDS)


class RssSampler(threading.Thread):
    """VmRSS (KiB) of each node process and its children every RSS_SAMPLE_SECONDS."""

    def __init__(self, pids: Sequence[int], clock: Clock, stop: threading.Event) -> None:
        super().__init__(name="soak-rss", daemon=True)
        self.pids, self.clock, self.stop = list(pids), clock, stop
        self.samples: list[tuple[float, list[int]]] = []

    def sample(self) -> None:
        self.samples.append((self.clock.now(), [sum(status_kib(p, "VmRSS") or 0 for p in process_tree(pid)) for pid in self.pids]))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(RSS_SAMPLE_SECONDS)

    def hwm_mib(self) -> list[float]:
        return [max((status_kib(p, "VmHWM") or 0) for p in process_tree(pid)) / 1024 for pid in self.pids]


class LegitLoad:
    """The legitimate client: anchorings at LEGIT_TX_INTERVAL and reads at
    LEGIT_READ_INTERVAL against the target node, each call timed and its outcome kept
    with the phase it started in."""

    def __init__(self, host: str, port: int, token: str, private_key: str, chain_id: int,
                 clock: Clock, phase: Callable[[], str], stop: threading.Event) -> None:
        self.host, self.port, self.token = host, port, token
        self.private_key, self.chain_id = private_key, chain_id
        self.clock, self.phase, self.stop = clock, phase, stop
        self.samples: list[tuple[str, str, float, bool]] = []   # (call, phase, seconds, ok)
        self.submitted: dict[str, tuple[float, str]] = {}       # tx hash -> (time, phase)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send_loop, name="soak-legit-tx", daemon=True),
                         threading.Thread(target=self._read_loop, name="soak-legit-read", daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _timed(self, name: str, action: Callable[[], bool]) -> bool:
        phase, t0 = self.phase(), time.monotonic()
        try:
            ok = action()
        except Exception:  # a timeout or a broken connection: a failed call, timed
            ok = False
        with self._lock:
            self.samples.append((name, phase, time.monotonic() - t0, ok))
        return ok

    def _send_loop(self) -> None:
        from eth_account import Account
        from eth_utils import keccak

        client = HttpClient(self.host, self.port, self.token, LEGIT_TIMEOUT)
        account = Account.from_key(self.private_key)
        anchorer = Anchorer(self.private_key, self.chain_id, 0, LEGIT_GAS, "0x" + _evidence_registry().hex())
        nonce: int | None = None
        next_at = time.monotonic()
        while not self.stop.is_set():
            if nonce is None:
                with contextlib.suppress(Exception):
                    _, doc, _ = client.post(_rpc_body("eth_getTransactionCount", [account.address, "pending"]))
                    nonce = int(doc["result"], 16)
            if nonce is not None:
                raw = bytes(account.sign_transaction({
                    "nonce": nonce, "gas": LEGIT_GAS, "gasPrice": 0, "to": anchorer.registry, "value": 0,
                    "data": anchorer.calldata(secrets.token_bytes(32), 1), "chainId": self.chain_id,
                }).raw_transaction)
                tx_hash = "0x" + keccak(raw).hex()
                sent_at, phase = self.clock.now(), self.phase()
                body = _rpc_body("eth_sendRawTransaction", ["0x" + raw.hex()])
                if self._timed("eth_sendRawTransaction", lambda: classify(*client.post(body)[:2]) == "answered"):
                    with self._lock:
                        self.submitted[tx_hash] = (sent_at, phase)
                    nonce += 1
                else:
                    nonce = None  # re-read: the node may or may not hold it
            # A call that took longer than the interval delays the next one; no catch-up burst.
            next_at = max(next_at + LEGIT_TX_INTERVAL, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        client.close()

    def _read_loop(self) -> None:
        from bench.throughput import http_get_status

        client = HttpClient(self.host, self.port, self.token, LEGIT_TIMEOUT)
        count_call = _rpc_body("eth_call", [{"to": "0x" + _evidence_registry().hex(), "data": _entry_count_data()}, "latest"])

        def rpc(body: bytes) -> bool:
            status, doc, _ = client.post(body)
            return classify(status, doc) == "answered"

        def receipt() -> bool:
            with self._lock:
                latest = next(reversed(self.submitted), None)
            if latest is None:
                return rpc(_rpc_body("eth_blockNumber", []))
            return rpc(_rpc_body("eth_getTransactionReceipt", [latest]))

        reads: list[tuple[str, Callable[[], bool]]] = [
            ("eth_blockNumber", lambda: rpc(_rpc_body("eth_blockNumber", []))),
            ("eth_getTransactionReceipt", receipt),
            ("eth_call entry_count()", lambda: rpc(count_call)),
            ("GET /healthz", lambda: http_get_status(self.host, self.port, "/healthz", timeout=LEGIT_TIMEOUT) == 200),
        ]
        index = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            name, action = reads[index % len(reads)]
            self._timed(name, action)
            index += 1
            next_at = max(next_at + LEGIT_READ_INTERVAL, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        client.close()


LEGIT_CALLS = ("eth_sendRawTransaction", "eth_blockNumber", "eth_getTransactionReceipt", "eth_call entry_count()",
               "GET /healthz")


def _legit_order(name: str) -> int:
    return LEGIT_CALLS.index(name) if name in LEGIT_CALLS else len(LEGIT_CALLS)


def _evidence_registry() -> bytes:
    from chaincode import EVIDENCE_REGISTRY

    return EVIDENCE_REGISTRY


def _entry_count_data() -> str:
    from eth_utils import function_signature_to_4byte_selector

    return "0x" + function_signature_to_4byte_selector("entry_count()").hex()


# ---------------------------------------------------------------------------------------
# the abuse (in its own process)
# ---------------------------------------------------------------------------------------
class Tally:
    """Thread-safe counts per abuse kind: sent / answered / refused / failed, the
    seconds each request took, bytes answered and a few distinct error messages."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinds: dict[str, dict[str, Any]] = {}

    def _kind(self, kind: str) -> dict[str, Any]:
        return self.kinds.setdefault(kind, {**{o: 0 for o in OUTCOMES}, "seconds": [], "bytes": 0, "errors": []})

    def record(self, kind: str, outcome: str, seconds: float, size: int = 0, error: str | None = None) -> None:
        with self._lock:
            k = self._kind(kind)
            k["sent"] += 1
            k[outcome] += 1
            k["seconds"].append(round(seconds, 4))
            k["bytes"] += size
            if error and len(k["errors"]) < ERROR_SAMPLES:
                text = error[:ERROR_CHARS]
                if text not in k["errors"]:
                    k["errors"].append(text)

    def rpc(self, kind: str, client: HttpClient, body: bytes) -> Any:
        """POST one JSON-RPC request and tally it; returns the parsed answer (or None)."""
        t0 = time.monotonic()
        try:
            status, doc, size = client.post(body)
        except Exception as exc:
            self.record(kind, "failed", time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
            return None
        outcome = classify(status, doc)
        error = None
        if outcome == "refused":
            error = f"HTTP {status}: " + (json.dumps(_first_error(doc)) if doc is not None else "")
        self.record(kind, outcome, time.monotonic() - t0, size, error)
        return doc

    def report(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            out = {}
            for kind, k in self.kinds.items():
                seconds = k["seconds"]
                out[kind] = {**{o: k[o] for o in OUTCOMES}, "bytes": k["bytes"], "errors": list(k["errors"]),
                             "p50_s": percentile(seconds, 0.5) if seconds else None,
                             "max_s": max(seconds) if seconds else None}
            return out


def _first_error(doc: Any) -> Any:
    if isinstance(doc, list):
        return next((r.get("error") for r in doc if isinstance(r, dict) and r.get("error")), doc[:1])
    if isinstance(doc, dict):
        return doc.get("error", doc)
    return doc


@dataclass
class AbuseConfig:
    host: str
    port: int
    chain_id: int
    party_token: str
    regulator_token: str
    auditor_token: str
    abuser_key: str
    seconds: float
    pki_calldata: bytes | None = None  # built before the phases: RSA key generation is not abuse time
    skip: list[str] = field(default_factory=list)


def abuse_process(config: AbuseConfig, stop: Any, result_path: str) -> None:
    """The abuse process's main: start each kind's worker threads, run until `stop` is
    set or the phase's time is up, join them (each request ends within ABUSE_TIMEOUT)
    and write the tally as JSON to `result_path`."""
    tally = Tally()
    local_stop = threading.Event()
    deadline = time.monotonic() + config.seconds
    extra: dict[str, Any] = {}
    workers: list[threading.Thread] = []

    def spawn(kind: str, target: Callable[..., None], *args: Any, count: int = 1) -> None:
        if kind in config.skip:
            return
        for i in range(count):
            workers.append(threading.Thread(target=_guarded, args=(tally, kind, target, config, local_stop, *args),
                                            name=f"abuse-{kind}-{i}", daemon=True))

    spawn("fee_history", _fee_history_worker)
    spawn("estimate_gas", _estimate_gas_worker)
    spawn("call_batches", _call_batch_worker, count=CALL_BATCH_WORKERS)
    spawn("flood", _flood_worker, count=FLOOD_WORKERS)
    spawn("filter_topics", _filter_topics_worker)
    spawn("filter_count", _filter_count_worker)
    if not {"websockets", "sse"} <= set(config.skip):
        workers.append(threading.Thread(target=_sockets_worker, args=(tally, config, local_stop), name="abuse-sockets", daemon=True))
    if config.pki_calldata is not None:
        spawn("pki_tx", _pki_tx_worker, config.pki_calldata)
        spawn("pki_call", _pki_call_worker, config.pki_calldata)
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        while time.monotonic() < deadline and not stop.is_set():
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        local_stop.set()
        join_by = time.monotonic() + ABUSE_TIMEOUT + 10
        for worker in workers:
            worker.join(max(0.1, join_by - time.monotonic()))
        extra["ran_s"] = round(time.monotonic() - started, 1)
        extra["threads_still_running"] = sum(1 for w in workers if w.is_alive())
        Path(result_path).write_text(json.dumps({"kinds": tally.report(), **extra}, indent=1) + "\n")


def _guarded(tally: Tally, kind: str, target: Callable[..., None], config: AbuseConfig, stop: threading.Event, *args: Any) -> None:
    try:
        target(tally, kind, config, stop, *args)
    except Exception as exc:  # a worker that dies is reported as such, not silently
        tally.record(kind, "failed", 0.0, error=f"worker died: {type(exc).__name__}: {exc}")


def _client(config: AbuseConfig, token: str) -> HttpClient:
    return HttpClient(config.host, config.port, token, ABUSE_TIMEOUT)


def _abuser_address(config: AbuseConfig) -> str:
    from eth_account import Account

    return str(Account.from_key(config.abuser_key).address)


def _fee_history_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    body, client = fee_history_body(), _client(config, config.party_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _estimate_gas_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    body = _rpc_body("eth_estimateGas", [{"from": _abuser_address(config), "data": "0x" + gas_burner_code().hex()}])
    client = _client(config, config.party_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _call_batch_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    call = ("eth_call", [{"data": "0x" + LOOP_FOREVER.hex()}, "latest"])
    body, client = _batch_body([call] * CALL_BATCH_SIZE), _client(config, config.regulator_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _flood_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    address = _abuser_address(config)
    cheap = [("eth_blockNumber", []), ("eth_getBalance", [address, "latest"]), ("eth_chainId", []),
             ("eth_getBlockByNumber", ["latest", False])]
    body = _batch_body([cheap[i % len(cheap)] for i in range(FLOOD_BATCH)])
    client = _client(config, config.party_token)
    while not stop.is_set():
        tally.rpc(kind, client, body)


def _filter_topics_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    body, client = filter_topics_body(), _client(config, config.auditor_token)
    while not stop.is_set():
        doc = tally.rpc(kind, client, body)
        if isinstance(doc, dict) and isinstance(doc.get("result"), str) and not stop.is_set():
            tally.rpc(kind, client, _rpc_body("eth_getFilterChanges", [doc["result"]]))


def _filter_count_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event) -> None:
    client = _client(config, config.auditor_token)
    makers = [("eth_newBlockFilter", []), ("eth_newPendingTransactionFilter", []),
              ("eth_newFilter", [{"address": "0x" + _evidence_registry().hex()}])]
    ids: list[str] = []
    for first in range(0, FILTER_COUNT, FILTER_BATCH):
        if stop.is_set():
            return
        doc = tally.rpc(kind, client, _batch_body([makers[(first + i) % len(makers)] for i in range(FILTER_BATCH)]))
        if isinstance(doc, list):
            ids += [r["result"] for r in doc if isinstance(r, dict) and isinstance(r.get("result"), str)]
    polled = 0
    while ids and not stop.is_set():  # bounded by the phase: poll every filter, 100 a request
        batch = [ids[(polled + i) % len(ids)] for i in range(min(FILTER_BATCH, len(ids)))]
        tally.rpc(kind, client, _batch_body([("eth_getFilterChanges", [fid]) for fid in batch]))
        polled += len(batch)


def _sockets_worker(tally: Tally, config: AbuseConfig, stop: threading.Event) -> None:
    asyncio.run(_sockets(tally, config, stop))


async def _sockets(tally: Tally, config: AbuseConfig, stop: threading.Event) -> None:
    import httpx
    from websockets.asyncio.client import connect

    headers = {"Authorization": f"Bearer {config.party_token}"}
    ws_gate, sse_gate = asyncio.Semaphore(OPEN_CONCURRENCY), asyncio.Semaphore(OPEN_CONCURRENCY)
    ended = asyncio.Event()

    async def one_ws() -> None:
        t0 = time.monotonic()
        async with ws_gate:
            if ended.is_set():
                return
            try:
                ws = await asyncio.wait_for(connect(f"ws://{config.host}:{config.port}/ws", additional_headers=headers,
                                                    max_size=None, open_timeout=ABUSE_TIMEOUT), ABUSE_TIMEOUT)
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
                answer = json.loads(await asyncio.wait_for(ws.recv(), ABUSE_TIMEOUT))
            except asyncio.CancelledError:
                tally.record("websockets", "failed", time.monotonic() - t0, error="no answer when the phase ended")
                raise
            except Exception as exc:
                tally.record("websockets", "failed" if isinstance(exc, (OSError, asyncio.TimeoutError)) else "refused",
                             time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
                return
        outcome = "refused" if answer.get("error") is not None else "answered"
        tally.record("websockets", outcome, time.monotonic() - t0, error=json.dumps(answer.get("error")) if outcome == "refused" else None)
        try:  # hold it open, reading and dropping notifications, until the phase ends
            async for _ in ws:
                if ended.is_set():
                    break
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)

    async def one_sse(client: httpx.AsyncClient) -> None:
        t0 = time.monotonic()
        async with sse_gate:
            if ended.is_set():
                return
            try:
                request = client.build_request("GET", f"http://{config.host}:{config.port}/v1/feed", headers=headers)
                response = await asyncio.wait_for(client.send(request, stream=True), ABUSE_TIMEOUT)
            except asyncio.CancelledError:
                tally.record("sse", "failed", time.monotonic() - t0, error="no answer when the phase ended")
                raise
            except Exception as exc:
                tally.record("sse", "failed", time.monotonic() - t0, error=f"{type(exc).__name__}: {exc}")
                return
        try:
            if response.status_code != 200:
                body = await response.aread()
                tally.record("sse", "refused", time.monotonic() - t0, error=f"HTTP {response.status_code}: {body[:150]!r}")
                return
            tally.record("sse", "answered", time.monotonic() - t0)
            async for _ in response.aiter_bytes():
                if ended.is_set():
                    break
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(response.aclose(), 2)

    limits = httpx.Limits(max_connections=SSE_STREAMS + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(ABUSE_TIMEOUT, read=None)) as client:
        tasks = []
        if "websockets" not in config.skip:
            tasks += [asyncio.create_task(one_ws()) for _ in range(WS_CONNECTIONS)]
        if "sse" not in config.skip:
            tasks += [asyncio.create_task(one_sse(client)) for _ in range(SSE_STREAMS)]
        while not stop.is_set():
            await asyncio.sleep(0.2)
        ended.set()  # set first: a task cancelled while waiting at the gate was never sent
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)


def pki_verify_calldata(now: float | None = None) -> bytes:
    """ABI calldata of the PKI precompile's verify(chain, digest, signature) for a
    PKI_CHAIN_LENGTH-certificate RSA-PKI_RSA_BITS chain whose keys have a
    PKI_EXPONENT_BITS-bit public exponent (finding 6), built with `cryptography`."""
    from datetime import datetime, timedelta, timezone

    from cryptography.hazmat.primitives.asymmetric import rsa
    from eth_abi import encode

    from client import devpki
    from node.execution import pki

    at = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    not_before, not_after = at - timedelta(days=1), at + timedelta(days=30)
    keys = [huge_exponent_key() for _ in range(PKI_CHAIN_LENGTH)]
    issuer_cert = devpki.make_root("soak root", keys[-1], not_before=not_before, not_after=not_after)
    chain = [issuer_cert]
    for index in range(PKI_CHAIN_LENGTH - 2, 0, -1):
        cert = devpki.issue_certificate(issuer_cert, keys[index + 1], keys[index].public_key(), common_name=f"soak CA {index}",
                                        is_ca=True, not_before=not_before, not_after=not_after)
        chain.insert(0, cert)
        issuer_cert = cert
    leaf = devpki.issue_certificate(issuer_cert, keys[1], keys[0].public_key(), common_name="soak signer",
                                    not_before=not_before, not_after=not_after)
    chain.insert(0, leaf)
    digest = b"\x5a" * 32
    assert isinstance(keys[0], rsa.RSAPrivateKey)
    signature = devpki.sign_digest(keys[0], digest)
    return pki.VERIFY + encode(["bytes", "bytes32", "bytes"], [devpki.chain_der(chain), digest, signature])


def huge_exponent_key(bits: int = PKI_RSA_BITS, exponent_bits: int = PKI_EXPONENT_BITS) -> Any:
    """An RSA key whose public exponent has `exponent_bits` bits: the primes of a fresh
    key, a random odd e coprime to lambda(n), d its inverse (signing stays cheap through
    CRT; every verification pays a full-size exponentiation)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    base = rsa.generate_private_key(65537, bits).private_numbers()
    p, q = base.p, base.q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    for _ in range(1000):  # a random odd e is coprime to lambda about half the time
        e = secrets.randbits(exponent_bits) | (1 << (exponent_bits - 1)) | 1
        if math.gcd(e, lam) == 1:
            break
    else:
        raise RuntimeError("no exponent coprime to lambda(n) in 1000 draws")
    d = pow(e, -1, lam)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


def _pki_tx_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event, calldata: bytes) -> None:
    from eth_account import Account
    from eth_utils import to_checksum_address

    from chaincode import PKI_PRECOMPILE

    account = Account.from_key(config.abuser_key)
    precompile = to_checksum_address(PKI_PRECOMPILE)
    client = _client(config, config.party_token)
    nonce: int | None = 0  # a fresh genesis member; re-read only after a refusal
    next_at = time.monotonic()
    while not stop.is_set():
        if nonce is None:
            with contextlib.suppress(Exception):
                _, doc, _ = client.post(_rpc_body("eth_getTransactionCount", [account.address, "pending"]))
                nonce = int(doc["result"], 16)
        if nonce is not None:
            raw = account.sign_transaction({"nonce": nonce, "gas": PKI_TX_GAS, "gasPrice": 0, "to": precompile,
                                            "value": 0, "data": calldata, "chainId": config.chain_id}).raw_transaction
            doc = tally.rpc(kind, client, _rpc_body("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
            nonce = nonce + 1 if isinstance(doc, dict) and doc.get("result") else None
        next_at = max(next_at + 1 / PKI_TX_PER_SECOND, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))


def _pki_call_worker(tally: Tally, kind: str, config: AbuseConfig, stop: threading.Event, calldata: bytes) -> None:
    from chaincode import PKI_PRECOMPILE

    body = _rpc_body("eth_call", [{"from": _abuser_address(config), "to": "0x" + PKI_PRECOMPILE.hex(),
                                   "data": "0x" + calldata.hex()}, "latest"])
    client = _client(config, config.party_token)
    next_at = time.monotonic()
    while not stop.is_set():
        tally.rpc(kind, client, body)
        next_at = max(next_at + PKI_CALL_INTERVAL, time.monotonic())
        stop.wait(max(0.0, next_at - time.monotonic()))


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _cluster(args: argparse.Namespace, members: list[tuple[bytes, str]]) -> Iterator[tuple[Path, Any]]:
    from node.ops.cluster import create_cluster, load_cluster, start_cluster, stop_cluster

    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        directory = Path(tmp) / "cluster"
        create_cluster(directory, args.validators, block_period=args.block_period,
                       empty_block_period=args.empty_block_period, members=members)
        try:
            start_cluster(directory, die_with_parent=True, deadline=STARTUP_DEADLINE)
            yield directory, load_cluster(directory)
        finally:
            stop_cluster(directory)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from eth_account import Account

    from node.access.http import TokenStore
    from node.ops.cluster import load_admin_token

    legit_key, abuser_key = workload_keys(2)
    legit_addr, abuser_addr = (Account.from_key(k).address for k in (legit_key, abuser_key))
    members = [(bytes.fromhex(legit_addr[2:]), "PARTY"), (bytes.fromhex(abuser_addr[2:]), "PARTY")]
    info = machine_info()
    stop_all = threading.Event()
    clock = Clock()
    phase_state = {"name": "setup"}
    bounds: dict[str, tuple[float, float]] = {}
    abuse_result: dict[str, Any] = {}
    with _cluster(args, members) as (directory, layout):
        genesis = json.loads((directory / "genesis.json").read_text())
        period = float(genesis["config"]["qbft"]["blockperiodseconds"])
        target, quiet = layout.validators[0], layout.validators[-1]
        ttl = 86_400
        store = TokenStore(directory)
        legit_token, _ = store.issue("PARTY", "soak legit client", bytes.fromhex(legit_addr[2:]), ttl)
        party_token, _ = store.issue("PARTY", "soak abuser", bytes.fromhex(abuser_addr[2:]), ttl)
        regulator_token, _ = store.issue("REGULATOR", "soak abuser", None, ttl)
        auditor_token, _ = store.issue("AUDITOR", "soak abuser", None, ttl)
        admin_token = load_admin_token(directory)
        pids = [n.pid for n in layout.nodes]
        assert all(pids), "started nodes have pids"
        names = [n.name for n in layout.nodes]

        follower = BlockFollower(Rpc(quiet.rpc_url, timeout=5, token=admin_token), clock, stop_all)
        sampler = RssSampler([int(p) for p in pids if p], clock, stop_all)
        legit = LegitLoad(target.host, target.rpc_port, legit_token, legit_key, layout.chain_id, clock,
                          lambda: phase_state["name"], stop_all)
        ctx = multiprocessing.get_context("spawn")
        abuse_stop = ctx.Event()
        abuse: Any = None
        result_file = directory / "abuse.json"
        pki_calldata: bytes | None = None
        pki_note: dict[str, Any] = {}
        hwm_after_abuse: list[float] = []  # VmHWM per node when the abuse ended
        try:
            follower.start()
            sampler.start()
            if not {"pki_tx", "pki_call"} <= args.skip:
                t0 = time.monotonic()
                pki_calldata = pki_verify_calldata()
                pki_note = {"pki_build_s": round(time.monotonic() - t0, 1), "pki_calldata_bytes": len(pki_calldata)}
            warm_by = time.monotonic() + STARTUP_DEADLINE
            while len(follower.blocks) < WARMUP_BLOCKS and time.monotonic() < warm_by:
                stop_all.wait(0.1)  # the first blocks after a start come late (peers still connecting)
            print(f"cluster up: {len(layout.validators)} validators, block period {period:g} s; target {target.name} "
                  f"{target.rpc_url}, blocks followed on {quiet.name}", flush=True)

            def phase(name: str, seconds: float, before: Callable[[], None] | None = None,
                      after: Callable[[], None] | None = None) -> None:
                start = clock.now()
                phase_state["name"] = name
                print(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:g} s", flush=True)
                if before is not None:
                    before()
                stop_all.wait(seconds)
                if after is not None:
                    after()
                bounds[name] = (start, clock.now())

            phase("idle", args.idle_seconds)
            legit.start()
            phase("legit", args.legit_seconds)

            def start_abuse() -> None:
                nonlocal abuse
                config = AbuseConfig(target.host, target.rpc_port, layout.chain_id, party_token, regulator_token,
                                     auditor_token, abuser_key, args.seconds, pki_calldata, sorted(args.skip))
                abuse = ctx.Process(target=abuse_process, args=(config, abuse_stop, str(result_file)), name="soak-abuse")
                abuse.start()

            def drain_abuse() -> None:
                # Requests still in flight are the abuse's too: the phase ends when the
                # abuse process has ended its last request and written its tally.
                abuse_stop.set()
                if abuse is not None:
                    abuse.join(ABUSE_JOIN_SECONDS)
                hwm_after_abuse[:] = sampler.hwm_mib()

            phase("abuse", args.seconds, start_abuse, drain_abuse)
            phase("recovery", args.recovery_seconds)
        finally:
            phase_state["name"] = "teardown"
            abuse_stop.set()
            if abuse is not None:
                abuse.join(ABUSE_JOIN_SECONDS)
                if abuse.is_alive():
                    abuse.terminate()
                    abuse.join(10)
            stop_all.set()
            legit.join(LEGIT_JOIN_SECONDS)
            follower.join(10)
            sampler.join(5)
        hwm = sampler.hwm_mib()  # before the nodes stop
        if result_file.exists():
            abuse_result = {**json.loads(result_file.read_text()), **pki_note}
    return build_report(args, info, period, names, bounds, follower, sampler.samples, hwm, hwm_after_abuse, legit,
                        abuse_result)


def build_report(args: argparse.Namespace, info: dict[str, Any], period: float, names: list[str],
                 bounds: dict[str, tuple[float, float]], follower: BlockFollower,
                 rss_samples: list[tuple[float, list[int]]], hwm: list[float], hwm_after_abuse: list[float],
                 legit: LegitLoad, abuse: dict[str, Any]) -> dict[str, Any]:
    intervals = block_intervals(follower.blocks)
    blocks = interval_summary(intervals, bounds)
    rss = rss_summary(rss_samples, names, bounds, hwm_after_abuse or None)
    for name, peak in zip(names, hwm):
        rss[name]["vmhwm_mib"] = peak
    calls: dict[str, dict[str, Any]] = {}
    for name in sorted(dict.fromkeys(s[0] for s in legit.samples), key=_legit_order):
        calls[name] = {ph: latency_summary([(s, ok) for n, p, s, ok in legit.samples if n == name and p == ph]) for ph in bounds}
    commit: dict[str, Any] = {}
    for ph in bounds:
        sent = [(h, t) for h, (t, p) in legit.submitted.items() if p == ph]
        waits = [follower.tx_seen[h] - t for h, t in sent if h in follower.tx_seen]
        commit[ph] = {"sent": len(sent), "committed": len(waits),
                      "p50_s": percentile(waits, 0.5) if waits else None,
                      "p99_s": percentile(waits, 0.99) if waits else None, "max_s": max(waits) if waits else None}
    return {
        "bench": "soak", "machine": info,
        "settings": {"commit": git_commit() or "unknown", "seconds": args.seconds, "idle_seconds": args.idle_seconds, "legit_seconds": args.legit_seconds,
                     "recovery_seconds": args.recovery_seconds, "validators": args.validators,
                     "block_period_s": period, "empty_block_period_s": args.empty_block_period,
                     "skip": sorted(args.skip), "target": names[0], "blocks_followed_on": names[args.validators - 1]},
        "phases": {k: {"start_s": round(a, 2), "end_s": round(b, 2)} for k, (a, b) in bounds.items()},
        "verdicts": verdicts(blocks, rss, period),
        "blocks": blocks, "rss": rss, "legit_calls": calls, "legit_commit": commit,
        "abuse": {"kinds": {k: {"what": ABUSE_KINDS[k], **abuse.get("kinds", {}).get(k, {o: 0 for o in OUTCOMES})}
                            for k in ABUSE_KINDS if k not in args.skip},
                  **{k: v for k, v in abuse.items() if k != "kinds"}},
        "follower_errors": follower.errors,
        "block_list": [{"number": b.number, "timestamp": b.timestamp, "seen_s": round(b.seen, 3), "txs": b.txs} for b in follower.blocks],
        "rss_samples_kib": {"nodes": names, "samples": [[round(t, 2), v] for t, v in rss_samples]},
    }


def markdown(report: dict[str, Any]) -> str:
    m, s, v = report["machine"], report["settings"], report["verdicts"]
    phases = [ph for ph in PHASES if ph in report["blocks"]]
    lines = ["# Soak: a QBFT cluster under abuse (`bench/soak.py`)", ""]
    lines += ["| machine | |", "|---|---|"] + [f"| {k} | {val} |" for k, val in machine_rows(m)]
    lines += ["", f"Code: commit {s.get('commit', 'unknown')}. {s['validators']} validators on loopback, block period {s['block_period_s']:g} s "
              f"(empty-block period {s['empty_block_period_s']} s); legitimate load and abuse against {s['target']}, "
              f"blocks followed on {s['blocks_followed_on']}; phases: "
              + ", ".join(f"{ph} {report['blocks'][ph]['seconds']:.0f} s" for ph in phases) + ".", ""]
    bi, rv = v["block_interval"], v["rss"]
    lines += ["| target (during the abuse) | limit | measured | verdict |", "|---|---|---|---|",
              f"| longest block interval (or time without a block) | ≤ {bi['limit_s']:g} s | {_fmt(bi['worst_s'], ' s', 2)} | **{bi['verdict']}** |",
              f"| RSS, worst node, peak / idle mean | ≤ {rv['limit_ratio']:g}× | {_fmt(rv['worst_ratio'], '×', 2)} | **{rv['verdict']}** |", ""]
    lines += ["Blocks (interval = first seen − previous first seen; header timestamps are whole seconds):", "",
              "| phase | blocks | interval mean | p50 | p99 | max | header max | longest without a block |",
              "|---|---|---|---|---|---|---|---|"]
    for ph in phases:
        b = report["blocks"][ph]
        lines.append(f"| {ph} | {b['blocks']} | {_fmt(b['observed_mean_s'], ' s', 2)} | {_fmt(b['observed_p50_s'], ' s', 2)} | {_fmt(b['observed_p99_s'], ' s', 2)} | "
                     f"{_fmt(b['observed_max_s'], ' s', 2)} | {_fmt(b['header_max_s'], ' s')} | {_fmt(b['longest_gap_s'], ' s', 2)} |")
    lines += ["", (f"Legitimate calls to the target: p50 / p99 / max latency in ms, failed share (timeout "
                   f"{LEGIT_TIMEOUT:g} s; a failed call counts with the time it took):"), "",
              "| call | " + " | ".join(ph for ph in phases if ph != "idle") + " |", "|---|" + "---|" * (len(phases) - 1)]
    for name, per in report["legit_calls"].items():
        cells = []
        for ph in phases:
            if ph == "idle":
                continue
            c = per.get(ph, {})
            cells.append("—" if not c.get("n") else f"{_fmt(c['p50_ms'])} / {_fmt(c['p99_ms'])} / {_fmt(c['max_ms'])}, "
                         f"{c['failed_share'] * 100:.0f} % of {c['n']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for ph in phases:
        if ph == "idle":
            continue
        c = report["legit_commit"][ph]
        cells.append(f"{_fmt(c['p50_s'], '', 2)} / {_fmt(c['p99_s'], '', 2)} / {_fmt(c['max_s'], '', 2)} s, "
                     f"{c['committed']} of {c['sent']}")
    lines.append("| anchoring submit → committed | " + " | ".join(cells) + " |")
    lines += ["", ("RSS per node (MiB; VmRSS of the node process every 0.5 s; the peak is the larger of the sampled max "
                   "and VmHWM when the abuse ended):"), "",
              "| node | idle mean | " + " | ".join(f"{ph} max" for ph in phases if ph != "idle")
              + " | VmHWM when the abuse ended | abuse peak / idle |",
              "|---|---|" + "---|" * (len(phases) - 1) + "---|---|"]
    for name, r in report["rss"].items():
        lines.append(f"| {name} | {_fmt(r['idle_mean_mib'])} | " + " | ".join(_fmt(r.get(f'{ph}_max_mib')) for ph in phases if ph != "idle")
                     + f" | {_fmt(r.get('abuse_hwm_mib'))} | {_fmt(r['abuse_over_idle'], '×', 2)} |")
    lines += ["", (f"Abuse (each request with a {ABUSE_TIMEOUT:g} s client timeout; refused = an HTTP or JSON-RPC error, "
                   "failed = no answer in time or the connection broke):"), "",
              "| kind | what | sent | answered | refused | failed | p50 / max s | answered bytes | first refusal or failure |",
              "|---|---|---|---|---|---|---|---|---|"]
    for kind, k in report["abuse"]["kinds"].items():
        errors = "; ".join(k.get("errors", []))[:160].replace("|", "/")
        lines.append(f"| {kind} | {k['what']} | {k['sent']:,} | {k['answered']:,} | {k['refused']:,} | {k['failed']:,} | "
                     f"{_fmt(k.get('p50_s'), '', 2)} / {_fmt(k.get('max_s'), '', 1)} | {_fmt(k.get('bytes'))} | {errors or '—'} |")
    notes = {k: val for k, val in report["abuse"].items() if k != "kinds"}
    if notes:
        lines += ["", "Abuse process: " + ", ".join(f"{k} {val}" for k, val in notes.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("interrupted: every process it started has been stopped; nothing written", file=sys.stderr)
        return 130
    print_table("machine", machine_rows(report["machine"]))
    text = markdown(report)
    print("\n" + text)
    for name, verdict in report["verdicts"].items():
        print(f"{name}: {verdict['verdict']} ({verdict})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    args.output.with_suffix(".md").write_text(text)
    print(f"wrote {args.output.with_suffix('.json')} and {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
