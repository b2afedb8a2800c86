"""A validator voted in and another voted out by header votes, on four real validators; then
receipts anchored in both eras verify offline from genesis.json alone."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster, ledger, running_cluster, wait_for

pytestmark = pytest.mark.slow

DEADLINE = 90.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory, "votes", validators=4) as c:
        yield c


def validators(cluster: Cluster, via: str) -> set[str]:
    return {a.lower() for a in cluster.call(via, "qbft_getValidatorsByBlockNumber", "latest")}


def anchor(cluster: Cluster, via: str, path: Path, text: str) -> Path:
    path.write_text(text)
    out = path.parent / (path.name + ".receipts")
    result = ledger("evidence", "anchor", str(path), "--out", str(out), "--key", str(cluster.dir / "admin.key"),
                    "--rpc", cluster.url(via), token=cluster.token)
    assert result.returncode == 0, result.stdout + result.stderr
    (receipt,) = out.glob("*.receipt.json")
    return receipt


def verify_offline(cluster: Cluster, receipt: Path, file: Path) -> None:
    result = ledger("evidence", "verify", str(receipt), "--genesis", str(cluster.dir / "genesis.json"),
                    "--file", str(file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_vote_in_vote_out_and_receipts_of_both_eras(cluster: Cluster, tmp_path: Path) -> None:
    layout = cluster.layout
    original = {"0x" + n.address.hex() for n in layout.validators}
    first_era = anchor(cluster, "validator-1", tmp_path / "before.txt", "anchored by the genesis validators\n")

    # 1. A fifth validator node joins: it syncs as a non-validator until it is voted in.
    newcomer = cluster.add("validator")
    new_address = "0x" + cluster.layout.node(newcomer).address.hex()
    assert new_address not in validators(cluster, "validator-1")
    # Three of four (more than half) vote it in.
    for name in ("validator-0", "validator-1", "validator-2"):
        assert cluster.call(name, "qbft_proposeValidatorVote", new_address, True) is True
    assert cluster.call("validator-0", "qbft_getPendingVotes") == {new_address: True}
    wait_for("the newcomer to be voted in", lambda: validators(cluster, "validator-1") == original | {new_address},
             DEADLINE)
    for name in ("validator-0", "validator-1", "validator-2"):
        cluster.call(name, "qbft_discardValidatorVote", new_address)

    # 2. validator-0 is voted out by three of the five.
    leaving = "0x" + layout.node("validator-0").address.hex()
    for name in ("validator-1", "validator-2", newcomer):
        cluster.call(name, "qbft_proposeValidatorVote", leaving, False)
    expected = (original | {new_address}) - {leaving}
    wait_for("validator-0 to be voted out", lambda: validators(cluster, "validator-2") == expected, DEADLINE)

    # 3. With validator-0 and validator-1 gone, only three of the four current validators
    # remain: blocks are final only if the newcomer seals them.
    cluster.kill("validator-0")
    cluster.kill("validator-1")
    second_era = anchor(cluster, "validator-2", tmp_path / "after.txt", "anchored by the voted set\n")
    cluster.assert_safety()

    # 4. A court checks both receipts with genesis.json only (the history of votes is in
    # the second receipt's headers).
    verify_offline(cluster, first_era, tmp_path / "before.txt")
    verify_offline(cluster, second_era, tmp_path / "after.txt")
    result = ledger("chain", "verify", "--rpc", cluster.url(newcomer), "--genesis", str(cluster.dir / "genesis.json"),
                    token=cluster.token)
    assert result.returncode == 0, result.stdout + result.stderr
