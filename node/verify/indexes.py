"""Checking a data directory's event indexes against the chain's own logs: replay the
indexing and compare.

The REST API (`/v1/...`) and `ledger audit` answer from the event indexes
(node/storage/indexes.py), not from the blocks. A changed index record would be served as the
chain's word while every block still verifies, so the verifier rebuilds the indexes from
the blocks and compares them with what the data directory holds:

1. replay  - `index_genesis` with the genesis document's members and roots, then
             `index_block` - the very function `Chain.commit` calls - for blocks 1..head,
             on an in-memory twin of the store, fed from the stored (already verified)
             transactions and receipts;
2. height  - the stored index height is the head's;
3. compare - every key under the index prefixes (`x…`, node/storage/schema.py), in key order,
             against the twin: a record missing, extra or different is a difference.

The verdict names the difference of the lowest block height (the block whose indexing
wrote the key last; for a key no block writes, the height in its cursor, else the head),
with the key's index, the key, what replaying gives and what the directory holds, and
how many differences there are in all. Raises `IndexMismatch`, an `InvalidBlock` whose
step is "event indexes".

Cost: the twin holds every index record in memory (measured: ~3 KB per event, Python's
objects included), and the replay reads every block and decodes every receipt once. Run it over a whole chain only: the
indexes describe the chain up to the head, so a partial range cannot be compared.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import rlp
from eth_hash.auto import keccak

from node.errors import InvalidBlock
from node.execution.genesis import Genesis
from node.storage import schema
from node.storage.indexes import IndexBatch, index_block, index_genesis
from node.verify.checks import TIMESTAMP, decode_header
from node.verify.sources import DataDirSource

# Every index key starts with b"x" (node/storage/schema.py: each prefix is 3 bytes, "x" first), and
# no other key of the schema does: [INDEX_LOW, INDEX_HIGH) is exactly the indexes.
INDEX_LOW = b"x"
INDEX_HIGH = b"y"
# Keys read from the store per scan while comparing: bounds the memory of one read,
# not the check (which reads every index key).
COMPARE_SCAN_KEYS = 10_000
# A value shown in the verdict is cut to this many characters (a contract record with
# many signatures runs to kilobytes; the court needs to see where it differs, not all).
SHOWN_VALUE_CHARS = 240
# ... starting this many characters before the first difference, so the court sees it.
SHOWN_CONTEXT_CHARS = 60
# How often (in blocks) the replay reports progress.
PROGRESS_EVERY = 256

# The index each prefix is, as the verdict names it.
INDEX_NAMES = {
    schema.EVENT: "event record", schema.FEED: "feed entry", schema.CONTRACT: "contract record",
    schema.CONTRACT_BY_PROJECT: "contracts by project", schema.CONTRACT_BY_PARTY: "contracts by party",
    schema.CONTRACT_BY_STATUS: "contracts by status", schema.CONTRACT_BY_DATE: "contracts by date",
    schema.CONTRACT_EVENTS: "contract events", schema.EVIDENCE_ALL: "evidence", schema.EVIDENCE_BY_DIGEST:
    "evidence by digest", schema.EVIDENCE_BY_CASE: "evidence by case", schema.EVIDENCE_BY_KIND: "evidence by kind",
    schema.COMMITMENT: "commitment record", schema.COMMITMENT_BY_RAISED: "commitments by level raised",
    schema.COMMITMENT_BY_UNIT: "commitments by unit", schema.COMMITMENT_BY_DEADLINE: "commitments by deadline",
    schema.COMMITMENT_OPEN: "open commitments", schema.COMMITMENT_EVENTS: "commitment events",
    schema.UNIT_NAME: "unit name", schema.MEMBER: "member record", schema.COUNTER: "counter",
    schema.COMMITMENT_GROUP: "commitment counts", schema.COMMITMENT_GROUP_DAY: "open commitments by due day",
    schema.COMMITMENT_GROUP_OPEN: "open commitments by group", schema.COMMITMENT_DAY: "commitment activity by day",
    schema.COMMITMENT_COUNTS_VERSION: "commitment counters version", schema.SEAL: "seal record",
    schema.SEAL_ALL: "seals", schema.SEAL_BY_OWNER: "seals by owner", schema.SEAL_BY_STATUS: "seals by status",
}
# Prefixes whose keys end in a cursor (height ‖ log index): the event the key was made for.
CURSOR_KEYED = frozenset((
    schema.EVENT, schema.FEED, schema.CONTRACT_BY_PROJECT, schema.CONTRACT_BY_PARTY, schema.CONTRACT_BY_STATUS,
    schema.CONTRACT_BY_DATE, schema.CONTRACT_EVENTS, schema.EVIDENCE_ALL, schema.EVIDENCE_BY_DIGEST,
    schema.EVIDENCE_BY_CASE, schema.EVIDENCE_BY_KIND, schema.COMMITMENT_EVENTS, schema.SEAL_ALL, schema.SEAL_BY_OWNER,
    schema.SEAL_BY_STATUS,
))
CURSOR_BYTES = 12
# The Supervision page's counters (node/storage/commitment_counts.py): a data directory
# indexed before they existed has none until a node of this version opens it.
COUNTER_PREFIXES = frozenset((
    schema.COMMITMENT_GROUP, schema.COMMITMENT_GROUP_DAY, schema.COMMITMENT_GROUP_OPEN, schema.COMMITMENT_DAY,
    schema.COMMITMENT_COUNTS_VERSION,
))


class IndexMismatch(InvalidBlock):
    """The data directory's indexes differ from the ones its blocks give."""

    def __init__(self, height: int, key: bytes, expected: bytes | None, found: bytes | None, differences: int) -> None:
        self.key = key
        self.index = index_name(key)
        self.expected = expected
        self.found = found
        self.differences = differences
        what = ("missing" if found is None else "not written by any block" if expected is None else "changed")
        at = first_difference(expected, found)
        detail = (f"{self.index} 0x{key.hex()} {what}: replaying the blocks gives {shown(expected, at)}, "
                  f"the data directory holds {shown(found, at)}")
        if differences > 1:
            detail += f" ({differences} index keys differ in all)"
        super().__init__(height, "event indexes", detail)


@dataclass(frozen=True)
class IndexSummary:
    """Indexes that match the chain."""

    blocks: int  # blocks replayed, genesis included
    events: int  # system-contract events indexed
    keys: int  # index keys compared
    # Indexes left out of the comparison: the commitment counters of a directory a node of
    # this version has not opened yet (it writes them from the commitment records when it does).
    skipped: tuple[str, ...] = ()


def index_name(key: bytes) -> str:
    if key == schema.INDEX_HEIGHT_KEY:
        return "index height"
    return INDEX_NAMES.get(key[:3], f"unknown index {key[:3]!r}")


def first_difference(expected: bytes | None, found: bytes | None) -> int:
    """The first byte position where two values differ (0 if either is absent)."""
    if expected is None or found is None:
        return 0
    return next((i for i, (a, b) in enumerate(zip(expected, found)) if a != b), min(len(expected), len(found)))


def shown(value: bytes | None, at: int = 0) -> str:
    """A stored value as the verdict shows it: text if it is (JSON records, names), else hex;
    a long one cut to a window that starts a little before byte `at` (where it differs)."""
    if value is None:
        return "nothing"
    try:
        text = value.decode("utf-8")
        printable = text.isprintable() and bool(value)
    except UnicodeDecodeError:
        printable = False
    if not printable:
        text, at = "0x" + value.hex(), 2 + 2 * at
    start = max(0, min(at - SHOWN_CONTEXT_CHARS, len(text) - SHOWN_VALUE_CHARS))
    window = text[start:start + SHOWN_VALUE_CHARS]
    return ("…" if start else "") + window + ("…" if start + SHOWN_VALUE_CHARS < len(text) else "")


# -- 1. replay (py-evm-shaped views of the stored encodings, what index_block reads) ------


@dataclass(frozen=True)
class _Log:
    address: bytes
    topics: tuple[int, ...]
    data: bytes


@dataclass(frozen=True)
class _Receipt:
    logs: tuple[_Log, ...]


@dataclass(frozen=True)
class _Transaction:
    hash: bytes


def receipt_logs(height: int, encoded: bytes) -> _Receipt:
    """A receipt's logs from its network encoding (legacy RLP, or type ‖ RLP)."""
    payload = encoded if encoded[:1] >= b"\xc0" else encoded[1:]
    try:
        _status, _gas, _bloom, logs = rlp.decode(payload, strict=True)
        found = []
        for address, topics, data in logs:
            if not (isinstance(address, bytes) and isinstance(data, bytes) and isinstance(topics, list)
                    and all(isinstance(topic, bytes) and len(topic) <= 32 for topic in topics)):
                raise TypeError("a log is [address, [topic...], data]")
            found.append(_Log(address, tuple(int.from_bytes(topic, "big") for topic in topics), data))
        return _Receipt(tuple(found))
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise InvalidBlock(height, "receipts", f"a receipt's logs do not decode: {exc}") from exc


def replay_indexes(
    source: DataDirSource, genesis: Genesis, head: int, on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[bytes, bytes], dict[bytes, int], int]:
    """(the index keys and values blocks 0..head give, the height that last wrote each key
    where its cursor does not say so, the number of events)."""
    twin: dict[bytes, bytes] = {}
    written_at: dict[bytes, int] = {}

    def apply(height: int, writes: dict[bytes, bytes | None]) -> None:
        for key, value in writes.items():
            if value is None:
                twin.pop(key, None)
            else:
                twin[key] = value
            # Most keys end in the cursor of the event that wrote them: their height is
            # there, and remembering it again would double the replay's memory.
            if cursor_height(key) != height:
                written_at[key] = height

    writes: dict[bytes, bytes | None] = {}
    index_genesis(IndexBatch(twin.get, writes), [(m.address, m.role) for m in genesis.members],
                  len(genesis.trusted_roots), genesis.timestamp)
    apply(0, writes)
    events = 0
    for height in range(1, head + 1):
        block = source.block(height)
        assert block.stored is not None  # a data directory's block
        timestamp = int.from_bytes(decode_header(height, block.header)[TIMESTAMP], "big")
        writes = {}
        events += index_block(IndexBatch(twin.get, writes), height, block.stored.canonical_hash, timestamp,
                              [_Transaction(keccak(tx)) for tx in block.transactions],
                              [receipt_logs(height, receipt) for receipt in block.receipts])
        apply(height, writes)
        if on_progress is not None and height % PROGRESS_EVERY == 0:
            on_progress(height)
    return twin, written_at, events


# -- 2, 3. compare ----------------------------------------------------------------------


def _stored_index_keys(source: DataDirSource) -> Iterator[tuple[bytes, bytes]]:
    after: bytes | None = None
    while True:
        rows = source.store.scan(INDEX_LOW, INDEX_HIGH, after=after, limit=COMPARE_SCAN_KEYS)
        yield from rows
        if len(rows) < COMPARE_SCAN_KEYS:
            return
        after = rows[-1][0]


def _merged(expected: dict[bytes, bytes], found: Iterator[tuple[bytes, bytes]]
            ) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    """(key, expected value, found value) over the union of the expected keys and a
    key-ordered stream of found ones."""
    keys = sorted(expected)  # the keys only: a list of references, not of (key, value) pairs
    position = 0
    for key, value in found:
        while position < len(keys) and keys[position] < key:
            yield keys[position], expected[keys[position]], None
            position += 1
        if position < len(keys) and keys[position] == key:
            yield key, expected[key], value
            position += 1
        else:
            yield key, None, value
    for key in keys[position:]:
        yield key, expected[key], None


def cursor_height(key: bytes) -> int | None:
    """The height in the cursor a key ends with, for the indexes whose keys do."""
    if key[:3] in CURSOR_KEYED and len(key) >= 3 + CURSOR_BYTES:
        return int.from_bytes(key[-CURSOR_BYTES:-4], "big")
    return None


def difference_height(key: bytes, written_at: dict[bytes, int], head: int) -> int:
    """The block a differing key belongs to: the last that wrote it in the replay (recorded,
    or the one its cursor names), else the head (the indexes as they stand after it)."""
    if key in written_at:
        return written_at[key]
    height = cursor_height(key)
    return height if height is not None and height <= head else head


def check_indexes(
    source: DataDirSource, genesis: Genesis, head: int, on_progress: Callable[[int], None] | None = None,
) -> IndexSummary:
    """Steps 1-3 of the module docstring over blocks 0..head of a verified chain."""
    # 1. replay
    twin, written_at, events = replay_indexes(source, genesis, head, on_progress)
    # 2. height: the stored index height names the head
    expected_height = twin.pop(schema.INDEX_HEIGHT_KEY, None)
    found_height = source.store.get(schema.INDEX_HEIGHT_KEY)
    first: tuple[int, bytes, bytes | None, bytes | None] | None = None
    differences = 0
    if found_height != expected_height:
        first, differences = (head, schema.INDEX_HEIGHT_KEY, expected_height, found_height), 1
    # 3. compare every index key (the commitment counters only where the directory has them)
    assert all(INDEX_LOW <= key < INDEX_HIGH for key in twin), "index_block wrote a key outside x…"
    skipped: tuple[str, ...] = ()
    if source.store.get(schema.COMMITMENT_COUNTS_VERSION) is None:
        skipped = tuple(INDEX_NAMES[prefix] for prefix in COUNTER_PREFIXES)
        twin = {key: value for key, value in twin.items() if key[:3] not in COUNTER_PREFIXES}
    keys = 0
    for key, want, got in _merged(twin, _stored_index_keys(source)):
        if skipped and key[:3] in COUNTER_PREFIXES:
            continue
        keys += 1
        if want == got:
            continue
        differences += 1
        height = difference_height(key, written_at, head)
        if first is None or (height, key) < first[:2]:
            first = (height, key, want, got)
    if first is not None:
        raise IndexMismatch(*first, differences=differences)
    return IndexSummary(blocks=head + 1, events=events, keys=keys, skipped=skipped)
