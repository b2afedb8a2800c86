"""Receipt v2 names its chain (genesis hash, chain id, name) and `verify_receipt` checks
that first, saying in plain words which chain a receipt belongs to; v1 receipts (a stored
one, made by the code before v2) still verify. And the rules docs/receipt.md states and
the verifier enforces: round 0 in the hashed header, low-s seals, no duplicate JSON
members, the genesis extraData format, and that the event's submitter is the
transaction's sender.

Receipts come from a chain of four fixed validator keys built in-process on LevelDB
(tests/unit/node/votechain.py): block 1 anchors directly, block 2 through a forwarding
contract that is itself a member, block 3 with a transaction signed for no chain.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import rlp
from coincurve import PublicKey
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from evidence import qbft
from evidence.genesis import identify_chain
from evidence.mpt import OrderedTrie
from evidence.receipt import (
    EVIDENCE_REGISTRY,
    RECEIPT_VERSION,
    RECEIPT_VERSION_V1,
    STEPS,
    GenesisTrust,
    Receipt,
    VerificationError,
    build_receipts,
    verify_receipt,
)
from node.consensus.sealing import with_seals
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER, QBFTHeader
from node.storage.store import LevelStore
from tests.unit.node.votechain import (
    CHAIN_ID,
    GENESIS_VALIDATORS,
    MEMBER,
    MEMBER_ADDRESS,
    A,
    B,
    C,
    D,
    anchor_transaction,
    commit,
)

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors" / "receipt_v1"
CHAIN_NAME = "某市公共资源交易中心存证链"
DIRECT = b"a tender, anchored by its member"
FORWARDED = b"a tender, anchored through a contract"
UNPROTECTED = b"a tender, anchored by a transaction signed for no chain"
# Calls the evidence registry with its own call data (CALLDATACOPY; CALL 0x1004; revert
# on failure): the registry's msg.sender is then this contract, not the signer.
FORWARDER = b"\xf0" * 20
FORWARDER_CODE = bytes.fromhex("365f5f375f5f365f5f6110045af16014575f5ffd5b00")
# The account that made tests/vectors/receipt_v1 (the dev node's, see its README).
V1_SUBMITTER = bytes.fromhex("793c20A54E121F23E8535171D8Ae8bfbf64682bE")


def anchor_call(digest: bytes) -> bytes:
    selector = keccak(b"anchor(bytes32,uint256,string,string,uint8,bytes32)")[:4]
    return selector + abi_encode(["bytes32", "uint256", "string", "string", "uint8", "bytes32"],
                                 [digest, 1, "web-capture", "IP-2026-77", 1, b"\x00" * 32])


def signed(nonce: int, to: bytes, data: bytes, chain_id: int | None = CHAIN_ID) -> Any:
    tx: dict[str, Any] = {"nonce": nonce, "gas": 500_000, "gasPrice": 0, "to": to_checksum_address(to), "value": 0,
                          "data": data}
    if chain_id is not None:
        tx["chainId"] = chain_id
    return TRANSACTION_BUILDER.decode(bytes(MEMBER.sign_transaction(tx).raw_transaction))


def make_receipt(chain: Chain, header: QBFTHeader, digest: bytes, genesis: Genesis) -> Receipt:
    """The receipt of the only transaction of `header`'s block, as client/anchoring.py
    builds it from a node that reports its chain's identity (ledger_chainInfo)."""
    transactions, _ = chain.block_transactions(header)
    encoded = [tx.encode() for tx in transactions]
    raw_receipts = [r.encode() for r in chain.block_receipts(header)]
    (receipt,) = build_receipts(
        chain_id=CHAIN_ID, digests_=[digest], algorithm="sha256", kind="web-capture", case="IP-2026-77",
        metadata_digest=b"\x00" * 32, batched=False, block_number=header.block_number, block_hash=header.hash,
        transaction_index=0, transaction_hash=keccak(encoded[0]), log_index=0, header=rlp.encode(header),
        transaction=encoded[0], transaction_proof=OrderedTrie(encoded).proof(0), receipt=raw_receipts[0],
        receipt_proof=OrderedTrie(raw_receipts).proof(0),
        genesis_hash=chain.genesis_header.hash, chain_name=genesis.chain_name,
    )
    return receipt


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    document = build_genesis_document(
        chain_id=CHAIN_ID, validators=[k.address for k in GENESIS_VALIDATORS], alloc={MEMBER_ADDRESS: 10**21},
        members=[(MEMBER_ADDRESS, "ADMIN"), (FORWARDER, "ADMIN")], chain_name=CHAIN_NAME)
    document["alloc"][FORWARDER.hex()] = {"balance": "0x0", "code": "0x" + FORWARDER_CODE.hex()}
    genesis = Genesis.parse(document)
    store = LevelStore(tmp_path_factory.mktemp("receipts-v2") / "chain")
    try:
        chain = Chain.initialise(store, genesis)
        direct = commit(chain, A, transactions=[anchor_transaction(0, hashlib.sha256(DIRECT).digest())])
        forwarded = commit(chain, B, transactions=[signed(1, FORWARDER, anchor_call(hashlib.sha256(FORWARDED).digest()))])
        unprotected = commit(chain, C, transactions=[
            signed(2, EVIDENCE_REGISTRY, anchor_call(hashlib.sha256(UNPROTECTED).digest()), chain_id=None)])
        yield {
            "document": document,
            "genesis": GenesisTrust.from_document(document),
            "direct": make_receipt(chain, direct, hashlib.sha256(DIRECT).digest(), genesis),
            "forwarded": make_receipt(chain, forwarded, hashlib.sha256(FORWARDED).digest(), genesis),
            "unprotected": make_receipt(chain, unprotected, hashlib.sha256(UNPROTECTED).digest(), genesis),
        }
    finally:
        store.close()


def failure_of(receipt: Receipt | dict[str, Any] | str, genesis: GenesisTrust, content: bytes | None = DIRECT
               ) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        if isinstance(receipt, str):
            receipt = Receipt.parse_text(receipt)
        elif isinstance(receipt, dict):
            receipt = Receipt.parse(receipt)
        verify_receipt(receipt, genesis, content)
    return caught.value


def other_genesis(anchored: dict[str, Any], **changes: Any) -> GenesisTrust:
    document = copy.deepcopy(anchored["document"])
    for path, value in changes.items():
        target = document
        *parents, last = path.split(".")
        for name in parents:
            target = target[name]
        target[last] = value
    return GenesisTrust.from_document(document)


# -- v2: the chain, named and checked first ----------------------------------------------

def test_a_v2_receipt_names_its_chain_and_verifies(anchored: dict[str, Any]) -> None:
    receipt = anchored["direct"]
    document = json.loads(receipt.to_json())
    identity = identify_chain(anchored["document"])
    assert document["version"] == RECEIPT_VERSION == "evidence-ledger/receipt/v2"
    assert (document["chainId"], document["chainName"]) == (CHAIN_ID, CHAIN_NAME)
    assert document["genesisHash"] == "0x" + identity.genesis_hash.hex()
    verified = verify_receipt(Receipt.parse_text(receipt.to_json()), anchored["genesis"], DIRECT)
    assert (verified.chain_id, verified.chain_name, verified.genesis_hash) == (CHAIN_ID, CHAIN_NAME,
                                                                               identity.genesis_hash)
    assert verified.submitter == MEMBER_ADDRESS


def test_the_chain_is_the_first_step(anchored: dict[str, Any]) -> None:
    assert STEPS[0] == "chain"
    # another chain's genesis and a wrong file: the chain is what is reported
    other = other_genesis(anchored, extraData="0x" + qbft.ExtraData(b"\x00" * 32, (b"\x42" * 20,), None, 0, ()).encode().hex())
    failure = failure_of(anchored["direct"], other, content=b"another file")
    assert failure.step == "chain"


def test_another_chains_genesis_is_named_in_plain_words(anchored: dict[str, Any]) -> None:
    repo = GenesisTrust.from_document(json.loads((ROOT / "genesis.json").read_text()))
    failure = failure_of(anchored["direct"], repo)
    ours = anchored["genesis"]
    assert failure.step == "chain"
    assert failure.reason == (
        f"this receipt belongs to another chain: {CHAIN_NAME} (genesis 0x{ours.genesis_hash.hex()}, chain id 1337); "
        f"the genesis you gave is evidence-ledger example dev chain (genesis 0x{repo.genesis_hash.hex()}, chain id 1337)")


@pytest.mark.parametrize("changes, reason", [
    ({"config.chainId": 4242}, r"another chain: .* chain id 1337\); the genesis you gave is .* chain id 4242\)"),
    ({"gasLimit": "0x1234567"}, r"another chain: .*; the genesis you gave is .*"),  # another genesis block
    ({"evidenceLedger.chainName": "another name"}, r"the receipt calls its chain '某市.*', but the genesis you "
                                                   r"gave, of the same chain .* calls it 'another name'"),
])
def test_a_genesis_that_differs_in_identity_fails_at_chain(anchored: dict[str, Any], changes: dict[str, Any],
                                                          reason: str) -> None:
    failure = failure_of(anchored["direct"], other_genesis(anchored, **changes))
    assert failure.step == "chain" and re.search(reason, failure.reason), failure.reason


@pytest.mark.parametrize("field, value, step", [
    ("version", "evidence-ledger/receipt/v3", "format"),
    ("chainName", None, "format"),
    ("genesisHash", None, "format"),
    ("genesisHash", "0x" + "ab" * 31, "format"),
    ("chainName", "a\u202ename", "format"),
    ("chainName", "", "format"),
    ("genesisHash", "0x" + "ab" * 32, "chain"),
    ("chainName", "another name", "chain"),
    ("chainId", 1338, "chain"),
])
def test_each_chain_field_mutated_fails_at_its_step(anchored: dict[str, Any], field: str, value: Any,
                                                   step: str) -> None:
    document = anchored["direct"].to_document()
    if value is None:
        del document[field]
    else:
        document[field] = value
    assert failure_of(document, anchored["genesis"]).step == step


def test_a_chain_id_the_transaction_was_not_signed_for_fails_at_transaction(anchored: dict[str, Any]) -> None:
    # The chain id is not in block 0's header: a genesis.json that changes only it has the
    # same genesis hash. The transaction's signature names the chain it was signed for.
    document = anchored["direct"].to_document()
    document["chainId"] = 4242
    failure = failure_of(document, other_genesis(anchored, **{"config.chainId": 4242}))
    assert failure.step == "transaction" and "signed for chain id 1337" in failure.reason


def test_a_transaction_signed_for_no_chain_is_refused(anchored: dict[str, Any]) -> None:
    failure = failure_of(anchored["unprotected"], anchored["genesis"], UNPROTECTED)
    assert failure.step == "transaction" and "EIP-155" in failure.reason


def test_build_receipts_names_both_or_neither(anchored: dict[str, Any]) -> None:
    receipt = anchored["direct"]
    build = partial(
        build_receipts, chain_id=CHAIN_ID, digests_=[receipt.digest], algorithm="sha256", kind="web-capture",
        case="IP-2026-77", metadata_digest=b"\x00" * 32, batched=False, block_number=1, block_hash=receipt.block_hash,
        transaction_index=0, transaction_hash=receipt.transaction_hash, log_index=0, header=receipt.header,
        transaction=receipt.transaction, transaction_proof=receipt.transaction_proof, receipt=receipt.receipt,
        receipt_proof=receipt.receipt_proof)
    with pytest.raises(ValueError, match="both"):
        build(genesis_hash=receipt.genesis_hash)
    (v1,) = build()
    assert v1.version == RECEIPT_VERSION_V1 and "genesisHash" not in v1.to_document()


# -- v1 receipts still verify --------------------------------------------------------------

def v1_vector(name: str) -> tuple[str, bytes]:
    return (VECTORS / f"{name}.receipt.json").read_text(), (VECTORS / name).read_bytes()


V1_GENESIS = json.loads((VECTORS / "genesis.json").read_text())


@pytest.mark.parametrize("name", ["index.html", "single.txt"])
def test_a_stored_v1_receipt_still_verifies(name: str) -> None:
    text, content = v1_vector(name)
    assert json.loads(text)["version"] == RECEIPT_VERSION_V1
    receipt = Receipt.parse_text(text)
    assert receipt.version == RECEIPT_VERSION_V1 and receipt.genesis_hash is None
    verified = verify_receipt(receipt, GenesisTrust.from_document(V1_GENESIS), content)
    assert verified.submitter == V1_SUBMITTER and verified.chain_name == "chain 1337"
    # it is written back as it was read (v1, no chain name)
    assert receipt.to_document() == json.loads(text)


def test_a_v1_receipt_against_another_chain_id_fails_at_chain() -> None:
    text, content = v1_vector("index.html")
    document = copy.deepcopy(V1_GENESIS)
    document["config"]["chainId"] = 4242
    failure = failure_of(text, GenesisTrust.from_document(document), content)
    assert failure.step == "chain"
    assert failure.reason.startswith("this receipt belongs to another chain: chain id 1337 (a v1 receipt names "
                                     "no genesis); the genesis you gave is chain 4242 (genesis 0x")


def test_a_v1_receipt_against_another_genesis_of_its_chain_id_says_what_to_check() -> None:
    text, content = v1_vector("index.html")
    failure = failure_of(text, GenesisTrust.from_document(json.loads((ROOT / "genesis.json").read_text())), content)
    assert failure.step == "validators" and "a v1 receipt names only its chain id" in failure.reason


def test_a_v1_receipt_with_its_chain_named_is_a_v2_receipt() -> None:
    text, content = v1_vector("index.html")
    document = json.loads(text)
    identity = identify_chain(V1_GENESIS)
    document.update(version=RECEIPT_VERSION, chainName=identity.name, genesisHash="0x" + identity.genesis_hash.hex())
    verify_receipt(Receipt.parse(document), GenesisTrust.from_document(V1_GENESIS), content)


# -- duplicate members: one document, one reading ------------------------------------------

@pytest.mark.parametrize("original, duplicated", [
    ('"chainId": 1337,', '"chainId": 1337,\n  "chainId": 4242,'),
    ('"chainId": 1337,', '"chainId": 1337,\n  "chainId": 1337,'),  # even with the same value
    ('"kind": "web-capture",', '"kind": "web-capture", "kind": "contract",'),
    ('"logIndex": 0', '"logIndex": 0, "logIndex": 1'),
    ('"proof": {', '"proof": {"header": "0x00",'),
])
def test_a_document_naming_a_member_twice_is_refused(anchored: dict[str, Any], original: str,
                                                      duplicated: str) -> None:
    text = anchored["direct"].to_json()
    assert text.count(original) == 1
    failure = failure_of(text.replace(original, duplicated), anchored["genesis"])
    assert failure.step == "format" and "appears twice" in failure.reason


def test_json_that_is_not_rfc_8259_is_refused(anchored: dict[str, Any]) -> None:
    text = anchored["direct"].to_json().replace('"logIndex": 0', '"logIndex": 0, "note": NaN')
    failure = failure_of(text, anchored["genesis"])
    assert failure.step == "format" and "NaN" in failure.reason
    deep = "[" * 100_000 + "]" * 100_000
    assert failure_of(deep, anchored["genesis"]).step == "format"


# -- round 0 in the hashed header -----------------------------------------------------------

def hash_as_documented(header: bytes) -> bytes:
    """docs/receipt.md, step 4, written out: extraData re-encoded with round 0 (the RLP
    empty string, 0x80) and the seals emptied (0xc0), keccak256 of the header's RLP."""
    fields = rlp.decode(header)
    vanity, validators, vote, _round, _seals = rlp.decode(fields[12])
    extra = rlp.encode([vanity, validators, vote, b"", []])
    assert extra.endswith(b"\x80\xc0")
    fields[12] = extra
    return keccak(rlp.encode(fields))


def with_header_round(document: dict[str, Any], round_bytes: bytes, keys: tuple[Any, ...] = ()) -> dict[str, Any]:
    """`document` with its header's round encoded as `round_bytes`, resealed by `keys`
    (or keeping the seals made for the old round)."""
    changed = copy.deepcopy(document)
    fields = rlp.decode(bytes.fromhex(changed["proof"]["header"][2:]))
    vanity, validators, vote, _round, seals = rlp.decode(fields[12])
    fields[12] = rlp.encode([vanity, validators, vote, round_bytes, [] if keys else seals])
    if keys:
        header = rlp.decode(rlp.encode(fields), sedes=QBFTHeader)
        fields = rlp.decode(rlp.encode(with_seals(header, [k.commit_seal(header) for k in keys])))
    changed["proof"]["header"] = "0x" + rlp.encode(fields).hex()
    return changed


def test_round_zero_is_hashed_as_the_empty_string_whatever_round_sealed_it(anchored: dict[str, Any]) -> None:
    document = anchored["direct"].to_document()
    header = bytes.fromhex(document["proof"]["header"][2:])
    assert hash_as_documented(header) == anchored["direct"].block_hash
    # the same block decided at round 2: the same hash; seals over round 2 verify
    at_round_2 = with_header_round(document, b"\x02", (A, B, C, D))
    assert hash_as_documented(bytes.fromhex(at_round_2["proof"]["header"][2:])) == anchored["direct"].block_hash
    verify_receipt(Receipt.parse(at_round_2), anchored["genesis"], DIRECT)
    # round 2 written in, seals of round 0 kept: they sign another digest
    assert failure_of(with_header_round(document, b"\x02"), anchored["genesis"]).step == "commit seals"


@pytest.mark.parametrize("round_bytes", [b"\x00", b"\x00\x00\x00\x00", b"\x00\x02", b"\x01\x00\x00\x00\x00"])
def test_a_round_not_encoded_as_a_canonical_scalar_is_refused(anchored: dict[str, Any], round_bytes: bytes) -> None:
    failure = failure_of(with_header_round(anchored["direct"].to_document(), round_bytes), anchored["genesis"])
    assert failure.step == "header" and "round" in failure.reason


# -- low s ---------------------------------------------------------------------------------

def test_a_high_s_seal_is_refused_though_it_recovers_the_same_validator(anchored: dict[str, Any]) -> None:
    document = copy.deepcopy(anchored["direct"].to_document())
    fields = rlp.decode(bytes.fromhex(document["proof"]["header"][2:]))
    extra = qbft.ExtraData.decode(fields[12])
    seal = extra.seals[0]
    s = int.from_bytes(seal[32:64], "big")
    flipped = seal[:32] + (qbft.SECP256K1_N - s).to_bytes(32, "big") + bytes([seal[64] ^ 1])
    digest = qbft.commit_seal_digest(fields)
    # (r, n - s) with the other recovery id is the same validator's signature ...
    same = PublicKey.from_signature_and_message(flipped, digest, hasher=None).format(compressed=False)
    assert qbft.address_of(same) == qbft.recover_signer(seal, digest)
    fields[12] = qbft.ExtraData(extra.vanity, extra.validators, extra.vote, extra.round,
                                (flipped, *extra.seals[1:])).encode()
    document["proof"]["header"] = "0x" + rlp.encode(fields).hex()
    # ... and the header still hashes to blockHash (seals are not hashed): only the rule refuses it
    failure = failure_of(document, anchored["genesis"])
    assert failure.step == "commit seals"
    assert "seal 0" in failure.reason and "high s" in failure.reason


# -- the genesis extraData format -------------------------------------------------------------

@pytest.mark.parametrize("extra, reason", [
    (qbft.ExtraData(b"\x00" * 32, (A.address, B.address), None, 0, (b"\x01" * 65,)), "no seals"),
    (qbft.ExtraData(b"\x00" * 32, (A.address, B.address), qbft.Vote(C.address, True), 0, ()), "no vote"),
    (qbft.ExtraData(b"\x00" * 32, (A.address, B.address), None, 3, ()), "round 0"),
    (qbft.ExtraData(b"\x00" * 32, (A.address, A.address), None, 0, ()), "twice"),
    (qbft.ExtraData(b"\x00" * 32, (), None, 0, ()), "no validators"),
])
def test_a_genesis_extra_data_out_of_format_is_refused(anchored: dict[str, Any], extra: qbft.ExtraData,
                                                       reason: str) -> None:
    document = copy.deepcopy(anchored["document"])
    document["extraData"] = "0x" + extra.encode().hex()
    with pytest.raises(VerificationError) as caught:
        GenesisTrust.from_document(document)
    assert caught.value.step == "genesis" and reason in caught.value.reason


def test_genesis_validators_in_any_order_are_the_same_set(anchored: dict[str, Any]) -> None:
    document = copy.deepcopy(anchored["document"])
    validators = tuple(sorted((k.address for k in GENESIS_VALIDATORS), reverse=True))
    document["extraData"] = "0x" + qbft.ExtraData(b"\x07" * 32, validators, None, 0, ()).encode().hex()
    # another extraData is another genesis block: the chain step says so; the set is still read
    trust = GenesisTrust.from_document(document)
    assert trust.genesis_hash != anchored["genesis"].genesis_hash
    assert sorted(trust.validators) == sorted(anchored["genesis"].validators)


# -- the submitter is the transaction's sender ----------------------------------------------

def test_an_anchoring_through_a_contract_is_refused(anchored: dict[str, Any]) -> None:
    failure = failure_of(anchored["forwarded"], anchored["genesis"], FORWARDED)
    assert failure.step == "anchoring event"
    assert failure.reason == (f"the event's submitter 0x{FORWARDER.hex()} is not the transaction's sender "
                              f"0x{MEMBER_ADDRESS.hex()}")


def test_the_docs_list_the_steps_in_the_verifiers_order() -> None:
    text = (ROOT / "docs" / "receipt.md").read_text()
    section = text.split("## Verification, step by step", 1)[1].split("\n## ", 1)[0]
    assert tuple(re.findall(r"^\d+\. \*\*(.+?)\*\*", section, re.MULTILINE)) == STEPS
