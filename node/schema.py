"""Every LevelDB key the node writes, in one place.

Schema version 1. Heights are 8-byte big-endian so that iteration is in height order.
A block's writes (header, body, receipts, canonical index, transaction locations, the
vote index, state trie nodes and the head pointer) always travel in one atomic write batch.
"""
from __future__ import annotations

SCHEMA_VERSION = 1

# Singletons under the 0x00 prefix.
SCHEMA_VERSION_KEY = b"\x00schema-version"
HEAD_KEY = b"\x00head"  # -> hash of the newest committed block
GENESIS_KEY = b"\x00genesis"  # -> the genesis.json this data directory was initialised with
LAST_VOTE_KEY = b"\x00last-vote"  # -> height(8) of the newest block whose header carries a vote
# -> this validator's QBFT lock for the height in progress (node/consensus/driver.py):
#    RLP [height, round, prepared round + 1 (0: none), prepared block, [PREPARE...]]
CONSENSUS_LOCK_KEY = b"\x00consensus-lock"

_HEADER = b"h"  # h ‖ block hash -> RLP(header)
_BODY = b"b"  # b ‖ block hash -> RLP([[tx encoding...], [sender...]])
_RECEIPTS = b"r"  # r ‖ block hash -> RLP([receipt encoding...])
_CANONICAL = b"n"  # n ‖ height(8, big-endian) -> block hash
_TX_LOCATION = b"t"  # t ‖ tx hash -> RLP([height, index])
STATE_PREFIX = b"s"  # s ‖ node hash -> state/storage trie node or contract code
# v ‖ height(8) -> height(8) of the previous vote-carrying block, or b"" for the first: the
# heights whose header carries a validator vote, linked newest to oldest from LAST_VOTE_KEY,
# so the validator history is read without scanning headers (and without an iterator).
_VOTE = b"v"


def height_bytes(height: int) -> bytes:
    return height.to_bytes(8, "big")


def header_key(block_hash: bytes) -> bytes:
    return _HEADER + block_hash


def body_key(block_hash: bytes) -> bytes:
    return _BODY + block_hash


def receipts_key(block_hash: bytes) -> bytes:
    return _RECEIPTS + block_hash


def canonical_key(height: int) -> bytes:
    return _CANONICAL + height_bytes(height)


def tx_location_key(tx_hash: bytes) -> bytes:
    return _TX_LOCATION + tx_hash


def state_key(node_hash: bytes) -> bytes:
    return STATE_PREFIX + node_hash


def vote_key(height: int) -> bytes:
    return _VOTE + height_bytes(height)
