"""A chain's identity from its genesis.json alone: the genesis block hash, the chain id and name.

A v2 receipt names the chain it belongs to by these three (docs/receipt.md, step 1), so
that a verifier given another chain's genesis.json says so before any seal is checked.
The hash is computed here, offline, exactly as the node builds its block 0
(node/execution/chain.py `build_genesis_block`):

1. state root    the secure Merkle-Patricia trie of `alloc`: keccak256(address) ->
                 RLP([nonce, balance, storageRoot, codeHash]), where storageRoot is the
                 secure trie keccak256(slot as 32 bytes) -> RLP(value) of the account's
                 non-zero storage slots and codeHash is keccak256(code). Every account
                 listed is in the trie, even an empty one;
2. header        the Cancun header fields, in order: parentHash 0^32, ommersHash
                 keccak256(RLP([])), coinbase 0^20, stateRoot, transactionsRoot and
                 receiptsRoot the empty trie's root, logsBloom 0^256, difficulty 1,
                 number 0, gasLimit, gasUsed 0, timestamp, extraData (genesis.json's
                 bytes), mixHash (the QBFT constant), nonce 0^8, baseFeePerGas 0,
                 withdrawalsRoot the empty trie's root, blobGasUsed 0, excessBlobGas 0,
                 parentBeaconBlockRoot 0^32. genesis.json's `difficulty`, `nonce` and
                 `coinbase` are not read: the node writes these constants whatever they say;
3. hash          the QBFT block hash of that header (evidence.qbft.block_hash; with no
                 seals and round 0 in genesis it is keccak256 of the header's RLP).

Numbers in genesis.json are JSON integers or strings of "0x"-hex or decimal digits (ASCII,
nothing else: no sign, "_", white space or "0o"); byte strings "0x"-hex, two digits a byte,
either case (Besu's genesis files carry checksummed addresses). The node reads genesis.json
with `parse_number`, `parse_hex_bytes` and `parse_address` from here, so the two accept the
same documents. What the node refuses (a bad field, an out-of-range number) is refused here
with `GenesisFormatError` naming the field; so is what it would read ambiguously (an
account listed twice under two spellings of its address).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth_hash.auto import keccak

from evidence import qbft
from evidence.errors import EvidenceError
from evidence.mpt import BLANK_ROOT, secure_trie_root

ZERO_HASH = b"\x00" * 32
ZERO_ADDRESS = b"\x00" * 20
EMPTY_OMMERS_HASH = keccak(rlp.encode([]))
EMPTY_CODE_HASH = keccak(b"")
EMPTY_BLOOM = b"\x00" * 256
QBFT_DIFFICULTY = 1
QBFT_NONCE = b"\x00" * 8
# A name is shown in verifiers' messages, on certificates and in browsers: room for a
# long Chinese name (42 characters of 3 UTF-8 bytes) and nothing the size of a document.
MAX_CHAIN_NAME_BYTES = 128
# Accounts plus storage slots of `alloc` hashed before a genesis is refused: a verifier
# is handed genesis.json by whoever asks it to verify. Consortium genesis files hold a
# handful of accounts (the system contracts and the first members); Ethereum mainnet's
# holds 8,893. 100,000 accounts take ~5 s and ~170 MB here (2 cores, Python 3.11).
MAX_ALLOC_ENTRIES = 100_000
# config.qbft.epochlength: positive and below 2**31, the node's bound on every QBFT period
# (node/execution/genesis.py `_positive`); 30000 (Besu's default) when absent.
MAX_EPOCH_LENGTH = 2**31 - 1
# Unicode categories a chain name must not contain: control and format characters (a
# right-to-left override can make one name display as another), surrogates, private
# use, and line or paragraph separators.
_REFUSED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_HEX_NUMBER = re.compile(r"0x[0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]+")
_ADDRESS = re.compile(r"(?:0x)?[0-9a-fA-F]{40}")


class GenesisFormatError(EvidenceError):
    """genesis.json cannot name a chain: `field` is the part at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ChainIdentity:
    """What names a chain: its id (config.chainId), name and genesis block hash."""

    chain_id: int
    name: str
    genesis_hash: bytes

    def describe(self) -> str:
        return f"{self.name} (genesis 0x{self.genesis_hash.hex()}, chain id {self.chain_id})"


def identify_chain(document: Any) -> ChainIdentity:
    """The identity of the chain `document` (a parsed genesis.json) starts."""
    config = _object(document, "config", "genesis")
    chain_id = parse_number(_required(config, "chainId", "config"), "config.chainId", 1, 2**63)
    return ChainIdentity(chain_id, chain_name(document), genesis_hash(document))


def chain_name(document: Any) -> str:
    """`evidenceLedger.chainName`, or "chain <config.chainId>" when genesis names none."""
    ledger = document.get("evidenceLedger", {}) if isinstance(document, Mapping) else None
    if not isinstance(ledger, Mapping):
        raise GenesisFormatError("evidenceLedger", "must be an object")
    if "chainName" in ledger:
        return check_chain_name(ledger["chainName"], "evidenceLedger.chainName")
    config = _object(document, "config", "genesis")
    return fallback_chain_name(parse_number(_required(config, "chainId", "config"), "config.chainId", 1, 2**63))


def fallback_chain_name(chain_id: int) -> str:
    return f"chain {chain_id}"


def check_chain_name(name: Any, field: str) -> str:
    """`name` if it is a usable chain name: 1 to MAX_CHAIN_NAME_BYTES bytes of UTF-8 in
    Unicode NFC, no control, format, surrogate, private-use or separator characters, and
    no white space at either end (two names that print alike must be equal)."""
    if not isinstance(name, str):
        raise GenesisFormatError(field, "must be a string")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate from a \\ud800 escape
        raise GenesisFormatError(field, "is not valid Unicode") from exc
    if not 1 <= size <= MAX_CHAIN_NAME_BYTES:
        raise GenesisFormatError(field, f"must be 1 to {MAX_CHAIN_NAME_BYTES} bytes of UTF-8, got {size}")
    if name != name.strip():
        raise GenesisFormatError(field, "must not begin or end with white space")
    if unicodedata.normalize("NFC", name) != name:
        raise GenesisFormatError(field, "must be in Unicode normalization form C")
    for character in name:
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            raise GenesisFormatError(field, f"must not contain the character U+{ord(character):04X}")
    return name


def epoch_length(document: Any) -> int:
    """config.qbft.epochlength: blocks after which pending validator votes are discarded."""
    config = _object(document, "config", "genesis")
    qbft_config = config.get("qbft", {})
    if not isinstance(qbft_config, Mapping):
        raise GenesisFormatError("config.qbft", "must be a JSON object")
    if "epochlength" not in qbft_config:
        return qbft.DEFAULT_EPOCH_LENGTH
    return parse_number(qbft_config["epochlength"], "config.qbft.epochlength", 1, MAX_EPOCH_LENGTH + 1)


def genesis_extra_data(document: Any) -> qbft.ExtraData:
    """genesis.json's extraData, which must be RLP([vanity(32), [validator(20)...],
    [], round 0, []]): at least one validator, none twice, no vote, no seals."""
    raw = parse_hex_bytes(_required(_object(document, None, "genesis"), "extraData", "genesis"), "extraData")
    try:
        extra = qbft.ExtraData.decode(raw)
    except qbft.HeaderFormatError as exc:
        raise GenesisFormatError("extraData", str(exc)) from exc
    if not extra.validators:
        raise GenesisFormatError("extraData", "names no validators")
    if len(set(extra.validators)) != len(extra.validators):
        raise GenesisFormatError("extraData", "names a validator twice")
    if extra.vote is not None or extra.round != 0 or extra.seals:
        raise GenesisFormatError("extraData", "genesis extraData carries no vote, round 0 and no seals")
    return extra


def genesis_hash(document: Any) -> bytes:
    """The QBFT hash of block 0 of the chain `document` starts (module docstring)."""
    return qbft.block_hash(genesis_header(document))


def genesis_header(document: Any) -> list[bytes]:
    """Block 0's header as its list of RLP field values (module docstring, step 2)."""
    genesis = _object(document, None, "genesis")
    gas_limit = parse_number(_required(genesis, "gasLimit", "genesis"), "gasLimit", 21_000, 2**63)
    timestamp = parse_number(genesis.get("timestamp", 0), "timestamp", 0, 2**63)
    if "mixHash" in genesis and parse_hex_bytes(genesis["mixHash"], "mixHash") != qbft.MIX_HASH:
        raise GenesisFormatError("mixHash", f"must be the QBFT constant 0x{qbft.MIX_HASH.hex()}")
    genesis_extra_data(genesis)  # the node refuses to start a chain from any other
    extra_data = parse_hex_bytes(genesis["extraData"], "extraData")
    return [
        ZERO_HASH, EMPTY_OMMERS_HASH, ZERO_ADDRESS, state_root(_object(genesis, "alloc", "genesis")),
        BLANK_ROOT, BLANK_ROOT, EMPTY_BLOOM, _scalar(QBFT_DIFFICULTY), _scalar(0), _scalar(gas_limit),
        _scalar(0), _scalar(timestamp), extra_data, qbft.MIX_HASH, QBFT_NONCE, _scalar(0),
        BLANK_ROOT, _scalar(0), _scalar(0), ZERO_HASH,
    ]


def state_root(alloc: Mapping[str, Any]) -> bytes:
    """The state root of genesis.json's `alloc` (module docstring, step 1)."""
    accounts: dict[bytes, bytes] = {}
    entries = 0
    for key, entry in alloc.items():
        where = f"alloc.{key}"
        address = parse_address(key, where)
        if address in accounts:
            raise GenesisFormatError(where, f"lists account 0x{address.hex()} a second time")
        if not isinstance(entry, Mapping):
            raise GenesisFormatError(where, "must be an object")
        storage_doc = entry.get("storage", {})
        if not isinstance(storage_doc, Mapping):
            raise GenesisFormatError(f"{where}.storage", "must be an object")
        entries += 1 + len(storage_doc)
        if entries > MAX_ALLOC_ENTRIES:
            raise GenesisFormatError("alloc", f"more than {MAX_ALLOC_ENTRIES} accounts and storage slots")
        storage: dict[bytes, bytes] = {}
        for slot_doc, value_doc in storage_doc.items():
            slot = parse_number(slot_doc, f"{where}.storage", 0, 2**256)
            value = parse_number(value_doc, f"{where}.storage.{slot_doc}", 0, 2**256)
            if slot.to_bytes(32, "big") in storage:
                raise GenesisFormatError(f"{where}.storage.{slot_doc}", f"lists slot {slot} a second time")
            if value:  # a zero slot is no slot: the node's state stores none
                storage[slot.to_bytes(32, "big")] = rlp.encode(_scalar(value))
        code = parse_hex_bytes(entry["code"], f"{where}.code") if "code" in entry else b""
        balance = parse_number(entry.get("balance", 0), f"{where}.balance", 0, 2**256)
        nonce = parse_number(entry.get("nonce", 0), f"{where}.nonce", 0, 2**64)
        accounts[address] = rlp.encode(
            [_scalar(nonce), _scalar(balance), secure_trie_root(storage), keccak(code)], sedes=rlp.sedes.raw)
    return secure_trie_root(accounts)


def _scalar(value: int) -> bytes:
    """An RLP integer: big-endian, no leading zero byte, 0 as the empty string."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _object(document: Any, name: str | None, where: str) -> Mapping[str, Any]:
    value = document if name is None else _required(document, name, where)
    if not isinstance(value, Mapping):
        raise GenesisFormatError(name or where, "must be a JSON object")
    return value


def _required(obj: Any, name: str, where: str) -> Any:
    if not isinstance(obj, Mapping):
        raise GenesisFormatError(where, "must be a JSON object")
    if name not in obj:
        raise GenesisFormatError(name if where == "genesis" else f"{where}.{name}", "is missing")
    return obj[name]


def parse_address(value: Any, field: str) -> bytes:
    """A 20-byte address: 40 hex digits of either case, "0x" optional (Besu's alloc keys)."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise GenesisFormatError(field, "must be a 20-byte address in hex")
    return bytes.fromhex(value.removeprefix("0x"))


def parse_number(value: Any, field: str, low: int, high: int) -> int:
    """A JSON integer, or a string of 0x-hex or decimal digits, in [low, high)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (_HEX_NUMBER.fullmatch(value) or _DECIMAL.fullmatch(value)):
        hexadecimal = value.startswith("0x")
        digits = (value[2:] if hexadecimal else value).lstrip("0") or "0"
        # Every bound here is at most 2**256 (64 hex or 78 decimal digits): longer is out of
        # range, and is refused before int() spends time on it.
        if len(digits) > (64 if hexadecimal else 78):
            raise GenesisFormatError(field, f"must be below {high}, got {len(digits)} digits")
        number = int(digits, 16 if hexadecimal else 10)
    else:
        raise GenesisFormatError(field, f"must be an integer or a 0x-hex or decimal string, got {value!r}")
    if not low <= number < high:
        raise GenesisFormatError(field, f"must be at least {low} and below {high}, got {number}")
    return number


def parse_hex_bytes(value: Any, field: str) -> bytes:
    """ "0x" and hex digits of either case, two a byte; no white space (bytes.fromhex
    alone would skip it between pairs)."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise GenesisFormatError(field, "must be 0x-prefixed hex, two digits a byte")
    return bytes.fromhex(value[2:])
