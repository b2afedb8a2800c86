"""Sealing blocks as a QBFT validator: the validator key, the proposal's extraData and
commit seals. The consensus (node/consensus/) collects a quorum of commit seals and adds
them with `with_seals`; a lone validator's own seal is a quorum of one.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import cast

from coincurve import PrivateKey

from evidence import qbft
from node.execution.vm import QBFTHeader

VANITY = b"\x00" * qbft.VANITY_LENGTH


class ValidatorKey:
    """A validator's secp256k1 key; signs commit seals."""

    def __init__(self, secret: bytes) -> None:
        self._key = PrivateKey(secret)
        self.address = qbft.address_of(self._key.public_key.format(compressed=False))

    def sign(self, digest: bytes) -> bytes:
        """A 65-byte recoverable signature (r, s, v in 0/1) of a 32-byte digest."""
        return self._key.sign_recoverable(digest, hasher=None)

    def commit_seal(self, header: QBFTHeader) -> bytes:
        return self.sign(qbft.commit_seal_digest(header.fields_rlp()))


def proposal_extra(validators: Sequence[bytes], round_number: int) -> qbft.ExtraData:
    return qbft.ExtraData(VANITY, tuple(validators), None, round_number, ())


def with_seals(header: QBFTHeader, seals: Sequence[bytes]) -> QBFTHeader:
    extra = qbft.extra_data_of(header.fields_rlp())
    # py-evm's copy() is typed as returning its base header class; ours copies to ours.
    return cast(QBFTHeader, header.copy(extra_data=replace(extra, seals=tuple(seals)).encode()))
