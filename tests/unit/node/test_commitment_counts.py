"""Commitment counters (node/storage/commitment_counts.py) on a real LevelDB: they agree with
counting each record by the tracker's rule at every edge of it, per unit and per obligor;
the day counters and the open/fulfilled walk; the catch-up writes what indexing the blocks
wrote; a report's reads do not grow with the number of commitments."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.errors import InvalidParams
from node.storage import commitment_counts, schema
from node.storage.commitment_counts import DAY, activity, catch_up, group_counts, groups_page, totals
from node.storage.index_queries import Indexes, commitment_status
from tests.unit.node.indexlogs import (
    Block,
    CountingStore,
    address,
    commitment_added,
    commitment_alert,
    commitment_confirmed,
    open_store,
    store_blocks,
)

T0 = 1_700_000_000  # block time = T0 + height
STATUSES = ("on track", "reminder", "warning", "demand", "fulfilled")
COUNTER_PREFIXES = (schema.COMMITMENT_GROUP, schema.COMMITMENT_GROUP_DAY, schema.COMMITMENT_GROUP_OPEN,
                    schema.COMMITMENT_DAY, schema.COMMITMENT_COUNTS_VERSION)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    s = open_store(tmp_path / "chain")
    s.write_batch(dict([commitment_counts.version_write()]))  # what genesis indexing writes
    yield s
    s.close()


def added(commitment: int, unit: str, deadline: int, obligor: int) -> tuple[str, str, dict[str, Any]]:
    contract, name, args = commitment_added(commitment, unit, deadline)
    return contract, name, {**args, "obligor": address(obligor)}


def seeded(store: CountingStore, count: int = 240, *, seed: int = 7) -> dict[int, tuple[str, int, int]]:
    """`count` commitments over 4 units and 5 obligors, deadlines ±60 days of T0 and on
    every edge of the rule; some fulfilled, some alerted. {id: (unit, obligor, deadline)}."""
    rng = random.Random(seed)
    window, delay = 7 * DAY, 30 * DAY
    deadlines = [T0 + rng.randrange(-60 * DAY, 60 * DAY) for _ in range(count)]
    deadlines += [T0 + o for o in (0, 1, -1, window, window + 1, window - 1, -delay, -delay - 1, -delay + 1)]
    made = {i: (f"Unit {i % 4}", 10 + i % 5, d) for i, d in enumerate(deadlines, 1)}
    blocks = [Block().tx(*(added(i, u, d, o) for i, (u, o, d) in list(made.items())[:100])),
              Block().tx(*(added(i, u, d, o) for i, (u, o, d) in list(made.items())[100:]))]
    blocks.append(Block().tx(*(commitment_confirmed(i) for i in range(5, len(made), 11))))
    blocks.append(Block().tx(*(commitment_alert(i, made[i][0], 1 + i % 3, made[i][2]) for i in range(3, len(made), 7))))
    store_blocks(store, blocks, first_height=1)
    return made


def by_rule(idx: Indexes, ids: list[int], now: int) -> Counter[str]:
    return Counter(commitment_status(idx.commitment(i), now, idx.policy()) for i in ids)


def expected_counts(idx: Indexes, ids: list[int], now: int) -> dict[str, int]:
    rule = by_rule(idx, ids, now)
    return {"total": len(ids), **{s: rule.get(s, 0) for s in STATUSES},
            "alerts": rule["reminder"] + rule["warning"] + rule["demand"], "supervisions": rule["demand"]}


def test_counts_by_status_agree_with_the_tracker_rule_at_every_edge(store: CountingStore) -> None:
    made = seeded(store)
    idx = Indexes(store)
    window, delay = 7 * DAY, 30 * DAY
    edges = [T0 + o for o in (0, 1, -1, window, window + 1, -delay, -delay - 1, delay + 1, 90 * DAY, -90 * DAY)]
    edges += [d + o for _, _, d in list(made.values())[:20] for o in (-window - 1, -window, 0, 1, delay, delay + 1)]
    policy = idx.policy()
    for now in edges:
        found = totals(store, now, policy)
        want = expected_counts(idx, list(made), now)
        assert {k: found[k] for k in want} == want, now
        report = idx.report(now=now)["totals"]
        assert {k: found[k] for k in report} == report, now  # the per-unit report adds up to the totals
    now = T0
    units, token = groups_page(store, "unit", now, policy, after=None, limit=100)
    assert token is None and sorted(u["unit"] for u in units) == [f"Unit {n}" for n in range(4)]
    for row in units:
        want = expected_counts(idx, [i for i, (u, _, _) in made.items() if u == row["unit"]], now)
        assert {k: row[k] for k in want} == want
        assert row == {"unit": row["unit"], **group_counts(store, b"u" + _keccak(row["unit"]), now, policy)}
    people, _ = groups_page(store, "obligor", now, policy, after=None, limit=100)
    assert [p["obligor"] for p in people] == [address(n) for n in range(10, 15)]
    for row in people:
        want = expected_counts(idx, [i for i, (_, o, _) in made.items() if address(o) == row["obligor"]], now)
        assert {k: row[k] for k in want} == want
    alerted = list(range(3, len(made), 7))
    assert totals(store, now, policy)["alertsRaised"] == len(alerted)
    assert totals(store, now, policy)["demandsRaised"] == sum(1 for i in alerted if 1 + i % 3 == 3)


def test_groups_page_through_every_obligor_once(store: CountingStore) -> None:
    seeded(store)
    seen, token = [], None
    while True:
        page, token = groups_page(store, "obligor", T0, (7 * DAY, 30 * DAY), after=token, limit=2)
        seen += [p["obligor"] for p in page]
        if token is None:
            break
    assert seen == [address(n) for n in range(10, 15)]
    with pytest.raises(InvalidParams):
        groups_page(store, "person", T0, (7 * DAY, 30 * DAY), after=None, limit=2)
    with pytest.raises(InvalidParams):
        groups_page(store, "unit", T0, (7 * DAY, 30 * DAY), after="zz", limit=2)


def test_day_counters_and_the_open_fulfilled_walk(store: CountingStore) -> None:
    day0 = T0 // DAY
    at = [(day0 + 2) * DAY + 5, (day0 + 2) * DAY + 50, (day0 + 4) * DAY + 1, (day0 + 6) * DAY]
    blocks = [Block().tx(added(1, "A", T0 + 90 * DAY, 10), added(2, "A", T0 + 90 * DAY, 11)),
              Block().tx(commitment_alert(1, "A", 1, T0 + 90 * DAY), added(3, "B", T0 + 3 * DAY, 10)),
              Block().tx(commitment_confirmed(2), commitment_alert(3, "B", 3, T0 + 3 * DAY)),
              Block().tx(commitment_confirmed(1))]
    # one block per moment in `at` (store_blocks stamps block time = timestamp + height)
    for n, (block, when) in enumerate(zip(blocks, at), 1):
        store_blocks(store, [block], first_height=n, timestamp=when - n)
    rows = activity(store, day0, day0 + 7, open_now=1, fulfilled_now=2)
    assert [r["date"] for r in rows][:2] == ["2023-11-14", "2023-11-15"] and len(rows) == 8
    by_day = {r["start"] // DAY - day0: r for r in rows}
    assert (by_day[2]["added"], by_day[2]["reminder"], by_day[2]["open"]) == (3, 1, 3)
    assert (by_day[4]["fulfilled"], by_day[4]["demand"], by_day[4]["supervisions"]) == (1, 1, 1)
    assert (by_day[4]["open"], by_day[4]["fulfilledTotal"]) == (2, 1)
    assert (by_day[6]["open"], by_day[6]["fulfilledTotal"], by_day[7]["open"]) == (1, 2, 1)
    assert (by_day[0]["open"], by_day[0]["fulfilledTotal"]) == (0, 0)
    with pytest.raises(InvalidParams):
        activity(store, day0, day0 + commitment_counts.MAX_ACTIVITY_DAYS, open_now=0, fulfilled_now=0)


def _counter_keys(store: CountingStore) -> dict[bytes, bytes]:
    return {k: v for prefix in COUNTER_PREFIXES
            for k, v in store.scan(prefix, prefix + b"\xff", limit=1_000_000)}


def test_catch_up_writes_what_indexing_the_blocks_wrote(store: CountingStore, tmp_path: Path) -> None:
    seeded(store)
    indexed = _counter_keys(store)
    assert len(indexed) > 500
    # A data directory indexed before the counters: the records, no counters; then a block
    # indexed after the upgrade but before the catch-up ran.
    store.write_batch(dict.fromkeys(indexed, None))
    assert catch_up(store) == 249
    assert _counter_keys(store) == indexed
    assert catch_up(store) == 0  # marked: never twice
    store.write_batch(dict.fromkeys(_counter_keys(store), None))
    store_blocks(store, [Block().tx(commitment_confirmed(1))], first_height=5)
    catch_up(store)
    fresh = open_store(tmp_path / "fresh")
    fresh.write_batch(dict([commitment_counts.version_write()]))
    seeded(fresh)
    store_blocks(fresh, [Block().tx(commitment_confirmed(1))], first_height=5)
    assert _counter_keys(store) == _counter_keys(fresh)
    fresh.close()


def test_a_report_costs_the_same_reads_at_ten_times_the_commitments(tmp_path: Path) -> None:
    """Counts at 2,000 and 20,000 commitments with the same units and due days: the reads
    of a report depend on the days and units, not the commitments (beyond the ones due on
    the three boundary days)."""
    costs = {}
    for scale in (2_000, 20_000):
        store = open_store(tmp_path / f"s{scale}")
        store.write_batch(dict([commitment_counts.version_write()]))
        rng = random.Random(1)
        per_block = 500
        blocks = []
        for first in range(1, scale + 1, per_block):
            # due at noon of one of 100 days that avoid the boundary days of `now` = T0
            blocks.append(Block().tx(*(added(i, f"Unit {i % 5}", (T0 // DAY + 40 + rng.randrange(100)) * DAY
                                             + DAY // 2, 10 + i % 50) for i in range(first, first + per_block))))
        store_blocks(store, blocks, first_height=1)
        store.reset()
        assert totals(store, T0, (7 * DAY, 30 * DAY))["on track"] == scale
        costs[scale] = store.reads
        store.close()
    assert costs[20_000] == costs[2_000], costs
    assert costs[2_000] < 150, costs


def _keccak(text: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=text)
