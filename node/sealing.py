"""Sealing blocks as a QBFT validator: the proposal's extraData and commit seals.

A lone validator is a 1-of-1 QBFT network: it proposes, and its own commit seal is a
quorum. The multi-validator consensus collects the other validators' seals and adds them
with the same `with_seals`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from coincurve import PrivateKey

from evidence import qbft
from node.vm import QBFTHeader

VANITY = b"\x00" * qbft.VANITY_LENGTH


class ValidatorKey:
    """A validator's secp256k1 key; signs commit seals."""

    def __init__(self, secret: bytes) -> None:
        self._key = PrivateKey(secret)
        self.address = qbft.address_of(self._key.public_key.format(compressed=False))

    def commit_seal(self, header: QBFTHeader) -> bytes:
        digest = qbft.commit_seal_digest(header.fields_rlp())
        return self._key.sign_recoverable(digest, hasher=None)


def proposal_extra(validators: Sequence[bytes], round_number: int) -> qbft.ExtraData:
    return qbft.ExtraData(VANITY, tuple(validators), None, round_number, ())


def with_seals(header: QBFTHeader, seals: Sequence[bytes]) -> QBFTHeader:
    extra = qbft.extra_data_of(header.fields_rlp())
    sealed = header.copy(extra_data=replace(extra, seals=tuple(seals)).encode())
    return sealed
