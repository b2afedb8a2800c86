"""Blocks of system-contract logs for index tests and benchmarks, encoded with the shipped
ABIs (chaincode.events.encode_log) and stored through the same `index_block` the chain uses."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaincode.events import encode_log
from node.storage import schema
from node.storage.indexes import IndexBatch, index_block
from node.storage.store import LevelStore


@dataclass(frozen=True)
class Log:
    address: bytes
    topics: list[int]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    logs: list[Log]


@dataclass(frozen=True)
class Tx:
    hash: bytes


@dataclass
class Block:
    """One block's transactions, one log list per transaction."""

    transactions: list[list[tuple[str, str, dict[str, Any]]]] = field(default_factory=list)

    def tx(self, *events: tuple[str, str, dict[str, Any]]) -> Block:
        self.transactions.append(list(events))
        return self


class CountingStore(LevelStore):
    """A real LevelStore that counts what reads cost: point reads and scanned rows."""

    gets = 0
    rows = 0
    seeks = 0

    def get(self, key: bytes) -> bytes | None:
        self.gets += 1
        return super().get(key)

    def scan(self, lower: bytes, upper: bytes, **kwargs: Any) -> list[tuple[bytes, bytes]]:
        rows = super().scan(lower, upper, **kwargs)
        self.seeks += 1
        self.rows += len(rows)
        return rows

    def reset(self) -> None:
        self.gets = self.rows = self.seeks = 0

    @property
    def reads(self) -> int:
        return self.gets + self.rows + self.seeks


def open_store(path: Path) -> CountingStore:
    store = CountingStore(path)
    if store.get(schema.INDEX_HEIGHT_KEY) is None:
        store.write_batch({schema.INDEX_HEIGHT_KEY: schema.height_bytes(0)})
    return store


def store_blocks(store: LevelStore, blocks: Iterable[Block], *, first_height: int, timestamp: int = 1_700_000_000,
                 per_batch: int = 1) -> int:
    """Index `blocks` at consecutive heights from `first_height` (block time = `timestamp` +
    height); `per_batch` blocks share one write batch. Returns the next height."""
    height = first_height
    writes: dict[bytes, bytes | None] = {}
    pending = 0
    for block in blocks:
        txs, receipts = [], []
        for index, events in enumerate(block.transactions):
            txs.append(Tx(hashlib.sha256(f"{height}/{index}".encode()).digest()))
            receipts.append(Receipt([Log(*encode_log(contract, name, args)) for contract, name, args in events]))
        block_hash = hashlib.sha256(f"block {height}".encode()).digest()
        index_block(IndexBatch(store.get, writes), height, block_hash, timestamp + height, txs, receipts)
        height += 1
        pending += 1
        if pending == per_batch:
            store.write_batch(writes)
            writes, pending = {}, 0
    if writes:
        store.write_batch(writes)
    return height


def address(n: int) -> str:
    return "0x" + n.to_bytes(20, "big").hex()


def digest(n: int, salt: str = "") -> bytes:
    return hashlib.sha256(f"{salt}{n}".encode()).digest()


def anchored(n: int, *, case: str = "case-1", kind: str = "webpage", submitter: int = 7) -> tuple[str, str, dict[str, Any]]:
    return ("EvidenceRegistry", "Anchored", {
        "digest": digest(n, "evidence"), "submitter": address(submitter), "caseHash": _keccak(case), "kind": kind, "caseRef": case, "digestAlgorithm": 1, "leafCount": 1,
        "metadataDigest": digest(n, "meta"), "anchoring": 1,
    })


def registered(project: str, parties: list[int], *, version: int = 1, amount: int = 1000) -> tuple[str, str, dict[str, Any]]:
    return ("ContractRegistry", "ContractRegistered", {
        "id": contract_id(project, version), "project": _keccak(project), "registrar": address(1),
        "projectCode": project, "version": version, "previous": b"\x00" * 32, "docDigest": digest(version, project),
        "digestAlgorithm": 1, "parties": [address(p) for p in parties], "amount": amount,
        "metadataDigest": b"\x00" * 32,
    })


def signed(project: str, signer: int, *, version: int = 1, signatures: int = 1, required: int = 2) -> tuple[str, str, dict[str, Any]]:
    return ("ContractRegistry", "ContractSigned", {
        "id": contract_id(project, version), "project": _keccak(project), "signer": address(signer),
        "projectCode": project, "version": version, "docDigest": digest(version, project),
        "certFingerprint": digest(signer, "cert"), "rootFingerprint": digest(signer, "root"),
        "signatures": signatures, "required": required,
    })


def effective(project: str, parties: list[int], *, version: int = 1) -> tuple[str, str, dict[str, Any]]:
    return ("ContractRegistry", "ContractEffective", {
        "id": contract_id(project, version), "project": _keccak(project), "projectCode": project, "version": version,
        "previous": b"\x00" * 32, "docDigest": digest(version, project), "parties": [address(p) for p in parties],
        "amount": 1000,
    })


def voided(project: str, parties: list[int], *, version: int = 1) -> tuple[str, str, dict[str, Any]]:
    return ("ContractRegistry", "ContractVoided", {
        "id": contract_id(project, version), "project": _keccak(project), "by": address(9), "projectCode": project,
        "version": version, "docDigest": digest(version, project), "parties": [address(p) for p in parties],
        "reasonDigest": digest(0, "reason"), "byRegulator": True,
    })


def commitment_added(commitment: int, unit: str, deadline: int) -> tuple[str, str, dict[str, Any]]:
    return ("CommitmentTracker", "CommitmentAdded", {
        "id": commitment, "agreement": digest(0, "agreement"), "unit": _keccak(unit), "clause": f"clause {commitment}",
        "side": 2, "responsibleUnit": unit, "obligor": address(3), "counterparty": address(4), "deadline": deadline,
        "descriptionDigest": digest(commitment, "description"),
    })


def commitment_alert(commitment: int, unit: str, level: int, deadline: int) -> tuple[str, str, dict[str, Any]]:
    return ("CommitmentTracker", "CommitmentAlert", {
        "id": commitment, "agreement": digest(0, "agreement"), "unit": _keccak(unit), "level": level,
        "responsibleUnit": unit, "clause": f"clause {commitment}", "deadline": deadline,
        "escalatedToSupervision": level == 3,
    })


def commitment_confirmed(commitment: int) -> tuple[str, str, dict[str, Any]]:
    return ("CommitmentTracker", "FulfilmentConfirmed", {
        "id": commitment, "agreement": digest(0, "agreement"), "by": address(4), "evidenceDigest": digest(commitment),
        "bySupervisor": False,
    })


def contract_id(project: str, version: int) -> bytes:
    # Any stable 32 bytes: the index takes ids from the events as they come.
    return _keccak(f"{project}/{version}")


def _keccak(text: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=text)
