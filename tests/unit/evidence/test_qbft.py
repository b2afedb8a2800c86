"""QBFT extraData codec, hashing rules and commit-seal verification."""
from __future__ import annotations

import pytest
import rlp
from coincurve import PrivateKey

from evidence import qbft

KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(4)]
ADDRESSES = [qbft.address_of(k.public_key.format(compressed=False)) for k in KEYS]


def header_fields(extra: qbft.ExtraData) -> list[bytes]:
    fields = [b"\x11" * 32, b"\x22" * 32, b"\x33" * 20] + [b"\x44" * 32] * 3 + [b"\x00" * 256]
    fields += [b"\x01", b"\x05", b"\x01\x00", b"", b"\x65", extra.encode(), qbft.MIX_HASH, b"\x00" * 8]
    return fields


def sealed(signers: list[PrivateKey], round_number: int = 0) -> list[bytes]:
    extra = qbft.ExtraData(b"\x00" * 32, tuple(ADDRESSES), None, round_number, ())
    fields = header_fields(extra)
    digest = qbft.commit_seal_digest(fields)
    seals = tuple(k.sign_recoverable(digest, hasher=None) for k in signers)
    fields[qbft.EXTRA_DATA_INDEX] = qbft.ExtraData(extra.vanity, extra.validators, None, round_number, seals).encode()
    return fields


def test_extra_data_round_trip_with_vote() -> None:
    extra = qbft.ExtraData(b"\x07" * 32, tuple(ADDRESSES), qbft.Vote(ADDRESSES[0], False), 3, (b"\x01" * 65,))
    assert qbft.ExtraData.decode(extra.encode()) == extra
    # The vote is [recipient, 0x00] for a drop, as Besu encodes it.
    assert rlp.decode(extra.encode())[2] == [ADDRESSES[0], b"\x00"]


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\xc0", "list of 5"),
        (rlp.encode([b"\x00" * 31, [], [], b"", []]), "vanity"),
        (rlp.encode([b"\x00" * 32, [b"\x01" * 19], [], b"", []]), "validators"),
        (rlp.encode([b"\x00" * 32, [], [b"\x01" * 20, b"\x01"], b"", []]), "vote"),
        (rlp.encode([b"\x00" * 32, [], [], b"\x00\x01", []]), "round"),
        (rlp.encode([b"\x00" * 32, [], [], b"", [b"\x01" * 64]]), "seals"),
        (b"\xff\xff", "not RLP"),
    ],
)
def test_extra_data_rejects_malformed(payload: bytes, message: str) -> None:
    with pytest.raises(qbft.HeaderFormatError, match=message):
        qbft.ExtraData.decode(payload)


def test_block_hash_ignores_seals_and_round_but_seal_digest_keeps_round() -> None:
    unsealed = sealed([])
    with_seals = sealed(KEYS[:3])
    other_round = sealed(KEYS[:3], round_number=2)
    assert qbft.block_hash(unsealed) == qbft.block_hash(with_seals) == qbft.block_hash(other_round)
    assert qbft.commit_seal_digest(with_seals) != qbft.commit_seal_digest(other_round)


def test_quorum_matches_the_spec() -> None:
    assert [qbft.quorum(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 2, 3, 4, 4, 5]


def test_verify_commit_seals_accepts_quorum_in_any_order() -> None:
    fields = sealed([KEYS[2], KEYS[0], KEYS[3]])
    assert qbft.verify_commit_seals(fields, ADDRESSES) == (ADDRESSES[2], ADDRESSES[0], ADDRESSES[3])


def test_verify_commit_seals_refuses_too_few_duplicates_and_strangers() -> None:
    with pytest.raises(qbft.SealError, match="quorum"):
        qbft.verify_commit_seals(sealed(KEYS[:2]), ADDRESSES)
    with pytest.raises(qbft.SealError, match="duplicates"):
        qbft.verify_commit_seals(sealed([KEYS[0], KEYS[0], KEYS[1]]), ADDRESSES)
    stranger = PrivateKey(b"\x99" * 32)
    with pytest.raises(qbft.SealError, match="not a validator"):
        qbft.verify_commit_seals(sealed([KEYS[0], KEYS[1], stranger]), ADDRESSES)


def test_malleated_high_s_seal_is_refused() -> None:
    fields = sealed([KEYS[0]])
    seal = qbft.extra_data_of(fields).seals[0]
    s = int.from_bytes(seal[32:64], "big")
    flipped = seal[:32] + (qbft.SECP256K1_N - s).to_bytes(32, "big") + bytes([seal[64] ^ 1])
    with pytest.raises(qbft.SealError, match="canonical"):
        qbft.recover_signer(flipped, qbft.commit_seal_digest(fields))


def test_seal_over_other_round_recovers_someone_else() -> None:
    fields = sealed([KEYS[0]], round_number=1)
    extra = qbft.extra_data_of(fields)
    moved = list(fields)
    moved[qbft.EXTRA_DATA_INDEX] = qbft.ExtraData(extra.vanity, extra.validators, None, 0, extra.seals).encode()
    with pytest.raises(qbft.SealError):
        qbft.verify_commit_seals(moved, ADDRESSES[:1])
