"""Each block's logs encoded once as JSON-RPC log objects, kept by block hash in a
bounded LRU, so that eth_getLogs and log filters answer from bytes instead of decoding
the block's receipts and rebuilding and re-encoding every log on every request.

Why a cached entry is never stale: it is keyed by the block hash, and the hash commits
(through the header's transactionsRoot and receiptsRoot) to every transaction and
receipt the logs come from, so the logs under a hash cannot change. A new block has a
new hash and is read and cached on first use; which block stands at a height is read
from the chain on every request (header_by_number), never from here. Nothing needs
invalidating, only evicting for space.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import rlp
from eth.abc import ReceiptAPI, SignedTransactionAPI
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from node.errors import NotFound, StorageError
from node.storage import schema
from node.storage.store import LevelStore

# Bytes of encoded logs (plus LOG_OVERHEAD_BYTES each) the cache holds: 10,000 logs of
# two topics and one data word (bench/peers.py's getLogs workload; ~600 bytes of JSON each)
# take ~9.5 MB, so 32 MiB keeps the last ~35,000 such logs hot, a tenth of the node's 300 MB
# memory target.
MAX_LOG_CACHE_BYTES = 32 * 1024 * 1024
# What one cached log costs besides its JSON: the tuple, its address and topic bytes
# objects, the JSON bytes object's header and the slot (344 bytes by sys.getsizeof for a
# log of two topics).
LOG_OVERHEAD_BYTES = 350

# A log as stored: address, topics (32 bytes each), data.
RawLog = tuple[bytes, tuple[bytes, ...], bytes]
# A transaction's hash and its logs, in block order.
TransactionLogs = tuple[bytes, Sequence[RawLog]]


class EncodedLog(NamedTuple):
    """One log: what a filter matches on, and its JSON-RPC object, encoded."""

    address: bytes
    topics: tuple[bytes, ...]
    json: bytes


def logs_of_objects(
    transactions: Sequence[SignedTransactionAPI], receipts: Sequence[ReceiptAPI]
) -> list[TransactionLogs]:
    """A block's logs from py-evm's decoded transactions and receipts."""
    return [
        (tx.hash, [(log.address, tuple(t.to_bytes(32, "big") for t in log.topics), log.data) for log in receipt.logs])
        for tx, receipt in zip(transactions, receipts)
    ]


def logs_of_stored_block(body: bytes, receipts: bytes) -> list[TransactionLogs]:
    """A block's logs from its stored body and receipts (node/storage/schema.py body_key,
    receipts_key), read with plain RLP rather than py-evm's receipt and transaction
    classes: on a 10,000-log block range building those objects is most of the cost,
    and only hashes and log fields are needed. A transaction's hash is the keccak of its
    stored encoding (py-evm's `hash` for legacy and typed ones alike); a receipt is
    `type ‖ RLP` for a typed transaction, plain RLP for a legacy one; a topic is stored
    as 32 big-endian bytes (py-evm's Log sedes), which is what the JSON shows.
    tests/unit/node/test_log_cache.py holds this equal to `logs_of_objects`."""
    encoded_txs, _senders = rlp.decode(body)
    found: list[TransactionLogs] = []
    for tx, receipt in zip(encoded_txs, rlp.decode(receipts)):
        fields = rlp.decode(receipt if receipt[0] >= 0xC0 else receipt[1:])
        logs: list[RawLog] = []
        for address, topics, data in fields[3]:
            if len(address) != 20 or any(len(t) != 32 for t in topics):  # py-evm's Log sedes refuse these too
                raise StorageError(f"a stored receipt holds a malformed log (address {address.hex()[:40]})")
            logs.append((address, tuple(topics), data))
        found.append((keccak(tx), logs))
    return found


def stored_block_logs(store: LevelStore, block_hash: bytes) -> list[TransactionLogs]:
    """A block's logs read from `store`; NotFound if its body or receipts are absent."""
    body = store.get(schema.body_key(block_hash))
    receipts = store.get(schema.receipts_key(block_hash))
    if body is None or receipts is None:
        raise NotFound(f"no body or receipts for block 0x{block_hash.hex()}")
    return logs_of_stored_block(body, receipts)


def encode_block_logs(block_number: int, block_hash: bytes, transactions: Sequence[TransactionLogs]) -> tuple[EncodedLog, ...]:
    """A block's logs in order, each encoded byte for byte as `json.dumps(record.to_json(),
    separators=(",", ":"))` encodes node.rpc.format's LogRecord (tests/unit/node/
    test_log_cache.py holds the two equal). The parts shared by a block's or a
    transaction's logs (block hash, transaction hash, checksummed addresses) are
    encoded once, not once per log."""
    block_part = f'"blockNumber":"{hex(block_number)}","blockHash":"0x{block_hash.hex()}",'
    checksums: dict[bytes, str] = {}
    logs: list[EncodedLog] = []
    for tx_index, (tx_hash, tx_logs) in enumerate(transactions):
        tx_part = f'"transactionHash":"0x{tx_hash.hex()}","transactionIndex":"{hex(tx_index)}",'
        for address, topics, data in tx_logs:
            checksum = checksums.get(address)
            if checksum is None:
                checksum = checksums[address] = to_checksum_address(address)
            text = ('{"address":"' + checksum + '","topics":['
                    + ",".join('"0x' + t.hex() + '"' for t in topics)
                    + '],"data":"0x' + data.hex() + '",' + block_part + tx_part
                    + f'"logIndex":"{hex(len(logs))}","removed":false}}')
            logs.append(EncodedLog(address, topics, text.encode("ascii")))
    return tuple(logs)


def _cost(logs: tuple[EncodedLog, ...]) -> int:
    return sum(len(log.json) + LOG_OVERHEAD_BYTES for log in logs)


class BlockLogCache:
    """Encoded logs by block hash, least recently used evicted past `max_bytes`.

    RPC worker threads share it: the map is touched under a lock; a block is decoded and
    encoded outside it (two threads may both encode one block; the answers are equal and
    one is kept). A block larger than the whole bound is served but not kept.
    """

    def __init__(self, max_bytes: int = MAX_LOG_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[tuple[EncodedLog, ...], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def logs(
        self, block_number: int, block_hash: bytes, load: Callable[[], Sequence[TransactionLogs]]
    ) -> tuple[EncodedLog, ...]:
        """The block's encoded logs; on a miss `load()` reads its logs."""
        key = block_hash
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0]
            self.misses += 1
        logs = encode_block_logs(block_number, block_hash, load())
        cost = _cost(logs)
        if cost > self.max_bytes:
            return logs
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (logs, cost)
                self._bytes += cost
                while self._bytes > self.max_bytes:
                    _, (_, evicted) = self._entries.popitem(last=False)
                    self._bytes -= evicted
        return logs

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


# One per process: entries are keyed by block hash, so nodes in one process (tests) share
# it without mixing their chains' answers.
LOG_CACHE = BlockLogCache()
