"""Step 11 of verify_receipt, trusted time: a receipt's RFC 3161 token over the anchored
value, checked with the TSA roots the caller gives; not checked without them (and said
so), and each way a token can fail to date the block failing at "trusted time" with the
token check's own step in the reason.

Receipts come from a chain of four fixed validator keys built in-process on LevelDB
(tests/unit/node/votechain.py): block 1 anchors one digest, block 2 the root of a batch of
three. Tokens come from the TSA code `ledger tsa serve` runs, with fixed keys and clocks
(tests/tsa.py).
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rlp
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from client.tsa_server import ACCURACY
from evidence import merkle
from evidence.mpt import OrderedTrie
from evidence.receipt import (
    DEFAULT_TSA_TOLERANCE,
    EVIDENCE_REGISTRY,
    STEPS,
    GenesisTrust,
    Receipt,
    VerificationError,
    build_receipts,
    verify_receipt,
)
from node.execution.chain import Chain
from node.execution.vm import TRANSACTION_BUILDER
from node.storage.store import LevelStore
from tests import tsa
from tests.unit.node.votechain import CHAIN_ID, MEMBER, A, B, anchor_transaction, commit, make_genesis, receipt_for

GENESIS_TIME = 1_777_622_400  # 2026-05-01T08:00:00Z
CONTENT = b"the infringing page, captured"
BATCH = [b"contract.pdf", b"bid-opening video", b"minutes"]
# The client asks the TSA before it sends the transaction: the token is a little older.
TSA_LEAD = timedelta(seconds=2)


def _batch_transaction(nonce: int, root: bytes, count: int) -> Any:
    selector = keccak(b"anchor(bytes32,uint256,string,string,uint8,bytes32)")[:4]
    data = selector + abi_encode(["bytes32", "uint256", "string", "string", "uint8", "bytes32"],
                                 [root, count, "contract", "P-001", 1, b"\x00" * 32])
    signed = MEMBER.sign_transaction({"nonce": nonce, "gas": 500_000, "gasPrice": 0, "value": 0, "data": data,
                                      "to": "0x" + EVIDENCE_REGISTRY.hex(), "chainId": CHAIN_ID})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


@dataclasses.dataclass(frozen=True)
class Anchored:
    genesis: GenesisTrust
    single: Receipt
    single_time: datetime
    batch: tuple[Receipt, ...]
    batch_time: datetime
    batch_token: bytes


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anchored]:
    store = LevelStore(tmp_path_factory.mktemp("trusted-time") / "chain")
    try:
        genesis = make_genesis(timestamp=GENESIS_TIME)
        chain = Chain.initialise(store, genesis)
        digest = hashlib.sha256(CONTENT).digest()
        first = commit(chain, A, transactions=[anchor_transaction(0, digest)])
        leaves = [hashlib.sha256(item).digest() for item in BATCH]
        root = merkle.MerkleTree([merkle.leaf_hash(d) for d in leaves]).root
        second = commit(chain, B, transactions=[_batch_transaction(1, root, len(leaves))])
        batch_time = datetime.fromtimestamp(second.timestamp, UTC)
        token = tsa.consortium().token(root, batch_time - TSA_LEAD)
        yield Anchored(
            genesis=GenesisTrust.from_document(genesis.document),
            single=receipt_for(chain, first, digest), single_time=datetime.fromtimestamp(first.timestamp, UTC),
            batch=tuple(_batch_receipts(chain, second, leaves, token)), batch_time=batch_time, batch_token=token,
        )
    finally:
        store.close()


def _batch_receipts(chain: Chain, header: Any, leaves: list[bytes], token: bytes | None = None) -> list[Receipt]:
    """The batch's receipts as client/anchoring.py builds them, each carrying `token`."""
    transactions, _ = chain.block_transactions(header)
    encoded = [tx.encode() for tx in transactions]
    raw = [r.encode() for r in chain.block_receipts(header)]
    return build_receipts(
        chain_id=CHAIN_ID, digests_=leaves, algorithm="sha256", kind="contract", case="P-001",
        metadata_digest=b"\x00" * 32, batched=True, block_number=header.block_number, block_hash=header.hash,
        transaction_index=0, transaction_hash=keccak(encoded[0]), log_index=0, header=rlp.encode(header),
        transaction=encoded[0], transaction_proof=OrderedTrie(encoded).proof(0), receipt=raw[0],
        receipt_proof=OrderedTrie(raw).proof(0), timestamp_token=token,
    )


def stamped(receipt: Receipt, token: bytes) -> Receipt:
    return dataclasses.replace(receipt, timestamp_token=token)


def failure(receipt: Receipt, genesis: GenesisTrust, content: bytes, **options: Any) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_receipt(receipt, genesis, content, **options)
    return caught.value


ROOTS = [tsa.consortium().root]


# -- verified ---------------------------------------------------------------------------------

def test_every_receipt_of_the_batch_carries_the_one_token_and_it_dates_the_block(anchored: Anchored) -> None:
    assert {r.timestamp_token for r in anchored.batch} == {anchored.batch_token}
    for receipt, content in zip(anchored.batch, BATCH):
        verified = verify_receipt(receipt, anchored.genesis, content, tsa_roots=ROOTS)
        assert verified.trusted_time_status == "verified"
        assert verified.trusted_time is not None
        assert verified.trusted_time.time == anchored.batch_time - TSA_LEAD
        assert verified.trusted_time.tsa_subject == "CN=Consortium TSA,O=某某公共资源交易中心"
        assert verified.trusted_time.serial == 1
        assert verified.trusted_time.root == tsa.consortium().root
        # Everything else is what the receipt proves without the token.
        plain = verify_receipt(stamped(receipt, None), anchored.genesis, content)  # type: ignore[arg-type]
        assert dataclasses.replace(verified, trusted_time_status="none", trusted_time=None) == plain


def test_a_digest_anchored_on_its_own_is_stamped_itself(anchored: Anchored) -> None:
    token = tsa.consortium().token(anchored.single.digest, anchored.single_time)
    verified = verify_receipt(stamped(anchored.single, token), anchored.genesis, CONTENT, tsa_roots=ROOTS)
    assert verified.trusted_time_status == "verified"


def test_a_token_earlier_than_the_block_is_accepted_and_one_at_the_tolerance_too(anchored: Anchored) -> None:
    receipt, root = anchored.batch[0], anchored.batch[0].anchored
    # At the tolerance: the TSA's stated accuracy (1 s) counts against it.
    for at in (anchored.batch_time - timedelta(hours=6), anchored.batch_time + DEFAULT_TSA_TOLERANCE - ACCURACY):
        token = tsa.consortium().token(root, at)
        verified = verify_receipt(stamped(receipt, token), anchored.genesis, BATCH[0], tsa_roots=ROOTS)
        assert verified.trusted_time is not None and verified.trusted_time.time == at


# -- not checked, or nothing to check --------------------------------------------------------

def test_without_roots_a_token_is_reported_not_checked(anchored: Anchored) -> None:
    verified = verify_receipt(anchored.batch[1], anchored.genesis, BATCH[1])
    assert (verified.trusted_time_status, verified.trusted_time) == ("not checked", None)
    # Not checked means nothing about it was: even another TSA's token is not judged.
    other = tsa.independent().token(anchored.batch[1].anchored, anchored.batch_time)
    verified = verify_receipt(stamped(anchored.batch[1], other), anchored.genesis, BATCH[1])
    assert verified.trusted_time_status == "not checked"


def test_roots_given_for_a_receipt_without_a_token_find_none(anchored: Anchored) -> None:
    verified = verify_receipt(anchored.single, anchored.genesis, CONTENT, tsa_roots=ROOTS)
    assert (verified.trusted_time_status, verified.trusted_time) == ("none", None)


# -- refused at "trusted time" ---------------------------------------------------------------

@pytest.mark.parametrize("case, check", [
    ("a token over another root", "message imprint"),
    ("an unrelated TSA's token", "certificate chain"),
    ("a token later than the block by more than the tolerance", "time"),
    ("a token whose certificate lacks the timeStamping EKU", "key usage"),
])
def test_a_token_that_does_not_date_this_batch_fails_at_trusted_time(anchored: Anchored, case: str, check: str) -> None:
    receipt, root, block = anchored.batch[2], anchored.batch[2].anchored, anchored.batch_time
    token = {
        "a token over another root": lambda: tsa.consortium().token(hashlib.sha256(b"another batch").digest(), block),
        "an unrelated TSA's token": lambda: tsa.independent().token(root, block),
        "a token later than the block by more than the tolerance":
            lambda: tsa.consortium().token(root, block + DEFAULT_TSA_TOLERANCE + timedelta(milliseconds=1)),
        "a token whose certificate lacks the timeStamping EKU": lambda: tsa.no_eku().token(root, block),
    }[case]()
    error = failure(stamped(receipt, token), anchored.genesis, BATCH[2],
                    tsa_roots=[tsa.consortium().root, tsa.no_eku().root])
    assert error.step == "trusted time"
    assert error.reason.startswith(f"{check}: "), error.reason


def test_the_tolerance_is_the_callers(anchored: Anchored) -> None:
    receipt, root = anchored.batch[0], anchored.batch[0].anchored
    late = tsa.consortium().token(root, anchored.batch_time + timedelta(minutes=2))
    assert failure(stamped(receipt, late), anchored.genesis, BATCH[0], tsa_roots=ROOTS).step == "trusted time"
    verified = verify_receipt(stamped(receipt, late), anchored.genesis, BATCH[0], tsa_roots=ROOTS,
                              tsa_tolerance=timedelta(minutes=3))
    assert verified.trusted_time_status == "verified"
    on_time = verify_receipt(receipt, anchored.genesis, BATCH[0], tsa_roots=ROOTS, tsa_tolerance=timedelta(0))
    assert on_time.trusted_time_status == "verified"  # TSA_LEAD before the block


def test_trusted_time_is_the_last_step() -> None:
    assert STEPS[-2:] == ("commit seals", "trusted time")


# -- the member ------------------------------------------------------------------------------

def test_the_token_travels_as_base64_der_and_round_trips(anchored: Anchored) -> None:
    receipt = anchored.batch[0]
    document = json.loads(receipt.to_json())
    assert base64.b64decode(document["timestamp"], validate=True) == anchored.batch_token
    assert Receipt.parse_text(receipt.to_json()) == receipt
    assert "timestamp" not in json.loads(anchored.single.to_json())


@pytest.mark.parametrize("value, words", [
    (12345, "must be a base64 string"),
    ("not base64!", "not base64"),
    ("QQ", "not base64"),                # padding missing
    ("QR==", "canonical"),               # non-zero padding bits: a second spelling of "A"
    (base64.b64encode(b"0" * 40).decode(), "not a time-stamp token"),
])
def test_a_malformed_timestamp_member_is_refused_at_format(anchored: Anchored, value: Any, words: str) -> None:
    document = json.loads(anchored.batch[0].to_json())
    document["timestamp"] = value
    with pytest.raises(VerificationError) as caught:
        Receipt.parse_text(json.dumps(document))
    assert caught.value.step == "format" and words in caught.value.reason


def test_build_receipts_refuses_what_is_not_a_token(anchored: Anchored) -> None:
    with pytest.raises(ValueError, match="structure"):
        build_receipts(
            chain_id=CHAIN_ID, digests_=[b"\x01" * 32], algorithm="sha256", kind="k", case="", metadata_digest=b"\x00" * 32,
            batched=False, block_number=1, block_hash=b"\x00" * 32, transaction_index=0, transaction_hash=b"\x00" * 32,
            log_index=0, header=b"", transaction=b"", transaction_proof=[], receipt=b"", receipt_proof=[],
            timestamp_token=b"not a token")
