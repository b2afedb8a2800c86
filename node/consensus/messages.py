"""QBFT consensus messages (PROPOSAL, PREPARE, COMMIT, ROUND-CHANGE) as Hyperledger Besu encodes them.

Wire format, checked against Besu's ``consensus/qbft-core`` (``payload/*Payload.java``,
``payload/QbftPayload.java``, ``messagewrappers/Proposal.java`` and ``RoundChange.java``,
``consensus/common/.../SignedData.java``, ``BftMessage.java``) and against GoQuorum's
``consensus/istanbul/qbft/types`` (which interoperates with Besu on the wire)::

    message codes   QbftV1: PROPOSAL 0x12, PREPARE 0x13, COMMIT 0x14, ROUND_CHANGE 0x15
    integers        RLP scalars (Besu ``writeLongScalar`` / ``writeIntScalar``): canonical, no
                    leading zero, 0 is the empty string; height < 2**63 (Java long),
                    round < 2**31 (Java int)
    PreparePayload      [height, round, digest(32)]
    CommitPayload       [height, round, digest(32), commitSeal(65)]
    RoundChangePayload  [height, round, [preparedRound, preparedDigest(32)]]  -- or [height, round, []]
    ProposalPayload     [height, round, block]
    SignedData          [payload, signature(65)]      signature = r(32) || s(32) || v(1), v in {0, 1}
    signed digest       keccak256(RLP([messageCode, payload]))   (QbftPayload.hashForSignature:
                        a list of the code as an int scalar and the payload as a nested item)

    bytes sent under each code:
    PREPARE         SignedData<PreparePayload>
    COMMIT          SignedData<CommitPayload>
    ROUND_CHANGE    [SignedData<RoundChangePayload>, preparedBlock | [], [SignedData<PreparePayload>...]]
    PROPOSAL        [SignedData<ProposalPayload>,
                     [[SignedData<RoundChangePayload>...], [SignedData<PreparePayload>...]]]

Blocks: Besu writes the block with ``Block.writeTo`` -- the block's own RLP list
``[header, transactions, ommers, ...]`` nested as one item. Here a block is opaque bytes: the
complete RLP encoding of one non-empty list, embedded verbatim, and ``decode`` hands back
exactly those bytes (so the message stays Besu-shaped and this module never parses blocks).
An empty list in a ROUND-CHANGE's block position means "no prepared block", as in Besu.

Besu's published reference vectors (``consensus/qbft/src/reference-test/resources/rlp``) were
written for an early encoding (fixed-width 8-byte height and 4-byte round, prepared metadata
``[digest, round]``) that current Besu no longer produces; ``tests/vectors/qbft/README.md`` says
how the tests use them.

Every message that exists is well formed: payload fields are range- and length-checked on
construction, every signature (the outer one and each one in a justification) is recovered to
its author on decode with ``evidence.qbft.recover_signer`` (which refuses high-s and v > 1).
Whether the author is a validator, the heights and rounds agree, quorums, digests and commit
seals are the state machine's checks (``node/consensus/machine.py``, ``validation.py``).

One wire format, one module, although it is a little over 600 lines: each message's payload
checks, signing, encoding and strict decoding are read together against Besu's, and the
strict RLP walker at the end serves only these decoders.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import rlp
from eth_hash.auto import keccak
from rlp.codec import consume_length_prefix, length_prefix

from evidence import qbft
from node.errors import NodeError

PROPOSAL = 0x12
PREPARE = 0x13
COMMIT = 0x14
ROUND_CHANGE = 0x15
MESSAGE_CODES = frozenset({PROPOSAL, PREPARE, COMMIT, ROUND_CHANGE})
MESSAGE_NAMES = {PROPOSAL: "PROPOSAL", PREPARE: "PREPARE", COMMIT: "COMMIT", ROUND_CHANGE: "ROUND-CHANGE"}

# A whole message. A PROPOSAL or ROUND-CHANGE carries a block; blocks are bounded by the gas
# limit far below this, so 16 MiB only stops a peer from making us parse or keep more.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
# Round changes or prepares carried as justification: at most one per validator, and a
# validator set has at most node.genesis.MAX_VALIDATORS (64) members.
MAX_JUSTIFICATION = 64
MAX_HEIGHT = 2**63 - 1  # Besu reads the height as a Java long
MAX_ROUND = 2**31 - 1  # Besu reads rounds as a Java int
DIGEST_LENGTH = 32
SIGNATURE_LENGTH = qbft.SEAL_LENGTH  # 65: r || s || recovery id
_EMPTY_LIST = b"\xc0"

Signer = Callable[[bytes], bytes]
"""Signs a 32-byte digest: a 65-byte recoverable secp256k1 signature r || s || v (v in 0/1)."""


class MessageError(NodeError):
    """A consensus message is malformed, oversized or wrongly signed; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Field checks shared by construction and decoding


def _check_int(value: object, maximum: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise MessageError(f"{what} must be an integer in [0, {maximum}], got {value!r}")


def _check_bytes(value: object, length: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise MessageError(f"{what} must be {length} bytes, got {got}")


def _check_block(block: object, what: str) -> None:
    """A block is the RLP encoding of exactly one non-empty list (Besu's Block.writeTo)."""
    if not isinstance(block, bytes):
        raise MessageError(f"{what} must be bytes")
    if len(block) > MAX_MESSAGE_SIZE:
        raise MessageError(f"{what} is larger than {MAX_MESSAGE_SIZE} bytes")
    kind, start, end = _item_bounds(block, 0, what)
    if kind is not list or end != len(block):
        raise MessageError(f"{what} must be the RLP encoding of one list")
    if start == end:
        raise MessageError(f"{what} must not be an empty list")


# ---------------------------------------------------------------------------------------------
# Payloads


@dataclass(frozen=True)
class PreparedRoundMetadata:
    """What a ROUND-CHANGE says its author prepared: the round and the block digest."""

    round: int
    digest: bytes

    def __post_init__(self) -> None:
        _check_int(self.round, MAX_ROUND, "prepared round")
        _check_bytes(self.digest, DIGEST_LENGTH, "prepared digest")


@dataclass(frozen=True)
class PreparePayload:
    code: ClassVar[int] = PREPARE
    height: int
    round: int
    digest: bytes

    def __post_init__(self) -> None:
        _check_int(self.height, MAX_HEIGHT, "height")
        _check_int(self.round, MAX_ROUND, "round")
        _check_bytes(self.digest, DIGEST_LENGTH, "prepare digest")

    def encode(self) -> bytes:
        return _list([_int(self.height), _int(self.round), _str(self.digest)])


@dataclass(frozen=True)
class CommitPayload:
    code: ClassVar[int] = COMMIT
    height: int
    round: int
    digest: bytes
    commit_seal: bytes

    def __post_init__(self) -> None:
        _check_int(self.height, MAX_HEIGHT, "height")
        _check_int(self.round, MAX_ROUND, "round")
        _check_bytes(self.digest, DIGEST_LENGTH, "commit digest")
        _check_bytes(self.commit_seal, SIGNATURE_LENGTH, "commit seal")

    def encode(self) -> bytes:
        return _list([_int(self.height), _int(self.round), _str(self.digest), _str(self.commit_seal)])


@dataclass(frozen=True)
class RoundChangePayload:
    code: ClassVar[int] = ROUND_CHANGE
    height: int
    round: int
    prepared: PreparedRoundMetadata | None

    def __post_init__(self) -> None:
        _check_int(self.height, MAX_HEIGHT, "height")
        _check_int(self.round, MAX_ROUND, "round")
        # That the prepared round is below the target round is a validity rule (the spec's
        # validRoundChange, Besu's RoundChangePayloadValidator), checked by the state machine.
        if self.prepared is not None and not isinstance(self.prepared, PreparedRoundMetadata):
            raise MessageError("prepared metadata must be PreparedRoundMetadata or None")

    def encode(self) -> bytes:
        prepared = (
            _list([_int(self.prepared.round), _str(self.prepared.digest)])
            if self.prepared is not None
            else _EMPTY_LIST
        )
        return _list([_int(self.height), _int(self.round), prepared])


@dataclass(frozen=True)
class ProposalPayload:
    code: ClassVar[int] = PROPOSAL
    height: int
    round: int
    block: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_int(self.height, MAX_HEIGHT, "height")
        _check_int(self.round, MAX_ROUND, "round")
        _check_block(self.block, "proposed block")

    def encode(self) -> bytes:
        return _list([_int(self.height), _int(self.round), self.block])


AnyPayload = PreparePayload | CommitPayload | RoundChangePayload | ProposalPayload
P = TypeVar("P", PreparePayload, CommitPayload, RoundChangePayload, ProposalPayload)


def signing_digest(payload: AnyPayload) -> bytes:
    """Besu's QbftPayload.hashForSignature: keccak256(RLP([code, payload]))."""
    return keccak(_list([_int(payload.code), payload.encode()]))


@dataclass(frozen=True)
class Signed(Generic[P]):
    """Besu's SignedData: a payload, its signature and the author recovered from it."""

    payload: P
    signature: bytes = field(repr=False)
    author: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.signature, SIGNATURE_LENGTH, "signature")
        _check_bytes(self.author, 20, "author")

    @property
    def height(self) -> int:
        return self.payload.height

    @property
    def round(self) -> int:
        return self.payload.round

    def encode(self) -> bytes:
        return _list([self.payload.encode(), _str(self.signature)])


def sign_payload(payload: P, sign: Signer) -> Signed[P]:
    """Sign `payload` with `sign` and check the signature recovers (it names the author)."""
    digest = signing_digest(payload)
    signature = sign(digest)
    _check_bytes(signature, SIGNATURE_LENGTH, "signer's signature")
    return Signed(payload, signature, _recover(signature, digest, "signer's signature"))


# ---------------------------------------------------------------------------------------------
# Messages


class _SignedMessage:
    """What every message answers from its outer signed payload: height, round, author."""

    signed: Signed[Any]

    @property
    def height(self) -> int:
        return self.signed.payload.height

    @property
    def round(self) -> int:
        return self.signed.payload.round

    @property
    def author(self) -> bytes:
        return self.signed.author


@dataclass(frozen=True)
class Prepare(_SignedMessage):
    code: ClassVar[int] = PREPARE
    signed: Signed[PreparePayload]

    @property
    def digest(self) -> bytes:
        return self.signed.payload.digest

    def encode(self) -> bytes:
        return self.signed.encode()


@dataclass(frozen=True)
class Commit(_SignedMessage):
    code: ClassVar[int] = COMMIT
    signed: Signed[CommitPayload]

    @property
    def digest(self) -> bytes:
        return self.signed.payload.digest

    @property
    def commit_seal(self) -> bytes:
        return self.signed.payload.commit_seal

    def encode(self) -> bytes:
        return self.signed.encode()


def _check_justification(items: object, kind: type, what: str) -> None:
    if not isinstance(items, tuple):
        raise MessageError(f"{what} must be a tuple")
    if len(items) > MAX_JUSTIFICATION:
        raise MessageError(f"{what}: {len(items)} entries, at most {MAX_JUSTIFICATION}")
    for item in items:
        if not isinstance(item, Signed) or not isinstance(item.payload, kind):
            raise MessageError(f"{what} must hold signed {kind.__name__}s")


@dataclass(frozen=True)
class RoundChange(_SignedMessage):
    """ROUND-CHANGE: the signed payload, and the prepared block and its prepares if any."""

    code: ClassVar[int] = ROUND_CHANGE
    signed: Signed[RoundChangePayload]
    prepared_block: bytes | None = field(default=None, repr=False)
    prepares: tuple[Signed[PreparePayload], ...] = ()

    def __post_init__(self) -> None:
        _check_justification(self.prepares, PreparePayload, "round-change prepares")
        prepared = self.signed.payload.prepared
        if prepared is None:
            # Besu's RoundChangeMessageValidator: no block means no prepared metadata; we also
            # refuse prepares that justify nothing.
            if self.prepared_block is not None or self.prepares:
                raise MessageError("round change without prepared metadata carries a block or prepares")
        else:
            if self.prepared_block is None:
                raise MessageError("round change with prepared metadata carries no prepared block")
            _check_block(self.prepared_block, "prepared block")

    @property
    def prepared(self) -> PreparedRoundMetadata | None:
        return self.signed.payload.prepared

    def encode(self) -> bytes:
        block = self.prepared_block if self.prepared_block is not None else _EMPTY_LIST
        return _list([self.signed.encode(), block, _list([p.encode() for p in self.prepares])])


@dataclass(frozen=True)
class Proposal(_SignedMessage):
    """PROPOSAL: the signed block, and for rounds above 0 its justification."""

    code: ClassVar[int] = PROPOSAL
    signed: Signed[ProposalPayload]
    round_changes: tuple[Signed[RoundChangePayload], ...] = ()
    prepares: tuple[Signed[PreparePayload], ...] = ()

    def __post_init__(self) -> None:
        _check_justification(self.round_changes, RoundChangePayload, "proposal round changes")
        _check_justification(self.prepares, PreparePayload, "proposal prepares")

    @property
    def block(self) -> bytes:
        return self.signed.payload.block

    def encode(self) -> bytes:
        justification = _list(
            [
                _list([rc.encode() for rc in self.round_changes]),
                _list([p.encode() for p in self.prepares]),
            ]
        )
        return _list([self.signed.encode(), justification])


Message = Proposal | Prepare | Commit | RoundChange


def sign_prepare(height: int, round: int, digest: bytes, sign: Signer) -> Prepare:
    return Prepare(sign_payload(PreparePayload(height, round, digest), sign))


def sign_commit(height: int, round: int, digest: bytes, commit_seal: bytes, sign: Signer) -> Commit:
    return Commit(sign_payload(CommitPayload(height, round, digest, commit_seal), sign))


def sign_round_change(
    height: int,
    round: int,
    sign: Signer,
    prepared: PreparedRoundMetadata | None = None,
    prepared_block: bytes | None = None,
    prepares: Sequence[Signed[PreparePayload]] = (),
) -> RoundChange:
    signed = sign_payload(RoundChangePayload(height, round, prepared), sign)
    return RoundChange(signed, prepared_block, tuple(prepares))


def sign_proposal(
    height: int,
    round: int,
    block: bytes,
    sign: Signer,
    round_changes: Sequence[Signed[RoundChangePayload]] = (),
    prepares: Sequence[Signed[PreparePayload]] = (),
) -> Proposal:
    signed = sign_payload(ProposalPayload(height, round, block), sign)
    return Proposal(signed, tuple(round_changes), tuple(prepares))


def resign_proposal(proposal: Proposal, block: bytes, sign: Signer) -> Proposal:
    """The same height, round and justification with another block, signed by `sign`.

    For test-only fault injection (an equivocating proposer); honest nodes never need it.
    """
    return sign_proposal(
        proposal.height, proposal.round, block, sign, proposal.round_changes, proposal.prepares
    )


# ---------------------------------------------------------------------------------------------
# Decoding


def decode(code: int, data: bytes) -> Message:
    """Parse the bytes sent under message `code`; raises MessageError naming what is wrong."""
    if code not in MESSAGE_CODES:
        raise MessageError(f"unknown QBFT message code {code!r}")
    if not isinstance(data, bytes):
        raise MessageError("message data must be bytes")
    if len(data) > MAX_MESSAGE_SIZE:
        raise MessageError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    name = MESSAGE_NAMES[code]
    if code == PREPARE:
        return Prepare(_decode_signed(data, _decode_prepare_payload, name))
    if code == COMMIT:
        return Commit(_decode_signed(data, _decode_commit_payload, name))
    if code == ROUND_CHANGE:
        return _decode_round_change(data)
    return _decode_proposal(data)


def peek(code: int, data: bytes) -> tuple[int, int, bytes]:
    """(height, round, author) from the outer signed payload only.

    One signature recovery instead of up to 129 for a PROPOSAL's justification, so a
    receiver can drop a message from a non-validator or for a height it will not use
    before decoding the rest (`decode` still checks everything afterwards).
    """
    if code not in MESSAGE_CODES:
        raise MessageError(f"unknown QBFT message code {code!r}")
    if not isinstance(data, bytes) or len(data) > MAX_MESSAGE_SIZE:
        raise MessageError("message data must be bytes of at most MAX_MESSAGE_SIZE")
    name = MESSAGE_NAMES[code]
    signed: Signed[Any]
    if code == PREPARE:
        signed = _decode_signed(data, _decode_prepare_payload, name)
    elif code == COMMIT:
        signed = _decode_signed(data, _decode_commit_payload, name)
    elif code == ROUND_CHANGE:
        signed = _decode_signed(_items(data, name, 3)[0], _decode_round_change_payload, name)
    else:
        signed = _decode_signed(_items(data, name, 2)[0], _decode_proposal_payload, name)
    return signed.payload.height, signed.payload.round, signed.author


def _decode_round_change(data: bytes) -> RoundChange:
    signed_raw, block_raw, prepares_raw = _items(data, "ROUND-CHANGE", 3)
    signed = _decode_signed(signed_raw, _decode_round_change_payload, "ROUND-CHANGE")
    block = None if block_raw == _EMPTY_LIST else block_raw
    prepares = tuple(
        _decode_signed(raw, _decode_prepare_payload, "ROUND-CHANGE prepare")
        for raw in _items(prepares_raw, "ROUND-CHANGE prepares", None, MAX_JUSTIFICATION)
    )
    return RoundChange(signed, block, prepares)


def _decode_proposal(data: bytes) -> Proposal:
    signed_raw, justification_raw = _items(data, "PROPOSAL", 2)
    signed = _decode_signed(signed_raw, _decode_proposal_payload, "PROPOSAL")
    round_changes_raw, prepares_raw = _items(justification_raw, "PROPOSAL justification", 2)
    round_changes = tuple(
        _decode_signed(raw, _decode_round_change_payload, "PROPOSAL round change")
        for raw in _items(round_changes_raw, "PROPOSAL round changes", None, MAX_JUSTIFICATION)
    )
    prepares = tuple(
        _decode_signed(raw, _decode_prepare_payload, "PROPOSAL prepare")
        for raw in _items(prepares_raw, "PROPOSAL prepares", None, MAX_JUSTIFICATION)
    )
    return Proposal(signed, round_changes, prepares)


def _decode_signed(raw: bytes, decode_payload: Callable[[bytes, str], P], what: str) -> Signed[P]:
    payload_raw, signature_raw = _items(raw, f"{what} signed data", 2)
    payload = decode_payload(payload_raw, what)
    signature = _bytes(signature_raw, SIGNATURE_LENGTH, f"{what} signature")
    return Signed(payload, signature, _recover(signature, signing_digest(payload), f"{what} signature"))


def _decode_prepare_payload(raw: bytes, what: str) -> PreparePayload:
    height, round_, digest = _items(raw, f"{what} payload", 3)
    return _built(
        PreparePayload,
        what,
        _scalar(height, MAX_HEIGHT, f"{what} height"),
        _scalar(round_, MAX_ROUND, f"{what} round"),
        _bytes(digest, DIGEST_LENGTH, f"{what} digest"),
    )


def _decode_commit_payload(raw: bytes, what: str) -> CommitPayload:
    height, round_, digest, seal = _items(raw, f"{what} payload", 4)
    return _built(
        CommitPayload,
        what,
        _scalar(height, MAX_HEIGHT, f"{what} height"),
        _scalar(round_, MAX_ROUND, f"{what} round"),
        _bytes(digest, DIGEST_LENGTH, f"{what} digest"),
        _bytes(seal, SIGNATURE_LENGTH, f"{what} commit seal"),
    )


def _decode_round_change_payload(raw: bytes, what: str) -> RoundChangePayload:
    height, round_, prepared_raw = _items(raw, f"{what} payload", 3)
    prepared_items = _items(prepared_raw, f"{what} prepared metadata", None, 2)
    prepared = None
    if len(prepared_items) == 2:
        prepared = _built(
            PreparedRoundMetadata,
            what,
            _scalar(prepared_items[0], MAX_ROUND, f"{what} prepared round"),
            _bytes(prepared_items[1], DIGEST_LENGTH, f"{what} prepared digest"),
        )
    elif prepared_items:
        raise MessageError(f"{what} prepared metadata must be [] or [round, digest]")
    return _built(
        RoundChangePayload,
        what,
        _scalar(height, MAX_HEIGHT, f"{what} height"),
        _scalar(round_, MAX_ROUND, f"{what} round"),
        prepared,
    )


def _decode_proposal_payload(raw: bytes, what: str) -> ProposalPayload:
    height, round_, block = _items(raw, f"{what} payload", 3)
    return _built(
        ProposalPayload,
        what,
        _scalar(height, MAX_HEIGHT, f"{what} height"),
        _scalar(round_, MAX_ROUND, f"{what} round"),
        block,
    )


T = TypeVar("T")


def _built(cls: Callable[..., T], what: str, *args: object) -> T:
    try:
        return cls(*args)
    except MessageError as exc:
        raise MessageError(f"{what}: {exc.reason}") from exc


def _recover(signature: bytes, digest: bytes, what: str) -> bytes:
    try:
        return qbft.recover_signer(signature, digest)
    except qbft.SealError as exc:
        raise MessageError(f"{what}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Minimal strict RLP walking. Items are kept as their raw encodings so that a block can be
# handed back byte for byte; lists are only opened where the schema says so, never recursively,
# so nesting depth in a block cannot exhaust the stack here.


def _item_bounds(data: bytes, start: int, what: str) -> tuple[type, int, int]:
    """(kind, payload start, item end) of the RLP item at `start`; canonical prefixes only."""
    if start >= len(data):
        raise MessageError(f"{what}: truncated RLP (no item)")
    try:
        _prefix, kind, length, payload_start = consume_length_prefix(data, start)
    except (rlp.DecodingError, IndexError) as exc:
        raise MessageError(f"{what}: non-canonical RLP length prefix") from exc
    end = payload_start + length
    if end > len(data):
        raise MessageError(f"{what}: truncated RLP item")
    return kind, payload_start, end


def _items(raw: bytes, what: str, count: int | None, maximum: int | None = None) -> list[bytes]:
    """The raw encodings of the children of the RLP list `raw` (which is exactly one item)."""
    kind, position, end = _item_bounds(raw, 0, what)
    if kind is not list:
        raise MessageError(f"{what} must be an RLP list")
    if end != len(raw):
        raise MessageError(f"{what}: trailing bytes after the list")
    children: list[bytes] = []
    while position < end:
        if maximum is not None and len(children) >= maximum:
            raise MessageError(f"{what}: more than {maximum} entries")
        _kind, _start, child_end = _item_bounds(raw, position, what)
        if child_end > end:
            raise MessageError(f"{what}: item runs past the end of its list")
        children.append(raw[position:child_end])
        position = child_end
    if count is not None and len(children) != count:
        raise MessageError(f"{what} must be a list of {count} items, got {len(children)}")
    return children


def _string(raw: bytes, what: str) -> bytes:
    kind, start, end = _item_bounds(raw, 0, what)
    if kind is not bytes:
        raise MessageError(f"{what} must be an RLP string, not a list")
    return raw[start:end]


def _bytes(raw: bytes, length: int, what: str) -> bytes:
    value = _string(raw, what)
    if len(value) != length:
        raise MessageError(f"{what} must be {length} bytes, got {len(value)}")
    return value


def _scalar(raw: bytes, maximum: int, what: str) -> int:
    value = _string(raw, what)
    if value.startswith(b"\x00"):
        raise MessageError(f"{what} is not a canonical RLP scalar (leading zero)")
    number = int.from_bytes(value, "big")
    if number > maximum:
        raise MessageError(f"{what} {number} exceeds {maximum}")
    return number


# Encoding helpers: build encodings bottom-up so that blocks can be embedded verbatim.


def _str(value: bytes) -> bytes:
    encoded: bytes = rlp.encode(value)
    return encoded


def _int(value: int) -> bytes:
    return _str(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _list(encoded_items: Sequence[bytes]) -> bytes:
    payload = b"".join(encoded_items)
    prefix: bytes = length_prefix(len(payload), 0xC0)
    return prefix + payload
