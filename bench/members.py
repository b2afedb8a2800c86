"""Batch members (node/storage/members.py): bytes per member on disk and the node's memory, at N members.

What it does, for one batch of N members (``--members``, default 1,000,000, the SDK's cap):

1. starts ``ledger node start --dev`` (``bench.common.nodes.dev_node``) and anchors the RFC
   9162 root of N synthetic digests (sha256("bench member " + i)) in one transaction
   (``EvidenceRegistry.anchor`` through the SDK's ``Ledger.transact``; no receipts are
   built: this measures the node, not the client); stops the node;
2. opens the node's LevelDB (``DATA/chain``) with plyvel, compacts it (``compact_range``)
   and measures its files: the baseline;
3. starts the node again on the same directory; reads its resident memory (VmRSS) once it
   is up; hands the N leaves over in one request (``PUT /v1/evidence/{root}/members``,
   32·N bytes, through ``client/http.py``), timed from sending to the answer (the node reads
   the body, hashes the leaves, checks the root and the anchored count, writes the keys in
   slices and commits them); the node's RSS is sampled every 50 ms meanwhile and its peak (VmHWM) read after;
   then ``--proofs`` member proofs (``GET /v1/evidence/{digest}/proof``, random members, a
   fixed seed) are timed, each checked against the root;
4. stops the node, compacts again and measures: the directory's growth over the baseline,
   and LevelDB's own estimate of the member keys' bytes (``approximate_sizes`` over the
   ``m`` prefixes), each per member. The digests are random bytes to LevelDB's Snappy
   compression, so a member costs about its keys and values: what `index_bytes` charges.

5. the block-commit stall, in this process on a LevelDB of its own (``--stall-only`` runs
   this part alone): ``MemberIndex.add`` of the same N members runs in a worker thread (as
   in the node's expensive RPC pool) while this thread commits block-shaped synced write
   batches (``STALL_BLOCK_KEYS`` keys of ``STALL_BLOCK_VALUE_BYTES``, through
   ``LevelStore.write_batch``, as ``Chain.commit`` does) back to back, a pause of
   ``STALL_GAP_SECONDS`` between them; each commit's latency is recorded, first for
   ``STALL_IDLE_SECONDS`` with no upload (the baseline), then for the whole upload. The
   longest commit during the upload is how long an upload can hold consensus back.

Everything stays on 127.0.0.1; the upload and the proofs have a deadline (``--timeout``).

    .venv/bin/python -m bench.members                       # 10^6 members, ~3 min
    .venv/bin/python -m bench.members --quick               # 20,000 members, smoke
    .venv/bin/python -m bench.members --stall-only          # step 5 alone, 10^6 members, ~30 s
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import cli
from bench.common.footprint import RssSampler, dir_bytes, tree_hwm_kib, tree_rss_kib
from bench.common.machine import machine_info, machine_rows
from bench.common.nodes import NodeProcess, dev_node
from bench.common.results import figure, print_json_line, print_table, write_figures
from bench.common.stats import percentile
from node.service import CHAIN_DIR
from node.storage import schema

DEFAULT_MEMBERS = 1_000_000
QUICK_MEMBERS = 20_000
DEFAULT_PROOFS = 200
# The node's RSS is sampled this often during the upload (as bench/throughput.py does).
RSS_SAMPLE_SECONDS = 0.05
SEED = 17
# A block commit as the stall measurement writes it: about what a block of a few dozen
# transactions writes (state trie nodes, header, body, receipts, index rows), synced.
STALL_BLOCK_KEYS = 200
STALL_BLOCK_VALUE_BYTES = 100
# The pause between two measured commits (blocks come far less often; a short gap samples
# the upload densely), and how long the baseline without an upload runs.
STALL_GAP_SECONDS = 0.005
STALL_IDLE_SECONDS = 2.0
# Key ranges of the member index (node/storage/schema.py: every member key starts with "m").
MEMBER_RANGES = {
    "members (digest -> leaf)": (schema.BATCH_MEMBER, schema.BATCH_MEMBER + b"\xff"),
    "leaves (chunks)": (schema.BATCH_LEAVES, schema.BATCH_LEAVES + b"\xff"),
    "batch record": (schema.BATCH, schema.BATCH + b"\xff"),
    "all member keys": (b"m", b"n"),
}


def digests(count: int) -> list[bytes]:
    return [hashlib.sha256(f"bench member {i}".encode()).digest() for i in range(count)]


def merkle_root(leaves: list[bytes]) -> bytes:
    from evidence import merkle

    return merkle.root(leaves)


def anchor_root(node: NodeProcess, root: bytes, count: int) -> int:
    """Anchor `root` as a batch of `count` leaves; returns its block."""
    from client.ledger import Ledger

    _, key = node.dev_key()
    ledger = Ledger(node.url, bytes.fromhex(key.removeprefix("0x")))
    function = ledger.evidence.functions.anchor(root, count, "bench", "BENCH-MEMBERS", 1, b"\x00" * 32)
    return ledger.transact(function).block_number


def compacted(chain: Path) -> tuple[int, dict[str, int]]:
    """The LevelDB at `chain` compacted: its files' bytes, and LevelDB's estimate of each
    member key range's bytes."""
    import plyvel

    db = plyvel.DB(str(chain))
    try:
        db.compact_range()
        estimates = db.approximate_sizes(*MEMBER_RANGES.values())
    finally:
        db.close()
    return dir_bytes(chain), dict(zip(MEMBER_RANGES, estimates))


def run(args: argparse.Namespace, leaves: list[bytes]) -> dict[str, Any]:
    from client.http import HttpClient
    from evidence import merkle

    count = len(leaves)
    tree_started = time.monotonic()
    root = merkle.root(leaves)
    print(f"{count} digests, root 0x{root.hex()} ({time.monotonic() - tree_started:.1f} s in this process)",
          file=sys.stderr)
    with dev_node(args.ledger, prefix="bench-members-", ready_timeout=args.ready_timeout,
                  keep_data=args.keep_data) as node:
        block = anchor_root(node, root, count)
        node.stop()
        chain = node.data_dir / CHAIN_DIR
        base_bytes, base_ranges = compacted(chain)
        node.start(args.ready_timeout)
        idle_kib = tree_rss_kib(node.pid)
        sampler = RssSampler([node.pid], RSS_SAMPLE_SECONDS)
        body = b"".join(leaves)
        with HttpClient(node.url, timeout=args.timeout) as http:
            sampler.start()
            started = time.monotonic()
            answer = http.request("PUT", f"v1/evidence/0x{root.hex()}/members", body=body,
                                  content_type="application/octet-stream").json()
            upload_seconds = time.monotonic() - started
            sampler.stop()
            if not answer.get("created") or answer.get("members") != count:
                raise RuntimeError(f"the node did not index the batch: {answer}")
            peak_kib = max(sampler.peak_kib()[0], tree_hwm_kib(node.pid))
            after_kib = tree_rss_kib(node.pid)
            proof_ms = time_proofs(http, leaves, root, args.proofs, time.monotonic() + args.timeout)
        node.stop()
        total_bytes, ranges = compacted(chain)
    grown = total_bytes - base_bytes
    member_bytes = ranges["all member keys"] - base_ranges["all member keys"]
    return {
        "members": count, "block": block, "uploadBytes": len(body), "uploadSeconds": upload_seconds,
        "chargedBytes": answer["bytes"], "idleRssKib": idle_kib, "peakRssKib": peak_kib, "afterRssKib": after_kib,
        "diskBaseBytes": base_bytes, "diskBytes": total_bytes, "diskGrowthBytes": grown,
        "memberRangeBytes": member_bytes, "ranges": ranges, "proofMs": proof_ms,
    }


def commit_stall(leaves: list[bytes], root: bytes, directory: Path, timeout: float) -> dict[str, Any]:
    """Block-commit latencies (ms) with no upload, then while `MemberIndex.add` indexes
    `leaves` in a worker thread: step 5 of the module docstring."""
    from node.storage.indexes import Cursor
    from node.storage.members import MemberIndex
    from node.storage.store import LevelStore

    store = LevelStore(directory / "chain")
    try:
        # The anchoring the upload is checked against: the rows the event index holds for
        # an Anchored event of `root` with its leaf count (node/storage/indexes.py).
        cursor = Cursor(1, 0).to_bytes()
        store.write_batch({schema.EVIDENCE_BY_DIGEST + root + cursor: b"",
                           schema.EVENT + cursor: json.dumps({"args": {"leafCount": len(leaves)}}).encode()})
        rng = random.Random(SEED)
        commits = 0

        def commit() -> float:
            nonlocal commits
            commits += 1
            writes = {b"zbench" + commits.to_bytes(4, "big") + rng.randbytes(28): rng.randbytes(STALL_BLOCK_VALUE_BYTES)
                      for _ in range(STALL_BLOCK_KEYS)}
            started = time.perf_counter()
            store.write_batch(writes)
            return (time.perf_counter() - started) * 1000

        idle: list[float] = []
        until = time.monotonic() + STALL_IDLE_SECONDS
        while time.monotonic() < until:
            idle.append(commit())
            time.sleep(STALL_GAP_SECONDS)
        body = b"".join(leaves)
        outcome: dict[str, Any] = {}

        def upload() -> None:
            started = time.perf_counter()
            try:
                outcome["added"] = MemberIndex(store).add(root, body, "bench")
            except BaseException as exc:  # re-raised in the measuring thread
                outcome["error"] = exc
            outcome["seconds"] = time.perf_counter() - started

        worker = threading.Thread(target=upload, name="rpc-expensive")
        during: list[float] = []
        deadline = time.monotonic() + timeout
        worker.start()
        while worker.is_alive():
            if time.monotonic() > deadline:
                raise TimeoutError("the upload ran past --timeout")
            during.append(commit())
            time.sleep(STALL_GAP_SECONDS)
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        if not outcome["added"].created:
            raise RuntimeError(f"the batch was not indexed: {outcome['added']}")
        return {"idleMs": idle, "duringMs": during, "uploadSeconds": outcome["seconds"]}
    finally:
        store.close()


def time_proofs(http: Any, leaves: list[bytes], root: bytes, count: int, deadline: float) -> list[float]:
    """Latency (ms) of `count` GET .../proof for random members, each path checked."""
    from evidence import merkle

    rng = random.Random(SEED)
    latencies = []
    for _ in range(count):
        if time.monotonic() > deadline:
            raise TimeoutError("the proof queries ran past --timeout")
        index = rng.randrange(len(leaves))
        started = time.monotonic()
        proof = http.get_json(f"v1/evidence/0x{leaves[index].hex()}/proof")
        latencies.append((time.monotonic() - started) * 1000)
        path = [bytes.fromhex(h[2:]) for h in proof["inclusionPath"]]
        merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, len(leaves), path, root)
    return latencies


def main() -> None:
    p = cli.parser(__doc__)
    p.add_argument("--members", type=int, default=DEFAULT_MEMBERS, help=f"batch size (default {DEFAULT_MEMBERS:,})")
    p.add_argument("--proofs", type=int, default=DEFAULT_PROOFS, help=f"proof queries timed (default {DEFAULT_PROOFS})")
    cli.add_quick(p, f"{QUICK_MEMBERS:,} members")
    cli.add_node_start(p)
    cli.add_timeout(p, 600.0, "the upload, and of the proof queries")
    p.add_argument("--stall-only", action="store_true",
                   help="only step 5: the block-commit stall during an upload, in this process")
    cli.add_keep_data(p)
    cli.add_figures_out(p)
    args = p.parse_args()
    if args.quick:
        args.members = QUICK_MEMBERS
    cli.require_positive(p, args, "members", "proofs")
    leaves = digests(args.members)
    with tempfile.TemporaryDirectory(prefix="bench-members-stall-") as directory:
        stall = commit_stall(leaves, merkle_root(leaves), Path(directory), args.timeout)
    stall_rows = [
        ("block commits with no upload: count, p50 / p99 / max",
         f"{len(stall['idleMs'])}, {percentile(stall['idleMs'], 50):.1f} / {percentile(stall['idleMs'], 99):.1f} / "
         f"{max(stall['idleMs']):.1f} ms"),
        (f"block commits during the upload ({stall['uploadSeconds']:.2f} s in-process): count, p50 / p99 / max",
         f"{len(stall['duringMs'])}, {percentile(stall['duringMs'], 50):.1f} / {percentile(stall['duringMs'], 99):.1f} / "
         f"{max(stall['duringMs']):.1f} ms"),
    ]
    stall_figures = [
        figure("longest block commit during a member upload", "ms", [max(stall["duringMs"])], better="lower",
               group="members", note=f"{args.members:,} members; idle max {max(stall['idleMs']):.1f} ms"),
    ]
    stall_summary = {"idleMaxMs": max(stall["idleMs"]), "duringMaxMs": max(stall["duringMs"]),
                     "duringP99Ms": percentile(stall["duringMs"], 99), "commitsDuring": len(stall["duringMs"]),
                     "inProcessUploadSeconds": stall["uploadSeconds"]}
    if args.stall_only:
        print_table("machine", machine_rows(machine_info()))
        print_table(f"block-commit stall: one upload of {args.members:,} members", stall_rows)
        write_figures(args.figures_out, "members", stall_figures)
        print_json_line("MEMBERS_STALL", stall_summary)
        return
    result = run(args, leaves)
    n = result["members"]
    print_table("machine", machine_rows(machine_info()))
    print_table(f"block-commit stall: one upload of {n:,} members", stall_rows)
    print_table(f"batch members: one batch of {n:,}", [
        ("upload (PUT .../members, one request)", f"{result['uploadBytes']:,} bytes in {result['uploadSeconds']:.2f} s"),
        ("charged to the caller (index_bytes)", f"{result['chargedBytes']:,} bytes ({result['chargedBytes'] / n:.1f} / member)"),
        ("LevelDB after compaction: growth", f"{result['diskGrowthBytes']:,} bytes ({result['diskGrowthBytes'] / n:.1f} / member)"),
        ("LevelDB's estimate of the member keys", f"{result['memberRangeBytes']:,} bytes ({result['memberRangeBytes'] / n:.1f} / member)"),
        *((f"  of which {name}", f"{size:,} bytes") for name, size in result["ranges"].items() if name != "all member keys"),
        ("node RSS, idle before", f"{result['idleRssKib'] / 1024:.0f} MiB"),
        ("node RSS, peak during the upload", f"{result['peakRssKib'] / 1024:.0f} MiB"),
        ("node RSS, after", f"{result['afterRssKib'] / 1024:.0f} MiB"),
        (f"member proof (GET .../proof), p50 / p99 of {len(result['proofMs'])}",
         f"{percentile(result['proofMs'], 50):.1f} / {percentile(result['proofMs'], 99):.1f} ms"),
    ])
    figures = [
        figure("member index bytes on disk per member", "bytes", [result["diskGrowthBytes"] / n], better="lower",
               group="members", note=f"LevelDB after compaction, {n:,} members"),
        figure("node peak RSS over idle during a member upload", "MiB",
               [(result["peakRssKib"] - result["idleRssKib"]) / 1024], better="lower", group="members",
               note=f"{n:,} members in one request"),
        figure("member upload time", "s", [result["uploadSeconds"]], better="lower", group="members",
               note=f"{n:,} members"),
        figure("member proof latency p99", "ms", [percentile(result["proofMs"], 99)], better="lower", group="members"),
        *stall_figures,
    ]
    write_figures(args.figures_out, "members", figures)
    print_json_line("MEMBERS", {**{k: v for k, v in result.items() if k != "proofMs"}, "stall": stall_summary})


if __name__ == "__main__":
    main()
