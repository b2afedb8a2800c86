"""QBFT block headers as Besu writes them: the extraData codec, the block hash and commit seals.

Header rules (EEA QBFT v1 as implemented by Hyperledger Besu):

* ``extraData = RLP([vanity(32), [validator...], vote, round, [seal...]])`` where ``vote`` is
  ``[]`` or ``[recipient(20), 0xff (add) | 0x00 (drop)]`` and ``round`` an RLP integer scalar
  of at most 4 bytes: big-endian, no leading zero byte, round 0 the empty string (``0x80``);
* block hash = keccak(RLP(header)) with the seals emptied and the round set to 0;
* commit-seal digest = keccak(RLP(header)) with the seals emptied (the round kept);
* a commit seal is a 65-byte secp256k1 signature ``r ‖ s ‖ recovery id (0/1)`` of that digest,
  with ``0 < r < n`` and a low ``s``: ``0 < s <= n/2`` (n the group order).

Validator set changes by header votes (Besu's block-based validator provider, used by QBFT
when validators are not read from a contract):

* a header carries at most one vote, cast by its proposer (the header's coinbase);
* `VoteTally` counts ballots per (recipient, add|drop); a voter's later ballot about the
  same recipient replaces its earlier one; when more than half of the current validators
  (``n // 2 + 1``) agree, the recipient is added or removed and every ballot about it is
  cleared; a removed validator's own ballots are discarded;
* at each epoch (``epochlength`` blocks) all pending ballots are discarded: Besu does it
  when it processes the block *before* an epoch block, whose own vote is ignored; a vote
  in an epoch block itself counts;
* the validator list is kept sorted ascending; a header lists the set that must seal it,
  which is the set after its parent.

Everything here is a pure function of its inputs so that a court can verify headers offline.
Headers are handled as their list of RLP field encodings, so this module needs no EVM.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import rlp
from coincurve import PublicKey
from eth_hash.auto import keccak

from evidence.errors import EvidenceError

MIX_HASH = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")
VANITY_LENGTH = 32
SEAL_LENGTH = 65
EXTRA_DATA_INDEX = 12  # position of extraData in an Ethereum header's field list
COINBASE_INDEX = 2  # the proposer, whose vote the header carries
NUMBER_INDEX = 8
# Besu's epoch length when the genesis config names none (JsonBftConfigOptions).
DEFAULT_EPOCH_LENGTH = 30_000
VOTE_ADD = b"\xff"
VOTE_DROP = b"\x00"
# secp256k1 group order; seals with s above half of it are malleated copies and are refused.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class HeaderFormatError(EvidenceError):
    """A header or its extraData does not follow the QBFT format; `field` names the part
    ("extraData", or "vote" for a malformed vote)."""

    def __init__(self, message: str, field: str = "extraData") -> None:
        super().__init__(message)
        self.field = field


class SealError(EvidenceError):
    """A commit seal is malformed, from a non-validator, duplicated, or too few."""


@dataclass(frozen=True)
class Vote:
    recipient: bytes
    add: bool


@dataclass(frozen=True)
class ExtraData:
    vanity: bytes
    validators: tuple[bytes, ...]
    vote: Vote | None
    round: int
    seals: tuple[bytes, ...]

    def encode(self) -> bytes:
        vote: list[bytes] = []
        if self.vote is not None:
            vote = [self.vote.recipient, VOTE_ADD if self.vote.add else VOTE_DROP]
        # `raw` sedes: the items are already bytes and lists, so rlp skips type inference
        # (hashing headers is on the node's and the verifiers' hot paths).
        round_bytes = self.round.to_bytes((self.round.bit_length() + 7) // 8, "big")
        return rlp.encode(
            [self.vanity, list(self.validators), vote, round_bytes, list(self.seals)], sedes=rlp.sedes.raw
        )

    @classmethod
    def decode(cls, data: bytes) -> ExtraData:
        try:
            items = rlp.decode(data, strict=True)
        except rlp.DecodingError as exc:
            raise HeaderFormatError(f"extraData is not RLP: {exc}") from exc
        if not isinstance(items, list) or len(items) != 5:
            raise HeaderFormatError("extraData must be a list of 5 items")
        vanity, validators, vote, round_bytes, seals = items
        if not isinstance(vanity, bytes) or len(vanity) != VANITY_LENGTH:
            raise HeaderFormatError("extraData vanity must be 32 bytes")
        if not isinstance(validators, list) or not all(
            isinstance(v, bytes) and len(v) == 20 for v in validators
        ):
            raise HeaderFormatError("extraData validators must be a list of 20-byte addresses")
        parsed_vote: Vote | None = None
        if not isinstance(vote, list) or len(vote) not in (0, 2):
            raise HeaderFormatError("extraData vote must be [] or [recipient, 0xff|0x00]", "vote")
        if vote:
            recipient, kind = vote
            if not isinstance(recipient, bytes) or len(recipient) != 20 or kind not in (
                VOTE_ADD,
                VOTE_DROP,
            ):
                raise HeaderFormatError("extraData vote must be [recipient(20), 0xff|0x00]", "vote")
            parsed_vote = Vote(recipient, kind == VOTE_ADD)
        if not isinstance(round_bytes, bytes) or round_bytes.startswith(b"\x00") or len(
            round_bytes
        ) > 4:
            raise HeaderFormatError("extraData round must be a canonical integer below 2**32")
        if not isinstance(seals, list) or not all(
            isinstance(s, bytes) and len(s) == SEAL_LENGTH for s in seals
        ):
            raise HeaderFormatError("extraData seals must be a list of 65-byte signatures")
        return cls(
            vanity, tuple(validators), parsed_vote, int.from_bytes(round_bytes, "big"), tuple(seals)
        )


def _hash_with_extra(fields: Sequence[bytes], extra: ExtraData) -> bytes:
    if len(fields) <= EXTRA_DATA_INDEX or not all(isinstance(f, bytes) for f in fields):
        raise HeaderFormatError("header must be a list of byte-string fields")
    patched = list(fields)
    patched[EXTRA_DATA_INDEX] = extra.encode()
    return keccak(rlp.encode(patched, sedes=rlp.sedes.raw))


def extra_data_of(fields: Sequence[bytes]) -> ExtraData:
    if len(fields) <= EXTRA_DATA_INDEX:
        raise HeaderFormatError("header has no extraData field")
    return ExtraData.decode(fields[EXTRA_DATA_INDEX])


def block_hash(fields: Sequence[bytes]) -> bytes:
    """The QBFT block hash: the header with seals emptied and round 0."""
    extra = extra_data_of(fields)
    return _hash_with_extra(fields, replace(extra, round=0, seals=()))


def commit_seal_digest(fields: Sequence[bytes]) -> bytes:
    """What each validator signs when it commits: the header with seals emptied."""
    extra = extra_data_of(fields)
    return _hash_with_extra(fields, replace(extra, seals=()))


def recover_signer(seal: bytes, digest: bytes) -> bytes:
    """The address that produced `seal` over `digest`; raises SealError if it is not a signature."""
    if len(seal) != SEAL_LENGTH:
        raise SealError(f"seal must be {SEAL_LENGTH} bytes, got {len(seal)}")
    r = int.from_bytes(seal[:32], "big")
    s = int.from_bytes(seal[32:64], "big")
    if not 0 < r < SECP256K1_N:
        raise SealError("not a canonical secp256k1 signature: r is not in 1..n-1")
    if not 0 < s <= SECP256K1_N // 2:
        # (r, n - s) with the other recovery id is the same signer's signature too: only
        # the low-s one is accepted, so that a seal has one encoding (EIP-2, Besu).
        raise SealError("not a canonical secp256k1 signature: s is not in 1..n/2 (a high s)")
    if seal[64] > 1:
        raise SealError("not a canonical secp256k1 signature: the recovery id is not 0 or 1")
    try:
        public = PublicKey.from_signature_and_message(seal, digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception for unrecoverable input
        raise SealError(f"seal does not recover to a public key: {exc}") from exc
    return address_of(public.format(compressed=False))


def address_of(uncompressed_public_key: bytes) -> bytes:
    return keccak(uncompressed_public_key[1:])[12:]


def quorum(validator_count: int) -> int:
    """Commit seals needed: ceil(2n/3), as the QBFT specification and Besu define it."""
    return -(-2 * validator_count // 3)


def verify_commit_seals(fields: Sequence[bytes], validators: Sequence[bytes]) -> tuple[bytes, ...]:
    """Check that at least a quorum of distinct `validators` sealed this header.

    Returns the signers in seal order. Raises SealError naming what is wrong.
    """
    extra = extra_data_of(fields)
    digest = commit_seal_digest(fields)
    allowed = set(validators)
    signers: list[bytes] = []
    for index, seal in enumerate(extra.seals):
        try:
            signer = recover_signer(seal, digest)
        except SealError as exc:
            raise SealError(f"seal {index}: {exc}") from exc
        if signer not in allowed:
            raise SealError(f"seal {index} is from 0x{signer.hex()}, not a validator")
        if signer in signers:
            raise SealError(f"seal {index} duplicates the seal of 0x{signer.hex()}")
        signers.append(signer)
    needed = quorum(len(validators))
    if len(signers) < needed:
        raise SealError(f"{len(signers)} commit seals, quorum of {len(validators)} is {needed}")
    return tuple(signers)


# -- validator set changes by header votes ---------------------------------------------------


class ValidatorSetError(EvidenceError):
    """A header does not carry the validator set forward: item `index` of the headers given,
    at block `height` (-1 if its number cannot be read)."""

    def __init__(self, index: int, height: int, reason: str) -> None:
        super().__init__(f"header {index} (block {height}): {reason}")
        self.index = index
        self.height = height
        self.reason = reason


@dataclass(frozen=True)
class Ballot:
    """One validator's pending vote about one recipient."""

    voter: bytes
    recipient: bytes
    add: bool


@dataclass(frozen=True)
class VoteTally:
    """The validator set and the pending ballots, as Besu's `VoteTally` keeps them.

    Immutable: `apply` returns the tally after one more block. `next_height` is the first
    block not yet accounted for; blocks must be applied in height order, and blocks
    without a vote may be skipped (only epoch resets happen in them, and `apply` accounts
    for every epoch boundary crossed since the last block it saw).
    """

    validators: tuple[bytes, ...]  # sorted ascending
    epoch_length: int
    next_height: int
    ballots: frozenset[Ballot]

    @classmethod
    def start(cls, validators: Iterable[bytes], epoch_length: int, height: int = 0) -> VoteTally:
        """The tally in force at epoch block `height` (0: genesis), before that block's own
        vote: its header's validators and no pending ballots."""
        if epoch_length < 1:
            raise ValueError(f"epoch length must be positive, got {epoch_length}")
        if height < 0 or height % epoch_length:
            raise ValueError(f"a tally starts at an epoch block, not at {height}")
        return cls(tuple(sorted(set(validators))), epoch_length, height, frozenset())

    @property
    def pending(self) -> dict[bytes, dict[bytes, bool]]:
        """recipient -> {voter: add} of the ballots not yet decided."""
        out: dict[bytes, dict[bytes, bool]] = {}
        for ballot in sorted(self.ballots, key=lambda b: (b.recipient, b.voter)):
            out.setdefault(ballot.recipient, {})[ballot.voter] = ballot.add
        return out

    def ballots_by(self, voter: bytes) -> dict[bytes, bool]:
        """recipient -> add of `voter`'s pending ballots."""
        return {b.recipient: b.add for b in self.ballots if b.voter == voter}

    def apply(self, number: int, proposer: bytes, vote: Vote | None) -> VoteTally:
        """The tally after block `number`, proposed by `proposer` and carrying `vote`."""
        if number < self.next_height:
            raise ValueError(f"block {number} is already accounted for (next is {self.next_height})")
        ballots = self.ballots
        # Pending ballots are reset at every block that precedes an epoch block (Besu's
        # VoteTallyUpdater: isEpochBlock(number + 1)); those between the last block seen and
        # this one included.
        if (number + 1) // self.epoch_length > self.next_height // self.epoch_length:
            ballots = frozenset()
        if vote is None or (number + 1) % self.epoch_length == 0:
            return replace(self, next_height=number + 1, ballots=ballots)
        if proposer not in self.validators:
            raise ValueError(f"block {number}'s proposer 0x{proposer.hex()} is not a validator")
        recipient = vote.recipient
        kept = {b for b in ballots if not (b.voter == proposer and b.recipient == recipient)}
        kept.add(Ballot(proposer, recipient, vote.add))
        # Both counts against the limit of the set before this vote, as Besu does.
        limit = len(self.validators) // 2 + 1
        adds = sum(1 for b in kept if b.recipient == recipient and b.add)
        drops = sum(1 for b in kept if b.recipient == recipient and not b.add)
        validators = set(self.validators)
        if adds >= limit:
            validators.add(recipient)
            kept = {b for b in kept if b.recipient != recipient}
        if drops >= limit:
            validators.discard(recipient)
            kept = {b for b in kept if b.recipient != recipient and b.voter != recipient}
        return VoteTally(tuple(sorted(validators)), self.epoch_length, number + 1, frozenset(kept))


def follow_validator_set(tally: VoteTally, headers: Iterable[Sequence[bytes]]) -> VoteTally:
    """Carry `tally` across sealed headers (RLP field lists) in height order.

    Each header must come after the blocks already accounted for, list exactly the set in
    force (`tally.validators`), be proposed by one of them and sealed by a quorum of them;
    its vote is then counted. Headers left out must carry no vote for the result to be the
    chain's: a light client follows the set through the vote-carrying headers alone.
    Raises ValidatorSetError naming the header.
    """
    for index, fields in enumerate(headers):
        height = -1
        try:
            if len(fields) <= EXTRA_DATA_INDEX or not all(isinstance(f, bytes) for f in fields):
                raise HeaderFormatError("not a list of header fields")
            if len(fields[COINBASE_INDEX]) != 20:
                raise HeaderFormatError("coinbase is not 20 bytes")
            height = int.from_bytes(fields[NUMBER_INDEX], "big")
            extra = extra_data_of(fields)
        except HeaderFormatError as exc:
            raise ValidatorSetError(index, height, f"not a QBFT header: {exc}") from exc
        if height < tally.next_height:
            raise ValidatorSetError(index, height, f"out of order: blocks up to {tally.next_height - 1} are "
                                                   "already accounted for")
        if extra.validators != tally.validators:
            raise ValidatorSetError(index, height, "its validator list is not the set the votes before it give")
        proposer = fields[COINBASE_INDEX]
        if proposer not in tally.validators:
            raise ValidatorSetError(index, height, f"proposer 0x{proposer.hex()} is not a validator")
        try:
            verify_commit_seals(fields, tally.validators)
        except (SealError, HeaderFormatError) as exc:
            raise ValidatorSetError(index, height, f"commit seals: {exc}") from exc
        tally = tally.apply(height, proposer, extra.vote)
    return tally

