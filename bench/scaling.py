"""Scaling curves of evidence anchoring: entries/s, receipt size and verify time, disk and memory, against batch size.

For each batch size B (``--batch-sizes``, default 1, 100, 10,000, 100,000) with N_B
transactions (``--txs-per-size``, default 2,000, 200, 20, 10, i.e. 2,000, 20,000, 200,000
and 1,000,000 entries), and for each of ``--runs`` runs (default 3; a run is one pass over
every B):

1. starts a fresh ``ledger node start --dev`` (``bench.common.nodes.NodeProcess``, a
   fresh data dir, a free loopback port) -- one node per (run, B), so the disk a batch size
   used is the growth of its own data dir; the dev account anchors (it is a member of the
   identity registry on a --dev chain);
2. untimed: makes the N_B * B entry digests (SHAKE-256 of a seed, cut into 32-byte
   digests: evidence digests are uniformly random bytes, how they were made is not what is
   measured), estimates the gas of one ``EvidenceRegistry.anchor`` call (+25 %, as the SDK's
   ``GAS_MARGIN``) and records the node's RSS and data dir size;
3. waits for an idle machine (``--idle-wait``), then anchors the entries in two halves
   (N_B // 2 transactions, then the rest), each half timed in two parts:

   * client: per transaction, what ``client/anchoring.py`` computes -- for B = 1 the digest
     itself (``anchor``: a single digest is anchored as is, no tree), for B > 1 the RFC
     9162 leaf hashes and root of the B digests (``anchor_batch``) -- then the ABI-encoded
     ``anchor(root, B, kind, case, 1, 0)`` call, signed with eth-account by the dev account
     with consecutive nonces (the pool holds a contiguous run of nonces, bounded only by
     its size of 20,000);
   * node: the signed transactions sent as JSON-RPC batches of 100 ``eth_sendRawTransaction``
     and new blocks followed until all are in a block (``send_all`` / ``wait_included``
     of ``bench.common.load``; a block of the one-validator dev chain is final when it is
     committed): first send -> the block holding the last one seen.

   entries/s = entries / (client + node); tx/s likewise; "node entries/s" = entries / node.
   Between the halves (clock stopped) the node's RSS and data dir size are read, so the
   footprint is measured at N/2 and N: the per-entry growth of each half shows whether it
   is linear. The registry's ``entry_count`` must have grown by N_B (every anchoring
   succeeded, each a new digest) and the sampled transactions' statuses must be 1;
4. receipts: for the middle transaction, ``client.anchoring.receipts_for`` -- the SDK's own
   code: debug_getRawHeader / debug_getRawBlock / debug_getRawReceipts /
   ledger_getValidatorHistory, then ``build_receipts`` for *all* B entries of that batch --
   is timed ("build s": one whole batch's receipts). The receipts of the batch's first,
   middle and last entries are written with ``to_json()`` (their size, and the size of each
   part: the Merkle inclusion path is the ``batch`` member; the rest -- header, transaction
   and receipt with their Patricia proofs, validator history -- is the same for every
   entry of a block), parsed back and verified with ``verify_receipt`` against the data
   dir's genesis.json; a receipt that does not verify stops the benchmark;
5. stops the node (SIGTERM), reads the data dir size again, and times ``verify_receipt``
   of the parsed sample receipts offline (``--verifications`` calls per run, default 200,
   round-robin over the samples; the median call is the run's figure; parsing
   ``Receipt.parse_text`` is timed apart).

Disk per million entries = (data dir bytes after the node stopped - bytes just before the
timed section) / entries * 10^6, in MB (10^6 bytes). LevelDB's close does not compact the
memtable, so the write-ahead log is counted as it was written, as on a running node (the
live size at N is in the report too). Below 10^6 entries the figure is extrapolated
linearly from the entries measured (the figure's note says so); at B = 100,000 the
10^6 entries are measured. The growth includes everything a block stores: the
transactions, receipts, state (a new registry entry per anchoring, its kind and case
strings) and the event indexes, and the blocks themselves (one a second while busy) --
so it follows transactions (~3.5-5 KB each), not entries. The live sizes at N/2 and N
are lumpy at small N: LevelDB moves its 4 MB write-ahead log into compressed tables at
some point, before or after the midpoint.

Memory: the node's process tree (``bench.common.footprint.RssSampler``): VmHWM (the
kernel's peak, since the node started) at the end of the anchoring, the final VmRSS, and
the VmRSS growth over the second half of the anchoring per 10^6 entries (the first half
also fills caches; extrapolated below 10^6). Like the disk, it follows transactions and
blocks rather than entries, so the B = 1 extrapolation is an upper bound of a trend, not
a measurement: read it next to the absolute VmHWM.

Trusted time (``--tsa B [B ...]``): one ``ledger tsa serve`` process on 127.0.0.1
(``bench.common.tsa``; a P-256 key, its serial file and token log fsynced per request, as
in production) is started for the whole benchmark, and at each listed batch size every
run anchors the same batches a second time, on another fresh node, with the TSA in the
loop: per transaction, as soon as its root is computed, one token over the root is asked
with the SDK's ``client.timestamping.request_timestamp`` (a new HTTP connection each, as
``anchor_batch(tsa_url=...)`` makes), on ``TOKENS_IN_FLIGHT`` threads while the client
hashes and signs the next batches; the half is sent only once every token is in hand (a
token must exist before its transaction is *sent*, which is what keeps the TSA's time at
or before the block's), and that wait counts as client time. The two anchorings of a run
follow each other, so the ratio "with TSA / without" is taken run by run. The sampled receipts of a TSA run carry their batch's token and are
verified with the TSA's root (step 11, trusted time, included in "verify ms").

Certificates (``--certificates N``, default 3): for the middle sample of each run, the
evidence certificate (``client.evidence_pdf.render_certificate``: layout, font subset,
QR code, the embedded receipt and the PAdES signature with a P-256 issuer key made for
the run) is made N times; the median is the run's figure (with the TSA's time on it in a
TSA run).

Each figure is the median of the runs, with their spread (``bench.common.results.figure``);
``--figures-out`` writes them for bench/run_all. Everything stays on 127.0.0.1; every loop
is bounded by a count and a deadline; every node is stopped in ``finally``.

    .venv/bin/python -m bench.scaling                        # full: 3 runs, 4-5 min on 2 cores
    .venv/bin/python -m bench.scaling --quick                # smoke: B = 1, 10, 100, 1 run, < 30 s
    .venv/bin/python -m bench.scaling --batch-sizes 1 1000 --txs-per-size 500 10 --runs 1
    .venv/bin/python -m bench.scaling --batch-sizes 10000 --txs-per-size 20 --tsa 10000   # with / without a TSA
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account import Account

from bench.common import cli
from bench.common.contracts import (
    ANCHOR_ALGORITHM,
    ANCHOR_CASE,
    ANCHOR_KIND,
    ANCHOR_METADATA_DIGEST,
    EVIDENCE_REGISTRY_ADDRESS,
    anchor_calldata,
    entry_count_calldata,
)
from bench.common.footprint import RssSampler, dir_bytes, tree_rss_kib
from bench.common.load import send_all, wait_included
from bench.common.machine import machine_info, wait_for_idle
from bench.common.nodes import NodeProcess, find_ledger, free_port
from bench.common.results import write_figures
from bench.common.rpc import Rpc
from bench.common.signing import tx_hash
from bench.common.tsa import TsaProcess
from bench.scaling_report import build_figures, print_report
from client import devpki
from client.anchoring import MAX_BATCH, receipts_for
from client.credentials import CertificateIdentity
from client.evidence_pdf import render_certificate
from client.ledger import GAS_MARGIN, Ledger, TxResult
from client.timestamping import request_timestamp
from evidence import merkle, qbft
from evidence.receipt import STEPS, GenesisTrust, Receipt, Verified, verify_receipt

DEFAULT_BATCH_SIZES = (1, 100, 10_000, 100_000)
DEFAULT_TXS = (2_000, 200, 20, 10)
QUICK_BATCH_SIZES = (1, 10, 100)
QUICK_TXS = (10, 10, 4)
SEND_BATCH = 100  # eth_sendRawTransaction calls per JSON-RPC batch (as bench/throughput.py)
# Time-stamp requests in flight while the client hashes and signs the next batches. The
# TSA allocates serials and fsyncs its log one request at a time, so more would only
# queue there; four keep it busy while a round trip is in flight.
TOKENS_IN_FLIGHT = 4
# A node's RSS is sampled this often while it anchors (VmHWM catches what falls between).
RSS_SAMPLE_SECONDS = 0.05


# --------------------------------------------------------------------------
# the anchoring transactions (pure)
# --------------------------------------------------------------------------
def make_digests(seed: str, count: int) -> list[bytes]:
    """`count` distinct-with-overwhelming-probability 32-byte digests from a seed (untimed)."""
    stream = hashlib.shake_256(seed.encode()).digest(32 * count)
    return [stream[i : i + 32] for i in range(0, len(stream), 32)]


@dataclass(frozen=True)
class Anchorer:
    """Signs ``EvidenceRegistry.anchor`` calls from one account with consecutive nonces."""

    private_key: str
    chain_id: int
    gas_price: int
    gas: int

    def sign_all(self, batches: Sequence[Sequence[bytes]], first_nonce: int,
                 stamp: Callable[[bytes], bytes] | None = None) -> Signed:
        """The raw transactions for `batches`, with where the client's time went.

        What the SDK anchors (client/anchoring.py): a batch of one is its digest itself
        (``anchor``), a larger one the RFC 9162 root of its leaf hashes (``anchor_batch``).
        With `stamp`, a time-stamp token over that value is asked for as soon as it is
        computed, on TOKENS_IN_FLIGHT threads while the next batches are hashed and
        signed, and this returns -- so the caller sends -- only once every token is in
        hand: a token must exist before its transaction is sent (as ``anchor_batch(
        tsa_url=...)`` has it), not before it is signed.
        """
        account = Account.from_key(self.private_key)
        raws: list[bytes] = []
        pending: list[Future[tuple[bytes, float]]] = []
        hash_s = sign_s = 0.0
        with ThreadPoolExecutor(TOKENS_IN_FLIGHT) as pool:
            for j, batch in enumerate(batches):
                t0 = time.perf_counter()
                if len(batch) == 1:
                    anchored = batch[0]
                else:
                    anchored = merkle.root_from_leaf_hashes([merkle.leaf_hash(d) for d in batch])
                if stamp is not None:
                    pending.append(pool.submit(_timed, stamp, anchored))
                t1 = time.perf_counter()
                tx = {
                    "nonce": first_nonce + j, "gas": self.gas, "gasPrice": self.gas_price,
                    "to": EVIDENCE_REGISTRY_ADDRESS, "value": 0, "data": anchor_calldata(anchored, len(batch)),
                    "chainId": self.chain_id,
                }
                raws.append(bytes(account.sign_transaction(tx).raw_transaction))
                t2 = time.perf_counter()
                hash_s += t1 - t0
                sign_s += t2 - t1
            t_wait = time.perf_counter()
            stamped = [future.result() for future in pending]  # a TSA that fails stops the run here
            wait_s = time.perf_counter() - t_wait
        return Signed(raws, hash_s, sign_s, [token for token, _ in stamped], [took for _, took in stamped], wait_s)


def _timed(stamp: Callable[[bytes], bytes], anchored: bytes) -> tuple[bytes, float]:
    t0 = time.perf_counter()
    token = stamp(anchored)
    return token, time.perf_counter() - t0


@dataclass(frozen=True)
class Signed:
    """What `Anchorer.sign_all` made: the transactions, the tokens (one per batch, when a
    TSA is in the loop), the seconds hashing and signing took, each token's latency and
    how long the tokens still outstanding after the last signature were waited for."""

    raws: list[bytes]
    hash_s: float
    sign_s: float
    tokens: list[bytes]
    token_s: list[float]
    token_wait_s: float = 0.0


def issuer_identity() -> CertificateIdentity:
    """A P-256 issuer certificate under its own root, made for the run (untimed)."""
    now = datetime.now(UTC).replace(microsecond=0)
    root_key, key = devpki.generate_key("p256"), devpki.generate_key("p256")
    validity = {"not_before": now - timedelta(days=1), "not_after": now + timedelta(days=1)}
    root = devpki.make_root("Benchmark Issuer CA", root_key, organization="Benchmark", **validity)  # type: ignore[arg-type]
    leaf = devpki.issue_certificate(root, root_key, key.public_key(), common_name="Benchmark Issuer",
                                    organization="Benchmark", **validity)  # type: ignore[arg-type]
    return CertificateIdentity((leaf, root), key)


def time_certificates(receipt: Receipt, verified: Verified, digest: bytes, count: int,
                      issuer: CertificateIdentity) -> list[float]:
    """Seconds to make the evidence certificate of `receipt`, `count` times: what
    ``ledger evidence certificate`` does after verifying (layout, QR, attachment, signature)."""
    steps = [(step, "通过 passed") for step in STEPS]
    witnesses = [("", "0x" + v.hex()) for v in verified.validators]
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        render_certificate(
            receipt, verified, steps=steps, file_name="entry.bin", file_size=0, file_digests={"sha256": digest.hex()},
            submitter=(None, None), witnesses=witnesses,
            quorum=(len(verified.signers), qbft.quorum(len(verified.validators))),
            issued_at=datetime.now(UTC).replace(microsecond=0), signer=issuer)
        times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------
# one (run, batch size): a fresh node, the timed anchoring, receipts, footprint
# --------------------------------------------------------------------------
def _entry_count(rpc: Rpc) -> int:
    return int(rpc.call("eth_call", [{"to": EVIDENCE_REGISTRY_ADDRESS, "data": "0x" + entry_count_calldata().hex()},
                                     "latest"]), 16)


def _footprint(node: NodeProcess) -> dict[str, int]:
    return {"disk_bytes": dir_bytes(node.data_dir), "rss_kib": tree_rss_kib(node.pid)}


def run_size(args: argparse.Namespace, run: int, batch_size: int, txs: int, base: Path,
             tsa: TsaProcess | None = None) -> dict[str, Any]:
    """Anchor `txs` batches of `batch_size` entries on a fresh node (with `tsa`, a token
    per batch from it); see the module docstring."""
    entries = txs * batch_size
    digests = make_digests(f"bench.scaling run {run} B {batch_size}", entries)
    batches = [digests[j * batch_size : (j + 1) * batch_size] for j in range(txs)]
    root = base / f"run{run}-b{batch_size}{'-tsa' if tsa else ''}"
    root.mkdir(parents=True)
    node = NodeProcess(args.ledger, root / "data", free_port())
    sampler: RssSampler | None = None
    stamp = functools.partial(request_timestamp, tsa.url) if tsa is not None else None
    tokens: list[bytes] = []
    token_s: list[float] = []
    res: dict[str, Any] = {"run": run, "batch_size": batch_size, "txs": txs, "entries": entries, "tsa": tsa is not None}
    try:
        t_start = time.perf_counter()
        node.start(args.ready_timeout)
        res["node_start_s"] = time.perf_counter() - t_start
        address, key = node.dev_key()
        sampler = RssSampler([node.pid], RSS_SAMPLE_SECONDS)
        sampler.start()
        rpc = Rpc(node.url)
        chain_id = int(rpc.call("eth_chainId"), 16)
        gas_price = int(rpc.call("eth_gasPrice"), 16)
        estimate = int(rpc.call("eth_estimateGas", [{
            "from": address, "to": EVIDENCE_REGISTRY_ADDRESS,
            "data": "0x" + anchor_calldata(make_digests(f"probe {run} {batch_size}", 1)[0], batch_size).hex(),
        }]), 16)
        anchorer = Anchorer(key, chain_id, gas_price, int(estimate * GAS_MARGIN))
        nonce = rpc.pending_nonce(address)
        # warm-up (untimed): one anchoring through the same path, so the node's first-call
        # costs (lazy imports, caches) fall outside the timed section and the RSS baseline
        warm_up = anchorer.sign_all([make_digests(f"warm-up {run} {batch_size}", 1)], nonce, stamp).raws
        warm_hash = tx_hash(warm_up[0])
        warm_from = int(rpc.call("eth_blockNumber"), 16)
        send_all(rpc, ["0x" + warm_up[0].hex()], [warm_hash], SEND_BATCH, time.monotonic() + args.timeout)
        wait_included(rpc, [warm_hash], warm_from, time.monotonic() + args.timeout)
        nonce += 1
        count_before = _entry_count(rpc)
        before = _footprint(node)
        res["idle_wait"] = wait_for_idle(args.idle_wait)

        # ---- timed: two halves, the footprint read between them (clock stopped) -----------
        halves = [(0, txs // 2), (txs // 2, txs)] if txs >= 2 else [(0, txs)]
        phases: list[dict[str, Any]] = []
        all_hashes: list[str] = []
        for lo, hi in halves:
            deadline = time.monotonic() + args.timeout
            t0 = time.perf_counter()
            signed = anchorer.sign_all(batches[lo:hi], nonce + lo, stamp)
            hashes = [tx_hash(r) for r in signed.raws]
            hex_raws = ["0x" + r.hex() for r in signed.raws]
            t1 = time.perf_counter()
            start_block = int(rpc.call("eth_blockNumber"), 16)
            t2 = time.perf_counter()
            send_all(rpc, hex_raws, hashes, SEND_BATCH, deadline)
            t_sent = time.perf_counter()
            per_block, t_done = wait_included(rpc, hashes, start_block, deadline)
            phases.append({
                "txs": hi - lo, "entries": (hi - lo) * batch_size, "client_s": t1 - t0, "hash_s": signed.hash_s,
                "sign_s": signed.sign_s, "token_s": sum(signed.token_s), "token_wait_s": signed.token_wait_s,
                "send_s": t_sent - t2, "node_s": t_done - t2, "blocks": len(per_block),
                "max_txs_per_block": max(per_block.values()), **_footprint(node),
            })
            all_hashes += hashes
            tokens += signed.tokens
            token_s += signed.token_s
        # --------------------------------------------------------------------------------
        res["phases"] = phases
        res["client_s"] = sum(p["client_s"] for p in phases)
        res["hash_s"] = sum(p["hash_s"] for p in phases)
        res["sign_s"] = sum(p["sign_s"] for p in phases)
        res["token_s"] = sum(p["token_s"] for p in phases)
        res["token_wait_s"] = sum(p["token_wait_s"] for p in phases)
        res["token_ms"] = statistics.median(token_s) * 1e3 if token_s else None
        res["node_s"] = sum(p["node_s"] for p in phases)
        res["total_s"] = res["client_s"] + res["node_s"]
        res["entries_per_s"] = entries / res["total_s"]
        res["tx_per_s"] = txs / res["total_s"]
        res["node_entries_per_s"] = entries / res["node_s"]
        res["client_us_per_entry"] = res["client_s"] / entries * 1e6
        res["tx_gas_limit"] = anchorer.gas
        res["before"] = before
        res["vmhwm_kib"] = sampler.hwm_kib()[0]
        res["rss_end_kib"] = phases[-1]["rss_kib"]

        # ---- checks: every anchoring succeeded ------------------------------------------
        grew = _entry_count(rpc) - count_before
        if grew != txs:
            raise RuntimeError(f"EvidenceRegistry.entry_count grew by {grew}, expected {txs}")
        middle = txs // 2
        sample_txs = sorted({0, middle, txs - 1})
        tx_receipts = {j: rpc.call("eth_getTransactionReceipt", [all_hashes[j]]) for j in sample_txs}
        for j, r in tx_receipts.items():
            if not r or int(r["status"], 16) != 1:
                raise RuntimeError(f"anchoring transaction {j} failed: {r}")
        res["gas_used_per_tx"] = int(tx_receipts[middle]["gasUsed"], 16)
        rpc.close()

        # ---- receipts of the middle transaction's batch, with the SDK's code ----------------
        ledger = Ledger(node.url, bytes.fromhex(key.removeprefix("0x")))
        result = TxResult(
            tx_hash=bytes.fromhex(all_hashes[middle][2:]), block_number=int(tx_receipts[middle]["blockNumber"], 16),
            gas_used=res["gas_used_per_tx"], events={},
        )
        t0 = time.perf_counter()
        receipts = receipts_for(ledger, result, list(batches[middle]), batched=batch_size > 1, kind=ANCHOR_KIND,
                                case=ANCHOR_CASE, algorithm=ANCHOR_ALGORITHM, metadata_digest=ANCHOR_METADATA_DIGEST,
                                timestamp_token=tokens[middle] if tokens else None)
        res["build_s"] = time.perf_counter() - t0
        if len(receipts) != batch_size:
            raise RuntimeError(f"receipts_for gave {len(receipts)} receipts for a batch of {batch_size}")
        picks = sorted({0, batch_size // 2, batch_size - 1})
        documents = [receipts[i].to_json() for i in picks]
        del receipts
        res["receipt_block_txs"] = len(ledger.rpc("eth_getBlockByNumber", [hex(result.block_number), False])["transactions"])
        sampler.stop()
    except BaseException:
        print(f"---- node log (run {run}, B={batch_size}, tail) ----\n{node.log_tail()}", file=sys.stderr)
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        code = node.stop()
        if code not in (0, None, -15):
            print(f"warning: node (run {run}, B={batch_size}) exited with {code}", file=sys.stderr)
    res["disk_stopped_bytes"] = dir_bytes(node.data_dir)

    # ---- offline: parse and verify the sampled receipts (the node is stopped) ----------------
    genesis = GenesisTrust.from_document(json.loads((node.data_dir / "genesis.json").read_text()))
    verify = functools.partial(verify_receipt, genesis=genesis, tsa_roots=[tsa.root] if tsa is not None else ())
    parsed = []
    parse_times = []
    for i, doc in zip(picks, documents):
        t0 = time.perf_counter()
        receipt = Receipt.parse_text(doc)
        parse_times.append(time.perf_counter() - t0)
        verified = verify(receipt, content_digest=batches[middle][i])  # raises if it does not verify
        if verified.block_number != result.block_number or not verified.signers:
            raise RuntimeError(f"receipt of entry {i} verified for block {verified.block_number}, signers {verified.signers}")
        if verified.trusted_time_status != ("verified" if tsa is not None else "none"):
            raise RuntimeError(f"receipt of entry {i}: trusted time {verified.trusted_time_status}")
        parsed.append((receipt, batches[middle][i], verified))
    verify_times = []
    for k in range(args.verifications):
        receipt, digest, _ = parsed[k % len(parsed)]
        t0 = time.perf_counter()
        verify(receipt, content_digest=digest)
        verify_times.append(time.perf_counter() - t0)
    receipt, digest, verified = parsed[len(parsed) // 2]
    certificate_times = time_certificates(receipt, verified, digest, args.certificates, args.issuer)
    res["certificate_s"] = statistics.median(certificate_times) if certificate_times else None
    res["receipts_verified"] = len(parsed) + args.verifications
    res["verify_ms"] = statistics.median(verify_times) * 1e3 if verify_times else float("nan")
    res["parse_ms"] = statistics.median(parse_times) * 1e3
    res["receipt"] = receipt_sizes(documents)
    if args.receipts_out:
        out = Path(args.receipts_out)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node.data_dir / "genesis.json", out / f"run{run}-b{batch_size}-genesis.json")
        for i, doc in zip(picks, documents):
            (out / f"run{run}-b{batch_size}-entry{i}.json").write_text(doc)
    if not args.keep_data:
        shutil.rmtree(root, ignore_errors=True)
    return res


def receipt_sizes(documents: Sequence[str]) -> dict[str, Any]:
    """Bytes of each sampled receipt's JSON and of its parts (the median sample's)."""
    sizes = [len(d.encode()) for d in documents]
    median_doc = json.loads(sorted(documents, key=len)[len(documents) // 2])
    proof = median_doc["proof"]
    batch = median_doc["batch"]

    def size(value: Any) -> int:
        return len(json.dumps(value, indent=2).encode())

    return {
        "bytes": statistics.median(sizes),
        "bytes_min": min(sizes),
        "bytes_max": max(sizes),
        "merkle_bytes": size(batch) if batch is not None else 0,
        "path_hashes": len(batch["inclusionPath"]) if batch is not None else 0,
        "parts": {
            "batch (Merkle path)": size(batch) if batch is not None else 0,
            "header": size(proof["header"]),
            "transaction + trie proof": size(proof["transaction"]) + size(proof["transactionProof"]),
            "receipt + trie proof": size(proof["receipt"]) + size(proof["receiptProof"]),
            "validator history": size(proof["validatorHistory"]),
            "validator history headers": len(proof["validatorHistory"]),
        },
    }


# --------------------------------------------------------------------------
# the command (figures and the report: bench/scaling_report.py)
# --------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="entries per transaction (default 1 100 10000 100000)")
    p.add_argument("--txs-per-size", type=int, nargs="+", default=None, help="transactions per batch size (default 2000 200 20 10)")
    cli.add_runs(p, 3, "runs, each over every batch size with fresh nodes")
    cli.add_idle_wait(p, 5.0, before="each batch size")
    p.add_argument("--verifications", type=int, default=200, help="timed verify_receipt calls per batch size and run (default 200)")
    p.add_argument("--tsa", type=int, nargs="+", default=[], metavar="B",
                   help="batch sizes to anchor a second time with a TSA in the loop (`ledger tsa serve` on 127.0.0.1)")
    p.add_argument("--certificates", type=int, default=3,
                   help="evidence certificates made (and timed) per batch size and run (default 3; 0: none)")
    cli.add_quick(p, "B = 1, 10, 100 with 10, 10, 4 txs, 1 run, no idle wait, 20 verifications")
    cli.add_figures_out(p)
    cli.add_keep_data(p)
    p.add_argument("--receipts-out", help="write the sampled receipts and each node's genesis.json to this directory")
    cli.add_node_start(p)
    cli.add_timeout(p, 300.0, "each timed half")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_sizes = args.batch_sizes or list(QUICK_BATCH_SIZES)
        args.txs_per_size = args.txs_per_size or list(QUICK_TXS)
        args.runs, args.idle_wait, args.verifications, args.certificates = 1, 0.0, 20, 1
    args.batch_sizes = args.batch_sizes or list(DEFAULT_BATCH_SIZES)
    args.txs_per_size = args.txs_per_size or list(DEFAULT_TXS)
    if len(args.batch_sizes) != len(args.txs_per_size):
        p.error("--txs-per-size needs one count per batch size")
    if len(set(args.batch_sizes)) != len(args.batch_sizes):
        p.error("batch sizes must differ")
    if min(args.batch_sizes) < 1 or min(args.txs_per_size) < 1 or args.runs < 1 or args.verifications < 1:
        p.error("batch sizes, transaction counts, runs and verifications must be >= 1")
    if not set(args.tsa) <= set(args.batch_sizes):
        p.error("--tsa names batch sizes that --batch-sizes measures")
    if args.certificates < 0:
        p.error("--certificates must be >= 0")
    if max(args.batch_sizes) > MAX_BATCH:
        p.error(f"the SDK anchors at most {MAX_BATCH:,} entries per batch (client.anchoring.MAX_BATCH)")
    args.ledger = find_ledger(args.ledger)

    info = machine_info()
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="ledger-scaling-"))
    results: dict[int, list[dict[str, Any]]] = {b: [] for b in args.batch_sizes}
    tsa_results: dict[int, list[dict[str, Any]]] = {b: [] for b in args.tsa}
    args.issuer = issuer_identity()
    tsa: TsaProcess | None = None
    try:
        if args.tsa:
            tsa = TsaProcess.create(args.ledger, base / "tsa", args.ready_timeout)
        for run in range(1, args.runs + 1):
            for b, n in zip(args.batch_sizes, args.txs_per_size):
                for with_tsa in (False, True) if b in args.tsa else (False,):
                    r = run_size(args, run, b, n, base, tsa if with_tsa else None)
                    (tsa_results if with_tsa else results)[b].append(r)
                    tokens = (f", of which waiting for tokens {r['token_wait_s']:.2f} s (their latencies add up "
                              f"to {r['token_s']:.2f} s)") if with_tsa else ""
                    print(f"run {run} B={b:,}{' with TSA' if with_tsa else ''}: {r['entries_per_s']:,.0f} entries/s "
                          f"({r['tx_per_s']:.1f} tx/s; client {r['client_s']:.2f} s{tokens} + node {r['node_s']:.2f} s), "
                          f"receipt {r['receipt']['bytes']:,.0f} B, verify {r['verify_ms']:.2f} ms, build {r['build_s']:.3f} s",
                          file=sys.stderr, flush=True)
    finally:
        if tsa is not None:
            tsa.stop()
        if args.keep_data:
            print(f"node data dirs and logs kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    elapsed = time.perf_counter() - started
    figures = build_figures(results, tsa_results)
    print_report(results, figures, info, args, elapsed, tsa_results)
    write_figures(
        args.figures_out, "scaling", figures,
        config={"batch_sizes": args.batch_sizes, "txs_per_size": args.txs_per_size, "runs": args.runs,
                "idle_wait": args.idle_wait, "verifications": args.verifications, "quick": args.quick,
                "tsa": args.tsa, "certificates": args.certificates},
        receipts_verified=sum(r["receipts_verified"] for runs in results.values() for r in runs),
        elapsed_s=round(elapsed, 1),
        runs_detail={str(b): runs for b, runs in results.items()},
        tsa_runs_detail={str(b): runs for b, runs in tsa_results.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
