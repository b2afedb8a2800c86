"""RFC 9162 Merkle trees (Certificate Transparency 2.0, §2.1): roots, inclusion and consistency proofs.

One batch of evidence entries is one tree; one transaction anchors its root, and each
entry's receipt carries the entry's inclusion proof. Hashing is SHA-256 throughout:

* leaf:       MTH({d})   = SHA-256(0x00 || d)
* node:       MTH(D[n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),
              k the largest power of two smaller than n
* empty tree: MTH({})    = SHA-256("")

The 0x00 / 0x01 prefixes keep a leaf from ever being mistaken for an inner node (the
second-preimage attack on plain Merkle trees).

Proof generation follows the RFC's definitions of PATH (§2.1.3.1) and PROOF/SUBPROOF
(§2.1.4.1). ``MerkleTree`` hashes each level once, so a batch's proofs cost O(log n)
look-ups each instead of O(n) hashing. Verification is the RFC's own algorithms
(§2.1.3.2, §2.1.4.2), step by step, after input checks of our own ("step 0"); every
failure raises ``MerkleError`` naming the step that failed — a court reads that message.

Everything here is a pure function of its arguments.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

from evidence.errors import EvidenceError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_LENGTH",
    "MAX_TREE_SIZE",
    "MerkleError",
    "MerkleTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

# Caps on attacker-sized input, checked before any hashing.
#
# MAX_TREE_SIZE: the largest tree a proof may claim. Our batches are orders of magnitude
# smaller; 2**32 keeps every size and index well inside the uint64 range of other RFC 9162
# verifiers (Go, Solidity) and bounds every verification loop to 32 rounds.
MAX_TREE_SIZE: Final = 2**32
# MAX_PROOF_LENGTH: a longer proof is refused unread. 64 is the depth of a 2**64-leaf tree,
# beyond any RFC 9162 log; for trees within MAX_TREE_SIZE a valid inclusion proof has at
# most 32 hashes and a consistency proof at most 33. The exact length a given size needs is
# left to the RFC's algorithm (steps 4a/5 and 6a/7), so that its failure names the RFC step.
MAX_PROOF_LENGTH: Final = 64

_INCLUSION = "RFC 9162 §2.1.3.2"
_CONSISTENCY = "RFC 9162 §2.1.4.2"


class MerkleError(EvidenceError):
    """A Merkle tree input or proof was refused.

    ``reason`` says what failed, ``step`` which verification step refused it (None outside
    verification), ``expected``/``got`` the two values compared, when there were two.
    """

    def __init__(
        self,
        reason: str,
        *,
        step: str | None = None,
        expected: bytes | int | None = None,
        got: bytes | int | None = None,
    ) -> None:
        self.reason = reason
        self.step = step
        self.expected = expected
        self.got = got
        super().__init__(reason if step is None else f"{step}: {reason}")


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one leaf input."""
    return hashlib.sha256(LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an inner node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An RFC 9162 tree over fixed leaf hashes, every level hashed once (O(n)) at construction.

    Level 0 holds the leaf hashes; each next level pairs the nodes of the one below, and a
    level's last node, when it has no partner, is carried up unchanged. That is the same
    tree as RFC 9162's recursive split at k (the largest power of two below n): node ``i``
    of level ``j`` is MTH of leaves ``[i * 2**j, min((i + 1) * 2**j, n))``. Every subtree
    that PATH and SUBPROOF name is one of these nodes, so each proof is O(log n) look-ups.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        if len(leaf_hashes) > MAX_TREE_SIZE:
            raise MerkleError(f"a tree holds at most {MAX_TREE_SIZE} leaves, got {len(leaf_hashes)}")
        level = list(leaf_hashes)
        for index, value in enumerate(level):
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise MerkleError(f"leaf hash {index} must be {HASH_SIZE} bytes, got {_describe(value)}")
        sha256 = hashlib.sha256
        levels = [level]
        while len(level) > 1:
            above = [sha256(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                above.append(level[-1])
            levels.append(above)
            level = above
        self._levels: list[list[bytes]] = levels

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> MerkleTree:
        """The tree over raw leaf inputs (each is hashed with `leaf_hash` first)."""
        return cls([leaf_hash(data) for data in leaves])

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """MTH of all leaves; `EMPTY_ROOT` for an empty tree."""
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        self._check_index(index)
        return self._levels[0][index]

    def root_at(self, size: int) -> bytes:
        """MTH of the first `size` leaves: the root this tree had when it was `size` leaves long."""
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= self.size:
            raise MerkleError(f"size must be in 0..{self.size}, got {size!r}")
        if size == 0:
            return EMPTY_ROOT
        # [0, size) splits into aligned complete subtrees, one per set bit of size, largest first;
        # MTH folds them from the right (the RFC's split at k, applied repeatedly).
        parts: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                parts.append(self._levels[level][start >> level])
                start += 1 << level
        result = parts.pop()
        while parts:
            result = node_hash(parts.pop(), result)
        return result

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[n]) of RFC 9162 §2.1.3.1, leaf's sibling first, root's child last."""
        self._check_index(index)
        path: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):  # no sibling: the node is carried up, the RFC has no node here
                path.append(level[sibling])
            index >>= 1
        return path

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1; empty when old_size equals the tree size.

        The RFC defines proofs for 0 < old_size < n only; the proof between equal sizes is
        empty (SUBPROOF(m, D[m], true)), and from the empty tree there is none to give.
        """
        n = self.size
        if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 < old_size <= n:
            raise MerkleError(f"old size must be in 1..{n} for a tree of {n} leaves, got {old_size!r}")
        # SUBPROOF(m, D[start:end], b), unrolled: each round appends the hash that the RFC
        # puts *after* the recursive part, so the list is reversed at the end.
        m, start, end, whole = old_size, 0, n, True
        found: list[bytes] = []
        while m != end - start:
            k = _largest_power_of_two_below(end - start)
            if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
                found.append(self._subtree(start + k, end))
                end = start + k
            else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
                found.append(self._subtree(start, start + k))
                m, start, whole = m - k, start + k, False
        if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
            found.append(self._subtree(start, end))
        found.reverse()
        return found

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that is a node of this tree (see the class docstring)."""
        level = (end - start - 1).bit_length()
        return self._levels[level][start >> level]

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise MerkleError(f"leaf index must be in 0..{self.size - 1}, got {index!r}")


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw leaf inputs."""
    return MerkleTree.from_leaves(leaves).root


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from leaf hashes already computed with `leaf_hash`."""
    return MerkleTree(leaf_hashes).root


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) (§2.1.3.1). Builds the whole tree: for many proofs use `MerkleTree`."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) (§2.1.4.1). Builds the whole tree: for many proofs use `MerkleTree`."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf_hash` is leaf `index` of the `tree_size`-leaf tree whose root is `root`.

    RFC 9162 §2.1.3.2 as written; raises `MerkleError` naming the failed step, returns None.
    """
    step = f"{_INCLUSION} step 0 (inputs)"
    # 0. Our own checks before the RFC's: hash sizes, sizes within caps, proof length cap.
    _check_hash(leaf_hash, "leaf hash", step)
    _check_hash(root, "root", step)
    _check_count(tree_size, "tree size", step)
    _check_count(index, "leaf index", step)
    _check_proof(proof, step)

    # 1. If leaf_index is greater than or equal to tree_size, fail.
    if index >= tree_size:
        raise MerkleError(
            f"leaf index {index} is out of range for a tree of {tree_size} leaves",
            step=f"{_INCLUSION} step 1", expected=tree_size, got=index,
        )
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, tree_size - 1
    # 3. Set r to hash.
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for position, p in enumerate(proof):
        # a. If sn is 0, stop the iteration and fail the proof verification.
        if sn == 0:
            raise MerkleError(
                f"proof too long: {len(proof)} hashes, the path to the root ends after {position}",
                step=f"{_INCLUSION} step 4a", expected=position, got=len(proof),
            )
        # b. If LSB(fn) is set, or if fn is equal to sn:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, right-shift fn and sn equally until either LSB(fn)
            #     is set or fn is 0.
            fn, sn = _shift_until_set(fn, sn)
        # Otherwise: i. Set r to HASH(0x01 || r || p).
        else:
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. Compare sn to 0 and r to root_hash; proven only if sn is 0 and they are equal.
    if sn != 0:
        raise MerkleError(
            f"proof too short: {len(proof)} hashes do not reach the root of a tree of {tree_size} leaves",
            step=f"{_INCLUSION} step 5", got=len(proof),
        )
    if r != root:
        raise MerkleError(
            f"computed root {r.hex()} does not match the expected root {root.hex()}",
            step=f"{_INCLUSION} step 5", expected=root, got=r,
        )


def _shift_until_set(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift fn and sn equally until LSB(fn) is set or fn is 0 (both verifiers)."""
    while not fn & 1 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the `new_size`-leaf tree with `new_root` extends the `old_size`-leaf tree with `old_root`.

    For 0 < old_size < new_size this is RFC 9162 §2.1.4.2 as written. Outside that range
    the RFC defines no proof: equal sizes are consistent when the roots are equal and the
    proof is empty; a proof from the empty tree (old_size 0) is refused, as it would
    prove nothing. Raises `MerkleError` naming the failed step, returns None.
    """
    step = f"{_CONSISTENCY} step 0 (inputs)"
    # 0. Our own checks: hash sizes, sizes within caps and ordered, proof length cap, and
    #    the cases outside the RFC's 0 < first < second.
    _check_hash(old_root, "old root", step)
    _check_hash(new_root, "new root", step)
    _check_count(old_size, "old size", step)
    _check_count(new_size, "new size", step)
    _check_proof(proof, step)
    if old_size > new_size:
        raise MerkleError(
            f"old size {old_size} is larger than new size {new_size}", step=step, expected=new_size, got=old_size
        )
    if old_size == new_size:
        if proof:
            raise MerkleError(f"trees of equal size need an empty proof, got {len(proof)} hashes", step=step)
        if old_root != new_root:
            raise MerkleError(
                f"trees of equal size {old_size} have different roots {old_root.hex()} and {new_root.hex()}",
                step=step, expected=old_root, got=new_root,
            )
        return
    if old_size == 0:
        raise MerkleError("a consistency proof from the empty tree proves nothing and is refused", step=step)

    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not proof:
        raise MerkleError(
            f"empty proof between sizes {old_size} and {new_size}", step=f"{_CONSISTENCY} step 1"
        )
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for position, c in enumerate(path[1:], start=1):
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise MerkleError(
                f"proof too long: the path to the new root ends before hash {position} of {len(path)}"
                + (" (old root prepended, step 2)" if len(path) > len(proof) else ""),
                step=f"{_CONSISTENCY} step 6a", got=len(proof),
            )
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #     either LSB(fn) is set or fn is 0.
            fn, sn = _shift_until_set(fn, sn)
        # Otherwise: i. Set sr to HASH(0x01 || sr || c).
        else:
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
    if sn != 0:
        raise MerkleError(
            f"proof too short: {len(proof)} hashes do not reach the root of a tree of {new_size} leaves",
            step=f"{_CONSISTENCY} step 7", got=len(proof),
        )
    if fr != old_root:
        raise MerkleError(
            f"computed old root {fr.hex()} does not match the expected old root {old_root.hex()}",
            step=f"{_CONSISTENCY} step 7", expected=old_root, got=fr,
        )
    if sr != new_root:
        raise MerkleError(
            f"computed new root {sr.hex()} does not match the expected new root {new_root.hex()}",
            step=f"{_CONSISTENCY} step 7", expected=new_root, got=sr,
        )


def _describe(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{len(value)} bytes"
    return type(value).__name__


def _check_hash(value: object, what: str, step: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MerkleError(f"{what} must be {HASH_SIZE} bytes, got {_describe(value)}", step=step)


def _check_count(value: object, what: str, step: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MerkleError(f"{what} must be an integer, got {type(value).__name__}", step=step)
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MerkleError(f"{what} must be in 0..{MAX_TREE_SIZE}, got {value}", step=step)


def _check_proof(proof: Sequence[bytes], step: str) -> None:
    if isinstance(proof, (bytes, str)):  # a sequence, but not of hashes
        raise MerkleError(f"proof must be a sequence of hashes, got {type(proof).__name__}", step=step)
    if len(proof) > MAX_PROOF_LENGTH:
        raise MerkleError(
            f"proof has {len(proof)} hashes, more than the cap of {MAX_PROOF_LENGTH}",
            step=step, expected=MAX_PROOF_LENGTH, got=len(proof),
        )
    for position, value in enumerate(proof):
        _check_hash(value, f"proof hash {position}", step)
