"""Where `ledger chain verify` reads blocks: the `BlockSource` protocol the walk asks, and the data-directory source.

* `DataDirSource` reads a data directory's LevelDB with the keys of `node.storage.schema`.
  LevelDB has no read-only mode and rewrites its log files whenever it is opened, so the
  source opens a private copy in a temporary directory (`copy_database`: table files
  hard-linked where the file system allows, the few small mutable files copied, under the
  directory's shared lock so no node writes meanwhile) and deletes it on close: the
  directory verified is left as it was, byte for byte. A running node's directory (its
  LOCK held) is refused. No key is ever written.
* A running node's JSON-RPC is read by the client (client/chain_rpc.py: `ledger chain
  verify --rpc` runs on an auditor's machine), which implements `BlockSource` as well.

A source hands over encodings only (`RawBlock`); nothing it reads is trusted until
node/verify/checks.py has checked it.
"""
from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import plyvel
import rlp
from eth_hash.auto import keccak

from node.errors import InvalidBlock, NodeError, StorageError
from node.execution.genesis import Genesis
from node.storage import schema
from node.storage.files import private_umask
from node.storage.store import DatabaseLocked, LevelStore, copy_database, holding_shared_lock
from node.verify.checks import NUMBER, RawBlock, StoredIndex


class SourceError(StorageError):
    """The block source cannot be read at all: no node at the URL, a missing or locked directory."""


class BlockSource(Protocol):
    """Where the walk reads blocks. `blocks` raises `InvalidBlock` for a block that is
    missing or unreadable at a height the source should hold, `SourceError` if the source
    itself fails."""

    description: str

    def head(self) -> int:
        """The height of the newest block."""
        ...

    def blocks(self, first: int, last: int) -> Iterator[RawBlock]:
        """Blocks `first`..`last` (inclusive), in height order, read lazily."""
        ...

    def state_root_stored(self, root: bytes) -> bool | None:
        """Whether the state trie's root node is stored; None when the source cannot tell."""
        ...

    def close(self) -> None:
        ...


class ReadOnlyStore(LevelStore):
    """A data directory's LevelDB opened for reading: never created, never written to, its
    files' modes left alone (LevelStore tightens them; in a private copy some are hard links
    to the verified directory's files, which must not change)."""

    def __init__(self, path: Path) -> None:
        if not (path / "CURRENT").is_file():
            raise SourceError(f"{path} holds no LevelDB (no CURRENT file)")
        try:
            with private_umask():
                db = plyvel.DB(str(path), create_if_missing=False)
        except plyvel.IOError as exc:
            if "lock" in str(exc).lower():
                raise SourceError(f"{path} is locked by a running node: stop it or verify a copy") from exc
            raise SourceError(f"cannot open LevelDB at {path}: {exc}") from exc
        except plyvel.Error as exc:
            raise SourceError(f"cannot open LevelDB at {path}: {exc}") from exc
        try:
            version = db.get(schema.SCHEMA_VERSION_KEY)
            if version is None:
                raise SourceError(f"{path} is not a ledger data directory (no schema version)")
            if int(version) != schema.SCHEMA_VERSION:
                raise SourceError(f"{path} has storage schema {int(version)}, this verifier reads {schema.SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        self._db = db
        self.path = path
        self._finalizer = weakref.finalize(self, db.close)

    def write_batch(self, writes: Mapping[bytes, bytes | None]) -> None:
        raise StorageError(f"{self.path} is opened read-only")


class DataDirSource:
    """Blocks from a node's LevelDB (DATA_DIR/chain), read with the keys of `node.storage.schema`
    from a private copy (see the module docstring); `close` deletes the copy."""

    def __init__(self, chain_dir: Path) -> None:
        if not (chain_dir / "CURRENT").is_file():
            raise SourceError(f"{chain_dir} holds no LevelDB (no CURRENT file)")
        # $TMPDIR on the data directory's file system makes the copy hard links, not bytes.
        scratch = Path(tempfile.mkdtemp(prefix="ledger-verify-"))
        self._remove_scratch = weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
        try:
            with holding_shared_lock(chain_dir):  # no node writes while the files are copied
                self.copy = copy_database(chain_dir, scratch / "chain")
            self.store = ReadOnlyStore(scratch / "chain")
        except DatabaseLocked as exc:
            self._remove_scratch()
            raise SourceError(str(exc)) from exc
        except OSError as exc:  # an unreadable file, no room for the copy
            self._remove_scratch()
            raise SourceError(f"cannot make a private copy of {chain_dir} under {scratch.parent} "
                              f"(set TMPDIR to another directory): {exc}") from exc
        except BaseException:
            self._remove_scratch()
            raise
        self.store.path = chain_dir  # messages name the directory verified, not the copy
        self.description = f"data directory {chain_dir}"

    def head(self) -> int:
        head_hash = self.store.get(schema.HEAD_KEY)
        if head_hash is None:
            raise SourceError(f"{self.store.path} holds no head pointer")
        raw = self.store.get(schema.header_key(head_hash))
        if raw is None:
            raise SourceError(f"{self.store.path}: no header stored under the head hash 0x{head_hash.hex()}")
        try:
            height = int.from_bytes(rlp.decode(raw)[NUMBER], "big")
        except (rlp.DecodingError, IndexError, TypeError) as exc:
            raise SourceError(f"{self.store.path}: the head's header is not readable: {exc}") from exc
        if self.store.get(schema.canonical_key(height)) != head_hash:
            raise InvalidBlock(height, "canonical index", "the head pointer is not the block indexed at its height")
        return height

    def blocks(self, first: int, last: int) -> Iterator[RawBlock]:
        for height in range(first, last + 1):
            yield self.block(height)

    def block(self, height: int) -> RawBlock:
        get = self.store.get
        block_hash = get(schema.canonical_key(height))
        if block_hash is None:
            raise InvalidBlock(height, "canonical index", "no block indexed at this height")
        stored = {}
        for name, key in (("header", schema.header_key), ("body", schema.body_key), ("receipts", schema.receipts_key)):
            value = get(key(block_hash))
            if value is None:
                raise InvalidBlock(height, "storage", f"no {name} stored under 0x{block_hash.hex()}")
            stored[name] = value
        try:
            transactions, senders = rlp.decode(stored["body"], strict=True)
            receipts = rlp.decode(stored["receipts"], strict=True)
            if not all(isinstance(item, bytes) for item in (*transactions, *senders, *receipts)):
                raise TypeError("a list where an encoding belongs")
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise InvalidBlock(height, "body", f"the stored body or receipts do not decode: {exc}") from exc
        locations = tuple(get(schema.tx_location_key(keccak(tx))) for tx in transactions)
        return RawBlock(height, stored["header"], tuple(transactions), tuple(receipts),
                        StoredIndex(block_hash, tuple(senders), locations, get(schema.vote_key(height))))

    def state_root_stored(self, root: bytes) -> bool | None:
        return self.store.get(schema.state_key(root)) is not None

    def close(self) -> None:
        self.store.close()
        self._remove_scratch()


def stored_genesis(store: LevelStore) -> Genesis:
    """The genesis document a data directory was initialised with."""
    raw = store.get(schema.GENESIS_KEY)
    if raw is None:
        raise SourceError(f"{store.path} holds no genesis document")
    try:
        return Genesis.parse_text(raw.decode())
    except (NodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"{store.path}: the stored genesis document is not valid: {exc}") from exc
