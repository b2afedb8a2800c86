"""The head state's accounts and storage slots kept flat, above the tries, across blocks.

py-evm starts every state with empty caches: each account read walks the account trie
from the root and each storage read walks the contract's storage trie, node by node down
to LevelDB, in every block and every RPC read. `FlatStateCache` remembers what states
built on the head's root read from the tries (address -> encoded account, (address, slot)
-> encoded value) and, when a block is committed, moves to the new head's root by
applying exactly that block's writes (`StateWrites`, captured from the executed block).

Why the cache is never stale:

- It is valid for one state root, `root`. A read or fill names the root its state is
  built on and is ignored unless it is `root` (checked under the lock), so states built on
  any other root (old blocks, a competing proposal's parent, a state whose trie already
  moved at block end) read the tries as before.
- Only trie-level values are cached (what lies below py-evm's journals), so a state's own
  uncommitted writes never enter it.
- A storage slot is served only while the account's storage trie is the head's: the
  account store was opened with the head's storage root for that address and has not
  been wiped (self-destruct, re-creation) or re-rooted since (`storage_eligible`).
- `advance` applies a block only if the cache's root is the block's parent root and the
  writes were captured on that root and led to the block's state root; otherwise it starts
  afresh (empty) at the new root. The writes move every account the block changed (the
  account journal's net diff), drop every account whose storage changed (its storage root
  is rewritten at block end), drop the whole storage of an account the block wiped, and
  set every slot the block wrote (the locked storage journal's net diff): the trie at the
  new root is the trie at the parent root plus exactly those changes.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Accounts kept (encoded account rlp, ~70-110 bytes, plus the 20-byte key and the map's
# slot: ~250 bytes each): 20,000 is ~5 MB, more than the members and contracts of a
# busy ledger touch between two restarts, and small against the 300 MB budget.
FLAT_ACCOUNTS = 20_000
# Storage slots kept over all accounts (32-byte key, value up to 33 bytes, two map slots:
# ~300 bytes each): 100,000 is ~30 MB, the working set of the system contracts' hot slots
# many times over. Eviction drops the least recently used account's slots whole.
FLAT_SLOTS = 100_000

ABSENT = b""  # what the tries answer for a key they do not hold


@dataclass
class StateWrites:
    """What one executed block changed in the state, relative to `base_root`.

    `accounts`: address -> the account's new encoding (b"" deleted) for accounts whose
    storage did not change; `dropped`: accounts whose encoding changes at block end (their
    storage root), which the cache forgets; `slots`: address -> slot key -> new encoded
    value (b"" cleared) for accounts whose storage was written and not wiped; `wiped`:
    accounts whose whole storage was cleared; `new_root`: the state root the block reached.
    """

    base_root: bytes
    accounts: dict[bytes, bytes] = field(default_factory=dict)
    dropped: set[bytes] = field(default_factory=set)
    slots: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    wiped: set[bytes] = field(default_factory=set)
    new_root: bytes | None = None


def capture_state_writes(account_db: Any) -> StateWrites:
    """The net writes py-evm's `AccountDB` holds before its block-end `persist`.

    Read from its journals (nothing written): the account journal's diff, and for every
    account whose storage was touched, whether it was wiped and its locked storage diff.
    `lock_changes` first moves the last transaction's storage writes into the locked
    journal, as `make_storage_root` does at the start of block end anyway."""
    account_db.lock_changes()
    writes = StateWrites(base_root=bytes(account_db.state_root))
    dirty = set(account_db._dirty_accounts)
    diff = account_db._journaltrie.diff()
    for address, encoded in diff.pending_items():
        if address not in dirty:
            writes.accounts[address] = encoded
    for address in diff.deleted_keys():
        if address not in dirty:
            writes.accounts[address] = ABSENT
    for address in dirty:
        writes.dropped.add(address)
        store = account_db._account_stores[address]
        locked = store._locked_changes
        if locked.has_clear():
            writes.wiped.add(address)
            continue
        storage_diff = locked.diff()
        slots = dict(storage_diff.pending_items())
        for slot in storage_diff.deleted_keys():
            slots[slot] = ABSENT
        writes.slots[address] = slots
    return writes


class FlatStateCache:
    """Address -> account and (address, slot) -> value of the state at `root`; thread-safe
    (RPC threads and the consensus thread read states on the head at once)."""

    def __init__(self, root: bytes, *, max_accounts: int = FLAT_ACCOUNTS, max_slots: int = FLAT_SLOTS) -> None:
        self._lock = threading.Lock()
        self._root = root
        self._accounts: OrderedDict[bytes, bytes] = OrderedDict()
        self._storage: OrderedDict[bytes, dict[bytes, bytes]] = OrderedDict()
        self._slot_count = 0
        self._max_accounts = max_accounts
        self._max_slots = max_slots
        self.hits = 0
        self.misses = 0

    @property
    def root(self) -> bytes:
        return self._root

    # -- accounts ---------------------------------------------------------------------

    def account(self, root: bytes, address: bytes) -> bytes | None:
        with self._lock:
            if root != self._root:
                return None
            encoded = self._accounts.get(address)
            if encoded is None:
                self.misses += 1
                return None
            self._accounts.move_to_end(address)
            self.hits += 1
            return encoded

    def fill_account(self, root: bytes, address: bytes, encoded: bytes) -> None:
        with self._lock:
            if root != self._root:
                return
            self._accounts[address] = encoded
            if len(self._accounts) > self._max_accounts:
                self._accounts.popitem(last=False)

    # -- storage ----------------------------------------------------------------------

    def slot(self, root: bytes, address: bytes, slot: bytes) -> bytes | None:
        with self._lock:
            if root != self._root:
                return None
            slots = self._storage.get(address)
            value = None if slots is None else slots.get(slot)
            if value is None:
                self.misses += 1
                return None
            self._storage.move_to_end(address)
            self.hits += 1
            return value

    def fill_slot(self, root: bytes, address: bytes, slot: bytes, value: bytes) -> None:
        with self._lock:
            if root != self._root:
                return
            slots = self._storage.get(address)
            if slots is None:
                slots = self._storage[address] = {}
            if slot not in slots:
                self._slot_count += 1
            slots[slot] = value
            self._storage.move_to_end(address)
            self._evict_slots()

    def _evict_slots(self) -> None:
        while self._slot_count > self._max_slots and self._storage:
            _, slots = self._storage.popitem(last=False)
            self._slot_count -= len(slots)

    # -- moving to the next head ------------------------------------------------------

    def advance(self, parent_root: bytes, new_root: bytes, writes: StateWrites | None) -> bool:
        """Move the cache from `parent_root` to `new_root` with a committed block's writes.
        Returns False (and starts empty at `new_root`) when the writes cannot be applied
        exactly: none captured, captured on another root, or leading elsewhere."""
        with self._lock:
            if (writes is None or self._root != parent_root or writes.base_root != parent_root
                    or writes.new_root != new_root):
                self._reset(new_root)
                return False
            for address, encoded in writes.accounts.items():
                self._accounts[address] = encoded
                self._accounts.move_to_end(address)
            while len(self._accounts) > self._max_accounts:
                self._accounts.popitem(last=False)
            for address in writes.dropped:
                self._accounts.pop(address, None)
            for address in writes.wiped:
                self._drop_storage(address)
            for address, written in writes.slots.items():
                self._apply_slots(address, written)
            self._evict_slots()
            self._root = new_root
            return True

    def reset(self, root: bytes) -> None:
        with self._lock:
            self._reset(root)

    def _reset(self, root: bytes) -> None:
        self._accounts.clear()
        self._storage.clear()
        self._slot_count = 0
        self._root = root

    def _drop_storage(self, address: bytes) -> None:
        slots = self._storage.pop(address, None)
        if slots is not None:
            self._slot_count -= len(slots)

    def _apply_slots(self, address: bytes, written: Mapping[bytes, bytes]) -> None:
        # Only accounts already cached get the writes: a slot the head never read is
        # read from the new trie when it is first needed.
        slots = self._storage.get(address)
        if slots is None:
            return
        for slot, value in written.items():
            if slot not in slots:
                self._slot_count += 1
            slots[slot] = value

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"accounts": len(self._accounts), "slots": self._slot_count, "hits": self.hits,
                    "misses": self.misses}
