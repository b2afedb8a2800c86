"""QBFT message codec: Besu's RLP shapes, signatures and authors, and every malformed shape refused."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rlp
from coincurve import PrivateKey
from eth_hash.auto import keccak
from rlp.codec import length_prefix

from evidence import qbft
from node.consensus import messages as m

KEYS = [PrivateKey(i.to_bytes(32, "big")) for i in range(1, 8)]
ADDRESSES = [qbft.address_of(k.public_key.format(compressed=False)) for k in KEYS]
VECTORS = Path(__file__).resolve().parents[3] / "vectors" / "qbft" / "rlp_messages.json"
DIGEST_A = b"\xaa" * 32
DIGEST_B = b"\xbb" * 32
BLOCK = rlp.encode([[b"header", b"\x05", b"\x01"], [b"tx1", b"tx2"], []])


def signer(index: int) -> Callable[[bytes], bytes]:
    key = KEYS[index]
    return lambda digest: key.sign_recoverable(digest, hasher=None)


def prepare(index: int = 0, height: int = 5, round_: int = 1, digest: bytes = DIGEST_A) -> m.Prepare:
    return m.sign_prepare(height, round_, digest, signer(index))


def round_change_with_certificate() -> m.RoundChange:
    prepares = [prepare(i, round_=1).signed for i in range(3)]
    return m.sign_round_change(
        5, 2, signer(3), m.PreparedRoundMetadata(1, DIGEST_A), BLOCK, prepares
    )


def proposal_with_justification() -> m.Proposal:
    rc = round_change_with_certificate()
    others = [m.sign_round_change(5, 2, signer(i)).signed for i in (4, 5)]
    return m.sign_proposal(5, 2, BLOCK, signer(1), [rc.signed, *others], rc.prepares)


def all_messages() -> list[m.Message]:
    seal = KEYS[2].sign_recoverable(b"\x42" * 32, hasher=None)
    return [
        prepare(),
        m.sign_commit(5, 1, DIGEST_A, seal, signer(2)),
        m.sign_round_change(5, 3, signer(1)),
        round_change_with_certificate(),
        m.sign_proposal(5, 0, BLOCK, signer(0)),
        proposal_with_justification(),
    ]


# ---------------------------------------------------------------------------------------------
# Round trips, authors, Besu's shapes


@pytest.mark.parametrize("message", all_messages(), ids=lambda msg: type(msg).__name__)
def test_round_trip_and_author(message: m.Message) -> None:
    decoded = m.decode(message.code, message.encode())
    assert decoded == message
    assert decoded.encode() == message.encode()
    assert decoded.author in ADDRESSES


def test_author_is_recovered_from_signature() -> None:
    msg = prepare(index=4)
    assert m.decode(m.PREPARE, msg.encode()).author == ADDRESSES[4]
    # Change the round inside the signed payload: the signature now recovers to someone else.
    items = rlp.decode(msg.encode())
    items[0][1] = b"\x02"
    other = m.decode(m.PREPARE, rlp.encode(items))
    assert other.round == 2
    assert other.author != ADDRESSES[4]


def test_signed_digest_is_keccak_of_code_and_payload_list() -> None:
    """QbftPayload.hashForSignature: keccak(RLP([code, payload])), built here with pyrlp."""
    payload = m.PreparePayload(300, 2, DIGEST_A)
    expected = keccak(rlp.encode([0x13, [300, 2, DIGEST_A]]))
    assert m.signing_digest(payload) == expected
    rc = m.RoundChangePayload(7, 4, m.PreparedRoundMetadata(3, DIGEST_B))
    assert m.signing_digest(rc) == keccak(rlp.encode([0x15, [7, 4, [3, DIGEST_B]]]))
    empty = m.RoundChangePayload(7, 4, None)
    assert m.signing_digest(empty) == keccak(rlp.encode([0x15, [7, 4, []]]))


def test_encodings_match_independent_pyrlp_structures() -> None:
    """Our hand-built encodings equal pyrlp's for the same nested structures."""
    seal = b"\x01" * 64 + b"\x00"
    p = prepare(height=2**40, round_=0)
    assert p.encode() == rlp.encode([[2**40, 0, DIGEST_A], p.signed.signature])
    c = m.sign_commit(9, 1, DIGEST_B, seal, signer(1))
    assert c.encode() == rlp.encode([[9, 1, DIGEST_B, seal], c.signed.signature])
    block_items = rlp.decode(BLOCK)
    rc = round_change_with_certificate()
    assert rc.encode() == rlp.encode(
        [
            [[5, 2, [1, DIGEST_A]], rc.signed.signature],
            block_items,
            [[[5, 1, DIGEST_A], pr.signature] for pr in rc.prepares],
        ]
    )
    bare = m.sign_round_change(5, 3, signer(1))
    assert bare.encode() == rlp.encode([[[5, 3, []], bare.signed.signature], [], []])
    proposal = proposal_with_justification()
    assert proposal.encode() == rlp.encode(
        [
            [[5, 2, block_items], proposal.signed.signature],
            [
                [[[rc_.height, rc_.round, [rc_.payload.prepared.round, rc_.payload.prepared.digest]]
                  if rc_.payload.prepared else [rc_.height, rc_.round, []], rc_.signature]
                 for rc_ in proposal.round_changes],
                [[[pr.height, pr.round, pr.payload.digest], pr.signature] for pr in proposal.prepares],
            ],
        ]
    )


def test_block_is_embedded_verbatim_and_handed_back() -> None:
    proposal = m.sign_proposal(5, 0, BLOCK, signer(0))
    data = proposal.encode()
    assert BLOCK in data
    assert m.decode(m.PROPOSAL, data).block == BLOCK


def test_resign_proposal_keeps_round_and_justification_with_another_block() -> None:
    original = proposal_with_justification()
    other_block = rlp.encode([[b"header", b"\x05", b"\x02"], [], []])
    forged = m.resign_proposal(original, other_block, signer(1))
    assert (forged.height, forged.round, forged.author) == (original.height, original.round, original.author)
    assert forged.round_changes == original.round_changes and forged.prepares == original.prepares
    assert forged.block == other_block and forged.signed.signature != original.signed.signature
    assert m.decode(m.PROPOSAL, forged.encode()) == forged


def test_signers_signature_must_recover() -> None:
    with pytest.raises(m.MessageError, match="signature"):
        m.sign_prepare(1, 0, DIGEST_A, lambda digest: b"\x00" * 65)
    with pytest.raises(m.MessageError, match="signature must be 65 bytes"):
        m.sign_prepare(1, 0, DIGEST_A, lambda digest: b"\x01" * 64)


# ---------------------------------------------------------------------------------------------
# Malformed input


def _reencode(message: m.Message, mutate: Callable[[Any], None]) -> bytes:
    items = rlp.decode(message.encode())
    mutate(items)
    return rlp.encode(items)


def _high_s(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (qbft.SECP256K1_N - s).to_bytes(32, "big") + bytes([signature[64] ^ 1])


def _signed_raw(payload_raw: bytes) -> bytes:
    """[payload, signature] around a hand-written (possibly non-canonical) payload encoding."""
    body = payload_raw + rlp.encode(b"\x01" * 65)
    return length_prefix(len(body), 0xC0) + body


PREP = prepare()
RC = round_change_with_certificate()
PROP = proposal_with_justification()


def _set(path: tuple[int, ...], value: Any) -> Callable[[Any], None]:
    def mutate(items: Any) -> None:
        target = items
        for index in path[:-1]:
            target = target[index]
        target[path[-1]] = value

    return mutate


MALFORMED: list[tuple[str, int, bytes, str]] = [
    ("unknown code", 0x16, PREP.encode(), "unknown QBFT message code"),
    ("not RLP list", m.PREPARE, rlp.encode(b"abc"), "must be an RLP list"),
    ("trailing bytes", m.PREPARE, PREP.encode() + b"\x00", "trailing bytes"),
    ("truncated", m.PREPARE, PREP.encode()[:-1], "truncated"),
    ("empty input", m.PREPARE, b"", "truncated"),
    ("non-canonical length prefix", m.PREPARE, b"\xf8\x05" + b"\x80" * 5, "non-canonical"),
    ("short string for single byte", m.PREPARE, _signed_raw(b"\xe4\x05\x81\x01\xa0" + DIGEST_A), "non-canonical"),
    ("too few items", m.PREPARE, _reencode(PREP, lambda i: i[0].pop()), "list of 3 items"),
    ("too many items", m.PREPARE, _reencode(PREP, lambda i: i[0].append(b"")), "list of 3 items"),
    ("height with leading zero", m.PREPARE, _reencode(PREP, _set((0, 0), b"\x00\x05")), "leading zero"),
    ("round zero as 0x00", m.PREPARE, _reencode(PREP, _set((0, 1), b"\x00")), "leading zero"),
    ("height above 2**63-1", m.PREPARE, _reencode(PREP, _set((0, 0), (2**63).to_bytes(8, "big"))), "exceeds"),
    ("round above 2**31-1", m.PREPARE, _reencode(PREP, _set((0, 1), (2**31).to_bytes(4, "big"))), "exceeds"),
    ("height is a list", m.PREPARE, _reencode(PREP, _set((0, 0), [])), "must be an RLP string"),
    ("digest 31 bytes", m.PREPARE, _reencode(PREP, _set((0, 2), b"\xaa" * 31)), "digest must be 32 bytes"),
    ("signature 64 bytes", m.PREPARE, _reencode(PREP, _set((1,), PREP.signed.signature[:64])), "signature must be 65 bytes"),
    ("recovery id 2", m.PREPARE, _reencode(PREP, _set((1,), PREP.signed.signature[:64] + b"\x02")), "canonical"),
    ("high-s signature", m.PREPARE, _reencode(PREP, _set((1,), _high_s(PREP.signed.signature))), "canonical"),
    ("zero signature", m.PREPARE, _reencode(PREP, _set((1,), b"\x00" * 65)), "canonical"),
    ("commit seal 64 bytes", m.COMMIT, rlp.encode([[1, 0, DIGEST_A, b"\x01" * 64], PREP.signed.signature]), "commit seal must be 65 bytes"),
    ("round change metadata of 1 item", m.ROUND_CHANGE, _reencode(RC, _set((0, 0, 2), [b"\x01"])), "prepared metadata"),
    ("round change metadata of 3 items", m.ROUND_CHANGE, _reencode(RC, _set((0, 0, 2), [b"\x01", DIGEST_A, b""])), "prepared metadata"),
    ("round change metadata reversed", m.ROUND_CHANGE, _reencode(RC, _set((0, 0, 2), [DIGEST_A, b"\x01"])), "prepared"),
    ("round change metadata is a string", m.ROUND_CHANGE, _reencode(RC, _set((0, 0, 2), b"")), "must be an RLP list"),
    ("round change with metadata, no block", m.ROUND_CHANGE, _reencode(RC, _set((1,), [])), "no prepared block"),
    ("round change block is a string", m.ROUND_CHANGE, _reencode(RC, _set((1,), b"block")), "one list"),
    ("round change of 2 items", m.ROUND_CHANGE, _reencode(RC, lambda i: i.pop()), "list of 3 items"),
    ("round change prepares not a list", m.ROUND_CHANGE, _reencode(RC, _set((2,), b"")), "must be an RLP list"),
    (
        "round change without metadata but with block",
        m.ROUND_CHANGE,
        rlp.encode([rlp.decode(m.sign_round_change(5, 3, signer(1)).encode())[0], rlp.decode(BLOCK), []]),
        "carries a block or prepares",
    ),
    (
        "round change without metadata but with prepares",
        m.ROUND_CHANGE,
        rlp.encode([rlp.decode(m.sign_round_change(5, 3, signer(1)).encode())[0], [], [rlp.decode(PREP.encode())]]),
        "carries a block or prepares",
    ),
    ("proposal block is a string", m.PROPOSAL, _reencode(PROP, _set((0, 0, 2), b"block")), "one list"),
    ("proposal block is an empty list", m.PROPOSAL, _reencode(PROP, _set((0, 0, 2), [])), "empty list"),
    ("proposal without justification", m.PROPOSAL, _reencode(PROP, lambda i: i.pop()), "list of 2 items"),
    ("proposal justification of 1 list", m.PROPOSAL, _reencode(PROP, lambda i: i[1].pop()), "list of 2 items"),
    ("proposal prepare with bad digest", m.PROPOSAL, _reencode(PROP, _set((1, 1, 0, 0, 2), b"\x01")), "digest must be 32 bytes"),
    ("proposal round change not signed data", m.PROPOSAL, _reencode(PROP, _set((1, 0, 0), [b"x"])), "list of 2 items"),
    (
        "proposal with 65 round changes",
        m.PROPOSAL,
        _reencode(PROP, _set((1, 0), [rlp.decode(RC.encode())[0]] * 65)),
        "more than 64 entries",
    ),
    (
        "round change with 65 prepares",
        m.ROUND_CHANGE,
        _reencode(RC, _set((2,), [rlp.decode(PREP.encode())] * 65)),
        "more than 64 entries",
    ),
]


@pytest.mark.parametrize("name, code, data, reason", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_messages_are_refused(name: str, code: int, data: bytes, reason: str) -> None:
    with pytest.raises(m.MessageError, match=reason):
        m.decode(code, data)


def test_oversized_message_is_refused_before_parsing() -> None:
    huge = b"\xc0" * (m.MAX_MESSAGE_SIZE + 1)
    with pytest.raises(m.MessageError, match="exceeds"):
        m.decode(m.PROPOSAL, huge)


def test_every_truncation_of_a_valid_message_is_refused() -> None:
    data = PROP.encode()
    for cut in range(0, len(data), 7):
        with pytest.raises(m.MessageError):
            m.decode(m.PROPOSAL, data[:cut])


def test_construction_checks_fields() -> None:
    with pytest.raises(m.MessageError, match="height"):
        m.PreparePayload(-1, 0, DIGEST_A)
    with pytest.raises(m.MessageError, match="round"):
        m.PreparePayload(1, 2**31, DIGEST_A)
    with pytest.raises(m.MessageError, match="round"):
        m.PreparePayload(1, True, DIGEST_A)
    with pytest.raises(m.MessageError, match="32 bytes"):
        m.PreparedRoundMetadata(0, b"\x00")
    with pytest.raises(m.MessageError, match="one list"):
        m.ProposalPayload(1, 0, BLOCK + b"\x00")
    with pytest.raises(m.MessageError, match="at most 64"):
        m.Proposal(PROP.signed, tuple([RC.signed] * 65), ())


# ---------------------------------------------------------------------------------------------
# Besu's published reference vectors (see tests/vectors/qbft/README.md)


def _vectors() -> dict[str, Any]:
    return json.loads(VECTORS.read_text())


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _scalar(fixed: bytes) -> bytes:
    return int.from_bytes(fixed, "big").to_bytes((int.from_bytes(fixed, "big").bit_length() + 7) // 8, "big")


def _transcode_round_identifier(payload: list[Any]) -> None:
    """Early Besu wrote height as 8 fixed bytes and round as 4; current Besu writes scalars."""
    assert len(payload[0]) == 8 and len(payload[1]) == 4
    payload[0], payload[1] = _scalar(payload[0]), _scalar(payload[1])


def _transcode_round_change_payload(payload: list[Any]) -> None:
    _transcode_round_identifier(payload)
    if payload[2]:  # early [digest, round] -> current [round, digest]
        digest, round_ = payload[2]
        payload[2] = [round_, digest]


def _transcode(kind: str, data: bytes) -> bytes:
    items = rlp.decode(data)
    if kind in ("prepare", "commit"):
        _transcode_round_identifier(items[0])
    elif kind == "roundChange":
        _transcode_round_change_payload(items[0][0])
        if items[1] == b"":  # early "no block" was RLP null (0x80); current Besu: empty list
            items[1] = []
        for p in items[2]:
            _transcode_round_identifier(p[0])
    else:
        _transcode_round_identifier(items[0][0])
        for rc in items[1][0]:
            _transcode_round_change_payload(rc[0])
        for p in items[1][1]:
            _transcode_round_identifier(p[0])
    return rlp.encode(items)


CODES = {"prepare": m.PREPARE, "commit": m.COMMIT, "roundChange": m.ROUND_CHANGE, "proposal": m.PROPOSAL}


@pytest.mark.parametrize("name", sorted(json.loads(VECTORS.read_text())))
def test_besu_reference_vectors_fixed_width_integers_are_refused(name: str) -> None:
    case = _vectors()[name]
    with pytest.raises(m.MessageError, match="leading zero"):
        m.decode(CODES[case["message"]["type"]], _hex(case["rlp"]))


def _check_signed(signed: m.Signed[Any], expected: dict[str, Any]) -> None:
    assert signed.signature == _hex(expected["signature"])
    assert signed.author == qbft.recover_signer(signed.signature, m.signing_digest(signed.payload))


@pytest.mark.parametrize("name", sorted(json.loads(VECTORS.read_text())))
def test_besu_reference_vectors_shape_after_integer_transcoding(name: str) -> None:
    """With integers re-encoded as scalars, Besu's bytes decode to the vector's fields and our
    encoder writes exactly those bytes: list nesting, block embedding and signatures agree."""
    case = _vectors()[name]
    message_json = case["message"]
    kind = message_json["type"]
    data = _transcode(kind, _hex(case["rlp"]))
    decoded = m.decode(CODES[kind], data)
    assert decoded.encode() == data
    if kind == "prepare":
        assert isinstance(decoded, m.Prepare)
        unsigned = message_json["unsignedPrepare"]
        assert (decoded.height, decoded.round, decoded.digest) == (
            unsigned["sequence"], unsigned["round"], _hex(unsigned["digest"])
        )
        _check_signed(decoded.signed, message_json)
    elif kind == "commit":
        assert isinstance(decoded, m.Commit)
        unsigned = message_json["unsignedCommit"]
        assert (decoded.height, decoded.round, decoded.digest, decoded.commit_seal) == (
            unsigned["sequence"], unsigned["round"], _hex(unsigned["digest"]), _hex(unsigned["commitSeal"])
        )
        _check_signed(decoded.signed, message_json)
    elif kind == "roundChange":
        assert isinstance(decoded, m.RoundChange)
        signed_json = message_json["signedRoundChange"]
        unsigned = signed_json["unsignedRoundChange"]
        assert (decoded.height, decoded.round) == (unsigned["sequence"], unsigned["round"])
        if unsigned["preparedValue"] is None:
            assert decoded.prepared is None and decoded.prepared_block is None
        else:
            assert decoded.prepared == m.PreparedRoundMetadata(
                unsigned["preparedRound"], _hex(unsigned["preparedValue"])
            )
            assert decoded.prepared_block == _hex(message_json["block"])
        assert len(decoded.prepares) == len(message_json["prepares"])
        _check_signed(decoded.signed, signed_json)
    else:
        assert isinstance(decoded, m.Proposal)
        signed_json = message_json["signedProposal"]
        unsigned = signed_json["unsignedProposal"]
        assert (decoded.height, decoded.round) == (unsigned["sequence"], unsigned["round"])
        assert decoded.block == _hex(unsigned["block"])
        assert [rc.payload.prepared for rc in decoded.round_changes] == [
            m.PreparedRoundMetadata(rc["unsignedRoundChange"]["preparedRound"], _hex(rc["unsignedRoundChange"]["preparedValue"]))
            for rc in message_json["roundChanges"]
        ]
        assert [p.payload.digest for p in decoded.prepares] == [
            _hex(p["unsignedPrepare"]["digest"]) for p in message_json["prepares"]
        ]
        _check_signed(decoded.signed, signed_json)


def test_reference_vector_block_is_a_besu_qbft_block() -> None:
    """The embedded block is Besu's: 15 header fields, the QBFT mix hash, handed back verbatim."""
    block = _hex(_vectors()["proposal"]["message"]["signedProposal"]["unsignedProposal"]["block"])
    header, transactions, ommers = rlp.decode(block)
    assert len(header) == 15 and transactions == [] and ommers == []
    assert header[13] == qbft.MIX_HASH


@pytest.mark.parametrize("message", all_messages(), ids=lambda msg: type(msg).__name__)
def test_peek_reads_height_round_and_author_of_the_outer_payload(message: m.Message) -> None:
    assert m.peek(message.code, message.encode()) == (message.height, message.round, message.author)


def test_peek_refuses_what_decode_refuses_at_the_outer_layer() -> None:
    good = prepare().encode()
    with pytest.raises(m.MessageError):
        m.peek(0x99, good)
    with pytest.raises(m.MessageError):
        m.peek(m.PREPARE, good[:-1])
    with pytest.raises(m.MessageError):
        m.peek(m.PROPOSAL, good)  # a PREPARE is not a PROPOSAL's shape
