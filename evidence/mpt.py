"""Merkle-Patricia tries (Yellow Paper, appendix D): roots and proofs.

Ordered tries (a block's transactions and receipts): key i is RLP(i), the value the
item's network encoding. Keyed tries (the genesis state and its accounts' storage):
any keys, and the "secure" form Ethereum's state uses, whose keys are keccak256 of the
address or storage slot. Either is built bottom-up from the sorted keys in one pass, as
geth's StackTrie does, instead of by repeated insertion: py-evm's insert-based path
costs ~0.6 ms per item, which for a 1,000-transaction block is more than executing it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import rlp
from eth_hash.auto import keccak

from evidence.errors import EvidenceError

BLANK_ROOT = keccak(rlp.encode(b""))
# A key of an ordered trie is RLP(index) (at most 9 bytes): 18 nibbles deep at most, and
# each level of a proof is one node; a longer proof is refused before any hashing.
MAX_PROOF_NODES = 32
MAX_PROOF_BYTES = 1024 * 1024


class ProofError(EvidenceError):
    """A Merkle-Patricia proof that does not prove the value under the root."""

Node = Any  # an RLP structure: list of bytes / nested lists


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """keccak root of the trie {RLP(i): values[i]}."""
    if not values:
        return BLANK_ROOT
    items = sorted((rlp.encode(index), value) for index, value in enumerate(values))
    nibbled = [(_nibbles(key), value) for key, value in items]
    return keccak(_encode_node(_build(nibbled, 0)))


def trie_root(items: Mapping[bytes, bytes]) -> bytes:
    """keccak root of the trie {key: value}. A trie holds no empty value (storing one
    deletes the key), so an empty value is refused rather than silently dropped."""
    if not items:
        return BLANK_ROOT
    if any(not value for value in items.values()):
        raise ValueError("a Merkle-Patricia trie holds no empty value")
    nibbled = sorted((_nibbles(key), value) for key, value in items.items())
    return keccak(_encode_node(_build(nibbled, 0)))


def secure_trie_root(items: Mapping[bytes, bytes]) -> bytes:
    """keccak root of the trie {keccak256(key): value}: Ethereum's state trie (key: the
    20-byte address) and storage tries (key: the 32-byte slot)."""
    hashed = {keccak(key): value for key, value in items.items()}
    if len(hashed) != len(items):  # a keccak collision: never, but not silently
        raise ValueError("two keys hash alike")
    return trie_root(hashed)


class OrderedTrie:
    """The trie {RLP(i): values[i]} built once, for the root and any item's proof."""

    def __init__(self, values: Sequence[bytes]) -> None:
        self.size = len(values)
        self._nodes: dict[bytes, bytes] = {}
        if values:
            items = sorted((rlp.encode(i), value) for i, value in enumerate(values))
            self._root_node: Node = _build([(_nibbles(key), value) for key, value in items], 0, self._nodes)
            self.root = keccak(_encode_node(self._root_node))
        else:
            self._root_node, self.root = b"", BLANK_ROOT

    def proof(self, index: int) -> list[bytes]:
        """The RLP of every node on item `index`'s path that is referred to by hash,
        root first (the node list eth_getProof returns for accounts)."""
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} outside 0..{self.size - 1}")
        proof = [_encode_node(self._root_node)]
        node, key = self._root_node, _nibbles(rlp.encode(index))
        while True:
            child, key = _step(node, key)
            if child is None:
                return proof
            if isinstance(child, bytes) and len(child) == 32:
                proof.append(self._nodes[child])
                node = rlp.decode(self._nodes[child])
            else:
                node = child


def ordered_trie_proof(values: Sequence[bytes], index: int) -> list[bytes]:
    """One item's proof (build an OrderedTrie to prove many items of one trie)."""
    return OrderedTrie(values).proof(index)


def verify_trie_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """The value stored under `key` in the trie with root hash `root`, from `proof`;
    raises ProofError if the proof does not lead there (Yellow Paper, appendix D)."""
    if len(proof) > MAX_PROOF_NODES or sum(len(n) for n in proof) > MAX_PROOF_BYTES:
        raise ProofError(f"proof longer than {MAX_PROOF_NODES} nodes or {MAX_PROOF_BYTES} bytes")
    by_hash = {keccak(encoded): encoded for encoded in proof}
    remaining = _nibbles(key)
    reference: Node = root
    while True:
        if isinstance(reference, bytes):
            if len(reference) != 32 or reference not in by_hash:
                raise ProofError(f"proof lacks the node with hash 0x{bytes(reference).hex()}")
            try:
                node = rlp.decode(by_hash[reference])
            except rlp.DecodingError as exc:
                raise ProofError("a proof node is not RLP") from exc
        else:
            node = reference  # embedded in its parent (its RLP is under 32 bytes)
        if not isinstance(node, list) or len(node) not in (2, 17):
            raise ProofError("a proof node is neither a branch nor a leaf/extension")
        if len(node) == 2 and _is_leaf(node):
            path = _path_of(node)
            if tuple(remaining) != path:
                raise ProofError("the key is not in the trie (leaf path differs)")
            value = node[1]
            if not isinstance(value, bytes):
                raise ProofError("a leaf holds no value")
            return value
        child, remaining = _step(node, remaining)
        if child is None:
            value = node[16] if len(node) == 17 else b""
            if not isinstance(value, bytes) or not value:
                raise ProofError("the key is not in the trie")
            return value
        if child == b"":
            raise ProofError("the key is not in the trie (empty branch slot)")
        reference = child


def _is_leaf(node: list[Any]) -> bool:
    first = node[0]
    return isinstance(first, bytes) and len(first) > 0 and first[0] >> 4 in (2, 3)


def _path_of(node: list[Any]) -> tuple[int, ...]:
    first = node[0]
    if not isinstance(first, bytes) or not first:
        raise ProofError("a leaf or extension node has no path")
    nibbles = _nibbles(first)
    return nibbles[1:] if first[0] >> 4 in (1, 3) else nibbles[2:]


def _step(node: Node, key: Sequence[int]) -> tuple[Node | None, tuple[int, ...]]:
    """(child reference, remaining key) one level down; child None when `key` ends here."""
    key = tuple(key)
    if len(node) == 17:
        if not key:
            return None, key
        return node[key[0]], key[1:]
    if _is_leaf(node):
        return None, key
    path = _path_of(node)
    if key[: len(path)] != path:
        raise ProofError("the key is not in the trie (extension path differs)")
    return node[1], key[len(path):]


def _encode_node(node: Node) -> bytes:
    # Nodes are bytes and nested lists only: the `raw` sedes skips rlp's type inference,
    # which is most of the cost of hashing a block's tries.
    return rlp.encode(node, sedes=rlp.sedes.raw)


def _nibbles(key: bytes) -> tuple[int, ...]:
    out: list[int] = []
    for byte in key:
        out.append(byte >> 4)
        out.append(byte & 0x0F)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    prefixed = [flag + 1, *nibbles] if len(nibbles) % 2 else [flag, 0, *nibbles]
    return bytes(prefixed[i] << 4 | prefixed[i + 1] for i in range(0, len(prefixed), 2))


def _reference(node: Node, nodes: dict[bytes, bytes] | None) -> Node:
    """How a parent refers to a child: inline below 32 bytes of RLP, else by hash
    (recorded in `nodes` when a proof is being made)."""
    encoded = _encode_node(node)
    if len(encoded) < 32:
        return node
    digest = keccak(encoded)
    if nodes is not None:
        nodes[digest] = encoded
    return digest


def _build(items: list[tuple[tuple[int, ...], bytes]], depth: int, nodes: dict[bytes, bytes] | None = None) -> Node:
    """The node for `items` (sorted, unique keys, all sharing key[:depth])."""
    if len(items) == 1:
        key, value = items[0]
        return [_hex_prefix(key[depth:], True), value]
    first, last = items[0][0], items[-1][0]
    shared = 0
    limit = min(len(first), len(last)) - depth
    while shared < limit and first[depth + shared] == last[depth + shared]:
        shared += 1
    if shared:
        return [_hex_prefix(first[depth : depth + shared], False), _reference(_build(items, depth + shared, nodes), nodes)]
    branch: list[Node] = [b""] * 17
    start = 0
    if len(items[0][0]) == depth:  # a key that ends here sits in the branch's value slot
        branch[16] = items[0][1]
        start = 1
    while start < len(items):
        nibble = items[start][0][depth]
        end = start
        while end < len(items) and items[end][0][depth] == nibble:
            end += 1
        branch[nibble] = _reference(_build(items[start:end], depth + 1, nodes), nodes)
        start = end
    return branch
