"""Every LevelDB key the node writes, in one place.

Schema version 1. Heights are 8-byte big-endian so that iteration is in height order.
A block's writes (header, body, receipts, canonical index, transaction locations, the
vote index, the event indexes, state trie nodes and the head pointer) always travel in one
atomic write batch.
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
# -> height(8) of the newest block whose events are indexed (node/storage/indexes.py). Equal to the
#    head's height after every commit; lower only in a data directory written before the
#    indexes existed, which the node indexes forward when it opens.
INDEX_HEIGHT_KEY = b"\x00index-height"

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


# -- event indexes (node/storage/indexes.py) ------------------------------------------------------
# Every prefix is 3 bytes and none is a prefix of another, so a scan never strays into a
# neighbouring index. A cursor is (height, log index) as 8 + 4 bytes big-endian: the log's
# Ethereum coordinates, so keys ending in a cursor iterate in chain order.
EVENT = b"xev"  # xev ‖ cursor(12) -> the decoded event (JSON): every system-contract event
FEED = b"xfd"  # xfd ‖ topic(1) ‖ cursor(12) -> event name: the events of one topic (contracts, ...)
CONTRACT = b"xcr"  # xcr ‖ contract id(32) -> the contract's record (JSON)
CONTRACT_BY_PROJECT = b"xcp"  # xcp ‖ keccak(project code)(32) ‖ cursor(12) -> contract id
CONTRACT_BY_PARTY = b"xcy"  # xcy ‖ party(20) ‖ cursor(12) -> contract id
CONTRACT_BY_STATUS = b"xcs"  # xcs ‖ status(1) ‖ cursor(12) -> contract id (moved on change)
CONTRACT_BY_DATE = b"xcd"  # xcd ‖ registration time(8) ‖ cursor(12) -> contract id
CONTRACT_EVENTS = b"xce"  # xce ‖ contract id(32) ‖ cursor(12) -> b""
EVIDENCE_ALL = b"xea"  # xea ‖ cursor(12) -> b"": every anchoring, in chain order
EVIDENCE_BY_DIGEST = b"xed"  # xed ‖ digest(32) ‖ cursor(12) -> b""
EVIDENCE_BY_CASE = b"xec"  # xec ‖ keccak(case reference)(32) ‖ cursor(12) -> b""
EVIDENCE_BY_KIND = b"xek"  # xek ‖ keccak(kind)(32) ‖ cursor(12) -> b""
COMMITMENT = b"xmr"  # xmr ‖ id(8) -> the commitment's record (JSON)
COMMITMENT_BY_RAISED = b"xms"  # xms ‖ level raised(1) ‖ id(8) -> b"" (moved on alert/confirm)
COMMITMENT_BY_UNIT = b"xmu"  # xmu ‖ keccak(responsible unit)(32) ‖ id(8) -> b""
COMMITMENT_BY_DEADLINE = b"xmd"  # xmd ‖ deadline(8) ‖ id(8) -> b""
COMMITMENT_OPEN = b"xmo"  # xmo ‖ deadline(8) ‖ id(8) -> b"": not fulfilled yet (deleted then)
COMMITMENT_EVENTS = b"xme"  # xme ‖ id(8) ‖ cursor(12) -> b""
UNIT_NAME = b"xmn"  # xmn ‖ keccak(responsible unit)(32) -> the unit's name
# Commitment counters (node/storage/commitment_counts.py): a group is b"a" (every
# commitment), b"u" ‖ keccak(responsible unit)(32) or b"p" ‖ obligor(20); its first byte
# tells the three apart, so no group's key is a prefix of another's.
COMMITMENT_GROUP = b"xmc"  # xmc ‖ group -> total(8) ‖ fulfilled(8) ‖ alerts raised(8) ‖ demands raised(8)
COMMITMENT_GROUP_DAY = b"xmb"  # xmb ‖ group ‖ deadline day(8) -> count(8) of its open commitments due that UTC day
COMMITMENT_GROUP_OPEN = b"xmv"  # xmv ‖ group ‖ deadline(8) ‖ id(8) -> b"": its open commitments (deleted when fulfilled)
COMMITMENT_DAY = b"xmy"  # xmy ‖ UTC day(8) ‖ what(1) -> count(8): added, alerts by level, fulfilled that day
COMMITMENT_COUNTS_VERSION = b"xmz"  # -> version(1): the counters above cover every commitment
MEMBER = b"xir"  # xir ‖ address(20) -> the member's record (JSON)
# Seals (SealRegistry, node/storage/indexes.py "seals"); a seal's id is the SHA-256 of its
# image file, and the cursor in these keys is that of its SealRegistered event, so every
# list of seals is in registration order.
SEAL = b"xsr"  # xsr ‖ seal(32) -> the seal's record (JSON)
SEAL_ALL = b"xsa"  # xsa ‖ cursor(12) -> seal(32): every seal
SEAL_BY_OWNER = b"xso"  # xso ‖ owner(20) ‖ cursor(12) -> seal(32)
SEAL_BY_STATUS = b"xss"  # xss ‖ status(1) ‖ cursor(12) -> seal(32) (moved on approval and revocation)
COUNTER = b"xkc"  # xkc ‖ name -> count(8)


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix`: the upper bound of
    a scan over that prefix."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\xff" * (len(prefix) + 1)
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def cursor_bytes(height: int, log_index: int) -> bytes:
    return height.to_bytes(8, "big") + log_index.to_bytes(4, "big")


# -- batch members (node/storage/members.py) ------------------------------------------------------
# Handed over by the anchoring client after its batch root is on chain (PUT
# /v1/evidence/{root}/members), checked against that root, never derived from the chain's
# logs: so under "m", outside the "x" range that `ledger chain verify` rebuilds from the
# blocks and compares (node/verify/indexes.py). 3-byte prefixes, none a prefix of another.
# Member keys end in the cursor of the root's Anchored event, so a digest's memberships
# iterate in chain order beside its own anchorings (EVIDENCE_BY_DIGEST).
BATCH_MEMBER = b"mmd"  # mmd ‖ digest(32) ‖ cursor(12) -> leaf index(4): the digest is that leaf of that batch
BATCH = b"mbr"  # mbr ‖ root(32) -> cursor(12) ‖ tree size(4) ‖ the root of each leaf chunk (32 each)
BATCH_LEAVES = b"mbl"  # mbl ‖ root(32) ‖ chunk(4) -> up to members.CHUNK_LEAVES leaves (32 bytes each), in order
MEMBER_USAGE = b"mqc"  # mqc ‖ caller id (ASCII) -> bytes(8) the caller's member uploads take in the index
MEMBER_USAGE_TOTAL = b"mqt"  # -> bytes(8) all member uploads take in the index
