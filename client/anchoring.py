"""Anchoring evidence from the SDK: digests and batch roots into the evidence registry,
and the offline receipts (evidence/receipt.py) built from the node's raw block data and
the vote-carrying headers that carry the validator set from genesis to the block.

With `tsa_url`, one RFC 3161 token over the anchored value (the batch root, or the lone
digest) is asked of that time-stamping authority *before* the transaction is sent
(client/timestamping.py), and every receipt of the batch carries it: the TSA's time is
then at or before the block's, so the verifier's tolerance only has to cover clock error
(evidence.receipt.DEFAULT_TSA_TOLERANCE), and a TSA that cannot answer stops the anchoring
before anything is on chain."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import rlp
from eth_hash.auto import keccak
from web3.types import RPCEndpoint

from client.auth import is_unauthorized, refusal_message
from client.http import HttpClient, HttpError
from client.ledger import Ledger, LedgerError, NodeProvider, TxResult, Unauthorized
from client.timestamping import request_timestamp
from evidence import digest as digests, merkle, qbft
from evidence.mpt import OrderedTrie
from evidence.receipt import Batch, Receipt, build_receipts

ZERO32 = b"\x00" * 32
# A batch anchors one root for up to this many digests (evidence.merkle's tree cap is
# 2**32; a million receipts is what one CLI run writes in reasonable time and memory).
MAX_BATCH = 1_000_000
METHOD_NOT_FOUND = -32601  # JSON-RPC 2.0: a node from before ledger_chainInfo
# Handing a batch's members over (PUT /v1/evidence/{root}/members, docs/rest.md): the node
# answers 409 until the root's block is stored and 429/503 while other uploads run; the
# SDK asks again every MEMBER_RETRY_SECONDS for at most MEMBER_HANDOVER_SECONDS (a million
# members take a few seconds to verify and write, and four uploads may be ahead).
MEMBER_HANDOVER_SECONDS = 60.0
MEMBER_RETRY_SECONDS = 1.0
MEMBER_RETRY_STATUSES = frozenset({409, 429, 503})
# The node's answers about members are a line of JSON, or a page of entries and a path.
MAX_MEMBER_REPLY_BYTES = 4 * 1024 * 1024
# Pages of a digest's entries read to find one to rebuild a receipt from (1,000 each):
# the same file anchored in more than 10,000 batches is not one a caller means.
MAX_ENTRY_PAGES = 10


@dataclass(frozen=True)
class Anchoring:
    """What an anchoring returns: the transaction, and one receipt per digest in the batch's order."""

    result: TxResult
    receipts: list[Receipt]
    # A batch's members handed to the node (anchor_batch); None for a lone digest.
    members: MemberHandover | None = None


@dataclass(frozen=True)
class MemberHandover:
    """Whether the node now holds a batch's members, so each is found by its own digest
    (`GET /v1/evidence/{digest}`, `rebuild_receipt`); `reason` says why not, when not
    (not asked, or the node's refusal). The anchoring and its receipts stand either way."""

    indexed: bool
    reason: str | None = None


def anchor(
    ledger: Ledger, digest: bytes, *, kind: str, case: str = "", algorithm: str = "sha256",
    metadata_digest: bytes = ZERO32, gas: int | None = None, tsa_url: str | None = None,
    timestamp_token: bytes | None = None,
) -> Anchoring:
    """Anchor one digest on its own; returns the transaction and the entry's receipt
    (with `tsa_url`, carrying a time-stamp token over the digest; or the `timestamp_token`
    the caller already asked for over `anchored_value`)."""
    return _anchor(ledger, [digest], batched=False, kind=kind, case=case, algorithm=algorithm,
                   metadata_digest=metadata_digest, gas=gas, tsa_url=tsa_url, timestamp_token=timestamp_token)


def anchor_batch(
    ledger: Ledger, batch: Sequence[bytes], *, kind: str, case: str = "", algorithm: str = "sha256",
    metadata_digest: bytes = ZERO32, gas: int | None = None, tsa_url: str | None = None,
    index_members: bool = True, timestamp_token: bytes | None = None,
) -> Anchoring:
    """Anchor the RFC 9162 root of `batch` in one transaction; one receipt per digest,
    in the batch's order. With `tsa_url`, one RFC 3161 token over the root, asked before
    the transaction is sent, goes into every receipt (`TimestampingError` if the TSA does
    not give one: then nothing was sent); or `timestamp_token`, a token the caller asked for
    over `anchored_value(batch, batched=True)` before doing other work that should not
    happen without it (the CLI: before storing sealed files). Then the digests go to the node, which indexes
    each under the root once it has checked them against it (`Anchoring.members`), unless
    `index_members` is False."""
    if not 1 <= len(batch) <= MAX_BATCH:
        raise LedgerError(f"a batch holds 1 to {MAX_BATCH} digests, got {len(batch)}")
    anchoring = _anchor(ledger, list(batch), batched=True, kind=kind, case=case, algorithm=algorithm,
                        metadata_digest=metadata_digest, gas=gas, tsa_url=tsa_url, timestamp_token=timestamp_token)
    # Once the root is on chain, the node may check the members against it and index each
    # (index_members=False: a batch whose digests are themselves confidential).
    if not index_members:
        return replace(anchoring, members=MemberHandover(False, "not handed over (index_members=False)"))
    return replace(anchoring, members=hand_over_members(ledger, anchoring.receipts[0].anchored, batch))


def anchored_value(batch: Sequence[bytes], *, batched: bool) -> bytes:
    """What one anchoring puts on chain: the RFC 9162 root of the batch's digests, or a lone
    digest itself; what a time-stamp token for that anchoring is asked over."""
    if batched:
        return merkle.root_from_leaf_hashes([merkle.leaf_hash(d) for d in batch])
    return batch[0]


def _anchor(
    ledger: Ledger, batch: list[bytes], *, batched: bool, kind: str, case: str, algorithm: str,
    metadata_digest: bytes, gas: int | None, tsa_url: str | None = None, timestamp_token: bytes | None = None,
) -> Anchoring:
    if any(len(d) != 32 for d in batch):
        raise LedgerError("digests are 32 bytes")
    if tsa_url is not None and timestamp_token is not None:
        raise ValueError("give tsa_url or timestamp_token, not both")
    algorithm_id = digests.algorithm_id(algorithm)
    anchored = anchored_value(batch, batched=batched)
    # Before the transaction, so that the TSA's time is not after the block's (module docstring).
    token = request_timestamp(tsa_url, anchored) if tsa_url is not None else timestamp_token
    function = ledger.evidence.functions.anchor(anchored, len(batch), kind, case, algorithm_id, metadata_digest)
    result = ledger.transact(function, gas=gas)
    receipts = receipts_for(ledger, result, batch, batched=batched, kind=kind, case=case,
                            algorithm=algorithm, metadata_digest=metadata_digest, timestamp_token=token)
    return Anchoring(result, receipts)


def receipts_for(
    ledger: Ledger, result: TxResult, batch: list[bytes], *, batched: bool, kind: str, case: str,
    algorithm: str, metadata_digest: bytes, timestamp_token: bytes | None = None,
) -> list[Receipt]:
    """Receipts of an anchoring transaction, from the raw header, block and receipts, and
    the validator history up to the block's parent (ledger_getValidatorHistory);
    `timestamp_token`, the batch's RFC 3161 token if it has one, goes into each."""
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
        genesis_hash=genesis_hash, chain_name=chain_name, timestamp_token=timestamp_token,
    )


def hand_over_members(ledger: Ledger, root: bytes, batch: Sequence[bytes]) -> MemberHandover:
    """Give the node the members of the batch anchored under `root` (PUT
    /v1/evidence/{root}/members, its leaves in tree order), asking again while it answers
    that the root is not on chain yet or that other uploads run (MEMBER_RETRY_STATUSES),
    for at most MEMBER_HANDOVER_SECONDS. Any other refusal (a role without evidence:write,
    the caller's quota, a node from before member indexing) is returned, not raised: the
    anchoring stands, and each receipt still proves its entry."""
    http = node_http(ledger)
    body = b"".join(batch)
    deadline = time.monotonic() + MEMBER_HANDOVER_SECONDS
    while True:
        try:
            http.request("PUT", f"v1/evidence/0x{root.hex()}/members", body=body,
                         content_type="application/octet-stream", limit=MAX_MEMBER_REPLY_BYTES)
            return MemberHandover(True)
        except HttpError as exc:
            if exc.status not in MEMBER_RETRY_STATUSES or time.monotonic() + MEMBER_RETRY_SECONDS > deadline:
                return MemberHandover(False, str(exc))
        time.sleep(MEMBER_RETRY_SECONDS)


class EvidenceNotFound(LedgerError):
    """The node knows no anchoring of `digest` and holds no batch that has it as a member."""

    def __init__(self, digest: bytes, detail: str) -> None:
        super().__init__(f"0x{digest.hex()} is not anchored, and no batch whose members the node holds has it "
                         f"({detail})")
        self.digest = digest


def evidence_entries(ledger: Ledger, digest: bytes) -> list[dict[str, Any]]:
    """What the node's evidence index holds for `digest` (GET /v1/evidence/{digest}), in
    chain order: its own anchorings (`batch` null) and the batches it is a member of
    (`batch`: root, leafIndex, treeSize). EvidenceNotFound when there is neither."""
    http = node_http(ledger)
    entries: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(MAX_ENTRY_PAGES):
        try:
            page = http.get_json(f"v1/evidence/0x{digest.hex()}", {"limit": 1000, "after": after},
                                 limit=MAX_MEMBER_REPLY_BYTES)
        except HttpError as exc:
            if exc.status == 404:
                raise EvidenceNotFound(digest, exc.message) from None
            raise
        entries.extend(page["items"])
        after = page["next"]
        if after is None:
            break
    return entries


def rebuild_receipt(ledger: Ledger, digest: bytes, *, root: bytes | None = None) -> Receipt:
    """The receipt of `digest` rebuilt from the node: as a member of an indexed batch (the
    first in chain order, or the one anchored under `root`), or as a digest anchored on its
    own. The inclusion path comes from the node's member index (GET
    /v1/evidence/{digest}/proof) and is checked here against the anchored root; the rest
    is what `receipts_for` fetches for any anchoring. A receipt rebuilt this way carries
    no time-stamp token (the node does not keep them). Needs a token with evidence:read
    and rpc:read."""
    for entry in evidence_entries(ledger, digest):
        place = entry.get("batch")
        if place is not None and (root is None or place["root"] == "0x" + root.hex()):
            return _member_receipt(ledger, digest, entry, place["root"])
        if place is None and root is None and entry["leafCount"] == 1:
            return _receipt_of(ledger, digest, entry)
    if root is not None:
        raise EvidenceNotFound(digest, f"not a member of the batch 0x{root.hex()}")
    raise LedgerError(f"0x{digest.hex()} is the root of a batch, not an entry: a receipt is per entry, "
                      "rebuild one for a member's digest")


def _member_receipt(ledger: Ledger, digest: bytes, entry: dict[str, Any], root_hex: str) -> Receipt:
    proof = node_http(ledger).get_json(f"v1/evidence/0x{digest.hex()}/proof", {"root": root_hex},
                                       limit=MAX_MEMBER_REPLY_BYTES)
    root = bytes.fromhex(root_hex[2:])
    index, size = int(proof["batch"]["leafIndex"]), int(proof["batch"]["treeSize"])
    path = tuple(bytes.fromhex(node[2:]) for node in proof["inclusionPath"])
    try:  # the node's word is checked before it goes into a receipt
        merkle.verify_inclusion(merkle.leaf_hash(digest), index, size, path, root)
    except merkle.MerkleError as exc:
        raise LedgerError(f"the node's inclusion path of 0x{digest.hex()} does not lead to {root_hex}: {exc}") from exc
    receipt = _receipt_of(ledger, digest, entry)
    return replace(receipt, batch=Batch(root, index, size, path))


def _receipt_of(ledger: Ledger, digest: bytes, entry: dict[str, Any]) -> Receipt:
    """The receipt of the anchoring `entry` names (its transaction), for `digest` alone."""
    result = ledger.wait(bytes.fromhex(entry["anchored"]["transactionHash"][2:]))
    (receipt,) = receipts_for(ledger, result, [digest], batched=False, kind=entry["kind"], case=entry["caseRef"],
                              algorithm=entry["digestAlgorithm"],
                              metadata_digest=bytes.fromhex(entry["metadataDigest"][2:]))
    return receipt


def node_http(ledger: Ledger) -> HttpClient:
    """The HTTP client `ledger` reaches its node with (its URL, token and timeouts): the
    node's REST routes are beside its JSON-RPC endpoint."""
    provider = ledger.w3.provider
    if not isinstance(provider, NodeProvider):
        raise LedgerError(f"{provider} is not a node's HTTP endpoint")
    return provider.http


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
