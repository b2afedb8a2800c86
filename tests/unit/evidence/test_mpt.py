"""The one-pass ordered trie root agrees with the `trie` package's insert-built trie."""
from __future__ import annotations

import random

import pytest
import rlp
from trie import HexaryTrie

from evidence.mpt import BLANK_ROOT, OrderedTrie, ProofError, ordered_trie_proof, ordered_trie_root, verify_trie_proof


def reference_root(values: list[bytes]) -> bytes:
    t = HexaryTrie({})
    for index, value in enumerate(values):
        t[rlp.encode(index)] = value
    return t.root_hash


@pytest.mark.parametrize("count", [0, 1, 2, 3, 15, 16, 17, 127, 128, 129, 130, 255, 256, 257, 300, 1100])
@pytest.mark.parametrize("value_size", [1, 20, 110])
def test_matches_insert_built_trie(count: int, value_size: int) -> None:
    rng = random.Random(count * 1000 + value_size)
    values = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, value_size))) for _ in range(count)]
    assert ordered_trie_root(values) == reference_root(values)


def test_empty_is_the_blank_root() -> None:
    assert ordered_trie_root([]) == BLANK_ROOT == HexaryTrie({}).root_hash


def test_order_matters() -> None:
    assert ordered_trie_root([b"a", b"b"]) != ordered_trie_root([b"b", b"a"])


@pytest.mark.parametrize("count", [1, 2, 3, 16, 17, 129, 300])
def test_proofs_of_every_item_verify_and_match_the_trie_package(count: int) -> None:
    rng = random.Random(count)
    values = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 120))) for _ in range(count)]
    root = ordered_trie_root(values)
    reference = HexaryTrie({})
    for index, value in enumerate(values):
        reference[rlp.encode(index)] = value
    trie = OrderedTrie(values)
    assert trie.root == root
    for index, value in enumerate(values):
        proof = trie.proof(index)
        assert verify_trie_proof(root, rlp.encode(index), proof) == value
        # the `trie` package reads the same nodes as a proof of the same value
        decoded = tuple(rlp.decode(node) for node in proof)
        assert HexaryTrie.get_from_proof(root, rlp.encode(index), decoded) == value


def test_a_proof_fails_for_another_root_key_or_a_changed_node() -> None:
    values = [bytes([i]) * 40 for i in range(50)]
    root = ordered_trie_root(values)
    proof = ordered_trie_proof(values, 7)
    with pytest.raises(ProofError, match="lacks the node"):
        verify_trie_proof(b"\x11" * 32, rlp.encode(7), proof)
    with pytest.raises(ProofError):
        verify_trie_proof(root, rlp.encode(8), proof)  # 8's leaf is not in 7's proof
    with pytest.raises(ProofError):
        verify_trie_proof(root, rlp.encode(500), proof)
    for position in range(len(proof)):
        changed = list(proof)
        node = bytearray(changed[position])
        node[-1] ^= 1
        changed[position] = bytes(node)
        with pytest.raises(ProofError):
            verify_trie_proof(root, rlp.encode(7), changed)
    with pytest.raises(ProofError, match="longer than"):
        verify_trie_proof(root, rlp.encode(7), proof * 20)
