"""Indexes over the system contracts' events, written in each block's own write batch.

What regulators, courts and auditors ask of the chain — contracts by project, party,
status and date; evidence by digest, case and kind; commitments by status, responsible
unit and deadline; every event of a contract; the durable feed — is answered here by a
seek and a bounded walk over LevelDB keys (node/storage/schema.py), never by scanning blocks.

Writing: `index_block` turns one block's logs into index writes. Chain.commit calls it
with the block's own write dict, so a block and its index entries reach the disk in one
atomic batch: an index never lags or leads the chain it describes. QBFT blocks are final,
so entries are only ever added or moved, never rolled back.

Reading: `Indexes` pages through one index at a time. A page is `limit` items plus an
opaque `next` token (the last key's suffix, hex), or None on the last page.
"""
from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from eth_utils import keccak, to_checksum_address

from chaincode import (
    COMMITMENT_SIDES,
    COMMITMENT_STATUS,
    CONTRACT_STATUS,
    DIGEST_ALGORITHMS,
    SYSTEM_CONTRACTS,
    load_artifact,
    role_names,
)
from node.storage import schema
from node.errors import InvalidParams, NotFound

# Feed topics: one per system contract. The byte is part of the feed index's keys.
TOPICS: dict[str, int] = {"identity": 1, "contracts": 2, "commitments": 3, "evidence": 4}
CONTRACT_TOPIC = {
    "IdentityRegistry": "identity",
    "ContractRegistry": "contracts",
    "CommitmentTracker": "commitments",
    "EvidenceRegistry": "evidence",
}
# Pages are bounded so that one request is bounded work (and one response a few MB).
MAX_PAGE = 1_000
DEFAULT_PAGE = 100
# CommitmentTracker.vy's DEFAULT_REMINDER_WINDOW and DEFAULT_DEMAND_DELAY (seconds), in
# force until a PolicySet event changes them.
DEFAULT_POLICY = (7 * 86400, 30 * 86400)
POLICY_KEY = schema.COUNTER + b"policy"  # -> JSON [reminder window, demand delay]
CONTRACT_STATUS_CODE = {name: code for code, name in CONTRACT_STATUS.items()}
COMMITMENT_STATUS_CODE = {name: code for code, name in COMMITMENT_STATUS.items()}
ALGORITHM_NAMES = {code: name for name, code in DIGEST_ALGORITHMS.items()}
SIDE_NAMES = {code: name for name, code in COMMITMENT_SIDES.items()}
FULFILLED = COMMITMENT_STATUS_CODE["fulfilled"]
_HIGH = b"\xff" * 8


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


# -- decoding logs ----------------------------------------------------------------------


@dataclass(frozen=True)
class _EventType:
    contract: str
    name: str
    indexed: tuple[tuple[str, str], ...]  # (argument, ABI type) carried in topics 1..3
    data: tuple[tuple[str, str], ...]  # (argument, ABI type) ABI-encoded in the data

    @functools.cached_property
    def data_types(self) -> tuple[str, ...]:
        return tuple(abi_type for _, abi_type in self.data)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _event_types() -> dict[tuple[bytes, bytes], _EventType]:
    """(contract address, topic 0) -> how to decode that event, from the shipped ABIs."""
    types: dict[tuple[bytes, bytes], _EventType] = {}
    for contract, address in SYSTEM_CONTRACTS.items():
        for item in load_artifact(contract).abi:
            if item.get("type") != "event":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            types[(address, keccak(text=signature))] = _EventType(
                contract, item["name"],
                tuple((_camel(i["name"]), i["type"]) for i in item["inputs"] if i["indexed"]),
                tuple((_camel(i["name"]), i["type"]) for i in item["inputs"] if not i["indexed"]),
            )
    return types


EVENT_TYPES = _event_types()
_DYNAMIC = frozenset(("string", "bytes", "address[]"))
_ZERO_12 = bytes(12)


@functools.lru_cache(maxsize=65_536)
def _checksum(address: bytes) -> str:
    # EIP-55 costs a keccak per address; the same parties and submitters recur in every block.
    return to_checksum_address(address)


@functools.lru_cache(maxsize=4_096)
def _text_key(text: str) -> bytes:
    # keccak of an evidence kind or a responsible unit: a few values recur in every block.
    return keccak(text=text)


@functools.lru_cache(maxsize=64)
def _uint_bits(abi_type: str) -> int | None:
    return int(abi_type[4:]) if abi_type.startswith("uint") and abi_type[4:].isdigit() else None


def _word(data: bytes, offset: int) -> bytes:
    word = data[offset:offset + 32]
    if len(word) != 32:
        raise ValueError("data ends inside a word")
    return word


def _static(abi_type: str, word: bytes) -> Any:
    """One 32-byte word of a static ABI type as its JSON value (0x hex for bytes32, EIP-55
    for addresses, int or bool)."""
    if abi_type == "bytes32":
        return "0x" + word.hex()
    if abi_type == "address":
        if word[:12] != _ZERO_12:
            raise ValueError("address with dirty high bytes")
        return _checksum(word[12:])
    value = int.from_bytes(word, "big")
    if abi_type == "bool":
        if value > 1:
            raise ValueError("bool out of range")
        return value == 1
    bits = _uint_bits(abi_type)
    if bits is None or value >> bits:
        raise ValueError(f"cannot decode {abi_type}")
    return value


def _decode_data(types: Sequence[str], data: bytes) -> list[Any]:
    """ABI-decode a log's data for the few types the system contracts emit (uintN, bool,
    address, bytes32, string, bytes, address[]), to JSON values. eth_abi does the same at
    ~10x the cost, and indexing runs in every block commit. Raises ValueError on malformed
    data (a log our contracts did not emit)."""
    values: list[Any] = []
    for position, abi_type in enumerate(types):
        head = _word(data, 32 * position)
        if abi_type not in _DYNAMIC:
            values.append(_static(abi_type, head))
            continue
        offset = int.from_bytes(head, "big")
        length = int.from_bytes(_word(data, offset), "big") if offset < len(data) else -1
        if length < 0 or length > len(data):
            raise ValueError("dynamic value out of range")
        if abi_type == "address[]":
            values.append([_static("address", _word(data, offset + 32 + 32 * i)) for i in range(length)])
            continue
        raw = data[offset + 32:offset + 32 + length]
        if len(data) < offset + 32 + -(-length // 32) * 32:  # the value and its padding, as eth_abi reads it
            raise ValueError("data ends inside a value")
        values.append(raw.decode("utf-8") if abi_type == "string" else "0x" + raw.hex())
    return values


def _encode_static(abi_type: str, value: Any) -> bytes:
    if abi_type == "bytes32":
        raw = _bytes32(value) if isinstance(value, str) else bytes(value)
        if len(raw) > 32:
            raise ValueError("bytes32 value longer than 32 bytes")
        return raw.ljust(32, b"\x00")
    if abi_type == "address":
        raw = _address(value) if isinstance(value, str) else bytes(value)
        if len(raw) != 20:
            raise ValueError("an address is 20 bytes")
        return _ZERO_12 + raw
    if abi_type == "bool":
        if not isinstance(value, bool):
            raise ValueError("bool value expected")
        return int(value).to_bytes(32, "big")
    bits = _uint_bits(abi_type)
    if bits is None or isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise ValueError(f"cannot encode {value!r} as {abi_type}")
    return value.to_bytes(32, "big")


def _encode_data(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """`_decode_data`'s inverse: the ABI encoding (heads, then the dynamic tails) that
    eth_abi.encode gives for these types, at a fraction of its cost."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(types)
    for abi_type, value in zip(types, values, strict=True):
        if abi_type not in _DYNAMIC:
            heads.append(_encode_static(abi_type, value))
            continue
        if abi_type == "address[]":
            tail = len(value).to_bytes(32, "big") + b"".join(_encode_static("address", item) for item in value)
        else:
            raw = value.encode("utf-8") if abi_type == "string" else bytes(value)
            tail = len(raw).to_bytes(32, "big") + raw + bytes(-len(raw) % 32)
        heads.append(offset.to_bytes(32, "big"))
        tails.append(tail)
        offset += len(tail)
    return b"".join(heads) + b"".join(tails)


def decode_log(
    address: bytes, topics: Sequence[bytes], data: bytes, *, height: int, log_index: int, block_hash: bytes,
    tx_hash: bytes, tx_index: int, timestamp: int,
) -> dict[str, Any] | None:
    """A system-contract log as the feed's JSON event; None for any other log (or one that
    does not decode: the index describes what the contracts emit, nothing else)."""
    if not topics:
        return None
    event_type = EVENT_TYPES.get((address, topics[0]))
    if event_type is None or len(topics) != 1 + len(event_type.indexed):
        return None
    args: dict[str, Any] = {}
    try:
        for (name, abi_type), topic in zip(event_type.indexed, topics[1:]):
            args[name] = _static(abi_type, topic)
        values = _decode_data(event_type.data_types, data)
    except (ValueError, UnicodeDecodeError):
        return None
    for (name, _), value in zip(event_type.data, values):
        args[name] = value
    return {
        "cursor": str(Cursor(height, log_index)),
        "block": height,
        "logIndex": log_index,
        "timestamp": timestamp,
        "blockHash": "0x" + block_hash.hex(),
        "transactionHash": "0x" + tx_hash.hex(),
        "transactionIndex": tx_index,
        "topic": CONTRACT_TOPIC[event_type.contract],
        "contract": event_type.contract,
        "address": _checksum(address),
        "event": event_type.name,
        "args": args,
    }


def encode_log(contract: str, event: str, args: dict[str, Any]) -> tuple[bytes, list[int], bytes]:
    """The (address, topics as ints, data) of a log `contract` would emit for `event` with
    these camelCase `args` (bytes, int, str, bool, 0x addresses): `decode_log`'s inverse,
    for tests and benchmarks that seed the indexes without running the EVM."""
    address = SYSTEM_CONTRACTS[contract]
    for (candidate, topic0), event_type in EVENT_TYPES.items():
        if candidate == address and event_type.name == event:
            break
    else:
        raise KeyError(f"{contract} emits no {event}")
    topics = [int.from_bytes(topic0, "big")]
    for name, abi_type in event_type.indexed:
        topics.append(int.from_bytes(_encode_static(abi_type, args[name]), "big"))
    data = _encode_data(event_type.data_types, [args[name] for name, _ in event_type.data])
    return address, topics, data


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
            event = decode_log(
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
    if status != record["status"]:
        registered = Cursor.parse(record["registered"]["cursor"]).to_bytes()
        batch.delete(schema.CONTRACT_BY_STATUS + bytes([CONTRACT_STATUS_CODE[record["status"]]]) + registered)
        batch.put(schema.CONTRACT_BY_STATUS + bytes([CONTRACT_STATUS_CODE[status]]) + registered, contract_id)
        batch.count(f"contracts.{record['status']}", -1)
        batch.count(f"contracts.{status}")
        record["status"] = status
    batch.put(schema.CONTRACT + contract_id, _dumps(record))


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


def _commitment_key(commitment_id: int) -> bytes:
    return commitment_id.to_bytes(8, "big")


def _commitment_added(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a = event["args"]
    key = _commitment_key(a["id"])
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


def _commitment_update(batch: IndexBatch, event: dict[str, Any], cursor: bytes) -> None:
    a, name = event["args"], event["event"]
    key = _commitment_key(a["id"])
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
    elif name == "CommitmentAlert":
        new_level = a["level"] if a["level"] in COMMITMENT_STATUS else level
        record["alerts"].append({"level": COMMITMENT_STATUS.get(a["level"], a["level"]),
                                 "escalatedToSupervision": a["escalatedToSupervision"], **_when(event)})
        batch.count("alerts")
        if a["escalatedToSupervision"]:
            batch.count("supervisions")
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
    if record is not None:
        record["roles"] = role_names(event["args"]["roles"])
        batch.put(key, _dumps(record))


def _counter(name: str, delta: int) -> Callable[[IndexBatch, dict[str, Any], bytes], None]:
    return lambda batch, event, cursor: batch.count(name, delta)


_HANDLERS: dict[str, Callable[[IndexBatch, dict[str, Any], bytes], None]] = {
    "ContractRegistered": _contract_registered,
    "ContractSigned": _contract_update,
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
}


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One event of the feed as stored: its cursor, topic, name and JSON bytes."""

    cursor: Cursor
    topic: str
    name: str
    raw: bytes


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None  # pass back as `after` for the following page; None: this was the last

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "next": self.next}


def commitment_status(record: dict[str, Any], now: int, policy: tuple[int, int]) -> str:
    """CommitmentTracker.vy's `_status` at time `now` (a block's timestamp)."""
    if record["confirmation"] is not None:
        return COMMITMENT_STATUS[FULFILLED]
    reminder_window, demand_delay = policy
    deadline = record["deadline"]
    if now > deadline + demand_delay:
        return COMMITMENT_STATUS[3]
    if now > deadline:
        return COMMITMENT_STATUS[2]
    if now + reminder_window >= deadline:
        return COMMITMENT_STATUS[1]
    return COMMITMENT_STATUS[0]


class Indexes:
    """Reads of the indexes. `get` and `scan` are the store's (node/storage/store.py LevelStore)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Indexes]:
        """These indexes over one consistent view of the store: every read of a query (the
        topic scans of a feed page, a page's index rows and then its records) sees the same
        committed blocks, however many commit meanwhile."""
        with self._store.snapshot() as view:
            yield Indexes(view)

    # -- plumbing

    def _page(self, prefix: bytes, *, lower: bytes = b"", upper: bytes | None = None, after: str | None,
              limit: int, reverse: bool) -> tuple[list[tuple[bytes, bytes]], str | None]:
        """(key suffix after `prefix`, value) pairs of one page, and the next page's token."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"limit must be 1..{MAX_PAGE}")
        after_key = None
        if after is not None:
            try:
                after_key = prefix + bytes.fromhex(after)
            except ValueError:
                raise InvalidParams(f"page token {after[:40]!r} is not one this node issued") from None
        upper_key = prefix + upper if upper is not None else _successor(prefix)
        rows = self._store.scan(prefix + lower, upper_key, after=after_key, reverse=reverse, limit=limit + 1)
        more = len(rows) > limit
        rows = [(key[len(prefix):], value) for key, value in rows[:limit]]
        return rows, (rows[-1][0].hex() if more else None)

    def _json(self, key: bytes) -> Any:
        raw = self._store.get(key)
        return None if raw is None else json.loads(raw)

    def height(self) -> int:
        raw = self._store.get(schema.INDEX_HEIGHT_KEY)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def counters(self) -> dict[str, int]:
        rows = self._store.scan(schema.COUNTER, _successor(schema.COUNTER), limit=MAX_PAGE)
        return {key[len(schema.COUNTER):].decode(): int.from_bytes(value, "big")
                for key, value in rows if key != POLICY_KEY}

    def policy(self) -> tuple[int, int]:
        stored = self._json(POLICY_KEY)
        return DEFAULT_POLICY if stored is None else (int(stored[0]), int(stored[1]))

    # -- events and the feed

    def event(self, cursor: Cursor) -> dict[str, Any]:
        event = self._json(schema.EVENT + cursor.to_bytes())
        if event is None:
            raise NotFound(f"no system-contract event at {cursor}")
        return event

    def _events(self, cursors: Iterable[bytes]) -> list[dict[str, Any]]:
        return [self.event(Cursor.from_bytes(c)) for c in cursors]

    def feed(self, topics: Sequence[str], *, after: Cursor | None, limit: int = DEFAULT_PAGE) -> list[dict[str, Any]]:
        """The next `limit` events of `topics` after `after` (None: from the first), in chain
        order: one seek per topic, then a merge."""
        return [json.loads(entry.raw) for entry in self.feed_raw(topics, after=after, limit=limit)]

    def feed_raw(self, topics: Sequence[str], *, after: Cursor | None, limit: int = DEFAULT_PAGE) -> list[FeedEntry]:
        """As `feed`, the events as stored (JSON bytes), for streams that pass them on as
        they are: a page of 500 events is then 500 reads, not 500 parses and encodings."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"limit must be 1..{MAX_PAGE}")
        found: list[tuple[bytes, str, str]] = []
        for topic in dict.fromkeys(topics):
            if topic not in TOPICS:
                raise InvalidParams(f"unknown topic {topic[:40]!r} (topics: {', '.join(TOPICS)})")
            prefix = schema.FEED + bytes([TOPICS[topic]])
            start = None if after is None else prefix + after.to_bytes()
            rows = self._store.scan(prefix, _successor(prefix), after=start, limit=limit)
            found.extend((key[len(prefix):], topic, name.decode()) for key, name in rows)
        entries = []
        for cursor, topic, name in sorted(found)[:limit]:
            raw = self._store.get(schema.EVENT + cursor)
            if raw is None:
                raise NotFound(f"the feed index names event {Cursor.from_bytes(cursor)}, which is not stored")
            entries.append(FeedEntry(Cursor.from_bytes(cursor), topic, name, raw))
        return entries

    # -- contracts

    def contract(self, contract_id: bytes) -> dict[str, Any]:
        record = self._json(schema.CONTRACT + contract_id)
        if record is None:
            raise NotFound(f"no contract 0x{contract_id.hex()}")
        return record

    def contracts(self, *, project: str | None = None, party: bytes | None = None, status: str | None = None,
                  since: int | None = None, until: int | None = None, after: str | None = None,
                  limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Contracts by one index: project code, party, status, or registration time
        (`since`..`until`, inclusive, seconds; also the default: every contract)."""
        chosen = [k for k, v in (("project", project), ("party", party), ("status", status)) if v is not None]
        if len(chosen) > 1 or (chosen and (since is not None or until is not None)):
            raise InvalidParams("query contracts by one of project, party, status or a date range")
        lower, upper = b"", None
        if project is not None:
            prefix = schema.CONTRACT_BY_PROJECT + keccak(text=project)
        elif party is not None:
            prefix = schema.CONTRACT_BY_PARTY + party
        elif status is not None:
            if status not in CONTRACT_STATUS_CODE:
                raise InvalidParams(f"status must be one of {', '.join(CONTRACT_STATUS_CODE)}")
            prefix = schema.CONTRACT_BY_STATUS + bytes([CONTRACT_STATUS_CODE[status]])
        else:
            prefix = schema.CONTRACT_BY_DATE
            lower = _time_key(since or 0)
            upper = _time_key(until + 1) if until is not None else None
        rows, following = self._page(prefix, lower=lower, upper=upper, after=after, limit=limit, reverse=reverse)
        return Page([self.contract(contract_id) for _, contract_id in rows], following)

    def contract_events(self, contract_id: bytes, *, after: str | None = None, limit: int = MAX_PAGE) -> Page:
        self.contract(contract_id)
        rows, following = self._page(schema.CONTRACT_EVENTS + contract_id, after=after, limit=limit, reverse=False)
        return Page(self._events(suffix for suffix, _ in rows), following)

    # -- evidence

    def evidence(self, *, digest: bytes | None = None, case: str | None = None, kind: str | None = None,
                 after: str | None = None, limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Anchorings by digest, case reference or kind (or all of them), in chain order."""
        chosen = [v for v in (digest, case, kind) if v is not None]
        if len(chosen) > 1:
            raise InvalidParams("query evidence by one of digest, case or kind")
        if digest is not None:
            prefix = schema.EVIDENCE_BY_DIGEST + digest
        elif case is not None:
            prefix = schema.EVIDENCE_BY_CASE + keccak(text=case)
        elif kind is not None:
            prefix = schema.EVIDENCE_BY_KIND + keccak(text=kind)
        else:
            prefix = schema.EVIDENCE_ALL
        rows, following = self._page(prefix, after=after, limit=limit, reverse=reverse)
        return Page([evidence_record(e) for e in self._events(suffix for suffix, _ in rows)], following)

    # -- commitments

    def commitment(self, commitment_id: int) -> dict[str, Any]:
        record = self._json(schema.COMMITMENT + _commitment_key(commitment_id)) if 0 < commitment_id < 2**64 else None
        if record is None:
            raise NotFound(f"no commitment {commitment_id}")
        return record

    def commitments(self, *, now: int, status: str | None = None, raised: str | None = None,
                    unit: str | None = None, due_after: int | None = None, due_before: int | None = None,
                    after: str | None = None, limit: int = DEFAULT_PAGE, reverse: bool = False) -> Page:
        """Commitments by status at time `now` (the clock's: a deadline range of the open
        ones), by the level the chain last raised, by responsible unit, or by deadline
        (`due_after`..`due_before`, inclusive; also the default: every commitment).
        Each record gets `status`, its status at `now`."""
        chosen = [v for v in (status, raised, unit) if v is not None]
        if len(chosen) > 1 or (chosen and (due_after is not None or due_before is not None)):
            raise InvalidParams("query commitments by one of status, raised, unit or a deadline range")
        lower, upper = b"", None
        policy = self.policy()
        if status is not None:
            if status not in COMMITMENT_STATUS_CODE:
                raise InvalidParams(f"status must be one of {', '.join(COMMITMENT_STATUS_CODE)}")
            if status == COMMITMENT_STATUS[FULFILLED]:
                prefix = schema.COMMITMENT_BY_RAISED + bytes([FULFILLED])
            else:
                prefix = schema.COMMITMENT_OPEN
                low, high = _status_deadlines(status, now, policy)
                lower, upper = _time_key(low), (_time_key(high) if high is not None else None)
        elif raised is not None:
            if raised not in COMMITMENT_STATUS_CODE:
                raise InvalidParams(f"raised must be one of {', '.join(COMMITMENT_STATUS_CODE)}")
            prefix = schema.COMMITMENT_BY_RAISED + bytes([COMMITMENT_STATUS_CODE[raised]])
        elif unit is not None:
            prefix = schema.COMMITMENT_BY_UNIT + keccak(text=unit)
        else:
            prefix = schema.COMMITMENT_BY_DEADLINE
            lower = _time_key(due_after or 0)
            upper = _time_key(due_before + 1) if due_before is not None else None
        rows, following = self._page(prefix, lower=lower, upper=upper, after=after, limit=limit, reverse=reverse)
        items = [self.commitment(int.from_bytes(suffix[-8:], "big")) for suffix, _ in rows]
        for record in items:
            record["status"] = commitment_status(record, now, policy)
        return Page(items, following)

    def commitment_events(self, commitment_id: int, *, after: str | None = None, limit: int = MAX_PAGE) -> Page:
        self.commitment(commitment_id)
        rows, following = self._page(schema.COMMITMENT_EVENTS + _commitment_key(commitment_id), after=after,
                                     limit=limit, reverse=False)
        return Page(self._events(suffix for suffix, _ in rows), following)

    def units(self) -> list[str]:
        """Every responsible unit named by a commitment, in key order."""
        names: list[str] = []
        after: str | None = None
        while True:
            rows, after = self._page(schema.UNIT_NAME, after=after, limit=MAX_PAGE, reverse=False)
            names.extend(value.decode() for _, value in rows)
            if after is None:
                return names

    def report(self, *, now: int, unit: str | None = None) -> dict[str, Any]:
        """Counts by status at `now` per responsible unit (one unit, or all): the "712
        commitments, 98 alerts, 84 supervisions" view, where alerts are the commitments at
        reminder, warning or demand and supervisions those at demand (as `ledger commitment
        report` counts them), plus the alert events the chain has raised so far
        (`alertsRaised`, and `demandsRaised` of them escalated to supervision). Reads each
        counted commitment once."""
        policy = self.policy()
        units = [unit] if unit is not None else self.units()
        rows = []
        for name in units:
            row: dict[str, Any] = {"unit": name, "total": 0, **{s: 0 for s in COMMITMENT_STATUS.values()},
                                   "alerts": 0, "supervisions": 0, "alertsRaised": 0, "demandsRaised": 0}
            after: str | None = None
            while True:
                page = self.commitments(now=now, unit=name, after=after, limit=MAX_PAGE)
                for record in page.items:
                    row["total"] += 1
                    row[record["status"]] += 1
                    row["alertsRaised"] += len(record["alerts"])
                    row["demandsRaised"] += sum(1 for alert in record["alerts"] if alert["escalatedToSupervision"])
                after = page.next
                if after is None:
                    break
            row["alerts"] = row["reminder"] + row["warning"] + row["demand"]
            row["supervisions"] = row["demand"]
            rows.append(row)
        totals = {key: sum(row[key] for row in rows) for key in rows[0] if key != "unit"} if rows else {}
        return {"at": now, "policy": {"reminderWindow": policy[0], "demandDelay": policy[1]},
                "units": rows, "totals": totals}

    # -- members

    def member(self, address: bytes) -> dict[str, Any]:
        record = self._json(schema.MEMBER + address)
        if record is None:
            raise NotFound(f"no member 0x{address.hex()}")
        return record


def _successor(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix`."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\xff" * (len(prefix) + 1)
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _time_key(seconds: int) -> bytes:
    return _HIGH if seconds >= 2**64 else max(0, seconds).to_bytes(8, "big")


def _status_deadlines(status: str, now: int, policy: tuple[int, int]) -> tuple[int, int | None]:
    """The deadlines [low, high) of open commitments whose status at `now` is `status`
    (the inverse of `commitment_status`)."""
    reminder_window, demand_delay = policy
    if status == "demand":
        return 0, max(0, now - demand_delay)
    if status == "warning":
        return max(0, now - demand_delay), now
    if status == "reminder":
        return now, now + reminder_window + 1
    return now + reminder_window + 1, None
