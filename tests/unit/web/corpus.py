"""The receipts both verifiers are run over (tests/unit/web/test_agreement.py): valid ones
and the tamper cases the suite already has, each with the file and genesis.json it is
checked against.

Receipts come from an in-process chain of fixed validator keys (tests/unit/node/votechain.py):
block 1 anchors a batch of five files (v2 receipts), blocks 2-7 vote X in and D out, block
8 anchors one file after the change (its receipt carries the vote history), block 9 one
file by SM3. The tamper cases are tests/integration/test_evidence_receipts.py MUTATIONS
(every field changed in turn), tests/unit/evidence/test_receipt_votes.py HISTORY_MUTATIONS,
seals dropped, other chains' genesis files, documents that are not RFC 8259, and the stored
v1 receipts of tests/vectors/receipt_v1.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rlp
from cryptography.hazmat.primitives import hashes
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from evidence import merkle, qbft
from evidence.mpt import OrderedTrie
from evidence.receipt import EVIDENCE_REGISTRY, GenesisTrust, Receipt, VerificationError, build_receipts, verify_receipt
from node.execution.chain import Chain
from node.execution.vm import TRANSACTION_BUILDER, QBFTHeader
from node.storage.store import LevelStore
from tests import tsa
from tests.integration.test_evidence_receipts import MUTATIONS
from tests.unit.evidence.test_receipt_votes import HISTORY_MUTATIONS
from tests.unit.node.votechain import CHAIN_ID, MEMBER, A, X, commit, make_genesis, vote_in_x_then_out_d

ROOT = Path(__file__).resolve().parents[3]
V1 = ROOT / "tests" / "vectors" / "receipt_v1"
BATCH = [f"evidence file {i}\n".encode() for i in range(5)]
AFTER = b"a web capture, after the validator set changed"
SM3_FILE = "国密 SM3 存证\n".encode()


@dataclass(frozen=True)
class Case:
    name: str
    receipt: bytes  # the receipt document as a file holds it
    content: bytes | None  # the evidence file (None: not given)
    genesis: str  # genesis.json's text


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def python_verdict(case: Case) -> str:
    """What evidence/receipt.py says: "valid", or the step that failed."""
    try:
        try:
            document = json.loads(case.genesis)
        except ValueError as exc:  # as `ledger evidence verify` refuses it, named like the browser's
            raise VerificationError("genesis", f"not JSON: {exc}") from exc
        trust = GenesisTrust.from_document(document)
        verify_receipt(Receipt.parse_text(case.receipt), trust, case.content)
    except VerificationError as exc:
        return exc.step
    return "valid"


def _anchor(nonce: int, anchored: bytes, leaf_count: int, algorithm: int) -> Any:
    selector = keccak(b"anchor(bytes32,uint256,string,string,uint8,bytes32)")[:4]
    data = selector + abi_encode(["bytes32", "uint256", "string", "string", "uint8", "bytes32"],
                                 [anchored, leaf_count, "web-capture", "IP-2026-77", algorithm, b"\x00" * 32])
    signed = MEMBER.sign_transaction({"nonce": nonce, "gas": 500_000, "gasPrice": 0, "value": 0, "data": data,
                                      "to": "0x" + EVIDENCE_REGISTRY.hex(), "chainId": CHAIN_ID})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


def _receipts(chain: Chain, header: QBFTHeader, digests: list[bytes], algorithm: str, batched: bool,
              genesis_name: str) -> list[Receipt]:
    transactions, _ = chain.block_transactions(header)
    encoded = [tx.encode() for tx in transactions]
    raw = [r.encode() for r in chain.block_receipts(header)]
    history = [rlp.encode(chain.header_by_number(h)) for h in chain.vote_heights(0, header.block_number - 1)]
    return build_receipts(
        chain_id=CHAIN_ID, digests_=digests, algorithm=algorithm, kind="web-capture", case="IP-2026-77",
        metadata_digest=b"\x00" * 32, batched=batched, block_number=header.block_number, block_hash=header.hash,
        transaction_index=0, transaction_hash=keccak(encoded[0]), log_index=0, header=rlp.encode(header),
        transaction=encoded[0], transaction_proof=OrderedTrie(encoded).proof(0), receipt=raw[0],
        receipt_proof=OrderedTrie(raw).proof(0), validator_history=history,
        genesis_hash=chain.genesis_header.hash, chain_name=genesis_name)


def _text(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1).encode()


def build_corpus(directory: Path) -> list[Case]:
    genesis = make_genesis()
    genesis_text = json.dumps(genesis.document, indent=1)
    store = LevelStore(directory / "chain")
    try:
        chain = Chain.initialise(store, genesis)
        digests = [hashlib.sha256(c).digest() for c in BATCH]
        root = merkle.MerkleTree([merkle.leaf_hash(d) for d in digests]).root
        first = commit(chain, A, transactions=[_anchor(0, root, len(BATCH), 1)])  # 1
        vote_in_x_then_out_d(chain)  # 2-7
        last = commit(chain, X, transactions=[_anchor(1, hashlib.sha256(AFTER).digest(), 1, 1)])  # 8
        by_sm3 = commit(chain, A, transactions=[_anchor(2, sm3(SM3_FILE), 1, 2)])  # 9
        batch = _receipts(chain, first, digests, "sha256", True, genesis.chain_name)
        (after,) = _receipts(chain, last, [hashlib.sha256(AFTER).digest()], "sha256", False, genesis.chain_name)
        (sm3_receipt,) = _receipts(chain, by_sm3, [sm3(SM3_FILE)], "sm3", False, genesis.chain_name)
        votes = {"unvoted": rlp.encode(first), "history": [rlp.encode(chain.header_by_number(h)) for h in range(2, 8)],
                 "anchoring": chain.header_by_number(8)}
    finally:
        store.close()

    cases = [
        Case("valid batch leaf 3", batch[3].to_json().encode(), BATCH[3], genesis_text),
        Case("valid batch leaf 0", batch[0].to_json().encode(), BATCH[0], genesis_text),
        Case("valid after votes", after.to_json().encode(), AFTER, genesis_text),
        Case("valid sm3", sm3_receipt.to_json().encode(), SM3_FILE, genesis_text),
        Case("valid without the file", batch[1].to_json().encode(), None, genesis_text),
        Case("changed file", batch[3].to_json().encode(), b"X" + BATCH[3][1:], genesis_text),
        Case("another file of the batch", batch[3].to_json().encode(), BATCH[2], genesis_text),
        Case("sm3 file as sha256", sm3_receipt.to_json().encode().replace(b'"sm3"', b'"sha256"'), SM3_FILE,
             genesis_text),
    ]
    # every field of a receipt changed in turn (the integration suite's table)
    base = batch[3].to_document()
    for index, (path, mutate, _) in enumerate(MUTATIONS):
        document = copy.deepcopy(base)
        obj = document
        *parents, leaf = path.split(".")
        for name in parents:
            obj = obj[name]
        obj[leaf] = mutate(obj[leaf])
        cases.append(Case(f"mutation {index} {path}", _text(document), BATCH[3], genesis_text))
    # the vote history changed every way the unit suite changes it
    for name, mutate_history, _ in HISTORY_MUTATIONS:
        document = after.to_document()
        document["proof"]["validatorHistory"] = mutate_history(document["proof"]["validatorHistory"], votes)
        cases.append(Case(f"history: {name}", _text(document), AFTER, genesis_text))
    # seals dropped: none, and one short of the quorum
    for keep, label in ((0, "no seals"), (2, "seals below quorum")):
        fields = rlp.decode(after.header)
        extra = qbft.extra_data_of(fields)
        fields[12] = qbft.ExtraData(extra.vanity, extra.validators, extra.vote, extra.round, extra.seals[:keep]).encode()
        document = after.to_document()
        document["proof"]["header"] = "0x" + rlp.encode(fields).hex()
        cases.append(Case(label, _text(document), AFTER, genesis_text))
    # another chain's genesis: another chain id, other validators, another name, epoch length
    for label, change in _other_genesis_changes():
        other = copy.deepcopy(dict(genesis.document))
        change(other)
        cases.append(Case(f"genesis: {label}", batch[3].to_json().encode(), BATCH[3], json.dumps(other)))
    # documents that are not receipts
    text = batch[3].to_json()
    cases += [
        Case("member named twice", text.replace('"chainId": 1337', '"chainId": 1337, "chainId": 1337', 1).encode(),
             BATCH[3], genesis_text),
        Case("NaN", text.replace('"logIndex": 0', '"logIndex": NaN').encode(), BATCH[3], genesis_text),
        Case("float where an integer goes", text.replace('"logIndex": 0', '"logIndex": 0.0').encode(), BATCH[3],
             genesis_text),
        Case("nested 40 deep", text.replace('"batch": {', '"x": ' + "[" * 40 + "]" * 40 + ', "batch": {').encode(),
             BATCH[3], genesis_text),
        Case("not UTF-8", text.encode().replace(b"web-capture", b"web-\xff"), BATCH[3], genesis_text),
        Case("not JSON", b"{", BATCH[3], genesis_text),
        Case("unknown member ignored", text.replace('"batch": {', '"comment": "x", "batch": {').encode(), BATCH[3],
             genesis_text),
        Case("algorithm spelled SHA-256", text.replace('"sha256"', '"SHA-256"').encode(), BATCH[3], genesis_text),
        Case("genesis not JSON", batch[3].to_json().encode(), BATCH[3], "{"),
    ]
    cases += _strict_cases(batch[3].to_document(), after.to_document(), genesis_text)
    # the stored v1 receipts, against their genesis and another chain's
    v1_genesis = (V1 / "genesis.json").read_text()
    for name in ("index.html", "single.txt"):
        receipt = (V1 / f"{name}.receipt.json").read_bytes()
        cases.append(Case(f"v1 {name}", receipt, (V1 / name).read_bytes(), v1_genesis))
        cases.append(Case(f"v1 {name} against another chain", receipt, (V1 / name).read_bytes(), genesis_text))
    return cases


def _strict_cases(document: dict[str, Any], single: dict[str, Any], genesis_text: str) -> list[Case]:
    """What docs/receipt.md's Conventions refuse since the verifiers were tightened
    (tests/unit/evidence/test_receipt_strict.py, test_genesis_strict.py): each at `format`,
    or at `genesis` for genesis.json, in both verifiers."""
    cases = []

    def changed(name: str, change: Callable[[dict[str, Any]], None], base: dict[str, Any] = document,
                content: bytes | None = BATCH[3]) -> None:
        doc = copy.deepcopy(base)
        change(doc)
        cases.append(Case(f"strict: {name}", _text(doc), content, genesis_text))

    digest = document["entry"]["digest"]
    changed("digest upper-cased", lambda d: d["entry"].update(digest="0x" + digest[2:].upper()))
    changed("a space between hex pairs", lambda d: d["entry"].update(digest=digest[:4] + " " + digest[4:]))
    changed("0X prefix", lambda d: d["entry"].update(digest="0X" + digest[2:]))
    changed("33-byte kind", lambda d: d["entry"].update(kind="k" * 33))
    changed("batch deleted", lambda d: d.pop("batch"), single, AFTER)
    changed("algorithm with a byte-order mark", lambda d: d["entry"].update(algorithm="\ufeffsha256"))
    changed("algorithm with a vertical tab", lambda d: d["entry"].update(algorithm="sha256\u000b"))
    changed("algorithm with JSON white space", lambda d: d["entry"].update(algorithm=" SHA-256\n"))
    text = json.dumps(document, indent=1)
    lone = text.replace('"case": "IP-2026-77"', '"case": "IP-\\ud800"')
    assert lone != text
    cases.append(Case("strict: a lone surrogate in case", lone.encode(), BATCH[3], genesis_text))
    for digits, label in ((79, "a 79-digit integer in an unknown member"), (78, "a 78-digit integer in an unknown member")):
        cases.append(Case(f"strict: {label}", text.replace('"batch": {', f'"note": -{"9" * digits}, "batch": {{', 1)
                          .encode(), BATCH[3], genesis_text))
    # the time-stamp token: its structure is checked at format (docs/timestamps.md step 1)
    token = tsa.consortium().token(bytes.fromhex(document["batch"]["root"][2:]), datetime(2026, 1, 1, tzinfo=UTC))
    for label, raw in (("a real token", token), ("a token with a byte after it", token + b"\x00"),
                       ("a token cut short", token[:-1]),
                       ("a ContentInfo of data", token.replace(bytes.fromhex("06092a864886f70d010702"),
                                                                bytes.fromhex("06092a864886f70d010701"), 1))):
        changed(f"timestamp: {label}", lambda d, raw=raw: d.update(timestamp=base64.b64encode(raw).decode()))
    changed("timestamp AAAA", lambda d: d.update(timestamp="AAAA"))
    # genesis.json: numbers are JSON integers or 0x-hex/decimal strings; hex has no spaces
    genesis = json.loads(genesis_text)
    for epoch in (" 12 ", 30000.5, "0o17", "1_000", "0X1F", 2**31, "12"):
        other = copy.deepcopy(genesis)
        other["config"]["qbft"]["epochlength"] = epoch
        cases.append(Case(f"strict: genesis epochlength {epoch!r}", _text(document), BATCH[3], json.dumps(other)))
    other = copy.deepcopy(genesis)
    other["extraData"] = other["extraData"][:10] + " " + other["extraData"][10:]
    cases.append(Case("strict: genesis extraData with a space", _text(document), BATCH[3], json.dumps(other)))
    return cases


def _other_genesis_changes() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def chain_id(doc: dict[str, Any]) -> None:
        doc["config"] = {**doc["config"], "chainId": 4242}

    def validators(doc: dict[str, Any]) -> None:
        extra = qbft.ExtraData.decode(bytes.fromhex(doc["extraData"][2:]))
        doc["extraData"] = "0x" + qbft.ExtraData(extra.vanity, (b"\x42" * 20,), None, 0, ()).encode().hex()

    def name(doc: dict[str, Any]) -> None:
        doc["evidenceLedger"] = {**doc.get("evidenceLedger", {}), "chainName": "another name"}

    def epoch(doc: dict[str, Any]) -> None:
        doc["config"] = {**doc["config"], "qbft": {**doc["config"]["qbft"], "epochlength": 3}}

    def balance(doc: dict[str, Any]) -> None:
        account = next(iter(doc["alloc"]))
        doc["alloc"] = {**doc["alloc"], account: {**doc["alloc"][account], "balance": "0x1"}}

    def bad_extra(doc: dict[str, Any]) -> None:
        doc["extraData"] = "0x00"

    return [("chain id 4242", chain_id), ("other validators", validators), ("another name", name),
            ("epoch length 3", epoch), ("another balance", balance), ("extraData not QBFT", bad_extra)]
