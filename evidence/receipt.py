"""Evidence receipts: the document a court verifies offline, and `verify_receipt`.

A receipt proves, with no node and no network, that a file was anchored at a block time
by a member's account and witnessed by the consortium's validators - the genesis set, or
the set that header votes (carried in the receipt) made of it. Every link is checked, in
this order, and a failure raises `VerificationError` naming its step:

1. chain           the receipt is for the chain genesis.json starts: a v2 receipt's
                   genesis hash, chain id and chain name are genesis.json's (its block 0
                   hash computed offline, evidence.genesis); a v1 receipt's chain id is;
2. file            the file's digest (SHA-256 or SM3) is the entry's digest;
3. inclusion       the entry's digest is leaf `leafIndex` of the RFC 9162 tree of
                   `treeSize` leaves whose root is the batch root (skipped for a single
                   digest anchored on its own);
4. header          the header hashes (QBFT rule) to `blockHash`, at `blockNumber` (its
                   roots are what steps 5 and 6 prove against; its seals, step 10);
5. transaction     the anchoring transaction is item `transactionIndex` of the block's
                   transactions trie, hashes to `transactionHash`, is signed for the
                   receipt's chain id, and its sender is recovered from its signature;
6. receipt proof   the transaction's receipt is item `transactionIndex` of the block's
                   receipts trie (Merkle-Patricia proof against the header's receiptsRoot);
7. anchoring event the receipt succeeded and its log `logIndex` is the evidence
                   registry's `Anchored` event for the batch root (or digest), with the
                   entry's kind, case, algorithm, metadata digest and the batch's size,
                   and the transaction's sender as its submitter;
8. validator history  from genesis.json's validators, the vote-carrying headers before
                   the anchoring block are followed in height order: each lists the set in
                   force, was proposed by and sealed by a quorum of it, and its vote is
                   tallied (Besu's rules, evidence.qbft.VoteTally, with genesis.json's
                   epoch length); no history means no votes: the genesis set;
9. validators      the header's validator list is the set step 8 gives;
10. commit seals   at least a quorum (ceil(2n/3)) of those validators sealed the header,
                   each with a low-s signature;
11. trusted time   when the receipt carries an RFC 3161 time-stamp token (`timestamp`) and
                   the caller gives TSA roots: evidence.timestamp.verify_timestamp over the
                   anchored value, chained to those roots, the TSA's time no later than the
                   block time plus a tolerance. A token with no roots given is reported as
                   not checked (`Verified.trusted_time_status`), never as verified.

The format is documented field by field in docs/receipt.md. Only `rlp`, `eth-hash`,
`coincurve` (through qbft.py), `cryptography` (through digest.py) and, for step 11,
`asn1crypto` (through timestamp.py) are used.

(Over 600 lines: the document, its strict parser and the checks above are one unit an
independent verifier's author reads top to bottom beside docs/receipt.md; the pieces that
stand alone — Merkle trees, trie proofs, QBFT headers, the genesis hash — have modules.)
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import rlp
from cryptography import x509
from eth_hash.auto import keccak

from evidence import digest as digests, merkle, qbft
from evidence.errors import EvidenceError
from evidence.genesis import (
    ChainIdentity,
    GenesisFormatError,
    check_chain_name,
    epoch_length,
    genesis_extra_data,
    identify_chain,
)
from evidence.mpt import ProofError, verify_trie_proof
from evidence.timestamp import TimestampError, VerifiedTimestamp, parse_token, verify_timestamp

# v2 names its chain (chainName, genesisHash); v1 receipts, which name only the chain id,
# are still read and verified.
RECEIPT_VERSION = "evidence-ledger/receipt/v2"
RECEIPT_VERSION_V1 = "evidence-ledger/receipt/v1"
# chaincode.EVIDENCE_REGISTRY, repeated here so that a court needs only this package.
EVIDENCE_REGISTRY = bytes.fromhex("0000000000000000000000000000000000001004")
ANCHORED_SIGNATURE = "Anchored(bytes32,address,bytes32,string,string,uint8,uint256,bytes32,uint256)"
ANCHORED_TOPIC = keccak(ANCHORED_SIGNATURE.encode())
# Header field positions (Ethereum header list): number, receiptsRoot, transactionsRoot, time.
_TX_ROOT, _RECEIPT_ROOT, _NUMBER, _TIMESTAMP = 4, 5, 8, 11
# The links verify_receipt checks, in order (VerificationError.step is one of these, or
# "format" / "genesis" for a document that cannot be read at all).
STEPS = ("chain", "file", "inclusion", "header", "transaction", "receipt proof", "anchoring event",
         "validator history", "validators", "commit seals", "trusted time")
# How much later than the block the TSA's time may be (step 11). The anchoring client asks
# the TSA before it sends the transaction (client/anchoring.py), so an honest token is
# older than the block; what the tolerance covers is clock error alone: a block time is
# the proposer's clock floored to the second (up to 1 s early), a TSA states its own
# accuracy (ours 1 s), and validators' and TSAs' clocks kept by NTP sit well within a
# second of UTC (validators refuse blocks more than 2 s ahead of their own clock). Thirty
# seconds is ten times that budget, room for a proposer whose clock drifted, and short
# enough that a token within it still dates the block: one fetched later than that does
# not, and is refused rather than reported.
DEFAULT_TSA_TOLERANCE = timedelta(seconds=30)
# What step 11 found (Verified.trusted_time_status).
TrustedTimeStatus = Literal["verified", "not checked", "none"]
# Signed transaction types a receipt's anchoring transaction may have (EIP-2718), with the
# number of RLP fields of each: access list (EIP-2930), dynamic fee (EIP-1559), blob
# (EIP-4844); the last three fields are the signature (y parity, r, s).
_TYPED_TRANSACTION_FIELDS = {1: 11, 2: 12, 3: 14}
_LEGACY_TRANSACTION_FIELDS = 9  # nonce, gasPrice, gas, to, value, data, v, r, s
# Vote-carrying headers a receipt may carry. A set change takes a majority's votes, so
# this is hundreds of changes; a sealed header of a 64-validator set is ~12 KB in hex.
MAX_VALIDATOR_HISTORY = 1024
# Receipts larger than this are refused before parsing (a receipt document is attacker
# input); room for the entry, proofs and a validator history of typical headers (~2.5 KB
# each in hex for a handful of validators).
MAX_RECEIPT_DOCUMENT_BYTES = 8 * 1024 * 1024
# How deep arrays and objects may nest. A receipt nests three deep (proof, a proof's node
# list); the rest is room for optional members. Checked before json parses: its C parser
# recurses once per level, and a document of a million "[" can overflow the C stack of a
# host that raised Python's recursion limit - a crash, not an error.
MAX_JSON_DEPTH = 32
# What the depth check looks at: a bracket, or a whole JSON string (skipped, with its escapes).
_JSON_NESTING = re.compile(r'[\[{]|[\]}]|"[^"\\]*(?:\\.[^"\\]*)*"')
DEFAULT_EPOCH_LENGTH = qbft.DEFAULT_EPOCH_LENGTH  # when genesis.json's config.qbft names none
# Digits an integer of a receipt document may have (a leading minus not counted). No
# integer a receipt holds needs more than 256 bits, and 2**256 - 1 has 78 decimal digits;
# the cap also spares int() its quadratic work on a long string, and replaces Python's
# own limit (4,300 digits, changeable by the host) with one the document states.
MAX_JSON_INTEGER_DIGITS = 78
# The registry's bounds on an entry's strings (chaincode's EvidenceRegistry; the CLI
# checks them too): an entry outside them was never anchored, and is refused at `format`.
MAX_KIND_BYTES = 32
MAX_CASE_BYTES = 64
# A byte string of a receipt: "0x", then lower-case hex digits, two a byte (docs/receipt.md,
# Conventions). `bytes.fromhex` alone would also take upper case and white space between
# pairs, so one byte string could be written many ways.
_RECEIPT_HEX = re.compile(r"0x(?:[0-9a-f]{2})*")
# entry.algorithm: a name of letters, digits and hyphens with JSON white space (space, tab,
# LF, CR) at either end; case and hyphens are then ignored. Pinned to ASCII so that every
# verifier strips and lower-cases alike (str.strip and JavaScript's trim differ on U+001C,
# U+0085, U+FEFF...).
_ALGORITHM_NAME = re.compile(r"[ \t\n\r]*([A-Za-z0-9-]+)[ \t\n\r]*")


class VerificationError(EvidenceError):
    """A receipt that does not prove what it claims; `step` names the link that failed."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class Batch:
    root: bytes
    leaf_index: int
    tree_size: int
    inclusion_path: tuple[bytes, ...]


@dataclass(frozen=True)
class Receipt:
    """One anchored entry's receipt. Exists only parsed, so a Receipt is well-formed."""

    chain_id: int
    digest: bytes
    algorithm: str
    kind: str
    case: str
    metadata_digest: bytes
    batch: Batch | None
    registry: bytes
    block_number: int
    block_hash: bytes
    transaction_index: int
    transaction_hash: bytes
    log_index: int
    header: bytes
    transaction: bytes
    transaction_proof: tuple[bytes, ...]
    receipt: bytes
    receipt_proof: tuple[bytes, ...]
    # RLP headers (seals included) of every block before the anchoring one whose header
    # carries a validator vote, ascending; empty on a chain whose set never changed.
    validator_history: tuple[bytes, ...] = ()
    # The chain's genesis block hash and name (v2); both None in a v1 receipt.
    genesis_hash: bytes | None = None
    chain_name: str | None = None
    # Optional members (docs/receipt.md, "Optional members") go below this line: each
    # None when absent, parsed in `_parse`, written by `to_document` only when set, and
    # checked by verify_receipt after step 10 at a step of its own.
    # `timestamp`: an RFC 3161 TimeStampToken (DER) over the anchored value; step 11.
    timestamp_token: bytes | None = None

    def __post_init__(self) -> None:
        assert (self.genesis_hash is None) == (self.chain_name is None), "v2 names both genesis hash and chain name"

    @property
    def version(self) -> str:
        return RECEIPT_VERSION_V1 if self.genesis_hash is None else RECEIPT_VERSION

    @property
    def anchored(self) -> bytes:
        """What the transaction anchored: the batch root, or the digest itself."""
        return self.batch.root if self.batch is not None else self.digest

    @classmethod
    def parse(cls, document: Any) -> Receipt:
        return _parse(document)

    @classmethod
    def parse_text(cls, text: str | bytes) -> Receipt:
        """The door for a receipt document: JSON (RFC 8259) in which no object names a
        member twice - a viewer that keeps the first value and a verifier that keeps the
        last must never read two receipts from one document."""
        if len(text) > MAX_RECEIPT_DOCUMENT_BYTES:
            raise VerificationError("format", f"receipt larger than {MAX_RECEIPT_DOCUMENT_BYTES} bytes")
        if isinstance(text, bytes):  # JSON between systems is UTF-8 (RFC 8259, section 8.1)
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise VerificationError("format", f"not JSON: not UTF-8: {exc}") from exc
        _check_depth(text)
        try:
            document = json.loads(text, object_pairs_hook=_refuse_duplicate_members, parse_constant=_refuse_constant,
                                  parse_int=_parse_integer)
        except VerificationError:
            raise
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting too deep
            raise VerificationError("format", f"not JSON: {exc}") from exc
        return _parse(document)

    def to_document(self) -> dict[str, Any]:
        def hx(b: bytes) -> str:
            return "0x" + b.hex()

        chain: dict[str, Any] = {"chainId": self.chain_id}
        if self.genesis_hash is not None:
            chain.update(chainName=self.chain_name, genesisHash=hx(self.genesis_hash))
        optional: dict[str, Any] = {}
        if self.timestamp_token is not None:
            optional["timestamp"] = base64.b64encode(self.timestamp_token).decode("ascii")
        return {
            "version": self.version,
            **chain,
            "entry": {
                "digest": hx(self.digest), "algorithm": self.algorithm, "kind": self.kind,
                "case": self.case, "metadataDigest": hx(self.metadata_digest),
            },
            "batch": None if self.batch is None else {
                "root": hx(self.batch.root), "leafIndex": self.batch.leaf_index,
                "treeSize": self.batch.tree_size, "inclusionPath": [hx(h) for h in self.batch.inclusion_path],
            },
            "anchor": {
                "registry": hx(self.registry), "blockNumber": self.block_number, "blockHash": hx(self.block_hash),
                "transactionIndex": self.transaction_index, "transactionHash": hx(self.transaction_hash),
                "logIndex": self.log_index,
            },
            "proof": {
                "header": hx(self.header), "transaction": hx(self.transaction),
                "transactionProof": [hx(n) for n in self.transaction_proof],
                "receipt": hx(self.receipt), "receiptProof": [hx(n) for n in self.receipt_proof],
                "validatorHistory": [hx(h) for h in self.validator_history],
            },
            **optional,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_document(), indent=2) + "\n"


@dataclass(frozen=True)
class GenesisTrust:
    """What a verifier takes from genesis.json: the chain's identity (id, name, genesis
    block hash), the first validators and the epoch length (after which pending validator
    votes are discarded)."""

    chain_id: int
    chain_name: str
    genesis_hash: bytes
    validators: tuple[bytes, ...]
    epoch_length: int = DEFAULT_EPOCH_LENGTH

    @property
    def identity(self) -> ChainIdentity:
        return ChainIdentity(self.chain_id, self.chain_name, self.genesis_hash)

    @classmethod
    def from_document(cls, document: Any) -> GenesisTrust:
        try:
            identity = identify_chain(document)
            extra = genesis_extra_data(document)
            epoch = epoch_length(document)
        except GenesisFormatError as exc:
            raise VerificationError("genesis", f"not a QBFT genesis.json: {exc}") from exc
        return cls(identity.chain_id, identity.name, identity.genesis_hash, extra.validators, epoch)


@dataclass(frozen=True)
class Verified:
    """What a valid receipt proves."""

    digest: bytes
    algorithm: str
    kind: str
    case: str
    block_number: int
    block_hash: bytes
    timestamp: int
    transaction_hash: bytes
    signers: tuple[bytes, ...]
    validators: tuple[bytes, ...]
    chain_id: int
    chain_name: str  # genesis.json's: what a v2 receipt was checked to name
    genesis_hash: bytes  # genesis.json's block 0 hash
    submitter: bytes  # the account that signed the anchoring transaction and is the event's submitter
    # Step 11: "verified" (trusted_time is the TSA's time, subject, serial and chain),
    # "not checked" (the receipt carries a token and no TSA root was given) or "none".
    trusted_time_status: TrustedTimeStatus = "none"
    trusted_time: VerifiedTimestamp | None = None


def verify_receipt(receipt: Receipt, genesis: GenesisTrust, content: bytes | None = None,
                   content_digest: bytes | None = None, *, tsa_roots: Sequence[x509.Certificate] = (),
                   tsa_tolerance: timedelta = DEFAULT_TSA_TOLERANCE) -> Verified:
    """Check every link of `receipt` (module docstring); `content` is the file's bytes,
    or `content_digest` its digest computed by the caller (e.g. streamed from disk).
    `tsa_roots` are the time-stamping authorities' roots the caller trusts: with them, a
    receipt's time-stamp token is checked (step 11); without, it is reported not checked."""
    # 1. the chain: the receipt's is the one genesis.json starts
    _check_chain(receipt, genesis)
    # 2. file -> digest
    if content is not None:
        content_digest = digests.digest_bytes(content, receipt.algorithm)
    if content_digest is not None and content_digest != receipt.digest:
        raise VerificationError("file", f"the file's {receipt.algorithm} digest is 0x{content_digest.hex()}, "
                                        f"the receipt's entry is 0x{receipt.digest.hex()}")
    # 3. digest -> inclusion path -> batch root
    if receipt.batch is not None:
        b = receipt.batch
        try:
            merkle.verify_inclusion(merkle.leaf_hash(receipt.digest), b.leaf_index, b.tree_size,
                                    list(b.inclusion_path), b.root)
        except merkle.MerkleError as exc:
            raise VerificationError("inclusion", str(exc)) from exc
    # 4. the header, whose roots the next steps rely on
    header = _header_fields(receipt.header)
    try:
        header_hash = qbft.block_hash(header)
    except (qbft.HeaderFormatError, ValueError) as exc:
        raise VerificationError("header", str(exc)) from exc
    if header_hash != receipt.block_hash:
        raise VerificationError("header", "the header does not hash to blockHash")
    if _int(header[_NUMBER]) != receipt.block_number:
        raise VerificationError("header", f"the header is block {_int(header[_NUMBER])}, not {receipt.block_number}")
    key = rlp.encode(receipt.transaction_index)
    # 5. the anchoring transaction, in the block's transactions trie, and who signed it
    if keccak(receipt.transaction) != receipt.transaction_hash:
        raise VerificationError("transaction", "the transaction does not hash to transactionHash")
    try:
        proven = verify_trie_proof(header[_TX_ROOT], key, receipt.transaction_proof)
    except ProofError as exc:
        raise VerificationError("transaction", f"transactions-trie proof: {exc}") from exc
    if proven != receipt.transaction:  # the trie holds the network encoding
        raise VerificationError("transaction", "the transactions trie holds another transaction at this index")
    signed_chain_id, sender = _transaction_signer(receipt.transaction)
    if signed_chain_id != receipt.chain_id:
        raise VerificationError("transaction", f"the transaction is signed for chain id {signed_chain_id}, "
                                               f"the receipt is for chain id {receipt.chain_id}")
    # 6. its receipt, in the block's receipts trie
    try:
        proven = verify_trie_proof(header[_RECEIPT_ROOT], key, receipt.receipt_proof)
    except ProofError as exc:
        raise VerificationError("receipt proof", str(exc)) from exc
    if proven != receipt.receipt:
        raise VerificationError("receipt proof", "the receipts trie holds another receipt at this index")
    # 7. the anchoring event in that receipt, submitted by the transaction's sender
    _check_event(receipt, sender)
    # 8. the validator set in force at the block: genesis.json's, carried through the votes
    validators = _follow_history(receipt, genesis)
    # 9. the header lists that set
    try:
        extra = qbft.extra_data_of(header)
    except qbft.HeaderFormatError as exc:
        raise VerificationError("validators", str(exc)) from exc
    if extra.validators != validators:
        raise VerificationError("validators", "the header's validator set is not the one genesis.json and "
                                              "the validator history give" + _v1_hint(receipt))
    # 10. commit seals of a quorum of them
    try:
        signers = qbft.verify_commit_seals(header, validators)
    except (qbft.SealError, qbft.HeaderFormatError, ValueError) as exc:
        raise VerificationError("commit seals", str(exc)) from exc
    block_time = _int(header[_TIMESTAMP])
    # 11. trusted time: the TSA's token over the anchored value, no later than the block
    status: TrustedTimeStatus = "none"
    trusted: VerifiedTimestamp | None = None
    if receipt.timestamp_token is not None:
        status = "not checked"
        if tsa_roots:
            try:
                trusted = verify_timestamp(receipt.timestamp_token, receipt.anchored, tsa_roots,
                                           not_after=block_time, tolerance=tsa_tolerance)
            except TimestampError as exc:
                raise VerificationError("trusted time", f"{exc.step}: {exc.reason}") from exc
            status = "verified"
    return Verified(
        digest=receipt.digest, algorithm=receipt.algorithm, kind=receipt.kind, case=receipt.case,
        block_number=receipt.block_number, block_hash=receipt.block_hash, timestamp=block_time,
        transaction_hash=receipt.transaction_hash, signers=signers, validators=validators,
        chain_id=genesis.chain_id, chain_name=genesis.chain_name, genesis_hash=genesis.genesis_hash,
        submitter=sender, trusted_time_status=status, trusted_time=trusted,
    )


def _check_chain(receipt: Receipt, genesis: GenesisTrust) -> None:
    """Step 1: the receipt names the chain genesis.json starts, or says which it is."""
    step = "chain"
    given = genesis.identity
    if receipt.genesis_hash is None or receipt.chain_name is None:  # v1: the chain id alone
        if receipt.chain_id != given.chain_id:
            raise VerificationError(step, f"this receipt belongs to another chain: chain id {receipt.chain_id} "
                                          f"(a v1 receipt names no genesis); the genesis you gave is {given.describe()}")
        return
    claimed = ChainIdentity(receipt.chain_id, receipt.chain_name, receipt.genesis_hash)
    if (claimed.genesis_hash, claimed.chain_id) != (given.genesis_hash, given.chain_id):
        raise VerificationError(step, f"this receipt belongs to another chain: {claimed.describe()}; "
                                      f"the genesis you gave is {given.describe()}")
    if claimed.name != given.name:
        raise VerificationError(step, f"the receipt calls its chain {claimed.name!r}, but the genesis you gave, "
                                      f"of the same chain (genesis 0x{given.genesis_hash.hex()}, chain id "
                                      f"{given.chain_id}), calls it {given.name!r}")


def _v1_hint(receipt: Receipt) -> str:
    """What to check when a v1 receipt's validators do not match: it cannot say whether
    genesis.json is another chain's with the same chain id."""
    if receipt.genesis_hash is not None:
        return ""
    return (" (a v1 receipt names only its chain id: check that genesis.json is the genesis of the "
            "chain that anchored it)")


def _follow_history(receipt: Receipt, genesis: GenesisTrust) -> tuple[bytes, ...]:
    """Step 8: the set after following `receipt.validator_history` from genesis.json's."""
    step = "validator history"
    headers = []
    for index, encoded in enumerate(receipt.validator_history):
        try:
            fields = _header_fields(encoded)
            extra = qbft.extra_data_of(fields)
        except (VerificationError, qbft.HeaderFormatError) as exc:
            reason = exc.reason if isinstance(exc, VerificationError) else str(exc)
            raise VerificationError(step, f"header {index}: {reason}") from exc
        height = _int(fields[_NUMBER])
        if extra.vote is None:
            raise VerificationError(step, f"header {index} (block {height}) carries no vote")
        if height >= receipt.block_number:
            raise VerificationError(step, f"header {index} is block {height}, not before the anchoring block "
                                          f"{receipt.block_number}")
        headers.append(fields)
    try:
        tally = qbft.VoteTally.start(genesis.validators, genesis.epoch_length)
        return qbft.follow_validator_set(tally, headers).validators
    except qbft.ValidatorSetError as exc:
        raise VerificationError(step, str(exc) + _v1_hint(receipt)) from exc


def _transaction_signer(encoded: bytes) -> tuple[int, bytes]:
    """(chain id, sender) of a signed transaction in its network encoding: a legacy
    transaction with an EIP-155 `v`, or a typed one (EIP-2930, EIP-1559, EIP-4844).
    The signature must be low-s (EIP-2), as the node requires of every transaction."""
    step = "transaction"
    kind = encoded[0] if encoded else -1
    chain_id: int | None
    try:
        if kind in _TYPED_TRANSACTION_FIELDS:
            fields = rlp.decode(encoded[1:], strict=True)
            if not isinstance(fields, list) or len(fields) != _TYPED_TRANSACTION_FIELDS[kind]:
                raise ValueError(f"a type-{kind} transaction has {_TYPED_TRANSACTION_FIELDS[kind]} fields")
            chain_id, parity = _number_field(fields[0]), _number_field(fields[-3])
            digest = keccak(encoded[:1] + rlp.encode(fields[:-3]))
        elif kind >= 0xC0:
            fields = rlp.decode(encoded, strict=True)
            if not isinstance(fields, list) or len(fields) != _LEGACY_TRANSACTION_FIELDS:
                raise ValueError(f"a legacy transaction has {_LEGACY_TRANSACTION_FIELDS} fields")
            v = _number_field(fields[6])
            # EIP-155: v = 35 + 2 * chainId + parity; 27 or 28 signs for no chain at all.
            chain_id, parity = ((v - 35) // 2, (v - 35) % 2) if v >= 35 else (None, 0)
            digest = keccak(rlp.encode([*fields[:6], _scalar(chain_id or 0), b"", b""]))
        else:
            raise ValueError(f"type 0x{encoded[:1].hex()} is not a transaction type this verifier reads")
        r, s = _number_field(fields[-2]), _number_field(fields[-1])
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise VerificationError(step, f"not a signed transaction: {exc}") from exc
    if chain_id is None:
        raise VerificationError(step, "the transaction is not replay-protected (EIP-155): it is signed for no chain")
    if parity > 1:
        raise VerificationError(step, f"the transaction's signature has y parity {parity}, not 0 or 1")
    try:
        sender = qbft.recover_signer(r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([parity]), digest)
    except qbft.SealError as exc:
        raise VerificationError(step, f"the transaction's signature names no sender: {exc}") from exc
    return chain_id, sender


def _number_field(value: Any) -> int:
    if not isinstance(value, bytes) or len(value) > 32:
        raise ValueError("a number field of the transaction is not a 256-bit integer")
    return int.from_bytes(value, "big")


def _scalar(value: int) -> bytes:
    """An RLP integer: big-endian, no leading zero byte, 0 as the empty string."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _check_event(receipt: Receipt, sender: bytes) -> None:
    step = "anchoring event"
    body = receipt.receipt
    if body[:1] and body[0] < 0x80:  # EIP-2718 typed receipt: type byte, then the RLP list
        body = body[1:]
    try:
        fields = rlp.decode(body, strict=True)
        status, _, _, logs = fields
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise VerificationError(step, f"the transaction receipt is not a receipt: {exc}") from exc
    if status != b"\x01":
        raise VerificationError(step, "the anchoring transaction failed")
    if not isinstance(logs, list) or not 0 <= receipt.log_index < len(logs):
        raise VerificationError(step, f"the receipt has no log {receipt.log_index}")
    log = logs[receipt.log_index]
    # A log is [address, [topic...], data], all byte strings: whoever wrote the receipt wrote
    # it (the seals are step 10), so lists where bytes go are refused here, not tripped on.
    if not (isinstance(log, list) and len(log) == 3 and isinstance(log[0], bytes) and isinstance(log[1], list)
            and all(isinstance(t, bytes) for t in log[1]) and isinstance(log[2], bytes)):
        raise VerificationError(step, "malformed log: not [address, [topic, ...], data] of byte strings")
    address, topics, data = log
    if receipt.registry != EVIDENCE_REGISTRY or address != EVIDENCE_REGISTRY:
        raise VerificationError(step, "the log is not from the evidence registry")
    if len(topics) != 4 or topics[0] != ANCHORED_TOPIC:
        raise VerificationError(step, "the log is not an Anchored event")
    if topics[1] != receipt.anchored:
        raise VerificationError(step, "the event anchors another digest")
    # The registry logs msg.sender as the submitter. Equal to the transaction's signer, the
    # member called the registry itself: the account the receipt names as the anchoring
    # party both signed the transaction and is the one the registry checked and recorded.
    if topics[2] != b"\x00" * 12 + sender:
        raise VerificationError(step, f"the event's submitter 0x{bytes(topics[2][-20:]).hex()} is not the "
                                      f"transaction's sender 0x{sender.hex()}")
    if topics[3] != keccak(receipt.case.encode()):
        raise VerificationError(step, "the event names another case")
    try:
        kind, case, algorithm, leaf_count, metadata, _ = _decode_event_data(data)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise VerificationError(step, f"malformed event data: {exc}") from exc
    expected_count = receipt.batch.tree_size if receipt.batch is not None else 1
    for name, got, want in (
        ("kind", kind, receipt.kind), ("case", case, receipt.case),
        ("digest algorithm", algorithm, digests.algorithm_id(receipt.algorithm)),
        ("leaf count", leaf_count, expected_count), ("metadata digest", metadata, receipt.metadata_digest),
    ):
        if got != want:
            raise VerificationError(step, f"the event's {name} is {got!r}, the receipt says {want!r}")


def _decode_event_data(data: bytes) -> tuple[str, str, int, int, bytes, int]:
    """ABI-decode (string kind, string case_ref, uint8, uint256, bytes32, uint256)."""
    def word(i: int) -> int:
        chunk = data[32 * i : 32 * i + 32]
        if len(chunk) != 32:
            raise ValueError("event data too short")
        return int.from_bytes(chunk, "big")

    def string(offset: int) -> str:
        if offset + 32 > len(data):
            raise ValueError("string offset out of range")
        length = int.from_bytes(data[offset : offset + 32], "big")
        if offset + 32 + length > len(data):
            raise ValueError("string runs past the data")
        return data[offset + 32 : offset + 32 + length].decode("utf-8")

    return string(word(0)), string(word(1)), word(2), word(3), data[128:160], word(5)


def _header_fields(encoded: bytes) -> list[bytes]:
    try:
        fields = rlp.decode(encoded, strict=True)
    except rlp.DecodingError as exc:
        raise VerificationError("header", f"not an RLP header: {exc}") from exc
    if not isinstance(fields, list) or len(fields) < 15 or not all(isinstance(f, bytes) for f in fields):
        raise VerificationError("header", "not a block header")
    return fields


def _int(value: bytes) -> int:
    return int.from_bytes(value, "big")


# -- parsing ------------------------------------------------------------------------------

def _check_depth(text: str) -> None:
    """Refuse a document nested deeper than MAX_JSON_DEPTH before json recurses into it."""
    depth = 0
    for match in _JSON_NESTING.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise VerificationError("format", f"arrays and objects nested more than {MAX_JSON_DEPTH} deep")
        elif token in "]}":
            depth -= 1


def _refuse_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: an object that names a member twice is no receipt (RFC 8259
    leaves its meaning open, and JSON readers differ on which value they keep)."""
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise VerificationError("format", f"the member {name!r} appears twice in one object")
        members[name] = value
    return members


def _parse_integer(digits: str) -> int:
    """json's integer hook: at most MAX_JSON_INTEGER_DIGITS digits, anywhere in the document."""
    if len(digits.lstrip("-")) > MAX_JSON_INTEGER_DIGITS:
        raise VerificationError("format", f"an integer of more than {MAX_JSON_INTEGER_DIGITS} digits")
    return int(digits)


def _refuse_constant(name: str) -> Any:
    raise VerificationError("format", f"{name} is not a JSON value")


def _parse(doc: Any) -> Receipt:
    step = "format"

    def need(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
        if not isinstance(obj, Mapping) or name not in obj:
            raise VerificationError(step, f"{where}.{name} is missing")
        value = obj[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise VerificationError(step, f"{where}.{name} has the wrong type")
        return value

    def hexbytes(obj: Any, name: str, where: str, length: int | None = None) -> bytes:
        text = need(obj, name, str, where)
        if not _RECEIPT_HEX.fullmatch(text):
            raise VerificationError(step, f"{where}.{name} must be 0x and lower-case hex, two digits a byte")
        raw = bytes.fromhex(text[2:])
        if length is not None and len(raw) != length:
            raise VerificationError(step, f"{where}.{name} must be {length} bytes")
        return raw

    def hexlist(obj: Any, name: str, where: str, length: int | None = None) -> tuple[bytes, ...]:
        items = need(obj, name, list, where)
        return tuple(hexbytes({"x": item}, "x", f"{where}.{name}[{i}]", length) for i, item in enumerate(items))

    def utf8_text(obj: Any, name: str, where: str, low: int, high: int) -> str:
        text = need(obj, name, str, where)
        try:  # a lone surrogate (a \\ud800 escape) is no UTF-8 string: no registry holds one
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise VerificationError(step, f"{where}.{name} is not valid Unicode (a lone surrogate)") from exc
        if not low <= size <= high:
            raise VerificationError(step, f"{where}.{name} must be {low} to {high} bytes of UTF-8, got {size}")
        return text

    def natural(obj: Any, name: str, where: str) -> int:
        value = need(obj, name, int, where)
        if value < 0:
            raise VerificationError(step, f"{where}.{name} must not be negative")
        return int(value)

    if not isinstance(doc, Mapping):
        raise VerificationError(step, "a receipt is a JSON object")
    version = doc.get("version")
    if version not in (RECEIPT_VERSION, RECEIPT_VERSION_V1):
        raise VerificationError(step, f"version must be {RECEIPT_VERSION!r} (or {RECEIPT_VERSION_V1!r})")
    genesis_hash: bytes | None = None
    chain_name: str | None = None
    if version == RECEIPT_VERSION:
        genesis_hash = hexbytes(doc, "genesisHash", "receipt", 32)
        try:
            chain_name = check_chain_name(need(doc, "chainName", str, "receipt"), "receipt.chainName")
        except GenesisFormatError as exc:
            raise VerificationError(step, str(exc)) from exc
    entry = need(doc, "entry", dict, "receipt")
    algorithm = need(entry, "algorithm", str, "entry")
    spelled = _ALGORITHM_NAME.fullmatch(algorithm)
    try:
        if spelled is None:
            raise ValueError(f"{algorithm!r} is not a digest algorithm name")
        digests.algorithm_id(spelled.group(1))
    except ValueError as exc:
        raise VerificationError(step, f"entry.algorithm: {exc}") from exc
    if "batch" not in doc:  # required; null when the digest was anchored on its own
        raise VerificationError(step, "receipt.batch is missing")
    batch_doc = doc["batch"]
    batch = None
    if batch_doc is not None:
        batch = Batch(
            root=hexbytes(batch_doc, "root", "batch", 32),
            leaf_index=natural(batch_doc, "leafIndex", "batch"),
            tree_size=natural(batch_doc, "treeSize", "batch"),
            inclusion_path=hexlist(batch_doc, "inclusionPath", "batch", 32),
        )
    anchor = need(doc, "anchor", dict, "receipt")
    proof = need(doc, "proof", dict, "receipt")
    history: tuple[bytes, ...] = ()
    if "validatorHistory" in proof:  # absent in receipts from before validator votes: no votes
        history = hexlist(proof, "validatorHistory", "proof")
        if len(history) > MAX_VALIDATOR_HISTORY:
            raise VerificationError(step, f"proof.validatorHistory holds more than {MAX_VALIDATOR_HISTORY} headers")
    return Receipt(
        chain_id=natural(doc, "chainId", "receipt"),
        digest=hexbytes(entry, "digest", "entry", 32),
        algorithm=algorithm,
        kind=utf8_text(entry, "kind", "entry", 1, MAX_KIND_BYTES),
        case=utf8_text(entry, "case", "entry", 0, MAX_CASE_BYTES),
        metadata_digest=hexbytes(entry, "metadataDigest", "entry", 32),
        batch=batch,
        registry=hexbytes(anchor, "registry", "anchor", 20),
        block_number=natural(anchor, "blockNumber", "anchor"),
        block_hash=hexbytes(anchor, "blockHash", "anchor", 32),
        transaction_index=natural(anchor, "transactionIndex", "anchor"),
        transaction_hash=hexbytes(anchor, "transactionHash", "anchor", 32),
        log_index=natural(anchor, "logIndex", "anchor"),
        header=hexbytes(proof, "header", "proof"),
        transaction=hexbytes(proof, "transaction", "proof"),
        transaction_proof=hexlist(proof, "transactionProof", "proof"),
        receipt=hexbytes(proof, "receipt", "proof"),
        receipt_proof=hexlist(proof, "receiptProof", "proof"),
        validator_history=history,
        genesis_hash=genesis_hash,
        chain_name=chain_name,
        timestamp_token=_timestamp_member(doc),
    )


def _timestamp_member(doc: Mapping[str, Any]) -> bytes | None:
    """The optional `timestamp` member: a TimeStampToken's DER in base64 (RFC 4648 §4,
    padded, one encoding only), whose structure must hold (evidence.timestamp step 1);
    who signed it and over what is step 11's business."""
    step = "format"
    if "timestamp" not in doc:
        return None
    text = doc["timestamp"]
    if not isinstance(text, str):
        raise VerificationError(step, "receipt.timestamp must be a base64 string")
    try:
        token = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise VerificationError(step, f"receipt.timestamp is not base64: {exc}") from exc
    if base64.b64encode(token).decode("ascii") != text:  # e.g. non-zero padding bits
        raise VerificationError(step, "receipt.timestamp is not in canonical base64")
    try:
        parse_token(token)
    except TimestampError as exc:
        raise VerificationError(step, f"receipt.timestamp is not a time-stamp token: {exc.reason}") from exc
    return token


def build_receipts(
    *, chain_id: int, digests_: Sequence[bytes], algorithm: str, kind: str, case: str, metadata_digest: bytes,
    batched: bool, block_number: int, block_hash: bytes, transaction_index: int, transaction_hash: bytes,
    log_index: int, header: bytes, transaction: bytes, transaction_proof: Sequence[bytes], receipt: bytes,
    receipt_proof: Sequence[bytes], validator_history: Sequence[bytes] = (),
    genesis_hash: bytes | None = None, chain_name: str | None = None, timestamp_token: bytes | None = None,
) -> list[Receipt]:
    """One receipt per digest of an anchoring (a batch, or a single digest);
    `validator_history` is what ledger_getValidatorHistory gives up to the block's parent.
    With the chain's genesis hash and name (as the node reports them) the receipts are v2;
    without, v1 (a caller that cannot learn them, e.g. from an older node).
    `timestamp_token`, an RFC 3161 token over the anchored value, goes into every receipt."""
    if (genesis_hash is None) != (chain_name is None):
        raise ValueError("a v2 receipt names both the genesis hash and the chain name")
    if genesis_hash is not None and len(genesis_hash) != 32:
        raise ValueError("a genesis hash is 32 bytes")
    if chain_name is not None:
        check_chain_name(chain_name, "chain_name")
    if timestamp_token is not None:
        parse_token(timestamp_token)  # TimestampError (a ValueError): not a token the parser would take back
    make = partial(
        Receipt, chain_id=chain_id, algorithm=algorithm, kind=kind, case=case, metadata_digest=metadata_digest,
        registry=EVIDENCE_REGISTRY, block_number=block_number, block_hash=block_hash,
        transaction_index=transaction_index, transaction_hash=transaction_hash, log_index=log_index,
        header=header, transaction=transaction, transaction_proof=tuple(transaction_proof),
        receipt=receipt, receipt_proof=tuple(receipt_proof), validator_history=tuple(validator_history),
        genesis_hash=genesis_hash, chain_name=chain_name, timestamp_token=timestamp_token,
    )
    if not batched:
        (only,) = digests_
        return [make(digest=only, batch=None)]
    tree = merkle.MerkleTree([merkle.leaf_hash(d) for d in digests_])
    return [
        make(digest=d, batch=Batch(tree.root, i, tree.size, tuple(tree.inclusion_proof(i))))
        for i, d in enumerate(digests_)
    ]
