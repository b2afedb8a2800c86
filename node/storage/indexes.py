"""Indexes over the system contracts' events, written in each block's own write batch.

What regulators, courts and auditors ask of the chain — contracts by project, party,
status and date; evidence by digest, case and kind; commitments by status, responsible
unit and deadline; seals by owner and status; every event of a contract; the durable
feed — is answered here by a seek and a bounded walk over LevelDB keys
(node/storage/schema.py), never by scanning blocks.

Writing: `index_block` turns one block's logs into index writes. Chain.commit calls it
with the block's own write dict, so a block and its index entries reach the disk in one
atomic batch: an index never lags or leads the chain it describes. QBFT blocks are final,
so entries are only ever added or moved, never rolled back.

Reading them is node/storage/index_queries.py's.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

from chaincode import ALGORITHM_NAMES, COMMITMENT_STATUS, CONTRACT_STATUS, SEAL_STATUS, SIDE_NAMES, role_names
from chaincode.events import EventDecodeError, checksum_address, decode_log
from node.api import FEED_TOPICS
from node.errors import InvalidParams
from node.storage import commitment_counts, schema

# Feed topics and their byte, which is part of the feed index's keys: append a new topic
# to node/api.py's FEED_TOPICS, never reorder them.
TOPICS: dict[str, int] = {topic: code for code, topic in enumerate(FEED_TOPICS, 1)}
CONTRACT_TOPIC = {
    "IdentityRegistry": "identity",
    "ContractRegistry": "contracts",
    "CommitmentTracker": "commitments",
    "EvidenceRegistry": "evidence",
    "SealRegistry": "identity",
}
# CommitmentTracker.vy's DEFAULT_REMINDER_WINDOW and DEFAULT_DEMAND_DELAY (seconds), in
# force until a PolicySet event changes them.
DEFAULT_POLICY = (7 * 86400, 30 * 86400)
POLICY_KEY = schema.COUNTER + b"policy"  # -> JSON [reminder window, demand delay]
CONTRACT_STATUS_CODE = {name: code for code, name in CONTRACT_STATUS.items()}
COMMITMENT_STATUS_CODE = {name: code for code, name in COMMITMENT_STATUS.items()}
SEAL_STATUS_CODE = {name: code for code, name in SEAL_STATUS.items()}
FULFILLED = COMMITMENT_STATUS_CODE["fulfilled"]


# -- cursors ----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Cursor:
    """A log's position on the chain: (block height, log index within the block).

    Written "HEIGHT-LOGINDEX" ("1042-3"). A feed resumed from a cursor starts with the
    first event after it, so a client that stores the cursor of each event it has handled
    misses nothing and sees nothing twice.
    """

    height: int
    log_index: int

    @classmethod
    def parse(cls, text: str) -> Cursor:
        height, sep, log_index = text.strip().partition("-")
        if not sep or len(text) > 32 or not text.isascii() or not height.isdigit() or not log_index.isdigit():
            raise InvalidParams(f"cursor {text[:40]!r} is not HEIGHT-LOGINDEX (e.g. 1042-3)")
        cursor = cls(int(height), int(log_index))
        if cursor.height >= 2**64 or cursor.log_index >= 2**32:
            raise InvalidParams(f"cursor {text[:40]!r} is out of range")
        return cursor

    @classmethod
    def from_bytes(cls, raw: bytes) -> Cursor:
        return cls(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:12], "big"))

    def to_bytes(self) -> bytes:
        return schema.cursor_bytes(self.height, self.log_index)

    def __str__(self) -> str:
        return f"{self.height}-{self.log_index}"


# -- the feed's events ------------------------------------------------------------------


@functools.lru_cache(maxsize=4_096)
def _text_key(text: str) -> bytes:
    # keccak of an evidence kind or a responsible unit: a few values recur in every block.
    return keccak(text=text)


def feed_event(
    address: bytes, topics: Sequence[bytes], data: bytes, *, height: int, log_index: int, block_hash: bytes,
    tx_hash: bytes, tx_index: int, timestamp: int,
) -> dict[str, Any] | None:
    """A system-contract log (decoded by chaincode/events.py) as the feed's JSON event; None
    for any other log, or one that does not decode: the index describes what the contracts
    emit, nothing else."""
    try:
        event = decode_log(address, topics, data)
    except EventDecodeError:
        return None
    if event is None:
        return None
    kind, args = event
    return {
        "cursor": str(Cursor(height, log_index)),
        "block": height,
        "logIndex": log_index,
        "timestamp": timestamp,
        "blockHash": "0x" + block_hash.hex(),
        "transactionHash": "0x" + tx_hash.hex(),
        "transactionIndex": tx_index,
        "topic": CONTRACT_TOPIC[kind.contract],
        "contract": kind.contract,
        "address": checksum_address(address),
        "event": kind.name,
        "args": args,
    }


_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def _dumps(document: Any) -> bytes:
    return _ENCODER.encode(document).encode()


def _bytes32(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _address(text: str) -> bytes:
    return bytes.fromhex(text[2:])


# -- writing ----------------------------------------------------------------------------


class IndexBatch:
    """Index writes of one or more consecutive blocks, in the caller's write dict, reading
    its own pending writes before LevelDB (a record may change twice in one block)."""

    def __init__(self, get: Callable[[bytes], bytes | None], writes: dict[bytes, bytes | None]) -> None:
        self._get = get
        self.writes = writes
        self._counts: dict[str, list[int]] = {}  # counter -> its changes since the last flush, in order

    def get(self, key: bytes) -> bytes | None:
        if self._counts and key.startswith(schema.COUNTER):
            self.flush()  # a counter read sees every change made so far
        if key in self.writes:
            return self.writes[key]
        return self._get(key)

    def get_json(self, key: bytes) -> Any:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def put(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None

    def count(self, name: str, delta: int = 1) -> None:
        """Change a counter; the change reaches `writes` at `flush` (the end of the block)."""
        changes = self._counts.get(name)
        if changes is None:
            self._counts[name] = [delta]
        else:
            changes.append(delta)

    def flush(self) -> None:
        """Write the counters changed since the last flush (one read and write per counter
        and block, not per event). A counter never goes below zero."""
        counts, self._counts = self._counts, {}
        for name, changes in counts.items():
            key = schema.COUNTER + name.encode()
            raw = self.get(key)
            value = int.from_bytes(raw, "big") if raw else 0
            for delta in changes:
                value = max(0, value + delta)
            self.put(key, value.to_bytes(8, "big"))


def index_block(batch: IndexBatch, height: int, block_hash: bytes, timestamp: int,
                transactions: Sequence[Any], receipts: Sequence[Any]) -> int:
    """Add the index writes of block `height` to `batch`; returns how many events it held.

    `transactions` and `receipts` are py-evm objects (tx.hash; receipt.logs with address,
    topics as ints and data). Log indexes count every log of the block, as eth_getLogs does.
    """
    log_index = 0
    events = 0
    for tx_index, (tx, receipt) in enumerate(zip(transactions, receipts)):
        for log in receipt.logs:
            event = feed_event(
                log.address, [t.to_bytes(32, "big") for t in log.topics], log.data, height=height,
                log_index=log_index, block_hash=block_hash, tx_hash=tx.hash, tx_index=tx_index, timestamp=timestamp,
            )
            log_index += 1
            if event is None:
                continue
            _index_event(batch, event)
            events += 1
    batch.flush()
    batch.put(schema.INDEX_HEIGHT_KEY, schema.height_bytes(height))
    return events


def index_genesis(batch: IndexBatch, members: Iterable[tuple[bytes, str]], trusted_roots: int, timestamp: int) -> None:
    """The members and trusted roots genesis writes straight into the registry's storage
    (no event announces them), so that counts and member lookups include them."""
    for member, role in members:
        key = schema.MEMBER + member
        if batch.get(key) is None:
            batch.count("members")
        batch.put(key, _dumps({
            "address": to_checksum_address(member), "subject": None, "roles": [role], "certFingerprint": None,
            "rootFingerprint": None, "notAfter": None, "genesis": True,
            "registered": {"block": 0, "time": timestamp, "cursor": None, "transactionHash": None},
        }))
    batch.count("roots", trusted_roots)
    batch.put(*commitment_counts.version_write())
    batch.flush()
    batch.put(schema.INDEX_HEIGHT_KEY, schema.height_bytes(0))


def _index_event(batch: IndexBatch, event: dict[str, Any]) -> None:
    cursor = schema.cursor_bytes(event["block"], event["logIndex"])
    batch.put(schema.EVENT + cursor, _dumps(event))
    # The event's name rides in the feed key's value, so a feed stream labels its messages
    # without parsing the stored JSON.
    batch.put(schema.FEED + bytes([TOPICS[event["topic"]]]) + cursor, event["event"].encode())
    batch.count("events")
    handler = _HANDLERS.get(event["event"])
    if handler is not None:
        handler(batch, event, cursor)


def _when(event: dict[str, Any]) -> dict[str, Any]:
    return {"block": event["block"], "time": event["timestamp"], "cursor": event["cursor"],
            "transactionHash": event["transactionHash"]}


# ContractRegistry ---------------------------------------------------------------------


def _contract_registered(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a = event["args"]
    contract_id = _bytes32(a["id"])
    record = {
        "id": a["id"], "projectCode": a["projectCode"], "version": a["version"],
        "previous": None if int(a["previous"], 16) == 0 else a["previous"],
        "docDigest": a["docDigest"], "digestAlgorithm": ALGORITHM_NAMES.get(a["digestAlgorithm"], a["digestAlgorithm"]),
        "parties": a["parties"], "amount": a["amount"], "metadataDigest": a["metadataDigest"],
        "registrar": a["registrar"], "status": "Pending", "registered": _when(event), "effective": None,
        "supersededBy": None, "voided": None, "signatures": [], "voidRequests": [],
    }
    batch.put(schema.CONTRACT + contract_id, _dumps(record))
    batch.put(schema.CONTRACT_BY_PROJECT + keccak(text=a["projectCode"]) + cursor, contract_id)
    for party in dict.fromkeys(a["parties"]):
        batch.put(schema.CONTRACT_BY_PARTY + _address(party) + cursor, contract_id)
    batch.put(schema.CONTRACT_BY_STATUS + bytes([CONTRACT_STATUS_CODE["Pending"]]) + cursor, contract_id)
    batch.put(schema.CONTRACT_BY_DATE + event["timestamp"].to_bytes(8, "big") + cursor, contract_id)
    batch.put(schema.CONTRACT_EVENTS + contract_id + cursor, b"")
    batch.count("contracts")
    batch.count("contracts.Pending")


def _move_status(batch: IndexBatch, record: dict[str, Any], status: str, by_status: bytes,
                 codes: Mapping[str, int], counter: str, key: bytes) -> None:
    """A record (a contract, a seal) whose status changed: its by-status entry (keyed by
    its registration's cursor) moves, the per-status counters follow, the record says so."""
    if status == record["status"]:
        return
    registered = Cursor.parse(record["registered"]["cursor"]).to_bytes()
    batch.delete(by_status + bytes([codes[record["status"]]]) + registered)
    batch.put(by_status + bytes([codes[status]]) + registered, key)
    batch.count(f"{counter}.{record['status']}", -1)
    batch.count(f"{counter}.{status}")
    record["status"] = status


def _contract_update(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    """Any later event of a contract: its history, and the record's new state."""
    contract_id = _bytes32(event["args"]["id"])
    batch.put(schema.CONTRACT_EVENTS + contract_id + cursor, b"")
    record = batch.get_json(schema.CONTRACT + contract_id)
    if record is None:  # cannot happen on a chain whose registry emitted the registration
        return
    a, name = event["args"], event["event"]
    status = record["status"]
    if name == "ContractSigned":
        record["signatures"].append({"signer": a["signer"], "certFingerprint": a["certFingerprint"],
                                     "rootFingerprint": a["rootFingerprint"], **_when(event)})
    elif name == "ContractPdfSigned":
        _add_pdf(record, a)
    elif name == "ContractEffective":
        status, record["effective"] = "Effective", _when(event)
    elif name == "ContractSuperseded":
        status, record["supersededBy"] = "Superseded", a["by"]
    elif name == "VoidRequested":
        record["voidRequests"].append({"party": a["party"], "reasonDigest": a["reasonDigest"], **_when(event)})
    elif name == "ContractVoided":
        status = "Voided"
        record["voided"] = {"by": a["by"], "reasonDigest": a["reasonDigest"], "byRegulator": a["byRegulator"],
                            **_when(event)}
    _move_status(batch, record, status, schema.CONTRACT_BY_STATUS, CONTRACT_STATUS_CODE, "contracts", contract_id)
    batch.put(schema.CONTRACT + contract_id, _dumps(record))


def _add_pdf(record: dict[str, Any], a: dict[str, Any]) -> None:
    """ContractPdfSigned: the PDF part of the signature ContractSigned recorded just before
    it, in the same transaction (ContractRegistry.sign_pdf logs the two in that order).
    The entry is the signer's: a party signs a contract once. Only a signature made with
    sign_pdf gets the `pdf` key; one made with `sign` stays as it was stored (readers see
    `pdf: null`, node/storage/index_queries.py), so records written before this event
    existed are still what replaying their blocks gives (`ledger chain verify`)."""
    for signature in reversed(record["signatures"]):
        if signature["signer"].lower() == a["signer"].lower():
            signature["pdf"] = {"sequence": a["sequence"], "revisionDigest": a["revisionDigest"],
                                "cmsDigest": a["cmsDigest"], "seal": a["seal"]}
            return


# EvidenceRegistry ---------------------------------------------------------------------


def _anchored(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a = event["args"]
    batch.put(schema.EVIDENCE_ALL + cursor, b"")
    batch.put(schema.EVIDENCE_BY_DIGEST + _bytes32(a["digest"]) + cursor, b"")
    batch.put(schema.EVIDENCE_BY_CASE + _bytes32(a["caseHash"]) + cursor, b"")
    batch.put(schema.EVIDENCE_BY_KIND + _text_key(a["kind"]) + cursor, b"")
    batch.count("evidence")


def evidence_record(event: dict[str, Any]) -> dict[str, Any]:
    """An Anchored event as an evidence entry."""
    a = event["args"]
    return {
        "digest": a["digest"], "digestAlgorithm": ALGORITHM_NAMES.get(a["digestAlgorithm"], a["digestAlgorithm"]),
        "kind": a["kind"], "caseRef": a["caseRef"], "caseHash": a["caseHash"], "leafCount": a["leafCount"],
        "metadataDigest": a["metadataDigest"], "submitter": a["submitter"], "anchoring": a["anchoring"],
        "anchored": _when(event),
    }


# CommitmentTracker --------------------------------------------------------------------


def commitment_key(commitment_id: int) -> bytes:
    return commitment_id.to_bytes(8, "big")


def _commitment_added(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a = event["args"]
    key = commitment_key(a["id"])
    unit = _text_key(a["responsibleUnit"])
    record = {
        "id": a["id"], "agreement": a["agreement"], "clause": a["clause"], "side": SIDE_NAMES.get(a["side"], a["side"]),
        "responsibleUnit": a["responsibleUnit"], "obligor": a["obligor"], "counterparty": a["counterparty"],
        "deadline": a["deadline"], "descriptionDigest": a["descriptionDigest"], "created": _when(event),
        "raised": COMMITMENT_STATUS[0], "report": None, "confirmation": None, "alerts": [],
    }
    deadline = min(a["deadline"], 2**64 - 1).to_bytes(8, "big")
    batch.put(schema.COMMITMENT + key, _dumps(record))
    batch.put(schema.COMMITMENT_BY_RAISED + b"\x00" + key, b"")
    batch.put(schema.COMMITMENT_BY_UNIT + unit + key, b"")
    batch.put(schema.COMMITMENT_BY_DEADLINE + deadline + key, b"")
    batch.put(schema.COMMITMENT_OPEN + deadline + key, b"")
    batch.put(schema.COMMITMENT_EVENTS + key + cursor, b"")
    if batch.get(schema.UNIT_NAME + unit) is None:
        batch.put(schema.UNIT_NAME + unit, a["responsibleUnit"].encode())
        batch.count("units")
    batch.count("commitments")
    batch.count("commitments.open")
    commitment_counts.added(batch, record)


def _commitment_update(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a, name = event["args"], event["event"]
    key = commitment_key(a["id"])
    batch.put(schema.COMMITMENT_EVENTS + key + cursor, b"")
    record = batch.get_json(schema.COMMITMENT + key)
    if record is None:
        return
    level = COMMITMENT_STATUS_CODE[record["raised"]]
    new_level = level
    if name == "FulfilmentReported":
        record["report"] = {"evidenceDigest": a["evidenceDigest"], "onTime": a["onTime"], **_when(event)}
    elif name == "FulfilmentConfirmed":
        new_level = FULFILLED
        record["confirmation"] = {"by": a["by"], "bySupervisor": a["bySupervisor"], **_when(event)}
        deadline = min(record["deadline"], 2**64 - 1).to_bytes(8, "big")
        batch.delete(schema.COMMITMENT_OPEN + deadline + key)
        batch.count("commitments.open", -1)
        batch.count("commitments.fulfilled")
        commitment_counts.fulfilled(batch, record, event["timestamp"])
    elif name == "CommitmentAlert":
        new_level = a["level"] if a["level"] in COMMITMENT_STATUS else level
        record["alerts"].append({"level": COMMITMENT_STATUS.get(a["level"], a["level"]),
                                 "escalatedToSupervision": a["escalatedToSupervision"], **_when(event)})
        batch.count("alerts")
        if a["escalatedToSupervision"]:
            batch.count("supervisions")
        commitment_counts.alert(batch, record, a["level"], a["escalatedToSupervision"], event["timestamp"])
    if new_level != level:
        batch.delete(schema.COMMITMENT_BY_RAISED + bytes([level]) + key)
        batch.put(schema.COMMITMENT_BY_RAISED + bytes([new_level]) + key, b"")
        record["raised"] = COMMITMENT_STATUS[new_level]
    batch.put(schema.COMMITMENT + key, _dumps(record))


def _policy_set(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    batch.put(POLICY_KEY, _dumps([event["args"]["reminderWindow"], event["args"]["demandDelay"]]))


# IdentityRegistry ---------------------------------------------------------------------


def _member_registered(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a = event["args"]
    key = schema.MEMBER + _address(a["member"])
    if batch.get(key) is None:
        batch.count("members")
    batch.put(key, _dumps({
        "address": a["member"], "subject": a["subject"], "roles": role_names(a["roles"]),
        "certFingerprint": a["certFingerprint"], "rootFingerprint": a["rootFingerprint"],
        "notAfter": a["notAfter"], "registered": _when(event),
    }))


def _roles_changed(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    key = schema.MEMBER + _address(event["args"]["member"])
    record = batch.get_json(key)
    if record is None:
        if event["args"]["roles"] == 0:
            return
        # Roles granted by the admins to an account that registered no certificate: on
        # chain it is an active member as a genesis member is, so the index lists it too.
        batch.count("members")
        record = {"address": to_checksum_address(event["args"]["member"]), "subject": None, "certFingerprint": None,
                  "rootFingerprint": None, "notAfter": None, "registered": _when(event)}
    record["roles"] = role_names(event["args"]["roles"])
    batch.put(key, _dumps(record))


# SealRegistry -------------------------------------------------------------------------
#
# A seal record per SealRegistered event, changed by the seal's later events. No catch-up
# for old data directories: every key here is written by a SealRegistry event (or a
# ContractPdfSigned one), which only a chain whose genesis deploys the registry at
# 0x…1005 (and ContractRegistry.sign_pdf) can hold — such a chain's blocks are all
# indexed by this code. A directory of an older genesis has no such events, so nothing
# to add; its stored records keep their shape (see `_add_pdf`).


def _seal_registered(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a = event["args"]
    seal = _bytes32(a["seal"])
    if batch.get(schema.SEAL + seal) is not None:  # the registry refuses a seal id twice
        return
    batch.put(schema.SEAL + seal, _dumps({
        "seal": a["seal"], "owner": a["owner"], "name": a["name"], "pixelDigest": a["pixelDigest"],
        "certFingerprint": a["certFingerprint"], "rootFingerprint": a["rootFingerprint"], "status": "Proposed",
        "approvals": 0, "quorum": None, "approvedBy": [], "registered": _when(event), "approved": None,
        "revoked": None,
    }))
    batch.put(schema.SEAL_ALL + cursor, seal)
    batch.put(schema.SEAL_BY_OWNER + _address(a["owner"]) + cursor, seal)
    batch.put(schema.SEAL_BY_STATUS + bytes([SEAL_STATUS_CODE["Proposed"]]) + cursor, seal)
    batch.count("seals")
    batch.count("seals.Proposed")


def _seal_update(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    """SealApproval, SealApproved, SealRevoked: the record's new state, and its status
    index entry moved (keyed by the registration's cursor, so the lists keep their order)."""
    a, name = event["args"], event["event"]
    seal = _bytes32(a["seal"])
    record = batch.get_json(schema.SEAL + seal)
    if record is None:  # cannot happen on a chain whose registry emitted the registration
        return
    status = record["status"]
    if name == "SealApproval":
        record["approvals"], record["quorum"] = a["approvals"], a["quorum"]
        record["approvedBy"].append({"admin": a["admin"], **_when(event)})
    elif name == "SealApproved":
        status, record["approved"] = "Approved", _when(event)
    elif name == "SealRevoked":
        status = "Revoked"
        record["revoked"] = {"by": a["by"], "reasonDigest": a["reasonDigest"], **_when(event)}
    _move_status(batch, record, status, schema.SEAL_BY_STATUS, SEAL_STATUS_CODE, "seals", seal)
    batch.put(schema.SEAL + seal, _dumps(record))


def _counter(name: str, delta: int) -> Callable[[IndexBatch, dict[str, Any], bytes], None]:
    return lambda batch, event, cursor: batch.count(name, delta)


_HANDLERS: dict[str, Callable[[IndexBatch, dict[str, Any], bytes], None]] = {
    "ContractRegistered": _contract_registered,
    "ContractSigned": _contract_update,
    "ContractPdfSigned": _contract_update,
    "ContractEffective": _contract_update,
    "ContractSuperseded": _contract_update,
    "VoidRequested": _contract_update,
    "ContractVoided": _contract_update,
    "Anchored": _anchored,
    "CommitmentAdded": _commitment_added,
    "FulfilmentReported": _commitment_update,
    "FulfilmentConfirmed": _commitment_update,
    "CommitmentAlert": _commitment_update,
    "PolicySet": _policy_set,
    "MemberRegistered": _member_registered,
    "RolesChanged": _roles_changed,
    "RootTrusted": _counter("roots", 1),
    "RootDistrusted": _counter("roots", -1),
    "CertificateRevoked": _counter("revocations", 1),
    "SealRegistered": _seal_registered,
    "SealApproval": _seal_update,
    "SealApproved": _seal_update,
    "SealRevoked": _seal_update,
}
