"""QBFT block headers as Besu writes them: the extraData codec, the block hash and commit seals.

Header rules (EEA QBFT v1 as implemented by Hyperledger Besu):

* ``extraData = RLP([vanity(32), [validator...], vote, round, [seal...]])`` where ``vote`` is
  ``[]`` or ``[recipient(20), 0xff (add) | 0x00 (drop)]`` and ``round`` an RLP integer scalar.
* block hash = keccak(RLP(header)) with the seals emptied and the round set to 0;
* commit-seal digest = keccak(RLP(header)) with the seals emptied (the round kept);
* a commit seal is a 65-byte secp256k1 signature ``r ‖ s ‖ recovery id (0/1)`` of that digest.

Everything here is a pure function of its inputs so that a court can verify headers offline.
Headers are handled as their list of RLP field encodings, so this module needs no EVM.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import rlp
from coincurve import PublicKey
from eth_hash.auto import keccak

MIX_HASH = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")
VANITY_LENGTH = 32
SEAL_LENGTH = 65
EXTRA_DATA_INDEX = 12  # position of extraData in an Ethereum header's field list
VOTE_ADD = b"\xff"
VOTE_DROP = b"\x00"
# secp256k1 group order; seals with s above half of it are malleated copies and are refused.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class HeaderFormatError(ValueError):
    """A header or its extraData does not follow the QBFT format."""


class SealError(ValueError):
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
            raise HeaderFormatError("extraData vote must be [] or [recipient, 0xff|0x00]")
        if vote:
            recipient, kind = vote
            if not isinstance(recipient, bytes) or len(recipient) != 20 or kind not in (
                VOTE_ADD,
                VOTE_DROP,
            ):
                raise HeaderFormatError("extraData vote must be [recipient(20), 0xff|0x00]")
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
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2) or seal[64] > 1:
        raise SealError("seal is not a canonical secp256k1 signature (r, s, recovery id)")
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
        signer = recover_signer(seal, digest)
        if signer not in allowed:
            raise SealError(f"seal {index} is from 0x{signer.hex()}, not a validator")
        if signer in signers:
            raise SealError(f"seal {index} duplicates the seal of 0x{signer.hex()}")
        signers.append(signer)
    needed = quorum(len(validators))
    if len(signers) < needed:
        raise SealError(f"{len(signers)} commit seals, quorum of {len(validators)} is {needed}")
    return tuple(signers)
