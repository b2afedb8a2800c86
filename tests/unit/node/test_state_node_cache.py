"""The trie-node cache (node/storage/store.py `StateNodeCache`): bounded in bytes, a deleted
state key leaves it, and only content-addressed values live under the prefix it caches.
(Whole blocks built through it against stock py-evm: test_chain_vs_stock.py.)"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.storage import schema
from node.storage.store import STATE_NODE_OVERHEAD_BYTES, LevelStore, StateNodeCache


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LevelStore]:
    s = LevelStore(tmp_path / "chain")
    yield s
    s.close()


def test_state_node_cache_is_bounded_in_bytes_and_drops_deleted_keys(store: LevelStore) -> None:
    cache = StateNodeCache(max_bytes=3 * (32 + 100 + STATE_NODE_OVERHEAD_BYTES))
    for n in range(5):
        cache.put(bytes([n]) * 32, b"v" * 100)
    assert len(cache) == 3 and cache.get(b"\x00" * 32) is None and cache.get(b"\x04" * 32) == b"v" * 100
    assert cache.size_bytes == 3 * (32 + 100 + STATE_NODE_OVERHEAD_BYTES)
    key = b"\x77" * 32
    store.write_batch({schema.state_key(key): b"node"})
    assert store.state_nodes.get(key) == b"node" and store.get_state(key) == b"node"
    store.write_batch({schema.state_key(key): None})
    assert store.state_nodes.get(key) is None and store.get_state(key) is None
    assert store.get_state(b"\x78" * 32) is None and store.state_nodes.get(b"\x78" * 32) is None


def test_only_state_values_live_under_the_state_prefix() -> None:
    """The trie-node cache relies on every key under STATE_PREFIX being content-addressed:
    no other key of the schema may start with it."""
    names = [name for name in dir(schema) if name.isupper() and isinstance(getattr(schema, name), bytes)]
    for name in names:
        if name != "STATE_PREFIX":
            assert not getattr(schema, name).startswith(schema.STATE_PREFIX), name
    for builder in (schema.header_key, schema.body_key, schema.receipts_key, schema.tx_location_key):
        assert not builder(b"\x00" * 32).startswith(schema.STATE_PREFIX)
    assert not schema.canonical_key(5).startswith(schema.STATE_PREFIX)
    assert not schema.vote_key(5).startswith(schema.STATE_PREFIX)
