"""node/rpc/limits.py with a fixed clock: gas buckets and request budgets, the expensive
queue's admission, and limits set by name (command line, node.json)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from node.errors import ConfigError, LimitExceeded
from node.ops.config import load_node_config, node_config_document
from node.rpc.limits import ExpensiveQueue, GasBuckets, GasBudget, RpcLimits, caller_key
from node.rpc.subscriptions import Outbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    buckets = GasBuckets(per_second=100, burst=1_000, clock=clock)
    assert buckets.take("a", 800) == 800
    assert buckets.take("a", 800) == 200  # what is left
    assert buckets.take("a", 1) == 0
    assert buckets.take("b", 1_000) == 1_000  # another caller's bucket is its own
    clock.now += 3
    assert buckets.take("a", 1_000) == 300
    clock.now += 1_000
    assert buckets.take("a", 5_000) == 1_000  # never more than the burst
    buckets.give_back("a", 400)
    assert buckets.seconds_until("a", 1_000) == pytest.approx(6.0)


def test_a_request_budget_reserves_settles_and_stops_at_its_caps() -> None:
    limits = RpcLimits(call_gas_cap=1_000, request_gas_cap=2_500, caller_gas_burst=4_000, caller_gas_per_second=1)
    clock = Clock()
    buckets = GasBuckets(limits.caller_gas_per_second, limits.caller_gas_burst, clock=clock)
    budget = GasBudget("a", limits, buckets)
    assert budget.reserve(1_000) == 1_000
    budget.settle(1_000, 100)  # used 100: 900 back to the request and the bucket
    assert budget.spent == 100
    assert budget.reserve(1_000) == 1_000 and budget.reserve(1_000) == 1_000
    assert budget.reserve(1_000, minimum=21) == 400  # the request's cap is what is left
    with pytest.raises(LimitExceeded) as exc:
        budget.reserve(1_000)
    assert exc.value.limit == "request_gas_cap"
    # A new request of the same caller draws on what the bucket has left (4,000 - 2,500).
    second = GasBudget("a", limits, buckets)
    assert second.reserve(1_000) == 1_000
    with pytest.raises(LimitExceeded) as exc:
        second.reserve(1_000, minimum=600)
    assert exc.value.limit == "caller_gas_per_second" and exc.value.retry_after == pytest.approx(500.0)
    assert buckets.take("a", 1_000) == 500  # the refused reservation was given back


def test_a_request_scans_at_most_its_block_cap() -> None:
    limits = RpcLimits(request_block_cap=25_000)
    budget = GasBudget("a", limits, GasBuckets(1, limits.caller_gas_burst, clock=Clock()))
    budget.scan(10_000)
    budget.scan(10_000)
    with pytest.raises(LimitExceeded) as exc:
        budget.scan(10_000)
    assert exc.value.limit == "request_block_cap" and budget.blocks_scanned == 20_000
    budget.scan(5_000)


def test_the_expensive_queue_admits_a_bounded_number_per_caller() -> None:
    limits = RpcLimits(expensive_in_flight_per_caller=1, expensive_waiting_per_caller=2)

    async def scenario() -> list[str]:
        queue = ExpensiveQueue(limits)
        release = asyncio.Event()
        order: list[str] = []

        async def job(name: str) -> str:
            order.append(name)
            await release.wait()
            return name

        held = [asyncio.ensure_future(queue.run("a", lambda n=n: job(n))) for n in ("a1", "a2", "a3")]
        other = asyncio.ensure_future(queue.run("b", lambda: job("b1")))
        await asyncio.sleep(0)
        with pytest.raises(LimitExceeded) as exc:  # one running, two waiting: the fourth is refused
            await queue.run("a", lambda: job("a4"))
        assert exc.value.limit == "expensive_waiting_per_caller"
        assert order == ["a1", "b1"]  # one of a's at a time; b is not held up by a's queue
        release.set()
        assert await asyncio.gather(*held, other) == ["a1", "a2", "a3", "b1"]
        assert not queue._callers
        return order

    assert asyncio.run(scenario()) == ["a1", "b1", "a2", "a3"]


def test_limits_set_by_name_are_checked() -> None:
    limits = RpcLimits().overridden({"call_gas_cap": "20_000_000", "request_gas_cap": 20_000_000,
                                     "filters_per_caller": 7})
    assert (limits.call_gas_cap, limits.request_gas_cap, limits.filters_per_caller) == (20_000_000, 20_000_000, 7)
    assert RpcLimits.parse_assignments(["a=1", " b = 2 "]) == {"a": "1", "b": "2"}
    for bad, where in (({"nope": 1}, "rpc.limits.nope"), ({"call_gas_cap": -1}, "rpc.limits.call_gas_cap"),
                       ({"call_gas_cap": True}, "rpc.limits.call_gas_cap"), ({"call_gas_cap": "1e9"}, "rpc.limits.call_gas_cap"),
                       ({"call_gas_cap": 10**16}, "rpc.limits.call_gas_cap"),
                       ({"caller_gas_burst": 5}, "rpc.limits"), ({"call_gas_cap": 10**8}, "rpc.limits"),
                       ({"blob_store_bytes": 4_000_000_000}, "rpc.limits")):
        with pytest.raises(ConfigError) as exc:
            RpcLimits().overridden(bad)
        assert exc.value.field == where, bad
    with pytest.raises(ConfigError):
        RpcLimits.parse_assignments(["call_gas_cap"])


def test_node_json_rpc_limits_round_trip(tmp_path: Path) -> None:
    (tmp_path / "node.json").write_text(json.dumps({"rpc": {"auth": "required", "limits": {"max_websockets": 9}}}))
    config = load_node_config(tmp_path)
    assert config.rpc is not None and config.rpc.limits == RpcLimits(max_websockets=9)
    assert node_config_document(config, tmp_path)["rpc"]["limits"] == {"max_websockets": 9}
    (tmp_path / "node.json").write_text(json.dumps({"rpc": {"limits": {"max_websockets": "lots"}}}))
    with pytest.raises(ConfigError) as exc:
        load_node_config(tmp_path)
    assert exc.value.field == "rpc.limits.max_websockets"


def test_a_caller_is_its_token_else_its_client() -> None:
    assert caller_key("abc", "127.0.0.1", 5000) == "token:abc"
    assert caller_key(None, "127.0.0.1", 5000) == "client:127.0.0.1:5000"
    assert caller_key(None, "127.0.0.1", None) == "client:127.0.0.1"


def test_a_websocket_outbox_counts_its_bytes() -> None:


    async def scenario() -> None:
        outbox = Outbox(max_messages=10, max_bytes=10)
        await outbox.put("abcd")
        outbox.put_nowait("efg")
        assert outbox.bytes == 7 and not outbox.over(3) and outbox.over(4)
        assert await outbox.get() == "abcd" and outbox.bytes == 3

    asyncio.run(scenario())


def test_member_index_quota_is_a_named_limit() -> None:
    limits = RpcLimits().overridden({"member_caller_bytes": 1000, "member_store_bytes": 4000})
    assert (limits.member_caller_bytes, limits.member_store_bytes) == (1000, 4000)
    with pytest.raises(ValueError, match="member_caller_bytes"):
        RpcLimits(member_caller_bytes=5000, member_store_bytes=4000)
