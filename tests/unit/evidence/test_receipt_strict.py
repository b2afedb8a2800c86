"""The receipt verifier accepts exactly what docs/receipt.md says, and refuses the rest
with a VerificationError naming the step - never an uncaught exception.

Each case here was found where the reference verifier (evidence/receipt.py, and the
genesis reader evidence/genesis.py) accepted more than the document says, or crashed:
hex read by `bytes.fromhex` (upper case, white space between pairs), an epoch length read
by `int(x, 0)` ("0o17", "1_000", " 12 ", 30000.5), a lone surrogate in `entry.case`, and
lists where the anchoring event has byte strings.

Steps 4 to 7 run before the seals (step 10), so whoever writes a receipt controls the
header, both trie proofs, the transaction and its receipt: `forge` builds such a receipt
with a fixed key, reaching step 7 with whatever log it is given. Seals are absent, so the
best a forged receipt can reach is step 10; every test here fails before that.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
import rlp
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak

from evidence import qbft, receipt as receipt_module
from evidence.genesis import EMPTY_OMMERS_HASH
from evidence.mpt import BLANK_ROOT, OrderedTrie
from evidence.receipt import (
    ANCHORED_TOPIC,
    EVIDENCE_REGISTRY,
    RECEIPT_VERSION,
    GenesisTrust,
    Receipt,
    VerificationError,
    verify_receipt,
)

CHAIN_ID = 1337
CHAIN_NAME = "a forged chain"
GENESIS_HASH = b"\x6e" * 32
VALIDATOR = b"\x11" * 20
SIGNER = Account.from_key(b"\x01" * 32)  # fixed key: the forger's
SENDER = bytes.fromhex(SIGNER.address[2:])
DIGEST = bytes(range(32))
CASE = "IP-2026-77"
KIND = "web-capture"


def trust(epoch_length: int = 30_000) -> GenesisTrust:
    return GenesisTrust(CHAIN_ID, CHAIN_NAME, GENESIS_HASH, (VALIDATOR,), epoch_length)


def event_data(kind: str = KIND, case: str = CASE) -> bytes:
    return abi_encode(["string", "string", "uint8", "uint256", "bytes32", "uint256"],
                      [kind, case, 1, 1, b"\x00" * 32, 1])


def good_log() -> list[Any]:
    topics = [ANCHORED_TOPIC, DIGEST, b"\x00" * 12 + SENDER, keccak(CASE.encode())]
    return [EVIDENCE_REGISTRY, topics, event_data()]


def forge(log: list[Any] | None = None, case: str = CASE) -> dict[str, Any]:
    """A receipt document whose steps 1-6 pass and whose transaction receipt holds `log`
    (an RLP structure: byte strings and lists), unsealed."""
    transaction = bytes(SIGNER.sign_transaction({
        "nonce": 0, "gas": 100_000, "gasPrice": 0, "value": 0, "data": b"",
        "to": "0x" + EVIDENCE_REGISTRY.hex(), "chainId": CHAIN_ID}).raw_transaction)
    body = rlp.encode([b"\x01", b"", b"\x00" * 256, [good_log() if log is None else log]])
    transactions, receipts = OrderedTrie([transaction]), OrderedTrie([body])
    extra = qbft.ExtraData(b"\x00" * 32, (VALIDATOR,), None, 0, ()).encode()
    header = [b"\x00" * 32, EMPTY_OMMERS_HASH, VALIDATOR, b"\x00" * 32, transactions.root, receipts.root,
              b"\x00" * 256, b"\x01", b"\x05", b"\x01\x00", b"", b"\x10", extra, qbft.MIX_HASH, b"\x00" * 8,
              b"", BLANK_ROOT, b"", b"", b"\x00" * 32]

    def hx(b: bytes) -> str:
        return "0x" + b.hex()

    return {
        "version": RECEIPT_VERSION, "chainId": CHAIN_ID, "chainName": CHAIN_NAME, "genesisHash": hx(GENESIS_HASH),
        "entry": {"digest": hx(DIGEST), "algorithm": "sha256", "kind": KIND, "case": case,
                  "metadataDigest": hx(b"\x00" * 32)},
        "batch": None,
        "anchor": {"registry": hx(EVIDENCE_REGISTRY), "blockNumber": 5, "blockHash": hx(qbft.block_hash(header)),
                   "transactionIndex": 0, "transactionHash": hx(keccak(transaction)), "logIndex": 0},
        "proof": {"header": hx(rlp.encode(header)), "transaction": hx(transaction),
                  "transactionProof": [hx(n) for n in transactions.proof(0)], "receipt": hx(body),
                  "receiptProof": [hx(n) for n in receipts.proof(0)], "validatorHistory": []},
    }


def failure(document: dict[str, Any] | str, genesis: GenesisTrust | None = None) -> VerificationError:
    """The VerificationError the receipt fails with (any other exception propagates)."""
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(VerificationError) as caught:
        verify_receipt(Receipt.parse_text(text), genesis or trust(), None)
    return caught.value


def test_the_forged_receipt_reaches_the_seals() -> None:
    # the harness is sound: with an honest log every step up to the seals passes
    assert failure(forge()).step == "commit seals"


# -- hex: 0x, lower case, two digits a byte, nothing else -------------------------------------

def _hex_variants() -> list[tuple[str, str]]:
    digest = "0x" + DIGEST.hex()
    return [
        ("upper-case digits", digest.upper().replace("0X", "0x")),
        ("upper-case X", "0X" + DIGEST.hex()),
        ("a space between pairs", digest[:4] + " " + digest[4:]),
        ("a tab between pairs", digest[:4] + "\t" + digest[4:]),
        ("a trailing space", digest + " "),
        ("a leading space", " " + digest),
        ("an odd number of digits", digest + "0"),
        ("an underscore", digest[:4] + "_" + digest[4:]),
        ("non-ASCII digits", digest[:-1] + "\uff10"),
    ]


@pytest.mark.parametrize("name, value", _hex_variants())
def test_hex_other_than_lower_case_0x_pairs_is_refused_at_format(name: str, value: str) -> None:
    document = forge()
    document["entry"]["digest"] = value
    error = failure(document)
    assert error.step == "format" and "entry.digest" in error.reason, (name, error)


@pytest.mark.parametrize("path", ["anchor.blockHash", "proof.header", "proof.transactionProof.0", "genesisHash"])
def test_upper_case_hex_is_refused_in_every_byte_field(path: str) -> None:
    document = forge()
    *parents, leaf = path.split(".")
    obj: Any = document
    for name in parents:
        obj = obj[name]
    key: Any = int(leaf) if leaf.isdigit() else leaf
    obj[key] = "0x" + obj[key][2:].upper()
    assert failure(document).step == "format"


# -- strings: UTF-8 only, the lengths the registry takes ---------------------------------------

@pytest.mark.parametrize("field, value", [
    ("case", "IP-\ud800"), ("case", "\udfff"), ("kind", "web-\udc00"),
    ("kind", ""), ("kind", "k" * 33), ("case", "c" * 65), ("case", "\u6848" * 22),
])
def test_a_kind_or_case_that_is_no_registry_string_is_refused_at_format(field: str, value: str) -> None:
    document = forge()
    document["entry"][field] = value
    error = failure(document)
    assert error.step == "format" and f"entry.{field}" in error.reason


def test_the_longest_kind_and_case_are_read() -> None:
    document = forge()
    document["entry"].update(kind="k" * 32, case="\u6848" * 21)  # 63 bytes
    assert failure(document).step == "anchoring event"  # read; the event names others


# -- step 7: every part of the log a byte string where the event has one ----------------------

def _log_with(position: tuple[int, ...], value: Any) -> list[Any]:
    log = good_log()
    target: Any = log
    for index in position[:-1]:
        target = target[index]
    target[position[-1]] = value
    return log


@pytest.mark.parametrize("name, position, value", [
    ("data a list", (2,), [b"\x01" * 32] * 6),
    ("data a list of 192 items", (2,), [b"\x01"] * 192),
    ("data an empty list", (2,), []),
    ("submitter a list", (1, 2), [b"\x00" * 12, SENDER]),
    ("anchored value a list", (1, 1), [DIGEST]),
    ("case topic a list", (1, 3), [keccak(CASE.encode())]),
    ("event topic a list", (1, 0), [ANCHORED_TOPIC]),
    ("address a list", (0,), [EVIDENCE_REGISTRY]),
    ("topics a byte string", (1,), b"\x00" * 4),
])
def test_a_list_where_the_event_has_bytes_fails_at_the_anchoring_event(name: str, position: tuple[int, ...],
                                                                        value: Any) -> None:
    assert failure(forge(_log_with(position, value))).step == "anchoring event", name


def test_a_log_that_is_a_byte_string_fails_at_the_anchoring_event() -> None:
    assert failure(forge(b"\x01\x02\x03")).step == "anchoring event"  # type: ignore[arg-type]


# -- integers: JSON integers of at most MAX_JSON_INTEGER_DIGITS digits ------------------------

def test_an_integer_longer_than_the_cap_is_refused_at_format_anywhere() -> None:
    text = json.dumps(forge())
    long = "9" * (receipt_module.MAX_JSON_INTEGER_DIGITS + 1)
    for changed in (text.replace('"logIndex": 0', f'"logIndex": {long}'),
                    text.replace('"batch": null', f'"batch": null, "note": -{long}')):
        error = failure(changed)
        assert error.step == "format" and "digits" in error.reason


def test_an_integer_at_the_cap_is_read() -> None:
    text = json.dumps(forge()).replace('"logIndex": 0', f'"logIndex": {"9" * receipt_module.MAX_JSON_INTEGER_DIGITS}')
    assert failure(text).step == "anchoring event"  # read; the receipt has no such log


# -- every field is required: batch may be null, not absent -----------------------------------

def test_a_receipt_without_batch_is_refused_at_format() -> None:
    document = forge()
    del document["batch"]
    error = failure(document)
    assert error.step == "format" and "batch" in error.reason


# -- entry.algorithm: case, hyphens and JSON white space at either end forgiven, no more ------

@pytest.mark.parametrize("spelling", ["sha256", "SHA-256", " sha256\n", "\tSha-256 ", "S-H-A-2-5-6"])
def test_algorithm_spellings_the_document_forgives_are_read(spelling: str) -> None:
    document = forge()
    document["entry"]["algorithm"] = spelling
    assert failure(document).step == "commit seals"


@pytest.mark.parametrize("spelling", ["\ufeffsha256", "sha256\x1c", "\x85sha256", "sha256\u00a0", "sha 256",
                                      "sha256\x0b", "\u017fha256"])
def test_algorithm_with_other_characters_is_refused_at_format(spelling: str) -> None:
    document = forge()
    document["entry"]["algorithm"] = spelling
    error = failure(document)
    assert error.step == "format" and "entry.algorithm" in error.reason
