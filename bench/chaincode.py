"""E-contract throughput of the dev node: one registration and two certificate signatures per contract.

(Over 600 lines: the set-up of a PKI-backed trading center, its two timed flows and their
report are one benchmark; what other benchmarks share is in ``bench/common``.)

The issue's figure: complete contracts per second end to end, PKI precompile included,
where a complete contract is three transactions on the genesis ``ContractRegistry``:

* ``register(project_code, doc_digest, 1, [tenderer, bidder], amount, metadata_digest)``
  from a TRADING_CENTER member;
* ``sign(id, chain_der, signature)`` from the tenderer (P-256 leaf under a P-256
  intermediate and root: three certificates) and from the bidder (RSA-2048 leaf under an
  RSA root: two certificates). Each signature is over the contract's document digest;
  the identity registry has the precompile validate the chain and the signature. The
  second one makes the contract Effective.

``--parties sm2`` (national cryptography, issue 21) makes both parties SM2, with the same
chain shapes: the tenderer an SM2 leaf under an SM2 intermediate and root (three
certificates), the bidder an SM2 leaf under an SM2 root (two), every certificate signed
SM3withSM2 with GM/T 0009's identifier, each contract signature SM2 over
SM3(Z || digest); the documents are hashed with SM3 (``digest_algorithm`` 2), as a gm
trading center would. The dev chain's profile stays mixed; the precompile's work is the
same under gm.

What it does:

1. starts ``ledger node start --dev`` on a free loopback port (``bench.common.nodes.
   NodeProcess``) and reads the dev (ADMIN) account key;
2. set-up, not timed: the admin trusts the RSA and P-256 roots (quorum is 1 on the dev
   chain); a trading center, a tenderer and a bidder register with their certificates;
   the admin grants TRADING_CENTER to the center; one warm-up contract is registered and
   signed, and its gasUsed sets the gas limits of the timed transactions (x1.3; the timed
   part never calls ``eth_estimateGas``);
3. per run, two timed sections of N new contracts each (which goes first alternates
   from run to run, as the chain grows):

   * **end to end**: the clock starts before the client makes anything. It hashes each
     document, builds and signs the register transactions (eth-abi + eth-account) and
     sends them in JSON-RPC batches. Then it signs each document digest with the
     tenderer's and the bidder's certificate keys, builds and signs their ``sign``
     transactions and sends those. The clock stops when the block holding the last of
     the 3N transactions is seen;
   * **node only**: the same with every transaction made and signed before the clock
     starts: first submit to last transaction in a block;

   with ``--flow queued`` (default) all registrations go first, then all signatures, back
   to back: the pool picks ready transactions in arrival order, so a signature that lands
   in the same block as its registration runs after it. With ``--flow after-receipt`` a
   contract's two signatures are made and sent only once its registration is in a block,
   as parties who wait to see the contract would;
4. a thread follows new blocks (``eth_blockNumber`` every 25 ms, each block read once)
   and notes when each transaction's block is seen. A contract's latency runs from its
   register's submit to the block holding its last signature (when it became Effective);
5. checks every receipt (``eth_getBlockReceipts``, not timed): status 1 for all 3N, and N
   ``ContractEffective`` logs. A run with any failure is invalid and the command fails;
6. samples the node's RSS and CPU time (``bench.common.footprint``) and stops the
   node in ``finally``.

Everything stays on 127.0.0.1; every loop is bounded by a count and a deadline.

    .venv/bin/python -m bench.chaincode --contracts 300 --runs 3
    .venv/bin/python -m bench.chaincode --contracts 300 --runs 3 --parties sm2
    .venv/bin/python -m bench.chaincode --smoke            # 5 contracts, 1 run, < 30 s
    .venv/bin/python -m bench.chaincode --py-spy /tmp/chaincode.stacks   # profile the node
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, keccak, to_canonical_address

from bench.common import cli
from bench.common.contracts import selector
from bench.common.footprint import RssSampler, cpu_seconds, dir_bytes, process_tree, tree_rss_kib
from bench.common.load import BlockFollower, send_all
from bench.common.machine import machine_cpu, machine_info, machine_rows, wait_for_idle
from bench.common.nodes import dev_node
from bench.common.profiling import PySpy, profile_rows
from bench.common.results import figure, print_json_line, print_table, write_figures, write_json
from bench.common.rpc import Rpc, wait_receipt
from bench.common.signing import tx_hash
from bench.common.stats import percentile
from chaincode import CONTRACT_REGISTRY, DIGEST_ALGORITHMS, ROLE_BITS, load_artifact
from client import devpki
from client.credentials import CertificateIdentity
from client.ledger import Ledger, LedgerError
from evidence.sm2 import sm3
from tests import pki

# Gas limit of a timed transaction: this times the gasUsed of the same kind in set-up.
GAS_MARGIN = 1.3
# Gas limit of the set-up (warm-up) transactions, far above what they use.
WARM_UP_GAS = 3_000_000
# ContractRegistry.vy's digest_algorithm values.
SHA256, SM3 = DIGEST_ALGORITHMS["sha256"], DIGEST_ALGORITHMS["sm3"]
DOCUMENT_BYTES = 4096  # size of each synthetic contract document the client hashes
# The node's RSS is sampled this often (as bench/throughput.py does).
RSS_SAMPLE_SECONDS = 0.05
# The warm-up contract's three receipts must all come within this (three blocks or so).
SETUP_RECEIPT_SECONDS = 60.0
KINDS = ("register", "sign_tenderer", "sign_bidder")


@dataclass(frozen=True)
class PartySet:
    """Who signs: the keys of the tenderer (3-certificate chain) and the bidder (2), and
    how the documents are hashed."""

    tenderer: str
    bidder: str
    digest_algorithm: int
    description: str


PARTY_SETS = {
    "mix": PartySet("P-256", "RSA-2048", SHA256,
                    "register + sign (P-256, 3-cert chain) + sign (RSA-2048, 2-cert chain) per contract; SHA-256 documents"),
    "sm2": PartySet("SM2", "SM2", SM3,
                    "register + sign (SM2, 3-cert SM2 chain) + sign (SM2, 2-cert SM2 chain) per contract; SM3 documents"),
}


# --------------------------------------------------------------------------
# accounts and transactions
# --------------------------------------------------------------------------
def actor_key(name: str) -> str:
    """A fixed benchmark account key (keccak of its name; never use it for anything real)."""
    return "0x" + keccak(f"evidence-ledger bench chaincode {name}".encode()).hex()


@dataclass(frozen=True)
class Actor:
    name: str
    account: LocalAccount
    identity: CertificateIdentity

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass(frozen=True)
class Workload:
    """What the timed sections need: chain parameters, the three actors and gas limits."""

    url: str
    chain_id: int
    gas_price: int
    block_gas_limit: int
    center: Actor
    tenderer: Actor
    bidder: Actor
    parties: PartySet
    register_gas: int
    sign_gas: int
    warm_up_gas_used: dict[str, int]
    effective_topic: str


REGISTER_SELECTOR = selector("register(string,bytes32,uint8,address[],uint256,bytes32)")
SIGN_SELECTOR = selector("sign(bytes32,bytes,bytes)")


def event_topic(abi: list[dict[str, Any]], name: str) -> str:
    event = next(e for e in abi if e.get("type") == "event" and e["name"] == name)
    return "0x" + bytes(event_abi_to_log_topic(event)).hex()  # type: ignore[arg-type]


def contract_id(project_code: str, version: int = 1) -> bytes:
    """ContractRegistry.contract_id: keccak256(abi.encode(keccak256(code), version))."""
    return bytes(keccak(keccak(text=project_code) + version.to_bytes(32, "big")))


@dataclass(frozen=True)
class Document:
    project_code: str
    digest: bytes
    id: bytes


def make_document(tag: str, index: int, algorithm: int = SHA256) -> Document:
    """A synthetic contract document (DOCUMENT_BYTES), hashed as the client would."""
    project_code = f"BENCH-{tag}-{index:05d}"
    text = f"Contract {project_code}: works, price and schedule as tendered.\n".encode()
    body = (text * (DOCUMENT_BYTES // len(text) + 1))[:DOCUMENT_BYTES]
    digest = sm3(body) if algorithm == SM3 else hashlib.sha256(body).digest()
    return Document(project_code, digest, contract_id(project_code))


def _sign_tx(account: LocalAccount, *, nonce: int, gas: int, data: bytes, w: Workload) -> bytes:
    tx: dict[str, Any] = {
        "nonce": nonce, "gas": gas, "gasPrice": w.gas_price, "to": "0x" + CONTRACT_REGISTRY.hex(),
        "value": 0, "data": data, "chainId": w.chain_id,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


def register_tx(w: Workload, doc: Document, nonce: int, amount: int) -> bytes:
    """The center's signed ``register`` transaction for `doc` (parties: tenderer, bidder)."""
    data = REGISTER_SELECTOR + encode(
        ["string", "bytes32", "uint8", "address[]", "uint256", "bytes32"],
        [doc.project_code, doc.digest, w.parties.digest_algorithm, [w.tenderer.address, w.bidder.address], amount,
         b"\x00" * 32],
    )
    return _sign_tx(w.center.account, nonce=nonce, gas=w.register_gas, data=data, w=w)


def sign_tx(w: Workload, party: Actor, doc: Document, nonce: int) -> bytes:
    """`party` signs `doc`'s digest with its certificate key; its signed ``sign`` transaction."""
    signature = party.identity.sign_digest(doc.digest)
    data = SIGN_SELECTOR + encode(["bytes32", "bytes", "bytes"], [doc.id, party.identity.chain_der, signature])
    return _sign_tx(party.account, nonce=nonce, gas=w.sign_gas, data=data, w=w)


# --------------------------------------------------------------------------
# set-up (not timed)
# --------------------------------------------------------------------------
def sm2_root_ca() -> pki.CA:
    """An SM2 root that issues leaves itself: the SM2 bidder's two-certificate chain."""
    key = devpki.generate_key("sm2")
    root = devpki.make_root("Bench National CA (SM2)", key, not_before=pki.NOT_BEFORE, not_after=pki.NOT_AFTER)
    return pki.CA("sm2-root", root, key, root, key, (root,))


def party_identities(parties: str) -> tuple[list[pki.CA], dict[str, CertificateIdentity]]:
    """The roots to trust and the three actors' certificates: the tenderer's chain has
    three certificates, the bidder's two (tests/pki.py's CAs, fixed validity)."""
    if parties == "sm2":
        three, two = pki.sm2_ca(), sm2_root_ca()
        return [three, two], {
            "center": three.issue("Bench City Trading Center", "sm2"),
            "tenderer": three.issue("Bench Tenderer Construction Group", "sm2"),
            "bidder": two.issue("Bench Winning Bidder Engineering", "sm2"),
        }
    rsa, p256 = pki.rsa_ca(), pki.p256_ca()
    return [rsa, p256], {
        "center": p256.issue("Bench City Trading Center", "p256"),
        "tenderer": p256.issue("Bench Tenderer Construction Group", "p256"),
        "bidder": rsa.issue("Bench Winning Bidder Engineering", "rsa2048"),
    }


def set_up(url: str, admin_key: str, parties: str = "mix") -> Workload:
    """Trust two CA roots, register the three actors, grant TRADING_CENTER, and measure
    the gas of one contract's three transactions. Three blocks' worth of waiting."""
    roots, identities = party_identities(parties)
    ledgers = {name: Ledger(url, bytes.fromhex(actor_key(name)[2:])) for name in identities}
    admin = Ledger(url, bytes.fromhex(admin_key.removeprefix("0x")))

    # 1. the admin trusts both roots (the dev chain's quorum is one admin)
    trust = [admin.identity.functions.propose_trust_root(ca.root_der, "0x" + "00" * 20) for ca in roots]
    for fn, h in [(fn, admin.send(fn)) for fn in trust]:
        if "RootTrusted" not in admin.wait(h, fn).events:
            raise LedgerError("set-up: a root proposal did not execute (is the dev admin the only admin?)")

    # 2. the three register with their certificates; the center becomes TRADING_CENTER
    sent = []
    for name, ledger in ledgers.items():
        digest = ledger.call(ledger.identity.functions.registration_digest(ledger.address))
        fn = ledger.identity.functions.register(identities[name].chain_der, identities[name].sign_digest(bytes(digest)))
        sent.append((ledger, fn, ledger.send(fn)))
    center_address = to_canonical_address(ledgers["center"].address)
    fn = admin.identity.functions.propose(3, center_address.rjust(32, b"\x00"), ROLE_BITS["TRADING_CENTER"])
    sent.append((admin, fn, admin.send(fn)))
    for ledger, fn, h in sent:
        ledger.wait(h, fn)

    rpc = Rpc(url)
    chain_id = int(rpc.call("eth_chainId"), 16)
    gas_price = int(rpc.call("eth_gasPrice"), 16)
    block_gas_limit = int(rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"], 16)
    actors = {
        name: Actor(name, ledger.account, identities[name])  # type: ignore[arg-type]
        for name, ledger in ledgers.items()
    }
    abi = load_artifact("ContractRegistry").abi
    party_set = PARTY_SETS[parties]
    provisional = Workload(
        url, chain_id, gas_price, block_gas_limit, actors["center"], actors["tenderer"], actors["bidder"],
        party_set, WARM_UP_GAS, WARM_UP_GAS, {}, event_topic(abi, "ContractEffective"),
    )

    # 3. one warm-up contract, all three in one block (arrival order), to measure gasUsed
    doc = make_document(f"warmup-{int(time.time())}", 0, party_set.digest_algorithm)
    try:
        raws = {
            "register": register_tx(provisional, doc, rpc.pending_nonce(actors["center"].address), 1),
            "sign_tenderer": sign_tx(provisional, actors["tenderer"], doc, rpc.pending_nonce(actors["tenderer"].address)),
            "sign_bidder": sign_tx(provisional, actors["bidder"], doc, rpc.pending_nonce(actors["bidder"].address)),
        }
        hashes = {kind: rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()]) for kind, raw in raws.items()}
        gas_used: dict[str, int] = {}
        deadline = time.monotonic() + SETUP_RECEIPT_SECONDS
        for kind, h in hashes.items():
            receipt = wait_receipt(rpc, h, deadline)
            if int(receipt["status"], 16) != 1:
                raise RuntimeError(f"set-up: the warm-up {kind} failed: {receipt}")
            gas_used[kind] = int(receipt["gasUsed"], 16)
        effective = [log for log in receipt["logs"] if log["topics"][0] == provisional.effective_topic]
        if not effective:
            raise RuntimeError("set-up: the warm-up contract did not become Effective")
    finally:
        rpc.close()
    return Workload(
        url, chain_id, gas_price, block_gas_limit, actors["center"], actors["tenderer"], actors["bidder"], party_set,
        register_gas=int(gas_used["register"] * GAS_MARGIN),
        sign_gas=int(max(gas_used["sign_tenderer"], gas_used["sign_bidder"]) * GAS_MARGIN),
        warm_up_gas_used=gas_used, effective_topic=provisional.effective_topic,
    )


# --------------------------------------------------------------------------
# one timed run
# --------------------------------------------------------------------------
@dataclass
class RunPlan:
    """N contracts and, for the node-only mode, their transactions made in advance."""

    docs: list[Document]
    nonces: dict[str, int]
    raws: dict[str, list[bytes]] = field(default_factory=dict)  # kind -> raw per contract

    def nonce(self, kind: str, index: int) -> int:
        return self.nonces[kind] + index


def plan_run(rpc: Rpc, w: Workload, tag: str, n: int) -> RunPlan:
    return RunPlan(
        docs=[make_document(tag, i, w.parties.digest_algorithm) for i in range(n)],
        nonces={
            "register": rpc.pending_nonce(w.center.address),
            "sign_tenderer": rpc.pending_nonce(w.tenderer.address),
            "sign_bidder": rpc.pending_nonce(w.bidder.address),
        },
    )


def presign(w: Workload, plan: RunPlan) -> None:
    plan.raws = {
        "register": [register_tx(w, d, plan.nonce("register", i), i + 1) for i, d in enumerate(plan.docs)],
        "sign_tenderer": [sign_tx(w, w.tenderer, d, plan.nonce("sign_tenderer", i)) for i, d in enumerate(plan.docs)],
        "sign_bidder": [sign_tx(w, w.bidder, d, plan.nonce("sign_bidder", i)) for i, d in enumerate(plan.docs)],
    }


def run_once(
    rpc: Rpc, w: Workload, *, n: int, tag: str, mode: str, flow: str, batch_size: int, timeout: float,
    pid: int | None, idle_wait: float, py_spy: tuple[str, Path] | None, data_dir: Path | None = None,
) -> dict[str, Any]:
    """One timed section of `n` contracts; raises if any transaction failed."""
    plan = plan_run(rpc, w, tag, n)
    presign_s = None
    if mode == "node-only":
        t = time.perf_counter()
        presign(w, plan)
        presign_s = time.perf_counter() - t

    def raw(kind: str, i: int) -> bytes:
        if plan.raws:
            return plan.raws[kind][i]
        doc = plan.docs[i]
        if kind == "register":
            # the client hashes the document inside the timed section too
            doc = make_document(tag, i, w.parties.digest_algorithm)
            return register_tx(w, doc, plan.nonce(kind, i), i + 1)
        party = w.tenderer if kind == "sign_tenderer" else w.bidder
        return sign_tx(w, party, doc, plan.nonce(kind, i))

    hashes: dict[str, list[str]] = {k: [""] * n for k in KINDS}
    submitted = [0.0] * n
    build_s = 0.0

    def send(items: list[tuple[str, int]]) -> None:
        """Make (unless made in advance) and send one batch; notes each register's submit time."""
        nonlocal build_s
        t = time.perf_counter()
        raws = [raw(kind, i) for kind, i in items]
        build_s += time.perf_counter() - t
        hexes = ["0x" + r.hex() for r in raws]
        hs = [tx_hash(r) for r in raws]
        now = time.perf_counter()
        for (kind, i), h in zip(items, hs):
            hashes[kind][i] = h
            if kind == "register":
                submitted[i] = now
        send_all(rpc, hexes, hs, len(hexes), deadline)

    start_block = int(rpc.call("eth_blockNumber"), 16)
    idle = wait_for_idle(idle_wait)
    pids = process_tree(pid) if pid else []
    cpu0, own0, (busy0, _) = cpu_seconds(pids), time.process_time(), machine_cpu()
    deadline = time.monotonic() + timeout
    follower = BlockFollower(Rpc(w.url), after=start_block, deadline=deadline)
    follower.start()
    profiler = PySpy(py_spy[0], pid, py_spy[1]) if (py_spy and pid) else None
    try:
        # ---- timed section ------------------------------------------------------------
        t0 = time.perf_counter()
        for start in range(0, n, batch_size):
            send([("register", i) for i in range(start, min(n, start + batch_size))])
        t_registers_sent = time.perf_counter()
        per_batch = max(1, batch_size // 2)
        if flow == "queued":
            for start in range(0, n, per_batch):
                send([(k, i) for i in range(start, min(n, start + per_batch)) for k in ("sign_tenderer", "sign_bidder")])
        else:  # after-receipt: a contract's signatures once its registration is in a block
            waiting = list(range(n))
            while waiting:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(waiting)} registrations not in a block before the deadline")
                if follower.error is not None:
                    raise RuntimeError(f"block follower failed: {follower.error!r}") from follower.error
                included = follower.lookup([hashes["register"][i] for i in waiting])
                ready = [i for i, s in zip(waiting, included) if s is not None]
                if not ready:
                    time.sleep(0.005)
                    continue
                done = set(ready)
                waiting = [i for i in waiting if i not in done]
                for start in range(0, len(ready), per_batch):
                    send([(k, i) for i in ready[start : start + per_batch] for k in ("sign_tenderer", "sign_bidder")])
        t_sent = time.perf_counter()
        everything = [h for k in KINDS for h in hashes[k]]
        follower.wait_all(everything, deadline)
        # --------------------------------------------------------------------------------
    finally:
        if profiler:
            profiler.stop()
        follower.stop()
    cpu1, own1, (busy1, _) = cpu_seconds(pids), time.process_time(), machine_cpu()
    seen: dict[str, tuple[int, float]] = {}
    for h, s in zip(everything, follower.lookup(everything)):
        assert s is not None  # wait_all returned
        seen[h] = s
    t_done = max(t for _, t in seen.values())
    elapsed = t_done - t0

    ours = {b for b, _ in seen.values()}
    rss_before_verify = node_rss_mib(pid)
    verdict = verify(rpc, w, hashes, sorted(ours))
    rss_after_verify = node_rss_mib(pid)
    latencies = sorted(
        max(seen[hashes["sign_tenderer"][i]][1], seen[hashes["sign_bidder"][i]][1]) - submitted[i] for i in range(n)
    )
    node_cpu = cpu1 - cpu0 if pid else None
    return {
        "mode": mode,
        "flow": flow,
        "n_contracts": n,
        "n_txs": 3 * n,
        "elapsed_s": elapsed,
        "contracts_per_s": n / elapsed,
        "tx_per_s": 3 * n / elapsed,
        "registers_sent_s": t_registers_sent - t0,
        "all_sent_s": t_sent - t0,
        "client_build_s": build_s,  # making and signing transactions inside the timed section
        "presign_s": presign_s,  # the same, before the clock (node-only mode)
        "latency_p50_s": percentile(latencies, 50),
        "latency_p99_s": percentile(latencies, 99),
        "latency_max_s": latencies[-1],
        # (block, transactions, s from the first submit until the follower saw it)
        "blocks": [(b.number, b.txs, round(b.seen - t0, 3)) for b in follower.blocks if b.number in ours],
        "node_cpu_s": node_cpu,
        "node_cpu_pct": 100 * node_cpu / elapsed if node_cpu is not None else None,
        "loadgen_cpu_s": own1 - own0,
        "machine_busy_cores": (busy1 - busy0) / elapsed,
        "idle_wait": idle,
        "node_rss_mib_after_run": rss_before_verify,
        "node_rss_mib_after_reading_receipts": rss_after_verify,
        "chain_data_mib": round(dir_bytes(data_dir) / 2**20, 1) if data_dir else None,
        **verdict,
    }


def node_rss_mib(pid: int | None) -> float | None:
    """VmRSS of the node and its children now."""
    return round(tree_rss_kib(pid) / 1024, 1) if pid else None


def verify(rpc: Rpc, w: Workload, hashes: dict[str, list[str]], blocks: list[int]) -> dict[str, Any]:
    """Every receipt of the run, from its blocks: status 1 everywhere, N ContractEffective logs.

    Raises if any transaction failed or is missing: such a run is not a measurement."""
    receipts: dict[str, dict[str, Any]] = {}
    for b in blocks:
        for r in rpc.call("eth_getBlockReceipts", [hex(b)]) or []:
            receipts[r["transactionHash"].lower()] = r
    failed: dict[str, int] = {}
    missing = 0
    gas: dict[str, list[int]] = {k: [] for k in KINDS}
    effective = 0
    for kind in KINDS:
        for h in hashes[kind]:
            r = receipts.get(h)
            if r is None:
                missing += 1
                continue
            if int(r["status"], 16) != 1:
                failed[kind] = failed.get(kind, 0) + 1
            gas[kind].append(int(r["gasUsed"], 16))
            effective += sum(1 for log in r["logs"] if log["topics"] and log["topics"][0] == w.effective_topic)
    n = len(hashes["register"])
    if failed or missing or effective != n:
        raise RuntimeError(
            f"invalid run: failed receipts {failed or 'none'}, missing receipts {missing}, "
            f"ContractEffective logs {effective} of {n}"
        )
    return {
        "failed": 0,
        "effective_logs": effective,
        "gas_used": {k: {"median": int(statistics.median(v)), "min": min(v), "max": max(v)} for k, v in gas.items()},
    }


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------
def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def stat(key: str) -> dict[str, float]:
        xs = [r[key] for r in runs]
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": [round(x, 2) for x in xs]}

    return {
        "contracts_per_s": stat("contracts_per_s"),
        "tx_per_s": stat("tx_per_s"),
        "latency_p50_s": stat("latency_p50_s"),
        "latency_p99_s": stat("latency_p99_s"),
        "node_cpu_pct": stat("node_cpu_pct") if all(r["node_cpu_pct"] is not None for r in runs) else None,
    }


def _fmt(s: dict[str, Any], digits: int = 1) -> str:
    runs = ", ".join(f"{x:.{digits}f}" for x in s["runs"])
    return f"{s['median']:.{digits}f} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f}; runs {runs})"


def report_rows(info: dict[str, Any], args: argparse.Namespace, w: Workload, target: str,
                runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any], mem: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = machine_rows(info) + [
        ("target", target),
        ("workload", w.parties.description),
        ("contracts per run / runs", f"{args.contracts} / {args.runs}"),
        ("flow", {"queued": "all registrations, then all signatures", "after-receipt": "signatures once the registration is in a block"}[args.flow]),
        ("JSON-RPC batch size", f"{args.batch_size} registrations or {max(1, args.batch_size // 2)} contracts' signatures"),
        ("gas limit register / sign", f"{w.register_gas} / {w.sign_gas} (1.3 x warm-up gasUsed)"),
        ("block gas limit", w.block_gas_limit),
    ]
    some = next(iter(r for rs in runs.values() for r in rs))
    g = some["gas_used"]
    rows.append((f"gas used register / sign {w.parties.tenderer} 3-cert / sign {w.parties.bidder} 2-cert (median)",
                 f"{g['register']['median']} / {g['sign_tenderer']['median']} / {g['sign_bidder']['median']}"))
    for mode, label in (("end-to-end", "end to end (client signing timed)"), ("node-only", "node only (pre-signed)")):
        if mode not in summary:
            continue
        s = summary[mode]
        rows += [
            (f"{label}: contracts/s", _fmt(s["contracts_per_s"])),
            (f"{label}: tx/s", _fmt(s["tx_per_s"])),
            (f"{label}: register submit -> Effective p50", _fmt(s["latency_p50_s"], 2) + " s"),
            (f"{label}: register submit -> Effective p99", _fmt(s["latency_p99_s"], 2) + " s"),
        ]
        if s["node_cpu_pct"]:
            rows.append((f"{label}: node CPU, % of one core", _fmt(s["node_cpu_pct"], 0)))
        rs = runs[mode]
        rows.append((f"{label}: client making/signing txs in timed part", ", ".join(f"{r['client_build_s']:.2f} s" for r in rs)))
        rows.append((f"{label}: blocks, run 1: txs (seen at s)", ", ".join(f"{c} ({t:.1f})" for _, c, t in rs[0]["blocks"])))
        rows.append((f"{label}: idle before timed part", ", ".join(
            "n/a" if r["idle_wait"]["idle"] is None else ("yes" if r["idle_wait"]["idle"] else "NO") for r in rs)))
        rows.append((f"{label}: machine busy cores", ", ".join(f"{r['machine_busy_cores']:.2f}" for r in rs)))
        rows.append((f"{label}: node CPU per contract", ", ".join(
            f"{1000 * r['node_cpu_s'] / r['n_contracts']:.0f} ms" for r in rs if r["node_cpu_s"] is not None)))
        rows.append((f"{label}: chain data dir after run", ", ".join(f"{r['chain_data_mib']} MiB" for r in rs)))
        rows.append((f"{label}: node RSS after run / after reading its receipts", ", ".join(
            f"{r['node_rss_mib_after_run']} / {r['node_rss_mib_after_reading_receipts']} MiB" for r in rs)))
    if mem:
        rows.append(("node peak RSS (VmHWM / sampled)", f"{mem['vmhwm_mib']} MiB / {mem['peak_sampled_rss_mib']} MiB"))
        rows.append(("node RSS at end", f"{mem['end_rss_mib']} MiB"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--contracts", type=int, default=300, help="contracts per timed section (3 transactions each; default 300)")
    cli.add_runs(p, 3, "runs; each has an end-to-end and a node-only section")
    p.add_argument("--mode", choices=("both", "end-to-end", "node-only"), default="both")
    p.add_argument("--flow", choices=("queued", "after-receipt"), default="queued",
                   help="queued: all registrations then all signatures; after-receipt: a contract's signatures once its registration is in a block")
    p.add_argument("--parties", choices=sorted(PARTY_SETS), default="mix",
                   help="mix: P-256 and RSA-2048 parties (default); sm2: both parties SM2 (issue 21)")
    p.add_argument("--batch-size", type=int, default=100, help="transactions per JSON-RPC batch (default 100)")
    cli.add_idle_wait(p, 30.0)
    cli.add_quick(p, "5 contracts, 1 run, no idle wait (< 30 s)", flag="--smoke")
    cli.add_timeout(p, 300.0, "each timed section")
    cli.add_node_start(p, node_args=True)
    cli.add_py_spy(p, "during one node-only section (see --py-spy-run)")
    p.add_argument("--py-spy-run", type=int, default=1, help="the run whose node-only section --py-spy profiles (default 1)")
    cli.add_json_out(p)
    cli.add_figures_out(p)
    cli.add_keep_data(p)
    args = p.parse_args(argv)
    if args.smoke:
        args.contracts, args.runs, args.idle_wait = 5, 1, 0.0
    cli.require_positive(p, args, "contracts", "runs")
    if args.batch_size < 2:
        p.error("--batch-size must be >= 2")
    modes = ("end-to-end", "node-only") if args.mode == "both" else (args.mode,)

    info = machine_info()
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    t_start = time.monotonic()
    with dev_node(args.ledger, prefix="ledger-bench-chaincode-", ready_timeout=args.ready_timeout,
                  extra_args=args.node_arg, keep_data=args.keep_data) as node:
        pid = node.pid
        sampler = RssSampler([pid], RSS_SAMPLE_SECONDS)
        sampler.start()
        rpc: Rpc | None = None
        try:
            _, admin_key = node.dev_key()
            t = time.monotonic()
            w = set_up(node.url, admin_key, args.parties)
            setup_s = time.monotonic() - t
            rpc = Rpc(node.url)
            for r in range(args.runs):
                # alternate which mode goes first: the chain (and its storage trie) grows run by run
                for mode in modes if r % 2 == 0 else modes[::-1]:
                    profiled = args.py_spy and r + 1 == args.py_spy_run and mode == modes[-1]
                    spy = (args.py_spy_bin, Path(args.py_spy)) if profiled else None
                    res = run_once(
                        rpc, w, n=args.contracts, tag=f"r{r}-{mode}-{int(time.time())}", mode=mode, flow=args.flow,
                        batch_size=args.batch_size, timeout=args.timeout, pid=pid, idle_wait=args.idle_wait, py_spy=spy,
                        data_dir=node.data_dir,
                    )
                    runs[mode].append(res)
                    print(f"run {r + 1} {mode}: {res['contracts_per_s']:.1f} contracts/s, {res['tx_per_s']:.1f} tx/s, "
                          f"{res['elapsed_s']:.2f} s, p50 {res['latency_p50_s']:.2f} s, p99 {res['latency_p99_s']:.2f} s",
                          file=sys.stderr, flush=True)
        finally:
            if rpc is not None:
                rpc.close()
            sampler.stop()
        mem = {
            "vmhwm_mib": round(sampler.hwm_kib()[0] / 1024, 1),
            "peak_sampled_rss_mib": round(sampler.peak_kib()[0] / 1024, 1),
            "end_rss_mib": node_rss_mib(pid),
        }
        target = f"ledger node start --dev --data-dir <tmp> --rpc-host 127.0.0.1 --rpc-port {node.port} (pid {pid}); {node.block_period()}"

    summary = {mode: summarise(rs) for mode, rs in runs.items()}
    print_table("ledger e-contract throughput (register + 2 certificate signatures per contract)",
                report_rows(info, args, w, target, runs, summary, mem))
    if args.py_spy and Path(args.py_spy).exists():
        print_table(
            f"node profile (py-spy, {args.py_spy}, run {args.py_spy_run} {modes[-1]}): inclusive % / self % of active samples",
            profile_rows(Path(args.py_spy), 30),
        )
    headline = summary[modes[0]]["contracts_per_s"]["median"]
    met = {"contracts_per_s_ge_100": {mode: s["contracts_per_s"]["median"] >= 100 for mode, s in summary.items()}}
    print_table("target: >= 100 complete contracts/s", [(m, "met" if ok else "NOT met") for m, ok in met["contracts_per_s_ge_100"].items()])
    result = {
        "machine": info,
        "command": " ".join([Path(sys.executable).name, "-m", "bench.chaincode", *(argv if argv is not None else sys.argv[1:])]),
        "config": {"contracts": args.contracts, "runs": args.runs, "flow": args.flow, "batch_size": args.batch_size,
                   "modes": list(modes), "idle_wait": args.idle_wait, "parties": args.parties},
        "setup_s": round(setup_s, 2),
        "total_s": round(time.monotonic() - t_start, 1),
        "gas": {"register_limit": w.register_gas, "sign_limit": w.sign_gas, "warm_up_gas_used": w.warm_up_gas_used},
        "summary": summary,
        "runs": runs,
        "memory": mem,
        "targets": met,
        "headline_contracts_per_s": headline,
    }
    if args.json_out:
        write_json(args.json_out, result)
    if args.figures_out:
        group = "e-contracts: register + 2 certificate signatures"
        note = f"{args.contracts} contracts (3 transactions each) per run, {args.flow} flow, one --dev node"
        # The default mix keeps its figure names (earlier runs compare with them); SM2 parties get their own.
        prefix = "chaincode" if args.parties == "mix" else f"chaincode.{args.parties}"
        if args.parties != "mix":
            group, note = f"{group} ({args.parties} parties)", f"{note}, {w.parties.description}"
        figures = []
        for mode, rs in runs.items():
            figures += [
                figure(f"{prefix}.{mode}.contracts_per_s", "contracts/s", [r["contracts_per_s"] for r in rs], group=group,
                       note=f"{mode}: {note}"),
                figure(f"{prefix}.{mode}.latency_p99_s", "s", [r["latency_p99_s"] for r in rs], better="lower", group=group,
                       note=f"{mode}: submit to final receipt, p99 of a run"),
            ]
        write_figures(args.figures_out, "chaincode", figures, config=result["config"], memory=mem)
    print_json_line("CHAINCODE_JSON", {k: v for k, v in result.items() if k != "runs"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
