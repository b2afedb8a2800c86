"""The flat account/storage cache (node/execution/statecache.py) and the trie-node cache
(node/storage/store.py `StateNodeCache`) never change what a state reads or computes.

A hypothesis differential test drives our `LedgerState` (flat cache on, moved block by
block) and a twin on stock py-evm `AccountDB` (no cache) through the same random blocks
of account and storage writes, reads, wipes, deleted accounts and reverted snapshots, on
one LevelDB: every read, every state root and the cache's own contents must agree with the
tries. Blocks are committed, built and dropped (a proposal that is never committed), or
come from elsewhere (built without the cache: no writes to move by). A state built on an
older root reads through the same cache and must still see its own root's values.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.vm.execution_context import ExecutionContext
from eth_typing import Address, BlockNumber, Hash32
from hypothesis import HealthCheck, given, settings, strategies as st

from node.execution.statecache import ABSENT, FlatStateCache, StateWrites
from node.execution.vm import LedgerAccountDB, LedgerState
from node.storage import schema
from node.storage.store import STATE_NODE_OVERHEAD_BYTES, LevelStore, StateNodeCache, StateOverlay

ADDRESSES = [Address(bytes([0xA0 + i]) * 20) for i in range(5)]
CONTEXT = ExecutionContext(
    coinbase=Address(b"\x00" * 20), timestamp=1, block_number=BlockNumber(1), difficulty=1,
    mix_hash=Hash32(b"\x00" * 32), gas_limit=30_000_000, prev_hashes=(), chain_id=1337,
    base_fee_per_gas=0, excess_blob_gas=0,
)


class StockState(LedgerState):
    account_db_class = AccountDB  # type: ignore[assignment]


def ours_at(store: LevelStore, flat: FlatStateCache | None, root: bytes,
            state_class: type[LedgerState] = LedgerState) -> LedgerState:
    overlay = StateOverlay(store)
    overlay.flat_state = flat
    return state_class(overlay, CONTEXT, Hash32(root))


def stock_at(store: LevelStore, root: bytes) -> StockState:
    return StockState(StateOverlay(store), CONTEXT, Hash32(root))


def writes_of(state: Any) -> dict[bytes, bytes | None]:
    """The LevelDB writes of a persisted state: its overlay's pending keys."""
    overlay: StateOverlay = state._account_db._raw_store_db.wrapped_db
    return overlay.prefixed_writes()


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LevelStore]:
    s = LevelStore(Path(tmp_path_factory.mktemp("statecache")) / "chain")
    yield s
    s.close()


# -- random blocks ------------------------------------------------------------------------

SLOTS = st.integers(0, 6)
VALUES = st.one_of(st.just(0), st.integers(1, 5), st.integers(0, 2**256 - 1))
ADDRESS_INDEX = st.integers(0, len(ADDRESSES) - 1)
OPS = st.one_of(
    st.tuples(st.just("get"), ADDRESS_INDEX, SLOTS),
    st.tuples(st.just("set"), ADDRESS_INDEX, SLOTS, VALUES),
    st.tuples(st.just("set"), ADDRESS_INDEX, SLOTS, VALUES),
    st.tuples(st.just("balance"), ADDRESS_INDEX, st.integers(0, 3)),
    st.tuples(st.just("nonce"), ADDRESS_INDEX, st.integers(0, 3)),
    st.tuples(st.just("delete_account"), ADDRESS_INDEX),
    st.tuples(st.just("delete_storage"), ADDRESS_INDEX),
    st.tuples(st.just("touch"), ADDRESS_INDEX),
    st.tuples(st.just("lock")),
    st.tuples(st.just("revert"), st.lists(st.tuples(st.just("set"), ADDRESS_INDEX, SLOTS, VALUES), max_size=3)),
    st.tuples(st.just("revert"), st.lists(st.tuples(st.just("delete_account"), ADDRESS_INDEX), max_size=1)),
)
# committed with the cache moved, built and dropped, or built elsewhere (no writes captured)
FATES = st.sampled_from(["commit", "commit", "commit", "drop", "foreign"])
BLOCKS = st.lists(st.tuples(FATES, st.lists(OPS, max_size=14)), min_size=1, max_size=8)


def apply(state: Any, op: tuple[Any, ...], reads: list[Any]) -> None:
    kind = op[0]
    if kind in ("get", "set", "balance", "nonce", "delete_account", "delete_storage", "touch"):
        address = ADDRESSES[op[1]]
    if kind == "get":
        reads.append(state.get_storage(address, op[2]))
    elif kind == "set":
        reads.append(state.get_storage(address, op[2]))  # SSTORE reads the value it replaces
        state.set_storage(address, op[2], op[3])
    elif kind == "balance":
        reads.append(state.get_balance(address))
        state.set_balance(address, op[2])
    elif kind == "nonce":
        reads.append(state.get_nonce(address))
        state.set_nonce(address, op[2])
    elif kind == "delete_account":
        state.delete_account(address)
    elif kind == "delete_storage":
        state.delete_storage(address)
    elif kind == "touch":
        state.touch_account(address)
    elif kind == "lock":
        state.lock_changes()
    elif kind == "revert":
        snapshot = state.snapshot()
        for inner in op[1]:
            apply(state, inner, reads)
        state.revert(snapshot)


def read_everything(state: Any) -> list[Any]:
    return [(state.get_balance(a), state.get_nonce(a), [state.get_storage(a, s) for s in range(7)]) for a in ADDRESSES]


def assert_cache_matches_tries(store: LevelStore, flat: FlatStateCache) -> None:
    """Every account and slot the cache holds is what the tries at its root hold."""
    stock = stock_at(store, flat.root)
    account_db: Any = stock._account_db
    for address, encoded in list(flat._accounts.items()):
        assert account_db._get_encoded_account(address, from_journal=False) == encoded, address.hex()
    for address, slots in list(flat._storage.items()):
        for slot, value in slots.items():
            expected = stock.get_storage(Address(address), int.from_bytes(slot, "big"))
            assert (rlp.decode(value, sedes=rlp.sedes.big_endian_int) if value else 0) == expected


def run_blocks(store: LevelStore, blocks: list[tuple[str, list[Any]]],
               state_class: type[LedgerState] = LedgerState) -> FlatStateCache:
    genesis = stock_at(store, BLANK_ROOT_HASH)
    for index, address in enumerate(ADDRESSES):
        genesis.set_balance(address, 10 + index)
        for slot in range(0, 7, 2):
            genesis.set_storage(address, slot, slot + 1)
    genesis.persist()
    store.write_batch(writes_of(genesis))
    head = genesis.state_root
    flat = FlatStateCache(head)
    roots = [head]
    for fate, ops in blocks:
        ours = ours_at(store, flat if fate != "foreign" else None, head, state_class)
        stock = stock_at(store, head)
        reads_ours: list[Any] = []
        reads_stock: list[Any] = []
        for op in ops:
            apply(ours, op, reads_ours)
            apply(stock, op, reads_stock)
        assert reads_ours == reads_stock
        ours.persist()
        stock.persist()
        assert ours.state_root == stock.state_root
        if fate == "drop":  # a proposal built on the head, never committed: nothing moves
            assert read_everything(ours_at(store, flat, head)) == read_everything(stock_at(store, head))
            continue
        store.write_batch(writes_of(ours))
        moved = flat.advance(head, ours.state_root, ours.state_writes)
        assert moved == (fate == "commit")
        head = ours.state_root
        roots.append(head)
        assert_cache_matches_tries(store, flat)
        assert read_everything(ours_at(store, flat, head)) == read_everything(stock_at(store, head))
        assert_cache_matches_tries(store, flat)
    # states on older roots read through the same cache object and see their own root
    for root in roots:
        assert read_everything(ours_at(store, flat, root)) == read_everything(stock_at(store, root))
    return flat


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=BLOCKS)
def test_random_blocks_read_and_root_like_stock_py_evm(store: LevelStore, blocks: list[tuple[str, list[Any]]]) -> None:
    run_blocks(store, blocks)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=BLOCKS)
def test_with_the_one_pass_block_end_too(store: LevelStore, blocks: list[tuple[str, list[Any]]]) -> None:
    """The read caches composed with the one-pass block end (node/execution/blockend.py),
    as vm.py is to compose them."""
    blockend = pytest.importorskip("node.execution.blockend")

    class BlockEndAccountDB(blockend.OnePassBlockEnd, LedgerAccountDB):  # type: ignore[name-defined]
        pass

    class BlockEndState(LedgerState):
        account_db_class = BlockEndAccountDB

    run_blocks(store, blocks, BlockEndState)


# -- the cases the brief names, each on its own -------------------------------------------


def test_a_wiped_storage_is_not_served_from_the_cache(store: LevelStore) -> None:
    a = 0
    flat = run_blocks(store, [
        ("commit", [("get", a, 2), ("get", a, 4)]),             # slots 2 and 4 cached (3 and 5)
        ("commit", [("delete_storage", a), ("set", a, 6, 9)]),  # storage replaced wholesale
        ("commit", [("get", a, 2), ("get", a, 4), ("get", a, 6)]),
    ])
    assert flat.stats()["hits"] > 0


def test_a_deleted_then_recreated_account_reads_empty_storage(store: LevelStore) -> None:
    run_blocks(store, [
        ("commit", [("get", 1, 0), ("get", 1, 2)]),
        ("commit", [("delete_account", 1)]),
        ("commit", [("get", 1, 0), ("set", 1, 0, 7), ("balance", 1, 1)]),
        ("commit", [("get", 1, 0), ("get", 1, 2)]),
    ])


def test_a_dropped_proposal_and_a_foreign_block(store: LevelStore) -> None:
    run_blocks(store, [
        ("commit", [("get", 2, 0), ("balance", 2, 0)]),
        ("drop", [("set", 2, 0, 99), ("balance", 2, 3)]),
        ("commit", [("get", 2, 0)]),
        ("foreign", [("set", 2, 0, 5), ("nonce", 2, 2)]),
        ("commit", [("get", 2, 0), ("set", 2, 0, 6)]),
    ])


def test_a_missed_write_would_be_seen(store: LevelStore) -> None:
    """The differential check is sharp: a cache moved without one slot write is caught."""
    def forget_one(writes: StateWrites) -> None:
        for slots in writes.slots.values():
            for slot in slots:
                slots[slot] = rlp.encode(1234)
                return

    genesis_flat = run_blocks(store, [("commit", [("get", 3, 0)])])
    head = genesis_flat.root
    ours = ours_at(store, genesis_flat, head)
    ours.set_storage(ADDRESSES[3], 0, 42)
    ours.persist()
    store.write_batch(writes_of(ours))
    assert ours.state_writes is not None
    forget_one(ours.state_writes)
    genesis_flat.advance(head, ours.state_root, ours.state_writes)
    assert ours_at(store, genesis_flat, ours.state_root).get_storage(ADDRESSES[3], 0) == 1234
    with pytest.raises(AssertionError):
        assert_cache_matches_tries(store, genesis_flat)


def test_advance_starts_afresh_unless_the_writes_lead_from_its_root_to_the_new_one() -> None:
    flat = FlatStateCache(b"\x01" * 32)
    flat.fill_account(b"\x01" * 32, b"a" * 20, b"x")
    assert not flat.advance(b"\x02" * 32, b"\x03" * 32, StateWrites(base_root=b"\x02" * 32, new_root=b"\x03" * 32))
    assert flat.root == b"\x03" * 32 and flat.stats()["accounts"] == 0
    flat.fill_account(b"\x03" * 32, b"a" * 20, b"x")
    assert not flat.advance(b"\x03" * 32, b"\x04" * 32, StateWrites(base_root=b"\x03" * 32, new_root=b"\x05" * 32))
    assert flat.stats()["accounts"] == 0
    flat.fill_account(b"\x01" * 32, b"a" * 20, b"x")  # a fill from a state on another root is ignored
    assert flat.account(b"\x04" * 32, b"a" * 20) is None and flat.stats()["accounts"] == 0
    assert not flat.advance(b"\x04" * 32, b"\x06" * 32, None)


def test_flat_cache_bounds_and_threads() -> None:
    root = b"\x01" * 32
    flat = FlatStateCache(root, max_accounts=10, max_slots=25)

    def work(seed: int) -> None:
        for i in range(500):
            address = bytes([seed, i % 13]) * 10
            flat.fill_account(root, address, b"v")
            flat.fill_slot(root, address, bytes([i % 7]), ABSENT)
            flat.account(root, address)
            flat.slot(root, address, bytes([i % 7]))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = flat.stats()
    assert stats["accounts"] <= 10 and stats["slots"] <= 25
    assert stats["slots"] == sum(len(s) for s in flat._storage.values())


# -- the trie-node cache ------------------------------------------------------------------


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
