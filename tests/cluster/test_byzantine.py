"""A Byzantine validator among four: it sends conflicting proposals when it proposes and
signs its commit seals over the wrong digest. Another validator's link drops, delays and
duplicates messages. The honest validators must never finalise two blocks at one height,
must refuse every forged seal, and must keep going (one faulty of four is within f)."""
from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator

import pytest
import rlp

from evidence import qbft
from node.ops.config import FaultConfig
from tests.cluster.harness import Cluster, ledger, running_cluster

pytestmark = pytest.mark.slow

DEADLINE = 120.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    faults = {
        0: FaultConfig(equivocate=True, forge_seals=True, seed=7),
        3: FaultConfig(drop=0.2, delay=0.05, duplicate=True, seed=11),
    }
    with running_cluster(tmp_path_factory, "byzantine", validators=4, faults=faults) as c:
        yield c


def metric(cluster: Cluster, name: str, metric_name: str) -> float:
    with urllib.request.urlopen(cluster.url(name) + "/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{metric_name}(?:_total)? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_equivocation_and_forged_seals_never_fork_the_chain(cluster: Cluster) -> None:
    # Enough blocks that the Byzantine validator is the round-0 proposer several times
    # (proposers rotate each block).
    receipts = []
    for _ in range(4):
        receipts += cluster.receipts(cluster.send(10), "validator-1", DEADLINE)
    assert all(int(r["status"], 16) == 1 for r in receipts)
    last = max(int(r["blockNumber"], 16) for r in receipts)
    honest = ["validator-1", "validator-2", "validator-3"]
    cluster.wait_same_height(honest, last, DEADLINE)
    cluster.assert_safety(cluster.names)

    # The faults really happened: conflicting proposals were sent, and honest validators
    # refused messages (the forged commit seals among them).
    log = (cluster.dir / "nodes" / "validator-0" / "node.log").read_text()
    assert "TEST FAULT: equivocating" in log
    assert metric(cluster, "validator-2", "ledger_consensus_messages_ignored") > 0

    # No block on any honest node carries the Byzantine validator's forged seal: every
    # seal recovers to a validator, over the right digest (verify_commit_seals), and the
    # faulty validator's address is never among the signers.
    byzantine = cluster.layout.node("validator-0").address
    genesis_set = [n.address for n in cluster.layout.validators]
    for height in range(1, last + 1):
        fields = rlp.decode(bytes.fromhex(cluster.call("validator-1", "debug_getRawHeader", hex(height))[2:]))
        signers = qbft.verify_commit_seals(fields, genesis_set)
        assert byzantine not in signers, f"block {height} carries a forged seal"
    result = ledger("chain", "verify", "--rpc", cluster.url("validator-3"), "--genesis", str(cluster.dir / "genesis.json"),
                    token=cluster.token)
    assert result.returncode == 0, result.stdout + result.stderr
