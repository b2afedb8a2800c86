"""The chain as auditors walk it: blocks paged backwards, a block, a transaction with its
decoded events, the validators with their organisations, the members and the trusted CA
roots, and the node verifying its own chain in the background (node/verify/background.py).

Each handler is a row of node/rpc/rest/routes.py's table, which checks its permission
before it runs. What a caller sees of a transaction's events follows the feed's topic
rules (node/rpc/rest/feed.py TOPIC_PERMISSIONS) with the same principal: an event of a
topic the caller may not read is withheld and counted (`eventsWithheld`), a party sees
only the events of contracts it is a party to. No calldata is served: it carries what the
events do (a digest, a case reference), and a role's rules are about those.

**Organisations.** A validator's or member's organisation is the O of the subject of the
certificate its address registered in the identity registry: checked by the PKI
precompile against a root the consortium trusts when it was registered, the same on
every node, and part of the chain a court can verify. The cluster layout and genesis name
nodes only in files an operator writes, and a peer's TLS certificate reaches only the
nodes it is connected to; neither is on every node, so neither is used. An address that
registered no certificate shows as its address (`organisation: null`).

Costs: a block page reads one header, one body's length and one member record per
distinct proposer per block; a member page is one seek and `limit` records; the roots
are kept in memory (`RootRegister`), brought up to date from the identity feed's new
events on each request.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import rlp
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse

from chaincode import SYSTEM_CONTRACTS
from chaincode.events import checksum_address
from evidence.sm2 import SM2Error, SM2PublicKey
from node.access.http import Principal
from node.access.roles import CONTRACTS_READ
from node.api import MAX_PAGE
from node.errors import NotFound, StorageError
from node.rpc.rest.context import ApiError, admitted, as_refusals, node_of, own_contracts_only
from node.rpc.rest.feed import FEED_BATCH, TOPIC_PERMISSIONS
from node.rpc.rest.params import HEX20, HEX32, hex_bytes, pattern_of
from node.service import Node
from node.storage import schema
from node.storage.index_queries import Indexes
from node.storage.indexes import Cursor, feed_event
from node.verify.background import VerificationRunning, Verifications

# Blocks per page: each costs a header, a body's length and a proposer lookup; a
# console page shows 20, a script walking back asks for 100 at a time.
MAX_BLOCK_PAGE = 100
DEFAULT_BLOCK_PAGE = 20
# The largest block number a query takes: heights are 8 bytes in the store's keys.
MAX_HEIGHT = 2**63 - 1
# Trusted roots the register keeps (genesis's and those the identity registry trusted
# since): a consortium trusts a handful of CAs; a list past this is not one, and the
# register stops growing rather than hold what a flood of proposals would make it.
MAX_ROOTS = 1_000
# The identity registry's events that change the roots.
ROOT_EVENTS = frozenset({"RootProposed", "RootTrusted", "RootDistrusted"})
CONTRACT_NAMES = {address: name for name, address in SYSTEM_CONTRACTS.items()}
# What a curve is called where people read it (NIST names, as certificates are described).
CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

NUMBER = Path(description="the block's number (height)", ge=0, le=MAX_HEIGHT)
TX_HASH = Path(description="the transaction's hash (32 bytes hex)", json_schema_extra=pattern_of(HEX32))
BEFORE = Query(None, ge=0, le=MAX_HEIGHT, description="blocks below this number (default: from the head); "
                                                     "the previous page's `next`")
BLOCK_LIMIT = Query(DEFAULT_BLOCK_PAGE, ge=1, le=MAX_BLOCK_PAGE, description=f"blocks per page (at most "
                                                                                f"{MAX_BLOCK_PAGE})")
TX_AFTER = Query(None, ge=0, le=MAX_HEIGHT, description="transactions after this index in the block "
                                                       "(the previous page's `next`)")
TX_LIMIT = Query(MAX_PAGE, ge=1, le=MAX_PAGE, description=f"transactions per page (at most {MAX_PAGE})")
MEMBER_AFTER = Query(None, description="members after this address (the previous page's `next`)",
                     json_schema_extra=pattern_of(HEX20))
MEMBER_LIMIT = Query(100, ge=1, le=MAX_PAGE, description=f"members per page (at most {MAX_PAGE})")


# -- organisations -------------------------------------------------------------------------


@functools.lru_cache(maxsize=4_096)
def organisation_of(subject: str | None) -> str | None:
    """The O of an RFC 4514 subject (the registry's), or None (none, or a subject cut
    short by the registry's byte budget that no longer parses)."""
    if not subject:
        return None
    try:
        found = x509.Name.from_rfc4514_string(subject).get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    except ValueError:
        return None
    return str(found[0].value) if found else None


@dataclass
class Parties:
    """Addresses as the pages show them: with the organisation and subject of the
    certificate each registered, looked up once per request."""

    idx: Indexes
    seen: dict[bytes, dict[str, Any]] = field(default_factory=dict)

    def of(self, address: bytes) -> dict[str, Any]:
        found = self.seen.get(address)
        if found is None:
            try:
                subject = self.idx.member(address).get("subject")
            except NotFound:
                subject = None
            found = {"address": checksum_address(address), "organisation": organisation_of(subject),
                     "subject": subject}
            self.seen[address] = found
        return found


def contract_of(address: bytes | None) -> dict[str, Any] | None:
    """A transaction's recipient: its address, and its name when it is a system contract."""
    if not address:
        return None
    return {"address": checksum_address(address), "name": CONTRACT_NAMES.get(bytes(address))}


# -- blocks ------------------------------------------------------------------------------------


def _transaction_count(node: Node, block_hash: bytes) -> int:
    """How many transactions a stored block holds, without decoding them."""
    raw = node.store.get(schema.body_key(block_hash))
    if raw is None:
        raise NotFound(f"no body for block 0x{block_hash.hex()}")
    return len(rlp.decode_lazy(raw)[0])


def _block_summary(node: Node, parties: Parties, number: int) -> dict[str, Any]:
    header = node.chain.header_by_number(number)
    return {
        "number": number, "hash": "0x" + header.hash.hex(), "parentHash": "0x" + header.parent_hash.hex(),
        "time": header.timestamp, "proposer": parties.of(header.coinbase) if number else None,
        "transactions": _transaction_count(node, header.hash), "gasUsed": header.gas_used,
        "gasLimit": header.gas_limit,
    }


def blocks(request: Request, before: int | None = BEFORE, limit: int = BLOCK_LIMIT) -> dict[str, Any]:
    """Blocks newest first, from the head or below `before`; `next` is the `before` of the
    following page (null after block 0)."""
    node = node_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        head = node.chain.head.block_number
        top = head if before is None else min(before - 1, head)
        parties = Parties(idx)
        numbers = range(top, max(top - limit, -1), -1)
        items = [_block_summary(node, parties, n) for n in numbers]
    low = numbers[-1] if items else 0
    return {"items": items, "next": str(low) if items and low > 0 else None}


def _status(receipt: Any) -> str:
    return "success" if receipt.state_root == b"\x01" else "failed"


def block(request: Request, number: int = NUMBER, after: int | None = TX_AFTER,
          limit: int = TX_LIMIT) -> dict[str, Any]:
    """One block, and a page of its transactions (from, to, status, gas used)."""
    node = node_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        if number > node.chain.head.block_number:
            raise NotFound(f"no block at height {number} (the head is {node.chain.head.block_number})")
        parties = Parties(idx)
        summary = _block_summary(node, parties, number)
        header = node.chain.header_by_number(number)
        transactions, senders = node.chain.block_transactions(header)
        receipts = node.chain.block_receipts(header)
        first = 0 if after is None else after + 1
        rows = []
        for index in range(first, min(first + limit, len(transactions))):
            previous = receipts[index - 1].gas_used if index else 0
            rows.append({
                "hash": "0x" + transactions[index].hash.hex(), "index": index, "from": parties.of(senders[index]),
                "to": contract_of(transactions[index].to), "status": _status(receipts[index]),
                "gasUsed": receipts[index].gas_used - previous,
            })
    more = first + limit < len(transactions)
    return {**summary, "transactionCount": len(transactions), "stateRoot": "0x" + header.state_root.hex(),
            "transactions": {"items": rows, "next": str(rows[-1]["index"]) if rows and more else None}}


# -- transactions ------------------------------------------------------------------------------


def visible_events(idx: Indexes, who: Principal, events: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The events `who` may read, and how many it may not: by topic, as the feed decides
    (TOPIC_PERMISSIONS), and for a contracts:read-own party only its own contracts'."""
    kept, withheld = [], 0
    own: bytes | None = None
    own_checked = False
    for event in events:
        topic = event["topic"]
        if not any(who.may(p) for p in TOPIC_PERMISSIONS[topic]):
            withheld += 1
            continue
        if topic == "contracts" and not who.may(CONTRACTS_READ):
            if not own_checked:
                own, own_checked = own_contracts_only(who), True
            try:
                parties = idx.contract(bytes.fromhex(event["args"]["id"][2:]))["parties"]
            except NotFound:
                parties = []
            if own is None or "0x" + own.hex() not in {p.lower() for p in parties}:
                withheld += 1
                continue
        kept.append(event)
    return kept, withheld


def transaction(request: Request, tx_hash: str = TX_HASH) -> dict[str, Any]:
    """One transaction: block, from, to (the system contract's name), status, gas used and
    the system-contract events it emitted that the caller may read, decoded by
    chaincode/events.py (node/storage/indexes.py feed_event, what the indexes hold)."""
    node = node_of(request)
    who = admitted(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        key = hex_bytes(tx_hash, 32, "transaction hash")
        height, index = node.chain.transaction_location(key)
        header = node.chain.header_by_number(height)
        transactions, senders = node.chain.block_transactions(header)
        receipts = node.chain.block_receipts(header)
        tx, receipt = transactions[index], receipts[index]
        log_index = sum(len(r.logs) for r in receipts[:index])
        events = []
        for offset, log in enumerate(receipt.logs):
            event = feed_event(log.address, [t.to_bytes(32, "big") for t in log.topics], log.data, height=height,
                               log_index=log_index + offset, block_hash=header.hash, tx_hash=tx.hash,
                               tx_index=index, timestamp=header.timestamp)
            if event is not None:
                events.append(event)
        kept, withheld = visible_events(idx, who, events)
        parties = Parties(idx)
        previous = receipts[index - 1].gas_used if index else 0
        return {
            "hash": "0x" + tx.hash.hex(), "block": height, "blockHash": "0x" + header.hash.hex(), "index": index,
            "time": header.timestamp, "from": parties.of(senders[index]), "to": contract_of(tx.to),
            "nonce": tx.nonce, "status": _status(receipt), "gasUsed": receipt.gas_used - previous,
            "logs": len(receipt.logs), "events": kept, "eventsWithheld": withheld,
        }


# -- validators, members, roots ----------------------------------------------------------------


def validators(request: Request) -> dict[str, Any]:
    """The validators that seal the next block, each with its registered organisation."""
    node = node_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        parties = Parties(idx)
        head = node.chain.head
        return {"block": head.block_number, "items": [parties.of(v) for v in node.chain.validators_after(head)]}


def members(request: Request, after: str | None = MEMBER_AFTER, limit: int = MEMBER_LIMIT) -> dict[str, Any]:
    """Members in address order: roles, certificate subject and organisation, and the CA
    root (its subject) the certificate chains to. One seek, `limit` records."""
    node = node_of(request)
    register = roots_of(request)
    with as_refusals(), node.store.snapshot() as view:
        idx = Indexes(view)
        start = None if after is None else schema.MEMBER + hex_bytes(after, 20, "after")
        upper = schema.MEMBER[:-1] + bytes([schema.MEMBER[-1] + 1])
        rows = view.scan(schema.MEMBER, upper, after=start, limit=limit + 1)
        roots = {r["fingerprint"]: r["subject"] for r in register.listed(idx)}
    items = []
    for _, value in rows[:limit]:
        record = json.loads(value)
        record["organisation"] = organisation_of(record.get("subject"))
        record["ca"] = roots.get(record.get("rootFingerprint") or "")
        items.append(record)
    return {"items": items, "next": items[-1]["address"] if len(rows) > limit else None}


def _key_type(certificate: x509.Certificate) -> str:
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm:  # cryptography parses SM2 certificates but cannot build their keys
        try:
            SM2PublicKey.from_certificate(certificate)
        except SM2Error:
            return "unsupported key"
        return "SM2"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return type(key).__name__


def root_record(der: bytes, added: dict[str, Any]) -> dict[str, Any]:
    """A trusted root as the page shows it: from its certificate, and where it was added."""
    fingerprint = "0x" + hashlib.sha256(der).hexdigest()
    try:
        certificate = x509.load_der_x509_certificate(der)
        described: dict[str, Any] = {
            "subject": certificate.subject.rfc4514_string(), "keyType": _key_type(certificate),
            "notBefore": int(certificate.not_valid_before_utc.timestamp()),
            "notAfter": int(certificate.not_valid_after_utc.timestamp()),
        }
    except ValueError:  # the registry checked it when it was proposed; a stored one that fails is shown as such
        described = {"subject": None, "keyType": None, "notBefore": None, "notAfter": None}
    return {"fingerprint": fingerprint, **described, "trusted": True, "added": added, "removed": None}


class RootRegister:
    """The trusted CA roots: genesis's, then what the identity registry's RootProposed,
    RootTrusted and RootDistrusted events did, read from the identity feed forward from
    the last event seen (each request reads only the identity events since the previous
    one). Thread-safe: the REST handlers run on a pool."""

    def __init__(self, genesis_roots: Iterable[bytes], genesis_time: int) -> None:
        self._lock = threading.Lock()
        self._after: Cursor | None = None
        self._proposed: dict[str, bytes] = {}  # fingerprint -> the certificate proposed under it
        self._roots: dict[str, dict[str, Any]] = {}
        for der in genesis_roots:
            record = root_record(der, {"block": 0, "time": genesis_time, "transactionHash": None})
            self._roots[record["fingerprint"]] = record

    def listed(self, idx: Indexes) -> list[dict[str, Any]]:
        """Every root trusted so far (`trusted` false once distrusted), in the order added."""
        with self._lock:
            while True:
                entries = idx.feed_raw(["identity"], after=self._after, limit=FEED_BATCH)
                for entry in entries:
                    self._after = entry.cursor
                    if entry.name in ROOT_EVENTS:
                        self._apply(json.loads(entry.raw))
                if len(entries) < FEED_BATCH:
                    break
            return [dict(record) for record in self._roots.values()]

    def _apply(self, event: dict[str, Any]) -> None:
        args, name = event["args"], event["event"]
        fingerprint = args["fingerprint"].lower()
        when = {"block": event["block"], "time": event["timestamp"], "transactionHash": event["transactionHash"]}
        if name == "RootProposed":
            if len(self._proposed) < MAX_ROOTS:
                self._proposed[fingerprint] = bytes.fromhex(args["certificate"][2:])
        elif name == "RootTrusted":
            der = self._proposed.get(fingerprint)
            if der is not None and len(self._roots) < MAX_ROOTS:
                self._roots[fingerprint] = root_record(der, when)
        elif name == "RootDistrusted" and fingerprint in self._roots:
            self._roots[fingerprint] = {**self._roots[fingerprint], "trusted": False, "removed": when}


_REGISTER_LOCK = threading.Lock()


def roots_of(request: Request) -> RootRegister:
    """The app's root register, made on first use."""
    state = request.app.state
    with _REGISTER_LOCK:
        register = getattr(state, "chain_roots", None)
        if register is None:
            genesis = node_of(request).genesis
            register = state.chain_roots = RootRegister(genesis.trusted_roots, genesis.timestamp)
    return register


def roots(request: Request) -> dict[str, Any]:
    """The CA roots the identity registry trusts or trusted: subject, fingerprint,
    validity, key type, and the block that added (and removed) each."""
    node = node_of(request)
    register = roots_of(request)
    with as_refusals(), node.chain.indexes.snapshot() as idx:
        return {"items": register.listed(idx)}


# -- the node's own verification ---------------------------------------------------------------


def verifications_of(request: Request) -> Verifications:
    """The node's verification runs, made on first use (on the event loop: the two
    handlers that ask are async): the last result read back from the data directory, a
    one-thread executor the node shuts down with its RPC pools before it closes the store
    (node/ops/runner.py), and a watcher that stops a run when the node stops."""
    state = request.app.state
    runs: Verifications | None = getattr(state, "chain_verifications", None)
    if runs is None:
        node = node_of(request)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-verify")
        if hasattr(state, "rpc_pools"):
            state.rpc_pools = (*state.rpc_pools, executor)
        runs = state.chain_verifications = Verifications(node.store, node.genesis, node.config.data_dir, executor)
        state.chain_verification_watch = asyncio.get_running_loop().create_task(_cancel_on_stop(node, runs))
    return runs


async def _cancel_on_stop(node: Node, runs: Verifications) -> None:
    await node.stopped()
    runs.cancel()


async def start_verification(request: Request) -> JSONResponse:
    """Start a whole-chain verification of the node's own store (202), or 409 with the
    running one's progress."""
    who = admitted(request)
    runs = verifications_of(request)
    requested_by = {"role": who.role, "subject": who.subject,
                    "address": None if who.address is None else checksum_address(who.address)}
    try:
        started = runs.start(requested_by)
    except VerificationRunning as exc:
        return JSONResponse({"error": str(exc), "running": exc.running}, status_code=409)
    except StorageError as exc:
        raise ApiError(503, str(exc), retry_after=None) from None
    return JSONResponse(started, status_code=202)


async def last_verification(request: Request) -> dict[str, Any]:
    """The run in progress (null if none) and the last finished one (null if never)."""
    return verifications_of(request).status()
