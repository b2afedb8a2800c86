"""What the verifier reads from genesis.json is what docs/receipt.md says and what the node
accepts: numbers are JSON integers or strings of "0x"-hex or decimal digits (no "0o17",
"1_000", " 12 " or 30000.5 - Python's int() takes the first three), byte strings "0x"-hex
with no white space, and config.qbft.epochlength a positive integer below 2**31, as the
node requires. The node's side of the same table is tests/unit/node/test_genesis.py."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from evidence import genesis as eg
from evidence.receipt import DEFAULT_EPOCH_LENGTH, GenesisTrust, VerificationError

ROOT = Path(__file__).resolve().parents[3]
REPO_GENESIS = json.loads((ROOT / "genesis.json").read_text())

# config.qbft.epochlength values: JSON integers and 0x-hex or decimal strings are read.
READ_EPOCHS = [(30000, 30000), ("30000", 30000), ("0x7530", 30000), ("0x0001", 1), ("007", 7),
               (2**31 - 1, 2**31 - 1), ("0x7fffffff", 2**31 - 1)]
# ...and nothing else: what int(x, 0) or int() also took, out of range, not a number.
REFUSED_EPOCHS = ["0o17", "0b11", "1_000", "0x_1f", " 12 ", "12\n", "+12", "-12", "0X1F", "\uff11\uff12",
                  "\u0661\u0662", "", "0x", 30000.5, 30000.0, 0, -1, 2**31, "0x80000000", True, None, [30000]]


def trust_with_epoch(value: Any) -> GenesisTrust:
    document = copy.deepcopy(REPO_GENESIS)
    document["config"]["qbft"]["epochlength"] = value
    return GenesisTrust.from_document(document)


@pytest.mark.parametrize("value, expected", READ_EPOCHS)
def test_an_epoch_length_as_the_document_writes_numbers_is_read(value: Any, expected: int) -> None:
    assert trust_with_epoch(value).epoch_length == expected


@pytest.mark.parametrize("value", REFUSED_EPOCHS)
def test_an_epoch_length_written_any_other_way_is_refused_at_genesis(value: Any) -> None:
    with pytest.raises(VerificationError) as caught:
        trust_with_epoch(value)
    assert caught.value.step == "genesis" and "config.qbft.epochlength" in caught.value.reason


def test_an_absent_epoch_length_is_the_default() -> None:
    document = copy.deepcopy(REPO_GENESIS)
    del document["config"]["qbft"]["epochlength"]
    assert GenesisTrust.from_document(document).epoch_length == DEFAULT_EPOCH_LENGTH
    del document["config"]["qbft"]
    assert GenesisTrust.from_document(document).epoch_length == DEFAULT_EPOCH_LENGTH


@pytest.mark.parametrize("value", ["0x" + "12" * 20 + " ", "0x12 34", "0x12\t34", " 0x1234", "0X1234", "0x123"])
def test_hex_with_white_space_or_an_odd_digit_is_refused(value: str) -> None:
    with pytest.raises(eg.GenesisFormatError):
        eg.parse_hex_bytes(value, "f")


@pytest.mark.parametrize("value", ["1_000", " 12", "12 ", "+1", "\uff11", "0o17", "0X1F", "0x", "", 1.0, True, None])
def test_numbers_other_than_integers_hex_or_decimal_strings_are_refused(value: Any) -> None:
    with pytest.raises(eg.GenesisFormatError):
        eg.parse_number(value, "f", 0, 2**256)


def test_genesis_hex_may_be_upper_case() -> None:
    # genesis.json is Besu's format, whose addresses are often checksummed (mixed case)
    assert eg.parse_hex_bytes("0xABcd", "f") == b"\xab\xcd"
    assert eg.parse_number("0xFF", "f", 0, 256) == 255
