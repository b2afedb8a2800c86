"""Evidence anchored on a real node, then verified offline with the node stopped.

1,000 files go into one batch transaction; every receipt verifies from the receipt, the
file and genesis.json alone. Then each field of a receipt is changed in turn, the file
changed, the seals dropped below quorum, another chain's genesis used: each fails at the
step that names it.
"""
from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rlp

from client.anchoring import anchor, anchor_batch
from client.ledger import Ledger
from evidence import qbft
from evidence.receipt import GenesisTrust, Receipt, VerificationError, verify_receipt
from tests.integration.nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.slow
FILES = 1000


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("evidence")
    files = base / "files"
    files.mkdir()
    contents = [f"captured page {i}: <html>exhibit {i}</html>\n".encode() * (1 + i % 7) for i in range(FILES)]
    for i, content in enumerate(contents):
        (files / f"page-{i:04d}.html").write_bytes(content)
    node = NodeProcess(base / "data", free_port()).start()
    try:
        ledger = Ledger(node.url, bytes.fromhex(node.dev_key[2:]))
        digests = [hashlib.sha256(c).digest() for c in contents]
        batch = anchor_batch(ledger, digests, kind="web-capture", case="(2026) Jing 0105 Min Chu 1234")
        single = anchor(ledger, hashlib.sha256(b"a contract").digest(), kind="contract", case="P-2026-001")
        again = anchor(ledger, hashlib.sha256(b"a contract").digest(), kind="contract", case="P-2026-001")
    finally:
        node.stop()
    genesis = json.loads((base / "data" / "genesis.json").read_text())
    yield {"batch": batch, "single": single, "again": again, "contents": contents, "genesis": genesis}


def roundtrip(receipt: Receipt) -> Receipt:
    return Receipt.parse_text(receipt.to_json())


def test_every_receipt_of_a_1000_file_batch_verifies_offline(anchored: dict[str, Any]) -> None:
    genesis = GenesisTrust.from_document(anchored["genesis"])
    receipts = anchored["batch"].receipts
    assert len(receipts) == FILES and anchored["batch"].result.gas_used > 0
    assert len({r.batch.root for r in receipts if r.batch}) == 1
    for content, receipt in zip(anchored["contents"], receipts):
        verified = verify_receipt(roundtrip(receipt), genesis, content)
        assert verified.kind == "web-capture" and verified.timestamp > 0
        assert verified.signers == genesis.validators


def test_a_single_digest_and_its_second_anchoring(anchored: dict[str, Any]) -> None:
    genesis = GenesisTrust.from_document(anchored["genesis"])
    first, second = anchored["single"], anchored["again"]
    verify_receipt(first.receipts[0], genesis, b"a contract")
    verify_receipt(second.receipts[0], genesis, b"a contract")
    assert first.result.events["Anchored"][0]["anchoring"] == 1
    assert second.result.events["Anchored"][0]["anchoring"] == 2  # recorded, not overwritten


# Each field of a receipt document, how to change it, and the step that must then fail.
def _flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


MUTATIONS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("version", lambda v: v + "x", "format"),
    ("chainId", lambda v: v + 1, "chain"),
    ("chainName", lambda v: v + "x", "chain"),
    ("genesisHash", _flip_hex, "chain"),
    ("entry.digest", _flip_hex, "file"),
    ("entry.algorithm", lambda v: "sm3", "file"),
    ("entry.kind", lambda v: v + "x", "anchoring event"),
    ("entry.case", lambda v: v + "x", "anchoring event"),
    ("entry.metadataDigest", _flip_hex, "anchoring event"),
    ("batch.root", _flip_hex, "inclusion"),
    ("batch.leafIndex", lambda v: v + 1, "inclusion"),
    # a path can fit two tree sizes (the RFC 9162 walk depends on the size only where the
    # tree's shape does); the event's leaf count binds the size either way
    ("batch.treeSize", lambda v: v + 1, "inclusion|anchoring event"),
    ("batch.treeSize", lambda v: v // 2, "inclusion|anchoring event"),
    ("batch.inclusionPath", lambda v: [_flip_hex(v[0])] + v[1:], "inclusion"),
    ("batch.inclusionPath", lambda v: v[:-1], "inclusion"),
    ("anchor.registry", _flip_hex, "anchoring event"),
    ("anchor.blockNumber", lambda v: v + 1, "header"),
    ("anchor.blockHash", _flip_hex, "header"),
    ("anchor.transactionIndex", lambda v: v + 1, "transaction"),
    ("anchor.transactionHash", _flip_hex, "transaction"),
    ("anchor.logIndex", lambda v: v + 1, "anchoring event"),
    ("proof.header", lambda v: v[:200] + ("0" if v[200] != "0" else "1") + v[201:], "header"),
    ("proof.transaction", _flip_hex, "transaction"),
    ("proof.transactionProof", lambda v: [_flip_hex(v[0])] + v[1:], "transaction"),
    ("proof.receipt", _flip_hex, "receipt proof"),
    ("proof.receiptProof", lambda v: [_flip_hex(v[0])] + v[1:], "receipt proof"),
    # a --dev chain has one validator and no votes: any history header is one too many
    ("proof.validatorHistory", lambda v: v + ["0xc0"], "validator history"),
]


def test_mutation_table_covers_every_field(anchored: dict[str, Any]) -> None:
    document = anchored["batch"].receipts[0].to_document()
    leaves = {f"{k}.{sub}" if isinstance(v, dict) else k
              for k, v in document.items() for sub in (v if isinstance(v, dict) else [None])}
    assert leaves == {path for path, _, _ in MUTATIONS}


@pytest.mark.parametrize("path,mutate,step", MUTATIONS, ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_changing_any_field_fails_at_its_step(anchored: dict[str, Any], path: str, mutate: Callable[[Any], Any], step: str) -> None:
    genesis = GenesisTrust.from_document(anchored["genesis"])
    index = 517
    document = copy.deepcopy(anchored["batch"].receipts[index].to_document())
    obj = document
    *parents, last = path.split(".")
    for name in parents:
        obj = obj[name]
    obj[last] = mutate(obj[last])
    with pytest.raises(VerificationError) as failure:
        verify_receipt(Receipt.parse(document), genesis, anchored["contents"][index])
    assert failure.value.step in step.split("|"), str(failure.value)


def test_a_changed_file_fails_at_the_file_step(anchored: dict[str, Any]) -> None:
    genesis = GenesisTrust.from_document(anchored["genesis"])
    content = bytearray(anchored["contents"][3])
    content[0] ^= 1
    with pytest.raises(VerificationError) as failure:
        verify_receipt(anchored["batch"].receipts[3], genesis, bytes(content))
    assert failure.value.step == "file"


def test_seals_below_quorum_fail(anchored: dict[str, Any]) -> None:
    genesis = GenesisTrust.from_document(anchored["genesis"])
    receipt = anchored["batch"].receipts[0]
    fields = rlp.decode(receipt.header)
    extra = qbft.extra_data_of(fields)
    fields[12] = qbft.ExtraData(extra.vanity, extra.validators, extra.vote, extra.round, ()).encode()
    document = receipt.to_document()
    document["proof"]["header"] = "0x" + rlp.encode(fields).hex()
    with pytest.raises(VerificationError) as failure:
        verify_receipt(Receipt.parse(document), genesis, anchored["contents"][0])
    assert failure.value.step == "commit seals" and "quorum" in str(failure.value)


def test_another_chains_genesis_fails(anchored: dict[str, Any]) -> None:
    receipt = anchored["batch"].receipts[0]
    other = copy.deepcopy(anchored["genesis"])
    other["config"]["chainId"] = 4242
    with pytest.raises(VerificationError) as failure:
        verify_receipt(receipt, GenesisTrust.from_document(other), anchored["contents"][0])
    assert failure.value.step == "chain"
    # same chain id, other validators (another consortium's genesis): another genesis hash
    other = copy.deepcopy(anchored["genesis"])
    extra = qbft.ExtraData.decode(bytes.fromhex(other["extraData"][2:]))
    other["extraData"] = "0x" + qbft.ExtraData(extra.vanity, (b"\x42" * 20,), None, 0, ()).encode().hex()
    with pytest.raises(VerificationError) as failure:
        verify_receipt(receipt, GenesisTrust.from_document(other), anchored["contents"][0])
    assert failure.value.step == "chain" and "this receipt belongs to another chain" in failure.value.reason
