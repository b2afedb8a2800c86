"""The node-to-node framing codec: frames, HELLO and STATUS payloads, as bytes in and out.

Pure: no sockets, no clock. `node.network.connection.read_frame` reads a frame off a
stream with `decode_length` and `decode_body`; `node.network.peers` decides what a frame
means for a connection.

``length (4 bytes, big-endian) ‖ body``, body = ``kind (1) ‖ code (1) ‖ request id (4,
big-endian; REQUEST, RESPONSE and ERROR only) ‖ payload``. `length` counts the body and
is capped at `MAX_FRAME` (16 MiB: blocks travel in sync responses and in proposals). An
oversize length, an unknown kind, a body too short for its header, or a HELLO/STATUS
that does not decode raises `ProtocolViolation`, whose `counter` names the
`node.network.peers.COUNTER_NAMES` entry the network counts it under (the peer is then
disconnected with a logged reason; the process never crashes). Kinds:

======== ===================================================================
HELLO    first frame each way after TLS: RLP [version, chain_id, genesis_hash,
         name, validator address or b"", height, head_hash]
STATUS   our new head: RLP [height, head_hash]
MESSAGE  `code` + opaque payload
REQUEST  `code` + request id + payload
RESPONSE request id + payload: the handler's result
ERROR    request id + UTF-8 reason (capped at `MAX_ERROR_BYTES`): the handler
         raised, was busy, or its result was too large
======== ===================================================================
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import rlp

from node.errors import NodeError

PROTOCOL_VERSION = 1
# Largest frame body (kind, code, request id, payload). Blocks travel in sync responses
# and proposals; 16 MiB is far above a block at the genesis gas limit yet bounds what a
# peer can make us buffer for one frame.
MAX_FRAME = 16 * 1024 * 1024
LENGTH_BYTES = 4
REQUEST_ID_BYTES = 4
HEADER_BYTES = 2                                   # kind, code
ID_HEADER_BYTES = HEADER_BYTES + REQUEST_ID_BYTES
MAX_PAYLOAD = MAX_FRAME - ID_HEADER_BYTES          # fits in any frame kind
# Error reasons are for logs; a peer cannot make us keep more of its prose than this.
MAX_ERROR_BYTES = 1024
# RFC 5280 ub-common-name: the peer name is a certificate commonName.
MAX_NAME_BYTES = 64
HASH_BYTES = 32
ADDRESS_BYTES = 20
HELLO_ITEMS = 7
STATUS_ITEMS = 2


class ProtocolViolation(NodeError):
    """The peer broke the frame protocol; `counter` names the counter it is counted
    under ("oversize", "malformed", "flood"), `reason` says what it sent."""

    def __init__(self, counter: str, reason: str) -> None:
        super().__init__(reason)
        self.counter = counter
        self.reason = reason


class Kind(enum.IntEnum):
    HELLO = 0
    STATUS = 1
    MESSAGE = 2
    REQUEST = 3
    RESPONSE = 4
    ERROR = 5


_ID_KINDS = frozenset({Kind.REQUEST, Kind.RESPONSE, Kind.ERROR})


@dataclass(frozen=True)
class Frame:
    kind: Kind
    code: int
    request_id: int
    payload: bytes
    size: int          # on the wire, length prefix included


@dataclass(frozen=True)
class Hello:
    """What a node says about itself when a connection opens; `name` must be the
    commonName of its TLS certificate, `validator` the address its certificate binds
    (None for an observer)."""

    chain_id: int
    genesis_hash: bytes
    name: str
    validator: bytes | None
    height: int
    head_hash: bytes


def encode_frame(kind: Kind, code: int, payload: bytes, request_id: int = 0) -> bytes:
    """One frame, length prefix included; ValueError if it would exceed MAX_FRAME."""
    if not 0 <= code <= 0xFF:
        raise ValueError(f"frame code must fit one byte, got {code}")
    head = bytes((kind, code))
    if kind in _ID_KINDS:
        head += request_id.to_bytes(REQUEST_ID_BYTES, "big")
    length = len(head) + len(payload)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes exceeds MAX_FRAME ({MAX_FRAME})")
    return length.to_bytes(LENGTH_BYTES, "big") + head + payload


def decode_length(prefix: bytes) -> int:
    """The body length a LENGTH_BYTES prefix announces; ProtocolViolation if no frame
    body can be that long (before a byte of the body is read)."""
    length = int.from_bytes(prefix, "big")
    if length > MAX_FRAME:
        raise ProtocolViolation("oversize", f"frame length {length} exceeds MAX_FRAME ({MAX_FRAME})")
    if length < HEADER_BYTES:
        raise ProtocolViolation("malformed", f"frame length {length} is shorter than its header")
    return length


def decode_body(body: bytes) -> Frame:
    """The frame whose body (what follows the length prefix) is `body`; ProtocolViolation
    for an unknown kind or a body too short for its header."""
    length = len(body)
    try:
        kind = Kind(body[0])
    except ValueError:
        raise ProtocolViolation("malformed", f"unknown frame kind {body[0]}") from None
    if kind in _ID_KINDS:
        if length < ID_HEADER_BYTES:
            raise ProtocolViolation("malformed", f"{kind.name} frame too short for a request id")
        return Frame(kind, body[1], int.from_bytes(body[2:ID_HEADER_BYTES], "big"), body[ID_HEADER_BYTES:],
                     LENGTH_BYTES + length)
    return Frame(kind, body[1], 0, body[HEADER_BYTES:], LENGTH_BYTES + length)


def _uint(item: object, what: str) -> int:
    if not isinstance(item, bytes) or (item[:1] == b"\x00"):
        raise ProtocolViolation("malformed", f"{what} is not a canonical integer")
    return int.from_bytes(item, "big")


def _hash(item: object, what: str) -> bytes:
    if not isinstance(item, bytes) or len(item) != HASH_BYTES:
        raise ProtocolViolation("malformed", f"{what} is not {HASH_BYTES} bytes")
    return item


def encode_hello(hello: Hello) -> bytes:
    return rlp.encode([
        PROTOCOL_VERSION, hello.chain_id, hello.genesis_hash, hello.name.encode(),
        hello.validator or b"", hello.height, hello.head_hash,
    ])


def decode_hello(payload: bytes) -> tuple[int, Hello]:
    """(protocol version, Hello); ProtocolViolation if it does not decode."""
    try:
        items = rlp.decode(payload)
    except rlp.DecodingError as exc:
        raise ProtocolViolation("malformed", f"HELLO is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != HELLO_ITEMS:
        raise ProtocolViolation("malformed", f"HELLO is not a {HELLO_ITEMS}-item list")
    version = _uint(items[0], "HELLO version")
    chain_id = _uint(items[1], "HELLO chain_id")
    genesis_hash = _hash(items[2], "HELLO genesis hash")
    raw_name, validator = items[3], items[4]
    if not isinstance(raw_name, bytes) or not 0 < len(raw_name) <= MAX_NAME_BYTES:
        raise ProtocolViolation("malformed", "HELLO name is empty or too long")
    try:
        name = raw_name.decode()
    except UnicodeDecodeError:
        raise ProtocolViolation("malformed", "HELLO name is not UTF-8") from None
    if not isinstance(validator, bytes) or len(validator) not in (0, ADDRESS_BYTES):
        raise ProtocolViolation("malformed", "HELLO validator is neither empty nor an address")
    height = _uint(items[5], "HELLO height")
    head_hash = _hash(items[6], "HELLO head hash")
    return version, Hello(chain_id, genesis_hash, name, validator or None, height, head_hash)


def encode_status(height: int, head_hash: bytes) -> bytes:
    return rlp.encode([height, head_hash])


def decode_status(payload: bytes) -> tuple[int, bytes]:
    """(height, head hash) of a STATUS payload; ProtocolViolation if it does not decode."""
    try:
        items = rlp.decode(payload)
    except rlp.DecodingError as exc:
        raise ProtocolViolation("malformed", f"STATUS is not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != STATUS_ITEMS:
        raise ProtocolViolation("malformed", f"STATUS is not a {STATUS_ITEMS}-item list")
    return _uint(items[0], "STATUS height"), _hash(items[1], "STATUS head hash")
