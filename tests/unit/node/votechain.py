"""A chain of several validators on a real LevelDB, built block by block in-process: each
block proposed by one validator (with or without a vote) and sealed by the keys given.

Used by the validator-vote tests of the chain, the RPC, the chain verifier and receipts.
"""
from __future__ import annotations

from collections.abc import Sequence

import rlp
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

from evidence import qbft
from evidence.mpt import OrderedTrie
from evidence.receipt import EVIDENCE_REGISTRY, Receipt, build_receipts
from node.consensus.sealing import VANITY, ValidatorKey, with_seals
from node.execution.chain import Chain
from node.execution.genesis import Genesis, build_genesis_document
from node.execution.vm import TRANSACTION_BUILDER, QBFTHeader

# Five fixed keys; A..D are the genesis validators, X the one voted in. Named in address
# order so that the sorted validator lists are easy to read.
_KEYS = sorted((ValidatorKey(bytes([0x40 + i]) * 32) for i in range(5)), key=lambda k: k.address)
A, B, C, D, X = _KEYS
GENESIS_VALIDATORS = (A, B, C, D)
MEMBER = Account.from_key(b"\x02" * 32)
MEMBER_ADDRESS = bytes.fromhex(MEMBER.address[2:])
CHAIN_ID = 1337


def make_genesis(epoch_length: int = 30_000, validators: Sequence[ValidatorKey] = GENESIS_VALIDATORS,
                 timestamp: int | None = None) -> Genesis:
    """The test chain's genesis; `timestamp` fixes its time (block times follow from it)."""
    # Given unsorted: the genesis document sorts them.
    document = build_genesis_document(
        chain_id=CHAIN_ID, validators=[k.address for k in reversed(validators)], alloc={MEMBER_ADDRESS: 10**21},
        members=[(MEMBER_ADDRESS, "ADMIN")])
    document["config"]["qbft"]["epochlength"] = epoch_length
    if timestamp is not None:
        document["timestamp"] = hex(timestamp)
    return Genesis.parse(document)


def propose(chain: Chain, proposer: ValidatorKey, vote: qbft.Vote | None = None,
            signers: Sequence[ValidatorKey] | None = None, transactions: Sequence = (),
            validators: Sequence[bytes] | None = None) -> tuple[QBFTHeader, object]:
    """A block on the head proposed by `proposer` carrying `vote`, sealed by `signers`
    (default: every validator of the set after the head); not committed."""
    listed = tuple(validators) if validators is not None else chain.validators_after(chain.head)
    built = chain.build_block(list(transactions), timestamp=chain.head.timestamp + 1, coinbase=proposer.address,
                              extra=qbft.ExtraData(VANITY, listed, vote, 0, ()))
    keys = signers if signers is not None else [k for k in _KEYS if k.address in listed]
    return with_seals(built.header, [k.commit_seal(built.header) for k in keys]), built


def commit(chain: Chain, proposer: ValidatorKey, vote: qbft.Vote | None = None,
           signers: Sequence[ValidatorKey] | None = None, transactions: Sequence = ()) -> QBFTHeader:
    sealed, built = propose(chain, proposer, vote, signers, transactions)
    assert not built.rejected, built.rejected  # type: ignore[attr-defined]
    chain.commit(sealed, built, [tx.sender for tx in built.transactions])  # type: ignore[attr-defined, arg-type]
    return sealed


def add(key: ValidatorKey) -> qbft.Vote:
    return qbft.Vote(key.address, True)


def drop(key: ValidatorKey) -> qbft.Vote:
    return qbft.Vote(key.address, False)


def vote_in_x_then_out_d(chain: Chain) -> None:
    """Blocks 1-7: A, B, C vote X in (3 of 4); block 4 is sealed by the 5; A, B, X vote D
    out (3 of 5); after block 7 the set is A, B, C, X."""
    commit(chain, A, add(X))
    commit(chain, B, add(X))
    commit(chain, C, add(X))
    commit(chain, D)
    commit(chain, A, drop(D))
    commit(chain, B, drop(D))
    commit(chain, X, drop(D))


def anchor_transaction(nonce: int, digest: bytes, case: str = "IP-2026-77"):  # type: ignore[no-untyped-def]
    """The member's call EvidenceRegistry.anchor(digest, 1, "web-capture", case, sha256, 0)."""
    selector = keccak(b"anchor(bytes32,uint256,string,string,uint8,bytes32)")[:4]
    data = selector + abi_encode(["bytes32", "uint256", "string", "string", "uint8", "bytes32"],
                                 [digest, 1, "web-capture", case, 1, b"\x00" * 32])
    signed = MEMBER.sign_transaction({"nonce": nonce, "gas": 500_000, "gasPrice": 0, "to": "0x" + EVIDENCE_REGISTRY.hex(),
                                      "value": 0, "data": data, "chainId": CHAIN_ID})
    return TRANSACTION_BUILDER.decode(bytes(signed.raw_transaction))


def receipt_for(chain: Chain, header: QBFTHeader, digest: bytes, case: str = "IP-2026-77") -> Receipt:
    """The receipt of the single anchoring transaction in block `header`, built from the
    chain as client/anchoring.py builds it from a node (history up to the parent)."""
    transactions, _ = chain.block_transactions(header)
    receipts = chain.block_receipts(header)
    encoded = [tx.encode() for tx in transactions]
    raw_receipts = [r.encode() for r in receipts]
    history = [rlp.encode(chain.header_by_number(h)) for h in chain.vote_heights(0, header.block_number - 1)]
    (receipt,) = build_receipts(
        chain_id=CHAIN_ID, digests_=[digest], algorithm="sha256", kind="web-capture", case=case,
        metadata_digest=b"\x00" * 32, batched=False, block_number=header.block_number, block_hash=header.hash,
        transaction_index=0, transaction_hash=keccak(encoded[0]), log_index=0, header=rlp.encode(header),
        transaction=encoded[0], transaction_proof=OrderedTrie(encoded).proof(0), receipt=raw_receipts[0],
        receipt_proof=OrderedTrie(raw_receipts).proof(0), validator_history=history,
    )
    return receipt
