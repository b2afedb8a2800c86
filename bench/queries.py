"""Latency of the event-index queries (node/storage/indexes.py) at N evidence entries, in process and over HTTP.

(A little over 600 lines: seeding a million entries, the in-process and the HTTP runs share
one set of query definitions, which is easier to keep in step in one file.)

What it does, for each size N (``--entries``, default 1,000,000):

1. Creates a ``--dev`` node's data directory (not timed): ``ledger node start --dev`` once, which
   writes genesis and block 1, then SIGTERM.
2. Seeds that node's LevelDB (``DATA/chain``) with N evidence anchorings and N/10 contracts
   through ``node.storage.indexes.index_block``, the function ``Chain.commit`` calls, into one write
   dict per 50 blocks written with ``LevelStore.write_batch`` (fsync'd, as the node writes).
   Each synthetic block holds 115 logs, one per transaction: 100 ``Anchored``, 10
   ``ContractRegistered`` and 5 ``ContractEffective`` (every other contract becomes
   Effective), ABI-encoded with the shipped ABIs by the helpers of
   ``tests/unit/node/indexlogs.py``. The blocks sit at heights from 1,000,000,000 up, above
   any block the dev chain makes, and ``index_block``'s write of ``schema.INDEX_HEIGHT_KEY`` is
   dropped, so the index height stays equal to the head and the node opens the directory as
   its own chain. Timed apart: the ABI encoding (the benchmark's cost, not the node's),
   ``index_block`` (the node's indexing cost per event) and the write batches.

   The data: evidence i has digest sha256("evidence" + i), case "case-(i mod N/1000)" (1,000
   anchorings per case at every N, spread over the whole chain) and one of 5 kinds (N/5 per
   kind). Contract k has project "P-k" and two of N/1000 parties (200 contracts per party
   at every N). So every per-key page below reads the same number of entries at every N;
   only the size of the indexes around them grows.
3. In process (node stopped): ``Indexes`` over the node's ``LevelStore``, each query timed
   from call to returned page (LevelDB seek and walk, event/record reads, JSON decoding;
   the feed page is ``Indexes.feed_raw``, the stored JSON that GET /v1/events sends unparsed).
4. Over HTTP: the node started again on the same directory; each query a ``GET /v1/...`` on
   one keep-alive ``http.client`` connection from this process, timed from sending the
   request to reading the whole body (routing, the index read, pydantic validation of the
   response model and JSON encoding in the node; loopback TCP). The node is checked to
   report the seeded counts in ``/v1/summary`` first.

Each query type runs ``--queries`` times (default 2,000) with random keys from a fixed seed
(the same keys in process and over HTTP), after 100 untimed warm-up queries with other keys,
and after waiting for an idle machine (``--idle-wait``). The CPU used by other processes
during each timed batch is reported next to it. Every reply's item count is checked.
LevelDB's files are in the OS page cache (they were just written or read; 23 GiB of RAM):
these are warm-cache figures.

Target (issue 6): query latency at 1M evidence entries p99 <= 20 ms.

    .venv/bin/python -m bench.queries --entries 100000 1000000 --dir /tmp/qbench --keep   # ~15 min
    .venv/bin/python -m bench.queries --entries 30000 --queries 200 --idle-wait 0         # smoke, ~1 min
    .venv/bin/python -m bench.queries --entries 1000000 --dir /tmp/qbench --keep --profile feed
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import http.client
import io
import json
import math
import multiprocessing
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import chaincode.events
import node.storage.indexes
from bench.common import cli
from bench.common.footprint import cpu_seconds, dir_bytes, process_tree
from bench.common.machine import machine_cpu, machine_info, machine_rows, wait_for_idle
from bench.common.nodes import NodeProcess, find_ledger, free_port
from bench.common.results import figure, print_grid, print_json_line, print_table, write_figures, write_json
from bench.common.stats import median_run, percentile
from chaincode.events import encode_log
from node.service import CHAIN_DIR
from node.storage import schema
from node.storage.index_queries import Indexes
from node.storage.indexes import TOPICS, Cursor, IndexBatch, index_block
from node.storage.store import LevelStore
from tests.unit.node.indexlogs import Log, Receipt, Tx, address, anchored, digest, effective, registered

TARGET_P99_MS = 20.0
FIRST_HEIGHT = 1_000_000_000  # synthetic blocks start here: far above the dev chain's own
EVIDENCE_PER_BLOCK = 100
CONTRACTS_PER_BLOCK = 10
KINDS = ("webpage", "contract-pdf", "email", "chat-log", "video")
PER_CASE = 1_000  # anchorings per case reference
PER_PARTY_DIVISOR = 1_000  # N / this = number of parties (200 contracts each)
WARM_UP = 100
DEEP_PAGE_ENTRIES = 50 * 100 * len(KINDS) + 1_000  # page 50 of 100 of every kind, and one more entry
MIN_ENTRIES = 10_000  # smaller sizes skip the page-50 query (it needs DEEP_PAGE_ENTRIES)
LAYOUT = 1  # bump when the seeded data changes, so --keep directories are re-seeded
NODE_READY_SECONDS = 120.0  # a node opening a data dir of a million entries


# -- the synthetic chain ------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    entries: int

    @property
    def blocks(self) -> int:
        return self.entries // EVIDENCE_PER_BLOCK

    @property
    def contracts(self) -> int:
        return self.blocks * CONTRACTS_PER_BLOCK

    @property
    def cases(self) -> int:
        return self.entries // PER_CASE

    @property
    def parties(self) -> int:
        return self.entries // PER_PARTY_DIVISOR

    def case(self, i: int) -> str:
        return f"case-{i % self.cases}"

    def party_index(self, k: int) -> tuple[int, int]:
        return k % self.parties, (k + 1) % self.parties

    def party(self, p: int) -> bytes:
        return bytes.fromhex(address(1_000 + p)[2:])


def project(k: int) -> str:
    return f"P-{k}"


def build_block(shape: Shape, b: int) -> tuple[list[Any], list[Any]]:
    """Transactions and receipts (one log each) of synthetic block b."""
    events = []
    for i in range(b * EVIDENCE_PER_BLOCK, (b + 1) * EVIDENCE_PER_BLOCK):
        events.append(anchored(i, case=shape.case(i), kind=KINDS[i % len(KINDS)], submitter=7 + i % 50))
    first = b * CONTRACTS_PER_BLOCK
    for k in range(first, first + CONTRACTS_PER_BLOCK):
        a, c = shape.party_index(k)
        events.append(registered(project(k), [1_000 + a, 1_000 + c]))
    for k in range(first, first + CONTRACTS_PER_BLOCK, 2):
        a, c = shape.party_index(k)
        events.append(effective(project(k), [1_000 + a, 1_000 + c]))
    height = FIRST_HEIGHT + b
    txs = [Tx(hashlib.sha256(f"{height}/{j}".encode()).digest()) for j in range(len(events))]
    receipts = [Receipt([Log(*encode_log(contract, name, args))]) for contract, name, args in events]
    return txs, receipts


def seed(chain_dir: Path, shape: Shape, *, batch_blocks: int) -> dict[str, Any]:
    """Index the synthetic blocks into the node's LevelDB at `chain_dir`."""
    store = LevelStore(chain_dir)
    pool = None
    t_encode = t_index = t_write = 0.0
    events = batches = 0
    started = time.perf_counter()
    cpu0 = time.process_time()
    try:
        index_height = store.get(schema.INDEX_HEIGHT_KEY)
        if index_height is None:
            raise RuntimeError(f"{chain_dir} is not a node's data directory (no index height)")
        writes: dict[bytes, bytes | None] = {}
        # Building the blocks (the benchmark's cost: ~25 µs an event with encode_log's own
        # ABI encoder, ~100 with eth_abi) runs in a second process, ahead of the indexing,
        # so seeding takes the indexing's time, not both.  `encode_s` is the time the
        # indexing waited for built blocks.
        pool = multiprocessing.get_context("fork").Pool(1)
        encoded = pool.imap(functools.partial(build_block, shape), range(shape.blocks), chunksize=5)
        for b in range(shape.blocks):
            t0 = time.perf_counter()
            txs, receipts = next(encoded)
            t1 = time.perf_counter()
            height = FIRST_HEIGHT + b
            events += index_block(IndexBatch(store.get, writes), height, hashlib.sha256(f"block {height}".encode()).digest(),
                                  1_700_000_000 + b, txs, receipts)
            t2 = time.perf_counter()
            t_encode += t1 - t0
            t_index += t2 - t1
            if (b + 1) % batch_blocks == 0 or b + 1 == shape.blocks:
                # The synthetic blocks are not on the chain: the index height stays the head's.
                writes.pop(schema.INDEX_HEIGHT_KEY, None)
                t3 = time.perf_counter()
                store.write_batch(writes)
                t_write += time.perf_counter() - t3
                writes = {}
                batches += 1
            if (b + 1) % max(1, shape.blocks // 10) == 0:
                print(f"  seeded {b + 1:,}/{shape.blocks:,} blocks ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr, flush=True)
        if store.get(schema.INDEX_HEIGHT_KEY) != index_height:
            raise RuntimeError("seeding moved the index height")
        pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        store.close()
    wall = time.perf_counter() - started
    return {
        "entries": shape.entries, "contracts": shape.contracts, "blocks": shape.blocks, "events": events,
        "batches": batches, "batch_blocks": batch_blocks, "wall_s": round(wall, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
        "encode_s": round(t_encode, 1), "index_s": round(t_index, 1), "write_s": round(t_write, 1),
        "index_events_per_s": round(events / t_index), "index_us_per_event": round(t_index / events * 1e6, 1),
        "index_and_write_events_per_s": round(events / (t_index + t_write)),
        "seeded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# -- the queries --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryType:
    name: str
    label: str
    params: Callable[[random.Random], dict[str, Any]]  # random keys of one query
    call: Callable[[Any, dict[str, Any]], int]  # in process: items returned
    path: Callable[[dict[str, Any]], str]  # over HTTP
    items: Callable[[dict[str, Any]], int]  # the count every reply must hold


def query_types(shape: Shape, tokens: dict[str, str]) -> list[QueryType]:
    """`tokens`: the `next` token of page 49 of each kind (pages of 100), found by walking."""
    def present(rng: random.Random) -> dict[str, Any]:
        return {"digest": digest(rng.randrange(shape.entries), "evidence")}

    def absent(rng: random.Random) -> dict[str, Any]:
        return {"digest": digest(rng.randrange(shape.entries), "absent")}

    def party(rng: random.Random) -> dict[str, Any]:
        return {"party": shape.party(rng.randrange(shape.parties))}

    def feed_cursor(rng: random.Random) -> dict[str, Any]:
        return {"cursor": Cursor(FIRST_HEIGHT + rng.randrange(shape.blocks - 10), 0)}

    # What GET /v1/events reads for an ADMIN (auth off on the --dev node): the stored JSON of
    # each event, sent on unparsed (Indexes.feed_raw).
    topics = list(TOPICS)
    return [
        QueryType("digest", "evidence by digest (present)", present,
                  lambda ix, p: len(ix.evidence(digest=p["digest"]).items),
                  lambda p: f"/v1/evidence?digest=0x{p['digest'].hex()}", lambda p: 1),
        QueryType("digest-absent", "evidence by digest (absent)", absent,
                  lambda ix, p: len(ix.evidence(digest=p["digest"]).items),
                  lambda p: f"/v1/evidence?digest=0x{p['digest'].hex()}", lambda p: 0),
        QueryType("case", "evidence by case, page of 100", lambda rng: {"case": f"case-{rng.randrange(shape.cases)}"},
                  lambda ix, p: len(ix.evidence(case=p["case"], limit=100).items),
                  lambda p: f"/v1/evidence?case={quote(p['case'])}&limit=100", lambda p: 100),
        QueryType("kind", "evidence by kind, page 1 of 100", lambda rng: {"kind": rng.choice(KINDS)},
                  lambda ix, p: len(ix.evidence(kind=p["kind"], limit=100).items),
                  lambda p: f"/v1/evidence?kind={quote(p['kind'])}&limit=100", lambda p: 100),
        QueryType("kind-50", "evidence by kind, page 50 (`after` token)", lambda rng: {"kind": rng.choice(KINDS)},
                  lambda ix, p: len(ix.evidence(kind=p["kind"], after=tokens[p["kind"]], limit=100).items),
                  lambda p: f"/v1/evidence?kind={quote(p['kind'])}&limit=100&after={tokens[p['kind']]}", lambda p: 100),
        QueryType("party", "contracts by party, page of 20", party,
                  lambda ix, p: len(ix.contracts(party=p["party"], limit=20).items),
                  lambda p: f"/v1/contracts?party=0x{p['party'].hex()}&limit=20", lambda p: 20),
        QueryType("status", "contracts by status, page of 100", lambda rng: {"status": rng.choice(("Pending", "Effective"))},
                  lambda ix, p: len(ix.contracts(status=p["status"], limit=100).items),
                  lambda p: f"/v1/contracts?status={p['status']}&limit=100", lambda p: 100),
        QueryType("project", "contract by project", lambda rng: {"project": project(rng.randrange(shape.contracts))},
                  lambda ix, p: len(ix.contracts(project=p["project"]).items),
                  lambda p: f"/v1/contracts?project={quote(p['project'])}", lambda p: 1),
        QueryType("feed", "feed, page of 500 from a random cursor", feed_cursor,
                  lambda ix, p: len(ix.feed_raw(topics, after=p["cursor"], limit=500)),
                  lambda p: f"/v1/events?since={p['cursor']}&limit=500", lambda p: 500),
    ]


def kind_tokens(indexes: Any, shape: Shape, pages_before: int = 49) -> dict[str, str]:
    tokens: dict[str, str] = {}
    if shape.entries < DEEP_PAGE_ENTRIES:
        return tokens  # no page 50: the query is skipped at this size
    for kind in KINDS:
        after: str | None = None
        for _ in range(pages_before):
            after = indexes.evidence(kind=kind, after=after, limit=100).next
            assert after is not None, f"kind {kind} has fewer than {pages_before + 1} pages"
        assert after is not None
        tokens[kind] = after
    return tokens


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50/p95/p99/max in ms of samples in ns (nearest rank)."""
    return {**{f"p{p}": percentile(samples_ns, p) / 1e6 for p in (50, 95, 99)}, "max": max(samples_ns) / 1e6,
            "n": len(samples_ns)}


def timed_batch(run: Callable[[dict[str, Any]], None], params: list[dict[str, Any]], *, idle_wait: float,
                other_pids: Callable[[], list[int]] = list, prime: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Run `run` over `params` timing each call; with the CPU every process used meanwhile.
    `prime` runs after the idle wait, before the clock starts."""
    idle = wait_for_idle(idle_wait)
    prime()
    samples = []
    busy0, _ = machine_cpu()
    own0 = time.process_time()
    others0 = cpu_seconds(other_pids())
    t0 = time.perf_counter()
    for p in params:
        start = time.perf_counter_ns()
        run(p)
        samples.append(time.perf_counter_ns() - start)
    wall = time.perf_counter() - t0
    busy1, _ = machine_cpu()
    own = time.process_time() - own0
    node_cpu = cpu_seconds(other_pids()) - others0
    return {**percentiles(samples), "wall_s": round(wall, 2), "idle_before": idle,
            "own_cpu_cores": round(own / wall, 2), "node_cpu_cores": round(node_cpu / wall, 2),
            "others_cpu_cores": round(max(0.0, (busy1 - busy0) - own - node_cpu) / wall, 2)}


def selected(shape: Shape, tokens: dict[str, str], args: argparse.Namespace) -> list[QueryType]:
    """The query types this run times: `--only`, and page 50 only where the size has one."""
    return [qt for qt in query_types(shape, tokens)
            if (not args.only or qt.name in args.only) and (qt.name != "kind-50" or tokens)]


def repeated(runs: int, idle_wait: float, measure: Callable[[float], dict[str, Any]]) -> dict[str, Any]:
    """`runs` timed batches of one query type, back to back after one wait for an idle
    machine (`measure(idle_wait)` first, then `measure(0)`): the run with the median p99,
    plus every run's p50 and p99 (`p50_runs`, `p99_runs`) for the figures' medians and spreads."""
    results = [measure(idle_wait if i == 0 else 0.0) for i in range(runs)]
    middle = median_run(results, key=lambda r: r["p99"])
    return {**middle, "p50_runs": [r["p50"] for r in results], "p99_runs": [r["p99"] for r in results]}


def tokens_for(chain_dir: Path, shape: Shape) -> dict[str, str]:
    store = LevelStore(chain_dir)
    try:
        return kind_tokens(Indexes(store), shape)
    finally:
        store.close()


def in_process(chain_dir: Path, shape: Shape, tokens: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    store = LevelStore(chain_dir)
    results: dict[str, Any] = {}
    try:
        indexes = Indexes(store)
        for qt in selected(shape, tokens, args):
            warm = random.Random(f"warm {qt.name}")
            for _ in range(WARM_UP):
                qt.call(indexes, qt.params(warm))
            rng = random.Random(f"{args.seed} {qt.name}")
            params = [qt.params(rng) for _ in range(args.queries)]

            def run(p: dict[str, Any], qt: QueryType = qt) -> None:
                got = qt.call(indexes, p)
                if got != qt.items(p):
                    raise RuntimeError(f"{qt.label}: {got} items for {p}, expected {qt.items(p)}")

            results[qt.name] = repeated(args.runs, args.idle_wait, lambda wait: timed_batch(run, params, idle_wait=wait))
            print_json_line("INPROC", {"entries": shape.entries, "query": qt.name, **results[qt.name]})
            if args.profile == qt.name:
                profile(run, params[:200], qt.label)
    finally:
        store.close()
    return results


def profile(run: Callable[[dict[str, Any]], None], params: list[dict[str, Any]], label: str) -> None:
    prof = cProfile.Profile()
    prof.enable()
    for p in params:
        run(p)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
    print(f"\ncProfile of {len(params)} in-process queries: {label}\n{out.getvalue()}", flush=True)


def over_http(data_dir: Path, shape: Shape, tokens: dict[str, str], args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    node = NodeProcess(args.ledger, data_dir, free_port())
    results: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        node.start(args.ready_timeout)
        start_s = time.perf_counter() - started
        pid = node.pid
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)

        def get(path: str) -> tuple[int, bytes]:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()

        def reconnect(path: str) -> None:
            """A fresh connection, used once untimed: uvicorn closes one idle for 5 s, and
            the idle wait before a timed batch is longer."""
            conn.close()
            get(path)

        status, body = get("/v1/summary")
        summary = json.loads(body)
        counts = summary["counts"]
        if status != 200 or counts["evidence"] != shape.entries or counts["contracts"]["total"] != shape.contracts:
            raise RuntimeError(f"the node does not serve the seeded indexes: {status} {body[:500]!r}")
        node_info = {"start_s": round(start_s, 1), "height": summary["height"], "indexedHeight": summary["indexedHeight"],
                     "evidence": counts["evidence"], "contracts": counts["contracts"]}
        for qt in selected(shape, tokens, args):
            warm = random.Random(f"warm {qt.name}")
            for _ in range(WARM_UP):
                get(qt.path(qt.params(warm)))
            rng = random.Random(f"{args.seed} {qt.name}")
            params = [qt.params(rng) for _ in range(args.queries)]

            def measure(idle_wait: float, qt: QueryType = qt, warm: random.Random = warm,
                        params: list[dict[str, Any]] = params) -> dict[str, Any]:
                replies: list[tuple[int, bytes]] = []

                def run(p: dict[str, Any]) -> None:
                    replies.append(get(qt.path(p)))

                def prime() -> None:
                    reconnect(qt.path(qt.params(warm)))

                result = timed_batch(run, params, idle_wait=idle_wait, other_pids=lambda: process_tree(pid), prime=prime)
                for p, (status, body) in zip(params, replies):  # checked after the clock stopped
                    got = len(json.loads(body)["items"]) if status == 200 else -1
                    if got != qt.items(p):
                        raise RuntimeError(f"HTTP {qt.label}: status {status}, {got} items, expected {qt.items(p)}: {body[:300]!r}")
                result["reply_bytes_median"] = sorted(len(b) for _, b in replies)[len(replies) // 2]
                return result

            results[qt.name] = repeated(args.runs, args.idle_wait, measure)
            print_json_line("HTTP", {"entries": shape.entries, "query": qt.name, **results[qt.name]})
        conn.close()
    finally:
        code = node.stop()
    if code not in (0, None, -15):
        print(f"warning: node exited with {code}:\n{node.log_tail()}", file=sys.stderr)
    return results, node_info


def prepare(base: Path, shape: Shape, args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The seeded data directory of this size: reused if a previous run left it, unless the
    code of ``index_code`` changed since (then seeded again: what the old code wrote is not
    what the node writes now)."""
    root = base / f"n{shape.entries}"
    data_dir = root / "data"
    marker = root / "seeded.json"
    if marker.exists() and not args.reseed:
        stats = json.loads(marker.read_text())
        if stats.get("layout") == LAYOUT and stats.get("entries") == shape.entries:
            if stats.get("index_code") == index_code():
                stats["reused"] = True
                return data_dir, stats
            print(f"{root}: seeded by other index code; seeding again", file=sys.stderr, flush=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    node = NodeProcess(args.ledger, data_dir, free_port())
    try:
        node.start(args.ready_timeout)
    finally:
        node.stop()
    print(f"seeding {shape.entries:,} evidence entries into {data_dir / CHAIN_DIR} ...", file=sys.stderr, flush=True)
    stats = seed(data_dir / CHAIN_DIR, shape, batch_blocks=args.batch_blocks)
    stats["bytes"] = dir_bytes(data_dir / CHAIN_DIR)
    stats["layout"] = LAYOUT
    stats["index_code"] = index_code()
    write_json(marker, stats)
    stats["reused"] = False
    return data_dir, stats


def index_code() -> str:
    """A fingerprint of the code that decides what the seeded keys hold: the key layout,
    the indexing, and the system contracts' event codec it decodes logs with. The files
    read are the modules this process imported, not the working tree's: under
    ``bench/run_all --baseline`` the old side imports an older commit's (a data directory
    seeded by one side's code is not reused by the other's)."""
    digest = hashlib.sha256()
    for module in (schema, node.storage.indexes, chaincode.events):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


# -- the report ---------------------------------------------------------------------------


def fmt(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    return f"{r['p50']:.2f} / {r['p95']:.2f} / {r['p99']:.2f} / {r['max']:.2f}"


def idle_text(r: dict[str, Any]) -> str:
    idle = r["idle_before"]
    if idle.get("idle") is None:
        return "not waited"
    return "yes" if idle["idle"] else f"no ({idle['last_busy_cores']} busy)"


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--entries", type=int, nargs="+", default=[1_000_000],
                   help="evidence entries; several sizes are measured one after another (default 1000000)")
    p.add_argument("--queries", type=int, default=2_000, help="timed queries per type (default 2000)")
    p.add_argument("--seed", type=int, default=6, help="seed of the random keys (default 6)")
    p.add_argument("--dir", type=Path, default=None, help="where the seeded data directories live (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep --dir at the end (a later run reuses what it holds)")
    p.add_argument("--reseed", action="store_true", help="seed again even if --dir holds this size")
    p.add_argument("--batch-blocks", type=int, default=50, help="synthetic blocks per LevelDB write batch (default 50)")
    cli.add_idle_wait(p, 30.0, before="each timed batch")
    p.add_argument("--no-http", action="store_true", help="in process only")
    p.add_argument("--no-in-process", action="store_true", help="over HTTP only")
    cli.add_runs(p, 1, "timed batches per query type; figures are their medians")
    cli.add_figures_out(p)
    p.add_argument("--only", nargs="+", default=None, help="only these query types (names as in the JSON lines)")
    p.add_argument("--profile", default=None, help="cProfile 200 in-process queries of this type and print the top")
    cli.add_node_start(p, ready_timeout=NODE_READY_SECONDS)
    cli.add_json_out(p)
    args = p.parse_args(argv)
    cli.require_positive(p, args, "runs", "queries")
    args.ledger = find_ledger(args.ledger)
    for n in args.entries:
        if n % PER_CASE or n < MIN_ENTRIES:
            p.error(f"--entries {n}: use a multiple of {PER_CASE} of at least {MIN_ENTRIES:,}")

    info = machine_info()
    base = (args.dir or Path(tempfile.mkdtemp(prefix="queries-bench-"))).resolve()  # the node starts elsewhere
    base.mkdir(parents=True, exist_ok=True)
    report: list[dict[str, Any]] = []
    try:
        for n in args.entries:
            shape = Shape(n)
            t0 = time.perf_counter()
            data_dir, seeding = prepare(base, shape, args)
            t1 = time.perf_counter()
            tokens = tokens_for(data_dir / CHAIN_DIR, shape)
            inproc = {} if args.no_in_process else in_process(data_dir / CHAIN_DIR, shape, tokens, args)
            t2 = time.perf_counter()
            http_results, node_info = ({}, {}) if args.no_http else over_http(data_dir, shape, tokens, args)
            t3 = time.perf_counter()
            report.append({"entries": n, "seeding": seeding, "in_process": inproc, "http": http_results, "node": node_info,
                           "bytes_after": dir_bytes(data_dir / CHAIN_DIR),
                           "phase_s": {"prepare": round(t1 - t0), "in_process": round(t2 - t1), "http": round(t3 - t2)}})
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print_table("machine", machine_rows(info) + [("queries per type", f"{args.queries:,} (+{WARM_UP} warm-up), seed {args.seed}")])
    labels = {qt.name: qt.label for qt in query_types(Shape(1_000_000), {})}
    for r in report:
        s = r["seeding"]
        print_table(f"{r['entries']:,} evidence entries: seeding", [
            ("data", f"{s['entries']:,} anchorings, {s['contracts']:,} contracts ({s['contracts'] // 2:,} Effective), "
                     f"{s['events']:,} events in {s['blocks']:,} blocks, {s['batches']:,} write batches of {s['batch_blocks']} blocks"),
            ("seeded", f"{s['seeded_at']}{' (reused)' if s['reused'] else ''}, {s['wall_s']:,} s wall"),
            ("ABI encoding (benchmark only, in a second process)", f"waited {s['encode_s']} s for it"),
            ("index_block (the node's cost)", f"{s['index_s']} s = {s['index_us_per_event']} µs/event = {s['index_events_per_s']:,} events/s"),
            ("LevelDB write batches (fsync)", f"{s['write_s']} s; index + write {s['index_and_write_events_per_s']:,} events/s"),
            ("LevelDB on disk", f"{s['bytes'] / 1e6:,.0f} MB after seeding, {r['bytes_after'] / 1e6:,.0f} MB after the queries"),
            ("node over HTTP", "not run" if not r["node"] else
             f"started in {r['node']['start_s']} s; head {r['node']['height']}, indexed {r['node']['indexedHeight']}, "
             f"reports {r['node']['evidence']:,} evidence, {r['node']['contracts']['total']:,} contracts"),
        ])
        rows = []
        for name in measured([r]):
            res, h = r["in_process"].get(name), r["http"].get(name)
            rows.append([labels[name], fmt(res), fmt(h),
                         " / ".join(f"{x['others_cpu_cores']:.2f}" if x else "-" for x in (res, h)),
                         " / ".join(idle_text(x) if x else "-" for x in (res, h))])
        print_grid(f"{r['entries']:,} entries: latency in ms, p50 / p95 / p99 / max",
                   ["query", "in process", "HTTP (keep-alive)", "others' CPU, cores (in proc / HTTP)", "idle before (in proc / HTTP)"], rows)
    if len(report) > 1:
        header = ["query"] + [f"p99 in process at {r['entries']:,}" for r in report] + [f"p99 HTTP at {r['entries']:,}" for r in report]
        rows = [[labels[n]] + [f"{r[where][n]['p99']:.2f}" if n in r[where] else "-" for where in ("in_process", "http") for r in report]
                for n in measured(report)]
        print_grid("p99 (ms) by size", header, rows)
    last = report[-1]
    worst = max([v["p99"] for v in last["in_process"].values()] + [v["p99"] for v in last["http"].values()] or [math.nan])
    print_table(f"target: p99 <= {TARGET_P99_MS:g} ms at {last['entries']:,} entries", [
        ("worst p99 of any query (in process and HTTP)", f"{worst:.2f} ms: {'met' if worst <= TARGET_P99_MS else 'NOT met'}")])
    print_json_line("QUERIES_JSON", {"machine": info, "queries": args.queries, "seed": args.seed, "report": report})
    if args.json_out:
        write_json(args.json_out, {"machine": info, "report": report})
    if args.figures_out:
        write_figures(args.figures_out, "queries", figures(report, labels), queries_per_run=args.queries, runs=args.runs,
                      entries=args.entries, seeding=[r["seeding"] for r in report])
    return 0


def measured(report: list[dict[str, Any]]) -> list[str]:
    """Query names measured in any of these reports, in the order they ran."""
    names: dict[str, None] = {}
    for r in report:
        names.update(dict.fromkeys(r["in_process"]))
        names.update(dict.fromkeys(r["http"]))
    return list(names)


def figures(report: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """p50 and p99 of every query, size and path (in process, HTTP), over the runs; and the
    indexes' LevelDB bytes per evidence entry (blocks, receipts and state are not seeded)."""
    out = []
    for r in report:
        n = r["entries"]
        for where, results in (("http", r["http"]), ("in_process", r["in_process"])):
            for name, res in results.items():
                for p in ("p50", "p99"):
                    out.append(figure(f"queries.{where}.{name}.{p}.n{n}", "ms", res[f"{p}_runs"], better="lower",
                                      group=f"queries at {n:,} entries",
                                      note=f"{labels[name]}, {where.replace('_', ' ')}, {res['n']} queries per run"))
        out.append(figure(f"queries.index_bytes_per_entry.n{n}", "bytes", [r["seeding"]["bytes"] / n], better="lower",
                          group=f"queries at {n:,} entries",
                          note="index LevelDB after seeding / entries (one seeding; synthetic blocks, so no block, receipt or state bytes)"))
    return out


if __name__ == "__main__":
    sys.exit(main())
