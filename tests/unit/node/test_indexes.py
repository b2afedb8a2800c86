"""Event indexes on a real LevelDB: what each event does to the records and indexes,
paging, the feed's cursors, commitment statuses by deadline range, and the cost of a
query counted in storage reads at two sizes."""
from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaincode import role_names
from chaincode.events import encode_log
from node.errors import InvalidParams, NotFound
from node.storage import schema
from node.storage.index_queries import Indexes, commitment_status
from node.storage.indexes import TOPICS, Cursor, feed_event
from tests.unit.node.indexlogs import (
    Block,
    CountingStore,
    address,
    anchored,
    commitment_added,
    commitment_alert,
    commitment_confirmed,
    contract_id,
    digest,
    effective,
    open_store,
    registered,
    signed,
    store_blocks,
    voided,
)

T0 = 1_700_000_000  # block time = T0 + height


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    s = open_store(tmp_path / "chain")
    yield s
    s.close()


def test_every_system_event_becomes_a_feed_event() -> None:
    for event in (anchored(1), registered("P-1", [2, 3]), signed("P-1", 2), commitment_added(1, "Unit A", T0 + 99)):
        address_bytes, topics, data = encode_log(*event)
        decoded = feed_event(address_bytes, [t.to_bytes(32, "big") for t in topics], data, height=5, log_index=2,
                             block_hash=b"\x01" * 32, tx_hash=b"\x02" * 32, tx_index=0, timestamp=T0)
        assert decoded is not None and decoded["event"] == event[1] and decoded["cursor"] == "5-2"
    # another contract's log with the same topic is not a system event
    address_bytes, topics, data = encode_log(*anchored(1))
    assert feed_event(b"\x99" * 20, [t.to_bytes(32, "big") for t in topics], data, height=1, log_index=0,
                      block_hash=b"", tx_hash=b"", tx_index=0, timestamp=0) is None
    # a log that does not decode is left out, not an error
    assert feed_event(address_bytes, [t.to_bytes(32, "big") for t in topics], b"\x00", height=1, log_index=0,
                      block_hash=b"", tx_hash=b"", tx_index=0, timestamp=0) is None


def test_counter_changes_are_written_once_per_block_and_never_below_zero() -> None:
    from node.storage import schema
    from node.storage.indexes import IndexBatch

    stored = {schema.COUNTER + b"roots": (1).to_bytes(8, "big")}
    writes: dict[bytes, bytes | None] = {}
    batch = IndexBatch(stored.get, writes)
    for delta in (-1, -1, 1, 2):  # in order, clamped at zero: 1 -> 0 -> 0 -> 1 -> 3
        batch.count("roots", delta)
    batch.count("events")
    assert writes == {}  # pending until the block's end
    # a read of a counter sees every change made so far
    assert int.from_bytes(batch.get(schema.COUNTER + b"roots") or b"", "big") == 3
    assert int.from_bytes(writes[schema.COUNTER + b"events"] or b"", "big") == 1
    batch.count("events", -5)
    batch.flush()
    assert writes[schema.COUNTER + b"events"] == (0).to_bytes(8, "big")


def test_contract_lifecycle_moves_its_status_index(store: CountingStore) -> None:
    blocks = [
        Block().tx(registered("P-1", [2, 3])).tx(registered("P-2", [3, 4])),
        Block().tx(signed("P-1", 2)),
        Block().tx(signed("P-1", 3, signatures=2), effective("P-1", [2, 3])),
        Block().tx(voided("P-2", [3, 4])),
    ]
    store_blocks(store, blocks, first_height=1)
    idx = Indexes(store)
    assert idx.height() == 4
    record = idx.contract(contract_id("P-1", 1))
    assert record["status"] == "Effective" and [s["signer"] for s in record["signatures"]] == [
        address(2), address(3)]
    assert record["effective"]["cursor"] == "3-1"
    assert [c["projectCode"] for c in idx.contracts(status="Effective").items] == ["P-1"]
    assert [c["projectCode"] for c in idx.contracts(status="Voided").items] == ["P-2"]
    assert idx.contracts(status="Pending").items == []
    assert [c["projectCode"] for c in idx.contracts(party=bytes.fromhex(address(3)[2:])).items] == ["P-1", "P-2"]
    assert [c["projectCode"] for c in idx.contracts(project="P-2").items] == ["P-2"]
    counters = idx.counters()
    assert counters["contracts"] == 2 and counters["contracts.Effective"] == 1 and counters["contracts.Voided"] == 1
    assert counters["contracts.Pending"] == 0
    history = idx.contract_events(contract_id("P-1", 1)).items
    assert [e["event"] for e in history] == ["ContractRegistered", "ContractSigned", "ContractSigned", "ContractEffective"]
    with pytest.raises(NotFound):
        idx.contract(b"\x00" * 32)


def test_contracts_by_registration_date_range(store: CountingStore) -> None:
    store_blocks(store, [Block().tx(registered(f"P-{h}", [2])) for h in range(1, 11)], first_height=1)
    idx = Indexes(store)
    # block h has time T0 + h
    assert [c["projectCode"] for c in idx.contracts(since=T0 + 3, until=T0 + 5).items] == ["P-3", "P-4", "P-5"]
    assert [c["projectCode"] for c in idx.contracts(since=T0 + 9).items] == ["P-9", "P-10"]
    with pytest.raises(InvalidParams):
        idx.contracts(project="P-1", since=T0)


def test_pages_cover_an_index_exactly_once_both_ways(store: CountingStore) -> None:
    store_blocks(store, [Block().tx(*(anchored(h * 10 + i, case="big case") for i in range(10))) for h in range(1, 26)],
                 first_height=1, per_batch=5)
    idx = Indexes(store)
    for reverse in (False, True):
        seen, after = [], None
        while True:
            page = idx.evidence(case="big case", after=after, limit=7, reverse=reverse)
            seen.extend(e["anchored"]["cursor"] for e in page.items)
            after = page.next
            if after is None:
                break
        cursors = [Cursor.parse(c) for c in seen]
        assert len(seen) == 250 and len(set(seen)) == 250
        assert cursors == sorted(cursors, reverse=reverse)
    with pytest.raises(InvalidParams):
        idx.evidence(after="zz")
    with pytest.raises(InvalidParams):
        idx.evidence(limit=0)


def test_evidence_by_digest_kind_and_case(store: CountingStore) -> None:
    store_blocks(store, [
        Block().tx(anchored(1, case="IP-7", kind="webpage")).tx(anchored(2, case="IP-8", kind="contract-pdf")),
        Block().tx(anchored(1, case="IP-7", kind="webpage")),  # anchored again
    ], first_height=1)
    idx = Indexes(store)
    assert [e["anchored"]["block"] for e in idx.evidence(digest=digest(1, "evidence")).items] == [1, 2]
    assert [e["caseRef"] for e in idx.evidence(kind="contract-pdf").items] == ["IP-8"]
    assert len(idx.evidence(case="IP-7").items) == 2 and idx.evidence(case="nothing").items == []
    assert idx.counters()["evidence"] == 3


def test_feed_merges_topics_in_chain_order_and_resumes_after_a_cursor(store: CountingStore) -> None:
    store_blocks(store, [
        Block().tx(registered("P-1", [2]), anchored(1)).tx(commitment_added(1, "Unit A", T0 + 10**6)),
        Block().tx(anchored(2)).tx(signed("P-1", 2)),
    ], first_height=1)
    idx = Indexes(store)
    every = idx.feed(["contracts", "evidence", "commitments"], after=None)
    assert [e["cursor"] for e in every] == ["1-0", "1-1", "1-2", "2-0", "2-1"]
    regulator = idx.feed(["contracts", "commitments"], after=None)
    assert [e["event"] for e in regulator] == ["ContractRegistered", "CommitmentAdded", "ContractSigned"]
    assert [e["cursor"] for e in idx.feed(["contracts", "commitments"], after=Cursor(1, 2))] == ["2-1"]
    assert idx.feed(["contracts"], after=Cursor(2, 1)) == []
    assert [e["cursor"] for e in idx.feed(["evidence", "contracts"], after=None, limit=2)] == ["1-0", "1-1"]
    with pytest.raises(InvalidParams):
        idx.feed(["gossip"], after=None)


def test_a_feed_page_read_from_a_snapshot_misses_no_block_stored_meanwhile(store: CountingStore) -> None:
    """Chain.commit runs in another thread: a block stored between a page's per-topic
    scans must not show up in one topic and not the other (the page would move past an
    event the next page never returns). Pages are read from one snapshot."""
    store_blocks(store, [Block().tx(registered("P-1", [2]))], first_height=1)  # 1-0 contracts
    contracts_prefix = schema.FEED + bytes([TOPICS["contracts"]])

    class CommitBetweenScans:
        def __init__(self, view: Any) -> None:
            self.view, self.done = view, False

        def get(self, key: bytes) -> bytes | None:
            return self.view.get(key)

        def scan(self, lower: bytes, upper: bytes, **kwargs: Any) -> list[tuple[bytes, bytes]]:
            rows = self.view.scan(lower, upper, **kwargs)
            if not self.done and lower.startswith(contracts_prefix):
                self.done = True  # block 2 lands: 2-0 contracts, 2-1 commitments
                store_blocks(store, [Block().tx(registered("P-2", [2]), commitment_added(1, "U", T0 + 10**6))],
                             first_height=2)
            return rows

    with store.snapshot() as view:
        page1 = Indexes(CommitBetweenScans(view)).feed(["contracts", "commitments"], after=None)
    assert [e["cursor"] for e in page1] == ["1-0"]
    page2 = Indexes(store).feed(["contracts", "commitments"], after=Cursor.parse(page1[-1]["cursor"]))
    assert [e["cursor"] for e in page2] == ["2-0", "2-1"]


def test_store_scan_bounds_both_ways(store: CountingStore) -> None:
    store.write_batch({b"a\x02": b"2", b"a\x03": b"3", b"a\x04": b"4"})
    keys = lambda rows: [k for k, _ in rows]  # noqa: E731
    assert keys(store.scan(b"a\x02", b"a\x05", after=b"a\x03", reverse=True, limit=9)) == [b"a\x02"]
    assert keys(store.scan(b"a\x02", b"a\x03", reverse=True, limit=9)) == [b"a\x02"]
    assert keys(store.scan(b"a\x02", b"a\x05", reverse=True, limit=2)) == [b"a\x04", b"a\x03"]
    assert keys(store.scan(b"a\x02", b"a\x05", after=b"a\x02", limit=9)) == [b"a\x03", b"a\x04"]
    assert keys(store.scan(b"a\x03", b"a\x04", limit=9)) == [b"a\x03"]
    assert store.scan(b"a\x03", b"a\x03", limit=9) == [] and store.scan(b"a", b"b", limit=0) == []


def test_cursor_text_form() -> None:
    assert str(Cursor.parse("1042-3")) == "1042-3" and Cursor.parse("2-0") > Cursor.parse("1-9")
    for bad in ("", "12", "a-1", "1-", "-1", "1-2-3", "99999999999999999999999-0"):
        with pytest.raises(InvalidParams):
            Cursor.parse(bad)


def test_commitment_status_queries_agree_with_the_tracker_rule(store: CountingStore) -> None:
    rng = random.Random(7)
    deadlines = {i: T0 + rng.randrange(-60 * 86400, 60 * 86400) for i in range(1, 201)}
    # and every edge of the rule (default policy: 7-day reminder window, 30-day demand delay)
    window, delay = 7 * 86400, 30 * 86400
    for offset in (0, 1, -1, window, window + 1, window - 1, -delay, -delay - 1, -delay + 1):
        deadlines[len(deadlines) + 1] = T0 + offset
    blocks = [Block().tx(*(commitment_added(i, f"Unit {i % 3}", deadlines[i]) for i in deadlines))]
    fulfilled = {5, 17, 99}
    blocks.append(Block().tx(*(commitment_confirmed(i) for i in fulfilled)))
    blocks.append(Block().tx(commitment_alert(8, "Unit 2", 3, deadlines[8])))
    store_blocks(store, blocks, first_height=1)
    idx = Indexes(store)
    now = T0
    expected: dict[str, set[int]] = {}
    for i in deadlines:
        record = idx.commitment(i)
        expected.setdefault(commitment_status(record, now, idx.policy()), set()).add(i)
    assert expected["fulfilled"] == fulfilled
    for status in ("on track", "reminder", "warning", "demand", "fulfilled"):
        found = {c["id"] for c in idx.commitments(now=now, status=status, limit=1000).items}
        assert found == expected.get(status, set()), status
        assert all(c["status"] == status for c in idx.commitments(now=now, status=status, limit=1000).items)
    assert [c["id"] for c in idx.commitments(now=now, raised="demand").items] == [8]
    counters = idx.counters()
    assert counters["commitments"] == len(deadlines) and counters["commitments.open"] == len(deadlines) - 3
    assert counters["supervisions"] == 1
    report = idx.report(now=now)
    assert report["totals"]["total"] == len(deadlines) and report["totals"]["fulfilled"] == 3
    assert report["totals"]["alertsRaised"] == 1 and report["totals"]["demandsRaised"] == 1
    open_alerts = {i for s in ("reminder", "warning", "demand") for i in expected.get(s, set())}
    assert report["totals"]["alerts"] == len(open_alerts)
    assert report["totals"]["supervisions"] == len(expected.get("demand", set()))
    assert sorted(row["unit"] for row in report["units"]) == ["Unit 0", "Unit 1", "Unit 2"]
    unit2 = idx.report(now=now, unit="Unit 2")["units"][0]
    assert unit2["total"] == len([i for i in deadlines if i % 3 == 2])


def test_index_queries_cost_the_same_at_ten_times_the_size(tmp_path: Path) -> None:
    """The issue's scale test: 100,000 evidence entries and 10,000 contracts, against a
    tenth of that. A lookup's storage reads (point reads + one seek + rows stepped over)
    must not grow with the size of the index: a scan would read ten times more."""

    def seed(path: Path, scale: int) -> CountingStore:
        store = open_store(path)
        evidence_per_block, contracts_per_block = 100, 10
        blocks = []
        for b in range(scale):
            tx = [anchored(b * evidence_per_block + i, case=f"case-{(b * evidence_per_block + i) % 97}",
                           kind=("webpage", "pdf", "video")[i % 3]) for i in range(evidence_per_block)]
            tx += [registered(f"P-{b}-{i}", [100 + (b * 10 + i) % 37, 2]) for i in range(contracts_per_block)]
            blocks.append(Block().tx(*tx))
        store_blocks(store, blocks, first_height=1, per_batch=50)
        return store

    costs = {}
    for scale in (100, 1000):  # 10,000 / 100,000 evidence entries; 1,000 / 10,000 contracts
        store = seed(tmp_path / f"s{scale}", scale)
        idx = Indexes(store)
        counters = idx.counters()
        assert counters["evidence"] == scale * 100 and counters["contracts"] == scale * 10
        probe = (scale // 2) * 100 + 42
        queries = {
            "evidence by digest": lambda: idx.evidence(digest=digest(probe, "evidence")).items,
            "evidence by case, page of 20": lambda: idx.evidence(case="case-5", limit=20).items,
            "contract by project": lambda: idx.contracts(project=f"P-{scale // 2}-3").items,
            "contracts by party, page of 20": lambda: idx.contracts(party=bytes.fromhex(address(117)[2:]), limit=20).items,
            "contracts by status, page of 20": lambda: idx.contracts(status="Pending", limit=20).items,
        }
        costs[scale] = {}
        for name, query in queries.items():
            store.reset()
            assert query(), name
            costs[scale][name] = store.reads
        store.close()
    for name in costs[100]:
        assert costs[1000][name] == costs[100][name], (name, costs)
        assert costs[1000][name] <= 2 * 20 + 2, (name, costs)


def test_roles_granted_without_a_certificate_make_a_member_record(store: CountingStore) -> None:
    """An account the admins grant roles to (IdentityRegistry _set_roles) without a
    certificate is an active member on chain, as a genesis member is: the index lists it
    (roles, no certificate fields), counts it once, follows later changes, and ignores a
    change to no roles for an account it never knew."""
    granted, unknown = address(41), address(42)

    def roles(who: str, bits: int, proposal: int) -> tuple[str, str, dict[str, Any]]:
        return ("IdentityRegistry", "RolesChanged", {"member": who, "roles": bits, "proposal": proposal})

    store_blocks(store, [Block().tx(roles(granted, 1 << 5, 1)), Block().tx(roles(granted, (1 << 5) | (1 << 3), 2)),
                         Block().tx(roles(unknown, 0, 3))], first_height=1)
    idx = Indexes(store)
    record = idx.member(bytes.fromhex(granted[2:]))
    assert record["address"].lower() == granted and record["certFingerprint"] is None and record["subject"] is None
    assert record["roles"] == role_names((1 << 5) | (1 << 3)) and record["registered"]["block"] == 1
    assert idx.counters()["members"] == 1
    with pytest.raises(NotFound):
        idx.member(bytes.fromhex(unknown[2:]))
