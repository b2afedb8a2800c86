"""Block end in one pass: new storage roots and the new state root from the block's dirty set.

py-evm's `AccountDB.make_state_root` pushes every dirty storage slot, then every dirty
account, through `HexaryTrie` one key at a time: a walk from the root, a decode and an
encode and a keccak per level per key, and pruning bookkeeping for the intermediate nodes
that the next key replaces. Here each trie is updated once per block: the dirty keys are
sorted, the existing trie is walked once along the touched paths only, the new nodes are
built in memory bottom-up, and each new node is encoded and hashed exactly once when its
parent needs its reference. Untouched subtrees keep their references and are never read.

`update_trie` is the pure core (a root, the changes, a node loader -> the new root and the
new nodes). `OnePassBlockEnd` puts it in place of py-evm's two per-key loops by overriding
`make_state_root` only; everything else (journals, snapshots, `persist`'s batching and
checks) stays py-evm's. The trie a Merkle-Patricia root commits to is canonical (one shape
per key/value set), so the roots are py-evm's; tests/unit/node/test_block_end.py holds the
result equal to `HexaryTrie` and to stock `AccountDB` block by block.

Nodes written: every node reachable from the new root that this update created (and the
root node itself, which `HexaryTrie` always stores by hash even below 32 bytes). Nothing is
deleted: py-evm commits its trie batches with `apply_deletes=False`, so its pruning never
reached the database either; a node py-evm built and pruned within the block (an
intermediate state between two keys) is never built here at all. After a block the
database is byte-for-byte py-evm's (tested). One difference: if `make_state_root` runs
twice in one block, the first pass's nodes stay written (unreachable, harmless) where
py-evm's pruning drops them from its batch; block building and import make the root once,
in `persist` (after Byzantium no receipt carries an intermediate root).

Trie nodes are encoded and decoded by `encode_node` / `decode_node`, a few lines of RLP
for bytes and lists only: rlp's general codec checks every item against abstract base
classes and was half of this module's time. Both are held equal to rlp by the tests, and
anything `decode_node` does not read to its exact end goes to `rlp.decode`.
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import rlp
from eth._utils.padding import pad32
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.journal import DELETE_WRAPPED, REVERT_TO_WRAPPED
from eth.db.storage import AccountStorageDB
from eth.vm.interrupt import MissingAccountTrieNode, MissingStorageTrieNode
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from trie import HexaryTrie
from trie.exceptions import MissingTrieNode
from trie.typing import Nibbles

Node = Any  # a decoded trie node: b"" (blank), [path, value|ref] or a 17-slot branch list
Change = tuple[bytes, bytes]  # (key as nibbles, one per byte; value, b"" to delete)

_HEX_TO_NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_NIBBLES_TO_HEX = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")
_LEAF_FLAG = 0x20
_ODD_FLAG = 0x10


def nibbles_of(key: bytes) -> bytes:
    """A key's nibbles, one per byte (so slices, startswith and sorting are C-speed)."""
    return key.hex().encode("ascii").translate(_HEX_TO_NIBBLES)


def _bytes_of(nibbles: bytes) -> bytes:
    return bytes.fromhex(nibbles.translate(_NIBBLES_TO_HEX).decode("ascii"))


def encode_path(nibbles: bytes, leaf: bool) -> bytes:
    """Hex-prefix encoding of a leaf's or extension's path (Yellow Paper, appendix C)."""
    flag = _LEAF_FLAG if leaf else 0
    if len(nibbles) % 2:
        return bytes((flag | _ODD_FLAG | nibbles[0],)) + _bytes_of(nibbles[1:])
    return bytes((flag,)) + _bytes_of(nibbles)


def decode_path(compact: bytes) -> tuple[bytes, bool]:
    """(nibbles, is_leaf) of a hex-prefix encoded path."""
    nibbles = compact.hex().encode("ascii").translate(_HEX_TO_NIBBLES)
    first = nibbles[0]
    return (nibbles[1:] if first & 1 else nibbles[2:]), bool(first & 2)


def encode_node(node: Node) -> bytes:
    """RLP of a trie node (bytes and nested lists only), as `rlp.encode(node)` gives it.

    rlp's general encoder checks each item against abstract base classes; a block end
    encodes thousands of nodes, and that check was most of its cost. Held equal to
    `rlp.encode` by the tests (every root compared with HexaryTrie's is encoded here)."""
    parts = []
    for item in node:
        if type(item) is bytes:
            size = len(item)
            if size == 1 and item[0] < 0x80:
                parts.append(item)
            elif size < 56:
                parts.append(bytes((0x80 + size,)) + item)
            else:
                length = size.to_bytes((size.bit_length() + 7) // 8, "big")
                parts.append(bytes((0xB7 + len(length),)) + length + item)
        else:
            parts.append(encode_node(item))
    payload = b"".join(parts)
    size = len(payload)
    if size < 56:
        return bytes((0xC0 + size,)) + payload
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(length),)) + length + payload


def decode_node(encoded: bytes) -> Node:
    """A stored trie node's structure, as `rlp.decode(encoded)` gives it.

    The fast path reads the canonical RLP this module and HexaryTrie write; anything it
    does not end exactly on is handed to rlp, which decodes it or says what is wrong."""
    try:
        node, end = _decode_item(encoded, 0)
    except IndexError:
        end = -1
    if end != len(encoded):
        return rlp.decode(encoded)
    return node


def _decode_item(data: bytes, pos: int) -> tuple[Node, int]:
    prefix = data[pos]
    if prefix < 0x80:
        return data[pos:pos + 1], pos + 1
    if prefix < 0xB8:
        end = pos + 1 + prefix - 0x80
        return data[pos + 1:end], end
    if prefix < 0xC0:
        start = pos + 1 + prefix - 0xB7
        end = start + int.from_bytes(data[pos + 1:start], "big")
        return data[start:end], end
    if prefix < 0xF8:
        start = pos + 1
        end = start + prefix - 0xC0
    else:
        start = pos + 1 + prefix - 0xF7
        end = start + int.from_bytes(data[pos + 1:start], "big")
    if end > len(data):
        raise IndexError(end)
    items = []
    while start < end:
        item, start = _decode_item(data, start)
        items.append(item)
    if start != end:
        raise IndexError(start)
    return items, end


def _shared_length(a: bytes, b: bytes, start: int) -> int:
    """How many nibbles a and b share from `start` on."""
    limit = min(len(a), len(b))
    index = start
    while index < limit and a[index] == b[index]:
        index += 1
    return index - start



def _nibble_groups(items: Sequence[Change], lo: int, hi: int, depth: int) -> Iterator[tuple[int, int, int]]:
    """(nibble, start, end) for each run of items[lo:hi] (sorted, every key longer than
    `depth`) that shares the nibble at `depth`: a branch's children, in order."""
    index = lo
    while index < hi:
        nibble = items[index][0][depth]
        end = index + 1
        while end < hi and items[end][0][depth] == nibble:
            end += 1
        yield nibble, index, end
        index = end


class _Update:
    """One trie's update: holds the loader, the new nodes and the root for error reports."""

    __slots__ = ("load", "nodes", "root")

    def __init__(self, root: bytes, load: Callable[[bytes], bytes]) -> None:
        self.root = root
        self.load = load
        self.nodes: dict[bytes, bytes] = {}

    # -- reading the existing trie ------------------------------------------------------
    def resolve(self, ref: Node, key: bytes, depth: int) -> Node:
        """The node a parent's slot refers to: embedded lists are the node itself."""
        if isinstance(ref, list) or ref == b"":
            return ref
        try:
            encoded = self.load(ref)
        except KeyError as exc:
            requested = _bytes_of(key) if len(key) % 2 == 0 else b""
            raise MissingTrieNode(Hash32(ref), Hash32(self.root), requested, Nibbles(tuple(key[:depth]))) from exc
        return decode_node(encoded)

    # -- building new nodes (in memory; encoded once, by `commit`) ---------------------
    def build(self, items: list[Change], lo: int, hi: int, depth: int) -> Node:
        """A fresh subtree for items[lo:hi] (sorted, distinct, no deletes, sharing key[:depth])."""
        if hi == lo:
            return b""
        if hi - lo == 1:
            key, value = items[lo]
            return [encode_path(key[depth:], True), value]
        first = items[lo][0]
        split = depth + _shared_length(first, items[hi - 1][0], depth)
        branch: list[Node] = [b""] * 17
        index = lo
        if len(first) == split:  # a key that ends here is the branch's value
            branch[16] = items[index][1]
            index += 1
        for nibble, start, end in _nibble_groups(items, index, hi, split):
            branch[nibble] = self.build(items, start, end, split + 1)
        if split > depth:
            return [encode_path(first[depth:split], False), branch]
        return branch

    def update(self, node: Node, items: list[Change], lo: int, hi: int, depth: int) -> Node:
        """The node that replaces `node` (at key depth `depth`) once items[lo:hi] apply."""
        if node == b"":
            live = [item for item in items[lo:hi] if item[1]]
            return self.build(live, 0, len(live), depth)
        if len(node) == 17:
            return self._update_branch(list(node), items, lo, hi, depth)
        path, leaf = decode_path(node[0])
        first, last = items[lo][0], items[hi - 1][0]
        if leaf:
            # The leaf is one more item; an item with its key replaces (or deletes) it.
            full_key = first[:depth] + path
            live = [item for item in items[lo:hi] if item[1]]
            keys = [key for key, _ in items[lo:hi]]
            if full_key not in keys:
                bisect.insort(live, (full_key, node[1]))
            return self.build(live, 0, len(live), depth)
        if first.startswith(path, depth) and last.startswith(path, depth):
            # Sorted keys: if the first and last run through the extension, all do.
            child = self.update(self.resolve(node[1], first, depth), items, lo, hi, depth + len(path))
            return self._extend(path, child)
        # Some key leaves the extension's path after `split` nibbles: the same trie as an
        # extension of path[:split] to a branch holding the rest of the old path there.
        split = min(_shared_length(path, first[depth:], 0), _shared_length(path, last[depth:], 0))
        rest = path[split + 1:]
        branch: list[Node] = [b""] * 17
        branch[path[split]] = [encode_path(rest, False), node[1]] if rest else node[1]
        return self._extend(path[:split], self._update_branch(branch, items, lo, hi, depth + split))

    def _update_branch(self, branch: list[Node], items: list[Change], lo: int, hi: int, depth: int) -> Node:
        index = lo
        if len(items[index][0]) == depth:
            branch[16] = items[index][1]
            index += 1
        for nibble, start, end in _nibble_groups(items, index, hi, depth):
            branch[nibble] = self.update(
                self.resolve(branch[nibble], items[start][0], depth + 1), items, start, end, depth + 1)
        return self._normalise_branch(branch, items[lo][0], depth)

    def _normalise_branch(self, branch: list[Node], key: bytes, depth: int) -> Node:
        """A branch left with one entry becomes a leaf or extension, as HexaryTrie's does."""
        occupied = [nibble for nibble in range(16) if branch[nibble] != b""]
        if len(occupied) + (1 if branch[16] else 0) > 1:
            return branch
        if branch[16]:
            return [encode_path(b"", True), branch[16]]
        if not occupied:
            return b""
        nibble = occupied[0]
        child = self.resolve(branch[nibble], key[:depth] + bytes((nibble,)), depth + 1)
        return self._extend(bytes((nibble,)), child, branch[nibble])

    def _extend(self, path: bytes, child: Node, child_ref: Node = None) -> Node:
        """`path` followed by `child`, merged into one leaf/extension where the rules say so."""
        if not path or child == b"":
            return child
        if len(child) == 2:
            child_path, leaf = decode_path(child[0])
            return [encode_path(path + child_path, leaf), child[1]]
        # A branch: keep its stored reference if it was not rebuilt.
        return [encode_path(path, False), child if child_ref is None else child_ref]

    # -- encoding -----------------------------------------------------------------------
    def commit(self, node: Node) -> Node:
        """The reference to `node` (new nodes encoded once, bottom-up, and recorded)."""
        if type(node) is bytes:
            return node  # blank, or an untouched child's hash
        if len(node) == 17:
            for nibble in range(16):
                child = node[nibble]
                if type(child) is list:
                    node[nibble] = self.commit(child)
        elif not node[0][0] & _LEAF_FLAG and type(node[1]) is list:
            node[1] = self.commit(node[1])
        encoded = encode_node(node)
        if len(encoded) < 32:
            return node
        digest = keccak(encoded)
        self.nodes[digest] = encoded
        return digest


def update_trie(
    root: bytes, changes: Iterable[tuple[bytes, bytes]], load: Callable[[bytes], bytes],
) -> tuple[Hash32, dict[bytes, bytes]]:
    """The root after `changes` ((key, value) pairs, b"" deleting; last one per key wins)
    apply to the trie at `root`, and the new nodes {keccak(rlp): rlp} to store.

    `load(hash)` returns a stored node's rlp or raises KeyError (surfaced as trie's
    MissingTrieNode, as HexaryTrie does). Only the nodes on the changed keys' paths are
    loaded, plus the sibling a collapsing branch folds into its parent.
    """
    items = sorted({nibbles_of(key): value for key, value in changes}.items())
    if not items:
        return Hash32(root), {}
    run = _Update(root, load)
    current = b"" if root == BLANK_ROOT_HASH else run.resolve(root, items[0][0], 0)
    new_root = run.update(current, items, 0, len(items), 0)
    if new_root == b"":
        return BLANK_ROOT_HASH, run.nodes
    committed = run.commit(new_root)
    if isinstance(committed, bytes):
        return Hash32(committed), run.nodes
    # HexaryTrie stores the root node by hash even when it is under 32 bytes.
    encoded = encode_node(committed)
    digest = keccak(encoded)
    run.nodes[digest] = encoded
    return Hash32(digest), run.nodes


def _flush_storage(store: AccountStorageDB, address: Address) -> None:
    """`store.make_storage_root()` with the locked changes applied to its trie in one pass.

    Same steps as py-evm's: lock the journal, then hand the locked changes to the storage
    trie (a delete where py-evm's `JournalDB.persist` deletes, nothing where it skips).
    The storage cache is updated as py-evm's writes through it update it.
    """
    store.lock_changes()
    journal = store._locked_changes._journal.pop_all()
    # py-evm's persist writes through the storage cache (CacheDB), which keeps what it
    # wrote and forgets what it deleted: the same here, so later reads in this block match.
    cached = store._storage_cache._cached_values
    changes: list[tuple[bytes, bytes]] = []
    for slot_key, value in journal.items():
        if value is REVERT_TO_WRAPPED:
            continue
        hashed = keccak(pad32(slot_key))
        if value is DELETE_WRAPPED:
            changes.append((hashed, b""))
            if slot_key in cached:
                del cached[slot_key]
        else:
            encoded = cast(bytes, value)
            changes.append((hashed, encoded))
            cached[slot_key] = encoded
    if not changes:
        return
    lookup = store._storage_lookup
    write_trie = lookup._get_write_trie()  # marks the root changed, as py-evm's first write does
    batch = lookup._trie_nodes_batch
    try:
        new_root, nodes = update_trie(write_trie.root_hash, changes, batch.__getitem__)
    except MissingTrieNode as exc:
        raise MissingStorageTrieNode(
            Hash32(exc.missing_node_hash), lookup._starting_root_hash, Hash32(exc.requested_key), exc.prefix, address,
        ) from exc
    for digest, encoded in nodes.items():
        batch[digest] = encoded
    write_trie.root_hash = new_root


class OnePassBlockEnd(AccountDB):
    """py-evm's `AccountDB` whose `make_state_root` updates each trie once per block.

    Put before `AccountDB` in a subclass's bases. Steps, in py-evm's order: (1) each dirty
    account's storage changes into its storage trie, one pass per trie; (2) the changed
    storage roots into their accounts (an account that does not exist gets one only for a
    non-empty storage root, as py-evm does); (3) new contract code to the batch; (4) the
    account changes into the state trie in one pass; (5) the account journal and the
    account-read cache reset, since both described the trie before this root.
    """

    def make_state_root(self) -> Hash32:
        # 1. storage tries
        for address, store in self._dirty_account_stores():
            _flush_storage(cast(AccountStorageDB, store), address)
        # 2. storage roots into accounts
        for address, storage_root in self._get_changed_roots():
            if self.account_exists(address) or storage_root != BLANK_ROOT_HASH:
                self._set_storage_root(address, storage_root)
        # 3. code
        self._journaldb.persist()
        # 4. the account trie
        diff = self._journaltrie.diff()
        changes = [(keccak(address), b"") for address in diff.deleted_keys()]
        changes.extend((keccak(address), value) for address, value in diff.pending_items())
        if changes:
            hexary = cast(HexaryTrie, self._trie._db)
            try:
                new_root, nodes = update_trie(hexary.root_hash, changes, self._batchtrie.__getitem__)
            except MissingTrieNode as exc:
                raise MissingAccountTrieNode(
                    Hash32(exc.missing_node_hash), self._root_hash_at_last_persist, Hash32(exc.requested_key),
                ) from exc
            for digest, encoded in nodes.items():
                self._batchtrie[digest] = encoded
            hexary.root_hash = new_root
        # 5. reset what described the old root
        self._journaltrie.reset()
        self._trie_cache.reset_cache()
        return self.state_root
