"""The one-pass ordered trie root agrees with the `trie` package's insert-built trie."""
from __future__ import annotations

import random

import pytest
import rlp
from trie import HexaryTrie

from evidence.mpt import BLANK_ROOT, ordered_trie_root


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
