"""Alerts that raise themselves across four validators: a commitment's reminder, warning and
demand are raised by whichever validator proposes when each stage comes due by block time,
exactly once per stage on every node, with one validator stopped and restarted in between;
no `ledger commitment escalate` is run. The policy is set to seconds so the stages pass
within the test (the chain's real clock; `evm_increaseTime` is --dev only)."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from client.ledger import Ledger
from node.ops.cluster.layout import load_admin_account
from node.ops.cluster.processes import stop_node
from tests.cluster.harness import Cluster, running_cluster, wait_for

pytestmark = pytest.mark.slow

DEADLINE = 90.0  # round-change timers double after an outage
WINDOW = DELAY = 6  # seconds: reminder 6 s before the deadline, demand 6 s after it
LEVELS = {1: "reminder", 2: "warning", 3: "demand"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, "escalation", validators=4) as c:
        yield c


def alerts(cluster: Cluster, name: str) -> list[tuple[int, str]]:
    request = urllib.request.Request(f"{cluster.url(name)}/v1/events?topics=commitments&limit=1000",
                                     headers={"Authorization": f"Bearer {cluster.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        items: list[dict[str, Any]] = json.loads(response.read())["items"]
    return [(e["args"]["id"], LEVELS[e["args"]["level"]]) for e in items if e["event"] == "CommitmentAlert"]


def test_each_stage_raised_once_across_validators_and_a_restart(cluster: Cluster) -> None:
    admin = Ledger(cluster.url("validator-0"), bytes.fromhex(load_admin_account(cluster.dir).private_key[2:]),
                   token=cluster.token)
    admin.transact(admin.commitments.functions.set_policy(WINDOW, DELAY))
    validator = "0x" + cluster.layout.node("validator-0").address.hex()  # a member, as genesis makes validators
    now = int(cluster.call("validator-0", "eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    added = admin.add_commitment(b"AGR-C".ljust(32, b"\x00"), "4.2 land delivery", 1, "Land Bureau",
                                 validator, admin.address, now + WINDOW + 10)
    (commitment,) = [e["id"] for e in added.events["CommitmentAdded"]]
    stages = [(commitment, "reminder"), (commitment, "warning"), (commitment, "demand")]

    wait_for("the reminder", lambda: alerts(cluster, "validator-0") == stages[:1], DEADLINE)
    stop_node(cluster.dir, "validator-1")  # three of four still make a quorum
    cluster.down.add("validator-1")
    wait_for("the warning", lambda: alerts(cluster, "validator-2") == stages[:2], DEADLINE)
    cluster.start("validator-1")
    wait_for("the demand", lambda: alerts(cluster, "validator-3") == stages, DEADLINE)

    # Every node, the restarted one included, holds each stage once, and keeps doing so.
    height = max(cluster.heights().values()) + 2
    cluster.wait_same_height(cluster.names, height, DEADLINE)
    assert {name: alerts(cluster, name) for name in cluster.names} == dict.fromkeys(cluster.names, stages)
    assert cluster.assert_safety() >= height
