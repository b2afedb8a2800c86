"""LevelDB storage through plyvel, and the write overlay a block is built in.

py-evm no longer ships a LevelDB backend, so the node owns this small layer. Nothing is
written to LevelDB while a block is being executed: py-evm's state writes land in a
`StateOverlay`, and the finished block commits the overlay together with its header,
body, receipts, indexes and the head pointer in one synchronous write batch. A crash
therefore leaves either the old head or the new one, never a mix.

The data directory's modes are node/storage/files.py's.
"""
from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import shutil
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plyvel
from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB

from node.errors import StorageError
from node.storage import schema
from node.storage.files import PRIVATE_DIR_MODE, make_private, private_umask

log = logging.getLogger("ledger.storage")

# LevelDB's lock file: a process that has the database open holds a write lock on it.
LOCK_FILE = "LOCK"
# Table files: LevelDB writes each once, under a new number, and never opens it for writing
# again (compaction writes new numbers and deletes old ones), so a private copy may share
# them by hard link; the log, MANIFEST, CURRENT and info LOG are reopened, so they are copied.
IMMUTABLE_SUFFIXES = (".ldb", ".sst")


class DatabaseLocked(StorageError):
    """Another LevelDB handle (a running node, in this process or another) holds `path`."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is locked by a running node: stop it or verify a copy")
        self.path = path


@contextlib.contextmanager
def holding_shared_lock(path: Path) -> Iterator[None]:
    """Meanwhile, no LevelDB can open the database at `path` (a node starting up is
    refused), and none has it open (DatabaseLocked otherwise): its files stand still.

    LevelDB takes an fcntl write lock on LOCK; a read lock conflicts with it. An
    open-file-description lock (Linux) also conflicts with one this same process holds,
    which a classic POSIX lock would not see. LOCK is opened read-only: nothing written."""
    lock_path = path / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:  # never opened by LevelDB, or copied without it: nobody holds it
        yield
        return
    try:
        try:
            if hasattr(fcntl, "F_OFD_SETLK"):
                # struct flock: type, whence, start, len (0: to the end), pid (0 for OFD locks)
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0))
            else:
                fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            raise DatabaseLocked(path) from exc
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class CopyStats:
    """What `copy_database` did: files hard-linked and files (and bytes) copied."""

    linked: int
    copied: int
    copied_bytes: int


def copy_database(source: Path, target: Path) -> CopyStats:
    """A private copy of the LevelDB at `source` in the new directory `target`, which a
    LevelDB may open and rewrite (its log, MANIFEST and compactions) without changing a
    byte, name or mtime under `source`. Table files are hard-linked where the file system
    allows (same device, links permitted), else copied; the rest are copied; LOCK is
    left out. Hold `holding_shared_lock(source)` meanwhile."""
    target.mkdir(mode=PRIVATE_DIR_MODE)
    linked = copied = copied_bytes = 0
    link = True
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name == LOCK_FILE or not entry.is_file(follow_symlinks=False):
            continue
        destination = target / entry.name
        if link and entry.name.endswith(IMMUTABLE_SUFFIXES):
            try:
                os.link(entry.path, destination)
                linked += 1
                continue
            except OSError:  # another device, a read-only medium, links refused: copy
                link = False
        with private_umask():
            shutil.copyfile(entry.path, destination)
        copied += 1
        copied_bytes += entry.stat(follow_symlinks=False).st_size
    return CopyStats(linked, copied, copied_bytes)


# State trie nodes and contract code kept in memory by `StateNodeCache`: a node is ~100-550
# bytes, so 32 MiB holds ~100,000 nodes (the account trie's upper levels and the system
# contracts' storage tries many times over) inside the node's 300 MB budget.
STATE_NODE_CACHE_BYTES = 32 * 1024 * 1024
# What an entry costs beyond its key and value bytes: two bytes objects' headers and the
# ordered map's slot and links (~200 bytes measured with sys.getsizeof; rounded up).
STATE_NODE_OVERHEAD_BYTES = 256


class StateNodeCache:
    """Values under `schema.STATE_PREFIX` (node hash -> trie node, code hash -> code) kept
    in memory, least recently used out first, bounded in bytes; thread-safe.

    Those keys are content-addressed (the key is the keccak of the value), so an entry is
    never stale: a key can only ever be written with the same value. The one way a value
    could go is a delete, and `LevelStore.write_items` drops the key here when it deletes
    one (nothing prunes state today). Missing keys are not remembered: a key that is
    written later must be found then."""

    def __init__(self, max_bytes: int = STATE_NODE_CACHE_BYTES) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: bytes, value: bytes) -> None:
        cost = len(key) + len(value) + STATE_NODE_OVERHEAD_BYTES
        if cost > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(key) + len(old) + STATE_NODE_OVERHEAD_BYTES
            self._entries[key] = value
            self._bytes += cost
            while self._bytes > self._max_bytes:
                evicted_key, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted_key) + len(evicted) + STATE_NODE_OVERHEAD_BYTES

    def discard(self, key: bytes) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(key) + len(old) + STATE_NODE_OVERHEAD_BYTES

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


_STATE_NODES_LOCK = threading.Lock()


class LevelStore:
    """The node's LevelDB. Reads are direct (state values through `state_nodes`); writes
    only through `write_batch`."""

    def __init__(self, path: Path) -> None:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        make_private(path)
        try:
            with private_umask():
                self._db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.IOError as exc:
            raise StorageError(f"cannot open LevelDB at {path}: {exc}") from exc
        except plyvel.CorruptionError as exc:
            raise StorageError(f"LevelDB at {path} is corrupt: {exc}") from exc
        version = self._db.get(schema.SCHEMA_VERSION_KEY)
        if version is None:
            self._db.put(schema.SCHEMA_VERSION_KEY, str(schema.SCHEMA_VERSION).encode(), sync=True)
        elif int(version) != schema.SCHEMA_VERSION:
            raise StorageError(
                f"data directory has storage schema {int(version)}, this node reads {schema.SCHEMA_VERSION}"
            )
        self.path = path
        # Close on interpreter exit too: plyvel's destructor fails noisily during teardown.
        self._finalizer = weakref.finalize(self, self._db.close)

    _state_nodes: StateNodeCache | None = None

    @property
    def state_nodes(self) -> StateNodeCache:
        """This store's trie-node cache, made on first use (so subclasses that open the
        database their own way, node/verify/sources.py's ReadOnlyStore, have one too)."""
        if self._state_nodes is None:
            with _STATE_NODES_LOCK:
                if self._state_nodes is None:
                    self._state_nodes = StateNodeCache()
        return self._state_nodes

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def get_state(self, node_hash: bytes) -> bytes | None:
        """The trie node or code stored under `schema.state_key(node_hash)`, through the
        in-memory cache of those content-addressed values."""
        value = self.state_nodes.get(node_hash)
        if value is None:
            value = self._db.get(schema.STATE_PREFIX + node_hash)
            if value is not None:
                self.state_nodes.put(node_hash, value)
        return value

    def scan(
        self, lower: bytes, upper: bytes, *, after: bytes | None = None, reverse: bool = False, limit: int,
    ) -> list[tuple[bytes, bytes]]:
        """Up to `limit` (key, value) pairs with lower <= key < upper, in key order (or
        reverse), strictly after `after` in that order. One seek, then `limit` steps: the
        cost does not depend on how many keys lie outside the page."""
        return scan_range(self._db, lower, upper, after=after, reverse=reverse, limit=limit)

    def snapshot(self) -> LevelSnapshot:
        """A consistent read-only view of the store as it is now (`get`, `scan`): a query
        that reads several keys sees one committed state, whatever commits meanwhile."""
        return LevelSnapshot(self._db.snapshot())

    def write_batch(self, writes: Mapping[bytes, bytes | None]) -> None:
        """Apply all `writes` (None deletes) atomically and durably (fsync before returning)."""
        self.write_items(iter(writes.items()))

    def write_items(self, items: Iterator[tuple[bytes, bytes | None]], *, sync: bool = True) -> None:
        """As `write_batch`, from (key, value) pairs as they are made. A later pair for the
        same key wins. `sync=False` returns once LevelDB has the batch in its log, without
        an fsync: for writes that a later synced batch commits (node/storage/members.py
        writes a batch's members in such slices); the next synced write makes them durable."""
        state_prefix = schema.STATE_PREFIX
        state_writes: list[tuple[bytes, bytes | None]] = []
        with self._db.write_batch(transaction=True, sync=sync) as batch:
            for key, value in items:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
                if key[:1] == state_prefix:
                    state_writes.append((key[1:], value))
        # Only once the batch is in LevelDB: a batch that fails leaves the cache as it was.
        for node_hash, value in state_writes:
            if value is None:
                self.state_nodes.discard(node_hash)
            else:
                # A block's new nodes are the paths the next block walks first.
                self.state_nodes.put(node_hash, value)

    def level0_files(self) -> int:
        """The table files in LevelDB's level 0: compaction's backlog. LevelDB slows every
        write from 8 and stops them at 12 until compaction catches up; a bulk writer
        (node/storage/members.py) waits below that, so block commits never meet it."""
        return int(self._db.get_property(b"leveldb.num-files-at-level0"))

    def close(self) -> None:
        self._finalizer()


class LevelSnapshot:
    """A LevelDB snapshot with LevelStore's read methods; `close` (or `with`) releases it."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot

    def get(self, key: bytes) -> bytes | None:
        return self._snapshot.get(key)

    def scan(
        self, lower: bytes, upper: bytes, *, after: bytes | None = None, reverse: bool = False, limit: int,
    ) -> list[tuple[bytes, bytes]]:
        return scan_range(self._snapshot, lower, upper, after=after, reverse=reverse, limit=limit)

    def close(self) -> None:
        self._snapshot.close()

    def __enter__(self) -> LevelSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scan_range(
    source: Any, lower: bytes, upper: bytes, *, after: bytes | None, reverse: bool, limit: int,
) -> list[tuple[bytes, bytes]]:
    """LevelStore.scan over a plyvel DB or snapshot."""
    if limit <= 0:
        return []
    if after is not None:
        if reverse:
            upper = min(upper, after)
        else:
            lower = max(lower, after + b"\x00")
    if lower >= upper:
        return []
    if not reverse:
        with source.iterator(start=lower, stop=upper) as iterator:
            return list(itertools.islice(iterator, limit))
    # Reverse iterators with both bounds skip the range when `start` is an existing key
    # and the range holds one key (plyvel 1.5): bound only the top, stop at `lower` here.
    with source.iterator(stop=upper, reverse=True) as iterator:
        return list(itertools.islice(itertools.takewhile(lambda row: row[0] >= lower, iterator), limit))


class StateOverlay(BaseAtomicDB):
    """py-evm's view of state: trie nodes and code under `schema.STATE_PREFIX`.

    Writes stay in `pending` (read back by later lookups) until the block commits them.
    A read-only overlay (for RPC reads) simply never has its `pending` committed.
    """

    def __init__(self, store: LevelStore) -> None:
        self._store = store
        # Through the store's trie-node cache; a stand-in store with only `get` (the
        # in-memory genesis of node/verify/replay.py) is read key by key.
        get_state = getattr(store, "get_state", None)
        self._get_state: Callable[[bytes], bytes | None] = (
            get_state if get_state is not None else lambda node_hash: store.get(schema.state_key(node_hash)))
        self.pending: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self.pending:
            value = self.pending[key]
        else:
            value = self._get_state(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self.pending[key] = None

    def _exists(self, key: bytes) -> bool:
        if key in self.pending:
            return self.pending[key] is not None
        return self._get_state(key) is not None

    @contextlib.contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with AtomicDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    def prefixed_writes(self) -> dict[bytes, bytes | None]:
        return {schema.state_key(k): v for k, v in self.pending.items()}
