"""Anchoring evidence from the SDK: digests and batch roots into the evidence registry,
and the offline receipts (evidence/receipt.py) built from the node's raw block data and
the vote-carrying headers that carry the validator set from genesis to the block."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak
from web3.types import RPCEndpoint

from client.auth import is_unauthorized, refusal_message
from client.ledger import Ledger, LedgerError, TxResult, Unauthorized
from evidence import digest as digests, merkle, qbft
from evidence.mpt import OrderedTrie
from evidence.receipt import Receipt, build_receipts

ZERO32 = b"\x00" * 32
# A batch anchors one root for up to this many digests (evidence.merkle's tree cap is
# 2**32; a million receipts is what one CLI run writes in reasonable time and memory).
MAX_BATCH = 1_000_000
METHOD_NOT_FOUND = -32601  # JSON-RPC 2.0: a node from before ledger_chainInfo


@dataclass(frozen=True)
class Anchoring:
    """What an anchoring returns: the transaction, and one receipt per digest in the batch's order."""

    result: TxResult
    receipts: list[Receipt]


def anchor(
    ledger: Ledger, digest: bytes, *, kind: str, case: str = "", algorithm: str = "sha256",
    metadata_digest: bytes = ZERO32, gas: int | None = None,
) -> Anchoring:
    """Anchor one digest on its own; returns the transaction and the entry's receipt."""
    return _anchor(ledger, [digest], batched=False, kind=kind, case=case, algorithm=algorithm,
                   metadata_digest=metadata_digest, gas=gas)


def anchor_batch(
    ledger: Ledger, batch: Sequence[bytes], *, kind: str, case: str = "", algorithm: str = "sha256",
    metadata_digest: bytes = ZERO32, gas: int | None = None,
) -> Anchoring:
    """Anchor the RFC 9162 root of `batch` in one transaction; one receipt per digest,
    in the batch's order."""
    if not 1 <= len(batch) <= MAX_BATCH:
        raise LedgerError(f"a batch holds 1 to {MAX_BATCH} digests, got {len(batch)}")
    return _anchor(ledger, list(batch), batched=True, kind=kind, case=case, algorithm=algorithm,
                   metadata_digest=metadata_digest, gas=gas)


def _anchor(
    ledger: Ledger, batch: list[bytes], *, batched: bool, kind: str, case: str, algorithm: str,
    metadata_digest: bytes, gas: int | None,
) -> Anchoring:
    if any(len(d) != 32 for d in batch):
        raise LedgerError("digests are 32 bytes")
    algorithm_id = digests.algorithm_id(algorithm)
    if batched:
        anchored = merkle.root_from_leaf_hashes([merkle.leaf_hash(d) for d in batch])
    else:
        anchored = batch[0]
    function = ledger.evidence.functions.anchor(anchored, len(batch), kind, case, algorithm_id, metadata_digest)
    result = ledger.transact(function, gas=gas)
    receipts = receipts_for(ledger, result, batch, batched=batched, kind=kind, case=case,
                            algorithm=algorithm, metadata_digest=metadata_digest)
    return Anchoring(result, receipts)


def receipts_for(
    ledger: Ledger, result: TxResult, batch: list[bytes], *, batched: bool, kind: str, case: str,
    algorithm: str, metadata_digest: bytes,
) -> list[Receipt]:
    """Receipts of an anchoring transaction, from the raw header, block and receipts, and
    the validator history up to the block's parent (ledger_getValidatorHistory)."""
    block = result.block_number
    raw_header = _raw(ledger, "debug_getRawHeader", block)
    history = [bytes.fromhex(h[2:]) for h in ledger.rpc("ledger_getValidatorHistory", [hex(block - 1)])]
    raw_block = _raw(ledger, "debug_getRawBlock", block)
    raw_receipts = [bytes.fromhex(r[2:]) for r in ledger.rpc("debug_getRawReceipts", [hex(block)])]
    _, transactions, _, _ = rlp.decode(raw_block)
    encoded = [rlp.encode(tx) if isinstance(tx, list) else tx for tx in transactions]
    index = _index_of(encoded, result.tx_hash)
    logs = rlp.decode(raw_receipts[index][1:] if raw_receipts[index][0] < 0x80 else raw_receipts[index])[3]
    log_index = next(i for i, log in enumerate(logs) if log[0] == ledger.evidence_address_bytes)
    genesis_hash, chain_name = chain_identity(ledger) or (None, None)
    return build_receipts(
        chain_id=ledger.chain_id, digests_=batch, algorithm=algorithm, kind=kind, case=case,
        metadata_digest=metadata_digest, batched=batched, block_number=block,
        block_hash=_block_hash(raw_header), transaction_index=index, transaction_hash=keccak(encoded[index]),
        log_index=log_index, header=raw_header, transaction=encoded[index],
        transaction_proof=OrderedTrie(encoded).proof(index), receipt=raw_receipts[index],
        receipt_proof=OrderedTrie(raw_receipts).proof(index), validator_history=history,
        genesis_hash=genesis_hash, chain_name=chain_name,
    )


def chain_identity(ledger: Ledger) -> tuple[bytes, str] | None:
    """The chain's genesis hash and name as the node reports them (ledger_chainInfo),
    which v2 receipts state; None from a node too old to report them (v1 receipts)."""
    response = ledger.w3.provider.make_request(RPCEndpoint("ledger_chainInfo"), [])
    error = response.get("error")
    if error is not None:
        if isinstance(error, Mapping) and error.get("code") == METHOD_NOT_FOUND:
            return None
        if is_unauthorized(error):
            raise Unauthorized(refusal_message(f"ledger_chainInfo: {error.get('message')}"))
        raise LedgerError(f"ledger_chainInfo: {error.get('message') if isinstance(error, Mapping) else error}")
    info: Any = response.get("result")
    try:
        genesis_hash = bytes.fromhex(str(info["genesisHash"]).removeprefix("0x"))
        name = info["chainName"]
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"ledger_chainInfo: not a chain's identity: {info!r}") from exc
    if len(genesis_hash) != 32 or not isinstance(name, str):
        raise LedgerError(f"ledger_chainInfo: not a chain's identity: {info!r}")
    return genesis_hash, name


def _raw(ledger: Ledger, method: str, block: int) -> bytes:
    return bytes.fromhex(str(ledger.rpc(method, [hex(block)]))[2:])


def _block_hash(raw_header: bytes) -> bytes:
    return qbft.block_hash(rlp.decode(raw_header))


def _index_of(encoded: list[bytes], tx_hash: bytes) -> int:
    for index, tx in enumerate(encoded):
        if keccak(tx) == tx_hash:
            return index
    raise LedgerError(f"transaction 0x{tx_hash.hex()} is not in its block")
