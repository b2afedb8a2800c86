"""The system contracts' events: which log is which event (from the shipped ABIs), and
one decoder from a log to a typed `Event` — and back, for tests and benchmarks.

The node indexes every block's events with it (node/storage/indexes.py), `ledger audit tx`
shows a receipt's events with it and the SDK returns a transaction's events with it
(client/ledger.py), so the three agree on every value.

An `Event`'s `args` are keyed by camelCase name ("docDigest") with JSON values — bytes as
0x-hex, addresses EIP-55, integers, booleans, text, lists of addresses — the form the feed
and /v1/ serve (docs/rest.md). `Event.abi_args()` gives the ABI's own names ("doc_digest")
and bytes as bytes, which is what web3's `process_log` gives and the SDK has always returned.

The decoder reads only the types these contracts emit (uintN, bool, address, bytes32,
string, bytes, address[]): eth_abi does the same at ~10x the cost, and the node decodes
in every block commit. tests/unit/chaincode/test_events.py holds it to eth_abi's answers on
logs recorded from a dev node and on random values.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from eth_utils import keccak, to_checksum_address

from chaincode import SYSTEM_CONTRACTS, ChaincodeError, load_artifact

# What a dynamic ABI value is here: a head word that points at a tail (length, contents).
_DYNAMIC = frozenset(("string", "bytes", "address[]"))
_ZERO_12 = bytes(12)


class EventDecodeError(ChaincodeError, ValueError):
    """A log that names a system-contract event (its address and topic 0) but does not
    decode as that event. Our contracts do not emit such logs; a chain that holds one was
    not made by them."""

    def __init__(self, contract: str, event: str, reason: str) -> None:
        super().__init__(f"{contract}.{event}: {reason}")
        self.contract = contract
        self.event = event
        self.reason = reason


class Field(NamedTuple):
    """One argument of an event: its ABI name, the camelCase key it has in `Event.args`,
    and its ABI type."""

    name: str
    key: str
    abi_type: str


@dataclass(frozen=True)
class EventType:
    """One event of one system contract, from its shipped ABI."""

    contract: str
    address: bytes
    name: str
    topic: bytes                  # topic 0: keccak256 of the event's signature
    indexed: tuple[Field, ...]    # carried in topics 1..3, in order
    data: tuple[Field, ...]       # ABI-encoded in the log's data, in order

    @functools.cached_property
    def data_types(self) -> tuple[str, ...]:
        return tuple(f.abi_type for f in self.data)


class Event(NamedTuple):
    """A decoded system-contract event; `args` by camelCase key, as JSON values. (A named
    tuple, not a frozen dataclass: the node makes one per log of every block it commits,
    and a tuple is made in a fraction of the time.)"""

    type: EventType
    args: dict[str, Any]

    @property
    def contract(self) -> str:
        return self.type.contract

    @property
    def name(self) -> str:
        return self.type.name

    def abi_args(self) -> dict[str, Any]:
        """The arguments by their ABI names, bytes32 and bytes values as bytes (what
        web3's `process_log` gives): the SDK's `TxResult.events`."""
        values: dict[str, Any] = {}
        for field in (*self.type.indexed, *self.type.data):
            value = self.args[field.key]
            values[field.name] = bytes.fromhex(value[2:]) if field.abi_type.startswith("bytes") else value
        return values


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _event_types() -> dict[tuple[bytes, bytes], EventType]:
    """(contract address, topic 0) -> its event, for every event of every system contract."""
    types: dict[tuple[bytes, bytes], EventType] = {}
    for contract, address in SYSTEM_CONTRACTS.items():
        for item in load_artifact(contract).abi:
            if item.get("type") != "event":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            fields = [(Field(i["name"], _camel(i["name"]), i["type"]), bool(i["indexed"])) for i in item["inputs"]]
            topic = keccak(text=signature)
            types[(address, topic)] = EventType(
                contract, address, item["name"], topic,
                tuple(f for f, indexed in fields if indexed), tuple(f for f, indexed in fields if not indexed),
            )
    return types


EVENT_TYPES = _event_types()


def event_type(contract: str, name: str) -> EventType:
    """The event `name` of system contract `contract` (KeyError if it emits none)."""
    for candidate in EVENT_TYPES.values():
        if candidate.contract == contract and candidate.name == name:
            return candidate
    raise KeyError(f"{contract} emits no {name}")


# -- decoding ------------------------------------------------------------------------------


def decode_log(address: bytes, topics: Sequence[bytes], data: bytes) -> Event | None:
    """The system-contract event a log carries; None for a log no system contract emits
    (another address, or a topic 0 none of its events has). Raises EventDecodeError for
    a log that names one of their events but does not decode as it. Takes plain bytes
    (`decode_rpc_log` takes hex text or web3's HexBytes)."""
    if not topics:
        return None
    found = EVENT_TYPES.get((address, topics[0]))
    if found is None:
        return None
    if len(topics) != 1 + len(found.indexed):
        raise EventDecodeError(found.contract, found.name, f"{len(topics) - 1} indexed topics, the event has "
                                                           f"{len(found.indexed)}")
    # The lengths zipped are equal: the topics were counted above, and _decode_data gives
    # one value per type.
    args: dict[str, Any] = {}
    try:
        for (_, key, abi_type), topic in zip(found.indexed, topics[1:]):
            args[key] = _static(abi_type, topic)
        values = _decode_data(found.data_types, data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventDecodeError(found.contract, found.name, str(exc)) from None
    for (_, key, _), value in zip(found.data, values):
        args[key] = value
    return Event(found, args)


def decode_rpc_log(log: Mapping[str, Any]) -> Event | None:
    """`decode_log` of a log as JSON-RPC or web3 gives it (address, topics and data as
    0x-hex text or bytes)."""
    return decode_log(_raw(log["address"]), [_raw(t) for t in log.get("topics") or ()], _raw(log.get("data") or b""))


def _raw(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


@functools.lru_cache(maxsize=65_536)
def checksum_address(address: bytes) -> str:
    """EIP-55 text of a 20-byte address, cached: it costs a keccak, and the same parties,
    submitters and contracts recur in every block."""
    return to_checksum_address(address)


@functools.lru_cache(maxsize=64)
def _uint_bits(abi_type: str) -> int | None:
    return int(abi_type[4:]) if abi_type.startswith("uint") and abi_type[4:].isdigit() else None


def _word(data: bytes, offset: int) -> bytes:
    word = data[offset:offset + 32]
    if len(word) != 32:
        raise ValueError("data ends inside a word")
    return word


def _static(abi_type: str, word: bytes) -> Any:
    """One 32-byte word of a static ABI type as its JSON value (0x hex for bytes32, EIP-55
    for addresses, int or bool)."""
    if abi_type == "bytes32":
        return "0x" + word.hex()
    if abi_type == "address":
        if word[:12] != _ZERO_12:
            raise ValueError("address with dirty high bytes")
        return checksum_address(word[12:])
    value = int.from_bytes(word, "big")
    if abi_type == "bool":
        if value > 1:
            raise ValueError("bool out of range")
        return value == 1
    bits = _uint_bits(abi_type)
    if bits is None or value >> bits:
        raise ValueError(f"cannot decode {abi_type}")
    return value


def _decode_data(types: Sequence[str], data: bytes) -> list[Any]:
    """ABI-decode a log's data to JSON values. Raises ValueError on malformed data."""
    values: list[Any] = []
    for position, abi_type in enumerate(types):
        head = _word(data, 32 * position)
        if abi_type not in _DYNAMIC:
            values.append(_static(abi_type, head))
            continue
        offset = int.from_bytes(head, "big")
        length = int.from_bytes(_word(data, offset), "big") if offset < len(data) else -1
        if length < 0 or length > len(data):
            raise ValueError("dynamic value out of range")
        if abi_type == "address[]":
            values.append([_static("address", _word(data, offset + 32 + 32 * i)) for i in range(length)])
            continue
        raw = data[offset + 32:offset + 32 + length]
        if len(data) < offset + 32 + -(-length // 32) * 32:  # the value and its padding, as eth_abi reads it
            raise ValueError("data ends inside a value")
        values.append(raw.decode("utf-8") if abi_type == "string" else "0x" + raw.hex())
    return values


# -- encoding (tests and benchmarks seed chains with it) --------------------------------------


def encode_log(contract: str, event: str, args: Mapping[str, Any]) -> tuple[bytes, list[int], bytes]:
    """The (address, topics as ints, data) of a log `contract` would emit for `event` with
    these camelCase `args` (bytes, int, str, bool, 0x addresses): `decode_log`'s inverse,
    for tests and benchmarks that seed the indexes without running the EVM."""
    found = event_type(contract, event)
    topics = [int.from_bytes(found.topic, "big")]
    for field in found.indexed:
        topics.append(int.from_bytes(_encode_static(field.abi_type, args[field.key]), "big"))
    data = _encode_data(found.data_types, [args[field.key] for field in found.data])
    return found.address, topics, data


def _hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def _encode_static(abi_type: str, value: Any) -> bytes:
    if abi_type == "bytes32":
        raw = _hex_bytes(value) if isinstance(value, str) else bytes(value)
        if len(raw) > 32:
            raise ValueError("bytes32 value longer than 32 bytes")
        return raw.ljust(32, b"\x00")
    if abi_type == "address":
        raw = _hex_bytes(value) if isinstance(value, str) else bytes(value)
        if len(raw) != 20:
            raise ValueError("an address is 20 bytes")
        return _ZERO_12 + raw
    if abi_type == "bool":
        if not isinstance(value, bool):
            raise ValueError("bool value expected")
        return int(value).to_bytes(32, "big")
    bits = _uint_bits(abi_type)
    if bits is None or isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise ValueError(f"cannot encode {value!r} as {abi_type}")
    return value.to_bytes(32, "big")


def _encode_data(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """`_decode_data`'s inverse: the ABI encoding (heads, then the dynamic tails) that
    eth_abi.encode gives for these types, at a fraction of its cost."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(types)
    for abi_type, value in zip(types, values, strict=True):
        if abi_type not in _DYNAMIC:
            heads.append(_encode_static(abi_type, value))
            continue
        if abi_type == "address[]":
            tail = len(value).to_bytes(32, "big") + b"".join(_encode_static("address", item) for item in value)
        else:
            raw = value.encode("utf-8") if abi_type == "string" else bytes(value)
            tail = len(raw).to_bytes(32, "big") + raw + bytes(-len(raw) % 32)
        heads.append(offset.to_bytes(32, "big"))
        tails.append(tail)
        offset += len(tail)
    return b"".join(heads) + b"".join(tails)
