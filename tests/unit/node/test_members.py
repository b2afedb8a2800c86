"""The batch-member index (node/storage/members.py) on a real LevelDB: inclusion paths
rebuilt from chunks agree with the whole tree's, leaves that are not the anchored batch are
refused (naming the root they make), a root not on chain yet is told apart, a re-upload
writes nothing, the quotas hold before anything is written, and a member is found by its
own digest beside the digest's own anchorings, in chain order."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence import merkle
from node.errors import ConfigError, NotFound, StorageError
from node.storage import members, schema
from node.storage.index_queries import Indexes
from node.storage.members import (
    CHUNK_LEAVES,
    BatchLeaves,
    LeavesRefused,
    MemberIndex,
    MemberQuota,
    MemberQuotaExceeded,
    NotABatchMember,
    RootNotAnchored,
    decode_record,
    inclusion_path,
    index_bytes,
    member_writes,
)
from tests.unit.node.indexlogs import Block, CountingStore, address, open_store, store_blocks

CALLER = "token:0123456789abcdef0123456789abcdef"


def leaves(count: int, salt: str = "file") -> list[bytes]:
    return [hashlib.sha256(f"{salt} {i}".encode()).digest() for i in range(count)]


def root_of(batch: list[bytes]) -> bytes:
    return merkle.root([*batch])


def anchored_root(root: bytes, leaf_count: int, *, case: str = "IP-2026-7") -> tuple[str, str, dict[str, Any]]:
    from eth_utils import keccak

    return ("EvidenceRegistry", "Anchored", {
        "digest": root, "submitter": address(7), "caseHash": keccak(text=case), "kind": "document", "caseRef": case,
        "digestAlgorithm": 1, "leafCount": leaf_count, "metadataDigest": b"\x00" * 32, "anchoring": 1,
    })


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    s = open_store(tmp_path / "chain")
    yield s
    s.close()


def all_keys(store: CountingStore) -> list[tuple[bytes, bytes]]:
    return store.scan(b"\x00", b"\xff" * 4, limit=10**7)


# -- the pure part ------------------------------------------------------------------------------


# Sizes where cutting the tree at the chunks' height could go wrong: one chunk, a chunk and
# one leaf, a power of two of chunks and one more, a last chunk of one leaf.
@pytest.mark.parametrize("size", [1, 2, 3, CHUNK_LEAVES - 1, CHUNK_LEAVES, CHUNK_LEAVES + 1, 2 * CHUNK_LEAVES,
                                  2 * CHUNK_LEAVES + 1, 3 * CHUNK_LEAVES + 517, 4 * CHUNK_LEAVES + 1])
def test_paths_from_chunks_are_the_whole_trees_paths(size: int) -> None:
    batch = leaves(size)
    tree = merkle.MerkleTree([merkle.leaf_hash(d) for d in batch])
    parsed = BatchLeaves.parse(tree.root, b"".join(batch))
    assert parsed.size == size and parsed.root == tree.root
    for index in sorted({0, 1 % size, size // 2, size - 1, min(CHUNK_LEAVES, size - 1), max(0, size - CHUNK_LEAVES)}):
        chunk_no = index // CHUNK_LEAVES
        chunk = parsed.leaves[chunk_no * members.CHUNK_BYTES:(chunk_no + 1) * members.CHUNK_BYTES]
        path = inclusion_path(chunk, parsed.chunk_roots, index)
        assert path == tree.inclusion_proof(index), (size, index)
        merkle.verify_inclusion(merkle.leaf_hash(batch[index]), index, size, path, tree.root)


def test_leaves_that_are_not_the_batch_are_refused_naming_what_they_make() -> None:
    batch = leaves(5)
    root = root_of(batch)
    for body, words in ((b"", "not 1 or more leaves"), (b"\x01" * 33, "33 bytes"),
                        (b"".join(batch[:4]), "these 4 leaves make the root 0x" + root_of(batch[:4]).hex()),
                        (b"".join(reversed(batch)), "these 5 leaves make the root")):
        with pytest.raises(LeavesRefused) as refused:
            BatchLeaves.parse(root, body)
        assert words in str(refused.value) and f"batch root 0x{root.hex()}" in str(refused.value)
    with pytest.raises(LeavesRefused, match="more than a batch may hand over"):
        BatchLeaves.parse(root, b"".join(batch), max_members=4)


def test_the_charge_is_what_the_keys_and_values_hold() -> None:
    for size in (1, CHUNK_LEAVES + 3):
        batch = leaves(size)
        parsed = BatchLeaves.parse(root_of(batch), b"".join(batch))
        written = sum(len(k) + len(v) for k, v in member_writes(parsed, b"\x00" * 12))
        assert index_bytes(size) == written


def test_batch_records_round_trip_and_a_foreign_one_is_refused() -> None:
    record = members.BatchRecord(b"\x01" * 12, 5000, (b"\x02" * 32, b"\x03" * 32))
    assert decode_record(members.encode_record(record)) == record
    with pytest.raises(StorageError):
        decode_record(b"\x00" * 17)


def test_quota_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        MemberQuota(store_bytes=10, caller_bytes=11)
    with pytest.raises(ConfigError):
        MemberQuota(min_free_bytes=-1)


def test_the_node_takes_every_batch_the_sdk_makes() -> None:
    from client.anchoring import MAX_BATCH

    assert members.MAX_BATCH_MEMBERS == MAX_BATCH


# -- the index on LevelDB --------------------------------------------------------------------------


def test_a_member_is_found_by_its_digest_with_its_batch_and_path(store: CountingStore) -> None:
    batch = leaves(CHUNK_LEAVES + 10)
    root = root_of(batch)
    index = MemberIndex(store)
    with pytest.raises(RootNotAnchored, match="not anchored on this node's chain"):
        index.add(root, b"".join(batch), CALLER)
    assert all_keys(store) == [(schema.INDEX_HEIGHT_KEY, schema.height_bytes(0)),
                               (schema.SCHEMA_VERSION_KEY, store.get(schema.SCHEMA_VERSION_KEY))]
    store_blocks(store, [Block().tx(anchored_root(root, len(batch)))], first_height=1)

    added = index.add(root, b"".join(batch), CALLER)
    assert (added.created, added.size, added.cursor, added.bytes) == (True, len(batch), "1-0", index_bytes(len(batch)))
    assert index.usage(CALLER) == (added.bytes, added.bytes)

    idx = Indexes(store)
    (entry,) = idx.evidence(digest=batch[1030]).items
    assert entry["digest"] == "0x" + batch[1030].hex() and entry["caseRef"] == "IP-2026-7"
    assert entry["batch"] == {"root": "0x" + root.hex(), "leafIndex": 1030, "treeSize": len(batch)}
    assert entry["anchored"]["block"] == 1 and entry["leafCount"] == len(batch)
    (anchoring,) = idx.evidence(digest=root).items
    assert anchoring["batch"] is None and anchoring["membersIndexed"] is True

    proof = idx.member_proof(batch[1030])
    path = [bytes.fromhex(h[2:]) for h in proof["inclusionPath"]]
    merkle.verify_inclusion(merkle.leaf_hash(batch[1030]), 1030, len(batch), path, root)
    assert proof["anchored"]["transactionHash"] == entry["anchored"]["transactionHash"]
    with pytest.raises(NotABatchMember):
        idx.member_proof(batch[1030], root=b"\x05" * 32)
    with pytest.raises(NotFound):
        idx.member_proof(b"\x05" * 32)


def test_a_second_upload_writes_and_charges_nothing(store: CountingStore) -> None:
    batch = leaves(40)
    root = root_of(batch)
    store_blocks(store, [Block().tx(anchored_root(root, len(batch)))], first_height=1)
    index = MemberIndex(store)
    first = index.add(root, b"".join(batch), CALLER)
    before = all_keys(store)
    again = index.add(root, b"".join(batch), "client:127.0.0.1")
    assert not again.created and (again.size, again.cursor, again.bytes) == (first.size, first.cursor, first.bytes)
    assert all_keys(store) == before
    assert index.usage("client:127.0.0.1") == (0, first.bytes)
    with pytest.raises(LeavesRefused):  # a wrong body is refused even for a batch the node holds
        index.add(root, b"".join(batch[:39]), CALLER)


def test_leaves_must_have_the_anchored_count(store: CountingStore) -> None:
    batch = leaves(6)
    root = root_of(batch)
    store_blocks(store, [Block().tx(anchored_root(root, 7))], first_height=1)  # a submitter's wrong count
    with pytest.raises(LeavesRefused, match="6 leaves, but it was anchored with a leaf count of 7"):
        MemberIndex(store).add(root, b"".join(batch), CALLER)
    # anchored again with the right count: the members belong to that anchoring
    store_blocks(store, [Block().tx(anchored_root(root, 6))], first_height=2)
    assert MemberIndex(store).add(root, b"".join(batch), CALLER).cursor == "2-0"


def test_quotas_refuse_before_anything_is_written(store: CountingStore) -> None:
    first, second = leaves(10, "a"), leaves(10, "b")
    store_blocks(store, [Block().tx(anchored_root(root_of(first), 10)).tx(anchored_root(root_of(second), 10))],
                 first_height=1)
    charge = index_bytes(10)
    index = MemberIndex(store, MemberQuota(store_bytes=3 * charge, caller_bytes=charge))
    index.add(root_of(first), b"".join(first), CALLER)
    before = all_keys(store)
    with pytest.raises(MemberQuotaExceeded) as caller_refused:
        index.add(root_of(second), b"".join(second), CALLER)
    assert (caller_refused.value.scope, caller_refused.value.status, caller_refused.value.used,
            caller_refused.value.limit) == ("caller", 413, charge, charge)
    other = MemberIndex(store, MemberQuota(store_bytes=charge, caller_bytes=charge))
    with pytest.raises(MemberQuotaExceeded) as store_refused:
        other.add(root_of(second), b"".join(second), "token:another")
    assert (store_refused.value.scope, store_refused.value.unit, store_refused.value.status) == ("store", "bytes", 507)
    no_room = MemberIndex(store, MemberQuota(min_free_bytes=2**62))
    with pytest.raises(MemberQuotaExceeded) as disk_refused:
        no_room.add(root_of(second), b"".join(second), "token:another")
    assert disk_refused.value.unit == "free bytes" and disk_refused.value.status == 507
    assert all_keys(store) == before


def test_a_digests_anchorings_and_memberships_page_together_in_chain_order(store: CountingStore) -> None:
    file = hashlib.sha256(b"the contract").digest()
    batch = [*leaves(3), file, *leaves(2, "more")]
    root = root_of(batch)
    lone = anchored_root(file, 1)  # the file anchored on its own, before and after its batch
    store_blocks(store, [Block().tx(lone), Block().tx(anchored_root(root, len(batch))), Block().tx(lone)],
                 first_height=1)
    MemberIndex(store).add(root, b"".join(batch), CALLER)
    idx = Indexes(store)

    def walk(reverse: bool) -> list[tuple[int, object]]:
        seen, after = [], None
        while True:
            page = idx.evidence(digest=file, after=after, limit=1, reverse=reverse)
            seen += [(item["anchored"]["block"], item["batch"] and item["batch"]["leafIndex"]) for item in page.items]
            if page.next is None:
                return seen
            after = page.next

    assert walk(False) == [(1, None), (2, 3), (3, None)]
    assert walk(True) == [(3, None), (2, 3), (1, None)]
    assert [(i["anchored"]["block"]) for i in idx.evidence(digest=file, limit=2).items] == [1, 2]


def test_a_digest_twice_in_a_batch_keeps_its_first_leaf(store: CountingStore) -> None:
    twice = hashlib.sha256(b"the same scan, twice").digest()
    batch = [*leaves(2), twice, *leaves(3, "x"), twice]
    root = root_of(batch)
    store_blocks(store, [Block().tx(anchored_root(root, len(batch)))], first_height=1)
    MemberIndex(store).add(root, b"".join(batch), CALLER)
    proof = Indexes(store).member_proof(twice)
    assert proof["batch"]["leafIndex"] == 2
    merkle.verify_inclusion(merkle.leaf_hash(twice), 2, len(batch), [bytes.fromhex(h[2:]) for h in proof["inclusionPath"]],
                            root)


# -- writing in slices: the batch record is the commit point ------------------------------------


class WriterStopped(Exception):
    """The node stopping (a crash) while an upload's slices are being written."""


class StopsAfterSlices(CountingStore):
    """A real LevelStore whose writer stops (raises) at its write batch number `stop_at`
    (counting from 1), as if the node died there: what was written before stays."""

    stop_at: int | None = None
    writes = 0

    def write_items(self, items: Iterator[tuple[bytes, bytes | None]], **kwargs: Any) -> None:
        self.writes += 1
        if self.stop_at is not None and self.writes >= self.stop_at:
            raise WriterStopped(f"stopped at write batch {self.writes}")
        super().write_items(items, **kwargs)


# A small slice, so that a batch of a few chunks is written in many slices.
SMALL_SLICE = 4096


def members_visible(store: CountingStore, batch: list[bytes], root: bytes) -> list[bool]:
    """For each of a few members: is it found, by digest and by proof?"""
    idx = Indexes(store)
    seen = []
    for digest in (batch[0], batch[len(batch) // 2], batch[-1]):
        page = idx.evidence(digest=digest)
        by_digest = [item for item in page.items if item["batch"] is not None]
        try:
            idx.member_proof(digest)
            proved = True
        except NotABatchMember:
            proved = False
        seen += [bool(by_digest), proved]
    (anchoring,) = idx.evidence(digest=root).items
    return [*seen, anchoring["membersIndexed"]]


def test_a_crash_between_slices_leaves_nothing_visible_and_a_retry_completes(tmp_path: Path) -> None:
    batch = leaves(3 * CHUNK_LEAVES + 5)
    root = root_of(batch)
    store = StopsAfterSlices(tmp_path / "chain")
    store.write_batch({schema.INDEX_HEIGHT_KEY: schema.height_bytes(0)})
    store_blocks(store, [Block().tx(anchored_root(root, len(batch)))], first_height=1)
    store.writes, store.stop_at = 0, 4  # three slices written, the fourth never is
    with pytest.raises(WriterStopped):
        MemberIndex(store, slice_bytes=SMALL_SLICE).add(root, b"".join(batch), CALLER)
    store.close()

    store = StopsAfterSlices(tmp_path / "chain")  # the node restarted
    try:
        written = store.scan(schema.BATCH_MEMBER, schema.BATCH_MEMBER + b"\xff", limit=10**6)
        assert 0 < len(written) < len(batch)  # the crash did leave member rows behind...
        assert store.get(schema.BATCH + root) is None
        assert members_visible(store, batch, root) == [False] * 7  # ...which nobody sees
        with pytest.raises(NotFound):
            Indexes(store).member_proof(batch[-1])
        index = MemberIndex(store, slice_bytes=SMALL_SLICE)
        assert index.usage(CALLER) == (0, 0)  # and nobody is charged for

        added = index.add(root, b"".join(batch), CALLER)  # the retry completes the batch
        assert added.created and added.bytes == index_bytes(len(batch))
        assert index.usage(CALLER) == (added.bytes, added.bytes)
        assert store.writes > 2  # it took several write batches
        assert members_visible(store, batch, root) == [True] * 7
        proof = Indexes(store).member_proof(batch[2 * CHUNK_LEAVES + 1])
        merkle.verify_inclusion(merkle.leaf_hash(batch[2 * CHUNK_LEAVES + 1]), 2 * CHUNK_LEAVES + 1, len(batch),
                                [bytes.fromhex(h[2:]) for h in proof["inclusionPath"]], root)
        keys = len(all_keys(store))
        assert not index.add(root, b"".join(batch), CALLER).created  # and a third upload changes nothing
        assert len(all_keys(store)) == keys and index.usage(CALLER) == (added.bytes, added.bytes)
    finally:
        store.close()


def test_the_quota_counts_only_committed_batches(tmp_path: Path) -> None:
    first, second = leaves(2 * CHUNK_LEAVES, "a"), leaves(2 * CHUNK_LEAVES, "b")
    store = StopsAfterSlices(tmp_path / "chain")
    try:
        store.write_batch({schema.INDEX_HEIGHT_KEY: schema.height_bytes(0)})
        store_blocks(store, [Block().tx(anchored_root(root_of(first), len(first)))
                             .tx(anchored_root(root_of(second), len(second)))], first_height=1)
        charge = index_bytes(len(first))
        index = MemberIndex(store, MemberQuota(store_bytes=charge, caller_bytes=charge), slice_bytes=SMALL_SLICE)
        store.writes, store.stop_at = 0, 3
        with pytest.raises(WriterStopped):
            index.add(root_of(first), b"".join(first), CALLER)
        store.stop_at = None
        assert index.usage(CALLER) == (0, 0)
        # the stopped upload took none of the quota: another batch that fills it is taken
        assert index.add(root_of(second), b"".join(second), CALLER).created
        assert index.usage(CALLER) == (charge, charge)
        with pytest.raises(MemberQuotaExceeded):  # and now the quota is full
            index.add(root_of(first), b"".join(first), CALLER)
        assert store.get(schema.BATCH + root_of(first)) is None
    finally:
        store.close()


def test_two_uploads_of_one_root_at_once_index_and_charge_it_once(tmp_path: Path) -> None:
    import threading

    batch = leaves(2 * CHUNK_LEAVES + 1)
    root = root_of(batch)
    paused, go_on = threading.Event(), threading.Event()

    class PausesAfterFirstSlice(CountingStore):
        def write_items(self, items: Iterator[tuple[bytes, bytes | None]], **kwargs: Any) -> None:
            super().write_items(items, **kwargs)
            if threading.current_thread().name == "first" and not paused.is_set():
                paused.set()
                assert go_on.wait(30)

    store = PausesAfterFirstSlice(tmp_path / "chain")
    try:
        store.write_batch({schema.INDEX_HEIGHT_KEY: schema.height_bytes(0)})
        store_blocks(store, [Block().tx(anchored_root(root, len(batch)))], first_height=1)
        index = MemberIndex(store, slice_bytes=SMALL_SLICE)
        results: dict[str, Any] = {}

        def upload(caller: str) -> None:
            results[threading.current_thread().name] = index.add(root, b"".join(batch), caller)

        first = threading.Thread(target=upload, args=("token:first",), name="first")
        second = threading.Thread(target=upload, args=("token:second",), name="second")
        first.start()
        assert paused.wait(30)  # the first upload is between two slices
        second.start()
        go_on.set()
        first.join(30)
        second.join(30)
        assert results["first"].created and not results["second"].created
        charge = index_bytes(len(batch))
        assert index.usage("token:first") == (charge, charge) and index.usage("token:second") == (0, charge)
    finally:
        store.close()
