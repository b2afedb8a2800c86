"""Four real validator processes over mutual TLS: blocks finalise; one killed, the chain goes
on; two killed, it halts and resumes without a fork; all restarted from disk, the same
chain; an observer syncs from zero and verifies every seal. The safety checker compares
every node's chain after every scenario.

The tests of this module run in order on one cluster (each scenario starts where the
previous one left the cluster), as an operator's week would.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import rlp

from evidence import qbft
from tests.cluster.harness import Cluster, ledger, running_cluster, wait_for

pytestmark = pytest.mark.slow

DEADLINE = 90.0  # generous: round-change timers double (1, 2, 4, 8 s...) after an outage
# How long the halted chain is watched for a block it must not make. Waiting is the only
# way to observe "nothing happens"; the round timers are 1, 2, 4 s, so a live chain would
# finalise within this window.
HALT_WATCH_SECONDS = 6.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, "cluster", validators=4) as c:
        yield c


def test_blocks_finalise_on_every_validator(cluster: Cluster) -> None:
    hashes = cluster.send(40)  # spread over all four nodes
    receipts = cluster.receipts(hashes, "validator-2", DEADLINE)
    assert all(int(r["status"], 16) == 1 for r in receipts)
    last = max(int(r["blockNumber"], 16) for r in receipts)
    cluster.wait_same_height(cluster.names, last, DEADLINE)
    assert cluster.assert_safety() >= last
    # The block carries commit seals of at least a quorum (3 of 4) of the genesis validators.
    fields = rlp.decode(bytes.fromhex(cluster.call("validator-0", "debug_getRawHeader", hex(last))[2:]))
    validators = [n.address for n in cluster.layout.validators]
    assert len(qbft.verify_commit_seals(fields, validators)) >= 3
    status = cluster.call("validator-0", "ledger_nodeStatus")
    assert status["validator"] is True and len(status["peers"]) == 3
    assert cluster.call("validator-1", "net_peerCount") == "0x3"
    # What an operator sees: every node up, at the same height, with its three peers.
    result = ledger("cluster", "status", "--dir", str(cluster.dir), "--json")
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)["nodes"]
    assert [n["name"] for n in nodes] == cluster.names
    assert all(n["height"] >= last and len(n["peers"]) == 3 and n["round"] is not None for n in nodes)


def test_one_validator_killed_chain_continues(cluster: Cluster) -> None:
    cluster.kill("validator-0")
    before = max(cluster.heights().values())
    hashes = cluster.send(20, via=["validator-1", "validator-2", "validator-3"])
    receipts = cluster.receipts(hashes, "validator-3", DEADLINE)
    assert all(int(r["status"], 16) == 1 for r in receipts)
    assert max(int(r["blockNumber"], 16) for r in receipts) > before
    cluster.assert_safety()


def test_two_killed_chain_halts_then_resumes_without_fork(cluster: Cluster) -> None:
    cluster.kill("validator-1")
    survivors = ["validator-2", "validator-3"]
    # Whatever was in flight settles; then nothing more may be finalised.
    time.sleep(1.5)
    halted = cluster.heights(survivors)
    pending = cluster.send(1, via=survivors)
    time.sleep(HALT_WATCH_SECONDS)
    assert cluster.heights(survivors) == halted, "two of four validators cannot finalise a block"
    assert cluster.call("validator-2", "eth_getTransactionReceipt", pending[0]) is None

    cluster.start("validator-1")
    receipt = cluster.receipts(pending, "validator-1", DEADLINE)[0]
    assert int(receipt["blockNumber"], 16) > max(halted.values())
    cluster.start("validator-0")
    cluster.wait_same_height(cluster.names, int(receipt["blockNumber"], 16), DEADLINE)
    cluster.assert_safety(cluster.names)


def test_all_restarted_from_disk_same_chain(cluster: Cluster) -> None:
    head = cluster.wait_same_height(cluster.names, 1, DEADLINE)
    before = cluster.block_hashes("validator-0", head)
    cluster.stop()
    cluster.start()
    for name in cluster.names:
        assert cluster.block_hashes(name, head) == before, f"{name} reopened a different chain"
    receipts = cluster.receipts(cluster.send(5), "validator-1", DEADLINE)
    assert min(int(r["blockNumber"], 16) for r in receipts) > head
    cluster.assert_safety(cluster.names)


def test_observer_syncs_from_zero_and_verifies_every_seal(cluster: Cluster) -> None:
    target = max(cluster.heights().values())
    observer = cluster.add("observer")
    wait_for(f"{observer} to reach height {target}", lambda: cluster.height(observer) >= target, DEADLINE)
    status = cluster.call(observer, "ledger_nodeStatus")
    assert status["validator"] is False and status["round"] is None
    # Transactions sent to an observer reach the validators.
    receipts = cluster.receipts(cluster.send(3, via=[observer]), observer, DEADLINE)
    assert all(int(r["status"], 16) == 1 for r in receipts)
    cluster.assert_safety(cluster.names)
    # A court's check: walk the observer's chain from genesis, every seal against the set.
    result = ledger("chain", "verify", "--rpc", cluster.url(observer), "--genesis", str(cluster.dir / "genesis.json"),
                    token=cluster.token)
    assert result.returncode == 0, result.stdout + result.stderr
