"""Parsing JSON-RPC parameters at the door: hex quantities, data, addresses, block tags."""
from __future__ import annotations

import re
from typing import Any

from node.errors import InvalidParams

MAX_QUANTITY = 2**256 - 1
# Python's int() and bytes.fromhex() accept '_' and whitespace; JSON-RPC hex does not.
_QUANTITY = re.compile(r"0[xX][0-9a-fA-F]{1,64}")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def quantity(value: Any, name: str = "quantity") -> int:
    if isinstance(value, bool):
        raise InvalidParams(f"{name}: expected a hex quantity, got {value!r}")
    if isinstance(value, int) and 0 <= value <= MAX_QUANTITY:
        return value  # lenient like geth's decimal numbers in JSON
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise InvalidParams(f"{name}: expected a 0x-prefixed hex quantity, got {_show(value)}")
    return int(value[2:], 16)


def data(value: Any, name: str = "data", length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidParams(f"{name}: expected 0x-prefixed hex data, got {_show(value)}")
    body = value[2:]
    if len(body) % 2:
        raise InvalidParams(f"{name}: hex data has an odd number of digits")
    if not _HEX_DIGITS.fullmatch(body):
        raise InvalidParams(f"{name}: invalid hex data")
    raw = bytes.fromhex(body)
    if length is not None and len(raw) != length:
        raise InvalidParams(f"{name}: expected {length} bytes, got {len(raw)}")
    return raw


def address(value: Any, name: str = "address") -> bytes:
    return data(value, name, 20)


def hash32(value: Any, name: str = "hash") -> bytes:
    return data(value, name, 32)


def storage_slot(value: Any, name: str = "slot") -> int:
    """A storage key: a quantity or 32 bytes of data, as clients send either."""
    if isinstance(value, str) and len(value) == 66:
        return int.from_bytes(data(value, name, 32), "big")
    return quantity(value, name)


def obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParams(f"{name}: expected an object, got {_show(value)}")
    return value


def boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"{name}: expected true or false, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_hex(value: int) -> str:
    return hex(value)


def to_data(value: bytes) -> str:
    return "0x" + value.hex()
